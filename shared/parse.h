/*
 * parse.h - strict number parsing with range checks.
 *
 * The project never uses atoi()/strtol() on untrusted text: these accept
 * only what they document and report anything else, so that `since=abc`,
 * `since=-1` and `since=99999999999999999999` are errors rather than a
 * silently clamped value.
 */
#ifndef PARSE_H
#define PARSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse `len` bytes of `s` as a decimal unsigned integer in [min, max]:
 * one or more ASCII digits, nothing else (no sign, no spaces).  Returns 0
 * and sets *out, -EINVAL for malformed text, -ERANGE when out of range
 * (including overflow of 64 bits).
 */
int parse_u64n(const char *s, size_t len, uint64_t min, uint64_t max,
	       uint64_t *out);

/* Same for a NUL-terminated string. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Parse a duration such as "250ms", "5s", "5m", "2h", "1d" (a bare number
 * means seconds) into milliseconds, at most `max_ms`.  0 / -EINVAL / -ERANGE.
 */
int parse_duration_ms(const char *s, size_t len, uint64_t max_ms,
		      uint64_t *out);

/*
 * Read an environment variable as an unsigned number in [min, max];
 * unset or empty gives `def`.  0 / -EINVAL / -ERANGE (value left at def).
 */
int parse_env_u64(const char *name, uint64_t def, uint64_t min, uint64_t max,
		  uint64_t *out);

#endif
