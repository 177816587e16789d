/*
 * whapi.c - /api/webhooks handlers (see whapi.h).
 *
 * Bodies are parsed and answers built with jansson.  A registration is
 * checked completely (URL and address policy, channels, secret) before
 * anything is written; its start cursors are the channels' last ids, read
 * just before the subscription is stored, so the endpoint receives what is
 * published from then on (from id 1 for a channel that does not exist
 * yet: registering creates no channel).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "token.h"
#include "whapi.h"
#include "whsig.h"
#include "whstate.h"

enum wh_route {
	WR_NONE,
	WR_LIST,        /* /api/webhooks */
	WR_ONE,         /* /api/webhooks/{id} */
	WR_ATTEMPTS,    /* /api/webhooks/{id}/attempts */
	WR_RETRY,       /* /api/webhooks/{id}/retry */
};

int whapi_init(struct whapi *w, const char *data_dir, struct lcerr *err)
{
	const char *v;
	int rc;

	memset(w, 0, sizeof(*w));
	w->data_dir = data_dir;
	v = getenv("LOGCAST_ADMIN_TOKEN");
	w->admin_token = v && *v ? v : NULL;
	rc = api_config_from_env(&w->cors.cfg, err);
	if (rc)
		return rc;
	v = getenv("LOGCAST_FSYNC");
	w->durable = !(v && !strcmp(v, "off"));
	rc = whaddr_policy_init(&w->allow, getenv("LOGCAST_WEBHOOK_ALLOW"), err);
	if (rc)
		return rc;
	rc = webhook_store_init(&w->store, data_dir, w->durable, err);
	if (rc)
		whaddr_policy_release(&w->allow);
	return rc;
}

void whapi_release(struct whapi *w)
{
	webhook_store_release(&w->store);
	whaddr_policy_release(&w->allow);
}

/* ------------------------------------------------------------------ */
/* routing                                                            */

static const char *route_allow(enum wh_route rt)
{
	switch (rt) {
	case WR_LIST: return "GET, HEAD, POST, OPTIONS";
	case WR_ONE: return "GET, HEAD, DELETE, OPTIONS";
	case WR_ATTEMPTS: return "GET, HEAD, OPTIONS";
	case WR_RETRY: return "POST, OPTIONS";
	default: return "OPTIONS";
	}
}


/* The route of `path` and the id in it (id[WEBHOOK_ID_LEN + 1]). */
static enum wh_route route_find(const char *path, char *id)
{
	const char *rest, *slash;
	size_t n;

	id[0] = '\0';
	if (strncmp(path, "/api/webhooks", 13))
		return WR_NONE;
	rest = path + 13;
	if (!*rest || !strcmp(rest, "/"))
		return WR_LIST;
	if (*rest != '/')
		return WR_NONE;
	rest++;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n != WEBHOOK_ID_LEN)
		return WR_NONE;
	memcpy(id, rest, n);
	id[n] = '\0';
	if (!webhook_id_valid(id))
		return WR_NONE;
	if (!slash)
		return WR_ONE;
	if (!strcmp(slash, "/attempts"))
		return WR_ATTEMPTS;
	if (!strcmp(slash, "/retry"))
		return WR_RETRY;
	return WR_NONE;
}

/* ------------------------------------------------------------------ */
/* helpers                                                            */

static void resp_json(struct http_resp *resp, int status, json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	if (!text) {
		http_resp_error(resp, 500, "out of memory");
		return;
	}
	resp->status = status;
	http_resp_header(resp, "Content-Type", "application/json");
	http_resp_header(resp, "Cache-Control", "no-store");
	strbuf_reset(&resp->body);
	if (strbuf_addstr(&resp->body, text))
		http_resp_error(resp, 500, "out of memory");
	free(text);
}

/* A library failure: log the details for 5xx, answer with its status. */
static void resp_fail(struct http_resp *resp, const struct lcerr *err)
{
	if (http_status_from_err(err->code) >= 500)
		fprintf(stderr, "logcast-webhooks: %s\n", err->msg);
	http_resp_lcerr(resp, err);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The state file of `id`, parsed (new reference), or NULL when the
 * dispatcher has not written one yet.  -errno on a read failure. */
static int state_load(struct whapi *w, const char *id, json_t **out,
		      struct lcerr *err)
{
	char name[64];
	struct strbuf text;
	json_error_t jerr;
	int rc;

	*out = NULL;
	webhook_state_name(id, name, sizeof(name));
	strbuf_init(&text, WEBHOOK_FILE_MAX);
	rc = webhook_file_read(w->store.statefd, name, WEBHOOK_FILE_MAX, &text, err);
	if (rc == -ENOENT) {
		rc = 0;
	} else if (!rc) {
		*out = json_loadb(text.buf, text.len, 0, &jerr);
		if (!*out)
			rc = lcerr_set(err, -EBADMSG, "state of %s is damaged: %s",
				       id, jerr.text);
	}
	strbuf_release(&text);
	return rc;
}

static uint64_t json_u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	       (uint64_t)json_integer_value(v) : 0;
}

