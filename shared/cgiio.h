/*
 * cgiio.h - the API served as plain CGI: one process per request, the
 * request in the environment and on stdin, the response on stdout.
 *
 * Long polls and SSE streams wait on the log's futex (msglog_wait), so a
 * thousand waiting CGI processes need no inotify instance at all.  The
 * web server ends a CGI whose client left with SIGTERM (lighttpd's
 * cgi.limits tcp-fin-propagate); a stream also ends at its first failed
 * write.  Held requests are counted in the shared live counters (stats.h)
 * for /api/health and the LOGCAST_MAX_HELD limit.
 */
#ifndef CGIIO_H
#define CGIIO_H

#include "api.h"

/*
 * Serve the one request of this CGI process.  Installs SIGTERM, SIGINT
 * and SIGHUP handlers that end a wait.  Returns the exit status for
 * main(): 0 when a response was sent (whatever its status), 1 when the
 * client went away or writing failed.
 */
int cgiio_serve(struct api *api);

/*
 * Fill `io` with this transport's callbacks (parameters from the
 * environment, body on stdin, response on stdout), for CGI programs with
 * handlers of their own (the webhooks API, the demo receiver).
 */
void cgiio_transport(struct http_io *io);

#endif
