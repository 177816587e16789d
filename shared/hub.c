/*
 * hub.c - parked long polls and SSE streams of the FastCGI responder
 * (see hub.h for the design).
 *
 * Threads: accept threads call hub_park(), which queues the connection and
 * pokes an eventfd; everything else happens on the hub thread, so the
 * registry needs no locks.  epoll tags: the eventfd, the inotify watch and
 * the timerfd are told apart by pointer; every other event belongs to a
 * struct parked.
 *
 * Bytes on a parked connection are FastCGI records (fcgirec.h).  lighttpd
 * runs with server.stream-response-body = 1, so it reads what we write at
 * once and buffers for slow clients itself; a write that still comes up
 * short keeps the rest in a bounded per-request buffer and waits for
 * EPOLLOUT.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "fcgirec.h"
#include "hub.h"
#include "watch.h"

#define TICK_MS        200
#define CHAN_BUCKETS   1024
#define CHAN_LINGER_MS 30000   /* keep an idle channel's watch this long */
#define SSE_BATCH      1000

enum park_kind { PARK_LP, PARK_SSE };

struct parked {
	struct parked *next, *prev;    /* channel list, or incoming queue */
	struct hub_chan *hc;
	struct msglog_chan *chan;      /* until adopted */
	int fd;
	struct fcgirec_out out;        /* FastCGI records to lighttpd */
	uint8_t kind;
	uint8_t closing;               /* finished; close once flushed */
	uint8_t dead;                  /* released; freed by reap_dead() */
	uint32_t limit;
	unsigned timeout;
	uint64_t cursor;
	int64_t deadline;              /* long poll: answer 204 then (ms) */
	int64_t last_write;            /* stream: for keep-alives (ms) */
};

struct hub_chan {
	struct hub_chan *hnext;
	struct msglog_chan *c;         /* reference held by the hub */
	struct parked lp, sse;         /* list sentinels */
	unsigned nlp, nsse;
	int64_t empty_since;
};

struct hub {
	struct api *api;
	int epfd, evfd, tfd;
	struct msglog_watch watch;
	pthread_t thread;
	int running;
	pthread_mutex_t mu;            /* incoming queue */
	struct parked *in_head, *in_tail;
	struct parked *dead;           /* released in this round of events */
	_Atomic uint64_t n_lp, n_sse;
	_Atomic unsigned held;
	_Atomic int stop;
	struct hub_chan *buckets[CHAN_BUCKETS];
	struct msglog_batch batch;
	struct strbuf out;
	size_t *offsets;
	char tag_ev, tag_watch, tag_timer;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void list_init(struct parked *head)
{
	head->next = head->prev = head;
}

static void list_add(struct parked *head, struct parked *p)
{
	p->prev = head->prev;
	p->next = head;
	head->prev->next = p;
	head->prev = p;
}

static void list_del(struct parked *p)
{
	p->prev->next = p->next;
	p->next->prev = p->prev;
	p->next = p->prev = NULL;
}

/* ------------------------------------------------------------------ */
/* output                                                             */

static int want_out(struct hub *h, struct parked *p, int on)
{
	struct epoll_event ev;

	ev.events = EPOLLRDHUP | (on ? EPOLLOUT : 0);
	ev.data.ptr = p;
	return epoll_ctl(h->epfd, EPOLL_CTL_MOD, p->fd, &ev) ? -errno : 0;
}

/*
 * Send `data` as the request's output, and with `end` finish it.  0 (sent
 * or queued) or negative (the client is gone).
 */
static int park_send(struct hub *h, struct parked *p, const char *data,
		     size_t len, int end)
{
	int had_pending = fcgirec_pending(&p->out) > 0;
	int rc = fcgirec_send(&p->out, data, len, end);

	if (end)
		p->closing = 1;
	if (rc == 1 && !had_pending)
		return want_out(h, p, 1);
	return rc < 0 ? rc : 0;
}

/* EPOLLOUT: write what is pending.  1 when all is out, 0 if some remains,
 * negative when the client is gone. */
static int park_flush(struct hub *h, struct parked *p)
{
	int rc = fcgirec_flush(&p->out);

	if (rc)
		return rc < 0 ? rc : 0;
	want_out(h, p, 0);
	return 1;
}

/* ------------------------------------------------------------------ */
/* the registry                                                       */

static unsigned chan_bucket(const struct msglog_chan *c)
{
	return (unsigned)(((uintptr_t)c >> 4) % CHAN_BUCKETS);
}

static struct hub_chan *hub_chan_find(struct hub *h, struct msglog_chan *c)
{
	struct hub_chan *hc;

