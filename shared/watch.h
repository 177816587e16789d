/*
 * watch.h - waking readers when a channel grows.
 *
 * Two mechanisms, because the kernel budget differs by process kind:
 *
 *  - inotify (MSGLOG_WATCH_INOTIFY): one instance watches any number of
 *    channels; right for the long-lived processes (the FastCGI responder,
 *    the webhook dispatcher), which need one instance each.  Writers ring a
 *    "bell" in the channel's head with pwrite() when anyone watches, since
 *    inotify does not see stores to shared memory.
 *
 *  - a futex on the head's shared wake_seq word (MSGLOG_WATCH_FUTEX):
 *    no per-process kernel object at all, so the per-connection processes
 *    (a websocketd child per socket, a CGI long poll per request) are not
 *    limited by the 128 inotify instances a user gets by default.  Idle
 *    waiters cost nothing; a writer wakes them all with one FUTEX_WAKE,
 *    and only when some process said it may be sleeping.
 *
 * Both present the same thing to an event loop: a file descriptor that
 * becomes readable when a watched channel may have grown.  The futex kind
 * gets its descriptor (an eventfd) from a small helper thread that sleeps
 * on the futex; it watches exactly one channel.  Code that has nothing else
 * to wait for can call msglog_wait(), which sleeps on the futex directly.
 *
 * Wake-ups are hints: after one, read from your own cursor up to the
 * channel's last id; never count wake-ups.
 */
#ifndef WATCH_H
#define WATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "msglog.h"

enum msglog_watch_kind {
	MSGLOG_WATCH_INOTIFY,
	MSGLOG_WATCH_FUTEX,
};

struct watch_ent {
	int wd;
	struct msglog_chan *chan;
};

struct msglog_watch {
	enum msglog_watch_kind kind;
	int fd;                        /* poll this for POLLIN */
	struct watch_ent *ents;        /* inotify: watched channels */
	size_t n, alloc;
	struct msglog_chan *chan;      /* futex: the one channel */
	pthread_t thread;
	int thread_running;
	_Atomic uint32_t stop;         /* futex word private to this process */
	_Atomic uint32_t ready;        /* the helper has counted itself */
};

/* Initialize a watch of the given kind.  0, or negative (-EMFILE when the
 * user ran out of inotify instances). */
int msglog_watch_init(struct msglog_watch *w, enum msglog_watch_kind kind,
		      struct lcerr *err);

/*
 * Start watching channel `c` (borrowed: keep the handle until removed or
 * released).  A futex watch takes exactly one channel (-EBUSY for a
 * second).  After this returns, any growth of the channel makes the fd
 * readable, so check the channel's last id after adding, not before.
 */
int msglog_watch_add(struct msglog_watch *w, struct msglog_chan *c,
		     struct lcerr *err);

/* Stop watching `c`.  0 or -ENOENT. */
int msglog_watch_remove(struct msglog_watch *w, struct msglog_chan *c);

static inline int msglog_watch_fd(const struct msglog_watch *w)
{
	return w->fd;
}

/*
 * Drain the fd after poll() reported it readable and store up to `max`
 * channels that may have grown in `out` (borrowed handles).  Returns how
 * many, or negative.  When the kernel's event queue overflowed, every
 * watched channel is reported.
 */
int msglog_watch_read(struct msglog_watch *w, struct msglog_chan **out,
		      size_t max, struct lcerr *err);

/* Stop the helper thread, close the fd, forget the channels. */
void msglog_watch_release(struct msglog_watch *w);

/*
 * Sleep until channel `c` has a durable message with id > `after`, for at
 * most `timeout_ms` (negative: no limit).  Uses the futex directly: no
 * thread, no descriptor.  Returns 1 when there is news, 0 at the timeout,
 * -EINTR when a signal arrived (so a SIGTERM handler can end the wait).
 */
int msglog_wait(struct msglog_chan *c, uint64_t after, int timeout_ms);

#endif
