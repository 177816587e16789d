/*
 * receiver - the demo's webhook receiver as a CGI program (lighttpd runs it
 * for /hooks/receiver; `make run` registers it for channels chat and
 * orders).  It verifies each delivery and publishes a receipt to channel
 * webhook-receipts; the logic is in shared/whreceive.c.
 *
 * Configuration (passed explicitly by the web server): LOGCAST_DATA_DIR,
 * LOGCAST_RECEIVER_SECRET (the whsec_ secret it was registered with), and
 * the log's LOGCAST_FSYNC, LOGCAST_RETAIN, LOGCAST_RETAIN_BYTES,
 * LOGCAST_SEGMENT_RECORDS, LOGCAST_MAX_BODY.
 */
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgiio.h"
#include "whreceive.h"

int main(void)
{
	struct http_resp resp;
	struct http_req req;
	struct http_io io;
	struct whreceive r;
	const char *dir = getenv("LOGCAST_DATA_DIR");
	int rc;

	/* the data directory is shared with the web server's user */
	umask(0007);

	signal(SIGPIPE, SIG_IGN);
	cgiio_transport(&io);
	http_resp_init(&resp);
	whreceive_init(&r, dir);
	if (http_req_init(&req, &io)) {
		http_resp_error(&resp, 414, "request path too long");
	} else if (!dir || !*dir) {
		fprintf(stderr, "logcast-receiver: LOGCAST_DATA_DIR is not set\n");
		http_resp_error(&resp, 500, "receiver misconfigured; see the error log");
	} else {
		whreceive_handle(&r, &req, &resp);
	}
	rc = http_resp_send(&io, &resp, 0) ? 1 : 0;
	http_resp_release(&resp);
	whreceive_release(&r);
	return rc;
}
