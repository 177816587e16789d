/*
 * fanout.c - publish->delivery latency of one channel to N subscribers.
 *
 * logcast's own fan-out benchmark client.  It opens N subscriber
 * connections to one channel (long-poll, Server-Sent Events or
 * WebSocket), then publishes R messages one at a time and measures, for
 * every subscriber and every message, the time from "publish request
 * written" to "complete message read".  The same client drives logcast
 * (--target logcast, the default) and Nchan (--target nchan), the peer
 * logcast is compared with, so both are measured the same way.
 *
 * Usage:
 *
 *	fanout --mode longpoll|sse|ws --clients N --rounds R --port P
 *	       --path SUBSCRIBE_PATH --publish-path PUBLISH_PATH [options]
 *	fanout --self-test
 *	fanout --help                      (lists every option)
 *
 *	fanout --mode sse --clients 1000 --rounds 20 --port 8080 \
 *	       --path /api/channels/bench/events \
 *	       --publish-path /api/channels/bench/messages --json
 *	fanout --target nchan --mode ws --clients 4000 --rounds 20 \
 *	       --port 18080 --path /sub/bench --publish-path /pub/bench
 *
 * Exit status: 0 when every expected delivery happened and there was no
 * error, 1 otherwise, 2 for a usage error.
 *
 * Design
 *
 * One thread, one epoll set, level-triggered, non-blocking sockets.  Each
 * subscriber is a small state machine (struct conn): connecting -> request
 * written -> response head -> body (long-poll, SSE) or frames (WebSocket).
 * Incoming bytes pass through incremental parsers that accept any split:
 * the HTTP head is collected until its blank line, a chunked body is
 * de-chunked byte by byte (chunk sizes, extensions, trailers), SSE lines
 * and long-poll bodies are collected in a per-connection buffer, and
 * WebSocket frames are parsed header byte by header byte with payloads
 * copied straight into the message being assembled.  Every per-connection
 * buffer grows on demand up to MSG_MAX (128 KiB); anything larger (a
 * head, an SSE event, a long-poll body, a WebSocket message) is a protocol
 * error, never unbounded growth.
 *
 * Measurement protocol:
 *
 *  1. Learn where the channel stands (see "Starting point" below), sample
 *     the server's RSS/PSS ("idle").
 *  2. Connect the N subscribers in batches of --batch (non-blocking
 *     connect; a batch is done when every member is subscribed or failed,
 *     or --timeout-ms passed), --batch-gap-ms between batches.  Wait
 *     --settle-ms, sample RSS/PSS again ("held").  (held - idle) / N is
 *     the server's memory per held subscriber.
 *  3. Each round: connect a fresh publisher (before t0), write
 *     "POST --publish-path" with --publish-body and Connection: close,
 *     t0 = right after the write.  A subscriber's latency is the time of
 *     the epoll_wait() return that delivered the last byte of its message,
 *     minus t0 (the client's work on other sockets of the same wake-up is
 *     not counted; its queueing over earlier wake-ups is).  The round ends
 *     when every subscriber has the message or --timeout-ms passed (or the
 *     rest are dead), then --round-gap-ms passes with the loop running.
 *  4. Server CPU = utime+stime of --cpu-pids (default: the --rss-pids)
 *     from just before the first publish to the last delivery of the last
 *     round; the client's own CPU over the same window from getrusage().
 *
 * Deliveries.  logcast: the message of a round is identified by its id: a
 * subscriber counts a delivery when it receives an id above its cursor
 * (the highest id it has seen) and above the ids of earlier rounds; an id
 * at or below the cursor is "stale" (a replay), a new id arriving outside
 * its round is "late".  Nchan gives no usable id to compare, so a
 * delivery is the first message a subscriber receives during the round.
 *
 * logcast protocol (its public contract):
 *   longpoll  GET <path>?since=<cursor>&timeout=120 ; 200 = JSON array of
 *             envelopes {"id":N,"channel":..,"time":..,"data":..}, the
 *             highest top-level "id" becomes the cursor; 204 = timed out.
 *             The next GET goes out at once, on the same connection when
 *             the response allows keep-alive, else on a new one.
 *   sse       GET <path>, Accept: text/event-stream, Last-Event-ID:
 *             <cursor>; events "id: N" + "data: <envelope>", ":" comments.
 *             Lines end in LF or CRLF (a bare CR is not taken as a line
 *             end: neither logcast nor Nchan sends one).
 *   ws        RFC 6455 GET <path>?since=<cursor> (unless <path> has a
 *             since= already); every text/binary message is one
 *             envelope.  The "id:" of an SSE event and the envelope's
 *             "id" must agree.
 *   The envelope "id" is found structurally (top-level key of the
 *   envelope object), so an "id" inside "data" is never mistaken for it.
 *
 * Nchan protocol (libnginx-mod-nchan 1.3.6): subscriber GET /sub/<chan>,
 * publisher POST /pub/<chan>.  Long-poll carries the position in the
 * Last-Modified/Etag of each response, sent back as If-Modified-Since/
 * If-None-Match; EventSource events have "id: TIME:TAG"; websocket
 * frames carry the raw published body.
 *
 * Starting point.  Subscribers must wait for the NEXT message, not get an
 * old one at connect time:
 *  - logcast: one short poll of --cursor-path (default derived from
 *    --path: /api/channels/<chan>/messages?limit=1) gives the channel's
 *    last id, from the X-Last-Id header if present, else the highest
 *    envelope id of the body ([] = 0).  --since N skips the lookup.
 *  - Nchan: as measured on Nchan 1.3.6, `nchan_subscriber_first_message
 *    newest` already makes a subscriber without a message id wait for the
 *    next message (it does not replay the newest stored one).  fanout
 *    still asks the publisher location (GET --publish-path, Accept:
 *    text/json) for the channel's "last_message_id" TIME:TAG and, when the
 *    channel exists, starts long-poll subscribers with If-Modified-Since:
 *    <TIME as HTTP date> / If-None-Match: TAG and SSE/ws subscribers with
 *    Last-Event-ID: TIME:TAG - which Nchan honours - so the run is right
 *    whatever first_message policy the server uses.  A 404 (no channel
 *    yet) means there is nothing to skip.
 *
 * Sockets are closed with RST (SO_LINGER 0) so repeated runs and long-poll
 * reconnects leave no TIME_WAIT pile-up; SIGPIPE is ignored.  The
 * RLIMIT_NOFILE soft limit is raised to the hard limit at start.
 * Only IPv4 addresses are accepted for --host.
 *
 * Output.  A summary on stderr; with --json also one object on stdout:
 * expected, delivered, missed (= timeouts: expected deliveries that did
 * not happen in their round), rounds_timed_out, errors {total, connect,
 * http, protocol} (connect failures and subscriptions not made within
 * --timeout-ms, non-2xx/101 statuses of subscribers and publishers,
 * everything malformed or closed under us), stale / late / extra
 * (replayed ids, messages outside their round, second new messages in a
 * round: reported, not errors), reconnects (long-poll only), latency_ms
 * {p50, p90, p99, max, mean} (nearest rank, pooled; p99_warm: the p99
 * of rounds 2..R, null for one round: the first message to each new
 * subscriber may cost the servers more than the later ones), round_max_ms[],
 * round_delivered[], connect_s, window_s, server_cpu_s, client_cpu_s,
 * server_{rss,pss}_{idle,held}_kb, server_{rss,pss}_per_client_kb
 * ((held - idle) / N), ok.  Values that could not be measured are null.
 *
 * --self-test feeds canned byte streams (chunked SSE with CRLF, long-poll
 * keep-alive/close, WebSocket 7/16/64-bit lengths, fragmentation with
 * interleaved pings, close frames, malformed input) through the parsers,
 * split at every position, and checks SHA-1/base64 against known vectors.
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o fanout fanout.c
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MSG_MAX		(128 * 1024)	/* head, body, SSE event, ws message */
#define REQ_MAX		4096		/* one subscriber request */
#define PATH_MAX_LEN	1024
#define BODY_MAX	65536		/* --publish-body */
#define HDR_VAL_MAX	64		/* kept header values (Etag, ...) */
#define MAX_PIDS	64
#define MAX_EVENTS	1024
#define NPUB		4		/* publisher connection slots */
#define ERR_SHOW	10		/* error messages printed in detail */
#define KEEP_BUF	4096		/* emptied buffers up to this stay allocated */
#define JSON_DEPTH	64
#define KSTACK_KB	16		/* x86-64 kernel stack per thread */

#define NS_PER_MS	1000000ULL
#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum mode { MODE_LONGPOLL, MODE_SSE, MODE_WS };
enum target { TARGET_LOGCAST, TARGET_NCHAN };
enum role { ROLE_SUB, ROLE_PUB, ROLE_PROBE };
enum cstate {
	ST_IDLE,		/* no socket */
	ST_CONNECTING,		/* non-blocking connect in progress */
	ST_HEAD,		/* request sent (or queued), reading the head */
	ST_BODY,		/* reading a body or an event stream */
	ST_WS,			/* reading WebSocket frames */
	ST_DONE,		/* probe/publisher: response complete */
	ST_DEAD,		/* failed, closed for good */
};
enum framing { FR_NONE, FR_LENGTH, FR_CHUNKED, FR_EOF };
enum chunk_state {
	CK_SIZE0, CK_SIZE, CK_EXT, CK_SIZE_LF, CK_DATA, CK_DATA_CR,
	CK_DATA_LF, CK_TRAILER_BOL, CK_TRAILER_LINE, CK_END_LF,
};
enum err_kind { ERR_CONNECT, ERR_HTTP, ERR_PROTO, ERR_KINDS };

static const char *const err_names[ERR_KINDS] = {
	"connect", "http", "protocol",
};

struct buf {
	char *p;
	size_t len, cap;
};

struct conn {
	int fd;
	uint32_t idx;		/* subscribers 0..N-1, publishers N.. */
	uint32_t gen;		/* bumped for every new socket */
	uint8_t role, state, framing, chunk_st;
	uint8_t keep_alive, settled, sse_has_id, ws_in_payload;
	uint8_t ws_hlen, ws_op, ws_fin, ws_msg_op;
	uint16_t status;
	uint32_t got_round;	/* last round delivered to this subscriber */
	uint32_t responses;	/* long-poll: responses on this socket */
	uint64_t remaining;	/* body bytes left / chunk size */
	uint64_t ws_left;	/* payload bytes left in this frame */
	uint64_t cursor;	/* logcast: highest id seen */
	uint64_t sse_id;
	size_t head_scan;
	struct buf in;		/* head, then body / SSE text / ws control */
	struct buf msg;		/* SSE data or ws message being assembled */
	struct buf out;		/* request bytes not yet written */
	unsigned char ws_hdr[14];
	char accept[32];	/* expected Sec-WebSocket-Accept */
	char last_mod[HDR_VAL_MAX];	/* nchan long-poll position */
	char etag[HDR_VAL_MAX];
	char xlast[HDR_VAL_MAX];	/* probe: X-Last-Id */
};

struct options {
	enum mode mode;
	enum target target;
	uint64_t clients, rounds;
	char host[64];
	struct sockaddr_in addr;
	unsigned port;
	const char *path, *publish_path, *publish_body, *cursor_path;
	uint64_t batch, batch_gap_ms, settle_ms, timeout_ms, round_gap_ms;
	int have_since;
	uint64_t since;
	int rss_pids[MAX_PIDS], n_rss;
	int cpu_pids[MAX_PIDS], n_cpu;
	int tree;		/* --rss-tree: the pids and all their descendants */
	int await_children;	/* --await-children */
	int json;
};

struct mem_sample {
	int ok;
	uint64_t rss_kb, pss_kb;	/* VmRSS, Pss (smaps_rollup) */
	uint64_t hwm_kb;		/* VmHWM: each process's peak RSS */
	uint64_t pte_kb;		/* VmPTE: page tables (kernel memory) */
	uint64_t threads, procs;	/* each thread has a kernel stack */
};

static struct {
	struct options opt;
	int ep;
	int selftest;
	struct conn *subs;
	struct conn pubs[NPUB];
	char *pub_req;
	size_t pub_req_len;
	char rbuf[65536];	/* read scratch */
	char hbuf[MSG_MAX];	/* a complete response head */

	uint64_t now, t0;
	int in_round;
	uint32_t round;
	uint64_t round_delivered, dead_pending, dead_subs;
	uint32_t round_max_us;
	uint64_t round_id, prev_round_id;
	uint64_t last_delivery;
	uint64_t pending;	/* current connect batch, not yet settled */

	uint64_t start_cursor;		/* logcast */
	char nchan_id[HDR_VAL_MAX];	/* nchan: TIME:TAG or "" */
	char nchan_date[HDR_VAL_MAX];
	char nchan_tag[HDR_VAL_MAX];

	uint32_t *lat;		/* microseconds, one per delivery */
	uint64_t nlat, lat_cap;
	uint32_t *round_max;	/* per round, microseconds */
	uint64_t warm_from;	/* lat[] index of round 2's first delivery */
	uint64_t *round_got;

	uint64_t err[ERR_KINDS];
	uint64_t errors_shown;
	uint64_t stale, late, extra, reconnects, missed, rounds_timed_out;

	/* self-test capture */
	struct buf cap;
	uint64_t tlog[64];
	size_t ntlog;
} g;

/* ---------------------------------------------------------------- utils */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("fanout: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("fanout: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'fanout --help'.\n", stderr);
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		die("out of memory (%zu bytes)", n);
	return q;
}

/* Strict unsigned decimal: digits only, no sign, no blanks, in range. */
static int parse_u64(const char *s, size_t n, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Append formatted text to a fixed buffer; -1 when it would not fit. */
static int bput(char *b, size_t cap, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bput(char *b, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= cap)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(b + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

static int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n > MSG_MAX - b->len)
		return -1;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;

		while (cap < b->len + n)
			cap *= 2;
		if (cap > MSG_MAX)
			cap = MSG_MAX;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Drop the first n bytes; give big emptied buffers back. */
static void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		if (b->cap > KEEP_BUF)
			buf_free(b);
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

static void buf_reset(struct buf *b)
{
	buf_consume(b, b->len);
}

static int ci_prefix(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n >= l && strncasecmp(s, lit, l) == 0;
}

static int ci_equal(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && strncasecmp(s, lit, n) == 0;
}

/* Does a comma-separated header value contain token lit? */
static int has_token(const char *v, size_t n, const char *lit)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && ci_equal(v + s, e - s, lit))
			return 1;
	}
	return 0;
}

static int copy_value(char *dst, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

/* ------------------------------------------------------ SHA-1, base64 */

static uint32_t rol32(uint32_t x, int s)
{
	return (x << s) | (x >> (32 - s));
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80], a, b, c, d, e;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (i = 0; i < 80; i++) {
		uint32_t f, k, t;

		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5A827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ED9EBA1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
		else
			f = b ^ c ^ d, k = 0xCA62C1D6;
		t = rol32(a, 5) + f + e + k + w[i];
		e = d, d = c, c = rol32(b, 30), b = a, a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

static void sha1(const void *data, size_t len, unsigned char out[20])
{
	uint32_t h[5] = {
		0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0,
	};
	const unsigned char *p = data;
	unsigned char tail[128];
	size_t full = len / 64 * 64, rest = len - full, tl;
	uint64_t bits = (uint64_t)len * 8;

	for (size_t i = 0; i < full; i += 64)
		sha1_block(h, p + i);
	memset(tail, 0, sizeof(tail));
	if (rest)
		memcpy(tail, p + full, rest);
	tail[rest] = 0x80;
	tl = rest + 1 + 8 <= 64 ? 64 : 128;
	for (int i = 0; i < 8; i++)
		tail[tl - 1 - i] = (unsigned char)(bits >> (8 * i));
	sha1_block(h, tail);
	if (tl == 128)
		sha1_block(h, tail + 64);
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char)(h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(h[i] >> 8);
		out[4 * i + 3] = (unsigned char)h[i];
	}
}

/* out must hold 4 * ((n + 2) / 3) + 1 bytes. */
static void base64_encode(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
}

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)). */
static void ws_accept_for(const char *key, char out[29])
{
	char cat[64 + sizeof(WS_GUID)];
	unsigned char dig[20];
	size_t kl = strlen(key);

	if (kl > 64)
		kl = 64;
	memcpy(cat, key, kl);
	memcpy(cat + kl, WS_GUID, sizeof(WS_GUID) - 1);
	sha1(cat, kl + sizeof(WS_GUID) - 1, dig);
	base64_encode(dig, sizeof(dig), out);
}

