/*
 * wsfan.c - WebSocket fan-out into the children's stdout pipes (see
 * wsfan.h for the design and the handoff protocol).
 *
 * One thread owns everything: an epoll set with the listening socket, the
 * inotify watch of the subscribed channels, a stop eventfd, and per
 * subscriber its socket (tag: the struct) and its pipe (tag: the struct
 * with the low bit set).  Channels are few, so they are a plain list.
 * A subscriber dropped while handling one event may have more events in
 * the same batch: it is marked dead, its descriptors are closed at once,
 * and its memory (and an emptied channel) is freed after the batch.
 *
 * Delivery reads a channel once per pass and writes the same bytes to
 * every pipe that is at the same cursor; a pipe that does not take all of
 * it keeps the rest in its own buffer and gets more from the log only
 * when that is written, so a slow client costs at most one batch.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "parse.h"
#include "strbuf.h"
#include "watch.h"
#include "wsfan.h"

#define READ_MSGS   1000
#define READ_BYTES  (256 * 1024)
#define HELLO_MAX   128
#define REPLY_S     2               /* the child waits this long for "ok" */
#define LINE_PKT    (32 * 1024)

struct wchan;

struct wsub {
	struct wsub *next, *prev;
	struct wchan *wc;             /* NULL until the hello */
	int sock, pipe;
	uint64_t cursor;              /* last id written or queued */
	size_t skip;                  /* bytes of the prime still to leave out */
	struct strbuf out;            /* lines the pipe has not taken */
	size_t out_pos;
	int out_armed;
	int dead;                     /* dropped: freed after the batch */
	struct wsub *next_dead;
};

struct wchan {
	struct wchan *next;
	struct msglog_chan *c;        /* reference held */
	struct wsub subs;             /* list sentinel */
	unsigned n;
};

struct wsfan {
	struct msglog *log;
	int epfd, lfd, evfd;
	struct msglog_watch watch;
	pthread_t thread;
	struct wchan *chans;
	struct wsub *dead;            /* dropped during this epoll batch */
	unsigned max_subs;
	unsigned nsubs;                /* handed over now */
	char tag_listen, tag_watch, tag_stop;

	/* the batch of the current pass, as lines */
	struct msglog_batch batch;
	struct strbuf lines;
	size_t *line_off;             /* n + 1 offsets into lines */
	size_t line_alloc;
	struct wchan *lines_wc;
	uint64_t first_id, last_id;
};

int wsfan_unprime(size_t *primed, const char **p, size_t *len)
{
	if (!*primed)
		return 0;
	if (*primed > WSFAN_PRIME_LEN || *len < *primed ||
	    memcmp(*p, WSFAN_PRIME, *primed))
		return -1;
	*p += *primed;
	*len -= *primed;
	*primed = 0;
	return 0;
}

/* ------------------------------------------------------------------ */
/* the socket path                                                    */

int wsfan_unix_socket(const char *dir, const char *file, int type,
		      int listen_backlog)
{
	struct sockaddr_un sa;
	int fd, dfd = -1, n, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		/* too long for sun_path: go through a directory fd */
		dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
		n = snprintf(sa.sun_path, sizeof(sa.sun_path),
			     "/proc/self/fd/%d/%s", dfd, file);
		if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
			close(dfd);
			return -ENAMETOOLONG;
		}
	}
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (listen_backlog > 0) {
		unlink(sa.sun_path);
		rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		     listen(fd, listen_backlog) ? -errno : 0;
	} else {
		/* a listener that stopped accepting must not hold us in
		 * connect() for ever once its backlog is full: -EAGAIN */
		struct timeval tv = { WSFAN_CONNECT_S, 0 };

		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	}
	if (rc) {
		close(fd);
		goto out;
	}
	rc = fd;
out:
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* ------------------------------------------------------------------ */
/* the child's side                                                   */

