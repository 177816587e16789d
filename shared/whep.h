/*
 * whep.h - the dispatcher's internals shared by whdisp.c (the event loop,
 * channels, subscriptions, state writes) and whep.c (one endpoint's
 * delivery state machine).  Not an interface for other modules: those use
 * whdisp.h.
 *
 *   struct dchan   a channel some endpoint follows: its log handle (and
 *                  inotify watch), shared by the endpoints on it; NULL
 *                  handle while the channel does not exist
 *   struct ep      an endpoint: a copy of its subscription, its signing
 *                  key, its delivery state (cursors live there), its easy
 *                  handle, and per channel a batch of messages read ahead
 *   phase          READY (may start the next message), BUSY (one attempt
 *                  in flight), WAIT (failed; next attempt at st.next_ms),
 *                  OFF (disabled)
 *
 * Ownership: the dispatcher owns its endpoints and channels; an endpoint
 * holds a reference on each of its channels (whdisp_chan_get/put).
 */
#ifndef WHEP_H
#define WHEP_H

#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "msglog.h"
#include "watch.h"
#include "webhook.h"
#include "whaddr.h"
#include "whdisp.h"
#include "whsched.h"
#include "whsig.h"
#include "whstate.h"
#include "whwriter.h"
#include "whxfer.h"

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

/* Log a notable event through the configuration's log callback. */
void whdisp_say(struct whdisp *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A reference on channel `name` (attached if it exists), or NULL with
 * `err` on ENOMEM. */
struct dchan *whdisp_chan_get(struct whdisp *d, const char *name,
			      struct lcerr *err);

/* Drop a reference (NULL is ignored). */
void whdisp_chan_put(struct whdisp *d, struct dchan *ch);

/* A new endpoint for `sub` (copied), its state loaded from its file (or
 * started from the registration cursors).  NULL with `err` on ENOMEM. */
struct ep *whep_new(struct whdisp *d, const struct webhook_sub *sub,
		    struct lcerr *err);

/* Free an endpoint, abandoning its attempt in flight. */
void whep_free(struct whdisp *d, struct ep *ep);

/* The subscription's retry_seq rose to `seq`: re-enable, resume. */
void whep_resume(struct whdisp *d, struct ep *ep, uint64_t seq);

/* Offer the endpoint its next message if it may take one (`now`: wall
 * clock ms, `mono`: monotonic ms). */
void whep_kick(struct whdisp *d, struct ep *ep, uint64_t now, uint64_t mono);

/* Its attempt finished with `code`: record it, move the cursor or plan
 * the retry. */
void whep_done(struct whdisp *d, struct ep *ep, CURLcode code);

static inline uint64_t whep_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