	for (hc = h->buckets[chan_bucket(c)]; hc; hc = hc->hnext)
		if (hc->c == c)
			return hc;
	return NULL;
}

/* The hub's entry for channel c, created (and watched) if needed; takes
 * over the caller's reference when it creates one. */
static struct hub_chan *hub_chan_get(struct hub *h, struct msglog_chan *c,
				     int *took_ref)
{
	struct lcerr err = LCERR_INIT;
	struct hub_chan *hc = hub_chan_find(h, c);
	unsigned b;

	*took_ref = 0;
	if (hc)
		return hc;
	hc = calloc(1, sizeof(*hc));
	if (!hc)
		return NULL;
	if (msglog_watch_add(&h->watch, c, &err)) {
		fprintf(stderr, "logcast: %s\n", err.msg);
		free(hc);
		return NULL;
	}
	hc->c = c;
	list_init(&hc->lp);
	list_init(&hc->sse);
	b = chan_bucket(c);
	hc->hnext = h->buckets[b];
	h->buckets[b] = hc;
	*took_ref = 1;
	return hc;
}

static void hub_chan_free(struct hub *h, struct hub_chan *hc)
{
	struct hub_chan **pp = &h->buckets[chan_bucket(hc->c)];

	while (*pp != hc)
		pp = &(*pp)->hnext;
	*pp = hc->hnext;
	msglog_watch_remove(&h->watch, hc->c);
	msglog_chan_put(hc->c);
	free(hc);
}

static void park_release(struct hub *h, struct parked *p)
{
	if (p->hc) {
		list_del(p);
		if (p->kind == PARK_LP) {
			p->hc->nlp--;
			atomic_fetch_sub(&h->n_lp, 1);
		} else {
			p->hc->nsse--;
			atomic_fetch_sub(&h->n_sse, 1);
		}
		if (!p->hc->nlp && !p->hc->nsse)
			p->hc->empty_since = mono_ms();
	}
	if (p->chan)
		msglog_chan_put(p->chan);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	fcgirec_release(&p->out);
	/* events fetched in this round of epoll_wait() may still name p */
	p->dead = 1;
	p->next = h->dead;
	h->dead = p;
	atomic_fetch_sub(&h->held, 1);
}

static void reap_dead(struct hub *h)
{
	while (h->dead) {
		struct parked *p = h->dead;

		h->dead = p->next;
		free(p);
	}
}

/* After a final send: release now, or once the rest is flushed. */
static void park_done(struct hub *h, struct parked *p, int rc)
{
	if (rc < 0 || !fcgirec_pending(&p->out))
		park_release(h, p);
}

/* ------------------------------------------------------------------ */
/* delivering                                                         */

static void deliver_lp(struct hub *h, struct hub_chan *hc, uint64_t last)
{
	struct lcerr err = LCERR_INIT;
	struct parked *p, *next;
	uint64_t key_cursor = 0;
	uint32_t key_limit = 0;
	int have = 0, rc;

	for (p = hc->lp.next; p != &hc->lp; p = next) {
		next = p->next;
		if (p->closing || p->cursor >= last)
			continue;
		if (!have || p->cursor != key_cursor || p->limit != key_limit) {
			rc = msglog_read(hc->c, p->cursor, p->limit,
					 h->api->cfg.max_response, &h->batch, &err);
			if (rc < 0)
				fprintf(stderr, "logcast: %s\n", err.msg);
			if (rc <= 0) {
				have = 0;
				continue;
			}
			strbuf_reset(&h->out);
			if (api_longpoll_format(h->api, &h->out, &h->batch, 0,
						p->limit, &h->batch.range))
				continue;
			key_cursor = p->cursor;
			key_limit = p->limit;
			have = 1;
		}
		park_done(h, p, park_send(h, p, h->out.buf, h->out.len, 1));
	}
}

static void deliver_sse(struct hub *h, struct hub_chan *hc, uint64_t last)
{
	struct lcerr err = LCERR_INIT;
	struct parked *p, *next;
	int rounds;

	for (rounds = 0; rounds < 64; rounds++) {
		uint64_t min = UINT64_MAX, first, got;
		int rc, any = 0;

		for (p = hc->sse.next; p != &hc->sse; p = p->next)
			if (!p->closing && p->cursor < last && p->cursor < min)
				min = p->cursor;
		if (min == UINT64_MAX)
			return;
		rc = msglog_read(hc->c, min, SSE_BATCH, h->api->cfg.max_response,
				 &h->batch, &err);
		if (rc < 0)
			fprintf(stderr, "logcast: %s\n", err.msg);
		if (rc <= 0)
			return;
		free(h->offsets);
		h->offsets = malloc((h->batch.n + 1) * sizeof(size_t));
		strbuf_reset(&h->out);
		if (!h->offsets ||
		    api_sse_events_format(&h->out, &h->batch, h->offsets))
			return;
		first = h->batch.msgs[0].id;
		got = h->batch.msgs[h->batch.n - 1].id;
		for (p = hc->sse.next; p != &hc->sse; p = next) {
			size_t idx;

			next = p->next;
			if (p->closing || p->cursor >= got)
				continue;
			idx = p->cursor + 1 > first ? (size_t)(p->cursor + 1 - first) : 0;
			rc = park_send(h, p, h->out.buf + h->offsets[idx],
				       h->out.len - h->offsets[idx], 0);
			if (rc < 0) {
				park_release(h, p);
				continue;
			}
			p->cursor = got;
			p->last_write = mono_ms();
			any = 1;
		}
		if (!any || got >= last)
			return;
	}
}

static void deliver(struct hub *h, struct hub_chan *hc)
{
	uint64_t last = msglog_chan_last_id(hc->c);

	if (hc->nlp)
		deliver_lp(h, hc, last);
	if (hc->nsse)
		deliver_sse(h, hc, last);
}

/* Long polls past their deadline get 204; quiet streams a comment. */
static void hub_tick(struct hub *h)
{
	int64_t now = mono_ms();
	int64_t ka = (int64_t)h->api->cfg.sse_keepalive * 1000;
	unsigned b;

	for (b = 0; b < CHAN_BUCKETS; b++) {
		struct hub_chan *hc, *hnext;

		for (hc = h->buckets[b]; hc; hc = hnext) {
			struct parked *p, *next;
			int have204 = 0;

			hnext = hc->hnext;
			for (p = hc->lp.next; p != &hc->lp; p = next) {
				next = p->next;
				if (p->closing || p->deadline > now)
					continue;
				if (!have204) {
					struct msglog_range r;

					msglog_chan_range(hc->c, &r);
					strbuf_reset(&h->out);
					if (api_longpoll_format(h->api, &h->out,
								NULL, 0, 0, &r))
						continue;
					have204 = 1;
				}
				park_done(h, p, park_send(h, p, h->out.buf,
							  h->out.len, 1));
			}
			for (p = hc->sse.next; p != &hc->sse; p = next) {
				next = p->next;
				if (p->closing || now - p->last_write < ka)
					continue;
				if (park_send(h, p, API_SSE_KEEPALIVE,
					      sizeof(API_SSE_KEEPALIVE) - 1, 0) < 0) {
					park_release(h, p);
					continue;
				}
				p->last_write = now;
			}
			if (!hc->nlp && !hc->nsse &&
			    now - hc->empty_since > CHAN_LINGER_MS)
				hub_chan_free(h, hc);
		}
	}
}

/* Take a queued connection into the registry. */
static void adopt(struct hub *h, struct parked *p)
{
	struct epoll_event ev;
	struct hub_chan *hc;
	int took;

	hc = hub_chan_get(h, p->chan, &took);
	if (!hc) {
		struct strbuf sb;

		strbuf_init(&sb, 0);
		strbuf_addstr(&sb, "Status: 503 Service Unavailable\r\n"
			      "Content-Type: application/json\r\nRetry-After: 5\r\n\r\n"
			      "{\"error\":\"cannot watch the channel; retry later\"}");
		park_send(h, p, sb.buf, sb.len, 1);
		strbuf_release(&sb);
		park_release(h, p);
		return;
	}
	if (!took)
		msglog_chan_put(p->chan);
	p->chan = NULL;
	fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
	ev.events = EPOLLRDHUP;
	ev.data.ptr = p;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, p->fd, &ev)) {
		park_release(h, p);
		return;
	}
	p->hc = hc;
	if (p->kind == PARK_LP) {
		p->deadline = mono_ms() + (int64_t)p->timeout * 1000;
		list_add(&hc->lp, p);
		hc->nlp++;
		atomic_fetch_add(&h->n_lp, 1);
	} else {
		p->last_write = mono_ms();
		list_add(&hc->sse, p);
		hc->nsse++;
		atomic_fetch_add(&h->n_sse, 1);
	}
	if (msglog_chan_last_id(hc->c) > p->cursor)
		deliver(h, hc);
}

