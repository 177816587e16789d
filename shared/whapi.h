/*
 * whapi.h - the webhook subscriptions API, /api/webhooks, as handlers any
 * transport can drive (build/cgi/webhooks serves them as CGI).
 *
 *   POST   /api/webhooks              register {"url","channels","secret"?}
 *                                     -> 201, the subscription and secret
 *   GET    /api/webhooks              list (never the secrets)
 *   GET    /api/webhooks/{id}         one, with its delivery state
 *   DELETE /api/webhooks/{id}         remove -> 204
 *   GET    /api/webhooks/{id}/attempts   recent attempts, newest first
 *   POST   /api/webhooks/{id}/retry   re-enable, resume from the cursor
 *   OPTIONS any of them               CORS preflight -> 204
 *
 * Errors are {"error":...} with 400 (bad input), 401 (LOGCAST_ADMIN_TOKEN
 * set and the request lacks "Authorization: Bearer <it>"), 404 (unknown
 * route or id), 405 (with Allow), 409 (WEBHOOK_MAX_SUBS reached), 413
 * (body over WHAPI_MAX_BODY).  Subscriptions are written under the
 * store's lock (webhook.h); delivery state is only read here, it belongs
 * to the dispatcher.
 */
#ifndef WHAPI_H
#define WHAPI_H

#include "api.h"
#include "http.h"
#include "webhook.h"
#include "whaddr.h"

#define WHAPI_MAX_BODY 16384

struct whapi {
	const char *data_dir;          /* borrowed */
	const char *admin_token;       /* LOGCAST_ADMIN_TOKEN, NULL if unset */
	struct api cors;               /* only cors.cfg is used (CORS headers) */
	struct whaddr_policy allow;    /* LOGCAST_WEBHOOK_ALLOW */
	struct webhook_store store;
	int durable;                   /* LOGCAST_FSYNC != off */
};

/*
 * Read the configuration from the environment (LOGCAST_ADMIN_TOKEN,
 * LOGCAST_WEBHOOK_ALLOW, LOGCAST_CORS_ORIGIN, LOGCAST_FSYNC) and open the
 * store under `data_dir` (borrowed).  0, or negative with `err` (then
 * nothing needs releasing).
 */
int whapi_init(struct whapi *w, const char *data_dir, struct lcerr *err);

void whapi_release(struct whapi *w);

/* Answer one request into `resp` (always filled, errors included). */
void whapi_handle(struct whapi *w, struct http_req *req,
		  struct http_resp *resp);

#endif
