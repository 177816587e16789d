/*
 * unit-webhook.c - the webhook building blocks: the Standard Webhooks
 * signature (the spec's published test vector), secrets, the URL and
 * address policy, the retry schedule and the state file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "webhook.h"
#include "whaddr.h"
#include "whsched.h"
#include "whsig.h"
#include "whstate.h"

static void test_signature(void)
{
	/* the test vector of the standard-webhooks reference libraries */
	const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
	const char *id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
	const char *body = "{\"test\": 2432232314}";
	const char *want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
	struct lcerr err = LCERR_INIT;
	char sig[WHSIG_SIG_MAX], hdr[256], gen[WHSIG_SECRET_MAX], gen2[WHSIG_SECRET_MAX];
	struct whsig s;

	ok(!whsig_init(&s, secret, &err), "load the spec's test secret");
	ok(!whsig_sign(&s, id, 1614265330, body, strlen(body), sig, sizeof(sig)) &&
	   !strcmp(sig, want), "spec test vector: %s", sig);
	ok(!whsig_sign(&s, id, 1614265330, body, strlen(body), sig, sizeof(sig)) &&
	   !strcmp(sig, want), "signing again with the same context gives the same");
	ok(whsig_verify(&s, id, "1614265330", body, strlen(body), want) == 1,
	   "verify the test vector");
	snprintf(hdr, sizeof(hdr), "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
		 "v2,abc %s", want);
	ok(whsig_verify(&s, id, "1614265330", body, strlen(body), hdr) == 1,
	   "verify among several signatures");
	ok(whsig_verify(&s, id, "1614265331", body, strlen(body), want) == 0,
	   "another timestamp does not verify");
	ok(whsig_verify(&s, id, "1614265330", "{\"test\": 2432232315}", strlen(body), want) == 0,
	   "another body does not verify");
	ok(whsig_verify(&s, id, "1614265330", body, strlen(body), "v1,g0hM9SsE") == 0,
	   "a partial signature does not verify");
	ok(whsig_verify(&s, id, "1614265330", body, strlen(body),
			"v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") == 0,
	   "only v1 signatures count");
	ok(whsig_verify(&s, id, "soon", body, strlen(body), want) == -EINVAL,
	   "a non-numeric timestamp is an error");
	whsig_release(&s);
	whsig_release(&s);

	ok(!whsig_secret_check(secret, NULL), "24-byte secret is valid");
	ok(whsig_secret_check("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", NULL) == -EINVAL,
	   "secret without whsec_ refused");
	ok(whsig_secret_check("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa", NULL) == -EINVAL,
	   "21-byte key refused");
	ok(whsig_secret_check("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", NULL) == -EINVAL,
	   "bad base64 refused");
	ok(whsig_secret_check("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=", NULL) == -EINVAL,
	   "bad padding refused");
	ok(whsig_secret_check("whsec_", NULL) == -EINVAL, "empty key refused");
	ok(!whsig_secret_generate(gen, sizeof(gen), &err) && !whsig_secret_check(gen, NULL) &&
	   strlen(gen) == 6 + 44, "generated secret is valid: %s", gen);
	ok(!whsig_secret_generate(gen2, sizeof(gen2), &err) && strcmp(gen, gen2),
	   "two generated secrets differ");
	{
		unsigned char out[8];

		ok(whsig_b64_decode("YWJj", 4, out, sizeof(out)) == 3 && !memcmp(out, "abc", 3),
		   "base64 decode");
		ok(whsig_b64_decode("YWI=", 4, out, sizeof(out)) == 2, "base64 with one pad");
		ok(whsig_b64_decode("YQ==", 4, out, sizeof(out)) == 1, "base64 with two pads");
		ok(whsig_b64_decode("Y Q=", 4, out, sizeof(out)) == -EINVAL, "space refused");
		ok(whsig_b64_decode("YQ=", 3, out, sizeof(out)) == -EINVAL, "short refused");
	}
}

static int refused(const char *addr)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, addr, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		return whaddr_range((struct sockaddr *)&s4) != NULL;
	}
	inet_pton(AF_INET6, addr, &s6.sin6_addr);
	s6.sin6_family = AF_INET6;
	return whaddr_range((struct sockaddr *)&s6) != NULL;
}

static int allowed(const struct whaddr_policy *p, const char *host,
		   const char *addr, unsigned port)
{
	struct whaddr_target t;
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	char why[256];

	memset(&t, 0, sizeof(t));
	snprintf(t.host, sizeof(t.host), "%s", host);
	t.port = port;
	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, addr, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		s4.sin_port = htons((unsigned short)port);
		return whaddr_connect_ok(p, &t, (struct sockaddr *)&s4, why, sizeof(why));
	}
	inet_pton(AF_INET6, addr, &s6.sin6_addr);
	s6.sin6_family = AF_INET6;
	s6.sin6_port = htons((unsigned short)port);
	return whaddr_connect_ok(p, &t, (struct sockaddr *)&s6, why, sizeof(why));
}

