/*
 * logcast-api - the HTTP API: publish, short poll, long poll, Server-Sent
 * Events, the channel list and health (everything under /api/ but the
 * webhooks, and the seed's /messages, /add, /poll, /orders).
 *
 * One binary, three ways to run it:
 *
 *   spawned by lighttpd (fastcgi.server "bin-path"): fd 0 is the listening
 *     socket; a FastCGI responder with accept threads and the hub;
 *   logcast-api --socket PATH: the same, on a socket it creates itself
 *     (for Apache's mod_proxy_fcgi, started by systemd);
 *   as a plain CGI program (fd 0 is not a listening socket): serves the
 *     one request in its environment and exits.
 *
 * Options: --socket PATH, --backlog N (default 4096), --threads N
 * (default LOGCAST_THREADS or 16).  Configuration otherwise comes from the
 * LOGCAST_* environment (see the README); LOGCAST_WS_FANOUT (default 5000,
 * 0: off) is how many WebSocket children may hand their output over to
 * this process (wsfan.h); LOGCAST_REQUEST_NICE (default 10, 0: off) how
 * much nicer the accept threads run than the delivering ones (fcgiio.h).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "api.h"
#include "cgiio.h"
#include "fcgiio.h"
#include "parse.h"
#include "wsfan.h"

static const char usage_text[] =
	"usage: logcast-api [--socket PATH] [--backlog N] [--threads N]\n"
	"Run by a web server as a FastCGI responder or a CGI program.\n";

static int die(const char *what, const char *why)
{
	fprintf(stderr, "logcast-api: %s%s%s\n", what, why ? ": " : "",
		why ? why : "");
	return 1;
}

/* A CGI must still answer something when it cannot start. */
static int cgi_fail(const char *why)
{
	fprintf(stderr, "logcast-api: %s\n", why);
	printf("Status: 500 Internal Server Error\r\nContent-Type: application/json\r\n\r\n"
	       "{\"error\":\"server misconfigured; see the error log\"}");
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "backlog", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lcerr err = LCERR_INIT;
	struct msglog_opts lopts;
	struct fcgiio_opts fo = { 0, 16, 10 };
	struct api api;
	const char *sock = NULL, *dir;
	uint64_t backlog = 4096, threads = 16, ws_fanout = 5000;
	uint64_t request_nice = 10;
	struct wsfan *fan = NULL;
	sigset_t sigs;
	int o, cgi, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			sock = optarg;
			break;
		case 'b':
			if (parse_u64(optarg, 1, 65535, &backlog))
				return die("--backlog must be 1 to 65535", NULL);
			break;
		case 't':
			if (parse_u64(optarg, 1, 4096, &threads))
				return die("--threads must be 1 to 4096", NULL);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (!sock && parse_env_u64("LOGCAST_THREADS", 16, 1, 4096, &threads))
		return die("LOGCAST_THREADS must be 1 to 4096", NULL);
	if (parse_env_u64("LOGCAST_WS_FANOUT", 5000, 0, 16000, &ws_fanout))
		return die("LOGCAST_WS_FANOUT must be 0 to 16000", NULL);
	if (parse_env_u64("LOGCAST_REQUEST_NICE", 10, 0, 19, &request_nice))
		return die("LOGCAST_REQUEST_NICE must be 0 to 19", NULL);
	cgi = !sock && FCGX_IsCGI();

	/* Files are created group-writable: the data directory is shared by
	 * the web server's user (CGI programs) and the daemons (see README) */
	umask(0007);
	memset(&api, 0, sizeof(api));
	dir = getenv("LOGCAST_DATA_DIR");
	if (!dir || !*dir)
		return cgi ? cgi_fail("LOGCAST_DATA_DIR is not set")
			   : die("LOGCAST_DATA_DIR is not set", NULL);
	if (msglog_opts_from_env(&lopts, &err) || api_config_from_env(&api.cfg, &err))
		return cgi ? cgi_fail(err.msg) : die("bad configuration", err.msg);
	if (msglog_open(&api.log, dir, &lopts, &err))
		return cgi ? cgi_fail(err.msg) : die("cannot open the log", err.msg);
	if (stats_open(&api.stats, dir, &err))
		fprintf(stderr, "logcast-api: live counters unavailable: %s\n", err.msg);

	if (cgi) {
		api.mode = "cgi";
		rc = cgiio_serve(&api);
		goto out;
	}
	api.mode = "fastcgi";

	/* Signals are taken with sigwait by the main thread only; blocked
	 * before any thread exists, so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (FCGX_Init()) {
		rc = die("FCGX_Init failed", NULL);
		goto out;
	}
	if (sock) {
		if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			rc = die("socket path longer than 107 bytes", sock);
			goto out;
		}
		/* FCGX_OpenSocket exits on failure; the web server's user
		 * must be able to connect: the socket is group-writable */
		fo.listen_fd = FCGX_OpenSocket(sock, (int)backlog);
		if (fo.listen_fd < 0) {
			rc = die("cannot listen on", sock);
			goto out;
		}
	}
	fo.threads = (unsigned)threads;
	fo.request_nice = (int)request_nice;
	/* The WebSocket children hand their output to this process (see
	 * wsfan.h); without it each one waits on the log by itself. */
	if (ws_fanout && wsfan_start(&fan, api.log, (unsigned)ws_fanout, &err))
		fprintf(stderr, "logcast-api: no WebSocket fan-out: %s\n", err.msg);
	rc = fcgiio_run(&api, &fo, &err) ? die("cannot serve", err.msg) : 0;
	if (sock)
		unlink(sock);
	/* accept threads may still be inside a request: leave now */
	fflush(stderr);
	_exit(rc);
out:
	stats_close(api.stats);
	msglog_close(api.log);
	return rc;
}
