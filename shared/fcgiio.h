/*
 * fcgiio.h - the API served over FastCGI with libfcgi: a pool of accept
 * threads on one listening socket, and the hub (hub.h) for every request
 * that must wait.
 *
 * libfcgi answers one request per blocking thread; the threads here only
 * ever block on short work (reading a request, appending and syncing a
 * message, reading the log).  A long poll with nothing new, or an SSE
 * stream once its backlog is sent, is detached from libfcgi and handed to
 * the hub, and the thread goes back to accept.  Linux lets many threads
 * accept() on one socket, so there is no accept mutex (which would let one
 * slow connection stall every thread).
 *
 * Deliveries go first: the accept threads run `request_nice` steps nicer
 * than the rest of the process (LOGCAST_REQUEST_NICE), so when the CPU is
 * short the hub and the WebSocket fan-out keep writing to clients waiting
 * for a message while new requests, the re-polls of clients just answered
 * among them, queue behind.  On an idle machine it changes nothing.
 */
#ifndef FCGIIO_H
#define FCGIIO_H

#include "api.h"

struct fcgiio_opts {
	int listen_fd;         /* 0 when spawned by the web server */
	unsigned threads;      /* accept threads */
	int request_nice;      /* nice increment of the accept threads, 0..19 */
};

/*
 * Run the responder until SIGTERM, SIGINT or SIGHUP (which the caller
 * must have blocked in every thread before calling; this function waits
 * for them with sigwait).  On the way out held long polls get 204 and
 * streams are ended.  Returns 0, or negative when it could not start.
 */
int fcgiio_run(struct api *api, const struct fcgiio_opts *opts,
	       struct lcerr *err);

#endif