int wsfan_handoff(const char *dir, const char *name, uint64_t cursor,
		  int out_fd)
{
	char hello[HELLO_MAX], reply[64];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	struct timeval tv = { REPLY_S, 0 };
	ssize_t r;
	int fd, n;

	n = snprintf(hello, sizeof(hello), "LCWS2 %s %llu", name,
		     (unsigned long long)cursor);
	if (n < 0 || (size_t)n >= sizeof(hello))
		return -EINVAL;
	fd = wsfan_unix_socket(dir, WSFAN_SOCK, SOCK_SEQPACKET, 0);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&mh, 0, sizeof(mh));
	memset(cbuf, 0, sizeof(cbuf));
	iov.iov_base = hello;
	iov.iov_len = (size_t)n;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &out_fd, sizeof(int));
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != n)
		goto refused;
	do
		r = recv(fd, reply, sizeof(reply) - 1, 0);
	while (r < 0 && errno == EINTR);
	if (r != 2 || memcmp(reply, "ok", 2))
		goto refused;
	tv.tv_sec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
refused:
	close(fd);
	return -EBUSY;
}

/* ------------------------------------------------------------------ */
/* subscribers                                                        */

static void *pipe_tag(struct wsub *s)
{
	return (void *)((uintptr_t)s | 1);
}

static int arm(struct wsfan *f, struct wsub *s, int on)
{
	struct epoll_event ev;

	if (s->out_armed == on)
		return 0;
	ev.events = on ? EPOLLOUT : 0;
	ev.data.ptr = pipe_tag(s);
	if (epoll_ctl(f->epfd, EPOLL_CTL_MOD, s->pipe, &ev))
		return -errno;
	s->out_armed = on;
	return 0;
}

static void chan_drop(struct wsfan *f, struct wchan *wc)
{
	struct wchan **pp;

	for (pp = &f->chans; *pp; pp = &(*pp)->next) {
		if (*pp == wc) {
			*pp = wc->next;
			break;
		}
	}
	if (f->lines_wc == wc)
		f->lines_wc = NULL;
	msglog_watch_remove(&f->watch, wc->c);
	msglog_chan_put(wc->c);
	free(wc);
}

static void sub_drop(struct wsfan *f, struct wsub *s)
{
	if (s->dead)
		return;
	s->dead = 1;
	if (s->wc) {
		s->prev->next = s->next;
		s->next->prev = s->prev;
		s->wc->n--;
		f->nsubs--;
	}
	epoll_ctl(f->epfd, EPOLL_CTL_DEL, s->sock, NULL);
	close(s->sock);
	if (s->pipe >= 0) {
		epoll_ctl(f->epfd, EPOLL_CTL_DEL, s->pipe, NULL);
		close(s->pipe);
	}
	strbuf_release(&s->out);
	s->next_dead = f->dead;
	f->dead = s;
}

/* After a batch: free the dropped subscribers and emptied channels. */
static void sweep(struct wsfan *f)
{
	struct wchan *wc, *next;

	while (f->dead) {
		struct wsub *s = f->dead;

		f->dead = s->next_dead;
		free(s);
	}
	for (wc = f->chans; wc; wc = next) {
		next = wc->next;
		if (!wc->n)
			chan_drop(f, wc);
	}
}

/* Write what the pipe takes.  0, or -1 when the reader is gone. */
static int sub_flush(struct wsfan *f, struct wsub *s)
{
	while (s->out_pos < s->out.len) {
		ssize_t n = write(s->pipe, s->out.buf + s->out_pos,
				  s->out.len - s->out_pos);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return arm(f, s, 1) ? -1 : 0;
			return -1;
		}
		s->out_pos += (size_t)n;
	}
	s->out_pos = 0;
	if (s->out.alloc > 2 * READ_BYTES)
		strbuf_release(&s->out);
	else
		strbuf_reset(&s->out);
	return arm(f, s, 0) ? -1 : 0;
}

/* Queue whole lines behind what is pending and write.  The first ones
 * lose the prime the child wrote (wsfan.h).  0 or -1 (drop it). */
static int sub_send(struct wsfan *f, struct wsub *s, const char *p,
		    size_t len)
{
	if (wsfan_unprime(&s->skip, &p, &len))
		return -1;
	if (s->out.len - s->out_pos + len > WSFAN_MAX_PENDING)
		return -1;
	if (s->out_pos == s->out.len) {
		ssize_t n;

		do
			n = write(s->pipe, p, len);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN)
			return -1;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
		if (!len)
			return 0;
	}
	if (strbuf_add(&s->out, p, len))
		return -1;
	return sub_flush(f, s);
}

