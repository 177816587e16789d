/*
 * msglog.c - the durable, multi-process message log (interface: msglog.h).
 *
 * ON DISK (format version 1, all integers little-endian)
 *
 *   <data>/channels/<name>/head                 4 KiB, mapped shared
 *   <data>/channels/<name>/00000000000000000001.seg   ids 1 .. S
 *   <data>/channels/<name>/00000000000000002501.seg   ids S+1 .. 2S (S=2500)
 *   <data>/channels/<name>/idem                 Idempotency-Key table (idem.c)
 *
 * A segment covers a fixed range of S ids (S = records per segment, chosen
 * when the channel is created: a quarter of the retention unless
 * LOGCAST_SEGMENT_RECORDS says otherwise), so the file holding id N is
 * named by arithmetic and a channel has about five of them.  Retention
 * unlinks whole segments from the old end.
 *
 *   segment file
 *   +--------------------------------------------------------------+
 *   | +0  "LOGCASTS"  magic                                        |
 *   | +8  u32 version = 1        +12 u32 S (records per segment)   |
 *   | +16 u64 base id            +24 u32 crc32c of bytes 0..23     |
 *   | +28 .. +63 reserved, zero                                     |
 *   +--------------------------------------------------------------+
 *   | +64  index: S x u64, the file offset of record base+i        |
 *   |      (0 = not written yet); allocated 4096 slots at a time    |
 *   |      before they are used, so writing a slot never fails      |
 *   +--------------------------------------------------------------+
 *   | +64+8S  records, back to back, each 8-byte aligned:          |
 *   |                                                              |
 *   |   +0  u32 crc32c of bytes +4 .. end of envelope              |
 *   |   +4  u32 magic "LCR1"        +8  u64 id                      |
 *   |   +16 u64 receive time, unix ms                               |
 *   |   +24 u32 envelope length     +28 u16 key length  +30 u16 0  |
 *   |   +32 idempotency key (key length bytes, usually none)       |
 *   |   ... envelope: {"id":..,"channel":..,"time":..,"data":..}   |
 *   |   ... zero padding to a multiple of 8                        |
 *   +--------------------------------------------------------------+
 *
 *   head file (struct loghead in loghead.h): magic "LOGCASTH", version,
 *   S, the boot id it was last recovered in, durable_id (readers see ids up
 *   to it), first_id, written_id, tail segment base and end offset, bytes,
 *   a `busy` flag, the futex word and its waiter count, and the "bell"
 *   that is pwrite()n so inotify watchers wake.  The head is a cache of
 *   the segments and is rebuilt from them when in doubt (logcheck.c).
 *
 * WRITING.  An append takes the channel's append lock: a mutex for the
 * threads of this process, then an OFD lock on byte 0 of the head for other
 * processes.  Under it the next id is written_id + 1; the record goes out in
 * one pwritev() at tail_off, then its index slot; `busy` is set around the
 * two so that a writer killed half-way is noticed by the next lock holder,
 * which rebuilds the head and truncates the torn tail.  A failed write
 * (disk full) is truncated away before the lock is released.
 *
 * DURABILITY.  Readers are bounded by durable_id, which only moves after
 * the records below it are on disk (fsync "always": fdatasync under the
 * append lock; "batch": group commit under a second lock, byte 1, where
 * one process syncs up to the latest written id for everyone waiting;
 * "off": at once).  A segment is synced whole before the next is created,
 * so a commit only ever syncs the tail.
 *
 * READING takes no lock: durable_id and first_id come from the shared head,
 * the index gives the offset of the first wanted record, and records are
 * read sequentially from there and CRC-checked.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

#include "idem.h"
#include "json.h"
#include "loghead.h"
#include "parse.h"
#include "segment.h"


/* ------------------------------------------------------------------ */
/* options, names, time                                               */

