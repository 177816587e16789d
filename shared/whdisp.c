/*
 * whdisp.c - the webhook dispatcher's event loop (see whdisp.h).
 *
 * Data structures:
 *
 *   struct dchan   a channel some endpoint follows: its log handle (and
 *                  inotify watch), shared by the endpoints on it
 *   struct ep      an endpoint: a copy of its subscription, its signing
 *                  key, its delivery state (cursors live there), its easy
 *                  handle, and per channel a batch of messages read ahead
 *   phase          READY (may start the next message), BUSY (one attempt
 *                  in flight), WAIT (failed; next attempt at st.next_ms),
 *                  OFF (disabled)
 *
 * Every turn of the loop offers each READY or due endpoint its next
 * message: that costs a look at shared memory (the channel's last id)
 * unless there is news, so wake-ups need no bookkeeping - an inotify event
 * only ends the wait.  Finished attempts update the state in memory and
 * mark it dirty; the writer (whwriter.h) makes dirty states durable in
 * groups.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "parse.h"
#include "watch.h"
#include "webhook.h"
#include "whaddr.h"
#include "whdisp.h"
#include "whsched.h"
#include "whsig.h"
#include "whstate.h"
#include "whwriter.h"
#include "whxfer.h"

#define READ_AHEAD       64              /* messages per batch read */
#define READ_AHEAD_BYTES (256 * 1024)
#define FLUSH_MS_MIN     10              /* spacing of state writes: at */
#define FLUSH_MS_MAX     1000            /* least twice the last one's time */
#define HOUSEKEEP_MS     1000            /* stat of subscriptions.json */
#define LOG_ERROR_HOLD   5000            /* back-off after a log read error */
#define ATTACH_MS        1000            /* after a create in channels/, */
#define ATTACH_POLL_MS   5               /* look for new channels this often */

struct dchan {
	char name[MSGLOG_NAME_MAX + 1];
	struct msglog_chan *c;       /* NULL while the channel does not exist */
	int watched;
	unsigned refs;
};

struct epch {
	struct dchan *ch;
	size_t cur_idx;              /* its cursor: st.cursors[cur_idx] */
	struct msglog_batch b;       /* read ahead, from b.msgs[pos] on */
	size_t pos;
	uint64_t limit;              /* once: the last id at the pass start */
};

enum ep_phase { EP_READY, EP_BUSY, EP_WAIT, EP_OFF };

struct ep {
	struct webhook_sub sub;
	struct whsig sig;
	struct whstate st;
	struct epch *chs;
	struct whxfer x;
	enum ep_phase phase;
	int dirty, mark;
	size_t cur;                  /* the attempt in flight: channel index */
	uint64_t cur_id;             /* and message id */
	char wid[MSGLOG_NAME_MAX + 32];
	uint64_t at_ms;              /* wall clock at its start */
	uint64_t hold_until;         /* monotonic: after a log read error */
};

struct whdisp {
	const struct whdisp_config *cfg;
	struct whsched sched;
	struct whaddr_policy allow;
	struct webhook_store store;
	struct msglog *log;
	CURLM *multi;
	struct msglog_watch watch;
	int watching;
	int dirwatch;
	int lock_fd;
	struct whwriter writer;
	struct ep **eps;
	size_t neps;
	struct dchan **chans;
	size_t nchans;
	char (*removed)[64];         /* state files to delete, next flush */
	size_t nremoved;
	size_t busy;
	struct stat subs_st;
	int have_subs_st;
	uint64_t next_housekeep, last_flush;
	uint64_t attach_until;       /* after a create in channels/: look often */
};