/* The subscription with its delivery state (new reference or NULL). */
static json_t *sub_view(const struct webhook_sub *sub, json_t *st)
{
	json_t *o = webhook_sub_json(sub, 0), *cur = json_object();
	json_t *stcur = json_object_get(st, "cursors"), *v;
	size_t i;
	int bad = !o || !cur;

	for (i = 0; !bad && i < sub->nchannels; i++) {
		v = json_object_get(stcur, sub->channels[i]);
		bad = json_object_set_new(cur, sub->channels[i],
			json_is_integer(v) ? json_integer(json_integer_value(v)) :
			json_integer((json_int_t)sub->start[i]));
	}
	if (!bad)
		bad = json_object_set(o, "cursors", cur) ||
		      json_object_set_new(o, "failures",
			json_integer((json_int_t)json_u64(st, "failures"))) ||
		      json_object_set_new(o, "next_attempt_at",
			webhook_json_time(json_u64(st, "next_attempt_ms"))) ||
		      json_object_set_new(o, "disabled",
			json_boolean(json_is_true(json_object_get(st, "disabled")))) ||
		      json_object_set_new(o, "disabled_reason",
			json_is_string(v = json_object_get(st, "disabled_reason")) ?
			json_string(json_string_value(v)) : json_null()) ||
		      json_object_set_new(o, "delivered",
			json_integer((json_int_t)json_u64(st, "delivered"))) ||
		      json_object_set_new(o, "last_success_at",
			webhook_json_time(json_u64(st, "last_success_ms"))) ||
		      json_object_set_new(o, "last_attempt_at",
			webhook_json_time(json_u64(st, "last_attempt_ms"))) ||
		      json_object_set_new(o, "retry_pending",
			json_boolean(sub->retry_seq > json_u64(st, "retry_seq"))) ||
		      json_object_set_new(o, "dispatcher_seen", json_boolean(st != NULL));
	json_decref(cur);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ------------------------------------------------------------------ */
/* registration                                                       */

/* Check the channels array into sub; 0 or -EINVAL with the reason. */
static int parse_channels(json_t *ch, struct webhook_sub *sub,
			  struct lcerr *err)
{
	size_t i, j, n;

	if (!json_is_array(ch))
		return lcerr_set(err, -EINVAL,
				 "channels must be a non-empty array of channel names");
	n = json_array_size(ch);
	if (!n)
		return lcerr_set(err, -EINVAL, "channels must not be empty");
	if (n > WEBHOOK_MAX_CHANNELS)
		return lcerr_set(err, -EINVAL, "at most %d channels per webhook",
				 WEBHOOK_MAX_CHANNELS);
	sub->channels = calloc(n, sizeof(*sub->channels));
	sub->start = calloc(n, sizeof(*sub->start));
	if (!sub->channels || !sub->start)
		return lcerr_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const char *name = json_string_value(json_array_get(ch, i));

		if (!name || !msglog_name_valid(name))
			return lcerr_set(err, -EINVAL,
				"invalid channel name in channels: use 1 to 64 of "
				"A-Z a-z 0-9 _ . -, starting with a letter or digit");
		for (j = 0; j < i; j++)
			if (!strcmp(sub->channels[j], name))
				return lcerr_set(err, -EINVAL,
						 "channel '%s' is listed twice", name);
		snprintf(sub->channels[i], sizeof(sub->channels[i]), "%s", name);
	}
	sub->nchannels = n;
	return 0;
}

/* Parse and check a registration body into sub.  0 or -EINVAL. */
static int parse_registration(struct whapi *w, const struct strbuf *body,
			      struct webhook_sub *sub, struct lcerr *err)
{
	char secret[WHSIG_SECRET_MAX];
	struct whaddr_target t;
	json_error_t jerr;
	json_t *o, *v;
	const char *key;
	int rc = 0;

