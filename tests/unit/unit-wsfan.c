/*
 * unit-wsfan.c - the WebSocket child's side of the fan-out handoff
 * (wsfan_handoff) against hand-made listeners: none, one that never
 * answers, one whose backlog is full, one that refuses, one that takes
 * the pipe.  Whatever the responder does, the child must learn within
 * about 2 s whether it was taken, and never hang.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "wsfan.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int listener(const char *dir, int backlog)
{
	return wsfan_unix_socket(dir, WSFAN_SOCK, SOCK_SEQPACKET, backlog);
}

/* A responder in a child process: accept one, read the hello with its
 * descriptor, answer `reply`, and with "ok" write `note` into the handed
 * pipe.  Exits 0 when the hello was "LCWS2 <chan> <cursor>" with one fd. */
static pid_t responder(int lfd, const char *expect, const char *reply,
		       const char *note)
{
	pid_t pid = fork();
	char buf[256], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;
	int c, fd = -1;

	if (pid)
		return pid;
	alarm(20);
	c = accept(lfd, NULL, NULL);
	if (c < 0)
		_exit(2);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	n = recvmsg(c, &mh, 0);
	if (n < 0)
		_exit(3);
	buf[n] = 0;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (send(c, reply, strlen(reply), 0) < 0)
		_exit(4);
	if (!strcmp(reply, "ok") && fd >= 0 &&
	    write(fd, note, strlen(note)) != (ssize_t)strlen(note))
		_exit(5);
	_exit(strcmp(buf, expect) || fd < 0 ? 6 : 0);
}

static int reaped_ok(pid_t pid)
{
	int st;

	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st);
}

/* The prime (wsfan.h): the first line loses the bytes the child wrote of
 * it already, exactly once, and a line that does not start with them is
 * refused. */
static void test_unprime(void)
{
	const char line[] = "{\"id\":1}\n", *p = line;
	size_t len = sizeof(line) - 1, primed = WSFAN_PRIME_LEN;

	ok(!wsfan_unprime(&primed, &p, &len) && p == line + 2 &&
	   len == sizeof(line) - 3 && primed == 0,
	   "unprime: the first line loses the two bytes already written");
	ok(!wsfan_unprime(&primed, &p, &len) && p == line + 2 && primed == 0,
	   "unprime: and nothing more after that");
	p = "[1]\n", len = 4, primed = WSFAN_PRIME_LEN;
	ok(wsfan_unprime(&primed, &p, &len) == -1 && primed == WSFAN_PRIME_LEN,
	   "unprime: a line that is not a JSON object is refused");
	p = "{", len = 1;
	ok(wsfan_unprime(&primed, &p, &len) == -1,
	   "unprime: so is one shorter than what was written");
	p = "{\"x\"}\n", len = 6, primed = 1;
	ok(!wsfan_unprime(&primed, &p, &len) && len == 5 && *p == '"',
	   "unprime: a part of the prime is left out as far as it goes");
}

int main(void)
{
	char dir[] = "/tmp/unit-wsfan.XXXXXX";
	char path[64], got[64];
	int p[2], lfd, fd;
	int64_t t0, ms;
	pid_t pid;
	ssize_t n;

	/* a handoff that never returns must fail the test, not hang it */
	alarm(60);
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir) || pipe(p)) {
		perror("unit-wsfan: setup");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, WSFAN_SOCK);
	test_unprime();

	ok(wsfan_handoff(dir, "c", 0, p[1]) == -ENOENT,
	   "no fan-out running: -ENOENT at once");

	/* listening, but nobody ever accepts or answers */
	lfd = listener(dir, 16);
	t0 = now_ms();
	fd = wsfan_handoff(dir, "c", 0, p[1]);
	ms = now_ms() - t0;
	ok(fd == -EBUSY, "a responder that never answers: refused (%d)", fd);
	ok(ms >= 1500 && ms <= 10000,
	   "... after the 2 s reply timeout (measured %lld ms)", (long long)ms);
	close(lfd);
	unlink(path);

	/* a full backlog (every hello left unanswered stays queued):
	 * connect() itself must not wait for ever */
	lfd = listener(dir, 1);
	t0 = now_ms();
	for (int i = 0; i < 8 && (fd = wsfan_handoff(dir, "c", 0, p[1])) != -EAGAIN; i++)
		;
	ms = now_ms() - t0;
	ok(fd == -EAGAIN, "a responder whose backlog is full: -EAGAIN (%d)", fd);
	ok(ms <= 30000, "... without hanging (measured %lld ms)", (long long)ms);
	close(lfd);
	unlink(path);

	/* an answer other than "ok" */
	lfd = listener(dir, 16);
	pid = responder(lfd, "LCWS2 chat 42", "no full", "");
	t0 = now_ms();
	fd = wsfan_handoff(dir, "chat", 42, p[1]);
	ms = now_ms() - t0;
	ok(fd == -EBUSY, "a refusing responder: -EBUSY (%d)", fd);
	ok(ms < 1500, "... at once (measured %lld ms)", (long long)ms);
	ok(reaped_ok(pid), "... and it got the hello and one descriptor");
	close(lfd);
	unlink(path);

	/* "ok": the responder now owns a copy of our pipe */
	lfd = listener(dir, 16);
	pid = responder(lfd, "LCWS2 news 7", "ok", "{\"id\":8}\n");
	fd = wsfan_handoff(dir, "news", 7, p[1]);
	ok(fd >= 0, "a responder that answers ok: the socket (%d)", fd);
	ok(reaped_ok(pid), "... it got the hello and one descriptor");
	n = read(p[0], got, sizeof(got) - 1);
	got[n > 0 ? n : 0] = 0;
	ok(!strcmp(got, "{\"id\":8}\n"), "... and wrote through it into our pipe");
	if (fd >= 0)
		close(fd);
	close(lfd);
	unlink(path);

	ok(wsfan_handoff(dir, "bad name with spaces and a very long tail "
			 "that no channel could ever have, repeated to pass any "
			 "limit of the hello line at all, really: xxxxxxxxxxxxxxx"
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
			 0, p[1]) == -EINVAL,
	   "a hello too long is refused before connecting (-EINVAL)");
	rmdir(dir);
	return tap_done();
}
