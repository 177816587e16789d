/*
 * whep.c - one webhook endpoint's delivery state machine (see whdisp.h for
 * the rules it keeps, whep.h for its data).
 *
 * whep_kick() offers an endpoint that may take one (READY, or WAIT and
 * due) its next message: per channel the head of a batch read ahead from
 * its cursor, the oldest head (by receive time) wins, so an endpoint on
 * several channels gets them roughly in publish order and each channel
 * strictly in id order.  A batch that starts past cursor + 1 means
 * retention dropped the ids between: that gap becomes a failed attempt
 * ("dropped by retention") and the cursor moves past it.  The chosen
 * message is signed and handed to libcurl (BUSY).  whep_done() takes the
 * outcome: a 2xx moves the cursor; 410 disables; another failure plans
 * the retry from the schedule or Retry-After, or disables once the
 * schedule is exhausted.  Every attempt is recorded in the state.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "whep.h"

#define READ_AHEAD       64              /* messages per batch read */
#define READ_AHEAD_BYTES (256 * 1024)
#define LOG_ERROR_HOLD   5000            /* back-off after a log read error */

static uint64_t *ep_cursor(struct ep *ep, size_t k)
{
	return &ep->st.cursors[ep->chs[k].cur_idx].id;
}

void whep_free(struct whdisp *d, struct ep *ep)
{
	size_t i;

	if (ep->phase == EP_BUSY) {
		curl_multi_remove_handle(d->multi, ep->x.easy);
		d->busy--;
	}
	for (i = 0; ep->chs && i < ep->sub.nchannels; i++) {
		msglog_batch_release(&ep->chs[i].b);
		whdisp_chan_put(d, ep->chs[i].ch);
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
	whdisp_say(d, "webhook %s disabled: %s", ep->sub.id, ep->st.reason);
}

/* The API asked (retry_seq) to resume: from the cursors, failures reset. */
void whep_resume(struct whdisp *d, struct ep *ep, uint64_t seq)
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
	whdisp_say(d, "webhook %s resumed", ep->sub.id);
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
			whdisp_say(d, "webhook %s: %s; starting from its "
				   "registration cursors", ep->sub.id, err.msg);
		whstate_release(&ep->st);
		whstate_init(&ep->st, ep->sub.id);
		ep->st.retry_seq = ep->sub.retry_seq;
		ep->dirty = 1;
	}
	strbuf_release(&text);
}

struct ep *whep_new(struct whdisp *d, const struct webhook_sub *sub,
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
		e->ch = whdisp_chan_get(d, sub->channels[i], err);
		if (!e->ch) {
			ep->sub.nchannels = i + 1;     /* free what we have */
			whep_free(d, ep);
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
		whep_resume(d, ep, sub->retry_seq);
	lcerr_clear(err);
	return ep;
oom:
	whep_free(d, ep);
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
	a.at_ms = whep_wall_ms();
	a.channel = ep->chs[k].ch->name;
	a.msg_id = first;
	a.last_id = last;
	a.error = why;
	whstate_attempt_add(&ep->st, &a);
	*ep_cursor(ep, k) = last;
	ep->dirty = 1;
	whdisp_say(d, "webhook %s: %s", ep->sub.id, why);
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
		whdisp_say(d, "webhook %s: cannot read channel %s: %s", ep->sub.id,
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
	ep->at_ms = whep_wall_ms();
	ts = ep->at_ms / 1000;
	if (whsig_sign(&ep->sig, ep->wid, ts, body, m->len, sig, sizeof(sig)) ||
	    whxfer_prepare(&ep->x, ep->wid, ts, sig, body, m->len) ||
	    curl_multi_add_handle(d->multi, ep->x.easy) != CURLM_OK) {
		whdisp_say(d, "webhook %s: cannot start an attempt (out of memory?)",
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
void whep_kick(struct whdisp *d, struct ep *ep, uint64_t now, uint64_t mono)
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

void whep_done(struct whdisp *d, struct ep *ep, CURLcode code)
{
	struct whxfer_result r;
	struct whattempt a;
	uint64_t now, delay;

	curl_multi_remove_handle(d->multi, ep->x.easy);
	d->busy--;
	whxfer_result(&ep->x, code, &r);
	now = whep_wall_ms();
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
		whdisp_say(d, "webhook %s: out of memory recording an attempt", ep->sub.id);
	ep->dirty = 1;
	if (d->cfg->verbose)
		whdisp_say(d, "webhook %s %s: %s (%d, %llu ms)", ep->sub.id, ep->wid,
		    r.ok ? "delivered" : r.error, r.status,
		    (unsigned long long)r.duration_ms);
}
