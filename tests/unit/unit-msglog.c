/*
 * unit-msglog.c - the message log through its interface: names, appends,
 * reads, idempotency, retention, recovery of a torn tail, refusal of
 * corruption in the middle, and the wait primitives.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

#include "loghead.h"
#include "msglog.h"
#include "segment.h"
#include "watch.h"
#include "tap.h"

static char dir[256];

static struct msglog *open_log(uint32_t seg_records, uint64_t retain)
{
	struct msglog_opts o;
	struct msglog *log = NULL;
	struct lcerr err = LCERR_INIT;

	memset(&o, 0, sizeof(o));
	o.fsync = MSGLOG_FSYNC_OFF;
	o.retain = retain;
	o.seg_records = seg_records;
	o.max_data = 65536;
	if (msglog_open(&log, dir, &o, &err))
		fprintf(stderr, "open: %s\n", err.msg);
	return log;
}

static int append(struct msglog_chan *c, const char *json)
{
	return msglog_append(c, json, strlen(json), NULL, 0, NULL, NULL, NULL);
}

static void seg_path(char *buf, size_t len, const char *ch, uint64_t base)
{
	char name[SEG_NAME_LEN + 1];

	seg_name(name, base);
	snprintf(buf, len, "%s/channels/%s/%s", dir, ch, name);
}

static void test_names(struct msglog *log)
{
	static const char *bad[] = { "", "../x", "..", "a/b", ".hidden", "-x",
		"_x", "caf\xc3\xa9", "a b", "x\n", NULL };
	char long65[66], long64[65];
	struct msglog_chan *c;
	struct stat st;
	char path[512];
	int i, all = 1;

	for (i = 0; bad[i]; i++) {
		if (msglog_name_valid(bad[i]) ||
		    msglog_chan_get(log, bad[i], MSGLOG_CREATE, &c, NULL) != -EINVAL)
			all = 0;
	}
	ok(all, "invalid channel names refused by the library");
	snprintf(path, sizeof(path), "%s/x", dir);
	ok(stat(path, &st) != 0, "nothing created outside channels/");
	memset(long65, 'a', 65);
	long65[65] = '\0';
	memset(long64, 'a', 64);
	long64[64] = '\0';
	ok(!msglog_name_valid(long65) && msglog_name_valid(long64),
	   "65 characters refused, 64 accepted");
	ok(msglog_name_valid("a") && msglog_name_valid("Chat_1.v-2") &&
	   msglog_name_valid("a.."), "valid names accepted");
	ok(msglog_chan_get(log, "nosuch", 0, &c, NULL) == -ENOENT,
	   "unknown channel without CREATE is -ENOENT");
}

static void test_append_read(struct msglog *log)
{
	struct lcerr err = LCERR_INIT;
	struct msglog_chan *c;
	struct msglog_batch b;
	struct msglog_range r;
	struct strbuf env;
	uint64_t id = 0;
	int rc, i, good = 1;

	msglog_batch_init(&b);
	strbuf_init(&env, 0);
	ok(!msglog_chan_get(log, "basic", MSGLOG_CREATE, &c, &err), "create channel");
	msglog_chan_range(c, &r);
	ok(r.first_id == 0 && r.last_id == 0, "new channel is empty (0, 0)");
	rc = msglog_append(c, " {\"n\" : 0.1} ", 13, NULL, 0, &id, &env, &err);
	ok(rc == 0 && id == 1, "first id is 1");
	ok(!strncmp(env.buf, "{\"id\":1,\"channel\":\"basic\",\"time\":\"", 34) &&
	   strstr(env.buf, "Z\",\"data\":{\"n\":0.1}}") != NULL &&
	   strlen(env.buf) == 34 + 24 + 19, "envelope: %s", env.buf);
	for (i = 2; i <= 50; i++)
		good &= append(c, "[1, 2]") == 0;
	ok(good, "49 more appends");
	msglog_chan_range(c, &r);
	ok(r.first_id == 1 && r.last_id == 50, "range 1..50");
	rc = msglog_read(c, 0, 1000, 1 << 20, &b, &err);
	ok(rc == 50 && b.msgs[0].id == 1 && b.msgs[49].id == 50, "read all");
	rc = msglog_read(c, 45, 1000, 1 << 20, &b, &err);
	ok(rc == 5 && b.msgs[0].id == 46, "read since 45");
	rc = msglog_read(c, 10, 3, 1 << 20, &b, &err);
	ok(rc == 3 && b.msgs[2].id == 13, "limit");
	rc = msglog_read(c, 0, 1000, 1, &b, &err);
	ok(rc == 1, "byte bound still returns one message");
	rc = msglog_read(c, 50, 1000, 1 << 20, &b, &err);
	ok(rc == 0, "nothing after the last id");
	rc = msglog_append(c, "{", 1, NULL, 0, NULL, NULL, &err);
	ok(rc == -EINVAL && strstr(err.msg, "invalid JSON"), "invalid JSON refused: %s", err.msg);
	rc = msglog_append(c, "\"\xff\"", 3, NULL, 0, NULL, NULL, &err);
	ok(rc == -EINVAL && strstr(err.msg, "UTF-8"), "invalid UTF-8 refused");
	msglog_chan_range(c, &r);
	ok(r.last_id == 50, "refused appends store nothing");

	strbuf_reset(&env);
	rc = msglog_append(c, "1", 1, "key-1", 5, &id, &env, &err);
	ok(rc == 0 && id == 51, "append with a key");
	strbuf_reset(&env);
	rc = msglog_append(c, "2", 1, "key-1", 5, &id, &env, &err);
	ok(rc == 1 && id == 51 && strstr(env.buf, "\"data\":1}"),
	   "same key: the original, nothing stored");
	rc = msglog_append(c, "2", 1, "key-2", 5, &id, NULL, &err);
	ok(rc == 0 && id == 52, "other key stores");
	rc = msglog_append(c, "2", 1, "bad key", 7, &id, NULL, &err);
	ok(rc == -EINVAL, "key with a space refused");
	msglog_chan_put(c);
	msglog_batch_release(&b);
	strbuf_release(&env);
}

static void test_retention(void)
{
	struct msglog *log = open_log(4, 5);
	struct lcerr err = LCERR_INIT;
	struct msglog_chan *c;
	struct msglog_batch b;
	struct msglog_range r;
	struct msglog_stats st;
	char path[512];
	struct stat sb;
	int i, rc;

	msglog_batch_init(&b);
	msglog_chan_get(log, "ret", MSGLOG_CREATE, &c, &err);
	for (i = 0; i < 21; i++)
		append(c, "\"x\"");
	msglog_chan_range(c, &r);
	msglog_chan_stats(c, &st);
	ok(r.last_id == 21 && r.first_id == 13,
	   "retention keeps >= 5 in whole segments: first %llu last %llu",
	   (unsigned long long)r.first_id, (unsigned long long)r.last_id);
	seg_path(path, sizeof(path), "ret", 1);
	ok(stat(path, &sb) != 0, "the oldest segment file is gone");
	ok(st.segments == 3, "segments: %llu", (unsigned long long)st.segments);
	rc = msglog_read(c, 0, 100, 1 << 20, &b, &err);
	ok(rc == 9 && b.msgs[0].id == 13 && b.range.first_id == 13,
	   "read since 0 starts at the first retained id");
	rc = msglog_read(c, 20, 100, 1 << 20, &b, &err);
	ok(rc == 1 && b.msgs[0].id == 21, "read near the end");
	append(c, "\"y\"");
	msglog_chan_range(c, &r);
	ok(r.last_id == 22, "ids continue after retention");
	msglog_chan_put(c);
	msglog_close(log);
	msglog_batch_release(&b);
}

static void test_recovery(void)
{
	struct msglog *log = open_log(64, 1000);
	struct lcerr err = LCERR_INIT;
	struct msglog_check rep;
	struct msglog_chan *c;
	struct msglog_range r;
	struct msglog_batch b;
	char path[512];
	unsigned char junk[40];
	int fd, i, rc;
	off_t size, rec2;

	msglog_batch_init(&b);
	msglog_chan_get(log, "torn", MSGLOG_CREATE, &c, &err);
	for (i = 0; i < 5; i++)
		append(c, "{\"k\":\"abcdefgh\"}");
	seg_path(path, sizeof(path), "torn", 1);

	/* a writer died half-way: busy set, part of a record on disk */
	fd = open(path, O_RDWR);
	size = lseek(fd, 0, SEEK_END);
	memset(junk, 0, sizeof(junk));
	junk[4] = 'L'; junk[5] = 'C'; junk[6] = 'R'; junk[7] = '1';
	junk[8] = 6;             /* id 6 */
	junk[24] = 200;          /* claims 200 bytes, only a few follow */
	ok(pwrite(fd, junk, sizeof(junk), size) == (ssize_t)sizeof(junk), "write a torn record");
	close(fd);
	atomic_store(&c->head->busy, 1);
	rc = msglog_check(log, "torn", 0, &rep, &err);
	ok(rc == 1 && rep.torn_tail && strstr(rep.problem, "torn tail"),
	   "check reports the torn tail: %s", rep.problem);
	rc = append(c, "\"after\"");
	msglog_chan_range(c, &r);
	ok(rc == 0 && r.last_id == 6, "next append repairs it and takes id 6");
	rc = msglog_check(log, "torn", 0, &rep, &err);
	ok(rc == 0 && rep.records == 6, "check clean afterwards (%s)", rep.problem);

	/* corruption in the middle is reported, never skipped */
	fd = open(path, O_RDWR);
	rec2 = (off_t)seg_data_start(64);
	{
		unsigned char h[REC_HDR_SIZE];
		struct rec_hdr rh;

		pread(fd, h, sizeof(h), rec2);
		rec_decode(h, &rh);
		rec2 += (off_t)rec_size(rh.klen, rh.len);   /* record 2 */
	}
	ok(pwrite(fd, "X", 1, rec2 + REC_HDR_SIZE + 3) == 1, "flip a byte in record 2");
	close(fd);
	rc = msglog_check(log, "torn", 1, &rep, &err);
	ok(rc == -EBADMSG && strstr(rep.problem, "valid records follow") &&
	   !rep.repaired, "check (even with repair) reports it: %s", rep.problem);
	rc = msglog_read(c, 0, 100, 1 << 20, &b, &err);
	ok(rc == -EBADMSG && strstr(err.msg, "damaged"), "reading over it fails: %s", err.msg);
	atomic_store(&c->head->busy, 1);
	rc = append(c, "\"more\"");
	ok(rc == -EBADMSG, "recovery refuses to truncate the middle");
	msglog_chan_range(c, &r);
	ok(r.last_id == 6, "nothing was lost or added");
	msglog_chan_put(c);
	msglog_close(log);
	msglog_batch_release(&b);
}

