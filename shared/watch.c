/*
 * watch.c - inotify and futex wake-ups for channel readers (see watch.h).
 *
 * The futex protocol, with all operations sequentially consistent:
 *
 *   writer:  durable_id = N;  wake_seq++;  if (futex_waiters) FUTEX_WAKE
 *   waiter:  futex_waiters++; s = wake_seq; if (durable_id > mine) done;
 *            FUTEX_WAIT(&wake_seq, s)
 *
 * Either the writer sees the waiter counted and wakes it, or the waiter's
 * loads come after the writer's stores and it sees the news without
 * sleeping; FUTEX_WAIT itself returns at once if wake_seq moved after the
 * waiter read it.  A process that dies while counted leaves the count too
 * high, which costs writers a spare FUTEX_WAKE until the next reboot resets
 * it.  The same reasoning, with inotify_watchers and the bell, covers
 * inotify.
 *
 * A waiter that also waits for other things (stdin, signals) passes a
 * "kick" word of its own: futex_waitv sleeps on both words at once, and
 * the caller's signal handlers bump the kick.  Read the kick, look at
 * everything else, then wait with the value read: a kick in between makes
 * the wait return at once, so nothing is slept through.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

#include "loghead.h"
#include "watch.h"

static long futex_wait_shared(_Atomic uint32_t *word, uint32_t val,
			      const struct timespec *rel)
{
	return syscall(SYS_futex, word, FUTEX_WAIT, val, rel, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* the blocking wait                                                  */

static void deadline_init(struct timespec *end, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, end);
	end->tv_sec += timeout_ms / 1000;
	end->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (end->tv_nsec >= 1000000000L) {
		end->tv_sec++;
		end->tv_nsec -= 1000000000L;
	}
}

static int deadline_left(const struct timespec *end, struct timespec *left)
{
	struct timespec now;
	long long ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (long long)(end->tv_sec - now.tv_sec) * 1000000000LL +
	     (end->tv_nsec - now.tv_nsec);
	if (ns <= 0)
		return 0;
	left->tv_sec = (time_t)(ns / 1000000000LL);
	left->tv_nsec = (long)(ns % 1000000000LL);
	return 1;
}

/*
 * Sleep while the shared word holds `sval` and the private one `pval`,
 * until the absolute CLOCK_MONOTONIC `end` (NULL: no limit).  Without
 * futex_waitv (Linux < 5.16) only the shared word is watched and the
 * sleep is cut into KICK_POLL_MS slices so a kick is seen that late at
 * worst.  Returns 0 or -errno like the syscall (-EAGAIN: a word moved).
 */
#define KICK_POLL_MS 100

static int have_waitv = 1;

static int futex_wait2(_Atomic uint32_t *shared, uint32_t sval,
		       _Atomic uint32_t *priv, uint32_t pval,
		       const struct timespec *end)
{
	struct timespec left, slice = { 0, KICK_POLL_MS * 1000000L };

#ifdef SYS_futex_waitv
	if (have_waitv) {
		struct futex_waitv v[2];

		memset(v, 0, sizeof(v));
		v[0].uaddr = (uintptr_t)shared;
		v[0].val = sval;
		v[0].flags = FUTEX_32;
		v[1].uaddr = (uintptr_t)priv;
		v[1].val = pval;
		v[1].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
		if (syscall(SYS_futex_waitv, v, 2, 0, end,
			    CLOCK_MONOTONIC) >= 0)
			return 0;
		if (errno != ENOSYS)
			return -errno;
		have_waitv = 0;
	}
#endif
	if (atomic_load(priv) != pval)
		return -EAGAIN;
	if (end) {
		if (!deadline_left(end, &left))
			return -ETIMEDOUT;
		if (left.tv_sec > 0 || left.tv_nsec > slice.tv_nsec)
			left = slice;
	} else {
		left = slice;
	}
	if (futex_wait_shared(shared, sval, &left) < 0)
		return -errno;
	return 0;
}