static void test_addresses(void)
{
	static const char *bad[] = {
		"127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.0.1", "169.254.169.254", "100.64.0.1", "100.127.255.255",
		"0.0.0.0", "224.0.0.1", "255.255.255.255",
		"::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
		"64:ff9b::a00:1", "2002:7f00:1::", "::127.0.0.1",
	};
	static const char *good[] = {
		"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "192.169.0.1",
		"2001:4860:4860::8888", "::ffff:8.8.8.8", "2606:4700::1111",
	};
	struct lcerr err = LCERR_INIT;
	struct whaddr_policy p;
	struct whaddr_target t;
	char *norm = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(refused(bad[i]), "%s is refused", bad[i]);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(!refused(good[i]), "%s is public", good[i]);

	ok(!whaddr_policy_init(&p, "", &err) && p.n == 0, "empty allow list");
	ok(!allowed(&p, "localhost", "127.0.0.1", 80), "loopback refused without an allow");
	ok(allowed(&p, "example.com", "93.184.216.34", 80), "public allowed");
	whaddr_policy_release(&p);

	ok(!whaddr_policy_init(&p, " 127.0.0.0/8 , fd00::/8,192.168.1.5", &err) && p.n == 3,
	   "CIDR allow list parses");
	ok(allowed(&p, "x", "127.9.9.9", 1234) && allowed(&p, "x", "::ffff:127.0.0.1", 1),
	   "127.0.0.0/8 allows loopback, IPv4-mapped too");
	ok(allowed(&p, "x", "fd00::5", 80) && allowed(&p, "x", "fdff::5", 80) && !allowed(&p, "x", "fc00::5", 80),
	   "IPv6 CIDR");
	ok(allowed(&p, "x", "192.168.1.5", 9) && !allowed(&p, "x", "192.168.1.6", 9),
	   "single address");
	ok(!allowed(&p, "x", "::1", 80), "::1 not covered by 127.0.0.0/8");
	whaddr_policy_release(&p);

	ok(!whaddr_policy_init(&p, "127.0.0.1:8080,[::1]:9090,localhost:7000,"
			       "http://hooks.lan,https://127.0.0.2", &err) && p.n == 5,
	   "address:port, host:port and origins parse (%s)", err.msg);
	ok(allowed(&p, "127.0.0.1", "127.0.0.1", 8080), "127.0.0.1:8080 allowed");
	ok(!allowed(&p, "127.0.0.1", "127.0.0.1", 8081), "127.0.0.1:8081 refused");
	ok(allowed(&p, "::1", "::1", 9090) && !allowed(&p, "::1", "::1", 9091),
	   "[::1]:9090 only");
	ok(allowed(&p, "localhost", "127.0.0.1", 7000), "localhost:7000 by name");
	ok(!allowed(&p, "127.0.0.1", "127.0.0.1", 7000), "but not 127.0.0.1:7000");
	ok(allowed(&p, "hooks.lan", "10.0.0.9", 80) && !allowed(&p, "hooks.lan", "10.0.0.9", 81),
	   "origin http://hooks.lan is port 80");
	ok(allowed(&p, "127.0.0.2", "127.0.0.2", 443), "origin https://127.0.0.2 is port 443");
	whaddr_policy_release(&p);

	ok(whaddr_policy_init(&p, "127.0.0.0/33", &err) == -EINVAL, "bad prefix refused");
	ok(whaddr_policy_init(&p, "127.0.0.1:0", &err) == -EINVAL, "port 0 refused");
	ok(whaddr_policy_init(&p, "http://x/path", &err) == -EINVAL, "origin with a path refused");
	ok(whaddr_policy_init(&p, "ex ample", &err) == -EINVAL, "junk refused: %s", err.msg);

	whaddr_policy_init(&p, "", &err);
	i = (size_t)whaddr_url_check(&p, "https://Example.COM/hook?a=1", &norm, &t, &err);
	ok(!i && !strcmp(t.host, "example.com") && t.port == 443 && !strcmp(t.scheme, "https"),
	   "https URL: host %s port %u, normalized %s", t.host, t.port, norm ? norm : "-");
	free(norm);
	ok(!whaddr_url_check(&p, "http://[2001:db8::1]:8080/x", NULL, &t, &err) &&
	   !strcmp(t.host, "2001:db8::1") && t.port == 8080, "IPv6 literal URL");
	ok(whaddr_url_check(&p, "ftp://example.com/", NULL, &t, &err) == -EINVAL, "ftp refused");
	ok(whaddr_url_check(&p, "not a url", NULL, &t, &err) == -EINVAL, "junk refused");
	ok(whaddr_url_check(&p, "http://u:p@example.com/", NULL, &t, &err) == -EINVAL,
	   "credentials refused: %s", err.msg);
	ok(whaddr_url_check(&p, "http://u@example.com/", NULL, &t, &err) == -EINVAL,
	   "user refused");
	ok(whaddr_url_check(&p, "http://127.0.0.1:9/x", NULL, &t, &err) == -EINVAL,
	   "literal loopback refused: %s", err.msg);
	ok(whaddr_url_check(&p, "http://[::ffff:10.0.0.1]/", NULL, &t, &err) == -EINVAL,
	   "IPv4-mapped private refused");
	ok(whaddr_url_check(&p, "http://2130706433/", NULL, &t, &err) == -EINVAL,
	   "decimal-integer 127.0.0.1 refused");
	ok(!whaddr_url_check(&p, "http://localhost:9/x", NULL, &t, &err),
	   "a host name passes registration (judged when connecting)");
	ok(whaddr_url_check(&p, "http://example.com/#frag", NULL, &t, &err) == -EINVAL,
	   "fragment refused");
	whaddr_policy_release(&p);
	whaddr_policy_init(&p, "127.0.0.1:9", &err);
	ok(!whaddr_url_check(&p, "http://127.0.0.1:9/x", NULL, &t, &err),
	   "allowed literal passes");
	whaddr_policy_release(&p);
}