static uint64_t rng_state;

static uint32_t rng32(void)
{
	uint64_t x = rng_state;

	x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	rng_state = x;
	return (uint32_t)(x >> 16);
}

static void rng_init(void)
{
	if (getrandom(&rng_state, sizeof(rng_state), 0) != sizeof(rng_state))
		rng_state = now_ns() ^ (uint64_t)getpid() << 32;
	if (!rng_state)
		rng_state = 0x9E3779B97F4A7C15ULL;
}

/* ----------------------------------------------------------------- JSON */

static const char *json_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* p at '"'; returns the position after the closing quote or NULL. */
static const char *json_string_end(const char *p, const char *e)
{
	for (p++; p < e; p++) {
		if (*p == '\\') {
			if (++p == e)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		} else if ((unsigned char)*p < 0x20) {
			return NULL;
		}
	}
	return NULL;
}

static const char *json_value_end(const char *p, const char *e, int depth)
{
	p = json_ws(p, e);
	if (p == e || depth > JSON_DEPTH)
		return NULL;
	switch (*p) {
	case '"':
		return json_string_end(p, e);
	case '{':
	case '[': {
		char close = *p == '{' ? '}' : ']';
		int obj = *p == '{';

		p = json_ws(p + 1, e);
		if (p < e && *p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				if (p == e || *p != '"')
					return NULL;
				p = json_string_end(p, e);
				if (!p)
					return NULL;
				p = json_ws(p, e);
				if (p == e || *p != ':')
					return NULL;
				p++;
			}
			p = json_value_end(p, e, depth + 1);
			if (!p)
				return NULL;
			p = json_ws(p, e);
			if (p == e)
				return NULL;
			if (*p == close)
				return p + 1;
			if (*p != ',')
				return NULL;
			p = json_ws(p + 1, e);
		}
	}
	default: {
		const char *s = p;

		while (p < e && (strchr("+-.eE", *p) ||
				 (*p >= '0' && *p <= '9') ||
				 (*p >= 'a' && *p <= 'z')))
			p++;
		if (p == s)
			return NULL;
		if ((*s >= 'a' && *s <= 'z') &&
		    !((p - s == 4 && !memcmp(s, "true", 4)) ||
		      (p - s == 5 && !memcmp(s, "false", 5)) ||
		      (p - s == 4 && !memcmp(s, "null", 4))))
			return NULL;
		return p;
	}
	}
}

/*
 * Find the value of top-level key `key` in the object at p (leading and
 * trailing blanks allowed, nothing else).  1 found, 0 absent, -1 malformed.
 */
static int json_object_get(const char *p, const char *e, const char *key,
			   const char **vs, const char **ve)
{
	size_t kl = strlen(key);
	int found = 0;

	p = json_ws(p, e);
	if (p == e || *p != '{')
		return -1;
	p = json_ws(p + 1, e);
	if (p < e && *p == '}') {
		p++;
		goto tail;
	}
	for (;;) {
		const char *ks, *ke, *v, *w;

		if (p == e || *p != '"')
			return -1;
		ks = p + 1;
		ke = json_string_end(p, e);
		if (!ke)
			return -1;
		p = json_ws(ke, e);
		if (p == e || *p != ':')
			return -1;
		v = json_ws(p + 1, e);
		w = json_value_end(v, e, 1);
		if (!w)
			return -1;
		if (!found && (size_t)(ke - 1 - ks) == kl && !memcmp(ks, key, kl)) {
			*vs = v;
			*ve = w;
			found = 1;
		}
		p = json_ws(w, e);
		if (p == e)
			return -1;
		if (*p == '}') {
			p++;
			break;
		}
		if (*p != ',')
			return -1;
		p = json_ws(p + 1, e);
	}
tail:
	return json_ws(p, e) == e ? found : -1;
}

/* An envelope's top-level "id" (a non-negative integer). */
static int envelope_id(const char *p, size_t n, uint64_t *id)
{
	const char *vs, *ve;

	if (json_object_get(p, p + n, "id", &vs, &ve) != 1)
		return -1;
	return parse_u64(vs, (size_t)(ve - vs), 0, UINT64_MAX, id);
}

/* Highest envelope id of a JSON array of envelopes; *count elements. */
static int envelope_array_max(const char *p, size_t n, uint64_t *max,
			      size_t *count)
{
	const char *e = p + n;

	*max = 0;
	*count = 0;
	p = json_ws(p, e);
	if (p == e || *p != '[')
		return -1;
	p = json_ws(p + 1, e);
	if (p < e && *p == ']')
		return json_ws(p + 1, e) == e ? 0 : -1;
	for (;;) {
		const char *w = json_value_end(p, e, 1);
		uint64_t id;

		if (!w || envelope_id(p, (size_t)(w - p), &id) < 0)
			return -1;
		if (id > *max)
			*max = id;
		(*count)++;
		p = json_ws(w, e);
		if (p == e)
			return -1;
		if (*p == ']')
			return json_ws(p + 1, e) == e ? 0 : -1;
		if (*p != ',')
			return -1;
		p = json_ws(p + 1, e);
	}
}

/* ---------------------------------------------------------------- /proc */

static ssize_t read_small_file(const char *path, char *b, size_t cap)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (len + 1 < cap) {
		ssize_t n = read(fd, b + len, cap - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	b[len] = '\0';
	return (ssize_t)len;
}

/*
 * CPU time of a process in clock ticks: utime+stime, plus cutime+cstime
 * (children it has reaped) with `reaped`; -1 if it cannot be read.
 */
static int64_t proc_cpu_ticks(int pid, int reaped)
{
	char path[64], b[2048];
	const char *p;
	uint64_t v[4];
	int field, nv = reaped ? 4 : 2;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_small_file(path, b, sizeof(b)) <= 0)
		return -1;
	p = strrchr(b, ')');	/* comm may contain spaces and ')' */
	if (!p)
		return -1;
	p++;
	/* after ")" comes field 3 (state); utime is 14, stime 15, cutime
	 * 16, cstime 17 */
	for (field = 2; field < 13; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	p++;
	for (int i = 0; i < nv; i++) {
		const char *q = strchr(p, ' ');

		if (!q || parse_u64(p, (size_t)(q - p), 0, UINT64_MAX, &v[i]) < 0)
			return -1;
		p = q + 1;
	}
	return (int64_t)(v[0] + v[1] + (reaped ? v[2] + v[3] : 0));
}

/* Value in kB of "Key:   N kB" in a /proc file's text; -1 if missing. */
static int64_t kb_field(const char *b, const char *key)
{
	size_t kl = strlen(key);
	const char *p = b;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':') {
			const char *s = p + kl + 1, *q;
			uint64_t v;

			while (*s == ' ' || *s == '\t')
				s++;
			q = s;
			while (*q >= '0' && *q <= '9')
				q++;
			if (parse_u64(s, (size_t)(q - s), 0, UINT64_MAX, &v) < 0)
				return -1;
			return (int64_t)v;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

static int64_t proc_kb(const char *path, const char *key)
{
	char b[8192];

	if (read_small_file(path, b, sizeof(b)) <= 0)
		return -1;
	return kb_field(b, key);
}

/* A growable list of pids. */
struct pidlist {
	int *p;
	size_t n, cap;
};

static void pidlist_add(struct pidlist *l, int pid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->p[i] == pid)
			return;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->p = xrealloc(l->p, l->cap * sizeof(*l->p));
	}
	l->p[l->n++] = pid;
}

/*
 * The processes measured: the listed pids, and with --rss-tree all their
 * descendants as they are right now (every thread's "children" file;
 * websocketd, for one, starts its children from any of its threads).
 * A list with a root that cannot be read is still returned; *ok is 0.
 */
static void pid_set(const int *roots, int nroots, struct pidlist *l, int *ok)
{
	static char kids[1 << 20];

	l->n = 0;
	*ok = nroots > 0;
	for (int i = 0; i < nroots; i++)
		pidlist_add(l, roots[i]);
	if (!g.opt.tree)
		return;
	/* breadth first; the list grows while we walk it */
	for (size_t i = 0; i < l->n; i++) {
		char path[320], tasks[64];
		int fd;

		snprintf(tasks, sizeof(tasks), "/proc/%d/task", l->p[i]);
		fd = open(tasks, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (i < (size_t)nroots)
				*ok = 0;
			continue;
		}
		{
			DIR *d = fdopendir(fd);
			struct dirent *de;

			if (!d) {
				close(fd);
				continue;
			}
			while ((de = readdir(d))) {
				const char *s;
				ssize_t n;

				if (de->d_name[0] < '0' || de->d_name[0] > '9')
					continue;
				snprintf(path, sizeof(path), "/proc/%d/task/%s/children",
					 l->p[i], de->d_name);
				n = read_small_file(path, kids, sizeof(kids));
				for (s = kids; n > 0 && *s;) {
					char *e;
					long v = strtol(s, &e, 10);

					if (e == s)
						break;
					if (v > 0 && v <= INT_MAX)
						pidlist_add(l, (int)v);
					s = e;
					while (*s == ' ' || *s == '\n')
						s++;
				}
			}
			closedir(d);
		}
	}
}

/* How many children the --rss-pids have right now (one level). */
static uint64_t count_children(void)
{
	static char kids[1 << 20];
	uint64_t n = 0;

	for (int i = 0; i < g.opt.n_rss; i++) {
		char tasks[64];
		struct dirent *de;
		DIR *d;

		snprintf(tasks, sizeof(tasks), "/proc/%d/task", g.opt.rss_pids[i]);
		d = opendir(tasks);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			char path[360];
			const char *p;

			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "%s/%s/children", tasks, de->d_name);
			if (read_small_file(path, kids, sizeof(kids)) <= 0)
				continue;
			for (p = kids; *p; p++)
				if (*p >= '0' && *p <= '9' &&
				    (p == kids || p[-1] == ' '))
					n++;
		}
		closedir(d);
	}
	return n;
}

static double cpu_seconds(const int *pids, int n, int *ok)
{
	static long tck;
	static struct pidlist l;
	int64_t sum = 0;

	if (!tck)
		tck = sysconf(_SC_CLK_TCK);
	pid_set(pids, n, &l, ok);
	if (tck <= 0)
		*ok = 0;
	for (size_t i = 0; i < l.n; i++) {
		/* in a tree, a child that exits in the window moves its time
		 * to its parent's cutime/cstime: count those too */
		int64_t t = proc_cpu_ticks(l.p[i], g.opt.tree);

		if (t < 0) {
			if (i < (size_t)n)
				*ok = 0;
			continue;
		}
		sum += t;
	}
	return *ok ? (double)sum / (double)tck : 0.0;
}

/* RSS, peak RSS, page tables and threads of every measured process; PSS
 * too with `pss` (smaps_rollup walks the page tables: slow for thousands
 * of processes, so the per-round samples skip it). */
static struct mem_sample mem_sample_ex(int pss)
{
	static struct pidlist l;
	struct mem_sample m;
	char b[8192], path[64];

	memset(&m, 0, sizeof(m));
	pid_set(g.opt.rss_pids, g.opt.n_rss, &l, &m.ok);
	for (size_t i = 0; i < l.n; i++) {
		int64_t rss, hwm, pte, thr, ps = 0;
		int root = i < (size_t)g.opt.n_rss;

		snprintf(path, sizeof(path), "/proc/%d/status", l.p[i]);
		if (read_small_file(path, b, sizeof(b)) <= 0) {
			if (root)
				m.ok = 0;
			continue;
		}
		rss = kb_field(b, "VmRSS");
		hwm = kb_field(b, "VmHWM");
		pte = kb_field(b, "VmPTE");
		thr = kb_field(b, "Threads");
		if (pss) {
			snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", l.p[i]);
			ps = proc_kb(path, "Pss");
		}
		if (rss < 0 || hwm < 0 || pte < 0 || thr < 0 || ps < 0) {
			if (root)	/* a child may have just exited */
				m.ok = 0;
			continue;
		}
		m.rss_kb += (uint64_t)rss;
		m.hwm_kb += (uint64_t)hwm;
		m.pte_kb += (uint64_t)pte;
		m.threads += (uint64_t)thr;
		m.pss_kb += (uint64_t)ps;
		m.procs++;
	}
	return m;
}

static struct mem_sample mem_sample(void)
{
	return mem_sample_ex(1);
}

static double self_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0.0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---------------------------------------------------------- connections */

static int conn_feed(struct conn *c, const char *p, size_t n);
static void sub_start(struct conn *c);
static void lp_issue(struct conn *c);

static struct conn *conn_by_idx(uint32_t idx)
{
	if (idx < g.opt.clients)
		return &g.subs[idx];
	if (idx - g.opt.clients < NPUB)
		return &g.pubs[idx - g.opt.clients];
	return NULL;
}

