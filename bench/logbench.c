/*
 * logbench - measurements of the message log, for `make bench`.
 *
 *   logbench append DIR --impl lib|raw --fsync off|batch|always
 *                       [--procs P] [--count N] [--size BYTES]
 *       P processes append N messages each to one channel at once; prints
 *       one JSON line with appends/s.  "raw" is the baseline: the same
 *       number of bytes per message through flock(LOCK_EX) + write() on an
 *       O_APPEND file + the same sync policy (fdatasync per message for
 *       always and batch, which has nobody to share a sync with here).
 *
 *   logbench fill DIR CHANNEL COUNT [--size BYTES]
 *       append COUNT messages quickly (fsync off), with progress on stderr.
 *
 *   logbench read DIR CHANNEL [--reads R] [--limit L] [--tail]
 *       R reads of L messages from random ids (or near the end, --tail)
 *       through msglog_read(), after one unmeasured pass of the same reads;
 *       prints one JSON line with the median and p99 latency in
 *       microseconds.
 *
 * The payload is a JSON string of --size bytes (default 256).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "msglog.h"
#include "parse.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *msg, const char *detail)
{
	fprintf(stderr, "logbench: %s%s%s\n", msg, detail ? ": " : "",
		detail ? detail : "");
	return 1;
}

static char *payload(size_t size)
{
	char *p = malloc(size + 1);
	size_t i;

	if (!p || size < 2)
		return NULL;
	p[0] = '"';
	for (i = 1; i + 1 < size; i++)
		p[i] = (char)('a' + i % 26);
	p[size - 1] = '"';
	p[size] = '\0';
	return p;
}

static int open_log(struct msglog **log, const char *dir,
		    enum msglog_fsync fsync_mode)
{
	struct lcerr err = LCERR_INIT;
	struct msglog_opts o;

	if (msglog_opts_from_env(&o, &err))
		return die("bad environment", err.msg);
	o.fsync = fsync_mode;
	o.retain = (uint64_t)1 << 40;
	o.max_data = 1 << 20;
	if (msglog_open(log, dir, &o, &err))
		return die("cannot open the log", err.msg);
	return 0;
}

static int parse_fsync(const char *s, enum msglog_fsync *out)
{
	if (!strcmp(s, "off"))
		*out = MSGLOG_FSYNC_OFF;
	else if (!strcmp(s, "batch"))
		*out = MSGLOG_FSYNC_BATCH;
	else if (!strcmp(s, "always"))
		*out = MSGLOG_FSYNC_ALWAYS;
	else
		return -1;
	return 0;
}

/* One child's share of the appends. */
static int child_lib(const char *dir, enum msglog_fsync f, uint64_t count,
		     const char *data, size_t size)
{
	struct lcerr err = LCERR_INIT;
	struct msglog_chan *c;
	struct msglog *log;
	uint64_t i;

	if (open_log(&log, dir, f))
		return 1;
	if (msglog_chan_get(log, "bench", MSGLOG_CREATE, &c, &err))
		return die("cannot open channel", err.msg);
	for (i = 0; i < count; i++)
		if (msglog_append(c, data, size, NULL, 0, NULL, NULL, &err) < 0)
			return die("append failed", err.msg);
	msglog_chan_put(c);
	msglog_close(log);
	return 0;
}

static int child_raw(const char *dir, enum msglog_fsync f, uint64_t count,
		     size_t recsize)
{
	char path[4096], *rec = calloc(1, recsize);
	uint64_t i;
	int fd;

	snprintf(path, sizeof(path), "%s/raw.log", dir);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || !rec)
		return die("cannot open", path);
	memset(rec, 'x', recsize);
	for (i = 0; i < count; i++) {
		if (flock(fd, LOCK_EX))
			return die("flock failed", strerror(errno));
		if (write(fd, rec, recsize) != (ssize_t)recsize)
			return die("write failed", strerror(errno));
		if (f != MSGLOG_FSYNC_OFF && fdatasync(fd))
			return die("fdatasync failed", strerror(errno));
		if (flock(fd, LOCK_UN))
			return die("unlock failed", strerror(errno));
	}
	close(fd);
	free(rec);
	return 0;
}

static int cmd_append(int argc, char **argv)
{
	const char *dir = argv[0], *impl = "lib", *fs = "off";
	uint64_t procs = 1, count = 100000, size = 256, p;
	enum msglog_fsync f;
	char *data;
	double t0, t;
	int i, failed = 0;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--impl"))
			impl = argv[i + 1];
		else if (!strcmp(argv[i], "--fsync"))
			fs = argv[i + 1];
		else if (!strcmp(argv[i], "--procs") &&
			 !parse_u64(argv[i + 1], 1, 256, &procs))
			;
		else if (!strcmp(argv[i], "--count") &&
			 !parse_u64(argv[i + 1], 1, (uint64_t)1 << 32, &count))
			;
		else if (!strcmp(argv[i], "--size") &&
			 !parse_u64(argv[i + 1], 2, 1 << 20, &size))
			;
		else
			return die("bad option", argv[i]);
	}
	if (i != argc || parse_fsync(fs, &f) ||
	    (strcmp(impl, "lib") && strcmp(impl, "raw")))
		return die("usage: append DIR --impl lib|raw --fsync off|batch|always", NULL);
	data = payload((size_t)size);
	if (!data)
		return die("out of memory", NULL);
	t0 = now_s();
	for (p = 0; p < procs; p++) {
		pid_t pid = fork();

		if (pid == 0) {
			/* raw writes as many bytes as a record of this payload */
			_exit(strcmp(impl, "raw") ?
			      child_lib(dir, f, count, data, (size_t)size) :
			      child_raw(dir, f, count,
					(size_t)((32 + 80 + size + 7) & ~7ull)));
		}
		if (pid < 0)
			return die("fork failed", strerror(errno));
	}
	for (p = 0; p < procs; p++) {
		int st;

		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			failed = 1;
	}
	t = now_s() - t0;
	if (failed)
		return die("a child failed", NULL);
	printf("{\"impl\":\"%s\",\"fsync\":\"%s\",\"procs\":%llu,\"count\":%llu,"
	       "\"size\":%llu,\"seconds\":%.3f,\"appends_per_s\":%.0f}\n",
	       impl, fs, (unsigned long long)procs, (unsigned long long)count,
	       (unsigned long long)size, t, (double)(procs * count) / t);
	free(data);
	return 0;
}

