/*
 * logcast-ws - one WebSocket connection.  websocketd runs a copy per
 * socket: every line on stdin is a frame from the client, every line we
 * write to stdout becomes a text frame to it.
 *
 *   ws://HOST/ws            channel "chat"
 *   ws://HOST/ws/{ch}       channel {ch} (percent-decoded, then validated)
 *       ?since=N            every message with id > N first, then live ones;
 *                           without it, from the channel's last id when we
 *                           started
 *       ?token=T            LOGCAST_PUBLISH_TOKEN, needed to publish (only
 *                           when it is set; subscribing never needs it)
 *
 * To the client: each message as its envelope, exactly as the log returns
 * it, one line each; or {"error":"..."}.  Nothing else (no heartbeats).
 * From the client: each line is one publish to the channel.  A bad line,
 * an oversized one (LOGCAST_MAX_BODY, default 64 KiB: the rest of it is
 * read and thrown away, never buffered) or a refused one is answered with
 * an error line and the connection stays up; a good one is answered by
 * nothing but the message itself, which comes back through the
 * subscription like for every other subscriber.  An invalid channel or
 * `since` is one error line and the end.
 *
 * websocketd hands us lines, not frames: a frame holding newlines arrives
 * as several lines and each is judged alone.  Pretty-printed JSON is thus
 * refused (one error per line), but a frame "1\n2" would be two publishes;
 * nothing down here can tell it from two frames.  (A binary frame comes
 * with no newline at all and runs into the next frame.)
 *
 * Per-connection cost is what matters (thousands of these run at once,
 * and a publish reaches all of them), so this process is one thread with
 * no inotify instance, no extra descriptor and no big static buffer, and
 * it gives large buffers back once they are drained.
 *
 * Output, two ways:
 *  - handed over (the usual case): when the FastCGI responder's fan-out
 *    listens on the data directory (wsfan.h), our stdout pipe goes to it
 *    with the channel and cursor, and it writes every message into the
 *    pipe itself.  A publish then wakes no process per socket at all; we
 *    sleep in ppoll() on stdin and on the fan-out's socket, and send our
 *    error lines through it so they land between two messages.
 *  - by ourselves (no fan-out, or it refused): we sleep on the log's futex
 *    (msglog_wait_kick) and nothing else: stdin is O_ASYNC, so the kernel
 *    sends SIGIO when a frame arrives or the client goes, and that handler,
 *    like the stop signals', only sets a flag and bumps the kick word the
 *    futex wait also watches.  One wake-up, a pread() and a write() per
 *    message; only while the client does not read its output do we poll
 *    stdin and stdout instead.
 * Either way, once the request is known to be good we write the first
 * two bytes of the first line, `{"` (every line is a JSON object), and
 * that line later goes out without them: see "the prime" in wsfan.h.
 *
 * Stopping: stdin EOF (the client went away; websocketd closes stdin, and
 * signals only 100 ms later) or SIGINT/SIGTERM/SIGHUP.  The handlers are
 * SA_RESTART and only set flags, so a stop request is seen at the top of
 * the loop and never in the middle of an append; stdout is non-blocking,
 * so a client that does not read cannot keep us from noticing it left.
 *
 * Nothing secret is ever printed: the token is compared once in constant
 * time and wiped, and stderr (which websocketd logs) gets only reasons
 * that never include the query string.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define LC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LC_ASAN 1
#endif
#endif
#ifdef LC_ASAN
#include <sanitizer/lsan_interface.h>
#endif

#include "fdio.h"
#include "json.h"
#include "msglog.h"
#include "query.h"
#include "stats.h"
#include "strbuf.h"
#include "token.h"
#include "watch.h"
#include "wsfan.h"

#define READ_MSGS   1000            /* messages per msglog_read() */
#define READ_BYTES  (256 * 1024)    /* envelope bytes per msglog_read() */
#define IN_CHUNK    8192            /* stdin bytes per read() */
#define OUT_HIGH    (256 * 1024)    /* stop reading frames above this backlog */
#define KEEP_BYTES  (64 * 1024)     /* give back idle buffers larger than this */
#define LINGER_MS   20              /* see linger_exit() */
#define NOASYNC_MS  100             /* look at stdin this often without O_ASYNC */

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t input_signal;
static _Atomic uint32_t kick;      /* bumped by every handler below */

static void on_stop(int sig)
{
	stop_signal = sig;
	atomic_fetch_add(&kick, 1);
}

