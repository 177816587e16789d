/*
 * http.h - requests and responses, whatever carries them.
 *
 * The same request handlers serve FastCGI (libfcgi, one request per
 * accept), plain CGI (environment, stdin, stdout) and the parked requests
 * of the FastCGI hub.  A transport fills a struct http_io with four
 * callbacks; handlers see CGI-style parameters (REQUEST_METHOD,
 * REQUEST_URI, HTTP_AUTHORIZATION, ...), read the body through it, and
 * answer with a struct http_resp that http_resp_send() writes in CGI
 * response form ("Status: 201 Created", headers, blank line, body).
 *
 * http_status_from_err() is the one place where a library error code
 * becomes an HTTP status.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lcerr.h"
#include "strbuf.h"

#define HTTP_PATH_MAX 1024

struct http_io {
	/* A CGI parameter ("REQUEST_METHOD", "HTTP_ORIGIN", ...) or NULL;
	 * the string is borrowed for the duration of the request. */
	const char *(*param)(void *ctx, const char *name);
	/* Read request body bytes: count, 0 at the end, negative on error. */
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	/* Write response bytes (all of them): 0, or negative (client gone). */
	int (*write)(void *ctx, const void *buf, size_t len);
	/* Push what was written to the web server now: 0 or negative. */
	int (*flush)(void *ctx);
	void *ctx;
};

struct http_req {
	struct http_io *io;
	const char *method;          /* "GET", "POST", ... ("" if unknown) */
	char path[HTTP_PATH_MAX];    /* raw (still %-encoded) path */
	const char *query;           /* raw query string, "" if none */
};

/*
 * Fill `req` from the transport's parameters.  The path comes from
 * REQUEST_URI (the raw URI, so "%2e%2e" is seen as written), falling back
 * to SCRIPT_NAME + PATH_INFO.  0, or -E2BIG when the path is longer than
 * HTTP_PATH_MAX (answer 414).
 */
int http_req_init(struct http_req *req, struct http_io *io);

/* A request header by CGI name ("HTTP_IDEMPOTENCY_KEY"), or NULL. */
const char *http_req_param(const struct http_req *req, const char *name);

/*
 * Read the whole body into `body`, refusing more than `max` bytes:
 * -E2BIG when CONTENT_LENGTH says more (nothing is read) or when more
 * arrives; -EIO on a read error.  0 on success.
 */
int http_req_body(struct http_req *req, size_t max, struct strbuf *body);

struct http_resp {
	int status;
	struct strbuf head;          /* header lines, each ending in CRLF */
	struct strbuf body;
};

void http_resp_init(struct http_resp *resp);
void http_resp_release(struct http_resp *resp);

/* Add a header line "Name: value".  0 or the strbuf error. */
int http_resp_header(struct http_resp *resp, const char *name,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Make `resp` a JSON error: the status and {"error":"<reason>"}.  Any
 * body already there is discarded; headers are kept.
 */
void http_resp_error(struct http_resp *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The error for a library failure: status from http_status_from_err(),
 * the reason from `err` (for 5xx a generic reason; the details belong in
 * the server's log, which the caller writes). */
void http_resp_lcerr(struct http_resp *resp, const struct lcerr *err);

/*
 * Write the response: "Status:" line, the headers, Content-Length, the
 * blank line and the body.  With `head_only` the body is not sent
 * (HEAD requests).  0 or the transport's error.
 */
int http_resp_send(struct http_io *io, struct http_resp *resp, int head_only);

/*
 * Library error code (negative errno, see lcerr.h) to HTTP status:
 * EINVAL 400, E2BIG 413, ENOENT 404, EACCES 401, EAGAIN 503,
 * ENOSPC/EDQUOT 507, anything else 500.
 */
int http_status_from_err(int code);

/* Is `method` one of the comma-separated methods in `allow`
 * ("GET, HEAD, OPTIONS")?  1 or 0. */
int http_method_allowed(const char *allow, const char *method);

/* "OK", "Created", ... for a status code. */
const char *http_reason(int status);

#endif