static void ep_set(struct conn *c, int op, uint32_t events)
{
	struct epoll_event ev;

	if (c->fd < 0 || g.ep < 0)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = (uint64_t)c->gen << 32 | c->idx;
	if (epoll_ctl(g.ep, op, c->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

/* Close with RST: no TIME_WAIT left behind. */
static void close_rst(int fd)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void conn_close_fd(struct conn *c)
{
	if (c->fd >= 0)
		close_rst(c->fd);
	c->fd = -1;
}

/* Forget all per-response parser state. */
static void conn_reset_parse(struct conn *c)
{
	c->framing = FR_NONE;
	c->chunk_st = CK_SIZE0;
	c->remaining = 0;
	c->status = 0;
	c->keep_alive = 0;
	c->head_scan = 0;
	c->sse_has_id = 0;
	c->ws_in_payload = 0;
	c->ws_hlen = 0;
	c->ws_msg_op = 0;
	buf_reset(&c->in);
	buf_reset(&c->msg);
	buf_reset(&c->out);
}

static void settle(struct conn *c)
{
	if (!c->settled) {
		c->settled = 1;
		if (g.pending)
			g.pending--;
	}
}

static const char *role_name(const struct conn *c)
{
	return c->role == ROLE_SUB ? "subscriber" :
	       c->role == ROLE_PUB ? "publisher" : "probe";
}

/* Count an error, say what happened (the first few times), close. */
static void conn_fail(struct conn *c, enum err_kind k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void conn_fail(struct conn *c, enum err_kind k, const char *fmt, ...)
{
	va_list ap;

	if (c->state == ST_DEAD)	/* one failure per connection */
		return;
	g.err[k]++;
	if (g.errors_shown++ == ERR_SHOW && !g.selftest)
		fprintf(stderr, "fanout: more errors, not shown one by one\n");
	if (g.errors_shown <= ERR_SHOW && !g.selftest) {
		fprintf(stderr, "fanout: %s", role_name(c));
		if (c->role == ROLE_SUB)
			fprintf(stderr, " #%" PRIu32, c->idx);
		fprintf(stderr, ": %s error: ", err_names[k]);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	conn_close_fd(c);
	c->state = ST_DEAD;
	if (c->role == ROLE_SUB) {
		g.dead_subs++;
		if (g.in_round && c->got_round != g.round)
			g.dead_pending++;
		settle(c);
	}
}

/* Write or queue bytes.  1 = all written, 0 = queued, -1 = failed. */
static int conn_send(struct conn *c, const void *p, size_t n)
{
	ssize_t w = 0;

	if (g.selftest && c->fd < 0) {
		if (buf_append(&g.cap, p, n) < 0)
			die("self-test capture overflow");
		return 1;
	}
	if (c->out.len == 0) {
		for (;;) {
			w = write(c->fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			break;
		}
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_fail(c, ERR_PROTO, "write: %s", strerror(errno));
			return -1;
		}
		if (w < 0)
			w = 0;
		if ((size_t)w == n)
			return 1;
	}
	if (buf_append(&c->out, (const char *)p + w, n - (size_t)w) < 0) {
		conn_fail(c, ERR_PROTO, "output buffer full");
		return -1;
	}
	ep_set(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
	return 0;
}

/* A subscriber request is on its way: long-poll is now parked. */
static void request_sent(struct conn *c)
{
	if (c->role == ROLE_SUB && g.opt.mode == MODE_LONGPOLL)
		settle(c);
}

static void conn_flush(struct conn *c)
{
	ssize_t w;

	if (c->out.len == 0) {
		ep_set(c, EPOLL_CTL_MOD, EPOLLIN);
		return;
	}
	do
		w = write(c->fd, c->out.p, c->out.len);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_fail(c, ERR_PROTO, "write: %s", strerror(errno));
		return;
	}
	buf_consume(&c->out, (size_t)w);
	if (c->out.len == 0) {
		ep_set(c, EPOLL_CTL_MOD, EPOLLIN);
		request_sent(c);
	}
}

static int new_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Start a subscriber's (re)connection. */
static void sub_connect(struct conn *c)
{
	int r;

	conn_close_fd(c);
	conn_reset_parse(c);
	c->state = ST_IDLE;
	c->responses = 0;
	c->gen++;
	if (g.selftest) {	/* no sockets: pretend it connected */
		sub_start(c);
		return;
	}
	c->fd = new_socket();
	if (c->fd < 0) {
		conn_fail(c, ERR_CONNECT, "socket: %s", strerror(errno));
		return;
	}
	do
		r = connect(c->fd, (struct sockaddr *)&g.opt.addr,
			    sizeof(g.opt.addr));
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno != EINPROGRESS) {
		conn_fail(c, ERR_CONNECT, "connect: %s", strerror(errno));
		return;
	}
	c->state = ST_CONNECTING;
	ep_set(c, EPOLL_CTL_ADD, EPOLLOUT);
	if (r == 0) {
		ep_set(c, EPOLL_CTL_MOD, EPOLLIN);
		sub_start(c);
	}
}

static void finish_connect(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		conn_fail(c, ERR_CONNECT, "connect: %s", strerror(err));
		return;
	}
	ep_set(c, EPOLL_CTL_MOD, EPOLLIN);
	sub_start(c);
}

/* -------------------------------------------------------------- requests */

static int host_header(char *b, size_t cap, size_t *len)
{
	return bput(b, cap, len, "Host: %s:%u\r\n", g.opt.host, g.opt.port);
}

static int build_request(struct conn *c, char *b, size_t cap, size_t *len)
{
	const struct options *o = &g.opt;
	int nchan = o->target == TARGET_NCHAN;

	*len = 0;
	switch (o->mode) {
	case MODE_LONGPOLL:
		if (nchan) {
			if (bput(b, cap, len, "GET %s HTTP/1.1\r\n", o->path) ||
			    host_header(b, cap, len))
				return -1;
			if (c->last_mod[0] &&
			    bput(b, cap, len,
				 "If-Modified-Since: %s\r\nIf-None-Match: %s\r\n",
				 c->last_mod, c->etag))
				return -1;
		} else {
			if (bput(b, cap, len,
				 "GET %s%csince=%" PRIu64 "&timeout=120 HTTP/1.1\r\n",
				 o->path, strchr(o->path, '?') ? '&' : '?',
				 c->cursor) ||
			    host_header(b, cap, len) ||
			    bput(b, cap, len, "Accept: application/json\r\n"))
				return -1;
		}
		break;
	case MODE_SSE:
		if (bput(b, cap, len, "GET %s HTTP/1.1\r\n", o->path) ||
		    host_header(b, cap, len) ||
		    bput(b, cap, len, "Accept: text/event-stream\r\n"
			 "Cache-Control: no-cache\r\n"))
			return -1;
		if (!nchan &&
		    bput(b, cap, len, "Last-Event-ID: %" PRIu64 "\r\n", c->cursor))
			return -1;
		if (nchan && g.nchan_id[0] &&
		    bput(b, cap, len, "Last-Event-ID: %s\r\n", g.nchan_id))
			return -1;
		break;
	case MODE_WS: {
		unsigned char raw[16];
		char key[32];

		for (int i = 0; i < 16; i += 4) {
			uint32_t r = rng32();

			memcpy(raw + i, &r, 4);
		}
		base64_encode(raw, sizeof(raw), key);
		ws_accept_for(key, c->accept);
		/* logcast: resume from the cursor (?since=), so a message
		 * published while websocketd is still starting the socket's
		 * process is not lost (its contract: without since, "about
		 * the moment the socket was accepted, best effort") */
		if (nchan || strstr(o->path, "since=")) {
			if (bput(b, cap, len, "GET %s HTTP/1.1\r\n", o->path))
				return -1;
		} else if (bput(b, cap, len, "GET %s%csince=%" PRIu64 " HTTP/1.1\r\n",
				o->path, strchr(o->path, '?') ? '&' : '?',
				c->cursor)) {
			return -1;
		}
		if (host_header(b, cap, len) ||
		    bput(b, cap, len, "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Version: 13\r\n", key))
			return -1;
		if (nchan && g.nchan_id[0] &&
		    bput(b, cap, len, "Last-Event-ID: %s\r\n", g.nchan_id))
			return -1;
		break;
	}
	}
	return bput(b, cap, len, "\r\n");
}

/* Connected: send the subscriber's request and wait for the head. */
static void sub_start(struct conn *c)
{
	char req[REQ_MAX];
	size_t len;

	if (build_request(c, req, sizeof(req), &len) < 0) {
		conn_fail(c, ERR_PROTO, "request does not fit in %d bytes",
			  REQ_MAX);
		return;
	}
	c->state = ST_HEAD;
	if (conn_send(c, req, len) == 1)
		request_sent(c);
}

/* ------------------------------------------------------------ delivery */

static void record_delivery(struct conn *c)
{
	uint64_t d = g.now > g.t0 ? (g.now - g.t0) / 1000 : 0;

	c->got_round = g.round;
	if (g.nlat < g.lat_cap)
		g.lat[g.nlat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	g.round_delivered++;
	if (d > g.round_max_us)
		g.round_max_us = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	g.last_delivery = g.now;
}

static void tlog_add(uint64_t v)
{
	if (g.ntlog < sizeof(g.tlog) / sizeof(g.tlog[0]))
		g.tlog[g.ntlog++] = v;
}

/* logcast: a message with envelope id `id` reached subscriber c. */
static void deliver_id(struct conn *c, uint64_t id)
{
	if (g.selftest)
		tlog_add(id);
	if (id <= c->cursor) {
		g.stale++;
		return;
	}
	c->cursor = id;
	if (!g.in_round || id <= g.prev_round_id) {
		g.late++;
		return;
	}
	if (c->got_round == g.round) {
		g.extra++;
		return;
	}
	if (id > g.round_id)
		g.round_id = id;
	record_delivery(c);
}

/* nchan: any message during the round is the round's message. */
static void deliver_arrival(struct conn *c, size_t len)
{
	if (g.selftest)
		tlog_add(len);
	if (!g.in_round) {
		g.late++;
		return;
	}
	if (c->got_round == g.round) {
		g.extra++;
		return;
	}
	record_delivery(c);
}

/*
 * One complete SSE event or WebSocket message.  has_id/sse_id: the SSE
 * "id:" field, checked against the envelope's id.
 */
static int on_message(struct conn *c, const char *p, size_t n, int has_id,
		      uint64_t sse_id)
{
	uint64_t id;

	if (g.opt.target == TARGET_NCHAN) {
		deliver_arrival(c, n);
		return 0;
	}
	if (envelope_id(p, n, &id) < 0) {
		conn_fail(c, ERR_PROTO, "message is not an envelope with an id: %.*s",
			  (int)(n > 80 ? 80 : n), p);
		return -1;
	}
	if (has_id && sse_id != id) {
		conn_fail(c, ERR_PROTO, "event id %" PRIu64 " but envelope id %" PRIu64,
			  sse_id, id);
		return -1;
	}
	deliver_id(c, id);
	return 0;
}

/* --------------------------------------------------------------- HTTP */

struct http_head {
	int minor, status;
	int chunked, has_len, conn_close, conn_keep, conn_upgrade, upgrade_ws;
	uint64_t length;
	const char *ctype, *last_mod, *etag, *accept, *xlast;
	size_t ctype_n, last_mod_n, etag_n, accept_n, xlast_n;
};

static int parse_head(const char *b, size_t n, struct http_head *h)
{
	const char *e = b + n, *line = b;
	int first = 1;

	memset(h, 0, sizeof(*h));
	while (line < e) {
		const char *nl = memchr(line, '\n', (size_t)(e - line));
		size_t ll = nl ? (size_t)(nl - line) : (size_t)(e - line);
		const char *next = nl ? nl + 1 : e;

		if (ll && line[ll - 1] == '\r')
			ll--;
		if (first) {
			uint64_t st;

			if (ll < 12 || memcmp(line, "HTTP/1.", 7) ||
			    (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
			    parse_u64(line + 9, 3, 100, 599, &st) < 0 ||
			    (ll > 12 && line[12] != ' '))
				return -1;
			h->minor = line[7] - '0';
			h->status = (int)st;
			first = 0;
		} else if (ll) {
			const char *colon = memchr(line, ':', ll);
			const char *v, *ve = line + ll;
			size_t nl_len;

			if (!colon || colon == line)
				return -1;
			nl_len = (size_t)(colon - line);
			v = colon + 1;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
#define NAME(lit) ci_equal(line, nl_len, lit)
			if (NAME("Content-Length")) {
				uint64_t l;

				if (parse_u64(v, (size_t)(ve - v), 0, UINT64_MAX, &l) < 0 ||
				    (h->has_len && h->length != l))
					return -1;
				h->has_len = 1;
				h->length = l;
			} else if (NAME("Transfer-Encoding")) {
				if (!has_token(v, (size_t)(ve - v), "chunked"))
					return -1;	/* no other coding is acceptable */
				h->chunked = 1;
			} else if (NAME("Connection")) {
				h->conn_close |= has_token(v, (size_t)(ve - v), "close");
				h->conn_keep |= has_token(v, (size_t)(ve - v), "keep-alive");
				h->conn_upgrade |= has_token(v, (size_t)(ve - v), "upgrade");
			} else if (NAME("Upgrade")) {
				h->upgrade_ws = has_token(v, (size_t)(ve - v), "websocket");
			} else if (NAME("Content-Type")) {
				h->ctype = v, h->ctype_n = (size_t)(ve - v);
			} else if (NAME("Last-Modified")) {
				h->last_mod = v, h->last_mod_n = (size_t)(ve - v);
			} else if (NAME("Etag")) {
				h->etag = v, h->etag_n = (size_t)(ve - v);
			} else if (NAME("Sec-WebSocket-Accept")) {
				h->accept = v, h->accept_n = (size_t)(ve - v);
			} else if (NAME("X-Last-Id")) {
				h->xlast = v, h->xlast_n = (size_t)(ve - v);
			}
#undef NAME
		}
		line = next;
	}
	return first ? -1 : 0;
}

static void body_done(struct conn *c);

/* Act on a parsed head: choose the framing, check what the mode needs. */
static int head_done(struct conn *c, const struct http_head *h)
{
	c->status = (uint16_t)h->status;
	if (c->role == ROLE_SUB && g.opt.mode == MODE_WS) {
		if (h->status != 101) {
			conn_fail(c, ERR_HTTP, "websocket handshake got status %d",
				  h->status);
			return -1;
		}
		if (!h->upgrade_ws || !h->conn_upgrade) {
			conn_fail(c, ERR_PROTO, "101 without Upgrade: websocket / Connection: upgrade");
			return -1;
		}
		if (!h->accept || h->accept_n != strlen(c->accept) ||
		    memcmp(h->accept, c->accept, h->accept_n)) {
			conn_fail(c, ERR_PROTO, "wrong Sec-WebSocket-Accept");
			return -1;
		}
		c->state = ST_WS;
		settle(c);
		return 0;
	}
	if (h->status < 200) {
		conn_fail(c, ERR_HTTP, "unexpected status %d", h->status);
		return -1;
	}
	if (h->status == 204 || h->status == 304)
		c->framing = FR_NONE;
	else if (h->chunked)
		c->framing = FR_CHUNKED;
	else if (h->has_len)
		c->framing = h->length ? FR_LENGTH : FR_NONE;
	else
		c->framing = FR_EOF;
	c->remaining = h->length;
	c->chunk_st = CK_SIZE0;
	c->keep_alive = c->framing != FR_EOF &&
			(h->minor == 1 ? !h->conn_close : h->conn_keep);

	if (c->role == ROLE_PROBE && h->xlast &&
	    copy_value(c->xlast, sizeof(c->xlast), h->xlast, h->xlast_n) < 0) {
		conn_fail(c, ERR_PROTO, "X-Last-Id too long");
		return -1;
	}
	if (c->role == ROLE_SUB && g.opt.mode == MODE_SSE) {
		if (h->status != 200) {
			conn_fail(c, ERR_HTTP, "event stream got status %d", h->status);
			return -1;
		}
		if (!h->ctype || !ci_prefix(h->ctype, h->ctype_n, "text/event-stream")) {
			conn_fail(c, ERR_PROTO, "event stream without Content-Type: text/event-stream");
			return -1;
		}
		settle(c);
	}
	if (c->role == ROLE_SUB && g.opt.mode == MODE_LONGPOLL &&
	    g.opt.target == TARGET_NCHAN && h->status == 200) {
		if (!h->last_mod || !h->etag) {
			conn_fail(c, ERR_PROTO, "nchan response without Last-Modified/Etag");
			return -1;
		}
		if (copy_value(c->last_mod, sizeof(c->last_mod), h->last_mod,
			       h->last_mod_n) < 0 ||
		    copy_value(c->etag, sizeof(c->etag), h->etag, h->etag_n) < 0) {
			conn_fail(c, ERR_PROTO, "Last-Modified/Etag too long");
			return -1;
		}
	}
	c->state = ST_BODY;
	if (c->framing == FR_NONE)
		body_done(c);
	return 0;
}

/* Collect the head; returns bytes consumed or -1. */
static ssize_t head_feed(struct conn *c, const char *p, size_t n)
{
	struct http_head h;
	size_t i, end = 0, excess;

	if (buf_append(&c->in, p, n) < 0) {
		conn_fail(c, ERR_PROTO, "response head larger than %d bytes", MSG_MAX);
		return -1;
	}
	for (i = c->head_scan; i < c->in.len; i++) {
		if (c->in.p[i] != '\n')
			continue;
		if (i + 1 < c->in.len && c->in.p[i + 1] == '\n') {
			end = i + 2;
			break;
		}
		if (i + 2 < c->in.len && c->in.p[i + 1] == '\r' &&
		    c->in.p[i + 2] == '\n') {
			end = i + 3;
			break;
		}
	}
	if (!end) {
		c->head_scan = c->in.len > 2 ? c->in.len - 2 : 0;
		return (ssize_t)n;
	}
	excess = c->in.len - end;
	/* parse a copy: head_done may reuse c->in for the body */
	memcpy(g.hbuf, c->in.p, end);
	buf_reset(&c->in);
	c->head_scan = 0;
	if (parse_head(g.hbuf, end, &h) < 0) {
		conn_fail(c, ERR_PROTO, "malformed response head: %.*s",
			  (int)(end > 60 ? 60 : end), g.hbuf);
		return -1;
	}
	if (head_done(c, &h) < 0)
		return -1;
	return (ssize_t)(n - excess);
}

static int sse_parse(struct conn *c);

/* Body bytes, after de-chunking. */
static int sink(struct conn *c, const char *p, size_t n)
{
	if (c->role == ROLE_PUB)
		return 0;
	if (buf_append(&c->in, p, n) < 0) {
		conn_fail(c, ERR_PROTO, "%s larger than %d bytes",
			  c->role == ROLE_SUB && g.opt.mode == MODE_SSE ?
			  "event" : "response body", MSG_MAX);
		return -1;
	}
	if (c->role == ROLE_SUB && g.opt.mode == MODE_SSE)
		return sse_parse(c);
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* De-chunk; returns bytes consumed (stops after the last chunk) or -1. */
static ssize_t chunked_feed(struct conn *c, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		char ch = p[i];
		int hv;

		switch (c->chunk_st) {
		case CK_SIZE0:
		case CK_SIZE:
			hv = hexval(ch);
			if (hv >= 0) {
				if (c->remaining > (UINT64_MAX >> 8))
					goto bad;
				c->remaining = c->remaining << 4 | (unsigned)hv;
				c->chunk_st = CK_SIZE;
				i++;
				break;
			}
			if (c->chunk_st == CK_SIZE0)
				goto bad;
			if (ch == ';' || ch == ' ' || ch == '\t')
				c->chunk_st = CK_EXT;
			else if (ch == '\r')
				c->chunk_st = CK_SIZE_LF;
			else if (ch == '\n')
				goto size_line_done;
			else
				goto bad;
			i++;
			break;
		case CK_EXT:
			if (ch == '\r')
				c->chunk_st = CK_SIZE_LF;
			else if (ch == '\n')
				goto size_line_done;
			i++;
			break;
		case CK_SIZE_LF:
			if (ch != '\n')
				goto bad;
		size_line_done:
			i++;
			c->chunk_st = c->remaining ? CK_DATA : CK_TRAILER_BOL;
			break;
		case CK_DATA: {
			size_t take = n - i;

			if (take > c->remaining)
				take = (size_t)c->remaining;
			if (sink(c, p + i, take) < 0)
				return -1;
			if (c->state == ST_DEAD)
				return -1;
			i += take;
			c->remaining -= take;
			if (!c->remaining)
				c->chunk_st = CK_DATA_CR;
			break;
		}
		case CK_DATA_CR:
			if (ch == '\r')
				c->chunk_st = CK_DATA_LF;
			else if (ch == '\n')
				c->chunk_st = CK_SIZE0;
			else
				goto bad;
			i++;
			break;
		case CK_DATA_LF:
			if (ch != '\n')
				goto bad;
			c->chunk_st = CK_SIZE0;
			i++;
			break;
		case CK_TRAILER_BOL:
			i++;
			if (ch == '\n') {
				body_done(c);
				return (ssize_t)i;
			}
			c->chunk_st = ch == '\r' ? CK_END_LF : CK_TRAILER_LINE;
			break;
		case CK_TRAILER_LINE:
			if (ch == '\n')
				c->chunk_st = CK_TRAILER_BOL;
			i++;
			break;
		case CK_END_LF:
			if (ch != '\n')
				goto bad;
			i++;
			body_done(c);
			return (ssize_t)i;
		}
	}
	return (ssize_t)i;
bad:
	conn_fail(c, ERR_PROTO, "bad chunked encoding near byte 0x%02x",
		  i < n ? (unsigned char)p[i] : 0);
	return -1;
}

/* One long-poll response is complete. */
static void lp_response(struct conn *c)
{
	c->responses++;
	switch (c->status) {
	case 200:
		if (g.opt.target == TARGET_NCHAN) {
			deliver_arrival(c, c->in.len);
		} else {
			uint64_t max;
			size_t count;

			if (envelope_array_max(c->in.p, c->in.len, &max, &count) < 0) {
				conn_fail(c, ERR_PROTO, "long-poll body is not a JSON array of envelopes: %.*s",
					  (int)(c->in.len > 80 ? 80 : c->in.len),
					  c->in.p ? c->in.p : "");
				return;
			}
			if (count)
				deliver_id(c, max);
		}
		break;
	case 204:		/* logcast: timed out, nothing new */
	case 304:		/* nchan: not modified */
	case 408:		/* nchan: subscriber timeout */
		break;
	default:
		conn_fail(c, ERR_HTTP, "long-poll got status %u", c->status);
		return;
	}
	buf_reset(&c->in);
	lp_issue(c);
}

/* Ask again: on the same connection if it stays open, else a new one. */
static void lp_issue(struct conn *c)
{
	if (c->keep_alive) {
		conn_reset_parse(c);
		sub_start(c);
		return;
	}
	g.reconnects++;
	sub_connect(c);
}

static void body_done(struct conn *c)
{
	switch (c->role) {
	case ROLE_PROBE:
		c->state = ST_DONE;
		return;
	case ROLE_PUB:
		if (c->status < 200 || c->status > 299) {
			conn_fail(c, ERR_HTTP, "publish got status %u", c->status);
			return;
		}
		c->state = ST_DONE;
		conn_close_fd(c);
		return;
	default:
		if (g.opt.mode == MODE_SSE) {
			conn_fail(c, ERR_PROTO, "event stream ended");
			return;
		}
		lp_response(c);
	}
}

static ssize_t body_feed(struct conn *c, const char *p, size_t n)
{
	size_t take;

	switch (c->framing) {
	case FR_LENGTH:
		take = n < c->remaining ? n : (size_t)c->remaining;
		if (sink(c, p, take) < 0)
			return -1;
		c->remaining -= take;
		if (!c->remaining)
			body_done(c);
		return (ssize_t)take;
	case FR_CHUNKED:
		return chunked_feed(c, p, n);
	case FR_EOF:
		if (sink(c, p, n) < 0)
			return -1;
		return (ssize_t)n;
	default:
		conn_fail(c, ERR_PROTO, "data after the end of the response");
		return -1;
	}
}

/* ---------------------------------------------------------------- SSE */

static int sse_line(struct conn *c, const char *l, size_t n)
{
	const char *colon, *v;
	size_t fl, vl;

	if (n == 0) {		/* blank line: dispatch */
		int r = 0;

		if (c->msg.len)
			r = on_message(c, c->msg.p, c->msg.len - 1, c->sse_has_id,
				       c->sse_id);
		buf_reset(&c->msg);
		c->sse_has_id = 0;
		return r;
	}
	if (l[0] == ':')	/* comment, a keep-alive */
		return 0;
	colon = memchr(l, ':', n);
	fl = colon ? (size_t)(colon - l) : n;
	v = colon ? colon + 1 : l + n;
	vl = (size_t)(l + n - v);
	if (vl && *v == ' ')
		v++, vl--;
	if (fl == 4 && !memcmp(l, "data", 4)) {
		if (buf_append(&c->msg, v, vl) < 0 || buf_append(&c->msg, "\n", 1) < 0) {
			conn_fail(c, ERR_PROTO, "event larger than %d bytes", MSG_MAX);
			return -1;
		}
	} else if (fl == 2 && !memcmp(l, "id", 2) &&
		   g.opt.target == TARGET_LOGCAST) {
		if (parse_u64(v, vl, 0, UINT64_MAX, &c->sse_id) < 0) {
			conn_fail(c, ERR_PROTO, "bad event id '%.*s'",
				  (int)(vl > 40 ? 40 : vl), v);
			return -1;
		}
		c->sse_has_id = 1;
	}
	/* event:, retry: and unknown fields do not matter here */
	return 0;
}

/* Complete lines of c->in; a partial line stays for the next read. */
static int sse_parse(struct conn *c)
{
	size_t pos = 0;

	while (pos < c->in.len) {
		char *l = c->in.p + pos;
		char *nl = memchr(l, '\n', c->in.len - pos);
		size_t ll;

		if (!nl)
			break;
		ll = (size_t)(nl - l);
		pos += ll + 1;
		if (ll && l[ll - 1] == '\r')
			ll--;
		if (sse_line(c, l, ll) < 0)
			return -1;
	}
	buf_consume(&c->in, pos);
	return 0;
}

/* ------------------------------------------------------------ WebSocket */

/* A masked client frame (control frames only: <= 125 bytes). */
static int ws_send(struct conn *c, unsigned op, const void *p, size_t n)
{
	unsigned char f[6 + 125];
	uint32_t m = rng32();
	const unsigned char *s = p;

	if (n > 125)
		n = 125;
	f[0] = (unsigned char)(0x80 | op);
	f[1] = (unsigned char)(0x80 | n);
	memcpy(f + 2, &m, 4);
	for (size_t i = 0; i < n; i++)
		f[6 + i] = s[i] ^ f[2 + (i & 3)];
	return conn_send(c, f, 6 + n) < 0 ? -1 : 0;
}

static int ws_header(struct conn *c)
{
	const unsigned char *h = c->ws_hdr;
	unsigned op = h[0] & 0x0f, fin = h[0] >> 7;
	uint64_t len = h[1] & 0x7f;

	c->ws_hlen = 0;
	if (h[0] & 0x70) {
		conn_fail(c, ERR_PROTO, "websocket frame with RSV bits set");
		return -1;
	}
	if (h[1] & 0x80) {
		conn_fail(c, ERR_PROTO, "masked websocket frame from the server");
		return -1;
	}
	if (len == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
	} else if (len == 127) {
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | h[i];
		if (len >> 63) {
			conn_fail(c, ERR_PROTO, "websocket length with the top bit set");
			return -1;
		}
	}
	if (op & 8) {
		if (op > 0xA) {
			conn_fail(c, ERR_PROTO, "unknown websocket opcode %u", op);
			return -1;
		}
		if (!fin || len > 125) {
			conn_fail(c, ERR_PROTO, "fragmented or long websocket control frame");
			return -1;
		}
		buf_reset(&c->in);
	} else {
		if (op == 0 && !c->ws_msg_op) {
			conn_fail(c, ERR_PROTO, "websocket continuation without a message");
			return -1;
		}
		if (op != 0 && c->ws_msg_op) {
			conn_fail(c, ERR_PROTO, "websocket message inside a fragmented one");
			return -1;
		}
		if (op != 0 && op != 1 && op != 2) {
			conn_fail(c, ERR_PROTO, "unknown websocket opcode %u", op);
			return -1;
		}
		if (op)
			c->ws_msg_op = (uint8_t)op;
		if (len > MSG_MAX - c->msg.len) {
			conn_fail(c, ERR_PROTO, "websocket message larger than %d bytes",
				  MSG_MAX);
			return -1;
		}
	}
	c->ws_op = (uint8_t)op;
	c->ws_fin = (uint8_t)fin;
	c->ws_left = len;
	c->ws_in_payload = 1;
	return 0;
}

static int ws_frame_end(struct conn *c)
{
	int r = 0;

	c->ws_in_payload = 0;
	switch (c->ws_op) {
	case 0x9:		/* ping: answer with the same payload */
		r = ws_send(c, 0xA, c->in.p, c->in.len);
		break;
	case 0xA:		/* pong */
		break;
	case 0x8: {		/* close: echo the status code, then fail */
		unsigned code = c->in.len >= 2 ?
			(unsigned)(unsigned char)c->in.p[0] << 8 |
			(unsigned char)c->in.p[1] : 1005;

		ws_send(c, 0x8, c->in.p, c->in.len >= 2 ? 2 : 0);
		conn_fail(c, ERR_PROTO, "server closed the websocket (code %u)", code);
		return -1;
	}
	default:		/* data frame */
		if (c->ws_fin) {
			r = on_message(c, c->msg.p, c->msg.len, 0, 0);
			buf_reset(&c->msg);
			c->ws_msg_op = 0;
		}
		return r;
	}
	buf_reset(&c->in);
	return r;
}

static ssize_t ws_feed(struct conn *c, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t take;

		if (!c->ws_in_payload) {
			size_t need = 2;

			for (;;) {
				if (c->ws_hlen >= 2) {
					unsigned l7 = c->ws_hdr[1] & 0x7f;

					need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) +
					       (c->ws_hdr[1] & 0x80 ? 4 : 0);
				}
				if (c->ws_hlen >= need || i >= n)
					break;
				c->ws_hdr[c->ws_hlen++] = (unsigned char)p[i++];
			}
			if (c->ws_hlen < need)
				break;
			if (ws_header(c) < 0)
				return -1;
			if (!c->ws_left && ws_frame_end(c) < 0)
				return -1;
			continue;
		}
		take = n - i;
		if (take > c->ws_left)
			take = (size_t)c->ws_left;
		if (buf_append(c->ws_op & 8 ? &c->in : &c->msg, p + i, take) < 0) {
			conn_fail(c, ERR_PROTO, "websocket message larger than %d bytes",
				  MSG_MAX);
			return -1;
		}
		i += take;
		c->ws_left -= take;
		if (!c->ws_left && ws_frame_end(c) < 0)
			return -1;
	}
	return (ssize_t)i;
}

/* ------------------------------------------------------------ dispatch */

static int conn_feed(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		uint32_t gen = c->gen;
		ssize_t k;

		switch (c->state) {
		case ST_HEAD:
			k = head_feed(c, p, n);
			break;
		case ST_BODY:
			k = body_feed(c, p, n);
			break;
		case ST_WS:
			k = ws_feed(c, p, n);
			break;
		case ST_DEAD:
			return -1;
		default:
			conn_fail(c, ERR_PROTO, "%zu unexpected bytes", n);
			return -1;
		}
		if (k < 0 || c->state == ST_DEAD)
			return -1;
		/* reconnected: the rest came on the old socket */
		if (c->gen != gen && !g.selftest)
			return 0;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The peer closed (err 0) or reset the connection. */
static void conn_eof(struct conn *c, int err)
{
	if (c->state == ST_BODY && c->framing == FR_EOF && !err) {
		conn_close_fd(c);
		body_done(c);
		return;
	}
	if (c->role == ROLE_SUB && g.opt.mode == MODE_LONGPOLL &&
	    c->state == ST_HEAD && c->in.len == 0 && c->responses > 0) {
		/* an idle keep-alive connection closed: ask again */
		sub_connect(c);
		g.reconnects++;
		return;
	}
	if (err)
		conn_fail(c, ERR_PROTO, "connection error: %s", strerror(err));
	else
		conn_fail(c, ERR_PROTO, "connection closed by the server");
}

static void conn_read(struct conn *c)
{
	ssize_t n;

	do
		n = read(c->fd, g.rbuf, sizeof(g.rbuf));
	while (n < 0 && errno == EINTR);
	if (n > 0)
		conn_feed(c, g.rbuf, (size_t)n);
	else if (n == 0)
		conn_eof(c, 0);
	else if (errno != EAGAIN && errno != EWOULDBLOCK)
		conn_eof(c, errno);
}

static void handle_event(uint64_t data, uint32_t ev)
{
	struct conn *c = conn_by_idx((uint32_t)data);

	if (!c || c->fd < 0 || c->gen != (uint32_t)(data >> 32))
		return;		/* stale event for a closed socket */
	if (c->state == ST_CONNECTING) {
		finish_connect(c);
		return;
	}
	if (ev & EPOLLOUT) {
		conn_flush(c);
		if (c->fd < 0)
			return;
	}
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(c);
}

enum pred { P_NONE, P_BATCH, P_ROUND, P_PUBS };

static int pred_true(enum pred p)
{
	switch (p) {
	case P_BATCH:
		return g.pending == 0;
	case P_ROUND:
		return g.round_delivered + g.dead_pending >= g.opt.clients;
	case P_PUBS:
		for (int i = 0; i < NPUB; i++)
			if (g.pubs[i].fd >= 0)
				return 0;
		return 1;
	default:
		return 0;
	}
}

/* Run the event loop until p holds (1) or the deadline passes (0). */
static int loop_until(enum pred p, uint64_t deadline)
{
	struct epoll_event evs[MAX_EVENTS];

	for (;;) {
		uint64_t t = now_ns(), ms;
		int n;

		if (pred_true(p))
			return 1;
		if (t >= deadline)
			return 0;
		ms = (deadline - t + NS_PER_MS - 1) / NS_PER_MS;
		n = epoll_wait(g.ep, evs, MAX_EVENTS, ms > INT_MAX ? INT_MAX : (int)ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		g.now = now_ns();
		for (int i = 0; i < n; i++)
			handle_event(evs[i].data.u64, evs[i].events);
	}
}

/* ----------------------------------------------- probe and publisher */

static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { fd, events, 0 };
		uint64_t t = now_ns(), ms;
		int r;

		if (t >= deadline)
			return 0;
		ms = (deadline - t + NS_PER_MS - 1) / NS_PER_MS;
		r = poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);
		if (r < 0 && errno == EINTR)
			continue;
		return r;
	}
}

/* A connected socket within the deadline, or -1 with *err set. */
static int connect_wait(uint64_t deadline, int *err)
{
	int fd = new_socket(), r;
	socklen_t len = sizeof(*err);

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	do
		r = connect(fd, (struct sockaddr *)&g.opt.addr, sizeof(g.opt.addr));
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno != EINPROGRESS) {
		*err = errno;
		goto fail;
	}
	if (r < 0) {
		r = wait_fd(fd, POLLOUT, deadline);
		if (r <= 0) {
			*err = r == 0 ? ETIMEDOUT : errno;
			goto fail;
		}
		*err = 0;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &len) < 0)
			*err = errno;
		if (*err)
			goto fail;
	}
	return fd;
