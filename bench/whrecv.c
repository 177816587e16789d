/*
 * whrecv.c - webhook benchmark endpoints (and publisher), for
 * bench/webhooks.sh.
 *
 * Receiver: many HTTP endpoints in one process, one listening port each,
 * all in one epoll loop (non-blocking sockets, keep-alive).  Every request
 * is answered "200 OK" with an empty body as soon as its Content-Length
 * bytes are in, and counted per port.  When a body contains "lat_us":N
 * (a CLOCK_REALTIME time in microseconds, put there by the publisher just
 * before it sent the message) the publish->delivery latency is recorded.
 *
 *	whrecv --ports 19500-19599 --stats FILE
 *
 * FILE is rewritten (atomically) every 20 ms while counts change:
 *	requests N
 *	latencies K
 *	ports_min A          fewest requests seen by a port
 *	ports_max B
 * SIGUSR1 forgets the latencies recorded so far; SIGUSR2 writes FILE.lat,
 * one JSON line: requests, per-port min/max and the latency percentiles
 * (ms) of what was recorded since the last SIGUSR1.  SIGTERM/SIGINT print
 * that line on stdout and exit.
 *
 * Publisher: POST --count messages {"lat_us":<now>,"seq":i} over one
 * keep-alive connection, --rate per second (0: as fast as answers come),
 * then exit; prints the number published, the time taken and the
 * publish round trip (request written to response read) p50/p99/max.
 *
 *	whrecv --publish 127.0.0.1:8080/api/channels/bench/messages --count 500 [--rate 20]
 *
 * Every buffer is bounded (a request over BUF_MAX closes its connection).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_MAX      (256 * 1024)
#define MAX_PORTS    4096
#define MAX_SAMPLES  (4u << 20)

struct conn {
	int fd;
	int port_idx;            /* -1: a listening socket (fd is it) */
	size_t len;
	char buf[BUF_MAX];
};

