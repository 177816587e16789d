/*
 * whsched.c - the webhook retry schedule (see whsched.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "parse.h"
#include "whsched.h"

int whsched_parse(struct whsched *s, const char *spec, struct lcerr *err)
{
	const char *p = spec && *spec ? spec : WHSCHED_DEFAULT;
	uint64_t seed = 0;

	memset(s, 0, sizeof(*s));
	for (;;) {
		size_t n = strcspn(p, ",");
		uint64_t ms;

		if (s->n == WHSCHED_STEPS_MAX)
			return lcerr_set(err, -EINVAL,
				"LOGCAST_WEBHOOK_SCHEDULE has more than %d delays",
				WHSCHED_STEPS_MAX);
		if (parse_duration_ms(p, n, WHSCHED_STEP_MAX_MS, &ms))
			return lcerr_set(err, -EINVAL,
				"LOGCAST_WEBHOOK_SCHEDULE: bad delay '%.*s' (use e.g. "
				"250ms, 5s, 5m, 2h, 1d; at most 7 days)", (int)n, p);
		s->delay_ms[s->n++] = ms;
		if (!p[n])
			break;
		p += n + 1;
	}
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ts.tv_sec;
	}
	s->rng = seed ? seed : 0x2545f4914f6cdd1dULL;
	return 0;
}

static uint64_t rng_next(struct whsched *s)
{
	uint64_t x = s->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

int whsched_next(struct whsched *s, unsigned failures, uint64_t *delay_ms)
{
	uint64_t d, span, r;

	if (!failures || failures > s->n)
		return 1;
	d = s->delay_ms[failures - 1];
	/* uniform in [d - 20 %, d + 20 %] */
	span = d / 100 * (2 * WHSCHED_JITTER_PCT) +
	       d % 100 * (2 * WHSCHED_JITTER_PCT) / 100;
	r = span ? rng_next(s) % (span + 1) : 0;
	*delay_ms = d - span / 2 + r;
	return 0;
}

uint64_t whsched_retry_after(uint64_t secs)
{
	if (secs > WHSCHED_RETRY_AFTER_MAX_MS / 1000)
		return WHSCHED_RETRY_AFTER_MAX_MS;
	return secs * 1000;
}