static void test_schedule(void)
{
	struct lcerr err = LCERR_INIT;
	struct whsched s;
	uint64_t d = 0, lo = UINT64_MAX, hi = 0;
	int i;

	ok(!whsched_parse(&s, NULL, &err) && s.n == 7 && s.delay_ms[0] == 5000 &&
	   s.delay_ms[6] == 36000000, "default schedule");
	ok(!whsched_parse(&s, "1s,250ms,2m", &err) && s.n == 3 && s.delay_ms[1] == 250,
	   "compressed schedule");
	ok(whsched_parse(&s, "1s,,2s", &err) == -EINVAL, "empty item refused");
	ok(whsched_parse(&s, "8d", &err) == -EINVAL, "more than 7 days refused");
	ok(whsched_parse(&s, "5x", &err) == -EINVAL, "bad unit refused: %s", err.msg);
	whsched_parse(&s, "10s,20s", &err);
	for (i = 0; i < 2000; i++) {
		whsched_next(&s, 1, &d);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	ok(lo >= 8000 && hi <= 12000 && hi - lo > 3000,
	   "jitter stays within +-20%% (%llu..%llu ms)", (unsigned long long)lo,
	   (unsigned long long)hi);
	ok(!whsched_next(&s, 2, &d) && d >= 16000 && d <= 24000, "second delay");
	ok(whsched_next(&s, 3, &d) == 1, "exhausted after the last delay");
	ok(whsched_retry_after(3) == 3000 && whsched_retry_after(999999) == 86400000,
	   "Retry-After is capped at 24 h");
}

static void test_state(void)
{
	struct lcerr err = LCERR_INIT;
	struct whstate st, back;
	struct whattempt a;
	struct strbuf sb;
	int i, rc;

	whstate_init(&st, "wh_0123456789abcdef");
	whstate_cursor_set(&st, "chat", 12);
	whstate_cursor_set(&st, "orders", 3);
	whstate_cursor_set(&st, "chat", 13);
	st.failures = 2;
	st.disabled = 1;
	snprintf(st.reason, sizeof(st.reason), "endpoint answered 410 Gone");
	memset(&a, 0, sizeof(a));
	a.at_ms = 1700000000000ULL;
	a.channel = "chat";
	for (i = 1; i <= WHSTATE_ATTEMPTS + 5; i++) {
		a.msg_id = (uint64_t)i;
		a.status = 500;
		a.error = "HTTP 500";
		a.response = "\xff bad utf8 \xc3\xa9";
		a.response_len = strlen(a.response);
		whstate_attempt_add(&st, &a);
	}
	ok(st.an == WHSTATE_ATTEMPTS, "attempt history is bounded");
	strbuf_init(&sb, 0);
	ok(!whstate_format(&st, &sb), "format the state");
	ok(strstr(sb.buf, "\"cursors\":{\"chat\":13,\"orders\":3}") != NULL &&
	   strstr(sb.buf, "\"message_id\":6,") != NULL &&
	   strstr(sb.buf, "\"message_id\":5,") == NULL,
	   "cursors and the newest attempts are there");
	ok(strstr(sb.buf, "\"response\":\"? bad utf8 \xc3\xa9\"") != NULL,
	   "invalid UTF-8 in a response is replaced");
	whstate_init(&back, "wh_0123456789abcdef");
	rc = whstate_parse(&back, sb.buf, sb.len, &err);
	ok(!rc && *whstate_cursor(&back, "chat") == 13 && back.failures == 2 &&
	   back.disabled && !strcmp(back.reason, st.reason) && back.an == WHSTATE_ATTEMPTS,
	   "the state reads back (%s)", err.msg);
	whstate_release(&back);
	whstate_init(&back, "wh_ffffffffffffffff");
	ok(whstate_parse(&back, sb.buf, sb.len, &err) == -EBADMSG, "wrong id refused");
	whstate_release(&back);
	strbuf_release(&sb);
	whstate_release(&st);
	ok(webhook_id_valid("wh_0123456789abcdef") && !webhook_id_valid("wh_0123456789abcdeF") &&
	   !webhook_id_valid("wh_0123") && !webhook_id_valid("../x"), "id syntax");
}

int main(void)
{
	test_signature();
	test_addresses();
	test_schedule();
	test_state();
	return tap_done();
}
