/*
 * msglog.h - the durable message log every logcast program shares.
 *
 * A data directory holds channels; a channel is an append-only sequence of
 * messages with ids 1, 2, 3, ... that never repeat, not after a crash, a
 * reboot or retention.  Any number of processes and threads may append and
 * read at once: ids are assigned under an exclusive lock, records are
 * CRC-framed so a reader never returns a torn one, and a reader sees a
 * message only once it is durable under the fsync policy:
 *
 *   always  every append is synced before it is acknowledged
 *   batch   group commit (default): publishers that arrive while a sync
 *           is running share the next fdatasync; still acknowledged only
 *           after their own record is on disk
 *   off     visible and acknowledged at once; a power loss may lose recent
 *           messages and their ids may then be handed out again
 *
 * Stored messages are envelopes, one line of JSON each:
 *   {"id":42,"channel":"chat","time":"2026-11-28T17:00:00.123Z","data":...}
 * where data is the published JSON, validated and minified but otherwise
 * byte for byte as published.
 *
 * To wake readers when a channel grows, see watch.h.  The file format is
 * drawn at the top of msglog.c.
 *
 * Ownership: msglog_open() returns a log the caller frees with
 * msglog_close(); channel handles from msglog_chan_get() are references
 * released with msglog_chan_put() (all before msglog_close()).  A log and
 * its handles may be used from many threads at once.
 */
#ifndef MSGLOG_H
#define MSGLOG_H

#include <stddef.h>
#include <stdint.h>

#include "lcerr.h"
#include "strbuf.h"

#define MSGLOG_NAME_MAX 64

enum msglog_fsync {
	MSGLOG_FSYNC_BATCH = 0,
	MSGLOG_FSYNC_ALWAYS,
	MSGLOG_FSYNC_OFF,
};

struct msglog_opts {
	enum msglog_fsync fsync;   /* LOGCAST_FSYNC */
	uint64_t retain;           /* LOGCAST_RETAIN: messages kept at least */
	uint64_t retain_bytes;     /* LOGCAST_RETAIN_BYTES: 0 = no bound */
	uint32_t seg_records;      /* LOGCAST_SEGMENT_RECORDS, new channels */
	size_t max_data;           /* bound on a message's data, bytes */
	unsigned max_handles;      /* idle channel handles kept open */
	int test_split_writes;     /* LOGCAST_TEST_SPLIT_WRITES: tests only */
};

/* Defaults, then LOGCAST_FSYNC, LOGCAST_RETAIN, LOGCAST_RETAIN_BYTES,
 * LOGCAST_SEGMENT_RECORDS and LOGCAST_MAX_BODY from the environment.
 * (LOGCAST_TEST_SPLIT_WRITES=1 makes every record go out in two writes
 * with a pause between, so that crash tests can produce torn records.)
 * 0, or -EINVAL naming the bad variable in `err`. */
int msglog_opts_from_env(struct msglog_opts *o, struct lcerr *err);

/* "always", "batch" or "off". */
const char *msglog_fsync_name(enum msglog_fsync f);

/* Is `name` a valid channel name: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ */
int msglog_name_valid(const char *name);

struct msglog;
struct msglog_chan;

/*
 * Open the log in directory `dir`, creating it (and dir/channels) if
 * missing.  `opts` is copied; NULL means msglog_opts_from_env().
 * 0 and *out, or negative with a reason in `err`.
 */
int msglog_open(struct msglog **out, const char *dir,
		const struct msglog_opts *opts, struct lcerr *err);

/* Close the log.  Every channel handle must have been put. */
void msglog_close(struct msglog *log);

/* Options in effect (borrowed). */
const struct msglog_opts *msglog_opts(const struct msglog *log);

/* The data directory (borrowed). */
const char *msglog_dir(const struct msglog *log);

#define MSGLOG_CREATE      1
#define MSGLOG_NO_RECOVER  2   /* for checkers: do not repair on open */

/*
 * Get a handle on channel `name`.  Without MSGLOG_CREATE a channel that
 * does not exist gives -ENOENT (and nothing is created); with it, the
 * channel is created empty.  -EINVAL for an invalid name, -EBADMSG when
 * the channel's files are damaged beyond an automatic repair.
 */
int msglog_chan_get(struct msglog *log, const char *name, int flags,
		    struct msglog_chan **out, struct lcerr *err);

/* Release a handle (NULL is ignored). */
void msglog_chan_put(struct msglog_chan *c);

/* Channel name (borrowed, valid while the handle is held). */
const char *msglog_chan_name(const struct msglog_chan *c);

