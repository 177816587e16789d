/*
 * whdisp.c - the webhook dispatcher's event loop (see whdisp.h), its
 * channels, its view of the subscriptions and its state writes; one
 * endpoint's delivery is whep.c (data structures in whep.h).
 *
 * Every turn of the loop offers each READY or due endpoint its next
 * message: that costs a look at shared memory (the channel's last id)
 * unless there is news, so wake-ups need no bookkeeping - an inotify event
 * only ends the wait.  Finished attempts update the state in memory and
 * mark it dirty; the writer (whwriter.h) makes dirty states durable in
 * groups, spaced by twice the time the last group took.
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
#include "whep.h"

#define FLUSH_MS_MIN     10              /* spacing of state writes: at */
#define FLUSH_MS_MAX     1000            /* least twice the last one's time */
#define HOUSEKEEP_MS     1000            /* stat of subscriptions.json */
#define ATTACH_MS        1000            /* after a create in channels/, */
#define ATTACH_POLL_MS   5               /* look for new channels this often */
void whdisp_say(struct whdisp *d, const char *fmt, ...)
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
			whdisp_say(d, "channel %s: %s", ch->name, err.msg);
		ch->c = NULL;
		return;
	}
	if (d->watching && msglog_watch_add(&d->watch, ch->c, &err)) {
		whdisp_say(d, "channel %s: %s (it is looked at every second)", ch->name,
			   err.msg);
	}
	ch->watched = d->watching && !err.code;
}

struct dchan *whdisp_chan_get(struct whdisp *d, const char *name,
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

void whdisp_chan_put(struct whdisp *d, struct dchan *ch)
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
		whdisp_say(d, "cannot read the subscriptions: %s", err.msg);
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
				whep_resume(d, ep, sub->retry_seq);
			continue;
		}
		ep = whep_new(d, sub, &err);
		n = ep ? realloc(d->eps, (d->neps + 1) * sizeof(*n)) : NULL;
		if (!n) {
			whdisp_say(d, "webhook %s: cannot start: %s", sub->id,
				   err.msg[0] ? err.msg : "out of memory");
			if (ep)
				whep_free(d, ep);
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
		whdisp_say(d, "webhook %s deleted", ep->sub.id);
		whep_free(d, ep);
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
		whdisp_say(d, "writing delivery state failed (will retry): %s", why);
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
			    O_RDWR | O_CREAT | O_CLOEXEC, 0660);
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
			whdisp_say(d, "another dispatcher holds webhooks/dispatch.lock; waiting");
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
		uint64_t now = whep_wall_ms(), mono = whxfer_now_ms(), timeout = HOUSEKEEP_MS;
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
			whep_kick(d, d->eps[i], now, mono);
		curl_multi_perform(d->multi, &running);
		while ((msg = curl_multi_info_read(d->multi, &left))) {
			struct ep *ep;

			if (msg->msg != CURLMSG_DONE)
				continue;
			ep = whxfer_owner(msg->easy_handle);
			if (ep && ep->phase == EP_BUSY) {
				whep_done(d, ep, msg->data.result);
				done++;
			}
		}
		flush(d, 0, mono);
		if (d->cfg->once && !d->busy && !done)
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
		if (done)
			timeout = 0;           /* offer the next messages at once,
						  but still look at the signals */
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
		rc = msglog_watch_init(&d.watch, err);
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
			whdisp_say(&d, "no inotify watch on %s (%s): new subscriptions and "
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
		whep_free(&d, d.eps[i]);
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