	o = json_loadb(body->buf, body->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return lcerr_set(err, -EINVAL, "invalid JSON at byte %d: %s",
				 jerr.position, jerr.text);
	if (!json_is_object(o)) {
		rc = lcerr_set(err, -EINVAL,
			       "body must be a JSON object {\"url\":...,\"channels\":[...]}");
		goto out;
	}
	json_object_foreach(o, key, v) {
		if (strcmp(key, "url") && strcmp(key, "channels") && strcmp(key, "secret")) {
			rc = lcerr_set(err, -EINVAL,
				"unknown field '%.64s' (use url, channels, secret)", key);
			goto out;
		}
	}
	v = json_object_get(o, "url");
	if (!json_is_string(v)) {
		rc = lcerr_set(err, -EINVAL, "url must be a string");
		goto out;
	}
	rc = whaddr_url_check(&w->allow, json_string_value(v), &sub->url, &t, err);
	if (rc)
		goto out;
	rc = parse_channels(json_object_get(o, "channels"), sub, err);
	if (rc)
		goto out;
	v = json_object_get(o, "secret");
	if (v && !json_is_string(v)) {
		rc = lcerr_set(err, -EINVAL, "secret must be a string");
		goto out;
	}
	if (v) {
		rc = whsig_secret_check(json_string_value(v), err);
		if (!rc && !(sub->secret = strdup(json_string_value(v))))
			rc = lcerr_set(err, -ENOMEM, "out of memory");
	} else {
		rc = whsig_secret_generate(secret, sizeof(secret), err);
		if (!rc && !(sub->secret = strdup(secret)))
			rc = lcerr_set(err, -ENOMEM, "out of memory");
		memset(secret, 0, sizeof(secret));
	}
out:
	json_decref(o);
	return rc;
}

/* Each channel's last id; 0 for a channel that does not exist yet (it is
 * not created: subscribing is not publishing). */
static int start_cursors(struct whapi *w, struct webhook_sub *sub,
			 struct lcerr *err)
{
	struct msglog *log = NULL;
	size_t i;
	int rc = msglog_open(&log, w->data_dir, NULL, err);

	for (i = 0; !rc && i < sub->nchannels; i++) {
		struct msglog_chan *c;

		rc = msglog_chan_get(log, sub->channels[i], 0, &c, err);
		if (rc == -ENOENT) {
			sub->start[i] = 0;
			rc = 0;
			lcerr_clear(err);
		} else if (!rc) {
			sub->start[i] = msglog_chan_last_id(c);
			msglog_chan_put(c);
		}
	}
	if (log)
		msglog_close(log);
	return rc;
}

static void handle_register(struct whapi *w, struct http_req *req,
			    struct http_resp *resp)
{
	struct lcerr err = LCERR_INIT;
	struct webhook_list l;
	struct webhook_sub sub;
	struct strbuf body;
	char id[WEBHOOK_ID_LEN + 1];
	int rc;

	memset(&sub, 0, sizeof(sub));
	webhook_list_init(&l);
	strbuf_init(&body, WHAPI_MAX_BODY + 1);
	rc = http_req_body(req, WHAPI_MAX_BODY, &body);
	if (rc == -E2BIG) {
		http_resp_error(resp, 413, "body larger than %d bytes", WHAPI_MAX_BODY);
		goto out;
	} else if (rc) {
		http_resp_error(resp, 400, "could not read the request body");
		goto out;
	}
	rc = parse_registration(w, &body, &sub, &err);
	if (!rc)
		rc = start_cursors(w, &sub, &err);
	if (!rc)
		rc = webhook_id_new(id, &err);
	if (rc) {
		resp_fail(resp, &err);
		goto out;
	}
	memcpy(sub.id, id, sizeof(id));
	sub.created_ms = now_ms();
	rc = webhook_store_lock(&w->store, &err);
	if (!rc)
		rc = webhook_list_load(&w->store, &l, &err);
	if (!rc && l.n >= WEBHOOK_MAX_SUBS) {
		webhook_store_unlock(&w->store);
		http_resp_error(resp, 409, "too many webhooks (at most %d); delete some first",
				WEBHOOK_MAX_SUBS);
		goto out;
	}
	if (!rc && webhook_list_add(&l, &sub))
		rc = lcerr_set(&err, -ENOMEM, "out of memory");
	if (!rc)
		rc = webhook_list_save(&w->store, &l, &err);
	webhook_store_unlock(&w->store);
	if (rc) {
		resp_fail(resp, &err);
		goto out;
	}
	http_resp_header(resp, "Location", "/api/webhooks/%s", id);
	resp_json(resp, 201, webhook_sub_json(webhook_list_find(&l, id), 1));
out:
	webhook_sub_release(&sub);
	webhook_list_release(&l);
	strbuf_release(&body);
}

/* ------------------------------------------------------------------ */
/* the other routes                                                   */

static void handle_list(struct whapi *w, struct http_resp *resp)
{
	struct lcerr err = LCERR_INIT;
	struct webhook_list l;
	json_t *arr = json_array();
	size_t i;

	webhook_list_init(&l);
	if (!arr || webhook_list_load(&w->store, &l, &err)) {
		json_decref(arr);
		if (!err.code)
			lcerr_set(&err, -ENOMEM, "out of memory");
		resp_fail(resp, &err);
		goto out;
	}
	for (i = 0; i < l.n; i++)
		if (json_array_append_new(arr, webhook_sub_json(&l.subs[i], 0))) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	resp_json(resp, 200, arr);
out:
	webhook_list_release(&l);
}

static void handle_one(struct whapi *w, struct http_resp *resp, const char *id,
		       enum wh_route rt, const char *method)
{
	struct lcerr err = LCERR_INIT;
	struct webhook_list l;
	struct webhook_sub *sub;
	json_t *st = NULL;
	int rc, change = strcmp(method, "GET") && strcmp(method, "HEAD");