static void on_input(int sig)
{
	(void)sig;
	input_signal = 1;
	atomic_fetch_add(&kick, 1);
}

struct conn {
	struct msglog_chan *chan;
	uint64_t cursor;            /* last id sent (or skipped) */
	size_t max_data;
	int may_publish;

	struct strbuf line;         /* the frame being received */
	int discarding;             /* inside an oversized frame */
	int in_more;                /* stdin may have bytes (or EOF) */
	int in_eof;

	struct strbuf out;          /* lines not yet written to stdout */
	size_t out_pos;
	size_t primed;              /* bytes of the prime already written */
	int out_dead;

	struct msglog_batch batch;
};

/* stderr goes to websocketd's log: reasons only, never the query */
static void say(const char *what, const char *detail)
{
	fprintf(stderr, "logcast-ws: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
}

/* Append {"error":"<reason>"}\n to `sb`. */
static int add_error_line(struct strbuf *sb, const char *reason)
{
	size_t len = sb->len;

	if (strbuf_addstr(sb, "{\"error\":") ||
	    json_add_string(sb, reason, strlen(reason)) ||
	    strbuf_addstr(sb, "}\n")) {
		strbuf_setlen(sb, len);
		return -ENOMEM;
	}
	return 0;
}

/* Before the loop: one error line, then the caller exits. */
static void fatal_frame(const char *reason)
{
	struct strbuf sb;

	strbuf_init(&sb, 4096);
	if (!add_error_line(&sb, reason))
		(void)fdio_write_all(1, sb.buf, sb.len);
	strbuf_release(&sb);
}

static void shrink(struct strbuf *sb)
{
	if (sb->alloc > KEEP_BYTES)
		strbuf_release(sb);
	else
		strbuf_reset(sb);
}

static void queue_error(struct conn *c, const char *reason)
{
	if (c->in_eof || c->out_dead)
		return;    /* nobody to tell */
	if (add_error_line(&c->out, reason))
		say("out of memory for an error frame", NULL);
}

static size_t out_pending(const struct conn *c)
{
	return c->out.len - c->out_pos;
}

/* Write what stdout takes now.  0, or -1 when the client is gone. */
static int flush_out(struct conn *c)
{
	if (c->primed && out_pending(c)) {
		/* the first line: its start went out at connect time */
		const char *p = c->out.buf + c->out_pos;
		size_t len = out_pending(c);

		if (wsfan_unprime(&c->primed, &p, &len)) {
			say("a line that is not a JSON object", NULL);
			c->out_dead = 1;
			return -1;
		}
		c->out_pos = (size_t)(p - c->out.buf);
	}
	while (out_pending(c)) {
		ssize_t n = write(1, c->out.buf + c->out_pos, out_pending(c));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			c->out_dead = 1;
			return -1;
		}
		c->out_pos += (size_t)n;
	}
	c->out_pos = 0;
	shrink(&c->out);
	return 0;
}

/*
 * Read the next messages after the cursor into the output, one envelope
 * and "\n" each.  Retention may have dropped some: msglog_read() then
 * starts at the first retained one, and the ids tell the client.  Number
 * of messages, or negative (reason in err).
 */
static int fill_out(struct conn *c, struct lcerr *err)
{
	struct msglog_batch *b = &c->batch;
	size_t i;
	int n;

	n = msglog_read(c->chan, c->cursor, READ_MSGS, READ_BYTES, b, err);
	if (n <= 0)
		return n;
	for (i = 0; i < b->n; i++) {
		if (strbuf_add(&c->out, b->buf.buf + b->msgs[i].off,
			       b->msgs[i].len) ||
		    strbuf_addch(&c->out, '\n'))
			return lcerr_set(err, -ENOMEM, "out of memory");
	}
	c->cursor = b->msgs[b->n - 1].id;
	if (b->buf.alloc > KEEP_BYTES || b->scratch.alloc > 2 * KEEP_BYTES)
		msglog_batch_release(b);
	return n;
}

static void publish(struct conn *c, const char *data, size_t len)
{
	struct lcerr err = LCERR_INIT;
	int rc;

	if (!c->may_publish) {
		queue_error(c, "missing or wrong token");
		return;
	}
	rc = msglog_append(c->chan, data, len, NULL, 0, NULL, NULL, &err);
	if (rc < 0)
		queue_error(c, err.msg[0] ? err.msg : strerror(-rc));
}