static void adopt_incoming(struct hub *h)
{
	struct parked *q, *next;
	uint64_t v;

	if (read(h->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&h->mu);
	q = h->in_head;
	h->in_head = h->in_tail = NULL;
	pthread_mutex_unlock(&h->mu);
	for (; q; q = next) {
		next = q->next;
		q->next = NULL;
		adopt(h, q);
	}
}

static void deliver_all(struct hub *h)
{
	unsigned b;

	for (b = 0; b < CHAN_BUCKETS; b++) {
		struct hub_chan *hc, *hnext;

		for (hc = h->buckets[b]; hc; hc = hnext) {
			hnext = hc->hnext;
			deliver(h, hc);
		}
	}
}

static void on_watch(struct hub *h)
{
	struct msglog_chan *changed[512];
	int n, i;

	n = msglog_watch_read(&h->watch, changed, 512, NULL);
	if (n == 512) {
		deliver_all(h);
		return;
	}
	for (i = 0; i < n; i++) {
		struct hub_chan *hc = hub_chan_find(h, changed[i]);

		if (hc)
			deliver(h, hc);
	}
}

/* Stop: answer every waiting request and free everything. */
static void hub_drain(struct hub *h)
{
	unsigned b;

	adopt_incoming(h);
	for (b = 0; b < CHAN_BUCKETS; b++) {
		while (h->buckets[b]) {
			struct hub_chan *hc = h->buckets[b];
			struct parked *p;
			struct msglog_range r;

			msglog_chan_range(hc->c, &r);
			strbuf_reset(&h->out);
			api_longpoll_format(h->api, &h->out, NULL, 0, 0, &r);
			while ((p = hc->lp.next) != &hc->lp) {
				park_send(h, p, h->out.buf, h->out.len, 1);
				park_release(h, p);
			}
			while ((p = hc->sse.next) != &hc->sse) {
				park_send(h, p, "", 0, 1);
				park_release(h, p);
			}
			hub_chan_free(h, hc);
		}
	}
	reap_dead(h);
}

static void *hub_main(void *arg)
{
	struct hub *h = arg;
	struct epoll_event evs[256];
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load(&h->stop)) {
		int n = epoll_wait(h->epfd, evs, 256, -1), i;

		for (i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			struct parked *p;

			if (tag == &h->tag_ev) {
				adopt_incoming(h);
			} else if (tag == &h->tag_watch) {
				on_watch(h);
			} else if (tag == &h->tag_timer) {
				uint64_t t;

				if (read(h->tfd, &t, sizeof(t)) > 0)
					hub_tick(h);
			} else if (!(p = tag)->dead) {
				if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
					/* the client went away (lighttpd passed on its
					 * FIN): end the request properly, then let go */
					if (!(evs[i].events & (EPOLLHUP | EPOLLERR)) &&
					    !p->closing)
						park_send(h, p, "", 0, 1);
					park_release(h, p);
				} else if (evs[i].events & EPOLLOUT) {
					int rc = park_flush(h, p);

					if (rc < 0 || (rc == 1 && p->closing))
						park_release(h, p);
				}
			}
		}
		reap_dead(h);
	}
	hub_drain(h);
	return NULL;
}

