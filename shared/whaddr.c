/*
 * whaddr.c - webhook URL checks and the destination policy (see whaddr.h).
 *
 * Addresses are compared as (family, 16 bytes, port) keys; an IPv4-mapped
 * IPv6 address becomes its IPv4 key first, so allowing 127.0.0.0/8 also
 * allows ::ffff:127.0.0.1 and refusing 10/8 also refuses ::ffff:10.0.0.1.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "parse.h"
#include "whaddr.h"

struct key {
	int family;
	unsigned char a[16];
	unsigned port;
};

struct range {
	const char *net;
	unsigned prefix;
	const char *name;
};

static const struct range v4_ranges[] = {
	{ "0.0.0.0", 8, "unspecified" },
	{ "10.0.0.0", 8, "private" },
	{ "100.64.0.0", 10, "shared (100.64/10)" },
	{ "127.0.0.0", 8, "loopback" },
	{ "169.254.0.0", 16, "link-local" },
	{ "172.16.0.0", 12, "private" },
	{ "192.168.0.0", 16, "private" },
	{ "224.0.0.0", 4, "multicast" },
	{ "240.0.0.0", 4, "reserved" },
};

static const struct range v6_ranges[] = {
	{ "::", 128, "unspecified" },
	{ "::1", 128, "loopback" },
	{ "fe80::", 10, "link-local" },
	{ "fec0::", 10, "site-local" },
	{ "fc00::", 7, "unique-local" },
	{ "ff00::", 8, "multicast" },
};

static int prefix_match(const unsigned char *a, const unsigned char *net,
			unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full))
		return 0;
	if (!rest)
		return 1;
	return ((a[full] ^ net[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static const char *table_find(const struct range *t, size_t n, int family,
			      const unsigned char *a)
{
	unsigned char net[16];
	size_t i;

	for (i = 0; i < n; i++) {
		if (inet_pton(family, t[i].net, net) == 1 &&
		    prefix_match(a, net, t[i].prefix))
			return t[i].name;
	}
	return NULL;
}

static const char *v4_range(const unsigned char *a)
{
	return table_find(v4_ranges, sizeof(v4_ranges) / sizeof(v4_ranges[0]),
			  AF_INET, a);
}

static const unsigned char mapped_prefix[12] =
	{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
static const unsigned char nat64_prefix[12] =
	{ 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };

/* sockaddr -> key, with IPv4-mapped IPv6 turned into IPv4.  0 or -1. */
static int key_of(const struct sockaddr *sa, struct key *k)
{
	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		k->family = AF_INET;
		memcpy(k->a, &s4->sin_addr, 4);
		k->port = ntohs(s4->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		k->port = ntohs(s6->sin6_port);
		if (!memcmp(s6->sin6_addr.s6_addr, mapped_prefix, 12)) {
			k->family = AF_INET;
			memcpy(k->a, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			k->family = AF_INET6;
			memcpy(k->a, s6->sin6_addr.s6_addr, 16);
		}
		return 0;
	}
	return -1;
}

static const char *key_range(const struct key *k)
{
	static const unsigned char zero[12];
	const unsigned char *a = k->a;
	const char *r;

	if (k->family == AF_INET)
		return v4_range(a);
	r = table_find(v6_ranges, sizeof(v6_ranges) / sizeof(v6_ranges[0]),
		       AF_INET6, a);
	if (r)
		return r;
	/* IPv6 forms that carry an IPv4 address: judge that address */
	if (!memcmp(a, zero, 12) || !memcmp(a, nat64_prefix, 12))
		return v4_range(a + 12);
	if (a[0] == 0x20 && a[1] == 0x02)        /* 6to4, 2002::/16 */
		return v4_range(a + 2);
	return NULL;
}

const char *whaddr_range(const struct sockaddr *sa)
{
	struct key k;

	if (key_of(sa, &k))
		return "unsupported";
	return key_range(&k);
}

/* ------------------------------------------------------------------ */
/* the allow list                                                     */

static int host_name_ok(const char *h)
{
	size_t i;

	if (!*h)
		return 0;
	for (i = 0; h[i]; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' &&
		    h[i] != '_')
			return 0;
	return 1;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* "addr" or "addr/prefix" of `family` into r (a CIDR rule).  0 or -1. */
static int parse_cidr(const char *in, int family, struct whaddr_rule *r)
{
	char s[INET6_ADDRSTRLEN + 8], *slash;
	unsigned max = family == AF_INET ? 32 : 128;
	uint64_t prefix = max;
	unsigned char a[16];
	unsigned i;

	if (strlen(in) >= sizeof(s))
		return -1;
	memcpy(s, in, strlen(in) + 1);
	slash = strchr(s, '/');
	if (slash) {
		*slash = '\0';
		if (parse_u64(slash + 1, 0, max, &prefix))
			return -1;
	}
	memset(a, 0, sizeof(a));
	if (inet_pton(family, s, a) != 1)
		return -1;
	if (family == AF_INET6 && !memcmp(a, mapped_prefix, 12)) {
		/* ::ffff:a.b.c.d/N is the IPv4 rule a.b.c.d/(N-96) */
		if (prefix < 96)
			return -1;
		memmove(a, a + 12, 4);
		memset(a + 4, 0, 12);
		family = AF_INET;
		prefix -= 96;
		max = 32;
	}
	/* keep only the network bits */
	for (i = 0; i < 16; i++) {
		unsigned bits = (unsigned)prefix > i * 8 ? (unsigned)prefix - i * 8 : 0;

		if (bits < 8)
			a[i] &= (unsigned char)(0xff << (8 - bits));
	}
	r->kind = WHADDR_CIDR;
	r->family = family;
	r->prefix = (unsigned)prefix;
	memcpy(r->addr, a, 16);
	return 0;
}

static int parse_port(const char *s, unsigned *port)
{
	uint64_t v;

	if (parse_u64(s, 1, 65535, &v))
		return -1;
	*port = (unsigned)v;
	return 0;
}

/* host (a literal or a name) and port into r. */
static int rule_host_port(char *host, unsigned port, struct whaddr_rule *r)
{
	if (strchr(host, ':')) {
		if (parse_cidr(host, AF_INET6, r) || r->prefix != (r->family == AF_INET ? 32u : 128u))
			return -1;
	} else if (!parse_cidr(host, AF_INET, r) && r->prefix == 32) {
		/* a literal IPv4 address */
	} else {
		if (strchr(host, '/') || !host_name_ok(host) ||
		    strlen(host) >= sizeof(r->host))
			return -1;
		lower(host);
		memset(r, 0, sizeof(*r));
		r->kind = WHADDR_HOST_PORT;
		snprintf(r->host, sizeof(r->host), "%s", host);
		r->port = port;
		return 0;
	}
	if (port) {
		r->kind = WHADDR_ADDR_PORT;
		r->port = port;
	}
	return 0;
}

static int parse_origin(const char *s, struct whaddr_rule *r)
{
	struct whaddr_target t;
	const char *p = strstr(s, "://");
	char *norm = NULL;
	size_t n;

	/* an origin: nothing after the authority but an optional "/" */
	p = strchr(p + 3, '/');
	if (p && strcmp(p, "/"))
		return -1;
	if (whaddr_url_parse(s, &norm, &t, NULL))
		return -1;
	free(norm);
	n = strlen(t.host);
	if (n >= WHADDR_HOST_MAX)
		return -1;
	return rule_host_port(t.host, t.port, r);
}

static int parse_entry(char *s, struct whaddr_rule *r)
{
	char *colon, *end;

	memset(r, 0, sizeof(*r));
	if (strstr(s, "://"))
		return parse_origin(s, r);
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end)
			return -1;
		*end = '\0';
		if (!end[1])
			return parse_cidr(s + 1, AF_INET6, r);
		if (end[1] != ':' || parse_port(end + 2, &r->port))
			return -1;
		return rule_host_port(s + 1, r->port, r);
	}
	colon = strchr(s, ':');
	if (colon && strchr(colon + 1, ':'))
		return parse_cidr(s, AF_INET6, r);
	if (colon) {
		unsigned port;

		*colon = '\0';
		if (parse_port(colon + 1, &port))
			return -1;
		return rule_host_port(s, port, r);
	}
	if (!parse_cidr(s, AF_INET, r))
		return 0;
	return rule_host_port(s, 0, r);
}