fail:
	close_rst(fd);
	return -1;
}

static int write_all(int fd, const char *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			if (wait_fd(fd, POLLOUT, deadline) <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			continue;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* GET path once with Connection: close; c holds status and body. */
static int probe(struct conn *c, const char *path, const char *accept)
{
	char req[REQ_MAX];
	size_t len = 0;
	uint64_t deadline = now_ns() + g.opt.timeout_ms * NS_PER_MS;
	int err = 0;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->role = ROLE_PROBE;
	c->idx = UINT32_MAX;
	if (bput(req, sizeof(req), &len, "GET %s HTTP/1.1\r\n", path) ||
	    host_header(req, sizeof(req), &len) ||
	    bput(req, sizeof(req), &len,
		 "Accept: %s\r\nConnection: close\r\n\r\n", accept))
		die("request for %s too long", path);
	c->fd = connect_wait(deadline, &err);
	if (c->fd < 0) {
		conn_fail(c, ERR_CONNECT, "connect to %s:%u: %s", g.opt.host,
			  g.opt.port, strerror(err));
		return -1;
	}
	if (write_all(c->fd, req, len, deadline) < 0) {
		conn_fail(c, ERR_PROTO, "write: %s", strerror(errno));
		return -1;
	}
	c->state = ST_HEAD;
	while (c->state != ST_DONE && c->state != ST_DEAD) {
		int r = wait_fd(c->fd, POLLIN, deadline);

		if (r <= 0) {
			conn_fail(c, ERR_PROTO, "no complete response to GET %s in %" PRIu64 " ms",
				  path, g.opt.timeout_ms);
			break;
		}
		conn_read(c);
	}
	conn_close_fd(c);
	return c->state == ST_DONE ? 0 : -1;
}

/* Learn where the channel stands, so subscribers wait for the next message. */
static void find_start(void)
{
	struct conn pc;
	char path[PATH_MAX_LEN + 64];

	if (g.opt.target == TARGET_LOGCAST) {
		if (g.opt.have_since) {
			g.start_cursor = g.opt.since;
			return;
		}
		if (g.opt.cursor_path) {
			snprintf(path, sizeof(path), "%s", g.opt.cursor_path);
		} else {
			const char *p = g.opt.path, *ch = NULL;
			size_t cl;

			if (!strncmp(p, "/api/channels/", 14))
				ch = p + 14;
			else if (!strncmp(p, "/ws/", 4))
				ch = p + 4;
			cl = ch ? strcspn(ch, "/?") : 0;
			if (!cl)
				usage_error("cannot derive the channel from --path %s: give --cursor-path or --since",
					    p);
			snprintf(path, sizeof(path), "/api/channels/%.*s/messages?limit=1",
				 (int)cl, ch);
		}
		if (probe(&pc, path, "application/json") < 0)
			die("cannot learn the channel's last id from GET %s", path);
		if (pc.status != 200)
			die("GET %s: status %u, want 200", path, pc.status);
		if (pc.xlast[0]) {
			if (parse_u64(pc.xlast, strlen(pc.xlast), 0, UINT64_MAX,
				      &g.start_cursor) < 0)
				die("GET %s: bad X-Last-Id '%s'", path, pc.xlast);
		} else {
			size_t count;

			if (envelope_array_max(pc.in.p, pc.in.len, &g.start_cursor,
					       &count) < 0)
				die("GET %s: body is not a JSON array of envelopes", path);
		}
		buf_free(&pc.in);
		return;
	}

	/* nchan: the publisher location's channel info has last_message_id */
	if (probe(&pc, g.opt.publish_path, "text/json") < 0)
		die("cannot reach nchan at GET %s", g.opt.publish_path);
	if (pc.status == 200) {
		const char *vs, *ve, *colon;
		uint64_t t, tag;
		struct tm tm;
		time_t tt;

		if (json_object_get(pc.in.p, pc.in.p + pc.in.len, "last_message_id",
				    &vs, &ve) != 1 || ve - vs < 5 || *vs != '"')
			die("GET %s: no last_message_id in the channel info", g.opt.publish_path);
		vs++, ve--;
		colon = memchr(vs, ':', (size_t)(ve - vs));
		if (!colon || parse_u64(vs, (size_t)(colon - vs), 1, (1ULL << 40), &t) < 0 ||
		    parse_u64(colon + 1, (size_t)(ve - colon - 1), 0, UINT32_MAX, &tag) < 0)
			die("GET %s: unexpected last_message_id '%.*s'", g.opt.publish_path,
			    (int)(ve - vs), vs);
		tt = (time_t)t;
		if (!gmtime_r(&tt, &tm) ||
		    !strftime(g.nchan_date, sizeof(g.nchan_date),
			      "%a, %d %b %Y %H:%M:%S GMT", &tm))
			die("cannot format time %" PRIu64, t);
		snprintf(g.nchan_tag, sizeof(g.nchan_tag), "%" PRIu64, tag);
		snprintf(g.nchan_id, sizeof(g.nchan_id), "%" PRIu64 ":%" PRIu64, t, tag);
	} else if (pc.status != 404) {
		fprintf(stderr, "fanout: warning: GET %s (channel info) gave status %u; "
			"subscribers start without a message id\n",
			g.opt.publish_path, pc.status);
	}
	buf_free(&pc.in);
}

static void build_publish_request(void)
{
	size_t bl = strlen(g.opt.publish_body), cap = REQ_MAX + bl, len = 0;

	g.pub_req = xrealloc(NULL, cap);
	if (bput(g.pub_req, cap, &len,
		 "POST %s HTTP/1.1\r\n", g.opt.publish_path) ||
	    host_header(g.pub_req, cap, &len) ||
	    bput(g.pub_req, cap, &len,
		 "Content-Type: application/json\r\n"
		 "Content-Length: %zu\r\n"
		 "Connection: close\r\n\r\n", bl))
		die("publish request too long");
	memcpy(g.pub_req + len, g.opt.publish_body, bl);
	g.pub_req_len = len + bl;
}

/* Connect a fresh publisher, write the POST, start the round (t0). */
static int publish(void)
{
	struct conn *c = &g.pubs[g.round % NPUB];
	uint64_t deadline = now_ns() + g.opt.timeout_ms * NS_PER_MS;
	int err = 0;

	if (c->fd >= 0)
		conn_fail(c, ERR_HTTP, "no response to an earlier publish");
	conn_reset_parse(c);
	c->state = ST_IDLE;
	c->gen++;
	c->fd = connect_wait(deadline, &err);
	if (c->fd < 0) {
		conn_fail(c, ERR_CONNECT, "connect: %s", strerror(err));
		return -1;
	}
	if (write_all(c->fd, g.pub_req, g.pub_req_len, deadline) < 0) {
		conn_fail(c, ERR_PROTO, "write: %s", strerror(errno));
		return -1;
	}
	g.t0 = now_ns();
	g.in_round = 1;
	c->state = ST_HEAD;
	ep_set(c, EPOLL_CTL_ADD, EPOLLIN);
	return 0;
}

/* ---------------------------------------------------------------- run */

struct results {
	uint64_t expected;
	double connect_s, window_s;
	double server_cpu, client_cpu;
	int server_cpu_ok;
	struct mem_sample idle, held, end;
	uint64_t base_children;		/* --await-children */
	double await_s;
	uint64_t children_short;	/* sockets without a process in time */
};

/*
 * --await-children: websocketd answers 101 before it starts the socket's
 * process, so "connected" is not "served".  Wait (running the event loop)
 * until the server has one more child per live subscriber than it had at
 * the start, or --timeout-ms passed; the shortfall is reported.
 */
static void await_children(struct results *res, uint64_t connected)
{
	uint64_t t0 = now_ns(), deadline = t0 + g.opt.timeout_ms * NS_PER_MS;
	uint64_t want, have = 0;

	want = res->base_children + (connected > g.dead_subs ? connected - g.dead_subs : 0);
	while ((have = count_children()) < want && now_ns() < deadline)
		loop_until(P_NONE, now_ns() + 20 * NS_PER_MS);
	res->await_s += (double)(now_ns() - t0) / 1e9;
	res->children_short = have < want ? want - have : 0;
	if (have < want)
		fprintf(stderr, "fanout: %" PRIu64 " of %" PRIu64 " socket processes"
			" there after %" PRIu64 " ms\n", have - res->base_children,
			want - res->base_children, g.opt.timeout_ms);
}

static void connect_subscribers(struct results *res)
{
	const struct options *o = &g.opt;

	for (uint64_t i = 0; i < o->clients; i += o->batch) {
		uint64_t end = i + o->batch < o->clients ? i + o->batch : o->clients;

		g.pending = end - i;
		for (uint64_t j = i; j < end; j++)
			sub_connect(&g.subs[j]);
		if (!loop_until(P_BATCH, now_ns() + o->timeout_ms * NS_PER_MS)) {
			for (uint64_t j = i; j < end; j++)
				if (!g.subs[j].settled)
					conn_fail(&g.subs[j], ERR_CONNECT,
						  "not subscribed after %" PRIu64 " ms",
						  o->timeout_ms);
		}
		if (o->await_children)
			await_children(res, end);
		if (end < o->clients && o->batch_gap_ms)
			loop_until(P_NONE, now_ns() + o->batch_gap_ms * NS_PER_MS);
	}
}

static void run(struct results *res)
{
	const struct options *o = &g.opt;
	double cpu0 = 0, self0 = 0;
	uint64_t t, w0 = 0;
	int ok0 = 0;

	find_start();
	for (uint64_t i = 0; i < o->clients; i++) {
		struct conn *c = &g.subs[i];

		c->fd = -1;
		c->idx = (uint32_t)i;
		c->role = ROLE_SUB;
		c->cursor = g.start_cursor;
		if (g.nchan_id[0]) {
			snprintf(c->last_mod, sizeof(c->last_mod), "%s", g.nchan_date);
			snprintf(c->etag, sizeof(c->etag), "%s", g.nchan_tag);
		}
	}
	for (int i = 0; i < NPUB; i++) {
		g.pubs[i].fd = -1;
		g.pubs[i].idx = (uint32_t)(o->clients + (uint64_t)i);
		g.pubs[i].role = ROLE_PUB;
	}
	g.prev_round_id = g.start_cursor;
	build_publish_request();

	res->idle = mem_sample();
	res->base_children = count_children();
	t = now_ns();
	connect_subscribers(res);
	res->connect_s = (double)(now_ns() - t) / 1e9;
	loop_until(P_NONE, now_ns() + o->settle_ms * NS_PER_MS);
	res->held = mem_sample();

	for (uint32_t r = 1; r <= o->rounds; r++) {
		int done = 0;

		g.round = r;
		g.round_delivered = 0;
		g.round_max_us = 0;
		g.round_id = 0;
		g.dead_pending = g.dead_subs;
		if (r == 1) {
			cpu0 = cpu_seconds(o->cpu_pids, o->n_cpu, &ok0);
			self0 = self_cpu_seconds();
			w0 = now_ns();
		}
		if (publish() == 0)
			done = loop_until(P_ROUND, g.t0 + o->timeout_ms * NS_PER_MS);
		g.in_round = 0;
		if (!done)
			g.rounds_timed_out++;
		g.missed += o->clients - g.round_delivered;
		g.round_max[r - 1] = g.round_max_us;
		if (r == 1)
			g.warm_from = g.nlat;
		g.round_got[r - 1] = g.round_delivered;
		if (g.round_id > g.prev_round_id)
			g.prev_round_id = g.round_id;
		if (r == o->rounds) {
			int ok1;
			double cpu1 = cpu_seconds(o->cpu_pids, o->n_cpu, &ok1);

			res->window_s = (double)(now_ns() - w0) / 1e9;
			res->client_cpu = self_cpu_seconds() - self0;
			res->server_cpu_ok = ok0 && ok1;
			res->server_cpu = cpu1 - cpu0;
		} else {
			loop_until(P_NONE, now_ns() + o->round_gap_ms * NS_PER_MS);
		}
	}
	/* still held: VmHWM now is each process's peak over the run */
	res->end = mem_sample();
	/* the last publishers' responses */
	loop_until(P_PUBS, now_ns() + o->timeout_ms * NS_PER_MS);
	for (int i = 0; i < NPUB; i++)
		if (g.pubs[i].fd >= 0)
			conn_fail(&g.pubs[i], ERR_HTTP, "no response to publish");
}

/* ------------------------------------------------------------- report */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		int n;

		if (b->cap - b->len >= 64) {
			va_start(ap, fmt);
			n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
			va_end(ap);
			if (n < 0)
				die("vsnprintf failed");
			if ((size_t)n < b->cap - b->len) {
				b->len += (size_t)n;
				return;
			}
		}
		if (b->cap >= (256u << 20))
			die("report too large");
		b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = xrealloc(b->p, b->cap);
	}
}