	webhook_list_init(&l);
	rc = change ? webhook_store_lock(&w->store, &err) : 0;
	if (!rc)
		rc = webhook_list_load(&w->store, &l, &err);
	if (rc) {
		resp_fail(resp, &err);
		goto out;
	}
	sub = webhook_list_find(&l, id);
	if (!sub) {
		http_resp_error(resp, 404, "no webhook %s", id);
		goto out;
	}
	if (!strcmp(method, "DELETE")) {
		webhook_list_remove(&l, id);
		rc = webhook_list_save(&w->store, &l, &err);
		if (rc)
			resp_fail(resp, &err);
		else
			resp->status = 204;
		goto out;
	}
	if (rt == WR_RETRY) {
		sub->retry_seq++;
		rc = webhook_list_save(&w->store, &l, &err);
		if (rc) {
			resp_fail(resp, &err);
			goto out;
		}
	}
	webhook_store_unlock(&w->store);
	rc = state_load(w, id, &st, &err);
	if (rc) {
		resp_fail(resp, &err);
		goto out;
	}
	if (rt == WR_ATTEMPTS) {
		json_t *att = json_object_get(st, "attempts"), *out = json_array();
		size_t i, n = json_array_size(att);

		for (i = n; out && i > 0; i--)
			if (json_array_append(out, json_array_get(att, i - 1))) {
				json_decref(out);
				out = NULL;
			}
		resp_json(resp, 200, out);
	} else {
		resp_json(resp, 200, sub_view(sub, st));
	}
out:
	webhook_store_unlock(&w->store);
	json_decref(st);
	webhook_list_release(&l);
}

void whapi_handle(struct whapi *w, struct http_req *req, struct http_resp *resp)
{
	char id[WEBHOOK_ID_LEN + 1];
	const char *m = req->method;
	enum wh_route rt = route_find(req->path, id);

	api_cors_headers(&w->cors, resp);
	if (rt == WR_NONE) {
		if (!strncmp(req->path, "/api/webhooks/", 14) && !strchr(req->path + 14, '/'))
			http_resp_error(resp, 404, "no webhook %.64s", req->path + 14);
		else
			http_resp_error(resp, 404, "no such route: %.200s", req->path);
		return;
	}
	if (!strcmp(m, "OPTIONS")) {
		resp->status = 204;
		http_resp_header(resp, "Allow", "%s", route_allow(rt));
		if (w->cors.cfg.cors_origin[0]) {
			http_resp_header(resp, "Access-Control-Allow-Methods", "%s",
					 route_allow(rt));
			http_resp_header(resp, "Access-Control-Allow-Headers",
					 "Content-Type, Authorization");
			http_resp_header(resp, "Access-Control-Max-Age", "600");
		}
		return;
	}
	if (!token_check_bearer(http_req_param(req, "HTTP_AUTHORIZATION"),
				w->admin_token)) {
		http_resp_header(resp, "WWW-Authenticate", "Bearer");
		http_resp_error(resp, 401, "missing or wrong token");
		return;
	}
	if (!http_method_allowed(route_allow(rt), m)) {
		http_resp_header(resp, "Allow", "%s", route_allow(rt));
		http_resp_error(resp, 405, "method %s not allowed here; use %s",
				*m ? m : "(none)", route_allow(rt));
		return;
	}
	if (rt == WR_LIST && !strcmp(m, "POST"))
		handle_register(w, req, resp);
	else if (rt == WR_LIST)
		handle_list(w, resp);
	else
		handle_one(w, resp, id, rt, m);
}
