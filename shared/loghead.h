/*
 * loghead.h - internals shared by the files that implement the message
 * log (msglog.c, logcheck.c, watch.c).  Not part of the public interface:
 * everything else includes msglog.h only.
 *
 * Each channel has a small "head" file that every process maps shared.  It
 * caches what writers and readers need on every call (the last durable id,
 * the first retained id, where the tail segment ends) so that a short poll
 * with nothing new reads one word of memory and makes no system call, and
 * it holds the futex word that per-connection processes sleep on.  The
 * head is a cache of the segments, never the only copy of anything: after
 * a crashed writer (the `busy` flag), a reboot (the boot id changed, so the
 * page cache may have lost head writes) or a damaged head, it is rebuilt
 * from the segments by logcheck.c under the append lock.
 */
#ifndef LOGHEAD_H
#define LOGHEAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "msglog.h"

#define HEAD_MAGIC    "LOGCASTH"
#define HEAD_VERSION  1
#define HEAD_SIZE     4096

/* Byte ranges of the head file used as OFD locks. */
#define LOCK_APPEND   0   /* held while appending, rolling or recovering */
#define LOCK_SYNC     1   /* held by the process running a group commit */

struct loghead {
	char magic[8];                 /* "LOGCASTH" */
	uint32_t version;              /* HEAD_VERSION */
	uint32_t seg_records;          /* S, fixed at creation */
	char boot_id[40];              /* boot this head was last recovered in */
	_Atomic uint64_t durable_id;   /* readers see ids <= this (0: empty) */
	_Atomic uint64_t first_id;     /* oldest retained id */
	_Atomic uint64_t written_id;   /* last id written (maybe not synced) */
	uint64_t tail_base;            /* base id of the tail segment */
	uint64_t tail_off;             /* end of the last record in the tail */
	uint64_t bytes;                /* bytes in all retained segments */
	_Atomic uint32_t busy;         /* an append/roll is in progress */
	_Atomic uint32_t wake_seq;     /* futex word: bumped when durable grows */
	_Atomic uint32_t futex_waiters;   /* processes that may sleep on it */
	_Atomic uint32_t inotify_watchers; /* inotify watches on this file */
	_Atomic uint32_t writers;      /* appends between start and write */
	uint32_t idx_alloc;            /* tail index slots known allocated */
	uint64_t created_ms;
	char pad0[64];
	uint64_t bell;                 /* pwrite()n to make inotify fire */
};

#define HEAD_BELL_OFF  ((off_t)__builtin_offsetof(struct loghead, bell))


#define SEG_CACHE 8   /* older segments kept open per channel */

/* An open segment file, shared by the threads of one process.  Its
 * index is mapped shared, so reading a slot is a load; appending writes
 * one with a store when fsync is off and with pwrite otherwise (see
 * segfd_new() in logchan.c for why). */
struct segfd {
	int fd;
	uint64_t base;
	int refs;                  /* under chan->seg_mu; the cache holds one */
	int idx_store;             /* slots are written through the mapping */
	_Atomic uint64_t *idx;     /* the mapped header and index (or NULL) */
	size_t idx_len;
};

/* Read / write index slot `slot` of an open segment.  0 or negative. */
int segfd_index_get(const struct segfd *s, uint32_t slot, uint64_t *off);
int segfd_index_set(struct segfd *s, uint32_t slot, uint64_t off);

struct msglog_chan {
	struct msglog *log;
	char name[MSGLOG_NAME_MAX + 1];
	int refs;                       /* under log->mu */
	struct msglog_chan *hnext;      /* hash chain, under log->mu */
	struct msglog_chan *lru_prev, *lru_next; /* idle handles, under log->mu */
	int dirfd;
	int head_fd;
	struct loghead *head;
	pthread_mutex_t append_mu;      /* threads of this process, append lock */
	pthread_mutex_t sync_mu;        /* threads of this process, sync lock */
	pthread_mutex_t seg_mu;         /* cached segment files */
	struct segfd *tail;             /* cached tail segment (or NULL) */
	struct segfd *older[SEG_CACHE]; /* cached older segments, MRU first */
	struct idem_table *idem;        /* under append lock, opened lazily */
};

#define HASH_BUCKETS 256   /* channel handle hash table */
#define READ_CHUNK   (64 * 1024)

struct msglog {
	char *dir;
	int chdirfd;                         /* <dir>/channels */
	struct msglog_opts opts;
	pthread_mutex_t mu;                  /* handle table and LRU */
	struct msglog_chan *buckets[HASH_BUCKETS];
	struct msglog_chan lru;              /* sentinel of idle handles */
	unsigned nidle;
	unsigned nopen;
};

/* Take/release one of the head's OFD byte locks (blocking). */
int head_lock(struct msglog_chan *c, int which);
void head_unlock(struct msglog_chan *c, int which);

/* Get a reference to the segment holding `base`, opening it if needed.
 * -ENOENT if it was dropped.  Release with chan_seg_put(). */
int chan_seg_get(struct msglog_chan *c, uint64_t base, struct segfd **out,
		 struct lcerr *err);
void chan_seg_put(struct msglog_chan *c, struct segfd *s);

/* Make `fd` (a new tail segment starting at `base`) the cached tail;
 * the cache takes the descriptor.  0 or -ENOMEM (fd closed). */
int chan_seg_install(struct msglog_chan *c, int fd, uint64_t base);

/* Forget cached segment descriptors (after recovery rewrote files). */
void chan_seg_forget(struct msglog_chan *c);

/* Tell waiters that durable_id grew (futex wake and inotify bell). */
void chan_notify(struct msglog_chan *c);

/* Advance durable_id to at least `id` and notify when it moved. */
void chan_publish_durable(struct msglog_chan *c, uint64_t id);

/* The running kernel's boot id (cached); "" if unknown. */
const char *boot_id_get(void);

/*
 * Rebuild the head from the segments (logcheck.c).  Caller holds the
 * append lock (mutex and OFD).  Truncates a torn tail; refuses, with
 * -EBADMSG, corruption anywhere else.  0 or negative.
 */
int log_recover(struct msglog_chan *c, struct lcerr *err);

/* Wall-clock time in unix milliseconds. */
uint64_t log_now_ms(void);

/* Make every message up to `id` durable: group commit (logwrite.c).
 * 0 or negative. */
int chan_commit(struct msglog_chan *c, uint64_t id, struct lcerr *err);

/* Recover first if the head cannot be trusted (crashed writer, reboot,
 * damage).  Caller holds the append lock.  0 or negative. */
int chan_settle(struct msglog_chan *c, struct lcerr *err);

/* Options of the log this channel belongs to. */
const struct msglog_opts *chan_opts(const struct msglog_chan *c);

#endif