static void too_big(struct conn *c)
{
	char reason[96];

	snprintf(reason, sizeof(reason),
		 "message is larger than the limit of %zu bytes", c->max_data);
	queue_error(c, reason);
}

/*
 * Read what stdin has and publish every complete line.  A line longer
 * than max_data is answered at once and the rest of it is skipped as it
 * arrives, so at most max_data bytes of a frame are ever held.
 */
static void read_input(struct conn *c)
{
	char chunk[IN_CHUNK];
	ssize_t n;
	char *p, *end;

	n = read(0, chunk, sizeof(chunk));
	if (n < 0) {
		if (errno == EAGAIN)
			c->in_more = 0;
		else if (errno != EINTR)
			c->in_eof = 1;
		return;
	}
	if (n == 0) {
		c->in_eof = 1;
		return;
	}
	for (p = chunk, end = chunk + n; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);

		if (c->discarding) {
			;
		} else if (len > c->max_data - c->line.len) {
			c->discarding = 1;
			shrink(&c->line);
			too_big(c);
		} else if (strbuf_add(&c->line, p, len)) {
			c->discarding = 1;
			shrink(&c->line);
			queue_error(c, "out of memory");
		}
		if (!nl)
			break;
		if (!c->discarding)
			publish(c, c->line.buf, c->line.len);
		c->discarding = 0;
		shrink(&c->line);
		p = nl + 1;
	}
}

/*
 * The channel from the request path: /ws is "chat", /ws/{ch} is {ch}.
 * REQUEST_URI is the raw path (websocketd's PATH_INFO is already decoded
 * once, and decoding it again would turn %2541 into "A"), so it is
 * decoded here exactly once; PATH_INFO is the fallback.
 */
static int channel_from_env(char *name, size_t size)
{
	const char *uri = getenv("REQUEST_URI");
	const char *path = uri;
	size_t len;
	int decode = 1;

	if (!path || !*path) {
		path = getenv("PATH_INFO");
		decode = 0;
	}
	if (!path)
		return -EINVAL;
	len = strcspn(path, "?#");
	if (len == 3 && !memcmp(path, "/ws", 3)) {
		snprintf(name, size, "chat");
		return 0;
	}
	if (len <= 4 || memcmp(path, "/ws/", 4))
		return -EINVAL;
	path += 4;
	len -= 4;
	if (decode) {
		if (url_decode(path, len, name, size, 0) < 0)
			return -EINVAL;
	} else {
		if (len >= size)
			return -EINVAL;
		memcpy(name, path, len);
		name[len] = '\0';
	}
	return msglog_name_valid(name) ? 0 : -EINVAL;
}

/* Is this connection allowed to publish?  The token is wiped after. */
static int publish_allowed(const char *qs)
{
	const char *want = getenv("LOGCAST_PUBLISH_TOKEN");
	size_t size;
	char *given;
	int ok;

	if (!want || !*want)
		return 1;
	size = qs ? strlen(qs) + 1 : 1;   /* a decoded value is never longer */
	given = malloc(size);
	if (!given)
		return 0;
	ok = query_get(qs, "token", given, size) == 1 &&
	     token_check(given, want);
	explicit_bzero(given, size);
	free(given);
	return ok;
}

/*
 * The client does not take our output: wait for stdout to drain, for a
 * frame (while the backlog allows reading), for the client to go (POLLHUP
 * comes even with no events asked) or for a stop signal, which is blocked
 * from the check until ppoll() so it cannot slip in between.  0, or -1
 * when the client is gone.
 */
static int wait_output(struct conn *c, const sigset_t *stops)
{
	struct pollfd pfd[2];
	sigset_t old;
	int rc = 0;

	pfd[0].fd = 0;
	pfd[0].events = out_pending(c) < OUT_HIGH ? POLLIN : 0;
	pfd[1].fd = 1;
	pfd[1].events = POLLOUT;
	pfd[0].revents = pfd[1].revents = 0;
	sigprocmask(SIG_BLOCK, stops, &old);
	if (!stop_signal && ppoll(pfd, 2, NULL, &old) < 0 && errno != EINTR) {
		say("poll", strerror(errno));
		rc = -1;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pfd[0].revents)
		c->in_more = 1;
	if (pfd[1].revents & (POLLERR | POLLHUP | POLLNVAL))
		rc = -1;
	return rc;
}