int whaddr_policy_init(struct whaddr_policy *p, const char *spec,
		       struct lcerr *err)
{
	const char *s = spec ? spec : "";

	p->rules = NULL;
	p->n = 0;
	while (*s) {
		char buf[WHADDR_HOST_MAX + 64];
		size_t n = strcspn(s, ","), b = 0, e = n;
		struct whaddr_rule *rules;

		while (b < e && isspace((unsigned char)s[b]))
			b++;
		while (e > b && isspace((unsigned char)s[e - 1]))
			e--;
		if (e > b) {
			if (e - b >= sizeof(buf) || p->n >= WHADDR_RULES_MAX)
				goto bad;
			memcpy(buf, s + b, e - b);
			buf[e - b] = '\0';
			rules = realloc(p->rules, (p->n + 1) * sizeof(*rules));
			if (!rules) {
				whaddr_policy_release(p);
				return lcerr_set(err, -ENOMEM, "out of memory");
			}
			p->rules = rules;
			if (parse_entry(buf, &p->rules[p->n]))
				goto bad;
			p->n++;
		}
		s += n;
		if (*s == ',')
			s++;
	}
	return 0;
bad:
	lcerr_set(err, -EINVAL,
		  "LOGCAST_WEBHOOK_ALLOW: bad entry '%.*s' (use a CIDR, "
		  "address:port, host:port or http(s)://host:port)",
		  (int)strcspn(s, ","), s);
	whaddr_policy_release(p);
	return -EINVAL;
}

