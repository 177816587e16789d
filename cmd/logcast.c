/*
 * logcast - the operator's tool for the message log.
 *
 *   logcast [-d DIR] append [--key K] CHANNEL [JSON]
 *   logcast [-d DIR] append --lines CHANNEL        one message per stdin line
 *   logcast [-d DIR] read [--since N] [--limit L] CHANNEL
 *   logcast [-d DIR] tail [-f] [--since N] CHANNEL
 *   logcast [-d DIR] stats [CHANNEL...]
 *   logcast [-d DIR] channels
 *   logcast [-d DIR] check [--repair] [CHANNEL...]
 *
 * DIR is -d, else $LOGCAST_DATA_DIR, else ./var.  The log options (fsync,
 * retention, ...) come from the same LOGCAST_* variables as the servers.
 * Messages are printed as envelopes, one per line.  Exit status: 0 ok,
 * 1 failure (or problems found by check), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "msglog.h"
#include "parse.h"
#include "watch.h"

static const char usage_text[] =
	"usage: logcast [-d DIR] COMMAND [ARGS]\n"
	"\n"
	"  append [--key K] CHANNEL [JSON]    append one message (JSON from stdin if absent)\n"
	"  append --lines CHANNEL             append each stdin line; print each id\n"
	"  read [--since N] [--limit L] CHANNEL   print messages with id > N\n"
	"  tail [-f] [--since N] CHANNEL      print new messages; -f follows\n"
	"  stats [CHANNEL...]                 retained range, segments and bytes\n"
	"  channels                           list channels\n"
	"  check [--repair] [CHANNEL...]      verify records and index entries\n"
	"\n"
	"DIR defaults to $LOGCAST_DATA_DIR, then ./var.\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int usage(void)
{
	fputs(usage_text, stderr);
	return 2;
}

static int die_err(const char *what, const struct lcerr *err)
{
	fprintf(stderr, "logcast: %s%s%s\n", what, err->msg[0] ? ": " : "",
		err->msg);
	return 1;
}

/* Read all of stdin, at most `max` bytes (-E2BIG past it). */
static int read_stdin(struct strbuf *sb, size_t max)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		if (sb->len + (size_t)n > max)
			return -E2BIG;
		if (strbuf_add(sb, buf, (size_t)n))
			return -ENOMEM;
	}
}

static int cmd_append(struct msglog *log, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "lines", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL;
	struct lcerr err = LCERR_INIT;
	struct msglog_chan *c = NULL;
	struct strbuf in, env;
	int lines = 0, o, rc = 1;
	uint64_t id;

	while ((o = getopt_long(argc, argv, "+k:l", opts, NULL)) != -1) {
		if (o == 'k')
			key = optarg;
		else if (o == 'l')
			lines = 1;
		else
			return usage();
	}
	if (argc - optind < 1 || argc - optind > 2 || (lines && argc - optind != 1))
		return usage();
	strbuf_init(&in, msglog_opts(log)->max_data + 1);
	strbuf_init(&env, 0);
	if (msglog_chan_get(log, argv[optind], MSGLOG_CREATE, &c, &err)) {
		rc = die_err("cannot open channel", &err);
		goto out;
	}
	if (lines) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;

		while ((n = getline(&line, &cap, stdin)) > 0) {
			char out[32];
			int len;

			if (line[n - 1] == '\n')
				n--;
			if (n == 0)
				continue;
			if (msglog_append(c, line, (size_t)n, NULL, 0, &id, NULL,
					  &err) < 0) {
				free(line);
				rc = die_err("append failed", &err);
				goto out;
			}
			/* the id is printed only once the append returned */
			len = snprintf(out, sizeof(out), "%llu\n",
				       (unsigned long long)id);
			if (fdio_write_all(1, out, (size_t)len)) {
				free(line);
				goto out;
			}
		}
		free(line);
		rc = 0;
		goto out;
	}
	if (argc - optind == 2) {
		if (strbuf_addstr(&in, argv[optind + 1])) {
			fprintf(stderr, "logcast: message too large\n");
			goto out;
		}
	} else if ((rc = read_stdin(&in, msglog_opts(log)->max_data)) < 0) {
		fprintf(stderr, "logcast: cannot read stdin: %s\n", strerror(-rc));
		rc = 1;
		goto out;
	}
	rc = msglog_append(c, in.buf, in.len, key, key ? strlen(key) : 0, &id,
			   &env, &err);
	if (rc < 0) {
		rc = die_err("append failed", &err);
		goto out;
	}
	strbuf_addch(&env, '\n');
	rc = fdio_write_all(1, env.buf, env.len) ? 1 : 0;
