/*
 * logcast-dispatch - deliver channel messages to their webhook endpoints
 * (Standard Webhooks 1.0); the work is done by shared/whdisp.c.
 *
 *   logcast-dispatch --watch    stay up, woken by the log (make run starts it)
 *   logcast-dispatch --once     one pass, then exit (for a crontab line:
 *                               * * * * * logcast-dispatch --once)
 *
 * Overlapping runs are safe: the dispatchers of a data directory take turns
 * on a lock, and an --once that finds another running exits at once.
 * SIGTERM, SIGINT and SIGHUP stop it cleanly: attempts in flight are
 * abandoned (delivered again next time), all state is written.
 *
 * Configuration: LOGCAST_DATA_DIR, LOGCAST_WEBHOOK_TIMEOUT,
 * LOGCAST_WEBHOOK_SCHEDULE, LOGCAST_WEBHOOK_ALLOW, LOGCAST_FSYNC and the
 * log's LOGCAST_* (see the README).  Exit status: 0 done, 1 error, 2 usage.
 */
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "whdisp.h"

static const char usage_text[] =
	"usage: logcast-dispatch (--watch | --once) [-v]\n"
	"Deliver channel messages to their webhook endpoints.\n"
	"  --watch     keep running, woken when channels grow\n"
	"  --once      one pass over what is due, then exit (cron)\n"
	"  -v          log every attempt to stderr\n";

static void log_line(void *ctx, const char *msg)
{
	char t[32];
	struct timespec ts;
	struct tm tm;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s logcast-dispatch: %s\n", t, msg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "watch", no_argument, NULL, 'w' },
		{ "once", no_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lcerr err = LCERR_INIT;
	struct whdisp_config cfg;
	const char *dir = getenv("LOGCAST_DATA_DIR");
	int o, mode = 0, verbose = 0, sfd, rc;
	sigset_t sigs;

	/* the data directory is shared with the web server's user */
	umask(0007);

	while ((o = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (o) {
		case 'w':
		case 'o':
			if (mode && mode != o) {
				fputs("logcast-dispatch: --watch or --once, not both\n", stderr);
				return 2;
			}
			mode = o;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind != argc || !mode) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (!dir || !*dir)
		dir = "var";
	if (whdisp_config_from_env(&cfg, &err)) {
		fprintf(stderr, "logcast-dispatch: %s\n", err.msg);
		return 1;
	}
	cfg.once = mode == 'o';
	cfg.verbose = verbose;
	cfg.log = log_line;

	/* Signals arrive on a descriptor the loop polls; blocked before any
	 * thread (libcurl's resolver, the state writer) exists. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		perror("logcast-dispatch: signalfd");
		return 1;
	}
	if (!cfg.once)
		log_line(NULL, "watching for messages to deliver");
	rc = whdisp_run(dir, &cfg, sfd, &err);
	close(sfd);
	if (rc < 0) {
		fprintf(stderr, "logcast-dispatch: %s\n", err.msg);
		return 1;
	}
	if (rc == 1 && cfg.once)
		log_line(NULL, "another dispatcher is running; nothing to do");
	if (!cfg.once)
		log_line(NULL, "stopped");
	return 0;
}
