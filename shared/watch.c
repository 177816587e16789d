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
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

#include "loghead.h"
#include "watch.h"

#define HELPER_STACK (64 * 1024)

static long futex_wait_shared(_Atomic uint32_t *word, uint32_t val,
			      const struct timespec *rel)
{
	return syscall(SYS_futex, word, FUTEX_WAIT, val, rel, NULL, 0);
}

static long futex_wake_private(_Atomic uint32_t *word)
{
	return syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
		       NULL, 0);
}

/* ------------------------------------------------------------------ */
/* the blocking wait                                                  */

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

int msglog_wait(struct msglog_chan *c, uint64_t after, int timeout_ms)
{
	struct loghead *h = c->head;
	struct timespec end, left;
	int rc;

	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &end);
		end.tv_sec += timeout_ms / 1000;
		end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (end.tv_nsec >= 1000000000L) {
			end.tv_sec++;
			end.tv_nsec -= 1000000000L;
		}
	}
	atomic_fetch_add(&h->futex_waiters, 1);
	for (;;) {
		uint32_t seq = atomic_load(&h->wake_seq);

		if (atomic_load(&h->durable_id) > after) {
			rc = 1;
			break;
		}
		if (timeout_ms >= 0 && !deadline_left(&end, &left)) {
			rc = 0;
			break;
		}
		if (futex_wait_shared(&h->wake_seq, seq,
				      timeout_ms >= 0 ? &left : NULL) &&
		    errno == EINTR) {
			rc = atomic_load(&h->durable_id) > after ? 1 : -EINTR;
			break;
		}
	}
	atomic_fetch_sub(&h->futex_waiters, 1);
	return rc;
}

/* ------------------------------------------------------------------ */
/* futex watch: a helper thread turns futex wake-ups into an eventfd   */

#ifdef SYS_futex_waitv
static long futex_waitv2(_Atomic uint32_t *shared, uint32_t sval,
			 _Atomic uint32_t *priv, uint32_t pval)
{
	struct futex_waitv v[2];

	memset(v, 0, sizeof(v));
	v[0].uaddr = (uintptr_t)shared;
	v[0].val = sval;
	v[0].flags = FUTEX_32;
	v[1].uaddr = (uintptr_t)priv;
	v[1].val = pval;
	v[1].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
	return syscall(SYS_futex_waitv, v, 2, 0, NULL, 0);
}
#endif

static void *watch_helper(void *arg)
{
	struct msglog_watch *w = arg;
	struct loghead *h = w->chan->head;
	uint32_t last;
	int have_waitv = 1;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);   /* signals go to main */
	atomic_fetch_add(&h->futex_waiters, 1);
	last = atomic_load(&h->wake_seq);
	atomic_store(&w->ready, 1);
	while (!atomic_load(&w->stop)) {
		uint32_t seq = atomic_load(&h->wake_seq);

		if (seq != last) {
			uint64_t one = 1;

			last = seq;
			if (write(w->fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
				break;
			continue;
		}
#ifdef SYS_futex_waitv
		if (have_waitv) {
			if (futex_waitv2(&h->wake_seq, seq, &w->stop, 0) < 0 &&
			    errno == ENOSYS)
				have_waitv = 0;
			continue;
		}
#endif
		{
			/* old kernels: re-check the stop flag every second */
			struct timespec t = { 1, 0 };

			(void)have_waitv;
			futex_wait_shared(&h->wake_seq, seq, &t);
		}
	}
	atomic_fetch_sub(&h->futex_waiters, 1);
	return NULL;
}

/* ------------------------------------------------------------------ */

int msglog_watch_init(struct msglog_watch *w, enum msglog_watch_kind kind,
		      struct lcerr *err)
{
	memset(w, 0, sizeof(*w));
	w->kind = kind;
	if (kind == MSGLOG_WATCH_INOTIFY) {
		w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (w->fd < 0)
			return lcerr_sys(err, -errno, "inotify_init1");
	} else {
		w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->fd < 0)
			return lcerr_sys(err, -errno, "eventfd");
	}
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
	pthread_attr_t attr;
	int wd, rc;

	if (w->kind == MSGLOG_WATCH_FUTEX) {
		if (w->chan)
			return lcerr_set(err, -EBUSY,
					 "a futex watch follows one channel");
		w->chan = c;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, HELPER_STACK);
		rc = pthread_create(&w->thread, &attr, watch_helper, w);
		pthread_attr_destroy(&attr);
		if (rc) {
			w->chan = NULL;
			return lcerr_sys(err, -rc, "cannot start watch thread");
		}
		w->thread_running = 1;
		/* the helper counts itself before it reads wake_seq; wait for
		 * that so a growth right after we return is not missed */
		while (!atomic_load(&w->ready))
			sched_yield();
		return 0;
	}
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

	if (w->kind == MSGLOG_WATCH_FUTEX) {
		if (w->chan != c)
			return -ENOENT;
		msglog_watch_release(w);   /* one channel: nothing else left */
		return 0;
	}
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

	if (w->kind == MSGLOG_WATCH_FUTEX) {
		uint64_t v;

		if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return lcerr_sys(err, -errno, "read eventfd");
		if (w->chan && max)
			out[n++] = w->chan;
		return (int)n;
	}
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

	if (w->kind == MSGLOG_WATCH_FUTEX && w->thread_running) {
		atomic_store(&w->stop, 1);
		futex_wake_private(&w->stop);
		pthread_join(w->thread, NULL);
		w->thread_running = 0;
	}
	if (w->kind == MSGLOG_WATCH_INOTIFY)
		for (i = 0; i < w->n; i++)
			atomic_fetch_sub(&w->ents[i].chan->head->inotify_watchers, 1);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	free(w->ents);
	w->ents = NULL;
	w->n = w->alloc = 0;
	w->chan = NULL;
}