static void say(struct whdisp *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct whdisp *d, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	if (!d->cfg->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->cfg->log(d->cfg->log_ctx, msg);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int whdisp_config_from_env(struct whdisp_config *c, struct lcerr *err)
{
	const char *v = getenv("LOGCAST_WEBHOOK_TIMEOUT");

	memset(c, 0, sizeof(*c));
	c->timeout_ms = WHDISP_TIMEOUT_DEFAULT_MS;
	if (v && *v && (parse_duration_ms(v, strlen(v), WHDISP_TIMEOUT_MAX_MS,
					  &c->timeout_ms) || !c->timeout_ms))
		return lcerr_set(err, -EINVAL,
			"LOGCAST_WEBHOOK_TIMEOUT must be seconds (or e.g. 500ms), "
			"more than 0 and at most 3600");
	c->schedule = getenv("LOGCAST_WEBHOOK_SCHEDULE");
	c->allow = getenv("LOGCAST_WEBHOOK_ALLOW");
	v = getenv("LOGCAST_FSYNC");
	c->durable = !(v && !strcmp(v, "off"));
	return 0;
}

/* ------------------------------------------------------------------ */
/* channels                                                           */

/* Open (and watch) a channel that exists by now; one that does not stays
 * detached - nothing to deliver - and is tried again at housekeeping and
 * whenever something is created in <data>/channels. */
static void dchan_attach(struct whdisp *d, struct dchan *ch)
{
	struct lcerr err = LCERR_INIT;
	int rc;

	if (ch->c)
		return;
	rc = msglog_chan_get(d->log, ch->name, 0, &ch->c, &err);
	if (rc) {
		if (rc != -ENOENT)
			say(d, "channel %s: %s", ch->name, err.msg);
		ch->c = NULL;
		return;
	}
	if (d->watching && msglog_watch_add(&d->watch, ch->c, &err)) {
		say(d, "channel %s: %s (it is looked at every second)", ch->name,
		    err.msg);
	}
	ch->watched = d->watching && !err.code;
}

static struct dchan *dchan_get(struct whdisp *d, const char *name,
			       struct lcerr *err)
{
	struct dchan *ch, **n;
	size_t i;

	for (i = 0; i < d->nchans; i++)
		if (!strcmp(d->chans[i]->name, name)) {
			d->chans[i]->refs++;
			return d->chans[i];
		}
	n = realloc(d->chans, (d->nchans + 1) * sizeof(*n));
	ch = calloc(1, sizeof(*ch));
	if (n)
		d->chans = n;
	if (!n || !ch) {
		free(ch);
		lcerr_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	ch->refs = 1;
	d->chans[d->nchans++] = ch;
	dchan_attach(d, ch);
	return ch;
}

static void dchan_put(struct whdisp *d, struct dchan *ch)
{
	size_t i;

	if (!ch || --ch->refs)
		return;
	for (i = 0; i < d->nchans; i++)
		if (d->chans[i] == ch) {
			d->chans[i] = d->chans[--d->nchans];
			break;
		}
	if (ch->watched)
		msglog_watch_remove(&d->watch, ch->c);
	msglog_chan_put(ch->c);
	free(ch);
}

/* ------------------------------------------------------------------ */
/* endpoints                                                          */

static uint64_t *ep_cursor(struct ep *ep, size_t k)
{
	return &ep->st.cursors[ep->chs[k].cur_idx].id;
}

static void ep_free(struct whdisp *d, struct ep *ep)
{
	size_t i;

	if (ep->phase == EP_BUSY) {
		curl_multi_remove_handle(d->multi, ep->x.easy);
		d->busy--;
	}
	for (i = 0; ep->chs && i < ep->sub.nchannels; i++) {
		msglog_batch_release(&ep->chs[i].b);
		dchan_put(d, ep->chs[i].ch);
	}
	free(ep->chs);
	whxfer_release(&ep->x);
	whsig_release(&ep->sig);
	whstate_release(&ep->st);
	webhook_sub_release(&ep->sub);
	free(ep);
}

static void ep_disable(struct whdisp *d, struct ep *ep, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void ep_disable(struct whdisp *d, struct ep *ep, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ep->st.reason, sizeof(ep->st.reason), fmt, ap);
	va_end(ap);
	ep->st.disabled = 1;
	ep->st.next_ms = 0;
	ep->phase = EP_OFF;
	ep->dirty = 1;
	say(d, "webhook %s disabled: %s", ep->sub.id, ep->st.reason);
}

/* The API asked (retry_seq) to resume: from the cursors, failures reset. */
static void ep_resume(struct whdisp *d, struct ep *ep, uint64_t seq)
{
	ep->st.retry_seq = seq;
	ep->dirty = 1;
	if (!ep->x.easy || !ep->sig.ctx)
		return;              /* unusable URL or secret: stays disabled */
	ep->st.disabled = 0;
	ep->st.reason[0] = '\0';
	ep->st.failures = 0;
	ep->st.next_ms = 0;
	ep->hold_until = 0;
	if (ep->phase != EP_BUSY)
		ep->phase = EP_READY;
	ep->dirty = 1;
	say(d, "webhook %s resumed", ep->sub.id);
}

static void ep_load_state(struct whdisp *d, struct ep *ep)
{
	struct lcerr err = LCERR_INIT;
	struct strbuf text;
	char name[64];
	int rc;

	webhook_state_name(ep->sub.id, name, sizeof(name));
	strbuf_init(&text, WEBHOOK_FILE_MAX);
	rc = webhook_file_read(d->store.statefd, name, WEBHOOK_FILE_MAX, &text, &err);
	if (!rc)
		rc = whstate_parse(&ep->st, text.buf, text.len, &err);
	if (rc) {
		if (rc != -ENOENT)
			say(d, "webhook %s: %s; starting from its registration cursors",
			    ep->sub.id, err.msg);
		whstate_release(&ep->st);
		whstate_init(&ep->st, ep->sub.id);
		ep->st.retry_seq = ep->sub.retry_seq;
		ep->dirty = 1;
	}
	strbuf_release(&text);
}

static struct ep *ep_new(struct whdisp *d, const struct webhook_sub *sub,
			 struct lcerr *err)
{
	struct ep *ep = calloc(1, sizeof(*ep));
	size_t i, j;

	if (!ep || webhook_sub_copy(&ep->sub, sub)) {
		free(ep);
		lcerr_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	whstate_init(&ep->st, sub->id);
	ep_load_state(d, ep);
	for (i = 0; i < sub->nchannels; i++)
		if (!whstate_cursor(&ep->st, sub->channels[i]) &&
		    whstate_cursor_set(&ep->st, sub->channels[i], sub->start[i]))
			goto oom;
	whstate_cursor_prune(&ep->st, sub);
	ep->chs = calloc(sub->nchannels, sizeof(*ep->chs));
	if (!ep->chs)
		goto oom;
	for (i = 0; i < sub->nchannels; i++) {
		struct epch *e = &ep->chs[i];

		msglog_batch_init(&e->b);
		for (j = 0; j < ep->st.ncursors; j++)
			if (!strcmp(ep->st.cursors[j].channel, sub->channels[i]))
				e->cur_idx = j;
		e->ch = dchan_get(d, sub->channels[i], err);
		if (!e->ch) {
			ep->sub.nchannels = i + 1;     /* free what we have */
			ep_free(d, ep);
			return NULL;
		}
		e->limit = !d->cfg->once ? UINT64_MAX :
			   e->ch->c ? msglog_chan_last_id(e->ch->c) : 0;
	}
	ep->phase = ep->st.disabled ? EP_OFF :
		    ep->st.next_ms ? EP_WAIT : EP_READY;
	if (whsig_init(&ep->sig, sub->secret, err))
		ep_disable(d, ep, "its secret is unusable: %s", err->msg);
	if (whxfer_init(&ep->x, sub->url, &d->allow, d->cfg->timeout_ms, ep, err))
		ep_disable(d, ep, "its URL is unusable: %s", err->msg);
	if (sub->retry_seq > ep->st.retry_seq)
		ep_resume(d, ep, sub->retry_seq);
	lcerr_clear(err);
	return ep;
oom:
	ep_free(d, ep);
	lcerr_set(err, -ENOMEM, "out of memory");
	return NULL;
}

/* Record the ids first..last of channel k as skipped. */
static void ep_gap(struct whdisp *d, struct ep *ep, size_t k, uint64_t first,
		   uint64_t last)
{
	struct whattempt a;
	char why[160];

	snprintf(why, sizeof(why),
		 "dropped by retention: messages %llu..%llu of channel %s were "
		 "removed before they could be delivered",
		 (unsigned long long)first, (unsigned long long)last,
		 ep->chs[k].ch->name);
	memset(&a, 0, sizeof(a));
	a.at_ms = wall_ms();
	a.channel = ep->chs[k].ch->name;
	a.msg_id = first;
	a.last_id = last;
	a.error = why;
	whstate_attempt_add(&ep->st, &a);
	*ep_cursor(ep, k) = last;
	ep->dirty = 1;
	say(d, "webhook %s: %s", ep->sub.id, why);
}

/* Make sure channel k has its next message in the batch: 1 yes, 0 none,
 * -1 on a log error. */
static int ep_fill(struct whdisp *d, struct ep *ep, size_t k)
{
	struct epch *e = &ep->chs[k];
	struct lcerr err = LCERR_INIT;
	uint64_t cur = *ep_cursor(ep, k), upto;
	int rc;

	if (e->pos < e->b.n)
		return 1;
	if (!e->ch->c)
		return 0;
	upto = msglog_chan_last_id(e->ch->c);
	if (upto > e->limit)
		upto = e->limit;
	if (cur >= upto)
		return 0;
	rc = msglog_read(e->ch->c, cur, READ_AHEAD, READ_AHEAD_BYTES, &e->b, &err);
	if (rc < 0) {
		say(d, "webhook %s: cannot read channel %s: %s", ep->sub.id,
		    e->ch->name, err.msg);
		return -1;
	}
	e->pos = 0;
	while (e->b.n && e->b.msgs[e->b.n - 1].id > e->limit)
		e->b.n--;
	if (!e->b.n)
		return 0;
	if (e->b.msgs[0].id > cur + 1)
		ep_gap(d, ep, k, cur + 1, e->b.msgs[0].id - 1);
	return 1;
}

static void ep_start(struct whdisp *d, struct ep *ep, size_t k)
{
	struct epch *e = &ep->chs[k];
	const struct msglog_msg *m = &e->b.msgs[e->pos];
	const char *body = e->b.buf.buf + m->off;
	char sig[WHSIG_SIG_MAX];
	uint64_t ts;

	snprintf(ep->wid, sizeof(ep->wid), "msg_%s_%llu", e->ch->name,
		 (unsigned long long)m->id);
	ep->at_ms = wall_ms();
	ts = ep->at_ms / 1000;
	if (whsig_sign(&ep->sig, ep->wid, ts, body, m->len, sig, sizeof(sig)) ||
	    whxfer_prepare(&ep->x, ep->wid, ts, sig, body, m->len) ||
	    curl_multi_add_handle(d->multi, ep->x.easy) != CURLM_OK) {
		say(d, "webhook %s: cannot start an attempt (out of memory?)",
		    ep->sub.id);
		ep->hold_until = whxfer_now_ms() + LOG_ERROR_HOLD;
		return;
	}
	ep->cur = k;
	ep->cur_id = m->id;
	ep->phase = EP_BUSY;
	d->busy++;
}

/* Offer the endpoint its next message, if it may take one. */
static void ep_kick(struct whdisp *d, struct ep *ep, uint64_t now, uint64_t mono)
{
	const struct msglog_msg *best = NULL;
	size_t k, bk = 0;

	if (ep->phase == EP_BUSY || ep->phase == EP_OFF || !ep->x.easy ||
	    (ep->phase == EP_WAIT && now < ep->st.next_ms) ||
	    (ep->hold_until && mono < ep->hold_until))
		return;
	ep->hold_until = 0;
	for (k = 0; k < ep->sub.nchannels; k++) {
		const struct msglog_msg *m;
		int rc = ep_fill(d, ep, k);

		if (rc < 0) {
			ep->hold_until = mono + LOG_ERROR_HOLD;
			return;
		}
		if (!rc)
			continue;
		m = &ep->chs[k].b.msgs[ep->chs[k].pos];
		if (!best || m->time_ms < best->time_ms) {
			best = m;
			bk = k;
		}
	}
	if (!best) {
		if (ep->phase == EP_WAIT)       /* due, but nothing left */
			ep->phase = EP_READY;
		return;
	}
	ep_start(d, ep, bk);
}

static void ep_done(struct whdisp *d, struct ep *ep, CURLcode code)
{
	struct whxfer_result r;
	struct whattempt a;
	uint64_t now, delay;

	curl_multi_remove_handle(d->multi, ep->x.easy);
	d->busy--;
	whxfer_result(&ep->x, code, &r);
	now = wall_ms();
	memset(&a, 0, sizeof(a));
	a.at_ms = ep->at_ms;
	a.channel = ep->chs[ep->cur].ch->name;
	a.msg_id = ep->cur_id;
	a.webhook_id = ep->wid;
	a.status = r.status;
	a.duration_ms = r.duration_ms;
	ep->st.last_attempt_ms = ep->at_ms;
	if (r.ok) {
		*ep_cursor(ep, ep->cur) = ep->cur_id;
		ep->chs[ep->cur].pos++;
		ep->st.failures = 0;
		ep->st.next_ms = 0;
		ep->st.delivered++;
		ep->st.last_success_ms = now;
		ep->phase = EP_READY;
	} else {
		a.error = r.error;
		if (ep->x.response.len) {
			a.response = ep->x.response.buf;
			a.response_len = ep->x.response.len;
		}
		ep->st.failures++;
		if (r.status == 410) {
			ep_disable(d, ep, "the endpoint answered 410 Gone");
		} else if (whsched_next(&d->sched, ep->st.failures, &delay)) {
			ep_disable(d, ep, "gave up after %u failed attempts (the retry "
				   "schedule is exhausted; last error: %s); "
				   "POST /api/webhooks/%s/retry resumes",
				   ep->st.failures, r.error, ep->sub.id);
		} else {
			if (r.retry_after_s)
				delay = whsched_retry_after(r.retry_after_s);
			ep->st.next_ms = now + delay;
			a.next_ms = ep->st.next_ms;
			ep->phase = EP_WAIT;
		}
	}
	if (whstate_attempt_add(&ep->st, &a))
		say(d, "webhook %s: out of memory recording an attempt", ep->sub.id);
	ep->dirty = 1;
	if (d->cfg->verbose)
		say(d, "webhook %s %s: %s (%d, %llu ms)", ep->sub.id, ep->wid,
		    r.ok ? "delivered" : r.error, r.status,
		    (unsigned long long)r.duration_ms);
}

/* ------------------------------------------------------------------ */
/* subscriptions                                                      */

static struct ep *ep_find(struct whdisp *d, const char *id)
{
	size_t i;

	for (i = 0; i < d->neps; i++)
		if (!strcmp(d->eps[i]->sub.id, id))
			return d->eps[i];
	return NULL;
}

static void subs_stat(struct whdisp *d, struct stat *st, int *have)
{
	*have = !fstatat(d->store.dirfd, WEBHOOK_SUBS_FILE, st, 0);
}

static int subs_changed(struct whdisp *d)
{
	struct stat st;
	int have;

	subs_stat(d, &st, &have);
	if (have != d->have_subs_st)
		return 1;
	return have && (st.st_ino != d->subs_st.st_ino ||
			st.st_size != d->subs_st.st_size ||
			st.st_mtim.tv_sec != d->subs_st.st_mtim.tv_sec ||
			st.st_mtim.tv_nsec != d->subs_st.st_mtim.tv_nsec);
}

static void reload(struct whdisp *d)
{
	struct lcerr err = LCERR_INIT;
	struct webhook_list l;
	size_t i;

	webhook_list_init(&l);
	subs_stat(d, &d->subs_st, &d->have_subs_st);
	if (webhook_list_load(&d->store, &l, &err)) {
		say(d, "cannot read the subscriptions: %s", err.msg);
		return;
	}
	for (i = 0; i < d->neps; i++)
		d->eps[i]->mark = 0;
	for (i = 0; i < l.n; i++) {
		struct webhook_sub *sub = &l.subs[i];
		struct ep *ep = ep_find(d, sub->id), **n;

		if (ep) {
			ep->mark = 1;
			if (sub->retry_seq > ep->st.retry_seq)
				ep_resume(d, ep, sub->retry_seq);
			continue;
		}
		ep = ep_new(d, sub, &err);
		n = ep ? realloc(d->eps, (d->neps + 1) * sizeof(*n)) : NULL;
		if (!n) {
			say(d, "webhook %s: cannot start: %s", sub->id,
			    err.msg[0] ? err.msg : "out of memory");
			if (ep)
				ep_free(d, ep);
			continue;
		}
		d->eps = n;
		ep->mark = 1;
		d->eps[d->neps++] = ep;
	}
	for (i = 0; i < d->neps;) {
		struct ep *ep = d->eps[i];
		char (*rm)[64];

		if (ep->mark) {
			i++;
			continue;
		}
		rm = realloc(d->removed, (d->nremoved + 1) * sizeof(*rm));
		if (rm) {
			d->removed = rm;
			webhook_state_name(ep->sub.id, rm[d->nremoved++], sizeof(*rm));
		}
		say(d, "webhook %s deleted", ep->sub.id);
		ep_free(d, ep);
		d->eps[i] = d->eps[--d->neps];
	}
	curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)(2 * d->neps + 16));
	webhook_list_release(&l);
}

/* ------------------------------------------------------------------ */
/* state writes                                                       */

/* The least time between two batches: twice what the last one took, so
 * the disk is never kept busy more than half the time by our syncs (and
 * the groups grow with the load), within [FLUSH_MS_MIN, FLUSH_MS_MAX]. */
static uint64_t flush_gap(struct whdisp *d)
{
	uint64_t gap = 2 * whwriter_last_ms(&d->writer);

	return gap < FLUSH_MS_MIN ? FLUSH_MS_MIN : gap > FLUSH_MS_MAX ? FLUSH_MS_MAX : gap;
}

/* Hand every dirty state (and pending removals) to the writer. */
static void flush(struct whdisp *d, int force, uint64_t mono)
{
	struct whwriter_job *jobs;
	char why[256];
	size_t i, n = d->nremoved, j = 0;

	if (whwriter_failed(&d->writer, why, sizeof(why))) {
		say(d, "writing delivery state failed (will retry): %s", why);
		for (i = 0; i < d->neps; i++)
			d->eps[i]->dirty = 1;
	}
	if (!whwriter_idle(&d->writer) ||
	    (!force && mono < d->last_flush + flush_gap(d)))
		return;
	for (i = 0; i < d->neps; i++)
		n += d->eps[i]->dirty != 0;
	if (!n)
		return;
	jobs = calloc(n, sizeof(*jobs));
	if (!jobs)
		return;
	for (i = 0; i < d->neps; i++) {
		struct ep *ep = d->eps[i];
		struct strbuf sb;

		if (!ep->dirty)
			continue;
		strbuf_init(&sb, WEBHOOK_FILE_MAX);
		if (whstate_format(&ep->st, &sb)) {
			strbuf_release(&sb);
			continue;          /* stays dirty, next time */
		}
		webhook_state_name(ep->sub.id, jobs[j].name, sizeof(jobs[j].name));
		jobs[j].data = strbuf_detach(&sb, &jobs[j].len);
		if (!jobs[j].data)
			continue;
		ep->dirty = 0;
		j++;
	}
	for (i = 0; i < d->nremoved; i++, j++)
		memcpy(jobs[j].name, d->removed[i], sizeof(jobs[j].name));
	d->nremoved = 0;
	if (whwriter_submit(&d->writer, jobs, j)) {
		free(jobs);        /* cannot happen: it was idle */
		return;
	}
	d->last_flush = mono;
}

static void writer_done(void *ctx)
{
	struct whdisp *d = ctx;

	curl_multi_wakeup(d->multi);
}

/* ------------------------------------------------------------------ */
/* the loop                                                           */

/* Take dispatch.lock: 0, 1 (once, and it is held), -errno. */
static int take_lock(struct whdisp *d, int stop_fd, struct lcerr *err)
{
	int said = 0;

	d->lock_fd = openat(d->store.dirfd, "dispatch.lock",
			    O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0)
		return lcerr_sys(err, -errno, "cannot open webhooks/dispatch.lock");
	for (;;) {
		struct pollfd p = { stop_fd, POLLIN, 0 };

		if (!flock(d->lock_fd, LOCK_EX | LOCK_NB))
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return lcerr_sys(err, -errno, "cannot lock webhooks/dispatch.lock");
		if (d->cfg->once)
			return 1;
		if (!said++)
			say(d, "another dispatcher holds webhooks/dispatch.lock; waiting");
		if (poll(&p, stop_fd >= 0 ? 1 : 0, 500) > 0)
			return 1;
	}
}

static void drain_fd(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static int run_loop(struct whdisp *d, int stop_fd)
{
	struct curl_waitfd extra[3];
	int stopping = 0;

	for (;;) {
		uint64_t now = wall_ms(), mono = whxfer_now_ms(), timeout = HOUSEKEEP_MS;
		size_t i, nextra = 0, done = 0;
		int running, left;
		CURLMsg *msg;

		if (stopping)
			break;
		if (!d->cfg->once && mono >= d->next_housekeep) {
			d->next_housekeep = mono + HOUSEKEEP_MS;
			if (subs_changed(d))
				reload(d);
			for (i = 0; i < d->nchans; i++)
				dchan_attach(d, d->chans[i]);
		}
		if (mono < d->attach_until)     /* a channel is being created */
			for (i = 0; i < d->nchans; i++)
				dchan_attach(d, d->chans[i]);
		for (i = 0; i < d->neps; i++)
			ep_kick(d, d->eps[i], now, mono);
		curl_multi_perform(d->multi, &running);
		while ((msg = curl_multi_info_read(d->multi, &left))) {
			struct ep *ep;

			if (msg->msg != CURLMSG_DONE)
				continue;
			ep = whxfer_owner(msg->easy_handle);
			if (ep && ep->phase == EP_BUSY) {
				ep_done(d, ep, msg->data.result);
				done++;
			}
		}
		flush(d, 0, mono);
		if (done)
			continue;              /* offer the next messages at once */
		if (d->cfg->once && !d->busy)
			break;

		for (i = 0; i < d->neps; i++) {
			struct ep *ep = d->eps[i];
			uint64_t t = 0;

			if (ep->phase == EP_WAIT)
				t = ep->st.next_ms > now ? ep->st.next_ms - now : 0;
			else if (ep->hold_until)
				t = ep->hold_until > mono ? ep->hold_until - mono : 0;
			else
				continue;
			if (t < timeout)
				timeout = t;
		}
		if (mono < d->attach_until && timeout > ATTACH_POLL_MS)
			for (i = 0; i < d->nchans; i++)
				if (!d->chans[i]->c) {
					timeout = ATTACH_POLL_MS;
					break;
				}
		if (!whwriter_idle(&d->writer))
			;                      /* it wakes us when done */
		else
			for (i = 0; i < d->neps; i++)
				if (d->eps[i]->dirty || d->nremoved) {
					uint64_t gap = flush_gap(d);
					uint64_t t = d->last_flush + gap > mono ?
						     d->last_flush + gap - mono : 0;

					if (t < timeout)
						timeout = t;
					break;
				}
		if (stop_fd >= 0)
			extra[nextra++] = (struct curl_waitfd){ stop_fd, CURL_WAIT_POLLIN, 0 };
		if (d->watching)
			extra[nextra++] = (struct curl_waitfd){
				msglog_watch_fd(&d->watch), CURL_WAIT_POLLIN, 0 };
		if (d->dirwatch >= 0)
			extra[nextra++] = (struct curl_waitfd){ d->dirwatch, CURL_WAIT_POLLIN, 0 };
		curl_multi_poll(d->multi, extra, (unsigned)nextra, (int)timeout, NULL);
		for (i = 0; i < nextra; i++) {
			if (!extra[i].revents)
				continue;
			if (extra[i].fd == stop_fd) {
				stopping = 1;
			} else if (d->watching && extra[i].fd == msglog_watch_fd(&d->watch)) {
				struct msglog_chan *grown[64];

				while (msglog_watch_read(&d->watch, grown, 64, NULL) == 64)
					;
			} else if (extra[i].fd == d->dirwatch) {
				/* its head file follows the directory: keep looking
				 * for a moment */
				drain_fd(d->dirwatch);
				d->next_housekeep = 0;
				d->attach_until = whxfer_now_ms() + ATTACH_MS;
			}
		}
	}
	return 0;
}

static void shut_down(struct whdisp *d)
{
	size_t i;

	/* abandon attempts in flight: their cursors have not moved */
	for (i = 0; i < d->neps; i++)
		if (d->eps[i]->phase == EP_BUSY) {
			curl_multi_remove_handle(d->multi, d->eps[i]->x.easy);
			d->eps[i]->phase = EP_READY;
			d->busy--;
		}
	whwriter_wait(&d->writer);
	flush(d, 1, whxfer_now_ms());
	whwriter_wait(&d->writer);
	flush(d, 1, whxfer_now_ms());     /* anything a failed write left */
	whwriter_wait(&d->writer);
}

static const char *chans_dir(const char *data_dir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/channels", data_dir);
	return buf;
}

int whdisp_run(const char *data_dir, const struct whdisp_config *cfg,
	       int stop_fd, struct lcerr *err)
{
	char path[4096];
	struct whdisp d;
	size_t i;
	int rc, writer = 0;

	memset(&d, 0, sizeof(d));
	d.cfg = cfg;
	d.dirwatch = d.lock_fd = -1;
	d.store.dirfd = d.store.statefd = d.store.lock_fd = -1;
	rc = whsched_parse(&d.sched, cfg->schedule, err);
	if (!rc)
		rc = whaddr_policy_init(&d.allow, cfg->allow, err);
	if (!rc)
		rc = webhook_store_init(&d.store, data_dir, cfg->durable, err);
	if (!rc)
		rc = msglog_open(&d.log, data_dir, NULL, err);
	if (rc)
		goto out;
	rc = take_lock(&d, stop_fd, err);
	if (rc)
		goto out;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(d.multi = curl_multi_init())) {
		rc = lcerr_set(err, -ENOMEM, "cannot initialize libcurl");
		goto out;
	}
	if (!cfg->once) {
		rc = msglog_watch_init(&d.watch, MSGLOG_WATCH_INOTIFY, err);
		if (rc)
			goto out;
		d.watching = 1;
		/* one more inotify instance: new subscriptions (renamed into
		 * webhooks/) and new channels (created in channels/) */
		d.dirwatch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (d.dirwatch < 0 ||
		    inotify_add_watch(d.dirwatch, d.store.dir, IN_MOVED_TO) < 0 ||
		    inotify_add_watch(d.dirwatch, chans_dir(data_dir, path, sizeof(path)),
				      IN_CREATE | IN_MOVED_TO) < 0) {
			say(&d, "no inotify watch on %s (%s): new subscriptions and "
			    "channels are seen within a second", data_dir, strerror(errno));
			if (d.dirwatch >= 0)
				close(d.dirwatch);
			d.dirwatch = -1;
		}
	}
	rc = whwriter_start(&d.writer, d.store.statefd, cfg->durable, writer_done,
			    &d, err);
	if (rc)
		goto out;
	writer = 1;
	reload(&d);
	d.next_housekeep = whxfer_now_ms() + HOUSEKEEP_MS;
	rc = run_loop(&d, stop_fd);
	shut_down(&d);
out:
	if (writer)
		whwriter_stop(&d.writer);
	for (i = 0; i < d.neps; i++)
		ep_free(&d, d.eps[i]);
	free(d.eps);
	free(d.chans);
	free(d.removed);
	if (d.watching)
		msglog_watch_release(&d.watch);
	if (d.dirwatch >= 0)
		close(d.dirwatch);
	if (d.multi) {
		curl_multi_cleanup(d.multi);
		curl_global_cleanup();
	}
	if (d.lock_fd >= 0)
		close(d.lock_fd);
	if (d.log)
		msglog_close(d.log);
	webhook_store_release(&d.store);
	whaddr_policy_release(&d.allow);
	return rc;
}