/* ------------------------------------------------------------------ */
/* delivery                                                           */

/* Make f->lines hold the messages after `cursor` of `wc`.  Number of
 * messages from the cursor on, 0 for none, negative for a damaged log. */
static int lines_for(struct wsfan *f, struct wchan *wc, uint64_t cursor,
		     size_t *idx)
{
	struct lcerr err = LCERR_INIT;
	struct msglog_batch *b = &f->batch;
	size_t i;
	int n;

	if (f->lines_wc != wc || cursor < f->first_id - 1 ||
	    cursor >= f->last_id) {
		f->lines_wc = NULL;
		n = msglog_read(wc->c, cursor, READ_MSGS, READ_BYTES, b, &err);
		if (n < 0) {
			fprintf(stderr, "logcast-api: ws fan-out: %s\n", err.msg);
			return n;
		}
		if (n == 0)
			return 0;
		if (f->line_alloc < b->n + 1) {
			size_t *o = realloc(f->line_off,
					    (b->n + 1) * sizeof(*o));

			if (!o)
				return -ENOMEM;
			f->line_off = o;
			f->line_alloc = b->n + 1;
		}
		strbuf_reset(&f->lines);
		for (i = 0; i < b->n; i++) {
			f->line_off[i] = f->lines.len;
			if (strbuf_add(&f->lines, b->buf.buf + b->msgs[i].off,
				       b->msgs[i].len) ||
			    strbuf_addch(&f->lines, '\n'))
				return -ENOMEM;
		}
		f->line_off[b->n] = f->lines.len;
		f->first_id = b->msgs[0].id;
		f->last_id = b->msgs[b->n - 1].id;
		f->lines_wc = wc;
	}
	/* ids in a batch are consecutive; retention may start it later */
	*idx = cursor + 1 >= f->first_id ? (size_t)(cursor + 1 - f->first_id) : 0;
	return (int)(f->last_id - f->first_id + 1 - *idx);
}

/* Give `s` what follows its cursor, if its pipe has taken all before. */
static void sub_fill(struct wsfan *f, struct wsub *s, uint64_t last)
{
	size_t idx;
	int n;

	while (s->out_pos == s->out.len && s->cursor < last) {
		n = lines_for(f, s->wc, s->cursor, &idx);
		if (n == 0)
			return;
		if (n < 0) {
			static const char dmg[] =
				"{\"error\":\"the channel is damaged\"}\n";

			sub_send(f, s, dmg, sizeof(dmg) - 1);
			sub_drop(f, s);
			return;
		}
		s->cursor = f->last_id;
		if (sub_send(f, s, f->lines.buf + f->line_off[idx],
			     f->lines.len - f->line_off[idx])) {
			sub_drop(f, s);
			return;
		}
	}
}

static void chan_deliver(struct wsfan *f, struct wchan *wc)
{
	uint64_t last = msglog_chan_last_id(wc->c);
	struct wsub *s, *next;

	f->lines_wc = NULL;   /* the channel grew: read afresh */
	for (s = wc->subs.next; s != &wc->subs; s = next) {
		next = s->next;   /* s may be dropped; wc lives until sweep */
		sub_fill(f, s, last);
	}
}

/* ------------------------------------------------------------------ */
/* the handoff, server side                                           */