void whaddr_policy_release(struct whaddr_policy *p)
{
	free(p->rules);
	p->rules = NULL;
	p->n = 0;
}

static int rule_match(const struct whaddr_rule *r, const struct key *k,
		      const struct whaddr_target *t)
{
	switch (r->kind) {
	case WHADDR_CIDR:
		return r->family == k->family && prefix_match(k->a, r->addr, r->prefix);
	case WHADDR_ADDR_PORT:
		return r->family == k->family && r->port == k->port &&
		       !memcmp(k->a, r->addr, k->family == AF_INET ? 4 : 16);
	case WHADDR_HOST_PORT:
		return t && !strcmp(t->host, r->host) &&
		       (!r->port || r->port == t->port);
	}
	return 0;
}

int whaddr_connect_ok(const struct whaddr_policy *p,
		      const struct whaddr_target *t,
		      const struct sockaddr *sa, char *why, size_t whylen)
{
	char text[INET6_ADDRSTRLEN];
	const char *range;
	struct key k;
	size_t i;

	if (key_of(sa, &k)) {
		snprintf(why, whylen, "address family %d is not IPv4 or IPv6",
			 sa->sa_family);
		return 0;
	}
	range = key_range(&k);
	if (!range)
		return 1;
	for (i = 0; p && i < p->n; i++)
		if (rule_match(&p->rules[i], &k, t))
			return 1;
	if (!inet_ntop(k.family, k.a, text, sizeof(text)))
		snprintf(text, sizeof(text), "?");
	snprintf(why, whylen,
		 "refused destination %s%s%s port %u: a %s address "
		 "(allow it with LOGCAST_WEBHOOK_ALLOW)",
		 k.family == AF_INET6 ? "[" : "", text,
		 k.family == AF_INET6 ? "]" : "", k.port, range);
	return 0;
}

/* ------------------------------------------------------------------ */
/* URLs                                                               */

/* Copy a URL part into buf; 1 present, 0 absent, -1 error. */
static int url_part(CURLU *h, CURLUPart part, unsigned flags, char *buf,
		    size_t len)
{
	char *v = NULL;
	CURLUcode rc = curl_url_get(h, part, &v, flags);
	int ret;

	if (rc != CURLUE_OK)
		return rc == CURLUE_OUT_OF_MEMORY ? -1 : 0;
	ret = strlen(v) < len ? 1 : -1;
	if (ret == 1)
		memcpy(buf, v, strlen(v) + 1);
	curl_free(v);
	return ret;
}