struct appender {
	struct msglog_chan *c;
	int delay_ms;
};

static void *append_later(void *arg)
{
	struct appender *a = arg;
	struct timespec ts = { 0, a->delay_ms * 1000000L };

	nanosleep(&ts, NULL);
	append(a->c, "\"wake\"");
	return NULL;
}

static _Atomic uint32_t kick;

static void *kick_later(void *arg)
{
	struct timespec ts = { 0, 50 * 1000000L };

	(void)arg;
	nanosleep(&ts, NULL);
	atomic_fetch_add(&kick, 1);
	syscall(SYS_futex, &kick, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	return NULL;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void test_wait(struct msglog *log)
{
	struct lcerr err = LCERR_INIT;
	struct msglog_chan *c, *changed[4];
	struct msglog_watch w;
	struct appender a;
	struct pollfd pfd;
	pthread_t t;
	long long t0;
	uint64_t last;
	uint32_t k;
	int rc;

	msglog_chan_get(log, "wait", MSGLOG_CREATE, &c, &err);
	last = msglog_chan_last_id(c);
	t0 = mono_ms();
	rc = msglog_wait(c, last, 100);
	ok(rc == 0 && mono_ms() - t0 >= 90, "msglog_wait times out");
	a.c = c;
	a.delay_ms = 50;
	pthread_create(&t, NULL, append_later, &a);
	rc = msglog_wait(c, last, 5000);
	pthread_join(t, NULL);
	ok(rc == 1 && msglog_chan_last_id(c) == last + 1, "msglog_wait wakes on append");

	/* the kick: seen when it moved before the call, and during it */
	k = atomic_load(&kick);
	atomic_fetch_add(&kick, 1);
	t0 = mono_ms();
	rc = msglog_wait_kick(c, msglog_chan_last_id(c), &kick, k, 5000);
	ok(rc == -EINTR && mono_ms() - t0 < 1000,
	   "msglog_wait_kick returns at once for an earlier kick");
	k = atomic_load(&kick);
	t0 = mono_ms();
	pthread_create(&t, NULL, kick_later, NULL);
	rc = msglog_wait_kick(c, msglog_chan_last_id(c), &kick, k, 5000);
	pthread_join(t, NULL);
	ok(rc == -EINTR && mono_ms() - t0 < 2000,
	   "msglog_wait_kick wakes on a kick (%lld ms)", mono_ms() - t0);
	last = msglog_chan_last_id(c);
	pthread_create(&t, NULL, append_later, &a);
	rc = msglog_wait_kick(c, last, &kick, atomic_load(&kick), 5000);
	pthread_join(t, NULL);
	ok(rc == 1 && msglog_chan_last_id(c) == last + 1,
	   "msglog_wait_kick wakes on an append");
	t0 = mono_ms();
	rc = msglog_wait_kick(c, msglog_chan_last_id(c), &kick,
			      atomic_load(&kick), 100);
	ok(rc == 0 && mono_ms() - t0 >= 90, "msglog_wait_kick times out");

	rc = msglog_watch_init(&w, &err);
	rc = rc ? rc : msglog_watch_add(&w, c, &err);
	ok(rc == 0, "inotify watch added");
	pfd.fd = msglog_watch_fd(&w);
	pfd.events = POLLIN;
	ok(poll(&pfd, 1, 50) == 0, "inotify watch quiet while idle");
	pthread_create(&t, NULL, append_later, &a);
	rc = poll(&pfd, 1, 5000);
	pthread_join(t, NULL);
	ok(rc == 1, "inotify watch fd readable after an append");
	rc = msglog_watch_read(&w, changed, 4, &err);
	ok(rc == 1 && changed[0] == c, "inotify watch names the channel");
	ok(poll(&pfd, 1, 20) == 0, "inotify watch drained");
	msglog_watch_release(&w);
	ok(atomic_load(&c->head->futex_waiters) == 0 &&
	   atomic_load(&c->head->inotify_watchers) == 0, "waiter counts back to 0");
	msglog_chan_put(c);
}

int main(void)
{
	struct msglog *log;
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/unit-msglog.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	log = open_log(4096, 10000);
	ok(log != NULL, "open a log in %s", dir);
	if (!log)
		return tap_done();
	test_names(log);
	test_append_read(log);
	test_wait(log);
	msglog_close(log);
	test_retention();
	test_recovery();
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd)) { /* best effort */ }
	}
	return tap_done();
}