static void refuse(int fd, const char *why)
{
	(void)send(fd, why, strlen(why), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* The first packet of a new subscriber: channel, cursor and the pipe. */
static void on_hello(struct wsfan *f, struct wsub *s)
{
	char buf[HELLO_MAX + 1], cbuf[CMSG_SPACE(sizeof(int))], *name, *sp;
	struct lcerr err = LCERR_INIT;
	struct iovec iov = { buf, HELLO_MAX };
	struct msghdr mh;
	struct cmsghdr *cm;
	struct msglog_chan *c;
	struct wchan *wc;
	struct epoll_event ev;
	uint64_t cursor;
	ssize_t n;
	int pfd = -1;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	n = recvmsg(s->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	for (cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&pfd, CMSG_DATA(cm), sizeof(int));
	if (n <= 0 || pfd < 0 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		goto bad;
	buf[n] = '\0';
	if (strncmp(buf, "LCWS2 ", 6))
		goto bad;
	name = buf + 6;
	sp = strchr(name, ' ');
	if (!sp)
		goto bad;
	*sp = '\0';
	if (!msglog_name_valid(name) || parse_u64(sp + 1, 0, INT64_MAX, &cursor))
		goto bad;
	if (f->nsubs >= f->max_subs) {
		refuse(s->sock, "no busy");
		goto drop;
	}
	for (wc = f->chans; wc; wc = wc->next)
		if (!strcmp(msglog_chan_name(wc->c), name))
			break;
	if (!wc) {
		if (msglog_chan_get(f->log, name, MSGLOG_CREATE, &c, &err))
			goto fail;
		wc = calloc(1, sizeof(*wc));
		if (!wc || msglog_watch_add(&f->watch, c, &err)) {
			free(wc);
			msglog_chan_put(c);
			goto fail;
		}
		wc->c = c;
		wc->subs.next = wc->subs.prev = &wc->subs;
		wc->next = f->chans;
		f->chans = wc;
	}
	fcntl(pfd, F_SETFL, fcntl(pfd, F_GETFL) | O_NONBLOCK);
	ev.events = 0;   /* EPOLLERR and EPOLLHUP come anyway */
	ev.data.ptr = pipe_tag(s);
	if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, pfd, &ev))
		goto fail;   /* an emptied channel goes in the sweep */
	s->pipe = pfd;
	s->cursor = cursor;
	s->skip = WSFAN_PRIME_LEN;
	s->wc = wc;
	s->next = &wc->subs;
	s->prev = wc->subs.prev;
	wc->subs.prev->next = s;
	wc->subs.prev = s;
	wc->n++;
	f->nsubs++;
	if (send(s->sock, "ok", 2, MSG_NOSIGNAL | MSG_DONTWAIT) != 2) {
		sub_drop(f, s);
		return;
	}
	f->lines_wc = NULL;
	sub_fill(f, s, msglog_chan_last_id(wc->c));
	return;
fail:
	fprintf(stderr, "logcast-api: ws fan-out: %s\n",
		err.msg[0] ? err.msg : "cannot watch the pipe");
	refuse(s->sock, "no error");
	goto drop;
bad:
	refuse(s->sock, "no bad request");
drop:
	if (pfd >= 0)
		close(pfd);
	sub_drop(f, s);
}

/* A packet from a handed-over child: lines for its client. */
static void on_lines(struct wsfan *f, struct wsub *s)
{
	char buf[LINE_PKT];
	ssize_t n;

	for (;;) {
		n = recv(s->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0 || sub_send(f, s, buf, (size_t)n)) {
			sub_drop(f, s);
			return;
		}
	}
}

static void on_accept(struct wsfan *f)
{
	for (;;) {
		struct epoll_event ev;
		struct wsub *s;
		int fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				fprintf(stderr, "logcast-api: ws fan-out: accept: %s\n",
					strerror(errno));
			return;
		}
		s = calloc(1, sizeof(*s));
		if (!s) {
			close(fd);
			continue;
		}
		s->sock = fd;
		s->pipe = -1;
		strbuf_init(&s->out, 0);
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = s;
		if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			strbuf_release(&s->out);
			free(s);
		}
	}
}

static void on_watch(struct wsfan *f)
{
	struct msglog_chan *grown[64];
	struct wchan *wc, *next;
	int i, n;

	n = msglog_watch_read(&f->watch, grown, 64, NULL);
	if (n < 0)
		return;
	for (wc = f->chans; wc; wc = next) {
		next = wc->next;
		for (i = 0; i < n; i++)
			if (grown[i] == wc->c)
				break;
		if (i < n || n == 64)
			chan_deliver(f, wc);
	}
}

