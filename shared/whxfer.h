/*
 * whxfer.h - one webhook endpoint's HTTP attempts, as a libcurl easy
 * handle that the dispatcher adds to its multi handle.
 *
 * Each endpoint keeps one easy handle for its life, so its connection is
 * kept alive between deliveries (libcurl's connection cache).  An attempt
 * is a POST of the envelope bytes (borrowed, never copied or re-encoded)
 * with the Standard Webhooks headers and Content-Type: application/json;
 * redirects are not followed, proxies from the environment are not used,
 * only http and https are allowed, and the total time is bounded by the
 * per-attempt timeout.
 *
 * Every socket libcurl wants to open passes CURLOPT_OPENSOCKETFUNCTION,
 * which applies the destination policy (whaddr.h) to the address about to
 * be connected to and refuses (CURL_SOCKET_BAD) what it does not allow;
 * the attempt then fails with the policy's sentence as its error.
 *
 * Up to WHSTATE_RESPONSE_MAX bytes of the response body are kept for the
 * attempt record; the rest is read and dropped (the timeout bounds it).
 *
 * Ownership: whxfer_init() creates the easy handle; whxfer_release()
 * frees it (remove it from any multi handle first).
 */
#ifndef WHXFER_H
#define WHXFER_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "lcerr.h"
#include "strbuf.h"
#include "whaddr.h"

struct whxfer_result {
	int ok;                    /* a 2xx arrived */
	int status;                /* HTTP status, 0 when none */
	uint64_t retry_after_s;    /* Retry-After, 0 when none */
	uint64_t duration_ms;
	char error[256];           /* "" for a 2xx */
};

struct whxfer {
	CURL *easy;
	struct curl_slist *headers;
	const struct whaddr_policy *policy;   /* borrowed */
	struct whaddr_target target;
	char refused[256];                    /* set when a socket was refused */
	unsigned nrefused;                    /* how many addresses were */
	char errbuf[CURL_ERROR_SIZE];
	struct strbuf response;
	uint64_t t0;                          /* monotonic ms at the start */
};

/*
 * Set up the handle for endpoint `url` under `policy` (borrowed, must
 * outlive the transfer).  `owner` is returned by whxfer_owner() for a
 * finished handle.  0, or -EINVAL (bad URL) / -ENOMEM with `err`.
 */
int whxfer_init(struct whxfer *x, const char *url,
		const struct whaddr_policy *policy, uint64_t timeout_ms,
		void *owner, struct lcerr *err);

void whxfer_release(struct whxfer *x);

/*
 * Prepare an attempt: `body` (borrowed until the attempt is finished)
 * with headers webhook-id, webhook-timestamp, webhook-signature.  Then
 * add x->easy to the multi handle.  0 or -ENOMEM.
 */
int whxfer_prepare(struct whxfer *x, const char *webhook_id, uint64_t ts,
		   const char *signature, const char *body, size_t len);

/* The owner given to whxfer_init() for an easy handle of ours. */
void *whxfer_owner(CURL *easy);

/* The outcome of an attempt that libcurl finished with `code`. */
void whxfer_result(struct whxfer *x, CURLcode code, struct whxfer_result *r);

/* Monotonic milliseconds. */
uint64_t whxfer_now_ms(void);

#endif
