/*
 * json.h - validate and minify published JSON without re-serializing it.
 *
 * The contract stores a published value "validated, with whitespace
 * outside strings removed, and otherwise kept byte for byte".  A parser
 * that builds a tree and prints it again cannot keep that promise: jansson
 * turns 0.1 into 0.10000000000000001 and refuses 12345678901234567890.  So
 * this file is a single-pass RFC 8259 checker that copies the input through,
 * dropping insignificant whitespace.  It keeps no tree, uses no recursion
 * (nesting is tracked in a bit stack, bounded by JSON_MAX_DEPTH) and checks
 * that strings are well-formed UTF-8 (no overlongs, no surrogates, nothing
 * above U+10FFFF) with no raw control characters.
 *
 * Everything else JSON in the project (webhook registrations, stored
 * subscriptions, /api/health) is built and parsed with jansson.
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

#include "lcerr.h"
#include "strbuf.h"

#define JSON_MAX_DEPTH 512

/*
 * Check that `in[0..len)` is exactly one JSON value (surrounding whitespace
 * allowed) and write its minified form to `out`, which needs room for `len`
 * bytes and may be the same pointer as `in` (minifying in place).
 *
 * Returns 0 and sets *outlen.  On error returns -EINVAL and describes the
 * first problem in `err` ("invalid JSON at byte 12: ..." or "invalid UTF-8
 * at byte 3"); `out` then holds garbage.
 */
int json_minify(const char *in, size_t len, char *out, size_t *outlen,
		struct lcerr *err);

/*
 * Append `s[0..len)` to `sb` as a JSON string literal, quotes included.
 * Bytes that are not valid UTF-8 are replaced by U+FFFD, so the result is
 * always valid JSON.  0 or the strbuf error.
 */
int json_add_string(struct strbuf *sb, const char *s, size_t len);

#endif
