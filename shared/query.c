/*
 * query.c - query string parameters and percent-decoding (see query.h).
 */
#include <errno.h>
#include <string.h>

#include "parse.h"
#include "query.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int url_decode(const char *in, size_t len, char *out, size_t outlen,
	       int plus_is_space)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -EINVAL;
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi * 16 + lo);
			if (!c)
				return -EINVAL;
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		} else if (!c) {
			return -EINVAL;
		}
		if (o + 1 >= outlen)
			return -E2BIG;
		out[o++] = c;
	}
	if (!outlen)
		return -E2BIG;
	out[o] = '\0';
	return (int)o;
}

int query_get(const char *qs, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = qs;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t)(amp - p) : strlen(p);

		if (plen >= nlen && !strncmp(p, name, nlen) &&
		    (plen == nlen || p[nlen] == '=')) {
			const char *v = plen == nlen ? p + plen : p + nlen + 1;
			size_t vlen = plen == nlen ? 0 : plen - nlen - 1;
			int rc = url_decode(v, vlen, out, outlen, 1);

			return rc < 0 ? rc : 1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

int query_get_u64(const char *qs, const char *name, uint64_t min,
		  uint64_t max, uint64_t *out)
{
	char buf[32];
	uint64_t v;
	int rc = query_get(qs, name, buf, sizeof(buf));

	if (rc == -E2BIG)
		return -ERANGE;   /* more digits than any u64 */
	if (rc <= 0)
		return rc;
	rc = parse_u64(buf, min, max, &v);
	if (rc)
		return rc;
	*out = v;
	return 1;
}
