/*
 * whsched.h - the webhook retry schedule.
 *
 * LOGCAST_WEBHOOK_SCHEDULE is a comma-separated list of delays in the
 * syntax of parse_duration_ms() ("250ms", "5s", "5m", "2h", "1d"; a bare
 * number is seconds), default "5s,5m,30m,2h,5h,10h,10h".  After the k-th
 * consecutive failed attempt of an endpoint the next attempt waits the
 * k-th delay, moved by a random jitter of at most +-20 %; after a failure
 * with no delay left, the endpoint is disabled.  So the default makes 8
 * attempts over about 28 hours.
 *
 * A Retry-After header (seconds or an HTTP date: libcurl parses both)
 * replaces the scheduled delay of that failure, without jitter, capped at
 * WHSCHED_RETRY_AFTER_MAX_MS; it still counts as a failure.
 */
#ifndef WHSCHED_H
#define WHSCHED_H

#include <stddef.h>
#include <stdint.h>

#include "lcerr.h"

#define WHSCHED_DEFAULT            "5s,5m,30m,2h,5h,10h,10h"
#define WHSCHED_STEPS_MAX          32
#define WHSCHED_STEP_MAX_MS        ((uint64_t)7 * 86400 * 1000)
#define WHSCHED_RETRY_AFTER_MAX_MS ((uint64_t)86400 * 1000)
#define WHSCHED_JITTER_PCT         20

struct whsched {
	uint64_t delay_ms[WHSCHED_STEPS_MAX];
	size_t n;
	uint64_t rng;              /* xorshift state for the jitter */
};

/*
 * Parse `spec` (NULL or "" is WHSCHED_DEFAULT): 1 to WHSCHED_STEPS_MAX
 * delays, each at most 7 days.  0, or -EINVAL naming the bad item.
 */
int whsched_parse(struct whsched *s, const char *spec, struct lcerr *err);

/*
 * The wait after failure number `failures` (1 = the first) in *delay_ms,
 * jittered: 0, or 1 when the schedule is exhausted (disable the endpoint).
 */
int whsched_next(struct whsched *s, unsigned failures, uint64_t *delay_ms);

/* A Retry-After of `secs` seconds as a delay in ms, capped. */
uint64_t whsched_retry_after(uint64_t secs);

#endif