out:
	msglog_chan_put(c);
	strbuf_release(&in);
	strbuf_release(&env);
	return rc;
}

/* Print messages after *since (updating it); returns count or negative. */
static int print_since(struct msglog_chan *c, uint64_t *since, size_t limit,
		       struct msglog_batch *b, struct lcerr *err)
{
	size_t total = 0;

	while (total < limit) {
		size_t want = limit - total > 1000 ? 1000 : limit - total;
		int n = msglog_read(c, *since, want, 1 << 20, b, err);
		struct strbuf out;
		size_t i;

		if (n <= 0)
			return n < 0 ? n : (int)total;
		strbuf_init(&out, 0);
		for (i = 0; i < b->n; i++) {
			if (strbuf_add(&out, b->buf.buf + b->msgs[i].off,
				       b->msgs[i].len) || strbuf_addch(&out, '\n')) {
				strbuf_release(&out);
				return lcerr_set(err, -ENOMEM, "out of memory");
			}
		}
		if (fdio_write_all(1, out.buf, out.len)) {
			strbuf_release(&out);
			return lcerr_set(err, -EPIPE, "write failed");
		}
		strbuf_release(&out);
		*since = b->msgs[b->n - 1].id;
		total += b->n;
	}
	return (int)total;
}

static int cmd_read_tail(struct msglog *log, int argc, char **argv, int tail)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'n' },
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct lcerr err = LCERR_INIT;
	struct msglog_chan *c = NULL;
	struct msglog_batch b;
	uint64_t since = 0, limit = UINT64_MAX;
	int follow = 0, have_since = 0, o, rc;

	while ((o = getopt_long(argc, argv, "+s:n:f", opts, NULL)) != -1) {
		if (o == 's' && !parse_u64(optarg, 0, INT64_MAX, &since))
			have_since = 1;
		else if (o == 'n' && !parse_u64(optarg, 1, UINT64_MAX, &limit))
			;
		else if (o == 'f' && tail)
			follow = 1;
		else {
			if (o == 's' || o == 'n')
				fprintf(stderr, "logcast: bad number '%s'\n", optarg);
			return usage();
		}
	}
	if (argc - optind != 1)
		return usage();
	msglog_batch_init(&b);
	rc = msglog_chan_get(log, argv[optind], follow ? MSGLOG_CREATE : 0, &c,
			     &err);
	if (rc == -ENOENT && !follow) {
		rc = 0;        /* an unknown channel is an empty channel */
		goto out;
	}
	if (rc) {
		rc = die_err("cannot open channel", &err);
		goto out;
	}
	if (tail && !have_since)
		since = msglog_chan_last_id(c);
	for (;;) {
		rc = print_since(c, &since, limit, &b, &err);
		if (rc < 0) {
			rc = die_err("read failed", &err);
			goto out;
		}
		if (!follow || stop_requested)
			break;
		rc = msglog_wait(c, since, -1);
		if (rc < 0 && stop_requested)
			break;
	}
	rc = 0;
out:
	msglog_batch_release(&b);
	msglog_chan_put(c);
	return rc;
}

static int print_stats(const char *name, void *ctx)
{
	struct msglog *log = ctx;
	struct lcerr err = LCERR_INIT;
	struct msglog_chan *c;
	struct msglog_stats st;

	if (msglog_chan_get(log, name, 0, &c, &err)) {
		printf("%s error=\"%s\"\n", name, err.msg);
		return 0;
	}
	msglog_chan_stats(c, &st);
	printf("%s first=%llu last=%llu written=%llu segments=%llu bytes=%llu "
	       "segment_records=%u waiters=%u watchers=%u\n", name,
	       (unsigned long long)st.range.first_id,
	       (unsigned long long)st.range.last_id,
	       (unsigned long long)st.written_id,
	       (unsigned long long)st.segments, (unsigned long long)st.bytes,
	       st.seg_records, st.futex_waiters, st.inotify_watchers);
	msglog_chan_put(c);
	return 0;
}

