/*
 * stats.h - live counters shared by every logcast process of a data
 * directory, for /api/health: WebSocket connections (one websocketd child
 * each), long polls and SSE streams held by plain-CGI processes.  The
 * FastCGI responder reports its own held requests directly.
 *
 * The counters live in <data>/stats, a page mapped shared and updated with
 * atomic adds.  A process that is SIGKILLed before it decrements leaves a
 * count too high until the next reboot (the file records the boot id and
 * starts from zero in a new boot); processes stopped the normal ways
 * (client gone, SIGINT, SIGTERM) decrement.
 */
#ifndef STATS_H
#define STATS_H

#include <stdint.h>

#include "lcerr.h"

enum stats_counter {
	STATS_WS_CONNECTIONS,
	STATS_CGI_LONG_POLLS,
	STATS_CGI_SSE_STREAMS,
	STATS__COUNT
};

struct stats;

/* Map <dir>/stats (creating it).  0 and *out (stats_close()), or negative. */
int stats_open(struct stats **out, const char *dir, struct lcerr *err);

void stats_close(struct stats *st);

/* Add `delta` (may be negative; the count never goes below 0). */
void stats_add(struct stats *st, enum stats_counter which, int64_t delta);

uint64_t stats_get(const struct stats *st, enum stats_counter which);

#endif
