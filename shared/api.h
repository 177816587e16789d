/*
 * api.h - the HTTP API of the contract (everything under /api/ except
 * /api/webhooks, plus the seed article's /messages, /add, /poll and
 * /orders), as handlers that any transport can drive.
 *
 * A request is answered at once (publish, short poll, channel list,
 * health, errors), or it must wait (a long poll with nothing new yet) or
 * stream (Server-Sent Events).  Waiting and streaming are the transport's
 * business: the FastCGI responder parks the request in its hub (hub.h),
 * while a CGI process sleeps on the log's futex (cgiio.c).  api_handle()
 * says which with an api_wait; the api_*_format() helpers produce the
 * bytes of later answers so both transports send the same thing.
 */
#ifndef API_H
#define API_H

#include <stdint.h>

#include "http.h"
#include "msglog.h"
#include "stats.h"

struct api_config {
	const char *publish_token;   /* LOGCAST_PUBLISH_TOKEN, NULL if unset */
	const char *cors_origin;     /* LOGCAST_CORS_ORIGIN: "*" by default;
	                                "none" (stored as "") sends none */
	unsigned poll_timeout;       /* LOGCAST_POLL_TIMEOUT: long poll default, s */
	unsigned sse_keepalive;      /* LOGCAST_SSE_KEEPALIVE: comment every N s */
	unsigned max_held;           /* LOGCAST_MAX_HELD: long polls + streams */
	unsigned retry_after;        /* seconds suggested with a 503 */
	size_t max_response;         /* bytes of envelopes per read response */
};

/* Defaults, then the environment.  0, or -EINVAL naming the variable. */
int api_config_from_env(struct api_config *cfg, struct lcerr *err);

struct api {
	struct msglog *log;
	struct stats *stats;          /* may be NULL */
	struct api_config cfg;
	const char *mode;             /* "fastcgi" or "cgi", for health */
	/* live counts of the process holding requests (FastCGI hub) */
	void (*counts)(void *ctx, uint64_t *long_polls, uint64_t *streams);
	void *counts_ctx;
	/* may one more request be held?  (FastCGI hub; NULL: use stats) */
	int (*may_hold)(void *ctx);
};

enum api_action {
	API_DONE,          /* resp holds the answer */
	API_LONG_POLL,     /* hold until a message > cursor, or the timeout */
	API_SSE,           /* stream events > cursor */
};

struct api_wait {
	enum api_action action;
	struct msglog_chan *chan;     /* a reference the caller must put */
	uint64_t cursor;              /* deliver ids greater than this */
	unsigned limit;               /* long poll: messages per answer */
	unsigned timeout;             /* long poll: seconds */
	int head_only;                /* HEAD request: no body */
};

/*
 * Handle one request.  Always fills `resp` for API_DONE (errors
 * included); for API_LONG_POLL and API_SSE it fills `wait` and leaves
 * `resp` unused.  Returns 0, or negative only when the request could not
 * be handled at all (then `resp` holds a 500).
 */
int api_handle(struct api *api, struct http_req *req, struct http_resp *resp,
	       struct api_wait *wait);

/* The CORS headers every response carries (none if disabled). */
void api_cors_headers(const struct api *api, struct http_resp *resp);

/*
 * The complete answer to a long poll: 200 with the messages of `b` from
 * index `from` on (at most `limit`), or 204 when `b` is NULL or has none
 * (the timeout).  Written as CGI response bytes to `out`.
 */
int api_longpoll_format(const struct api *api, struct strbuf *out,
			const struct msglog_batch *b, size_t from,
			size_t limit, const struct msglog_range *range);

/* The head of an SSE stream: status, headers, the retry hint. */
int api_sse_head_format(const struct api *api, struct strbuf *out,
			const struct msglog_range *range);

/* One SSE event per message of `b` ("id: N\ndata: <envelope>\n\n");
 * offsets[i] (if not NULL, b->n + 1 entries) is where message i starts. */
int api_sse_events_format(struct strbuf *out, const struct msglog_batch *b,
			  size_t *offsets);

/*
 * Send every event after w->cursor to `io`, in batches, advancing the
 * cursor (with `head`, the stream's head first).  0 when caught up, or
 * negative: -EIO when the log cannot be read, the transport's error when
 * the client is gone.
 */
int api_sse_send(const struct api *api, struct api_wait *w,
		 struct http_io *io, int head);

#define API_SSE_KEEPALIVE ":\n\n"

#endif
