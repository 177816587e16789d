/*
 * whreceive.c - the demo webhook receiver (see whreceive.h).
 *
 * The receipt is written straight to the log (msglog_append), not through
 * the HTTP API: the receiver runs beside the API with the same data
 * directory, and a publish token is for clients, not for the server's own
 * programs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "parse.h"
#include "webhook.h"
#include "whreceive.h"

int whreceive_init(struct whreceive *r, const char *data_dir)
{
	struct lcerr err = LCERR_INIT;
	const char *s = getenv("LOGCAST_RECEIVER_SECRET");

	memset(r, 0, sizeof(*r));
	r->data_dir = data_dir;
	if (!s || !*s)
		snprintf(r->why, sizeof(r->why), "LOGCAST_RECEIVER_SECRET is not set");
	else if (whsig_init(&r->sig, s, &err))
		snprintf(r->why, sizeof(r->why), "LOGCAST_RECEIVER_SECRET: %s", err.msg);
	return 0;
}

void whreceive_release(struct whreceive *r)
{
	whsig_release(&r->sig);
}

static int key_ok(const char *k)
{
	size_t i, n = strlen(k);

	if (!n || n > 255)
		return 0;
	for (i = 0; i < n; i++)
		if (k[i] <= 0x20 || k[i] >= 0x7f)
			return 0;
	return 1;
}

/* The receipt: jansson's object for our fields, the envelope spliced in
 * as delivered (it is valid JSON: it parsed). */
static int receipt(struct strbuf *out, const char *wid, json_t *env,
		   const struct strbuf *body, size_t max)
{
	json_t *o = json_object(), *ch = json_object_get(env, "channel");
	json_t *id = json_object_get(env, "id");
	double idv = json_number_value(id);        /* ids are exact below 2^53 */
	struct timespec ts;
	char *text = NULL;
	int rc = -ENOMEM;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (!o || json_object_set_new(o, "webhook_id", json_string(wid)) ||
	    json_object_set_new(o, "channel", json_is_string(ch) ?
				json_string(json_string_value(ch)) : json_null()) ||
	    json_object_set_new(o, "id", json_is_number(id) && idv >= 0 &&
				idv < 9007199254740992.0 && idv == (double)(json_int_t)idv ?
				json_integer((json_int_t)idv) : json_null()) ||
	    json_object_set_new(o, "received_at", webhook_json_time(
		(uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000)) ||
	    json_object_set_new(o, "verified", json_true()))
		goto out;
	if (body->len + 512 > max &&
	    json_object_set_new(o, "envelope_omitted", json_string("too large")))
		goto out;
	text = json_dumps(o, JSON_COMPACT);
	if (!text)
		goto out;
	rc = strbuf_add(out, text, strlen(text) - 1);
	if (!rc && body->len + 512 <= max) {
		rc = strbuf_addstr(out, ",\"envelope\":");
		if (!rc)
			rc = strbuf_add(out, body->buf, body->len);
	}
	if (!rc)
		rc = strbuf_addch(out, '}');
out:
	free(text);
	json_decref(o);
	return rc;
}

static void record(struct whreceive *r, struct http_resp *resp,
		   const char *wid, const struct strbuf *body)
{
	struct lcerr err = LCERR_INIT;
	struct msglog *log = NULL;
	struct msglog_chan *c = NULL;
	struct strbuf rec;
	json_error_t jerr;
	json_t *env;
	int rc;

	/* Numbers as reals: data may hold integers past 64 bits (the log keeps
	 * them byte for byte), which jansson refuses as integers.  Only id and
	 * channel are read; the envelope goes into the receipt as delivered. */
	env = json_loadb(body->buf, body->len, JSON_DECODE_INT_AS_REAL, &jerr);
	if (!json_is_object(env)) {
		json_decref(env);
		http_resp_error(resp, 400, "the body is not a JSON envelope");
		return;
	}
	strbuf_init(&rec, 0);
	rc = msglog_open(&log, r->data_dir, NULL, &err);
	if (!rc && receipt(&rec, wid, env, body, msglog_opts(log)->max_data))
		rc = lcerr_set(&err, -ENOMEM, "out of memory");
	if (!rc)
		rc = msglog_chan_get(log, WHRECEIVE_CHANNEL, MSGLOG_CREATE, &c, &err);
	if (!rc)
		rc = msglog_append(c, rec.buf, rec.len, key_ok(wid) ? wid : NULL,
				   key_ok(wid) ? strlen(wid) : 0, NULL, NULL, &err);
	if (rc < 0) {
		fprintf(stderr, "logcast-receiver: cannot record %s: %s\n", wid, err.msg);
		http_resp_lcerr(resp, &err);
	} else if (rc == 1) {
		resp->status = 200;
		http_resp_header(resp, "Content-Type", "application/json");
		strbuf_addstr(&resp->body, "{\"duplicate\":true}");
	} else {
		resp->status = 204;
	}
	msglog_chan_put(c);
	if (log)
		msglog_close(log);
	strbuf_release(&rec);
	json_decref(env);
}

void whreceive_handle(struct whreceive *r, struct http_req *req,
		      struct http_resp *resp)
{
	const char *wid = http_req_param(req, "HTTP_WEBHOOK_ID");
	const char *ts = http_req_param(req, "HTTP_WEBHOOK_TIMESTAMP");
	const char *sig = http_req_param(req, "HTTP_WEBHOOK_SIGNATURE");
	struct msglog_opts o;
	struct strbuf body;
	uint64_t t;
	time_t now = time(NULL);
	int rc;

	if (!strcmp(req->method, "OPTIONS")) {
		resp->status = 204;
		http_resp_header(resp, "Allow", "POST, OPTIONS");
		return;
	}
	if (strcmp(req->method, "POST")) {
		http_resp_header(resp, "Allow", "POST, OPTIONS");
		http_resp_error(resp, 405, "a webhook receiver takes POST only");
		return;
	}
	if (!r->sig.ctx) {
		fprintf(stderr, "logcast-receiver: %s\n", r->why);
		http_resp_error(resp, 500, "receiver misconfigured; see the error log");
		return;
	}
	if (!wid || !*wid || !ts || !*ts || !sig || !*sig) {
		http_resp_error(resp, 400, "missing webhook-id, webhook-timestamp "
				"or webhook-signature");
		return;
	}
	if (parse_u64(ts, 0, (uint64_t)INT64_MAX, &t)) {
		http_resp_error(resp, 400, "webhook-timestamp must be unix seconds");
		return;
	}
	if (msglog_opts_from_env(&o, NULL))
		o.max_data = 65536;
	strbuf_init(&body, o.max_data + 4097);
	rc = http_req_body(req, o.max_data + 4096, &body);
	if (rc) {
		if (rc == -E2BIG)
			http_resp_error(resp, 413, "body too large");
		else
			http_resp_error(resp, 400, "could not read the request body");
		goto out;
	}
	if (whsig_verify(&r->sig, wid, ts, body.buf, body.len, sig) != 1) {
		http_resp_error(resp, 401, "signature does not verify");
		goto out;
	}
	if ((int64_t)t < (int64_t)now - WHSIG_TOLERANCE_S ||
	    (int64_t)t > (int64_t)now + WHSIG_TOLERANCE_S) {
		http_resp_error(resp, 400, "webhook-timestamp is more than %d s away "
				"from now", WHSIG_TOLERANCE_S);
		goto out;
	}
	record(r, resp, wid, &body);
out:
	strbuf_release(&body);
}
