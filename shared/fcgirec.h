/*
 * fcgirec.h - FastCGI response records on a non-blocking connection.
 *
 * The hub (hub.c) answers parked requests itself, long after libfcgi let
 * go of them, so it writes the records by hand (libfcgi's fastcgi.h gives
 * the layout): FCGI_STDOUT records of at most 65535 bytes, and to finish
 * a request an empty FCGI_STDOUT and an FCGI_END_REQUEST.  What the socket
 * does not take at once is kept, up to FCGIREC_MAX_PENDING bytes, in a
 * buffer owned by the struct and written by fcgirec_flush() when the
 * socket is writable again.
 */
#ifndef FCGIREC_H
#define FCGIREC_H

#include <stddef.h>
#include <stdint.h>

#define FCGIREC_MAX_PENDING (4 << 20)

struct fcgirec_out {
	int fd;                 /* borrowed: the caller closes it */
	uint16_t reqid;
	char *pending;          /* owned: bytes the socket did not take */
	size_t pend_off, pend_len;
};

void fcgirec_init(struct fcgirec_out *o, int fd, uint16_t reqid);

/*
 * Send `data` (borrowed) as FCGI_STDOUT records of the request and, with
 * `end`, end the request.  Returns 0 when all went out, 1 when some is
 * pending (wait until the fd is writable, then fcgirec_flush()), or
 * negative: -E2BIG past the pending limit or for data over 5 MiB, -errno
 * when the connection is gone.
 */
int fcgirec_send(struct fcgirec_out *o, const char *data, size_t len,
		 int end);

/* Write what is pending.  0 when all is out, 1 if some remains, negative
 * -errno when the connection is gone. */
int fcgirec_flush(struct fcgirec_out *o);

static inline size_t fcgirec_pending(const struct fcgirec_out *o)
{
	return o->pend_len;
}

/* Free the pending buffer (the fd is left alone). */
void fcgirec_release(struct fcgirec_out *o);

#endif