/* The retained range: first and last id, both 0 when the channel has no
 * message.  Reads shared memory only; no system call. */
struct msglog_range {
	uint64_t first_id;
	uint64_t last_id;
};
void msglog_chan_range(const struct msglog_chan *c, struct msglog_range *r);

/* The last durable id (0 if none); no system call. */
uint64_t msglog_chan_last_id(const struct msglog_chan *c);

/*
 * Append one message.  `data` is the published JSON text (any JSON value,
 * up to opts.max_data bytes); it is validated and minified here, so the
 * log never holds anything but valid envelopes.  `key`, if not NULL, is an
 * idempotency key (1..255 printable ASCII bytes): when a retained message
 * of this channel was appended with the same key, nothing is stored.
 *
 * Returns 0 when stored, 1 when it was a repeat of `key`; in both cases
 * *id_out (if not NULL) is the message's id and `envelope` (if not NULL)
 * receives its envelope, and the message is durable under the fsync
 * policy.  Errors: -EINVAL (invalid JSON/UTF-8/key), -E2BIG (too large),
 * -ENOSPC (disk full: nothing partial is left behind), -EBADMSG (log
 * damaged), -EIO and others.
 */
int msglog_append(struct msglog_chan *c, const char *data, size_t len,
		  const char *key, size_t klen, uint64_t *id_out,
		  struct strbuf *envelope, struct lcerr *err);

/* A batch of messages read from a channel. */
struct msglog_msg {
	uint64_t id;
	uint64_t time_ms;
	size_t off;        /* envelope at batch.buf.buf + off */
	size_t len;
};

struct msglog_batch {
	struct strbuf buf;          /* the envelopes, back to back */
	struct msglog_msg *msgs;
	size_t n, alloc;
	struct msglog_range range;  /* retained range when read */
	struct strbuf scratch;      /* internal: read buffer */
};

void msglog_batch_init(struct msglog_batch *b);
void msglog_batch_reset(struct msglog_batch *b);
void msglog_batch_release(struct msglog_batch *b);

/*
 * Read messages with id > `since`, oldest first, into `b` (which is reset
 * first): at most `limit` of them and, past the first, no more than
 * `max_bytes` of envelopes.  Messages dropped by retention are skipped (the
 * caller compares with b->range.first_id to tell).  Every record is
 * CRC-checked.  Returns the number read (0: nothing newer) or negative:
 * -EBADMSG when a record that must be intact is not.
 */
int msglog_read(struct msglog_chan *c, uint64_t since, size_t limit,
		size_t max_bytes, struct msglog_batch *b, struct lcerr *err);

/* Call fn(name, ctx) for every channel in the log (unordered); stops
 * early when fn returns non-zero and returns that.  0 or negative. */
int msglog_list(struct msglog *log,
		int (*fn)(const char *name, void *ctx), void *ctx,
		struct lcerr *err);

/* What `logcast check` found in one channel. */
struct msglog_check {
	uint64_t segments;
	uint64_t records;
	uint64_t first_id, last_id;
	uint64_t bytes;
	int torn_tail;                 /* a torn tail was found */
	uint64_t torn_bytes;           /* its size */
	int interrupted;               /* a writer died mid-append */
	int repaired;                  /* and truncated (with repair) */
	char problem[LCERR_MSGLEN];    /* first problem, "" if clean */
};

/*
 * Verify every record and index entry of channel `name`.  Returns 0 when
 * clean, 1 when a torn tail or an interrupted append was found (and, with
 * `repair`, the tail truncated and the head rebuilt: report->repaired), -EBADMSG when anything else is wrong
 * (report->problem says what and at which file offset), or another
 * negative code when the check itself failed.
 */
int msglog_check(struct msglog *log, const char *name, int repair,
		 struct msglog_check *report, struct lcerr *err);

/* Segments and bytes currently retained by a channel. */
struct msglog_stats {
	struct msglog_range range;
	uint64_t written_id;
	uint64_t segments;
	uint64_t bytes;
	uint32_t seg_records;
	uint32_t futex_waiters;     /* processes that may sleep on the futex */
	uint32_t inotify_watchers;  /* inotify watches on the channel */
};
int msglog_chan_stats(struct msglog_chan *c, struct msglog_stats *st);

/* Format unix milliseconds as RFC 3339 UTC with milliseconds
 * ("2026-11-28T17:00:00.123Z"); buf needs 25 bytes. */
void msglog_format_time(char *buf, uint64_t ms);

#endif
