/*
 * token.c - constant-time token checks (see token.h).
 */
#include <string.h>
#include <strings.h>

#include "token.h"

int token_equal(const char *given, size_t glen, const char *want, size_t wlen)
{
	volatile unsigned char d = (unsigned char)(glen != wlen);
	size_t i;

	if (!wlen)
		return 0;
	for (i = 0; i < glen; i++)
		d |= (unsigned char)(given[i] ^ want[i % wlen]);
	return d == 0;
}

int token_check(const char *given, const char *want)
{
	if (!want || !*want)
		return 1;
	if (!given)
		return 0;
	return token_equal(given, strlen(given), want, strlen(want));
}

int token_check_bearer(const char *authorization, const char *want)
{
	const char *p = authorization;

	if (!want || !*want)
		return 1;
	if (!p || strncasecmp(p, "Bearer ", 7))
		return 0;
	p += 7;
	while (*p == ' ')
		p++;
	return token_check(p, want);
}
