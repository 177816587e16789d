/*
 * wsfan.h - WebSocket fan-out: one thread writes new messages straight
 * into the stdout pipes of the logcast-ws children.
 *
 * websocketd runs one logcast-ws per socket, and a child that waits for
 * the log itself must be woken, scheduled and switched to for every
 * message: with thousands of sockets those process switches are nearly
 * all the cost of a delivery.  So a child hands its stdout (the pipe that
 * websocketd turns into frames) to the long-lived FastCGI responder,
 * which already watches the log: this thread reads each new message once
 * and writes it into every subscribed pipe, and the children sleep in
 * poll() on stdin until their client sends a frame or goes away.
 *
 * The handoff, on a SOCK_SEQPACKET unix socket WSFAN_SOCK in the data
 * directory (created group-accessible, like the rest of it):
 *
 *   child -> fan-out  "LCWS2 <channel> <cursor>" with the pipe's fd
 *                     (SCM_RIGHTS): deliver every id > cursor to it; the
 *                     pipe already holds the prime (below)
 *   fan-out -> child  "ok", or "no <reason>" (the child then waits on
 *                     the log itself, as it does when nothing listens)
 *   child -> fan-out  whole lines (error frames for the client), which
 *                     go into the stream between two messages
 *
 * When the child's socket closes the pipe is closed too, and websocketd
 * ends the WebSocket; when the pipe breaks (the client went) or the
 * client stops reading past WSFAN_MAX_PENDING, the socket is closed and
 * the child exits.  If the responder stops, every handed-over child sees
 * its socket close and exits: clients reconnect with ?since= and lose
 * nothing.  Memory per subscriber is bounded: messages are read from the
 * log only when its pipe has taken everything before them.
 *
 * The prime: every line we send a client is a JSON object, so it starts
 * with WSFAN_PRIME.  A child writes those two bytes into its stdout as
 * soon as it knows its connection is good, and whoever writes the first
 * line (the fan-out, or the child itself) leaves them out of it: the
 * stream is byte for byte the same, only its start goes out earlier.
 * websocketd thus reads from the pipe once at connect time, into its
 * freshly allocated line buffer, and holds the two bytes until the
 * newline; a stream that ends before any line leaves an unfinished line,
 * which it drops.  Without it that first read, with the page faults of
 * touching the new buffer and the first wake-up of the goroutine behind
 * it, landed on the first publish for every new socket at once.  On our
 * virtual machine, where a page fault costs about 20 us, websocketd
 * spent about 85 ms of CPU (and 700 page faults) on the first message
 * to 1,000 new sockets against 25 ms on each later one; primed, the
 * first costs what the later ones do, and the first message's p99 (the
 * worst of all rounds before) is no longer the slowest.
 */
#ifndef WSFAN_H
#define WSFAN_H

#include <stddef.h>
#include <stdint.h>

#include "lcerr.h"
#include "msglog.h"

#define WSFAN_SOCK        "ws.sock"
#define WSFAN_MAX_PENDING (1 << 20)
#define WSFAN_CONNECT_S   2
#define WSFAN_PRIME       "{\""
#define WSFAN_PRIME_LEN   2

struct wsfan;

/*
 * Leave out of the bytes at *p, *len (the start of a stream's first
 * line) the *primed bytes of the prime already written, and set *primed
 * to 0.  Nothing to do when *primed is 0.  0, or -1 when the bytes do not
 * start with the prime (not a JSON object: they must not be sent).
 */
int wsfan_unprime(size_t *primed, const char **p, size_t *len);

/*
 * Listen on <data dir>/WSFAN_SOCK (replacing a stale one) and start the
 * thread.  `log` is borrowed and must outlive the fan-out; at most
 * `max_subs` children are served at once (others are told "no").
 * 0 with *out set (new), or negative (reason in err).
 */
int wsfan_start(struct wsfan **out, struct msglog *log, unsigned max_subs,
		struct lcerr *err);

/* Stop the thread, close every subscriber and the socket, free. */
void wsfan_stop(struct wsfan *f);

/*
 * For the child: hand fd `out_fd` over for channel `name` from `cursor`.
 * Returns the connected socket (keep it open as long as the connection
 * lives, watch it for hang-up, send error lines on it), or negative:
 * -ENOENT/-ECONNREFUSED when no fan-out runs, -EAGAIN when it does not
 * accept (its backlog is full), -EBUSY when it refused or did not answer.
 * Waits at most 2 s to connect and 2 s for the answer.
 */
int wsfan_handoff(const char *dir, const char *name, uint64_t cursor,
		  int out_fd);

/* Connect a unix socket of `type` to <dir>/<file>, however long dir is
 * (through /proc/self/fd when the path does not fit sun_path), waiting at
 * most WSFAN_CONNECT_S for room in the listener's backlog (-EAGAIN after
 * that; the socket keeps this send timeout).  A new socket or negative
 * -errno.  With `listen_backlog` > 0 it binds and listens instead. */
int wsfan_unix_socket(const char *dir, const char *file, int type,
		      int listen_backlog);

#endif