static volatile sig_atomic_t stop_flag, reset_flag, report_flag;
static uint64_t requests, *per_port;
static int nports;
static uint32_t *samples;
static size_t nsamples;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		reset_flag = 1;
	else if (sig == SIGUSR2)
		report_flag = 1;
	else
		stop_flag = 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (max - (unsigned)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*out = v;
	return 0;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* ------------------------------------------------------------------ */
/* receiver                                                           */

/* Length of a complete request at the head of c->buf, 0 if incomplete,
 * -1 if malformed. */
static long request_len(struct conn *c)
{
	char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *p;
	unsigned long long cl = 0;
	size_t head;

	if (!end)
		return c->len >= BUF_MAX ? -1 : 0;
	head = (size_t)(end - c->buf) + 4;
	for (p = c->buf; p < end; p++) {
		if ((p == c->buf || p[-1] == '\n') &&
		    !strncasecmp(p, "content-length:", 15)) {
			char num[24];
			size_t i = 0;

			p += 15;
			while (*p == ' ')
				p++;
			while (i < sizeof(num) - 1 && p[i] >= '0' && p[i] <= '9') {
				num[i] = p[i];
				i++;
			}
			num[i] = '\0';
			if (parse_uint(num, BUF_MAX, &cl))
				return -1;
			break;
		}
	}
	if (head + cl > BUF_MAX)
		return -1;
	return c->len >= head + cl ? (long)(head + cl) : 0;
}

static void record(const char *req, size_t len)
{
	const char *p = memmem(req, len, "\"lat_us\":", 9);
	unsigned long long t = 0;
	char num[24];
	size_t i = 0;
	uint64_t now = now_us();

	if (!p)
		return;
	p += 9;
	while (i < sizeof(num) - 1 && p + i < req + len && p[i] >= '0' && p[i] <= '9') {
		num[i] = p[i];
		i++;
	}
	num[i] = '\0';
	if (parse_uint(num, UINT64_MAX, &t) || t > now || nsamples >= MAX_SAMPLES)
		return;
	samples[nsamples++] = (uint32_t)(now - t > UINT32_MAX ? UINT32_MAX : now - t);
}

static int serve(struct conn *c)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	for (;;) {
		ssize_t n = read(c->fd, c->buf + c->len, BUF_MAX - c->len);
		long rl;

		if (n == 0)
			return -1;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		c->len += (size_t)n;
		while ((rl = request_len(c)) > 0) {
			requests++;
			per_port[c->port_idx]++;
			record(c->buf, (size_t)rl);
			if (write(c->fd, ok, sizeof(ok) - 1) != (ssize_t)sizeof(ok) - 1)
				return -1;
			memmove(c->buf, c->buf + rl, c->len - (size_t)rl);
			c->len -= (size_t)rl;
		}
		if (rl < 0)
			return -1;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void port_span(uint64_t *lo, uint64_t *hi)
{
	int i;

	*lo = UINT64_MAX;
	*hi = 0;
	for (i = 0; i < nports; i++) {
		if (per_port[i] < *lo)
			*lo = per_port[i];
		if (per_port[i] > *hi)
			*hi = per_port[i];
	}
	if (!nports)
		*lo = 0;
}

static void write_stats(const char *path)
{
	char tmp[4096];
	uint64_t lo, hi;
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return;
	f = fopen(tmp, "w");
	if (!f)
		return;
	port_span(&lo, &hi);
	fprintf(f, "requests %llu\nlatencies %zu\nports_min %llu\nports_max %llu\n",
		(unsigned long long)requests, nsamples, (unsigned long long)lo,
		(unsigned long long)hi);
	if (fclose(f) == 0)
		rename(tmp, path);
}

static double pct(size_t p)
{
	size_t i;

	if (!nsamples)
		return 0;
	i = (nsamples - 1) * p / 1000;
	return samples[i] / 1000.0;
}

/* The summary line (latencies sorted in place: recording goes on after). */
static void report(FILE *f)
{
	uint64_t lo, hi;

	qsort(samples, nsamples, sizeof(*samples), cmp_u32);
	port_span(&lo, &hi);
	fprintf(f, "{\"requests\":%llu,\"ports\":%d,\"ports_min\":%llu,\"ports_max\":%llu,"
		"\"latencies\":%zu,\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,"
		"\"max_ms\":%.2f}\n", (unsigned long long)requests, nports,
		(unsigned long long)lo, (unsigned long long)hi, nsamples,
		pct(500), pct(900), pct(990),
		nsamples ? samples[nsamples - 1] / 1000.0 : 0.0);
}

static void report_file(const char *stats)
{
	char path[4096], tmp[4200];
	FILE *f;

	if (snprintf(path, sizeof(path), "%s.lat", stats) >= (int)sizeof(path))
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	report(f);
	if (fclose(f) == 0)
		rename(tmp, path);
}

static int receive(int first, int last, const char *stats)
{
	struct epoll_event ev, evs[256];
	uint64_t last_written = UINT64_MAX;
	int ep, i, port;

	nports = last - first + 1;
	per_port = calloc((size_t)nports, sizeof(*per_port));
	samples = malloc(MAX_SAMPLES * sizeof(*samples));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!per_port || !samples || ep < 0)
		die("whrecv: setup");
	for (port = first; port <= last; port++) {
		struct sockaddr_in a;
		struct conn *l = calloc(1, sizeof(*l));
		int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (!l || fd < 0)
			die("whrecv: socket");
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((unsigned short)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1024))
			die("whrecv: bind/listen");
		l->fd = fd;
		l->port_idx = -1 - (port - first);
		ev.events = EPOLLIN;
		ev.data.ptr = l;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			die("whrecv: epoll_ctl");
	}
	write_stats(stats);
	while (!stop_flag) {
		int n = epoll_wait(ep, evs, 256, 20);

		if (reset_flag) {
			reset_flag = 0;
			nsamples = 0;
		}
		if (report_flag) {
			report_flag = 0;
			report_file(stats);
		}
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->port_idx < 0) {
				int fd;

				while ((fd = accept4(c->fd, NULL, NULL,
						     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct conn *nc = malloc(sizeof(*nc));
					int one = 1;

					if (!nc) {
						close(fd);
						continue;
					}
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					nc->fd = fd;
					nc->port_idx = -1 - c->port_idx;
					nc->len = 0;
					ev.events = EPOLLIN;
					ev.data.ptr = nc;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
						close(fd);
						free(nc);
					}
				}
				continue;
			}
			if (serve(c)) {
				close(c->fd);
				free(c);
			}
		}
		if (requests != last_written) {
			write_stats(stats);
			last_written = requests;
		}
	}
	write_stats(stats);
	report(stdout);
	return 0;
}

/* ------------------------------------------------------------------ */
/* publisher                                                          */

