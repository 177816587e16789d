/*
 * hub.h - where the FastCGI responder keeps the requests that wait: long
 * polls with nothing new yet and Server-Sent Event streams.
 *
 * libfcgi gives one blocking thread per request, and 8,000 waiting clients
 * must not need 8,000 threads.  So an accept thread that finds nothing to
 * answer yet hands the connection to the hub and goes back to accept.  The
 * hub is one thread with one epoll set and one inotify instance (through
 * the log's watch, watch.h):
 *
 *   - when a channel grows, it reads the new messages once, formats the
 *     answer once, and writes the same bytes to every waiting request of
 *     that channel (a long poll gets its whole response and is closed, a
 *     stream gets the new events);
 *   - a timer answers 204 to long polls at their timeout and sends SSE
 *     keep-alive comments;
 *   - a client that goes away is noticed as a hang-up on the connection
 *     (lighttpd passes it on with tcp-fin-propagate) or a failed write, and
 *     released at once.
 *
 * Parked connections are written with non-blocking writes of ready-made
 * FastCGI records (libfcgi's streams block and keep 16 KB of buffers per
 * request, which is most of what holding a request would otherwise cost).
 */
#ifndef HUB_H
#define HUB_H

#include <stdint.h>

#include "api.h"

struct hub;

/* Start the hub thread.  `api` is borrowed for the hub's lifetime.
 * 0 and *out, or negative (no inotify instance left, ...). */
int hub_start(struct hub **out, struct api *api, struct lcerr *err);

/*
 * Stop: long polls still waiting get their 204, streams are ended and the
 * thread exits.  The hub stays allocated, so accept threads still running
 * may call hub_park() harmlessly (their connections are closed at exit).
 */
void hub_stop(struct hub *h);

/* Stop if needed and free everything (no hub_park() may follow). */
void hub_free(struct hub *h);

/*
 * Hand a FastCGI connection to the hub.  `fd` is the connection, already
 * detached from libfcgi (nothing unread, nothing buffered); `request_id`
 * its FastCGI request id.  For an SSE stream the response head has been
 * sent and w->cursor is the last event sent.  The hub takes `fd` and
 * w->chan in every case, even when it fails (it then answers 503 or
 * closes).  0 or negative.
 */
int hub_park(struct hub *h, int fd, int request_id, struct api_wait *w);

/* For struct api: live counts and the held-request limit. */
void hub_counts(void *h, uint64_t *long_polls, uint64_t *streams);
int hub_may_hold(void *h);

#endif
