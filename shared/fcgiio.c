/*
 * fcgiio.c - FastCGI transport for the API (see fcgiio.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "fcgiio.h"
#include "hub.h"

#define ACCEPT_STACK (256 * 1024)

struct fcgi_server {
	struct api *api;
	struct hub *hub;
	int listen_fd;
	int request_nice;
};

static const char *fcgi_param(void *ctx, const char *name)
{
	FCGX_Request *r = ctx;

	return FCGX_GetParam(name, r->envp);
}

static ssize_t fcgi_read(void *ctx, void *buf, size_t len)
{
	FCGX_Request *r = ctx;
	int n = FCGX_GetStr(buf, len > 65536 ? 65536 : (int)len, r->in);

	if (n == 0 && FCGX_GetError(r->in))
		return -EIO;
	return n;
}

static int fcgi_write(void *ctx, const void *buf, size_t len)
{
	FCGX_Request *r = ctx;

	while (len) {
		int chunk = len > 1 << 30 ? 1 << 30 : (int)len;

		if (FCGX_PutStr(buf, chunk, r->out) != chunk)
			return -EPIPE;
		buf = (const char *)buf + chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

static int fcgi_flush(void *ctx)
{
	FCGX_Request *r = ctx;

	return FCGX_FFlush(r->out) ? -EPIPE : 0;
}

/*
 * Take the connection away from libfcgi: flush what it buffered, consume
 * the rest of the request (so closing later sends a clean EOF), free its
 * streams without closing the socket, and reset the request for the next
 * accept.  Returns the socket.
 */
static int fcgi_detach(FCGX_Request *r, int listen_fd, int *request_id)
{
	char buf[4096];
	int fd;

	FCGX_FFlush(r->out);
	while (FCGX_GetStr(buf, sizeof(buf), r->in) > 0)
		;
	fd = r->ipcFd;
	*request_id = r->requestId;
	FCGX_Free(r, 0);
	FCGX_InitRequest(r, listen_fd, 0);
	return fd;
}

/* Send an SSE stream's head and its backlog; the cursor advances. */
static int sse_start(struct api *api, struct http_io *io, struct api_wait *w)
{
	int rc = api_sse_send(api, w, io, 1);

	return rc ? rc : io->flush(io->ctx);
}

static void serve_one(struct fcgi_server *s, FCGX_Request *r)
{
	struct http_io io = { fcgi_param, fcgi_read, fcgi_write, fcgi_flush, r };
	struct http_resp resp;
	struct http_req req;
	struct api_wait w;
	int fd, reqid;

	http_resp_init(&resp);
	memset(&w, 0, sizeof(w));
	if (http_req_init(&req, &io))
		http_resp_error(&resp, 414, "request path too long");
	else
		api_handle(s->api, &req, &resp, &w);
	switch (w.action) {
	case API_DONE:
		http_resp_send(&io, &resp, w.head_only);
		break;
	case API_SSE:
		if (sse_start(s->api, &io, &w)) {
			msglog_chan_put(w.chan);   /* the client left already */
			break;
		}
		/* fall through */
	case API_LONG_POLL:
		fd = fcgi_detach(r, s->listen_fd, &reqid);
		hub_park(s->hub, fd, reqid, &w);
		break;
	}
	http_resp_release(&resp);
}

/* Make the calling thread `inc` steps nicer (Linux keeps a nice value per
 * thread; making oneself nicer needs no privilege). */
static void lower_priority(int inc)
{
	id_t tid = (id_t)gettid();
	int cur;

	if (inc <= 0)
		return;
	errno = 0;
	cur = getpriority(PRIO_PROCESS, tid);
	if (cur == -1 && errno)
		return;
	if (setpriority(PRIO_PROCESS, tid, cur + inc > 19 ? 19 : cur + inc))
		fprintf(stderr, "logcast-api: cannot lower the accept threads' "
			"priority: %s\n", strerror(errno));
}

static void *accept_main(void *arg)
{
	struct fcgi_server *s = arg;
	FCGX_Request *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	lower_priority(s->request_nice);
	FCGX_InitRequest(r, s->listen_fd, 0);
	while (FCGX_Accept_r(r) >= 0) {
		serve_one(s, r);
		FCGX_Finish_r(r);
	}
	FCGX_Free(r, 1);
	free(r);
	return NULL;
}

int fcgiio_run(struct api *api, const struct fcgiio_opts *opts,
	       struct lcerr *err)
{
	struct fcgi_server s = { api, NULL, opts->listen_fd, opts->request_nice };
	pthread_attr_t attr;
	sigset_t sigs;
	unsigned i, started = 0;
	int rc, sig;

	rc = hub_start(&s.hub, api, err);
	if (rc)
		return rc;
	api->counts = hub_counts;
	api->may_hold = hub_may_hold;
	api->counts_ctx = s.hub;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, ACCEPT_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (i = 0; i < opts->threads; i++) {
		pthread_t t;

		if (pthread_create(&t, &attr, accept_main, &s) == 0)
			started++;
	}
	pthread_attr_destroy(&attr);
	if (!started) {
		hub_free(s.hub);
		return lcerr_set(err, -EAGAIN, "cannot start accept threads");
	}

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigwait(&sigs, &sig);

	/* stop accepting, answer what is held, leave */
	FCGX_ShutdownPending();
	shutdown(s.listen_fd, SHUT_RDWR);
	hub_stop(s.hub);
	return 0;
}