int msglog_opts_from_env(struct msglog_opts *o, struct lcerr *err)
{
	const char *f = getenv("LOGCAST_FSYNC");
	uint64_t v;

	o->fsync = MSGLOG_FSYNC_BATCH;
	if (f && *f) {
		if (!strcmp(f, "batch"))
			o->fsync = MSGLOG_FSYNC_BATCH;
		else if (!strcmp(f, "always"))
			o->fsync = MSGLOG_FSYNC_ALWAYS;
		else if (!strcmp(f, "off"))
			o->fsync = MSGLOG_FSYNC_OFF;
		else
			return lcerr_set(err, -EINVAL,
				"LOGCAST_FSYNC must be always, batch or off, not '%s'", f);
	}
	if (parse_env_u64("LOGCAST_RETAIN", 10000, 1, (uint64_t)1 << 48,
			  &o->retain))
		return lcerr_set(err, -EINVAL,
			"LOGCAST_RETAIN must be a number of messages from 1");
	if (parse_env_u64("LOGCAST_RETAIN_BYTES", 0, 0, UINT64_MAX / 2,
			  &o->retain_bytes))
		return lcerr_set(err, -EINVAL,
			"LOGCAST_RETAIN_BYTES must be a number of bytes");
	/* Segments hold a quarter of the retention by default, so a channel
	 * keeps about five segment files however long it is, and a process
	 * can keep all of them open: reading any id then costs the same on a
	 * channel of ten messages or ten million. */
	v = o->retain / 4;
	if (v < 1024)
		v = 1024;
	if (v > SEG_RECORDS_MAX)
		v = SEG_RECORDS_MAX;
	if (parse_env_u64("LOGCAST_SEGMENT_RECORDS", v, 4, SEG_RECORDS_MAX, &v))
		return lcerr_set(err, -EINVAL,
			"LOGCAST_SEGMENT_RECORDS must be from 4 to 4194304");
	o->seg_records = (uint32_t)v;
	if (parse_env_u64("LOGCAST_MAX_BODY", 65536, 1, 8 << 20, &v))
		return lcerr_set(err, -EINVAL,
			"LOGCAST_MAX_BODY must be from 1 to 8388608 bytes");
	o->max_data = (size_t)v;
	o->max_handles = 256;
	f = getenv("LOGCAST_TEST_SPLIT_WRITES");
	o->test_split_writes = f && !strcmp(f, "1");
	return 0;
}

const char *msglog_fsync_name(enum msglog_fsync f)
{
	switch (f) {
	case MSGLOG_FSYNC_ALWAYS: return "always";
	case MSGLOG_FSYNC_OFF: return "off";
	default: return "batch";
	}
}

static int name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9');
}

int msglog_name_valid(const char *name)
{
	size_t i;

	if (!name || !name_char(name[0]))
		return 0;
	for (i = 1; name[i]; i++) {
		if (i >= MSGLOG_NAME_MAX)
			return 0;
		if (!name_char(name[i]) && name[i] != '_' && name[i] != '.' &&
		    name[i] != '-')
			return 0;
	}
	return 1;
}

void msglog_format_time(char *buf, uint64_t ms)
{
	/* the seconds part changes once a second: format it once per
	 * thread and second, and only fill in the milliseconds */
	static __thread char cached[20];
	static __thread time_t cached_secs = -1;
	time_t secs = (time_t)(ms / 1000);
	unsigned milli = (unsigned)(ms % 1000);

	if (secs != cached_secs) {
		struct tm tm;

		gmtime_r(&secs, &tm);
		snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d",
			 (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
		cached_secs = secs;
	}
	memcpy(buf, cached, 19);
	buf[19] = '.';
	buf[20] = (char)('0' + milli / 100);
	buf[21] = (char)('0' + milli / 10 % 10);
	buf[22] = (char)('0' + milli % 10);
	buf[23] = 'Z';
	buf[24] = '\0';
}

uint64_t log_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char boot_id[40];

static void boot_id_load(void)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, boot_id, sizeof(boot_id) - 1);
	close(fd);
	if (n <= 0) {
		boot_id[0] = '\0';
		return;
	}
	boot_id[n] = '\0';
	boot_id[strcspn(boot_id, "\n")] = '\0';
}

