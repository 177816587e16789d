/*
 * cgiio.c - plain CGI transport for the API (see cgiio.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgiio.h"
#include "watch.h"

static volatile sig_atomic_t cgi_stop;

static void on_term(int sig)
{
	(void)sig;
	cgi_stop = 1;
}

static const char *cgi_param(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static ssize_t cgi_read(void *ctx, void *buf, size_t len)
{
	ssize_t n;

	(void)ctx;
	do
		n = read(0, buf, len);
	while (n < 0 && errno == EINTR && !cgi_stop);
	return n;
}

static int cgi_write(void *ctx, const void *buf, size_t len)
{
	const char *p = buf;

	(void)ctx;
	while (len) {
		ssize_t n = write(1, p, len);

		if (n < 0) {
			if (errno == EINTR && !cgi_stop)
				continue;
			return -EPIPE;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int cgi_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cgi_long_poll(struct api *api, struct api_wait *w)
{
	struct lcerr err = LCERR_INIT;
	struct msglog_batch b;
	struct msglog_range r;
	struct strbuf out;
	int64_t end = mono_ms() + (int64_t)w->timeout * 1000;
	int rc = 0, got = 0;

	msglog_batch_init(&b);
	strbuf_init(&out, 0);
	stats_add(api->stats, STATS_CGI_LONG_POLLS, 1);
	while (!cgi_stop) {
		int64_t left = end - mono_ms();

		if (left <= 0)
			break;
		rc = msglog_wait(w->chan, w->cursor, (int)left);
		if (rc == 1) {
			rc = msglog_read(w->chan, w->cursor, w->limit,
					 api->cfg.max_response, &b, &err);
			if (rc > 0) {
				got = 1;
				break;
			}
			if (rc < 0)
				break;
		}
	}
	stats_add(api->stats, STATS_CGI_LONG_POLLS, -1);
	if (cgi_stop) {
		rc = 1;           /* the client went away */
		goto out;
	}
	if (rc < 0) {
		struct http_resp resp;

		http_resp_init(&resp);
		api_cors_headers(api, &resp);
		http_resp_lcerr(&resp, &err);
		rc = http_resp_send(&(struct http_io){ NULL, NULL, cgi_write,
				    cgi_flush, NULL }, &resp, 0) ? 1 : 0;
		http_resp_release(&resp);
		goto out;
	}
	msglog_chan_range(w->chan, &r);
	rc = api_longpoll_format(api, &out, got ? &b : NULL, 0, w->limit,
				 got ? &b.range : &r);
	rc = rc || cgi_write(NULL, out.buf, out.len) ? 1 : 0;
out:
	strbuf_release(&out);
	msglog_batch_release(&b);
	return rc;
}

static int cgi_sse(struct api *api, struct api_wait *w)
{
	struct http_io io = { cgi_param, cgi_read, cgi_write, cgi_flush, NULL };
	int rc;

	stats_add(api->stats, STATS_CGI_SSE_STREAMS, 1);
	rc = api_sse_send(api, w, &io, 1);
	while (!rc && !cgi_stop) {
		rc = msglog_wait(w->chan, w->cursor,
				 (int)api->cfg.sse_keepalive * 1000);
		if (rc == 0)
			rc = cgi_write(NULL, API_SSE_KEEPALIVE,
				       sizeof(API_SSE_KEEPALIVE) - 1);
		else
			rc = api_sse_send(api, w, &io, 0);  /* news (or a signal) */
	}
	stats_add(api->stats, STATS_CGI_SSE_STREAMS, -1);
	return 1;   /* a stream only ends when the client goes */
}

void cgiio_transport(struct http_io *io)
{
	io->param = cgi_param;
	io->read = cgi_read;
	io->write = cgi_write;
	io->flush = cgi_flush;
	io->ctx = NULL;
}

int cgiio_serve(struct api *api)
{
	struct http_io io = { cgi_param, cgi_read, cgi_write, cgi_flush, NULL };
	struct sigaction sa;
	struct http_resp resp;
	struct http_req req;
	struct api_wait w;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;    /* no SA_RESTART: waits end with EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	http_resp_init(&resp);
	memset(&w, 0, sizeof(w));
	if (http_req_init(&req, &io)) {
		http_resp_error(&resp, 414, "request path too long");
	} else {
		api_handle(api, &req, &resp, &w);
	}
	if (w.action == API_LONG_POLL)
		rc = cgi_long_poll(api, &w);
	else if (w.action == API_SSE)
		rc = cgi_sse(api, &w);
	else
		rc = http_resp_send(&io, &resp, w.head_only) ? 1 : 0;
	msglog_chan_put(w.chan);
	http_resp_release(&resp);
	return rc;
}