static void *wsfan_main(void *arg)
{
	struct wsfan *f = arg;
	struct epoll_event evs[256];

	for (;;) {
		int n = epoll_wait(f->epfd, evs, 256, -1), i;

		if (n < 0 && errno != EINTR)
			break;
		for (i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			uint32_t e = evs[i].events;
			struct wsub *s;

			if (tag == &f->tag_stop)
				return NULL;
			if (tag == &f->tag_listen) {
				on_accept(f);
				continue;
			}
			if (tag == &f->tag_watch) {
				on_watch(f);
				continue;
			}
			s = (struct wsub *)((uintptr_t)tag & ~(uintptr_t)1);
			if (s->dead)
				continue;
			if ((uintptr_t)tag & 1) {
				/* the pipe: writable again, or its reader left */
				if (e & (EPOLLERR | EPOLLHUP) || sub_flush(f, s))
					sub_drop(f, s);
				else
					sub_fill(f, s, msglog_chan_last_id(s->wc->c));
			} else if (!(e & EPOLLIN)) {
				sub_drop(f, s);   /* the child hung up */
			} else if (!s->wc) {
				on_hello(f, s);
			} else {
				on_lines(f, s);
			}
		}
		sweep(f);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */

static int epoll_add_tag(int epfd, int fd, void *tag)
{
	struct epoll_event ev;

	ev.events = EPOLLIN;
	ev.data.ptr = tag;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int wsfan_start(struct wsfan **out, struct msglog *log, unsigned max_subs,
		struct lcerr *err)
{
	struct wsfan *f = calloc(1, sizeof(*f));
	int rc;

	*out = NULL;
	if (!f)
		return lcerr_set(err, -ENOMEM, "out of memory");
	f->log = log;
	f->max_subs = max_subs;
	f->epfd = f->lfd = f->evfd = -1;
	f->watch.fd = -1;
	msglog_batch_init(&f->batch);
	strbuf_init(&f->lines, 0);
	rc = msglog_watch_init(&f->watch, err);
	if (rc)
		goto fail;
	f->lfd = wsfan_unix_socket(msglog_dir(log), WSFAN_SOCK,
				   SOCK_SEQPACKET | SOCK_NONBLOCK, 1024);
	if (f->lfd < 0) {
		rc = lcerr_sys(err, f->lfd, "cannot listen on %s/%s",
			       msglog_dir(log), WSFAN_SOCK);
		f->lfd = -1;
		goto fail;
	}
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	f->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->epfd < 0 || f->evfd < 0 ||
	    epoll_add_tag(f->epfd, f->lfd, &f->tag_listen) ||
	    epoll_add_tag(f->epfd, f->evfd, &f->tag_stop) ||
	    epoll_add_tag(f->epfd, msglog_watch_fd(&f->watch), &f->tag_watch)) {
		rc = lcerr_sys(err, -errno, "ws fan-out");
		goto fail;
	}
	rc = pthread_create(&f->thread, NULL, wsfan_main, f);
	if (rc) {
		rc = lcerr_sys(err, -rc, "cannot start the ws fan-out thread");
		goto fail;
	}
	*out = f;
	return 0;
fail:
	if (f->lfd >= 0)
		close(f->lfd);
	if (f->epfd >= 0)
		close(f->epfd);
	if (f->evfd >= 0)
		close(f->evfd);
	if (f->watch.fd >= 0)
		msglog_watch_release(&f->watch);
	msglog_batch_release(&f->batch);
	strbuf_release(&f->lines);
	free(f);
	return rc;
}

void wsfan_stop(struct wsfan *f)
{
	uint64_t one = 1;

	if (!f)
		return;
	if (write(f->evfd, &one, sizeof(one)) == sizeof(one))
		pthread_join(f->thread, NULL);
	for (struct wchan *wc = f->chans; wc; wc = wc->next)
		while (wc->n)
			sub_drop(f, wc->subs.next);
	sweep(f);
	close(f->lfd);
	close(f->epfd);
	close(f->evfd);
	msglog_watch_release(&f->watch);
	msglog_batch_release(&f->batch);
	strbuf_release(&f->lines);
	free(f->line_off);
	free(f);
}
