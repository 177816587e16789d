/*
 * lcerr.h - how library code in shared/ reports errors.
 *
 * Library functions never print and never exit.  They return 0 (or a
 * count) on success and a negative errno-style code on failure, and when
 * the caller passes a struct lcerr they also leave a short human-readable
 * reason in it.  Which HTTP status a code becomes is decided in exactly one
 * place, http_status_from_err() in http.c; the command-line tools print the
 * reason and pick an exit code.
 *
 * Codes used across the library (always negated):
 *   EINVAL   bad input from the caller (bad channel name, invalid JSON, ...)
 *   E2BIG    input larger than a configured bound
 *   ENOSPC   the file system is full (HTTP 507)
 *   EDQUOT   same meaning as ENOSPC
 *   EBADMSG  the log on disk is corrupt where it must not be
 *   ENOENT   no such thing (webhook id, ...)
 *   EAGAIN   overloaded, try again later (HTTP 503)
 *   EIO, ENOMEM, and any other errno from a system call: internal errors
 */
#ifndef LCERR_H
#define LCERR_H

#define LCERR_MSGLEN 256

struct lcerr {
	int code;                 /* negative errno-style code, 0 if none */
	char msg[LCERR_MSGLEN];   /* reason, no trailing newline */
};

#define LCERR_INIT { 0, "" }

/*
 * Record an error and return `code` (which must be negative) so that
 * callers can write `return lcerr_set(err, -EINVAL, "bad '%s'", x);`.
 * `err` may be NULL, in which case only the code is returned.
 */
int lcerr_set(struct lcerr *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like lcerr_set(), appending ": strerror(-code)" to the message. */
int lcerr_sys(struct lcerr *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reset to "no error". */
void lcerr_clear(struct lcerr *err);

#endif
