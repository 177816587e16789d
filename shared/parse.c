/*
 * parse.c - strict number parsing (see parse.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int parse_u64n(const char *s, size_t len, uint64_t min, uint64_t max,
	       uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!s || !len)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10) {
			/* keep validating the syntax before saying "range" */
			for (i++; i < len; i++)
				if (s[i] < '0' || s[i] > '9')
					return -EINVAL;
			return -ERANGE;
		}
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s)
		return -EINVAL;
	return parse_u64n(s, strlen(s), min, max, out);
}

int parse_duration_ms(const char *s, size_t len, uint64_t max_ms,
		      uint64_t *out)
{
	size_t n = 0;
	uint64_t v, mul;
	int rc;

	while (n < len && s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0)
		return -EINVAL;
	if (n == len || (len - n == 1 && s[n] == 's'))
		mul = 1000;
	else if (len - n == 2 && s[n] == 'm' && s[n + 1] == 's')
		mul = 1;
	else if (len - n == 1 && s[n] == 'm')
		mul = 60 * 1000;
	else if (len - n == 1 && s[n] == 'h')
		mul = 3600 * 1000;
	else if (len - n == 1 && s[n] == 'd')
		mul = 86400 * 1000;
	else
		return -EINVAL;
	rc = parse_u64n(s, n, 0, max_ms / mul, &v);
	if (rc)
		return rc;
	if (v * mul > max_ms)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

int parse_env_u64(const char *name, uint64_t def, uint64_t min, uint64_t max,
		  uint64_t *out)
{
	const char *v = getenv(name);

	*out = def;
	if (!v || !*v)
		return 0;
	return parse_u64(v, min, max, out);
}
