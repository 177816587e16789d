/*
 * strbuf.h - a growable byte buffer with a hard size bound.
 *
 * Modelled on git's strbuf: `buf` is always NUL-terminated (the NUL is not
 * counted in `len`) and never NULL once strbuf_init() ran, so a strbuf can
 * be handed to anything that wants a C string.  Unlike git's, growing can
 * fail: every buffer has a bound (`max`, bytes of content), and the add
 * functions return -E2BIG past it or -ENOMEM when malloc fails, leaving the
 * buffer as it was.  That is how "every size is bounded" is kept for request
 * bodies, responses and lines.
 *
 * Ownership: the strbuf owns `buf`.  strbuf_release() frees it and leaves
 * an empty, reusable buffer; strbuf_detach() hands it to the caller.
 */
#ifndef STRBUF_H
#define STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t alloc;    /* bytes allocated for buf, 0 while it is the empty "" */
	size_t max;      /* bound on len */
};

/* Bound used when strbuf_init() is given 0. */
#define STRBUF_DEFAULT_MAX ((size_t)64 << 20)

/* Initialize an empty buffer whose content may grow up to `max` bytes
 * (0: STRBUF_DEFAULT_MAX).  Allocates nothing. */
void strbuf_init(struct strbuf *sb, size_t max);

/* Free the content; the buffer is empty and usable again. */
void strbuf_release(struct strbuf *sb);

/* Return the content (caller frees it with free()) and reset the buffer.
 * Returns NULL only if malloc of an empty string fails. */
char *strbuf_detach(struct strbuf *sb, size_t *len);

/* Make room for `extra` more bytes.  0, -E2BIG or -ENOMEM. */
int strbuf_grow(struct strbuf *sb, size_t extra);

/* Append bytes.  0, -E2BIG or -ENOMEM; on error nothing is appended. */
int strbuf_add(struct strbuf *sb, const void *data, size_t len);
int strbuf_addstr(struct strbuf *sb, const char *s);
int strbuf_addch(struct strbuf *sb, int c);

/* Append formatted text.  0, -E2BIG, -ENOMEM or -EINVAL (bad format). */
int strbuf_addf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);

/* Append the decimal form of an unsigned number. */
int strbuf_addu64(struct strbuf *sb, unsigned long long v);

/* Shorten to `len` bytes (len <= sb->len). */
void strbuf_setlen(struct strbuf *sb, size_t len);

static inline void strbuf_reset(struct strbuf *sb) { strbuf_setlen(sb, 0); }

#endif