static int cmd_fill(int argc, char **argv)
{
	struct lcerr err = LCERR_INIT;
	struct msglog_chan *c;
	struct msglog *log;
	uint64_t count, size = 256, i, have;
	double t0;
	char *data;

	if (argc != 3 && !(argc == 5 && !strcmp(argv[3], "--size") &&
			   !parse_u64(argv[4], 2, 1 << 20, &size)))
		return die("usage: fill DIR CHANNEL COUNT [--size BYTES]", NULL);
	if (parse_u64(argv[2], 1, (uint64_t)1 << 40, &count))
		return die("bad COUNT", argv[2]);
	data = payload((size_t)size);
	if (!data || open_log(&log, argv[0], MSGLOG_FSYNC_OFF))
		return 1;
	if (msglog_chan_get(log, argv[1], MSGLOG_CREATE, &c, &err))
		return die("cannot open channel", err.msg);
	have = msglog_chan_last_id(c);
	t0 = now_s();
	for (i = have; i < count; i++) {
		if (msglog_append(c, data, (size_t)size, NULL, 0, NULL, NULL, &err) < 0)
			return die("append failed", err.msg);
		if ((i + 1) % 1000000 == 0)
			fprintf(stderr, "logbench: %llu of %llu messages (%.0f/s)\n",
				(unsigned long long)(i + 1), (unsigned long long)count,
				(double)(i + 1 - have) / (now_s() - t0));
	}
	msglog_chan_put(c);
	msglog_close(log);
	free(data);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmd_read(int argc, char **argv)
{
	struct lcerr err = LCERR_INIT;
	struct msglog_batch b;
	struct msglog_range r;
	struct msglog_chan *c;
	struct msglog *log;
	uint64_t reads = 10000, limit = 10, i;
	int tail = 0, k;
	double *lat;

	for (k = 2; k < argc; k++) {
		if (!strcmp(argv[k], "--tail"))
			tail = 1;
		else if (k + 1 < argc && !strcmp(argv[k], "--reads") &&
			 !parse_u64(argv[k + 1], 1, 10000000, &reads))
			k++;
		else if (k + 1 < argc && !strcmp(argv[k], "--limit") &&
			 !parse_u64(argv[k + 1], 1, 1000, &limit))
			k++;
		else
			return die("bad option", argv[k]);
	}
	if (argc < 2)
		return die("usage: read DIR CHANNEL [--reads R] [--limit L] [--tail]", NULL);
	lat = calloc(reads, sizeof(*lat));
	if (!lat || open_log(&log, argv[0], MSGLOG_FSYNC_OFF))
		return 1;
	if (msglog_chan_get(log, argv[1], 0, &c, &err))
		return die("cannot open channel", err.msg);
	msglog_chan_range(c, &r);
	if (r.last_id < limit)
		return die("the channel is too short", NULL);
	msglog_batch_init(&b);
	/* two unmeasured passes first, for the steady state of a long-running
	 * reader: mappings and caches warm, and the page-cache pages read
	 * already on the kernel's active list (a page's second read moves
	 * it there, which would otherwise be charged to every measured read
	 * of the big channel: about 0.25 us here) */
	for (k = 0; k < 3; k++) {
	srandom(42);
	for (i = 0; i < reads; i++) {
		uint64_t span = r.last_id - r.first_id + 1 - limit;
		uint64_t since = tail ? r.last_id - limit :
			r.first_id - 1 + ((uint64_t)random() * 65536 + (uint64_t)random()) %
					(span + 1);
		double t0 = now_s();
		int n = msglog_read(c, since, (size_t)limit, 1 << 20, &b, &err);

		lat[i] = (now_s() - t0) * 1e6;
		if (n != (int)limit)
			return die("short read", err.msg);
	}
	}
	qsort(lat, reads, sizeof(*lat), cmp_double);
	printf("{\"channel\":\"%s\",\"messages\":%llu,\"reads\":%llu,\"limit\":%llu,"
	       "\"where\":\"%s\",\"p50_us\":%.2f,\"p99_us\":%.2f}\n", argv[1],
	       (unsigned long long)(r.last_id - r.first_id + 1),
	       (unsigned long long)reads, (unsigned long long)limit,
	       tail ? "tail" : "random", lat[reads / 2], lat[reads * 99 / 100]);
	msglog_batch_release(&b);
	msglog_chan_put(c);
	msglog_close(log);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "append"))
		return cmd_append(argc - 2, argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "fill"))
		return cmd_fill(argc - 2, argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "read"))
		return cmd_read(argc - 2, argv + 2);
	fputs("usage: logbench append|fill|read DIR ...\n", stderr);
	return 2;
}