int msglog_wait_kick(struct msglog_chan *c, uint64_t after,
		     _Atomic uint32_t *kick, uint32_t kick_seen,
		     int timeout_ms)
{
	struct loghead *h = c->head;
	struct timespec end, left;
	_Atomic uint32_t none = 0;
	int rc;

	if (!kick) {
		kick = &none;
		kick_seen = 0;
	}
	if (timeout_ms >= 0)
		deadline_init(&end, timeout_ms);
	atomic_fetch_add(&h->futex_waiters, 1);
	for (;;) {
		uint32_t seq = atomic_load(&h->wake_seq);

		if (atomic_load(&h->durable_id) > after) {
			rc = 1;
			break;
		}
		if (atomic_load(kick) != kick_seen) {
			rc = -EINTR;
			break;
		}
		if (timeout_ms >= 0 && !deadline_left(&end, &left)) {
			rc = 0;
			break;
		}
		rc = futex_wait2(&h->wake_seq, seq, kick, kick_seen,
				 timeout_ms >= 0 ? &end : NULL);
		if (rc == -EINTR) {
			rc = atomic_load(&h->durable_id) > after ? 1 : -EINTR;
			break;
		}
		if (rc < 0 && rc != -EAGAIN && rc != -ETIMEDOUT)
			break;   /* not a wait we can do (EFAULT, EINVAL) */
	}
	atomic_fetch_sub(&h->futex_waiters, 1);
	return rc;
}

int msglog_wait(struct msglog_chan *c, uint64_t after, int timeout_ms)
{
	return msglog_wait_kick(c, after, NULL, 0, timeout_ms);
}

/* ------------------------------------------------------------------ */
/* inotify watch                                                      */

int msglog_watch_init(struct msglog_watch *w, struct lcerr *err)
{
	memset(w, 0, sizeof(*w));
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		return lcerr_sys(err, -errno, "inotify_init1");
	return 0;
}

static int head_path(struct msglog_chan *c, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/channels/%s/head", msglog_dir(c->log),
			 c->name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int msglog_watch_add(struct msglog_watch *w, struct msglog_chan *c,
		     struct lcerr *err)
{
	char path[PATH_MAX];
	int wd, rc;

	if (head_path(c, path, sizeof(path)))
		return lcerr_set(err, -ENAMETOOLONG, "path too long");
	if (w->n == w->alloc) {
		size_t n = w->alloc ? w->alloc * 2 : 16;
		struct watch_ent *e = realloc(w->ents, n * sizeof(*e));

		if (!e)
			return lcerr_set(err, -ENOMEM, "out of memory");
		w->ents = e;
		w->alloc = n;
	}
	atomic_fetch_add(&c->head->inotify_watchers, 1);
	wd = inotify_add_watch(w->fd, path, IN_MODIFY);
	if (wd < 0) {
		rc = -errno;
		atomic_fetch_sub(&c->head->inotify_watchers, 1);
		return lcerr_sys(err, rc, "cannot watch channel '%s'", c->name);
	}
	w->ents[w->n].wd = wd;
	w->ents[w->n].chan = c;
	w->n++;
	return 0;
}

int msglog_watch_remove(struct msglog_watch *w, struct msglog_chan *c)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		if (w->ents[i].chan != c)
			continue;
		inotify_rm_watch(w->fd, w->ents[i].wd);
		atomic_fetch_sub(&c->head->inotify_watchers, 1);
		w->ents[i] = w->ents[--w->n];
		return 0;
	}
	return -ENOENT;
}

static size_t add_unique(struct msglog_chan **out, size_t n, size_t max,
			 struct msglog_chan *c)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (out[i] == c)
			return n;
	if (n < max)
		out[n++] = c;
	return n;
}

int msglog_watch_read(struct msglog_watch *w, struct msglog_chan **out,
		      size_t max, struct lcerr *err)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	size_t n = 0, i;
	ssize_t len;

	for (;;) {
		char *p;

		len = read(w->fd, buf, sizeof(buf));
		if (len < 0) {
			if (errno == EAGAIN)
				break;
			if (errno == EINTR)
				continue;
			return lcerr_sys(err, -errno, "read inotify");
		}
		for (p = buf; p < buf + len;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				for (i = 0; i < w->n; i++)
					n = add_unique(out, n, max, w->ents[i].chan);
				continue;
			}
			for (i = 0; i < w->n; i++) {
				if (w->ents[i].wd != ev->wd)
					continue;
				if (ev->mask & IN_IGNORED) {
					/* the head file went away */
					atomic_fetch_sub(&w->ents[i].chan->head->inotify_watchers, 1);
					n = add_unique(out, n, max, w->ents[i].chan);
					w->ents[i] = w->ents[--w->n];
				} else {
					n = add_unique(out, n, max, w->ents[i].chan);
				}
				break;
			}
		}
	}
	return (int)n;
}

void msglog_watch_release(struct msglog_watch *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		atomic_fetch_sub(&w->ents[i].chan->head->inotify_watchers, 1);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	free(w->ents);
	w->ents = NULL;
	w->n = w->alloc = 0;
}