/* ------------------------------------------------------------------ */

static int epoll_add_tag(int epfd, int fd, void *tag)
{
	struct epoll_event ev;

	ev.events = EPOLLIN;
	ev.data.ptr = tag;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int hub_start(struct hub **out, struct api *api, struct lcerr *err)
{
	struct itimerspec its = { { 0, TICK_MS * 1000000L }, { 0, TICK_MS * 1000000L } };
	struct hub *h;
	int rc;

	h = calloc(1, sizeof(*h));
	if (!h)
		return lcerr_set(err, -ENOMEM, "out of memory");
	h->api = api;
	h->epfd = h->evfd = h->tfd = -1;
	pthread_mutex_init(&h->mu, NULL);
	msglog_batch_init(&h->batch);
	strbuf_init(&h->out, 0);
	rc = msglog_watch_init(&h->watch, err);
	if (rc)
		goto fail;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	h->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (h->epfd < 0 || h->evfd < 0 || h->tfd < 0 ||
	    timerfd_settime(h->tfd, 0, &its, NULL) ||
	    epoll_add_tag(h->epfd, h->evfd, &h->tag_ev) ||
	    epoll_add_tag(h->epfd, h->tfd, &h->tag_timer) ||
	    epoll_add_tag(h->epfd, msglog_watch_fd(&h->watch), &h->tag_watch)) {
		rc = lcerr_sys(err, -errno, "cannot set up the hub");
		goto fail;
	}
	rc = pthread_create(&h->thread, NULL, hub_main, h);
	if (rc) {
		rc = lcerr_sys(err, -rc, "cannot start the hub thread");
		goto fail;
	}
	h->running = 1;
	*out = h;
	return 0;
fail:
	msglog_watch_release(&h->watch);
	if (h->epfd >= 0)
		close(h->epfd);
	if (h->evfd >= 0)
		close(h->evfd);
	if (h->tfd >= 0)
		close(h->tfd);
	msglog_batch_release(&h->batch);
	strbuf_release(&h->out);
	free(h);
	return rc;
}

void hub_stop(struct hub *h)
{
	uint64_t one = 1;

	if (!h || !h->running)
		return;
	atomic_store(&h->stop, 1);
	if (write(h->evfd, &one, sizeof(one)) < 0) {
		/* the thread still sees stop at its next event */
	}
	pthread_join(h->thread, NULL);
	h->running = 0;
}

void hub_free(struct hub *h)
{
	if (!h)
		return;
	hub_stop(h);
	msglog_watch_release(&h->watch);
	close(h->epfd);
	close(h->evfd);
	close(h->tfd);
	msglog_batch_release(&h->batch);
	strbuf_release(&h->out);
	free(h->offsets);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

int hub_park(struct hub *h, int fd, int request_id, struct api_wait *w)
{
	struct parked *p = calloc(1, sizeof(*p));
	uint64_t one = 1;
	int was_empty;

	if (!p) {
		close(fd);
		msglog_chan_put(w->chan);
		return -ENOMEM;
	}
	p->fd = fd;
	fcgirec_init(&p->out, fd, (uint16_t)request_id);
	p->kind = w->action == API_SSE ? PARK_SSE : PARK_LP;
	p->chan = w->chan;
	p->cursor = w->cursor;
	p->limit = w->limit;
	p->timeout = w->timeout;
	w->chan = NULL;
	atomic_fetch_add(&h->held, 1);
	pthread_mutex_lock(&h->mu);
	was_empty = !h->in_head;
	if (h->in_tail)
		h->in_tail->next = p;
	else
		h->in_head = p;
	h->in_tail = p;
	pthread_mutex_unlock(&h->mu);
	/* a non-empty queue has been announced already: the hub reads the
	 * eventfd before it takes the queue (adopt_incoming) */
	if (was_empty && write(h->evfd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		return -errno;
	return 0;
}

void hub_counts(void *arg, uint64_t *long_polls, uint64_t *streams)
{
	struct hub *h = arg;

	*long_polls = atomic_load(&h->n_lp);
	*streams = atomic_load(&h->n_sse);
}

int hub_may_hold(void *arg)
{
	struct hub *h = arg;

	return atomic_load(&h->held) < h->api->cfg.max_held;
}
