/*
 * whdisp.h - the webhook dispatcher: delivers every subscribed channel's
 * messages to its endpoints (build/logcast-dispatch is a thin main over
 * this).
 *
 * One thread runs a libcurl multi handle with every endpoint's easy handle
 * (whxfer.h), so any number of endpoints are in flight at once and a slow
 * or dead one only holds its own slot.  Per endpoint:
 *
 *   - one message in flight at a time, oldest first across its channels
 *     (by receive time), each channel strictly in id order;
 *   - the channel's cursor advances only after a 2xx; a failure retries
 *     the same message on the schedule (whsched.h), honouring Retry-After;
 *     410 Gone, or an exhausted schedule, disables the endpoint until
 *     POST /api/webhooks/{id}/retry;
 *   - when its cursor has fallen behind a channel's first retained id the
 *     skipped ids are recorded as a failed attempt "dropped by retention"
 *     and delivery goes on;
 *   - every attempt is recorded (whstate.h); state files are written in
 *     groups by a background writer (whwriter.h), never skipped.
 *
 * Messages are read from the log into per-endpoint batches and posted as
 * the stored envelope bytes, unchanged.
 *
 * Two modes over the same loop:
 *
 *   once    one pass: deliver what is due - messages up to each channel's
 *           last id when the pass began, endpoints whose next attempt has
 *           come - then write the state and return.  Never sleeps through
 *           a schedule: a failed endpoint keeps its next-attempt time for
 *           a later run.  For a crontab line.
 *   watch   run until `stop_fd` becomes readable.  Woken by one inotify
 *           instance on every subscribed channel (watch.h), by a second
 *           one on <data>/webhooks (new or changed subscriptions) and
 *           <data>/channels (a subscribed channel that did not exist yet
 *           is created), with a once-a-second look as a fallback, by
 *           libcurl's sockets and by the retry timers.
 *
 * Either way the dispatcher first takes an exclusive flock on
 * <data>/webhooks/dispatch.lock, so two dispatchers never deliver the same
 * message twice: a second `once` returns at once (1), a second `watch`
 * waits for the lock.  On stop, attempts in flight are abandoned (their
 * cursors stay put: they are delivered again next time) and all state is
 * written before returning.
 */
#ifndef WHDISP_H
#define WHDISP_H

#include <stdint.h>

#include "lcerr.h"

#define WHDISP_TIMEOUT_DEFAULT_MS 15000
#define WHDISP_TIMEOUT_MAX_MS     3600000

struct whdisp_config {
	int once;                  /* one pass (else watch) */
	int verbose;               /* log every attempt */
	uint64_t timeout_ms;       /* LOGCAST_WEBHOOK_TIMEOUT */
	const char *schedule;      /* LOGCAST_WEBHOOK_SCHEDULE (borrowed) */
	const char *allow;         /* LOGCAST_WEBHOOK_ALLOW (borrowed) */
	int durable;               /* LOGCAST_FSYNC is not "off" */
	/* where notable events go (endpoint disabled, write failures...);
	 * NULL drops them */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
};

/*
 * Defaults and the environment: LOGCAST_WEBHOOK_TIMEOUT (seconds, or a
 * duration like "500ms"; default 15 s, at most 1 h),
 * LOGCAST_WEBHOOK_SCHEDULE, LOGCAST_WEBHOOK_ALLOW, LOGCAST_FSYNC.  The
 * strings are borrowed from the environment.  0, or -EINVAL naming the
 * bad variable (the schedule and allow list are checked by whdisp_run).
 */
int whdisp_config_from_env(struct whdisp_config *c, struct lcerr *err);

/*
 * Run the dispatcher on the log in `data_dir`.  `stop_fd` (e.g. a
 * signalfd; -1 for none) ends a watch, or a pass early, when readable.
 * Returns 0 when done, 1 when `once` found another dispatcher running, or
 * negative (with `err`) when it could not start.
 */
int whdisp_run(const char *data_dir, const struct whdisp_config *c,
	       int stop_fd, struct lcerr *err);

#endif