const char *boot_id_get(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, boot_id_load);
	return boot_id;
}

/* ------------------------------------------------------------------ */
/* opening the log                                                    */

int msglog_open(struct msglog **out, const char *dir,
		const struct msglog_opts *opts, struct lcerr *err)
{
	struct msglog *log;
	int dfd, rc;

	log = calloc(1, sizeof(*log));
	if (!log)
		return lcerr_set(err, -ENOMEM, "out of memory");
	if (opts) {
		log->opts = *opts;
	} else {
		rc = msglog_opts_from_env(&log->opts, err);
		if (rc) {
			free(log);
			return rc;
		}
	}
	if (!log->opts.max_handles)
		log->opts.max_handles = 256;
	log->dir = strdup(dir);
	log->chdirfd = -1;
	if (!log->dir) {
		free(log);
		return lcerr_set(err, -ENOMEM, "out of memory");
	}
	if (mkdir(dir, 0777) && errno != EEXIST) {
		rc = lcerr_sys(err, -errno, "cannot create data directory '%s'",
			       dir);
		goto fail;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = lcerr_sys(err, -errno, "cannot open data directory '%s'",
			       dir);
		goto fail;
	}
	if (mkdirat(dfd, "channels", 0777) && errno != EEXIST) {
		rc = lcerr_sys(err, -errno, "cannot create '%s/channels'", dir);
		close(dfd);
		goto fail;
	}
	log->chdirfd = openat(dfd, "channels",
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = log->chdirfd < 0 ? -errno : 0;
	close(dfd);
	if (rc) {
		lcerr_sys(err, rc, "cannot open '%s/channels'", dir);
		goto fail;
	}
	pthread_mutex_init(&log->mu, NULL);
	log->lru.lru_next = log->lru.lru_prev = &log->lru;
	*out = log;
	return 0;
fail:
	free(log->dir);
	free(log);
	return rc;
}

const struct msglog_opts *msglog_opts(const struct msglog *log)
{
	return &log->opts;
}

const char *msglog_dir(const struct msglog *log)
{
	return log->dir;
}

const struct msglog_opts *chan_opts(const struct msglog_chan *c)
{
	return &c->log->opts;
}

/* ------------------------------------------------------------------ */
/* listing and stats                                                  */

int msglog_list(struct msglog *log,
		int (*fn)(const char *name, void *ctx), void *ctx,
		struct lcerr *err)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	fd = openat(log->chdirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		rc = lcerr_sys(err, -errno, "cannot list channels");
		if (fd >= 0)
			close(fd);
		return rc;
	}
	while ((de = readdir(d))) {
		if (!msglog_name_valid(de->d_name))
			continue;
		if (faccessat(log->chdirfd, de->d_name, F_OK, 0))
			continue;
		rc = fn(de->d_name, ctx);
		if (rc)
			break;
	}
	closedir(d);
	return rc;
}

int msglog_chan_stats(struct msglog_chan *c, struct msglog_stats *st)
{
	struct loghead *h = c->head;
	uint64_t first;

	msglog_chan_range(c, &st->range);
	st->written_id = atomic_load(&h->written_id);
	st->seg_records = h->seg_records;
	st->bytes = h->bytes;
	st->futex_waiters = atomic_load(&h->futex_waiters);
	st->inotify_watchers = atomic_load(&h->inotify_watchers);
	first = atomic_load(&h->first_id);
	st->segments = h->tail_base >= seg_base_of(first ? first : 1, h->seg_records)
		? (h->tail_base - seg_base_of(first ? first : 1, h->seg_records)) /
		  h->seg_records + 1 : 1;
	return 0;
}