static void run(struct conn *c, const sigset_t *stops, int idle_ms)
{
	struct lcerr err = LCERR_INIT;

	c->in_more = 1;
	for (;;) {
		uint32_t k = atomic_load(&kick);   /* before the flags */
		int rc;

		if (stop_signal)
			return;
		if (input_signal) {
			input_signal = 0;
			c->in_more = 1;
		}
		if (c->in_more && out_pending(c) < OUT_HIGH) {
			read_input(c);
			if (c->in_eof)
				return;   /* every complete line was published */
		}
		if (!out_pending(c) && c->cursor < msglog_chan_last_id(c->chan)) {
			rc = fill_out(c, &err);
			if (rc < 0) {
				/* a damaged log: no gapless stream is possible;
				 * say why (if stdout takes it now) and stop */
				say(err.msg, NULL);
				c->out_pos = 0;
				strbuf_reset(&c->out);
				queue_error(c, err.msg);
				flush_out(c);
				return;
			}
		}
		if (out_pending(c) && flush_out(c))
			return;
		if (c->in_more && out_pending(c) < OUT_HIGH)
			continue;
		if (out_pending(c)) {
			if (wait_output(c, stops))
				return;
			continue;
		}
		if (c->cursor < msglog_chan_last_id(c->chan))
			continue;
		rc = msglog_wait_kick(c->chan, c->cursor, &kick, k, idle_ms);
		if (rc == 0)
			c->in_more = 1;   /* NOASYNC_MS passed: look at stdin */
		else if (rc < 0 && rc != -EINTR) {
			say("wait", strerror(-rc));
			return;
		}
	}
}

/* Send the queued error lines to the fan-out, whole lines per packet.
 * 0, or -1 when it is gone. */
