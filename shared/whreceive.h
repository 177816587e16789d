/*
 * whreceive.h - the demo's webhook receiver (build/cgi/receiver, served at
 * /hooks/receiver): what an endpoint should do with a delivery, in C.
 *
 *   1. the three Standard Webhooks headers must be there (else 400);
 *   2. the signature must verify with LOGCAST_RECEIVER_SECRET (else 401);
 *   3. the timestamp must be within +-WHSIG_TOLERANCE_S of now (else 400:
 *      a replay of an old, correctly signed delivery);
 *   4. the receipt is published to channel WHRECEIVE_CHANNEL, so the demo
 *      page can show it:
 *        {"webhook_id":..,"channel":..,"id":..,"received_at":..,
 *         "verified":true,"envelope":<the delivered envelope>}
 *      with the webhook-id as its Idempotency-Key: a delivery repeated
 *      (at-least-once) is recognized and not recorded twice.
 *
 * Answers 204 for a new delivery, 200 {"duplicate":true} for a repeat.
 */
#ifndef WHRECEIVE_H
#define WHRECEIVE_H

#include "http.h"
#include "msglog.h"
#include "whsig.h"

#define WHRECEIVE_CHANNEL "webhook-receipts"

struct whreceive {
	const char *data_dir;       /* borrowed */
	struct whsig sig;           /* ctx NULL: no usable secret */
	char why[LCERR_MSGLEN];     /* why there is none */
};

/* Load LOGCAST_RECEIVER_SECRET.  Always 0: a missing or bad secret makes
 * every request a 500 (with the reason in the server's log). */
int whreceive_init(struct whreceive *r, const char *data_dir);

void whreceive_release(struct whreceive *r);

/* Answer one delivery into `resp`. */
void whreceive_handle(struct whreceive *r, struct http_req *req,
		      struct http_resp *resp);

#endif
