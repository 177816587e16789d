/*
 * webhooks - the /api/webhooks routes as a CGI program (lighttpd runs it
 * for ^/api/webhooks(/|$)); the handlers are in shared/whapi.c.
 *
 * Configuration (the web server must pass these explicitly, CGI programs
 * get a clean environment): LOGCAST_DATA_DIR, LOGCAST_ADMIN_TOKEN,
 * LOGCAST_WEBHOOK_ALLOW, LOGCAST_CORS_ORIGIN, and the log's own
 * LOGCAST_FSYNC, LOGCAST_RETAIN, LOGCAST_RETAIN_BYTES,
 * LOGCAST_SEGMENT_RECORDS, LOGCAST_MAX_BODY (a registration creates its
 * channels).
 */
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgiio.h"
#include "whapi.h"

int main(void)
{
	struct lcerr err = LCERR_INIT;
	struct http_resp resp;
	struct http_req req;
	struct http_io io;
	struct whapi w;
	const char *dir = getenv("LOGCAST_DATA_DIR");
	int rc, ready = 0, head = 0;

	/* the data directory is shared with the web server's user */
	umask(0007);

	signal(SIGPIPE, SIG_IGN);
	cgiio_transport(&io);
	http_resp_init(&resp);
	if (http_req_init(&req, &io)) {
		http_resp_error(&resp, 414, "request path too long");
	} else if (!dir || !*dir) {
		fprintf(stderr, "logcast-webhooks: LOGCAST_DATA_DIR is not set\n");
		http_resp_error(&resp, 500, "server misconfigured; see the error log");
	} else if (whapi_init(&w, dir, &err)) {
		fprintf(stderr, "logcast-webhooks: %s\n", err.msg);
		http_resp_error(&resp, 500, "server misconfigured; see the error log");
	} else {
		ready = 1;
		head = !strcmp(req.method, "HEAD");
		whapi_handle(&w, &req, &resp);
	}
	rc = http_resp_send(&io, &resp, head) ? 1 : 0;
	http_resp_release(&resp);
	if (ready)
		whapi_release(&w);
	return rc;
}
