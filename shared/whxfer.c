/*
 * whxfer.c - one endpoint's HTTP attempts with libcurl (see whxfer.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "whstate.h"
#include "whxfer.h"

uint64_t whxfer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
				 struct curl_sockaddr *a)
{
	struct whxfer *x = clientp;
	char why[sizeof(x->refused)];

	if (purpose != CURLSOCKTYPE_IPCXN) {
		snprintf(x->refused, sizeof(x->refused),
			 "refused a socket of an unexpected kind");
		return CURL_SOCKET_BAD;
	}
	if (!whaddr_connect_ok(x->policy, &x->target, &a->addr, why, sizeof(why))) {
		if (!x->nrefused++)       /* the first says why; count the rest */
			memcpy(x->refused, why, sizeof(why));
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct whxfer *x = ctx;
	size_t len = size * n, room = WHSTATE_RESPONSE_MAX - x->response.len;

	if (room)
		strbuf_add(&x->response, p, len < room ? len : room);
	return len;       /* the rest is read and dropped */
}

int whxfer_init(struct whxfer *x, const char *url,
		const struct whaddr_policy *policy, uint64_t timeout_ms,
		void *owner, struct lcerr *err)
{
	CURL *e;
	int rc;

	memset(x, 0, sizeof(*x));
	x->policy = policy;
	strbuf_init(&x->response, WHSTATE_RESPONSE_MAX);
	rc = whaddr_url_parse(url, NULL, &x->target, err);
	if (rc) {
		x->easy = NULL;
		return rc;
	}
	e = x->easy = curl_easy_init();
	if (!e)
		return lcerr_set(err, -ENOMEM, "cannot create a libcurl handle");
	if (curl_easy_setopt(e, CURLOPT_URL, url) ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(e, CURLOPT_PROXY, "") ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms) ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms) ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "logcast-webhooks/1.0") ||
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket) ||
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x) ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, x) ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, owner) ||
	    curl_easy_setopt(e, CURLOPT_POST, 1L)) {
		curl_easy_cleanup(e);
		x->easy = NULL;
		return lcerr_set(err, -ENOMEM, "cannot configure a libcurl handle");
	}
	return 0;
}

void whxfer_release(struct whxfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	x->easy = NULL;
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	strbuf_release(&x->response);
}

static int add_header(struct curl_slist **l, const char *fmt, const char *v)
{
	char line[512];
	struct curl_slist *n;

	snprintf(line, sizeof(line), fmt, v);
	n = curl_slist_append(*l, line);
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

int whxfer_prepare(struct whxfer *x, const char *webhook_id, uint64_t ts,
		   const char *signature, const char *body, size_t len)
{
	struct curl_slist *h = NULL;
	char tsbuf[24];

	snprintf(tsbuf, sizeof(tsbuf), "%llu", (unsigned long long)ts);
	if (add_header(&h, "Content-Type: %s", "application/json") ||
	    add_header(&h, "webhook-id: %s", webhook_id) ||
	    add_header(&h, "webhook-timestamp: %s", tsbuf) ||
	    add_header(&h, "webhook-signature: %s", signature) ||
	    add_header(&h, "Expect:%s", "") ||
	    add_header(&h, "Accept:%s", "")) {
		curl_slist_free_all(h);
		return -ENOMEM;
	}
	curl_slist_free_all(x->headers);
	x->headers = h;
	x->refused[0] = x->errbuf[0] = '\0';
	x->nrefused = 0;
	strbuf_reset(&x->response);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	x->t0 = whxfer_now_ms();
	return 0;
}

void *whxfer_owner(CURL *easy)
{
	char *p = NULL;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p);
	return p;
}

void whxfer_result(struct whxfer *x, CURLcode code, struct whxfer_result *r)
{
	long status = 0;
	curl_off_t ra = 0;

	memset(r, 0, sizeof(*r));
	r->duration_ms = whxfer_now_ms() - x->t0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
		r->retry_after_s = (uint64_t)ra;
	r->status = (int)status;
	if (code == CURLE_OK && status >= 200 && status <= 299) {
		r->ok = 1;
		return;
	}
	if (x->refused[0] && x->nrefused > 1)
		snprintf(r->error, sizeof(r->error), "%s; %u more address(es) of %s "
			 "refused too", x->refused, x->nrefused - 1, x->target.host);
	else if (x->refused[0])
		snprintf(r->error, sizeof(r->error), "%s", x->refused);
	else if (code == CURLE_OPERATION_TIMEDOUT)
		snprintf(r->error, sizeof(r->error), "timed out: %s",
			 x->errbuf[0] ? x->errbuf : curl_easy_strerror(code));
	else if (code != CURLE_OK)
		snprintf(r->error, sizeof(r->error), "%s",
			 x->errbuf[0] ? x->errbuf : curl_easy_strerror(code));
	else if (status >= 300 && status <= 399)
		snprintf(r->error, sizeof(r->error),
			 "HTTP %ld: redirects are not followed", status);
	else
		snprintf(r->error, sizeof(r->error), "HTTP %ld", status);
}
