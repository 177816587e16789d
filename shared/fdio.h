/*
 * fdio.h - whole writes to a file descriptor.
 *
 * write() may write less than asked (a pipe, a signal, a full disk); every
 * caller that means "all of it" goes through here instead of its own loop.
 */
#ifndef FDIO_H
#define FDIO_H

#include <stddef.h>

/* Write all `len` bytes of `p` to `fd`, retrying after EINTR and short
 * writes.  0, or the negative errno of the failing write (-EAGAIN on a
 * non-blocking descriptor that is full). */
int fdio_write_all(int fd, const void *p, size_t len);

#endif