int whaddr_url_parse(const char *url, char **norm, struct whaddr_target *t,
		     struct lcerr *err)
{
	char port[16], host[WHADDR_HOST_MAX + 2], scratch[8];
	CURLU *h;
	uint64_t v;
	size_t i, n;
	int rc = -EINVAL;

	if (norm)
		*norm = NULL;
	memset(t, 0, sizeof(*t));
	n = url ? strlen(url) : 0;
	if (!n)
		return lcerr_set(err, -EINVAL, "url is empty");
	if (n > WHADDR_URL_MAX)
		return lcerr_set(err, -EINVAL, "url longer than %d bytes",
				 WHADDR_URL_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return lcerr_set(err, -EINVAL,
				"url must be printable ASCII without spaces "
				"(percent-encode the rest)");
	if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
		return lcerr_set(err, -EINVAL, "url must be http:// or https://");
	h = curl_url();
	if (!h)
		return lcerr_set(err, -ENOMEM, "out of memory");
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK) {
		lcerr_set(err, -EINVAL, "url is not a valid URL");
		goto out;
	}
	if (url_part(h, CURLUPART_SCHEME, 0, t->scheme, sizeof(t->scheme)) != 1)
		goto bad;
	lower(t->scheme);
	if (strcmp(t->scheme, "http") && strcmp(t->scheme, "https")) {
		lcerr_set(err, -EINVAL, "url must be http:// or https://");
		goto out;
	}
	if (url_part(h, CURLUPART_USER, 0, scratch, sizeof(scratch)) ||
	    url_part(h, CURLUPART_PASSWORD, 0, scratch, sizeof(scratch))) {
		lcerr_set(err, -EINVAL,
			  "url must not contain a user name or password");
		goto out;
	}
	if (url_part(h, CURLUPART_FRAGMENT, 0, scratch, sizeof(scratch))) {
		lcerr_set(err, -EINVAL, "url must not have a #fragment");
		goto out;
	}
	if (url_part(h, CURLUPART_HOST, 0, host, sizeof(host)) != 1 || !host[0])
		goto bad;
	n = strlen(host);
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
		host[n - 1] = '\0';
		memmove(host, host + 1, n - 1);
	}
	if (strlen(host) >= sizeof(t->host))
		goto bad;
	snprintf(t->host, sizeof(t->host), "%s", host);
	lower(t->host);
	if (url_part(h, CURLUPART_PORT, CURLU_DEFAULT_PORT, port, sizeof(port)) != 1 ||
	    parse_u64(port, 1, 65535, &v))
		goto bad;
	t->port = (unsigned)v;
	if (norm) {
		char *u = NULL;

		if (curl_url_get(h, CURLUPART_URL, &u, 0) != CURLUE_OK) {
			rc = lcerr_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		*norm = strdup(u);
		curl_free(u);
		if (!*norm) {
			rc = lcerr_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	rc = 0;
	goto out;
bad:
	lcerr_set(err, -EINVAL, "url is not a valid http(s) URL");
out:
	curl_url_cleanup(h);
	return rc;
}

int whaddr_url_check(const struct whaddr_policy *p, const char *url,
		     char **norm, struct whaddr_target *t, struct lcerr *err)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	const struct sockaddr *sa = NULL;
	char why[256];
	int rc = whaddr_url_parse(url, norm, t, err);

	if (rc)
		return rc;
	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, t->host, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		s4.sin_port = htons((unsigned short)t->port);
		sa = (const struct sockaddr *)&s4;
	} else if (inet_pton(AF_INET6, t->host, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		s6.sin6_port = htons((unsigned short)t->port);
		sa = (const struct sockaddr *)&s6;
	}
	if (sa && !whaddr_connect_ok(p, t, sa, why, sizeof(why))) {
		if (norm) {
			free(*norm);
			*norm = NULL;
		}
		return lcerr_set(err, -EINVAL, "url: %s", why);
	}
	return 0;
}
