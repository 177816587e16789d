/*
 * query.h - reading URL query strings and request paths.
 *
 * The web server hands every program (FastCGI, CGI, websocketd child) the
 * raw QUERY_STRING; these helpers find a parameter and percent-decode it
 * into a bounded buffer.  Decoding is strict: a bad %-escape or a decoded
 * NUL is an error, so "%2e%2e" arrives as ".." and is then refused by the
 * channel-name check instead of slipping past it.
 */
#ifndef QUERY_H
#define QUERY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Find parameter `name` in query string `qs` (may be NULL) and decode its
 * first occurrence ('+' is a space) into `out` (NUL-terminated, `outlen`
 * bytes).  Returns 1 when found, 0 when absent, -EINVAL for a malformed
 * escape or an embedded NUL, -E2BIG when the value does not fit.
 */
int query_get(const char *qs, const char *name, char *out, size_t outlen);

/*
 * A numeric parameter in [min, max]: 1 found (in *out), 0 absent (*out
 * untouched), -EINVAL malformed, -ERANGE out of range.
 */
int query_get_u64(const char *qs, const char *name, uint64_t min,
		  uint64_t max, uint64_t *out);

/*
 * Percent-decode `in[0..len)` into `out` (outlen bytes, NUL-terminated).
 * `plus_is_space` for query strings.  Returns the decoded length, or
 * -EINVAL / -E2BIG as above.
 */
int url_decode(const char *in, size_t len, char *out, size_t outlen,
	       int plus_is_space);

#endif
