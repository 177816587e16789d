/*
 * whaddr.h - where webhooks may be delivered: URL checks and the address
 * policy.
 *
 * A webhook URL is http or https, has no user or password, no fragment,
 * only printable ASCII and at most WHADDR_URL_MAX bytes; libcurl's URL API
 * (CURLU) parses it, so the dispatcher and the checks see the same host
 * and port that libcurl will use.
 *
 * Destinations in these ranges are refused, IPv4 and IPv6, an IPv4-mapped
 * (::ffff:a.b.c.d), IPv4-compatible, NAT64 (64:ff9b::/96) or 6to4 IPv6
 * address being judged by the IPv4 address inside it:
 *
 *   unspecified   0.0.0.0/8, ::/128
 *   private       10/8, 172.16/12, 192.168/16
 *   shared        100.64/10 (carrier-grade NAT)
 *   loopback      127/8, ::1/128
 *   link-local    169.254/16, fe80::/10 (and the old site-local fec0::/10)
 *   unique-local  fc00::/7
 *   multicast     224/4, ff00::/8;  reserved 240/4 (broadcast included)
 *
 * The dispatcher applies the policy to the address it is actually about
 * to connect to (libcurl's CURLOPT_OPENSOCKETFUNCTION), so a host name
 * that resolves to 127.0.0.1 is refused like the literal.  Registration
 * refuses a URL whose host is a literal refused address at once.
 *
 * LOGCAST_WEBHOOK_ALLOW lists exceptions, comma-separated:
 *
 *   10.0.0.0/8, fd00::/8      a CIDR: any address in it, any port
 *   192.168.1.5, ::1          one address, any port
 *   127.0.0.1:8080            one address and one port
 *   [::1]:8080                the same for IPv6
 *   http://127.0.0.1:8080     an origin with a literal address: the same as
 *                             address:port (the port defaults by scheme)
 *   localhost:8080,           a host name (with a port, or an origin): URLs
 *   http://hooks.lan          with exactly that host and port may connect
 *                             wherever the name resolves
 *
 * so `make run` can allow its own demo receiver (127.0.0.1:PORT) without
 * opening the rest of loopback.
 *
 * Ownership: a policy owns its rules; whaddr_policy_release() frees them.
 */
#ifndef WHADDR_H
#define WHADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "lcerr.h"

#define WHADDR_URL_MAX   2048
#define WHADDR_HOST_MAX  256
#define WHADDR_RULES_MAX 256

enum whaddr_kind {
	WHADDR_CIDR,          /* family, addr, prefix; any port */
	WHADDR_ADDR_PORT,     /* family, addr (all bits), port */
	WHADDR_HOST_PORT,     /* host name, port (0: any) */
};

struct whaddr_rule {
	enum whaddr_kind kind;
	int family;                     /* AF_INET or AF_INET6 */
	unsigned char addr[16];         /* network byte order, masked */
	unsigned prefix;
	unsigned port;
	char host[WHADDR_HOST_MAX];     /* lower case */
};

struct whaddr_policy {
	struct whaddr_rule *rules;
	size_t n;
};

/* Where a URL points, as libcurl sees it. */
struct whaddr_target {
	char scheme[8];                 /* "http" or "https" */
	char host[WHADDR_HOST_MAX];     /* lower case, IPv6 without brackets */
	unsigned port;                  /* explicit or the scheme's default */
};

/*
 * Parse an allow list (the syntax above; NULL or "" allows nothing
 * private).  0, or -EINVAL naming the bad entry in `err` (and `p` is left
 * empty).
 */
int whaddr_policy_init(struct whaddr_policy *p, const char *spec,
		       struct lcerr *err);

void whaddr_policy_release(struct whaddr_policy *p);

/*
 * The refused range `sa` (AF_INET or AF_INET6) is in - "loopback",
 * "private", ... - or NULL for an address that may be delivered to.
 */
const char *whaddr_range(const struct sockaddr *sa);

/*
 * May a delivery for target `t` connect to `sa` (port included)?  1 yes;
 * 0 no, with a sentence for the attempt record in `why` ("127.0.0.1 is a
 * loopback address; add it to LOGCAST_WEBHOOK_ALLOW to deliver there").
 */
int whaddr_connect_ok(const struct whaddr_policy *p,
		      const struct whaddr_target *t,
		      const struct sockaddr *sa, char *why, size_t whylen);

/*
 * Check the syntax of a webhook URL (the rules at the top) and fill `t`.
 * When `norm` is not NULL it receives the URL as libcurl normalizes it
 * (new: the caller frees it with free()).  0, or -EINVAL with the reason
 * in `err` (-ENOMEM possible).
 */
int whaddr_url_parse(const char *url, char **norm, struct whaddr_target *t,
		     struct lcerr *err);

/*
 * whaddr_url_parse(), and if the host is a literal address, the policy:
 * a refused one that no rule allows is -EINVAL ("... is a loopback
 * address").  Host names are judged when connecting.
 */
int whaddr_url_check(const struct whaddr_policy *p, const char *url,
		     char **norm, struct whaddr_target *t, struct lcerr *err);

#endif
