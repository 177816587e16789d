/*
 * watch.h - waking readers when a channel grows.
 *
 * Two mechanisms, because the kernel budget differs by process kind:
 *
 *  - inotify (struct msglog_watch): one instance watches any number of
 *    channels and gives an event loop a descriptor to poll; right for the
 *    long-lived processes (the FastCGI responder, the webhook dispatcher),
 *    which need one instance each.  Writers ring a "bell" in the channel's
 *    head with pwrite() when anyone watches, since inotify does not see
 *    stores to shared memory.
 *
 *  - a futex on the head's shared wake_seq word (msglog_wait,
 *    msglog_wait_kick): no per-process kernel object at all, so the
 *    per-connection processes (a websocketd child per socket, a CGI long
 *    poll per request) are not limited by the 128 inotify instances a user
 *    gets by default.  Idle waiters cost nothing; a writer wakes them all
 *    with one FUTEX_WAKE, and only when some process said it may be
 *    sleeping.  Such a process waits for its other events (stdin, signals)
 *    through signal handlers that bump a "kick" word: no thread, no
 *    descriptor, one context switch per wake-up.
 *
 * Wake-ups are hints: after one, read from your own cursor up to the
 * channel's last id; never count wake-ups.
 */
#ifndef WATCH_H
#define WATCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "msglog.h"

struct watch_ent {
	int wd;
	struct msglog_chan *chan;
};

struct msglog_watch {
	int fd;                        /* poll this for POLLIN */
	struct watch_ent *ents;        /* the watched channels */
	size_t n, alloc;
};

/* Initialize an inotify watch.  0, or negative (-EMFILE when the user ran
 * out of inotify instances). */
int msglog_watch_init(struct msglog_watch *w, struct lcerr *err);

/*
 * Start watching channel `c` (borrowed: keep the handle until removed or
 * released).  0, or negative (reason in err).  After this returns, any growth of the channel makes the fd
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

/* Close the fd and forget the channels. */
void msglog_watch_release(struct msglog_watch *w);

/*
 * Sleep until channel `c` has a durable message with id > `after`, for at
 * most `timeout_ms` (negative: no limit).  Uses the futex directly: no
 * thread, no descriptor.  Returns 1 when there is news, 0 at the timeout,
 * -EINTR when a signal arrived (so a SIGTERM handler can end the wait).
 */
int msglog_wait(struct msglog_chan *c, uint64_t after, int timeout_ms);

/*
 * msglog_wait(), which also returns -EINTR as soon as `*kick` (a word of
 * this process, bumped by its signal handlers) no longer holds
 * `kick_seen` - also when that happened before the call, so read the
 * kick first, then check what the handlers flag, then wait.  With
 * SA_RESTART handlers everything else the process does is restarted as
 * usual.  `kick` may be NULL.  Also negative -errno if the kernel refuses
 * the wait.  Linux < 5.16 has no futex_waitv: a kick is then seen within
 * 100 ms.
 */
int msglog_wait_kick(struct msglog_chan *c, uint64_t after,
		     _Atomic uint32_t *kick, uint32_t kick_seen,
		     int timeout_ms);

#endif
