/*
 * idem.h - the per-channel table behind the Idempotency-Key header.
 *
 * A publish with a key that a retained message of the same channel was
 * published with must store nothing and answer with the original message.
 * The table maps a 64-bit hash of the key to message ids; the key itself
 * lives in the message's record, so a hash match is confirmed by reading
 * the record (msglog.c does that).  The table is a file mapped shared, used
 * only under the channel's append lock, with open addressing and a bounded
 * probe: an entry whose message retention dropped is free for reuse, and
 * when every slot in the probe window is live the oldest entry is evicted.
 * Its size is fixed at creation from the retention setting (two slots per
 * retained message, 1 Ki to 1 Mi slots), so with a much larger retention
 * the oldest keys of a busy channel can be forgotten before retention
 * drops their messages (documented in the README).
 *
 * The table survives crashed processes; after a power loss it may have
 * lost the newest entries, which recovery re-adds from the tail segment.
 */
#ifndef IDEM_H
#define IDEM_H

#include <stddef.h>
#include <stdint.h>

#include "lcerr.h"

struct idem_table;

/* Open (creating if missing) the table file "idem" in `dirfd`.
 * 0 and *out (free with idem_close()), or negative. */
int idem_open(int dirfd, uint64_t retain, struct idem_table **out,
	      struct lcerr *err);

void idem_close(struct idem_table *t);

uint64_t idem_hash(const char *key, size_t klen);

/* Store up to `max` ids >= first_id whose entry has this hash; returns how
 * many. */
size_t idem_lookup(struct idem_table *t, uint64_t hash, uint64_t first_id,
		   uint64_t *ids, size_t max);

/* Remember that message `id` was published with a key of this hash. */
void idem_insert(struct idem_table *t, uint64_t hash, uint64_t id,
		 uint64_t first_id);

#endif