static void sb_json_str(struct sbuf *b, const char *s)
{
	sb_printf(b, "\"");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			sb_printf(b, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			sb_printf(b, "\\u%04x", ch);
		else
			sb_printf(b, "%c", ch);
	}
	sb_printf(b, "\"");
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of n sorted microseconds, in ms. */
static double pct_of_ms(const uint32_t *lat, uint64_t n, unsigned pct)
{
	uint64_t rank;

	if (!n)
		return 0.0;
	rank = (n * pct + 99) / 100;
	if (rank == 0)
		rank = 1;
	return lat[rank - 1] / 1000.0;
}

static double pct_ms(unsigned pct)
{
	return pct_of_ms(g.lat, g.nlat, pct);
}

static uint64_t total_errors(void)
{
	uint64_t t = 0;

	for (int k = 0; k < ERR_KINDS; k++)
		t += g.err[k];
	return t;
}

static const char *mode_name(enum mode m)
{
	return m == MODE_LONGPOLL ? "longpoll" : m == MODE_SSE ? "sse" : "ws";
}

static void report(const struct results *res, int ok)
{
	const struct options *o = &g.opt;
	double mean = 0, per_rss = 0, per_pss = 0, per_peak = 0, per_kern = 0;
	int mem_ok = res->idle.ok && res->held.ok;
	int end_ok = mem_ok && res->end.ok;
	uint64_t sum = 0, warm_n = 0;
	double warm99 = 0;

	/* rounds 2..R first: sorting that tail in place only permutes what
	 * the sort of the whole array sorts next */
	if (o->rounds > 1 && g.nlat > g.warm_from) {
		warm_n = g.nlat - g.warm_from;
		qsort(g.lat + g.warm_from, warm_n, sizeof(g.lat[0]), cmp_u32);
		warm99 = pct_of_ms(g.lat + g.warm_from, warm_n, 99);
	}
	qsort(g.lat, g.nlat, sizeof(g.lat[0]), cmp_u32);
	for (uint64_t i = 0; i < g.nlat; i++)
		sum += g.lat[i];
	if (g.nlat)
		mean = (double)sum / (double)g.nlat / 1000.0;
	if (mem_ok) {
		per_rss = ((double)res->held.rss_kb - (double)res->idle.rss_kb) /
			  (double)o->clients;
		per_pss = ((double)res->held.pss_kb - (double)res->idle.pss_kb) /
			  (double)o->clients;
		/* the kernel's own per-process cost: page tables, and a
		 * KSTACK_KB kernel stack per thread */
		per_kern = ((double)res->held.pte_kb - (double)res->idle.pte_kb +
			    KSTACK_KB * ((double)res->held.threads -
					 (double)res->idle.threads)) /
			   (double)o->clients;
	}
	if (end_ok)
		per_peak = ((double)res->end.hwm_kb - (double)res->idle.rss_kb) /
			   (double)o->clients;

	fprintf(stderr, "fanout: %s/%s, %" PRIu64 " clients x %" PRIu64
		" rounds, %s:%u%s\n", mode_name(o->mode),
		o->target == TARGET_NCHAN ? "nchan" : "logcast", o->clients,
		o->rounds, o->host, o->port, o->path);
	fprintf(stderr, "  delivered  %" PRIu64 "/%" PRIu64 " (%.2f%%)  missed %"
		PRIu64 " (rounds timed out %" PRIu64 ")\n", g.nlat, res->expected,
		res->expected ? 100.0 * (double)g.nlat / (double)res->expected : 0.0,
		g.missed, g.rounds_timed_out);
	fprintf(stderr, "  errors     %" PRIu64 " (connect %" PRIu64 ", http %" PRIu64
		", protocol %" PRIu64 ")  stale %" PRIu64 " late %" PRIu64
		" extra %" PRIu64 " reconnects %" PRIu64 "\n", total_errors(),
		g.err[ERR_CONNECT], g.err[ERR_HTTP], g.err[ERR_PROTO], g.stale,
		g.late, g.extra, g.reconnects);
	if (g.nlat)
		fprintf(stderr, "  latency ms p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  mean %.2f\n",
			pct_ms(50), pct_ms(90), pct_ms(99), pct_ms(100), mean);
	else
		fprintf(stderr, "  latency ms n/a (nothing delivered)\n");
	if (warm_n)
		fprintf(stderr, "  latency ms p99 of rounds 2..%" PRIu64 " %.2f\n",
			o->rounds, warm99);
	fprintf(stderr, "  round max ms");
	for (uint64_t r = 0; r < o->rounds; r++) {
		if (r == 40) {
			fprintf(stderr, " ...");
			break;
		}
		fprintf(stderr, " %.1f", g.round_max[r] / 1000.0);
	}
	fprintf(stderr, "\n  connect    %.2f s for %" PRIu64 " subscribers",
		res->connect_s, o->clients);
	if (o->await_children)
		fprintf(stderr, " (%.2f s of it waiting for their processes, %" PRIu64
			" missing)", res->await_s, res->children_short);
	fputc('\n', stderr);
	if (res->server_cpu_ok)
		fprintf(stderr, "  cpu s      server %.3f  client %.3f  over %.3f s\n",
			res->server_cpu, res->client_cpu, res->window_s);
	else
		fprintf(stderr, "  cpu s      server n/a  client %.3f  over %.3f s\n",
			res->client_cpu, res->window_s);
	if (mem_ok)
		fprintf(stderr, "  server mem rss idle %.1f MB held %.1f MB (%.2f KB/client)"
			"  pss idle %.1f MB held %.1f MB (%.2f KB/client)\n",
			res->idle.rss_kb / 1024.0, res->held.rss_kb / 1024.0, per_rss,
			res->idle.pss_kb / 1024.0, res->held.pss_kb / 1024.0, per_pss);
	if (mem_ok)
		fprintf(stderr, "  server     processes %" PRIu64 " -> %" PRIu64
			", threads %" PRIu64 " -> %" PRIu64 ", page tables %.1f -> %.1f MB"
			" (kernel %.2f KB/client with %d KB stacks)\n",
			res->idle.procs, res->held.procs, res->idle.threads,
			res->held.threads, res->idle.pte_kb / 1024.0,
			res->held.pte_kb / 1024.0, per_kern, KSTACK_KB);
	if (end_ok)
		fprintf(stderr, "  server     peak rss (sum of VmHWM at the end) %.1f MB"
			" (%.2f KB/client over idle rss)\n",
			res->end.hwm_kb / 1024.0, per_peak);
	fprintf(stderr, "  result     %s\n", ok ? "OK" : "FAILED");

	if (o->json) {
		struct sbuf b = { NULL, 0, 0 };

		sb_printf(&b, "{\"mode\":\"%s\",\"target\":\"%s\",", mode_name(o->mode),
			  o->target == TARGET_NCHAN ? "nchan" : "logcast");
		sb_printf(&b, "\"host\":\"%s\",\"port\":%u,\"path\":", o->host, o->port);
		sb_json_str(&b, o->path);
		sb_printf(&b, ",\"publish_path\":");
		sb_json_str(&b, o->publish_path);
		sb_printf(&b, ",\"clients\":%" PRIu64 ",\"rounds\":%" PRIu64
			  ",\"expected\":%" PRIu64 ",\"delivered\":%" PRIu64
			  ",\"missed\":%" PRIu64 ",\"rounds_timed_out\":%" PRIu64,
			  o->clients, o->rounds, res->expected, g.nlat, g.missed,
			  g.rounds_timed_out);
		sb_printf(&b, ",\"errors\":{\"total\":%" PRIu64 ",\"connect\":%" PRIu64
			  ",\"http\":%" PRIu64 ",\"protocol\":%" PRIu64 "}",
			  total_errors(), g.err[ERR_CONNECT], g.err[ERR_HTTP],
			  g.err[ERR_PROTO]);
		sb_printf(&b, ",\"timeouts\":%" PRIu64 ",\"stale\":%" PRIu64
			  ",\"late\":%" PRIu64 ",\"extra\":%" PRIu64
			  ",\"reconnects\":%" PRIu64, g.missed, g.stale, g.late,
			  g.extra, g.reconnects);
		if (g.nlat) {
			sb_printf(&b, ",\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f"
				  ",\"max\":%.3f,\"mean\":%.3f", pct_ms(50), pct_ms(90),
				  pct_ms(99), pct_ms(100), mean);
			if (warm_n)
				sb_printf(&b, ",\"p99_warm\":%.3f}", warm99);
			else
				sb_printf(&b, ",\"p99_warm\":null}");
		} else {
			sb_printf(&b, ",\"latency_ms\":{\"p50\":null,\"p90\":null,"
				  "\"p99\":null,\"max\":null,\"mean\":null,"
				  "\"p99_warm\":null}");
		}
		sb_printf(&b, ",\"round_max_ms\":[");
		for (uint64_t r = 0; r < o->rounds; r++)
			sb_printf(&b, "%s%.3f", r ? "," : "", g.round_max[r] / 1000.0);
		sb_printf(&b, "],\"round_delivered\":[");
		for (uint64_t r = 0; r < o->rounds; r++)
			sb_printf(&b, "%s%" PRIu64, r ? "," : "", g.round_got[r]);
		sb_printf(&b, "],\"connect_s\":%.3f,\"window_s\":%.3f,\"client_cpu_s\":%.3f",
			  res->connect_s, res->window_s, res->client_cpu);
		if (o->await_children)
			sb_printf(&b, ",\"await_children_s\":%.3f,\"children_short\":%" PRIu64,
				  res->await_s, res->children_short);
		if (res->server_cpu_ok)
			sb_printf(&b, ",\"server_cpu_s\":%.3f", res->server_cpu);
		else
			sb_printf(&b, ",\"server_cpu_s\":null");
		if (mem_ok)
			sb_printf(&b, ",\"server_rss_idle_kb\":%" PRIu64
				  ",\"server_rss_held_kb\":%" PRIu64
				  ",\"server_pss_idle_kb\":%" PRIu64
				  ",\"server_pss_held_kb\":%" PRIu64
				  ",\"server_rss_per_client_kb\":%.3f"
				  ",\"server_pss_per_client_kb\":%.3f",
				  res->idle.rss_kb, res->held.rss_kb, res->idle.pss_kb,
				  res->held.pss_kb, per_rss, per_pss);
		else
			sb_printf(&b, ",\"server_rss_idle_kb\":null,\"server_rss_held_kb\":null"
				  ",\"server_pss_idle_kb\":null,\"server_pss_held_kb\":null"
				  ",\"server_rss_per_client_kb\":null"
				  ",\"server_pss_per_client_kb\":null");
		if (mem_ok)
			sb_printf(&b, ",\"server_procs_idle\":%" PRIu64
				  ",\"server_procs_held\":%" PRIu64
				  ",\"server_threads_idle\":%" PRIu64
				  ",\"server_threads_held\":%" PRIu64
				  ",\"server_pte_idle_kb\":%" PRIu64
				  ",\"server_pte_held_kb\":%" PRIu64
				  ",\"server_kernel_per_client_kb\":%.3f",
				  res->idle.procs, res->held.procs, res->idle.threads,
				  res->held.threads, res->idle.pte_kb, res->held.pte_kb,
				  per_kern);
		else
			sb_printf(&b, ",\"server_procs_idle\":null,\"server_procs_held\":null"
				  ",\"server_threads_idle\":null,\"server_threads_held\":null"
				  ",\"server_pte_idle_kb\":null,\"server_pte_held_kb\":null"
				  ",\"server_kernel_per_client_kb\":null");
		if (end_ok)
			sb_printf(&b, ",\"server_hwm_idle_kb\":%" PRIu64
				  ",\"server_rss_end_kb\":%" PRIu64
				  ",\"server_pss_end_kb\":%" PRIu64
				  ",\"server_rss_peak_kb\":%" PRIu64
				  ",\"server_rss_peak_per_client_kb\":%.3f",
				  res->idle.hwm_kb, res->end.rss_kb, res->end.pss_kb,
				  res->end.hwm_kb, per_peak);
		else
			sb_printf(&b, ",\"server_hwm_idle_kb\":null,\"server_rss_end_kb\":null"
				  ",\"server_pss_end_kb\":null,\"server_rss_peak_kb\":null"
				  ",\"server_rss_peak_per_client_kb\":null");
		sb_printf(&b, ",\"ok\":%s}\n", ok ? "true" : "false");
		fwrite(b.p, 1, b.len, stdout);
		fflush(stdout);
		free(b.p);
	}
}

/* ----------------------------------------------------------- self-test */

struct tbuf {
	char *p;
	size_t len, cap;
};

static void tb_add(struct tbuf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		while (b->len + n > b->cap)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void tb_str(struct tbuf *b, const char *s)
{
	tb_add(b, s, strlen(s));
}

/* Body text as chunks of awkward sizes, some with extensions. */
static void tb_chunked(struct tbuf *b, const char *s, int last)
{
	static const size_t sizes[] = { 1, 5, 13, 2, 64, 3, 31, 7 };
	size_t n = strlen(s), off = 0, k = 0;

	while (off < n) {
		size_t take = sizes[k % 8];
		char hdr[40];

		if (take > n - off)
			take = n - off;
		snprintf(hdr, sizeof(hdr), k % 3 == 1 ? "%zX;ext=\"v\"\r\n" : "%zx\r\n", take);
		tb_str(b, hdr);
		tb_add(b, s + off, take);
		tb_str(b, "\r\n");
		off += take;
		k++;
	}
	if (last)
		tb_str(b, "0\r\nX-Trailer: yes\r\n\r\n");
}

/* A server frame (unmasked unless masked); lenmode 16/64 forces the form. */
static void tb_ws(struct tbuf *b, int fin, unsigned op, const char *p, size_t n,
		  int lenmode, int masked)
{
	unsigned char h[14];
	size_t hl = 2;

	h[0] = (unsigned char)((fin ? 0x80 : 0) | op);
	if (lenmode == 64 || (lenmode == 0 && n > 0xffff)) {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	} else if (lenmode == 16 || n > 125) {
		h[1] = 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = (unsigned char)n;
	}
	if (masked) {
		h[1] |= 0x80;
		memset(h + hl, 0, 4);	/* zero key: payload unchanged */
		hl += 4;
	}
	tb_add(b, h, hl);
	if (p)
		tb_add(b, p, n);
}

static char *envelope(uint64_t id, size_t pad)
{
	size_t cap = pad + 128;
	char *e = xrealloc(NULL, cap);
	int n = snprintf(e, cap, "{\"id\":%" PRIu64 ",\"channel\":\"bench\","
			 "\"time\":\"2026-01-01T00:00:00Z\",\"data\":{\"id\":999,\"pad\":\"",
			 id);

	memset(e + n, 'x', pad);
	memcpy(e + n + pad, "\"}}", 4);
	return e;
}

struct tcase {
	const char *name;
	enum mode mode;
	enum target target;
	uint64_t cursor;
	struct tbuf s;
	int eof;		/* feed an EOF after the bytes */
	int fail;		/* the connection must fail */
	uint64_t ids[16];	/* delivered ids (nchan: message lengths) */
	size_t nids;
	const char *has[8];	/* substrings of the requests sent ... */
	int has_n[8];		/* ... and how often */
	struct {
		unsigned op;
		const char *p;
		size_t n;
	} frames[4];		/* ws frames the client must send */
	size_t nframes;
	uint32_t gen;		/* expected reconnects */
};

static int t_failures, t_checks;

static void t_setup(struct conn *c, const struct tcase *tc)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->role = ROLE_SUB;
	c->cursor = tc->cursor;
	g.opt.mode = tc->mode;
	g.opt.target = tc->target;
	g.ntlog = 0;
	memset(g.err, 0, sizeof(g.err));
	buf_reset(&g.cap);
	rng_state = 0x12345678ABCDEFULL;	/* same ws key every run */
	sub_start(c);
}

static size_t count_sub(const char *h, size_t hn, const char *needle)
{
	size_t nl = strlen(needle), cnt = 0;

	for (size_t i = 0; i + nl <= hn; i++)
		if (!memcmp(h + i, needle, nl))
			cnt++;
	return cnt;
}

static int t_check_frames(const struct tcase *tc, const char *p, size_t n,
			  char *why, size_t wcap)
{
	size_t i = 0, k = 0;

	while (i < n) {
		const unsigned char *f = (const unsigned char *)p + i;
		size_t len;
		char pl[125];

		if (n - i < 6 || !(f[1] & 0x80) || (f[1] & 0x7f) > 125 ||
		    n - i < 6 + (size_t)(f[1] & 0x7f)) {
			snprintf(why, wcap, "client frame %zu malformed or unmasked", k);
			return -1;
		}
		len = f[1] & 0x7f;
		for (size_t j = 0; j < len; j++)
			pl[j] = (char)(f[6 + j] ^ f[2 + (j & 3)]);
		if (k >= tc->nframes || !(f[0] & 0x80) ||
		    (f[0] & 0x0f) != tc->frames[k].op || len != tc->frames[k].n ||
		    memcmp(pl, tc->frames[k].p, len)) {
			snprintf(why, wcap, "client frame %zu: op %u len %zu unexpected",
				 k, f[0] & 0x0fu, len);
			return -1;
		}
		i += 6 + len;
		k++;
	}
	if (k != tc->nframes) {
		snprintf(why, wcap, "client sent %zu frames, want %zu", k, tc->nframes);
		return -1;
	}
	return 0;
}

/* Feed tc->s cut at the given positions; check the outcome. */
static void t_once(const struct tcase *tc, const size_t *cuts, size_t ncuts,
		   const char *how)
{
	struct conn c;
	size_t prev = 0, hs;
	char why[160] = "";
	int dead;

	t_setup(&c, tc);
	hs = g.cap.len;		/* the first request */
	for (size_t i = 0; i <= ncuts && c.state != ST_DEAD; i++) {
		size_t end = i < ncuts ? cuts[i] : tc->s.len;

		if (end > prev)
			conn_feed(&c, tc->s.p + prev, end - prev);
		prev = end;
	}
	if (tc->eof && c.state != ST_DEAD)
		conn_eof(&c, 0);
	dead = c.state == ST_DEAD;
	t_checks++;
	if (dead != tc->fail) {
		snprintf(why, sizeof(why), "connection %s", dead ? "failed" : "did not fail");
	} else if (g.ntlog != tc->nids ||
		   memcmp(g.tlog, tc->ids, tc->nids * sizeof(tc->ids[0]))) {
		int o = snprintf(why, sizeof(why), "delivered");

		for (size_t i = 0; i < g.ntlog && o > 0 && (size_t)o < sizeof(why) - 24; i++)
			o += snprintf(why + o, sizeof(why) - (size_t)o, " %" PRIu64, g.tlog[i]);
	} else if (c.gen != tc->gen) {
		snprintf(why, sizeof(why), "%u reconnects, want %u", c.gen, tc->gen);
	} else if (tc->mode == MODE_WS) {
		/* skip the handshake request */
		t_check_frames(tc, g.cap.p + hs, g.cap.len - hs, why, sizeof(why));
	} else {
		for (int i = 0; i < 8 && tc->has[i]; i++) {
			size_t cnt = count_sub(g.cap.p, g.cap.len, tc->has[i]);

			if (cnt != (size_t)tc->has_n[i]) {
				snprintf(why, sizeof(why), "request text \"%.60s\" seen %zu times, want %d",
					 tc->has[i], cnt, tc->has_n[i]);
				break;
			}
		}
	}
	if (why[0]) {
		if (t_failures++ < 20)
			fprintf(stderr, "self-test: FAIL %s (%s): %s\n", tc->name, how, why);
	}
	buf_free(&c.in);
	buf_free(&c.msg);
	buf_free(&c.out);
}

/* Whole, every 2-way split, byte by byte, and (small streams) 3-way. */
static void t_run(const struct tcase *tc)
{
	size_t n = tc->s.len, *cuts = xrealloc(NULL, (n + 1) * sizeof(size_t));
	char how[64];

	t_once(tc, NULL, 0, "whole");
	for (size_t i = 1; i < n; i++) {
		if (n > 4096 && i > 300 && i < n - 300 && i % 251)
			continue;	/* big streams: the edges, then every 251st */
		cuts[0] = i;
		snprintf(how, sizeof(how), "split at %zu", i);
		t_once(tc, cuts, 1, how);
	}
	for (size_t i = 1; i < n; i++)
		cuts[i - 1] = i;
	t_once(tc, cuts, n ? n - 1 : 0, "byte by byte");
	if (n <= 700) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = i + 1; j < n; j++) {
				cuts[0] = i;
				cuts[1] = j;
				snprintf(how, sizeof(how), "split at %zu and %zu", i, j);
				t_once(tc, cuts, 2, how);
			}
	}
	free(cuts);
}