static int print_name(const char *name, void *ctx)
{
	(void)ctx;
	printf("%s\n", name);
	return 0;
}

static int cmd_stats(struct msglog *log, int argc, char **argv, int list)
{
	struct lcerr err = LCERR_INIT;
	int i;

	if (list && argc > 1)
		return usage();
	if (argc > 1) {
		for (i = 1; i < argc; i++) {
			if (!msglog_name_valid(argv[i])) {
				fprintf(stderr, "logcast: invalid channel name '%s'\n",
					argv[i]);
				return 1;
			}
			print_stats(argv[i], log);
		}
		return 0;
	}
	if (msglog_list(log, list ? print_name : print_stats, log, &err) < 0)
		return die_err("cannot list channels", &err);
	return 0;
}

struct check_ctx {
	struct msglog *log;
	int repair;
	int problems;
};

static int check_one(const char *name, void *arg)
{
	struct check_ctx *cc = arg;
	struct lcerr err = LCERR_INIT;
	struct msglog_check rep;
	int rc = msglog_check(cc->log, name, cc->repair, &rep, &err);

	if (rc == 0) {
		printf("%s: ok, %llu messages (%llu..%llu) in %llu segments\n",
		       name, (unsigned long long)rep.records,
		       (unsigned long long)rep.first_id,
		       (unsigned long long)rep.last_id,
		       (unsigned long long)rep.segments);
	} else if (rc == 1 && rep.repaired) {
		printf("%s: repaired: %s (truncated)\n", name, rep.problem);
	} else if (rc == 1) {
		printf("%s: %s; run 'logcast check --repair' to truncate it\n",
		       name, rep.problem);
		cc->problems++;
	} else {
		printf("%s: CORRUPT: %s\n", name,
		       rep.problem[0] ? rep.problem : err.msg);
		cc->problems++;
	}
	return 0;
}

static int cmd_check(struct msglog *log, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "repair", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct check_ctx cc = { log, 0, 0 };
	struct lcerr err = LCERR_INIT;
	int o, i;

	while ((o = getopt_long(argc, argv, "+r", opts, NULL)) != -1) {
		if (o == 'r')
			cc.repair = 1;
		else
			return usage();
	}
	if (optind < argc) {
		for (i = optind; i < argc; i++)
			check_one(argv[i], &cc);
	} else if (msglog_list(log, check_one, &cc, &err) < 0) {
		return die_err("cannot list channels", &err);
	}
	return cc.problems ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *dir = getenv("LOGCAST_DATA_DIR");
	struct lcerr err = LCERR_INIT;
	struct msglog *log;
	struct sigaction sa;
	const char *cmd;
	int o, rc;

	while ((o = getopt(argc, argv, "+d:h")) != -1) {
		if (o == 'd')
			dir = optarg;
		else if (o == 'h') {
			fputs(usage_text, stdout);
			return 0;
		} else
			return usage();
	}
	if (optind >= argc)
		return usage();
	if (!dir || !*dir)
		dir = "var";
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (msglog_open(&log, dir, NULL, &err))
		return die_err("cannot open the log", &err);
	if (!strcmp(cmd, "append"))
		rc = cmd_append(log, argc, argv);
	else if (!strcmp(cmd, "read"))
		rc = cmd_read_tail(log, argc, argv, 0);
	else if (!strcmp(cmd, "tail"))
		rc = cmd_read_tail(log, argc, argv, 1);
	else if (!strcmp(cmd, "stats"))
		rc = cmd_stats(log, argc, argv, 0);
	else if (!strcmp(cmd, "channels"))
		rc = cmd_stats(log, argc, argv, 1);
	else if (!strcmp(cmd, "check"))
		rc = cmd_check(log, argc, argv);
	else
		rc = usage();
	msglog_close(log);
	return rc;
}