static int connect_to(const char *host, int port)
{
	struct sockaddr_in a;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("whrecv: connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Read one response; 0 if it was a 2xx, -1 otherwise.  *closed when the
 * server will close the connection. */
static int read_response(int fd, struct conn *c, int *closed)
{
	long rl;

	for (;;) {
		ssize_t n;

		rl = request_len(c);      /* the same framing works for responses */
		if (rl > 0)
			break;
		if (rl < 0)
			return -1;
		n = read(fd, c->buf + c->len, BUF_MAX - c->len);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
	*closed = memmem(c->buf, (size_t)rl, "Connection: close", 17) != NULL;
	rl = strncmp(c->buf + 9, "2", 1) ? -rl : rl;
	memmove(c->buf, c->buf + labs(rl), c->len - (size_t)labs(rl));
	c->len -= (size_t)labs(rl);
	return rl > 0 ? 0 : -1;
}

static int publish(const char *target, unsigned long long count,
		   unsigned long long rate)
{
	char host[64], *path, req[1024], body[128];
	struct conn *c = malloc(sizeof(*c));
	unsigned long long i, port;
	const char *colon = strchr(target, ':');
	uint64_t t0 = now_us(), next = t0;
	uint32_t *rtt = malloc((count ? count : 1) * sizeof(*rtt));
	int fd, failed = 0;

	path = strchr(target, '/');
	if (!c || !rtt || !colon || !path || (size_t)(colon - target) >= sizeof(host))
		return fprintf(stderr, "whrecv: --publish HOST:PORT/PATH\n"), 2;
	memcpy(host, target, (size_t)(colon - target));
	host[colon - target] = '\0';
	{
		char pbuf[8];
		size_t pl = (size_t)(path - colon - 1);

		if (pl >= sizeof(pbuf))
			return 2;
		memcpy(pbuf, colon + 1, pl);
		pbuf[pl] = '\0';
		if (parse_uint(pbuf, 65535, &port))
			return 2;
	}
	c->len = 0;
	fd = connect_to(host, (int)port);
	for (i = 0; i < count; i++) {
		int bl, rl, closed = 0;
		uint64_t ts;

		if (rate) {
			uint64_t now = now_us();

			if (next > now)
				usleep((useconds_t)(next - now));
			next += 1000000 / rate;
		}
		ts = now_us();
		bl = snprintf(body, sizeof(body), "{\"lat_us\":%llu,\"seq\":%llu}",
			      (unsigned long long)ts, i + 1);
		rl = snprintf(req, sizeof(req),
			      "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
			      "Content-Length: %d\r\n\r\n%s", path, host, bl, body);
		if (write(fd, req, (size_t)rl) != rl || read_response(fd, c, &closed)) {
			failed++;
			closed = 1;
		}
		rtt[i] = (uint32_t)(now_us() - ts);
		if (closed) {
			close(fd);
			c->len = 0;
			fd = connect_to(host, (int)port);
		}
	}
	close(fd);
	qsort(rtt, count, sizeof(*rtt), cmp_u32);
	printf("published %llu in %.3f s (%d failed); round trip p50 %.2f ms, "
	       "p99 %.2f ms, max %.2f ms\n", count, (now_us() - t0) / 1e6, failed,
	       count ? rtt[(count - 1) / 2] / 1000.0 : 0.0,
	       count ? rtt[(count - 1) * 99 / 100] / 1000.0 : 0.0,
	       count ? rtt[count - 1] / 1000.0 : 0.0);
	free(rtt);
	free(c);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long long first = 0, last = 0, count = 0, rate = 0;
	const char *stats = NULL, *target = NULL;
	struct sigaction sa;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--ports") && v) {
			char lo[16];
			const char *dash = strchr(v, '-');
			size_t n = dash ? (size_t)(dash - v) : strlen(v);

			if (n >= sizeof(lo))
				return 2;
			memcpy(lo, v, n);
			lo[n] = '\0';
			if (parse_uint(lo, 65535, &first) ||
			    parse_uint(dash ? dash + 1 : lo, 65535, &last) ||
			    last < first || last - first >= MAX_PORTS)
				return fprintf(stderr, "whrecv: bad --ports\n"), 2;
		} else if (!strcmp(a, "--stats") && v) {
			stats = v;
		} else if (!strcmp(a, "--publish") && v) {
			target = v;
		} else if (!strcmp(a, "--count") && v) {
			if (parse_uint(v, 100000000, &count))
				return 2;
		} else if (!strcmp(a, "--rate") && v) {
			if (parse_uint(v, 1000000, &rate))
				return 2;
		} else {
			fprintf(stderr, "usage: whrecv --ports A-B --stats FILE\n"
				"       whrecv --publish HOST:PORT/PATH --count N [--rate R]\n");
			return 2;
		}
		i++;
	}
	signal(SIGPIPE, SIG_IGN);
	if (target)
		return publish(target, count, rate);
	if (!first || !stats)
		return fprintf(stderr, "whrecv: --ports and --stats are needed\n"), 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	return receive((int)first, (int)last, stats);
}