static int send_lines(struct conn *c, int sock)
{
	while (c->out_pos < c->out.len) {
		const char *p = c->out.buf + c->out_pos;
		size_t len = c->out.len - c->out_pos, cut = len;
		ssize_t n;

		if (cut > 16384) {
			const char *nl = memrchr(p, '\n', 16384);

			cut = nl ? (size_t)(nl - p) + 1 : 16384;
		}
		n = send(sock, p, cut, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		c->out_pos += (size_t)n;
	}
	c->out_pos = 0;
	shrink(&c->out);
	return 0;
}

/*
 * Our stdout belongs to the fan-out now: it writes every message there.
 * We publish the client's frames, pass error lines on, and wait (for
 * stdin, for the fan-out to hang up, for a stop signal) in ppoll() only.
 */
static void run_handed(struct conn *c, int sock, const sigset_t *stops)
{
	for (;;) {
		struct pollfd pfd[2];
		sigset_t old;
		int rc = 0;

		pfd[0].fd = 0;
		pfd[0].events = POLLIN;
		pfd[1].fd = sock;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		sigprocmask(SIG_BLOCK, stops, &old);
		if (!stop_signal)
			rc = ppoll(pfd, 2, NULL, &old);
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (stop_signal)
			return;
		if (rc < 0 && errno != EINTR) {
			say("poll", strerror(errno));
			return;
		}
		if (pfd[1].revents)
			return;   /* the fan-out dropped us or stopped */
		if (pfd[0].revents) {
			c->in_more = 1;
			while (c->in_more && !c->in_eof)
				read_input(c);
			if (send_lines(c, sock) || c->in_eof)
				return;
		}
	}
}

/*
 * websocketd 0.4.1 reaps a child and closes its ends of the stdout and
 * stderr pipes while its reader goroutines may still be in read(); they
 * then log "Unexpected error while reading STDOUT ... file already closed"
 * at ERROR level, with the request URL (and its ?token=) in the line.
 * Closing both pipes first and exiting a moment later lets the readers see
 * a plain EOF instead, which websocketd logs at debug level only.
 */
static void linger_exit(const sigset_t *stops, int sock)
{
	struct timespec t = { 0, LINGER_MS * 1000000L };

	sigprocmask(SIG_BLOCK, stops, NULL);
	if (sock >= 0)
		close(sock);   /* the fan-out closes our stdout pipe now */

#ifdef LC_ASAN
	__lsan_do_leak_check();   /* now, while stderr is still there */
#endif
	close(1);
	close(2);
	nanosleep(&t, NULL);
}

int main(void)
{
	struct conn c;
	struct lcerr err = LCERR_INIT;
	struct msglog_opts opts;
	struct msglog *log = NULL;
	struct stats *st = NULL;
	struct sigaction sa;
	sigset_t stops;
	char name[MSGLOG_NAME_MAX + 1];
	const char *dir, *qs;
	uint64_t since = 0;
	int rc, have_since, counted = 0, idle_ms = -1, fl, sock = -1;

	/* the data directory is shared with the web server's user */
	umask(0007);

	/* Stop signals and SIGIO (stdin): caught with SA_RESTART; the
	 * handlers only set flags and bump the kick word (see run()). */
	sigemptyset(&stops);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGHUP);
	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_input;
	sigaction(SIGIO, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	/* big buffers (a catch-up, a large frame) go back to the kernel
	 * when released instead of staying in the heap of every child */
	mallopt(M_MMAP_THRESHOLD, KEEP_BYTES);
	mallopt(M_TRIM_THRESHOLD, KEEP_BYTES);

	memset(&c, 0, sizeof(c));
	strbuf_init(&c.line, 0);
	strbuf_init(&c.out, 0);
	msglog_batch_init(&c.batch);

	dir = getenv("LOGCAST_DATA_DIR");
	if (!dir || !*dir) {
		fatal_frame("server misconfigured: LOGCAST_DATA_DIR is not set");
		goto out;
	}
	if (channel_from_env(name, sizeof(name))) {
		fatal_frame("invalid channel name: it must match "
			    "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$");
		goto out;
	}
	qs = getenv("QUERY_STRING");
	rc = query_get_u64(qs, "since", 0, INT64_MAX, &since);
	if (rc < 0) {
		fatal_frame("since must be an integer from 0 to "
			    "9223372036854775807");
		goto out;
	}
	have_since = rc == 1;
	c.may_publish = publish_allowed(qs);

	if (msglog_opts_from_env(&opts, &err)) {
		say(err.msg, NULL);
		fatal_frame(err.msg);
		goto out;
	}
	c.max_data = opts.max_data;
	if (msglog_open(&log, dir, &opts, &err)) {
		say(err.msg, NULL);
		fatal_frame("cannot open the message log");
		goto out;
	}
	rc = msglog_chan_get(log, name, MSGLOG_CREATE, &c.chan, &err);
	if (rc) {
		say(err.msg, NULL);
		fatal_frame(rc == -EBADMSG ? "the channel is damaged"
					   : "cannot open the channel");
		goto out;
	}
	c.cursor = have_since ? since : msglog_chan_last_id(c.chan);

	if (stats_open(&st, dir, &err))
		say(err.msg, NULL);   /* counting is best effort */
	stats_add(st, STATS_WS_CONNECTIONS, 1);
	counted = 1;

	if (fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK) < 0) {
		say("stdout", strerror(errno));
		goto out;
	}
	/* Hand stdout to the fan-out of the FastCGI responder if one runs
	 * on this data directory (wsfan.h); fd 1 then points at /dev/null. */
	fl = fcntl(0, F_GETFL);
	if (fl < 0 || fcntl(0, F_SETFL, fl | O_NONBLOCK) < 0) {
		say("stdin", strerror(errno));
		goto out;
	}
	/* The connection is good: start its first line now (the prime,
	 * wsfan.h), so websocketd makes its first read of our output while
	 * the client connects and not when the first message comes. */
	if (write(1, WSFAN_PRIME, WSFAN_PRIME_LEN) != WSFAN_PRIME_LEN)
		goto out;   /* the client is gone already */
	c.primed = WSFAN_PRIME_LEN;
	sock = wsfan_handoff(dir, name, c.cursor, 1);
	if (sock >= 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null < 0 || dup2(null, 1) < 0) {
			say("/dev/null", strerror(errno));
			goto out;
		}
		close(null);
		c.out_dead = 0;
		run_handed(&c, sock, &stops);
		goto out;
	}
	/* stdin: non-blocking, and SIGIO when it has bytes or EOF; where
	 * the kernel cannot do that for it, look every NOASYNC_MS */
	if (fcntl(0, F_SETOWN, getpid()) < 0 ||
	    fcntl(0, F_SETFL, fl | O_NONBLOCK | O_ASYNC) < 0)
		idle_ms = NOASYNC_MS;
	run(&c, &stops, idle_ms);
out:
	if (counted)
		stats_add(st, STATS_WS_CONNECTIONS, -1);
	stats_close(st);
	msglog_chan_put(c.chan);
	msglog_close(log);
	msglog_batch_release(&c.batch);
	strbuf_release(&c.line);
	strbuf_release(&c.out);
	linger_exit(&stops, sock);
	return 0;
}