static void t_expect(int cond, const char *what)
{
	t_checks++;
	if (!cond) {
		t_failures++;
		fprintf(stderr, "self-test: FAIL %s\n", what);
	}
}

static void t_units(void)
{
	static const struct {
		const char *in, *hex;
	} sv[] = {
		{ "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
		{ "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
	};
	char acc[32], big[200];
	uint64_t v;
	size_t cnt;

	for (size_t i = 0; i < sizeof(sv) / sizeof(sv[0]); i++) {
		unsigned char d[20];
		char hex[41];

		sha1(sv[i].in, strlen(sv[i].in), d);
		for (int j = 0; j < 20; j++)
			snprintf(hex + 2 * j, 3, "%02x", d[j]);
		t_expect(!strcmp(hex, sv[i].hex), "sha1 test vector");
	}
	memset(big, 'a', sizeof(big));	/* 55..64-byte tails: padding edges */
	for (size_t l = 55; l <= 64; l++) {
		unsigned char d1[20], d2[20];

		sha1(big, l, d1);
		sha1(big, l, d2);
		t_expect(!memcmp(d1, d2, 20), "sha1 deterministic");
	}
	ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", acc);	/* RFC 6455 1.3 */
	t_expect(!strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "RFC 6455 accept key");

#define ARR(s) envelope_array_max(s, strlen(s), &v, &cnt)
	t_expect(ARR("[]") == 0 && cnt == 0, "[] is empty");
	t_expect(ARR(" [ {\"data\":{\"id\":77},\"id\":3} ,{\"id\":12,\"x\":\"]}\\\"\"}] ") == 0 &&
		 v == 12 && cnt == 2, "array max id ignores ids in data and strings");
	t_expect(ARR("[{\"id\":1},]") < 0, "trailing comma rejected");
	t_expect(ARR("[{\"data\":{\"id\":3}}]") < 0, "envelope without top-level id rejected");
	t_expect(ARR("[{\"id\":-1}]") < 0, "negative id rejected");
	t_expect(ARR("[{\"id\":1.5}]") < 0, "fractional id rejected");
	t_expect(ARR("[{\"id\":1}] x") < 0, "garbage after array rejected");
	t_expect(ARR("[{\"id\":18446744073709551615}]") == 0 && v == UINT64_MAX, "max id");
	t_expect(ARR("[{\"id\":18446744073709551616}]") < 0, "id overflow rejected");
	t_expect(ARR("[{\"id\":1,\"t\":tru}]") < 0, "bad literal rejected");
#undef ARR
	t_expect(parse_u64("007", 3, 0, 10, &v) == 0 && v == 7, "parse_u64");
	t_expect(parse_u64(" 7", 2, 0, 10, &v) < 0 && parse_u64("+7", 2, 0, 10, &v) < 0 &&
		 parse_u64("11", 2, 0, 10, &v) < 0 && parse_u64("", 0, 0, 10, &v) < 0,
		 "parse_u64 rejects blanks, signs, range, empty");
}

static int self_test(void)
{
	static const char sse_head[] =
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
	static const char json_ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
	struct tcase tc;
	struct conn wc;
	char *e7 = envelope(7, 0), *e8 = envelope(8, 300), *e9 = envelope(9, 40);
	char *e10 = envelope(10, 3), *e11 = envelope(11, 70000), *e12 = envelope(12, 0);
	char *ebig = envelope(13, MSG_MAX), accept_line[80];
	struct tbuf body = { NULL, 0, 0 };
	char tmp[512];
	size_t l9;

	g.selftest = 1;
	g.ep = -1;
	g.opt.clients = 1;
	snprintf(g.opt.host, sizeof(g.opt.host), "127.0.0.1");
	g.opt.port = 8080;
	t_units();

	/* 1: logcast SSE, chunked, CRLF, comments, multi-line data, stale */
	memset(&tc, 0, sizeof(tc));
	tc.name = "sse logcast chunked";
	tc.mode = MODE_SSE;
	g.opt.path = "/api/channels/bench/events";
	tc.cursor = 6;
	tb_str(&tc.s, sse_head);
	tb_str(&body, ": connected\r\n\r\nretry: 2000\r\n\r\nid: 7\r\ndata: ");
	tb_str(&body, e7);
	tb_str(&body, "\r\n\r\n: keep-alive\r\n\r\nevent: message\r\nid: 8\r\ndata: "
	       "{\"id\":8,\"channel\":\"bench\",\r\ndata:  \"time\":\"t\",\"data\":[1,{\"id\":3}]}\r\n\r\n"
	       "id:9\ndata:{\"id\":9,\"channel\":\"bench\",\"time\":\"t\",\"data\":\"}\\\"\"}\n\n"
	       "id: 5\r\ndata: {\"id\":5,\"data\":null}\r\n\r\n");
	tb_add(&body, "", 1);
	tb_chunked(&tc.s, body.p, 0);
	tc.ids[0] = 7, tc.ids[1] = 8, tc.ids[2] = 9, tc.ids[3] = 5, tc.nids = 4;
	tc.has[0] = "Last-Event-ID: 6\r\n", tc.has_n[0] = 1;
	t_run(&tc);
	free(tc.s.p);
	body.len = 0;

	/* 2: nchan EventSource, not chunked, LF lines */
	memset(&tc, 0, sizeof(tc));
	tc.name = "sse nchan";
	tc.mode = MODE_SSE;
	tc.target = TARGET_NCHAN;
	g.opt.path = "/sub/bench";
	tb_str(&tc.s, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
	       "Connection: keep-alive\r\n\r\n: hi\n\nid: 1795892868:0\ndata: msg2\n\n"
	       "id: 1795892868:1\ndata: hello world\n\n");
	tc.ids[0] = 4, tc.ids[1] = 11, tc.nids = 2;
	t_run(&tc);
	free(tc.s.p);

	/* 3: SSE id and envelope id disagree */
	memset(&tc, 0, sizeof(tc));
	tc.name = "sse id mismatch";
	tc.mode = MODE_SSE;
	tc.fail = 1;
	tb_str(&tc.s, sse_head);
	tb_chunked(&tc.s, "id: 7\ndata: {\"id\":8}\n\n", 0);
	t_run(&tc);
	free(tc.s.p);

	/* 4: an event larger than the buffer */
	memset(&tc, 0, sizeof(tc));
	tc.name = "sse oversize event";
	tc.mode = MODE_SSE;
	tc.fail = 1;
	tb_str(&tc.s, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: ");
	tb_str(&tc.s, ebig);
	tb_str(&tc.s, "\n\n");
	t_once(&tc, NULL, 0, "whole");
	free(tc.s.p);

	/* 5: logcast long-poll: chunked, 204, keep-alive, close, EOF body */
	memset(&tc, 0, sizeof(tc));
	tc.name = "longpoll logcast";
	tc.mode = MODE_LONGPOLL;
	tc.cursor = 6;
	g.opt.path = "/api/channels/bench/poll";
	tb_str(&tc.s, json_ok);
	tb_str(&tc.s, "Transfer-Encoding: chunked\r\n\r\n");
	tb_chunked(&tc.s, "[{\"id\":7,\"channel\":\"bench\",\"time\":\"t\",\"data\":{\"id\":1000,"
		   "\"l\":[1,{\"id\":5}]}},{\"id\":8,\"channel\":\"bench\",\"time\":\"t\","
		   "\"data\":\"]}\"}]", 1);
	tb_str(&tc.s, "HTTP/1.1 204 No Content\r\n\r\n");
	snprintf(tmp, sizeof(tmp), "[{\"id\":9,\"channel\":\"bench\",\"time\":\"t\",\"data\":{}}]");
	snprintf(accept_line, sizeof(accept_line), "Content-Length: %zu\r\n\r\n", strlen(tmp));
	tb_str(&tc.s, json_ok);
	tb_str(&tc.s, accept_line);
	tb_str(&tc.s, tmp);
	snprintf(tmp, sizeof(tmp), "[{\"id\":10,\"channel\":\"bench\",\"time\":\"t\",\"data\":1}]");
	snprintf(accept_line, sizeof(accept_line), "Content-Length: %zu\r\n", strlen(tmp));
	tb_str(&tc.s, json_ok);
	tb_str(&tc.s, accept_line);
	tb_str(&tc.s, "Connection: close\r\n\r\n");
	tb_str(&tc.s, tmp);
	tb_str(&tc.s, "HTTP/1.0 200 OK\r\n\r\n[{\"id\":11,\"channel\":\"bench\",\"time\":\"t\",\"data\":[]}]");
	tc.eof = 1;
	tc.ids[0] = 8, tc.ids[1] = 9, tc.ids[2] = 10, tc.ids[3] = 11, tc.nids = 4;
	tc.has[0] = "GET /api/channels/bench/poll?since=6&timeout=120 HTTP/1.1\r\n", tc.has_n[0] = 1;
	tc.has[1] = "?since=8&timeout=120 ", tc.has_n[1] = 2;
	tc.has[2] = "?since=9&timeout=120 ", tc.has_n[2] = 1;
	tc.has[3] = "?since=10&timeout=120 ", tc.has_n[3] = 1;
	tc.has[4] = "?since=11&timeout=120 ", tc.has_n[4] = 1;
	tc.has[5] = "Host: 127.0.0.1:8080\r\n", tc.has_n[5] = 6;
	tc.gen = 2;
	t_run(&tc);
	free(tc.s.p);

	/* 6: nchan long-poll: Last-Modified/Etag become the next request's */
	memset(&tc, 0, sizeof(tc));
	tc.name = "longpoll nchan";
	tc.mode = MODE_LONGPOLL;
	tc.target = TARGET_NCHAN;
	g.opt.path = "/sub/bench";
	tb_str(&tc.s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n"
	       "Last-Modified: Sat, 28 Nov 2026 19:07:48 GMT\r\nConnection: keep-alive\r\n"
	       "Etag: 0\r\nVary: If-None-Match, If-Modified-Since\r\n\r\nmsg2"
	       "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"
	       "Last-Modified: Sat, 28 Nov 2026 19:07:48 GMT\r\nEtag: 1\r\n\r\nmsg3xx"
	       "HTTP/1.1 304 Not Modified\r\n\r\n");
	tc.ids[0] = 4, tc.ids[1] = 6, tc.nids = 2;
	tc.has[0] = "If-Modified-Since: Sat, 28 Nov 2026 19:07:48 GMT\r\nIf-None-Match: 0\r\n";
	tc.has_n[0] = 1;
	tc.has[1] = "If-Modified-Since: Sat, 28 Nov 2026 19:07:48 GMT\r\nIf-None-Match: 1\r\n";
	tc.has_n[1] = 2;
	tc.has[2] = "GET /sub/bench HTTP/1.1\r\n", tc.has_n[2] = 4;
	t_run(&tc);
	free(tc.s.p);

	/* 7: errors: 500, bad chunk size, body not an array */
	memset(&tc, 0, sizeof(tc));
	tc.name = "longpoll 500";
	tc.mode = MODE_LONGPOLL;
	tc.fail = 1;
	g.opt.path = "/api/channels/bench/poll";
	tb_str(&tc.s, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
	t_run(&tc);
	tc.s.len = 0;
	tc.name = "longpoll bad chunk";
	tb_str(&tc.s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[{}]]\r\nZZ\r\n");
	t_run(&tc);
	tc.s.len = 0;
	tc.name = "longpoll not an array";
	tb_str(&tc.s, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{\"id\":9 }");
	t_run(&tc);
	free(tc.s.p);

	/* 8: websocket: 7/16/64-bit lengths, fragments, pings, pong */
	memset(&tc, 0, sizeof(tc));
	tc.name = "ws logcast";
	tc.mode = MODE_WS;
	g.opt.path = "/ws/bench";
	t_setup(&wc, &tc);	/* learn the expected accept for the fixed key */
	snprintf(accept_line, sizeof(accept_line), "Sec-WebSocket-Accept: %s\r\n\r\n",
		 wc.accept);
	buf_free(&wc.out);
	tb_str(&tc.s, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	       "Connection: Upgrade\r\n");
	tb_str(&tc.s, accept_line);
	tb_ws(&tc.s, 1, 1, e7, strlen(e7), 0, 0);
	tb_ws(&tc.s, 1, 9, "hb", 2, 0, 0);
	tb_ws(&tc.s, 1, 1, e8, strlen(e8), 0, 0);		/* 16-bit */
	l9 = strlen(e9);
	tb_ws(&tc.s, 0, 1, e9, 10, 0, 0);
	tb_ws(&tc.s, 1, 9, "p2", 2, 0, 0);			/* ping between fragments */
	tb_ws(&tc.s, 0, 0, e9 + 10, 20, 0, 0);
	tb_ws(&tc.s, 1, 0xA, "x", 1, 0, 0);			/* unsolicited pong */
	tb_ws(&tc.s, 1, 0, e9 + 30, l9 - 30, 0, 0);
	tb_ws(&tc.s, 1, 2, e10, strlen(e10), 64, 0);		/* 64-bit form, small */
	tb_ws(&tc.s, 1, 1, e11, strlen(e11), 0, 0);		/* 64-bit, 70 kB */
	tb_ws(&tc.s, 0, 1, "", 0, 16, 0);			/* empty first fragment */
	tb_ws(&tc.s, 1, 0, e12, strlen(e12), 0, 0);
	tc.ids[0] = 7, tc.ids[1] = 8, tc.ids[2] = 9, tc.ids[3] = 10, tc.ids[4] = 11;
	tc.ids[5] = 12, tc.nids = 6;
	tc.frames[0].op = 0xA, tc.frames[0].p = "hb", tc.frames[0].n = 2;
	tc.frames[1].op = 0xA, tc.frames[1].p = "p2", tc.frames[1].n = 2;
	tc.nframes = 2;
	t_run(&tc);

	/* 9: close frame: answered with the same code, then a failure */
	{
		struct tbuf head = { NULL, 0, 0 };
		size_t hl;

		/* keep the 101 head, drop the frames */
		hl = (size_t)(strstr(tc.s.p, "\r\n\r\n") - tc.s.p) + 4;
		tb_add(&head, tc.s.p, hl);
		free(tc.s.p);
		memset(&tc.s, 0, sizeof(tc.s));

		tc.name = "ws close";
		tc.fail = 1;
		tc.s.len = 0;
		tb_add(&tc.s, head.p, hl);
		tb_ws(&tc.s, 1, 1, e7, strlen(e7), 0, 0);
		tb_ws(&tc.s, 1, 8, "\x03\xe9" "bye", 5, 0, 0);
		tc.ids[0] = 7, tc.nids = 1;
		tc.frames[0].op = 0x8, tc.frames[0].p = "\x03\xe9", tc.frames[0].n = 2;
		tc.nframes = 1;
		t_run(&tc);

		tc.nframes = 0;
		tc.nids = 0;
		tc.name = "ws masked server frame";
		tc.s.len = 0;
		tb_add(&tc.s, head.p, hl);
		tb_ws(&tc.s, 1, 1, "{\"id\":7}", 8, 0, 1);
		t_run(&tc);

		tc.name = "ws continuation without start";
		tc.s.len = 0;
		tb_add(&tc.s, head.p, hl);
		tb_ws(&tc.s, 1, 0, "{\"id\":7}", 8, 0, 0);
		t_run(&tc);

		tc.name = "ws message too large";
		tc.s.len = 0;
		tb_add(&tc.s, head.p, hl);
		tb_ws(&tc.s, 1, 1, NULL, (size_t)MSG_MAX + 1, 64, 0);
		t_run(&tc);

		tc.name = "ws fragmented ping";
		tc.s.len = 0;
		tb_add(&tc.s, head.p, hl);
		tb_ws(&tc.s, 0, 9, "a", 1, 0, 0);
		t_run(&tc);

		tc.name = "ws wrong accept";
		tc.s.len = 0;
		tb_str(&tc.s, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		       "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
		t_run(&tc);

		tc.name = "ws not 101";
		tc.s.len = 0;
		tb_str(&tc.s, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
		t_run(&tc);

		/* nchan websocket: raw bodies */
		tc.name = "ws nchan";
		tc.target = TARGET_NCHAN;
		tc.fail = 0;
		tc.s.len = 0;
		tb_add(&tc.s, head.p, hl);
		tb_ws(&tc.s, 1, 1, "hello", 5, 0, 0);
		tb_ws(&tc.s, 0, 1, "ab", 2, 0, 0);
		tb_ws(&tc.s, 1, 0, "cd", 2, 0, 0);
		tc.ids[0] = 5, tc.ids[1] = 4, tc.nids = 2;
		t_run(&tc);
		free(head.p);
		free(tc.s.p);
	}

	free(e7), free(e8), free(e9), free(e10), free(e11), free(e12), free(ebig);
	free(body.p);
	buf_free(&g.cap);
	if (t_failures) {
		fprintf(stderr, "self-test: %d of %d checks FAILED\n", t_failures, t_checks);
		return 1;
	}
	fprintf(stderr, "self-test: all %d checks passed\n", t_checks);
	return 0;
}

/* -------------------------------------------------------------- options */

static const char usage_text[] =
"usage: fanout --mode longpoll|sse|ws --clients N --rounds R --port P\n"
"              --path SUBSCRIBE_PATH --publish-path PUBLISH_PATH [options]\n"
"       fanout --self-test | --help\n"
"\n"
"Measures publish->delivery latency of one channel to N subscribers.\n"
"\n"
"  --mode M             longpoll, sse or ws\n"
"  --clients N          concurrent subscribers\n"
"  --rounds R           messages published, one per round\n"
"  --host A.B.C.D       server IPv4 address (127.0.0.1)\n"
"  --port P             server port\n"
"  --path PATH          subscribe path (/api/channels/bench/poll, ..., /sub/bench)\n"
"  --publish-path PATH  POST target (/api/channels/bench/messages, /pub/bench)\n"
"  --publish-body BODY  message published ({\"bench\":true})\n"
"  --target T           logcast or nchan: which protocol dialect (logcast)\n"
"  --batch N            connections opened at a time (500)\n"
"  --batch-gap-ms MS    pause between connection batches (0)\n"
"  --settle-ms MS       pause between connecting and round 1 (300)\n"
"  --timeout-ms MS      round timeout, also per connection batch (10000)\n"
"  --round-gap-ms MS    pause between rounds (200)\n"
"  --rss-pids P,P,...   server processes: summed VmRSS and PSS before\n"
"                       connecting (idle) and with all connected (held)\n"
"  --cpu-pids P,P,...   server processes for server_cpu_s (default: --rss-pids)\n"
"  --rss-tree           count every descendant of the --rss-pids/--cpu-pids\n"
"                       too, found anew at each sample (websocketd's children)\n"
"  --await-children     after each batch, wait until the --rss-pids have one\n"
"                       more child per connected subscriber (websocketd starts\n"
"                       a socket's process after its 101), at most --timeout-ms\n"
"  --cursor-path PATH   logcast: where to learn the channel's last id\n"
"                       (default /api/channels/<chan>/messages?limit=1,\n"
"                       <chan> taken from --path)\n"
"  --since N            logcast: start from id N, skip that lookup\n"
"  --json               also print one JSON object with the results on stdout\n"
"  --self-test          run the parser self-tests and exit\n"
"  --help               this text\n"
"\n"
"Exit status: 0 all deliveries and no errors, 1 otherwise, 2 usage error.\n";

enum opt_id {
	OPT_MODE, OPT_CLIENTS, OPT_ROUNDS, OPT_HOST, OPT_PORT, OPT_PATH, OPT_PUBPATH, OPT_BODY,
	OPT_TARGET, OPT_BATCH, OPT_BATCHGAP, OPT_SETTLE, OPT_TIMEOUT, OPT_ROUNDGAP, OPT_RSS,
	OPT_CPU, OPT_TREE, OPT_AWAIT, OPT_CURSOR, OPT_SINCE, OPT_JSON, OPT_SELFTEST, OPT_HELP, OPT_COUNT,
};

static const struct {
	const char *name;
	int arg;
} opt_defs[OPT_COUNT] = {
	[OPT_MODE] = { "mode", 1 }, [OPT_CLIENTS] = { "clients", 1 },
	[OPT_ROUNDS] = { "rounds", 1 }, [OPT_HOST] = { "host", 1 },
	[OPT_PORT] = { "port", 1 }, [OPT_PATH] = { "path", 1 },
	[OPT_PUBPATH] = { "publish-path", 1 }, [OPT_BODY] = { "publish-body", 1 },
	[OPT_TARGET] = { "target", 1 }, [OPT_BATCH] = { "batch", 1 },
	[OPT_BATCHGAP] = { "batch-gap-ms", 1 }, [OPT_SETTLE] = { "settle-ms", 1 },
	[OPT_TIMEOUT] = { "timeout-ms", 1 }, [OPT_ROUNDGAP] = { "round-gap-ms", 1 },
	[OPT_RSS] = { "rss-pids", 1 }, [OPT_CPU] = { "cpu-pids", 1 },
	[OPT_TREE] = { "rss-tree", 0 }, [OPT_AWAIT] = { "await-children", 0 },
	[OPT_CURSOR] = { "cursor-path", 1 }, [OPT_SINCE] = { "since", 1 },
	[OPT_JSON] = { "json", 0 }, [OPT_SELFTEST] = { "self-test", 0 },
	[OPT_HELP] = { "help", 0 },
};

static uint64_t opt_num(const char *name, const char *v, uint64_t min, uint64_t max)
{
	uint64_t x;

	if (parse_u64(v, strlen(v), min, max, &x) < 0)
		usage_error("--%s: '%s' is not a whole number in [%" PRIu64 ", %" PRIu64 "]",
			    name, v, min, max);
	return x;
}

static const char *opt_path(const char *name, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || v[0] != '/' || n > PATH_MAX_LEN)
		usage_error("--%s: '%s' must start with '/' and be at most %d bytes",
			    name, v, PATH_MAX_LEN);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
			usage_error("--%s: only printable ASCII without blanks is allowed", name);
	return v;
}

static int opt_pids(const char *name, const char *v, int *pids)
{
	int n = 0;
	const char *p = v;

	for (;;) {
		size_t l = strcspn(p, ",");
		uint64_t x;

		if (n == MAX_PIDS)
			usage_error("--%s: at most %d pids", name, MAX_PIDS);
		if (parse_u64(p, l, 1, INT_MAX, &x) < 0)
			usage_error("--%s: '%s' is not a comma-separated list of pids", name, v);
		pids[n++] = (int)x;
		if (!p[l])
			break;
		p += l + 1;
	}
	return n;
}

static int parse_options(int argc, char **argv)
{
	struct options *o = &g.opt;
	int seen[OPT_COUNT] = { 0 };

	o->mode = MODE_LONGPOLL;
	o->target = TARGET_LOGCAST;
	snprintf(o->host, sizeof(o->host), "127.0.0.1");
	o->publish_body = "{\"bench\":true}";
	o->batch = 500;
	o->settle_ms = 300;
	o->timeout_ms = 10000;
	o->round_gap_ms = 200;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *v = NULL;
		size_t nl;
		int id;

		if (strncmp(a, "--", 2))
			usage_error("unexpected argument '%s'", a);
		eq = strchr(a, '=');
		nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		for (id = 0; id < OPT_COUNT; id++)
			if (strlen(opt_defs[id].name) == nl &&
			    !strncmp(opt_defs[id].name, a + 2, nl))
				break;
		if (id == OPT_COUNT)
			usage_error("unknown option '%.*s'", (int)(nl + 2), a);
		if (opt_defs[id].arg) {
			if (eq)
				v = eq + 1;
			else if (i + 1 < argc)
				v = argv[++i];
			else
				usage_error("option --%s needs a value", opt_defs[id].name);
		} else if (eq) {
			usage_error("option --%s takes no value", opt_defs[id].name);
		}
		if (seen[id]++)
			usage_error("option --%s given twice", opt_defs[id].name);

		switch (id) {
		case OPT_MODE:
			if (!strcmp(v, "longpoll"))
				o->mode = MODE_LONGPOLL;
			else if (!strcmp(v, "sse"))
				o->mode = MODE_SSE;
			else if (!strcmp(v, "ws"))
				o->mode = MODE_WS;
			else
				usage_error("--mode: '%s' is not longpoll, sse or ws", v);
			break;
		case OPT_TARGET:
			if (!strcmp(v, "logcast"))
				o->target = TARGET_LOGCAST;
			else if (!strcmp(v, "nchan"))
				o->target = TARGET_NCHAN;
			else
				usage_error("--target: '%s' is not logcast or nchan", v);
			break;
		case OPT_CLIENTS:
			o->clients = opt_num("clients", v, 1, 1000000);
			break;
		case OPT_ROUNDS:
			o->rounds = opt_num("rounds", v, 1, 1000000);
			break;
		case OPT_HOST:
			if (strlen(v) >= sizeof(o->host) ||
			    inet_pton(AF_INET, v, &o->addr.sin_addr) != 1)
				usage_error("--host: '%s' is not an IPv4 address", v);
			snprintf(o->host, sizeof(o->host), "%s", v);
			break;
		case OPT_PORT:
			o->port = (unsigned)opt_num("port", v, 1, 65535);
			break;
		case OPT_PATH:
			o->path = opt_path("path", v);
			break;
		case OPT_PUBPATH:
			o->publish_path = opt_path("publish-path", v);
			break;
		case OPT_CURSOR:
			o->cursor_path = opt_path("cursor-path", v);
			break;
		case OPT_BODY:
			if (strlen(v) > BODY_MAX)
				usage_error("--publish-body: longer than %d bytes", BODY_MAX);
			o->publish_body = v;
			break;
		case OPT_BATCH:
			o->batch = opt_num("batch", v, 1, 1000000);
			break;
		case OPT_BATCHGAP:
			o->batch_gap_ms = opt_num("batch-gap-ms", v, 0, 3600000);
			break;
		case OPT_SETTLE:
			o->settle_ms = opt_num("settle-ms", v, 0, 3600000);
			break;
		case OPT_TIMEOUT:
			o->timeout_ms = opt_num("timeout-ms", v, 1, 3600000);
			break;
		case OPT_ROUNDGAP:
			o->round_gap_ms = opt_num("round-gap-ms", v, 0, 3600000);
			break;
		case OPT_RSS:
			o->n_rss = opt_pids("rss-pids", v, o->rss_pids);
			break;
		case OPT_CPU:
			o->n_cpu = opt_pids("cpu-pids", v, o->cpu_pids);
			break;
		case OPT_TREE:
			o->tree = 1;
			break;
		case OPT_AWAIT:
			o->await_children = 1;
			break;
		case OPT_SINCE:
			o->since = opt_num("since", v, 0, UINT64_MAX);
			o->have_since = 1;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_SELFTEST:
			return 1;
		case OPT_HELP:
			fputs(usage_text, stdout);
			exit(0);
		}
	}
	if (!seen[OPT_MODE] || !seen[OPT_CLIENTS] || !seen[OPT_ROUNDS] || !seen[OPT_PORT] ||
	    !seen[OPT_PATH] || !seen[OPT_PUBPATH])
		usage_error("--mode, --clients, --rounds, --port, --path and "
			    "--publish-path are required");
	if (!seen[OPT_HOST])
		inet_pton(AF_INET, o->host, &o->addr.sin_addr);
	o->addr.sin_family = AF_INET;
	o->addr.sin_port = htons((uint16_t)o->port);
	if (o->target == TARGET_NCHAN && (seen[OPT_SINCE] || seen[OPT_CURSOR]))
		usage_error("--since and --cursor-path are for --target logcast");
	if (o->await_children && !o->n_rss)
		usage_error("--await-children needs --rss-pids");
	if (!seen[OPT_CPU]) {
		memcpy(o->cpu_pids, o->rss_pids, sizeof(o->cpu_pids));
		o->n_cpu = o->n_rss;
	}
	if (o->clients * o->rounds > 50000000)
		usage_error("--clients x --rounds is limited to 50 million deliveries");
	return 0;
}

/* Raise the soft RLIMIT_NOFILE to the hard limit; return the soft one. */
static uint64_t raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;

		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return (uint64_t)rl.rlim_cur;
}

int main(int argc, char **argv)
{
	struct results res;
	uint64_t nofile;
	int ok, status = 1;

	signal(SIGPIPE, SIG_IGN);
	rng_init();
	if (parse_options(argc, argv))
		return self_test();

	nofile = raise_nofile();
	if (g.opt.clients + 32 > nofile)
		usage_error("--clients %" PRIu64 " needs more file descriptors than the "
			    "limit of %" PRIu64, g.opt.clients, nofile);
	if (g.opt.batch > g.opt.clients)
		g.opt.batch = g.opt.clients;

	memset(&res, 0, sizeof(res));
	res.expected = g.opt.clients * g.opt.rounds;
	g.subs = calloc(g.opt.clients, sizeof(*g.subs));
	g.lat_cap = res.expected;
	g.lat = calloc(g.lat_cap, sizeof(*g.lat));
	g.round_max = calloc(g.opt.rounds, sizeof(*g.round_max));
	g.round_got = calloc(g.opt.rounds, sizeof(*g.round_got));
	if (!g.subs || !g.lat || !g.round_max || !g.round_got) {
		fprintf(stderr, "fanout: out of memory\n");
		goto cleanup;
	}
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (g.ep < 0) {
		fprintf(stderr, "fanout: epoll_create1: %s\n", strerror(errno));
		goto cleanup;
	}

	run(&res);
	ok = g.nlat == res.expected && total_errors() == 0;
	report(&res, ok);
	status = ok ? 0 : 1;

cleanup:
	if (g.subs) {
		for (uint64_t i = 0; i < g.opt.clients; i++) {
			conn_close_fd(&g.subs[i]);
			buf_free(&g.subs[i].in);
			buf_free(&g.subs[i].msg);
			buf_free(&g.subs[i].out);
		}
	}
	for (int i = 0; i < NPUB; i++) {
		conn_close_fd(&g.pubs[i]);
		buf_free(&g.pubs[i].in);
		buf_free(&g.pubs[i].msg);
		buf_free(&g.pubs[i].out);
	}
	if (g.ep >= 0)
		close(g.ep);
	free(g.subs);
	free(g.lat);
	free(g.round_max);
	free(g.round_got);
	free(g.pub_req);
	return status;
}
