/*
 * api.c - routes and handlers of the HTTP API (see api.h).
 *
 *   POST /api/channels/{ch}/messages   publish            (also /add, /orders)
 *   GET  /api/channels/{ch}/messages   short poll         (also /messages)
 *   GET  /api/channels/{ch}/poll       long poll          (also /poll)
 *   GET  /api/channels/{ch}/events     Server-Sent Events
 *   GET  /api/channels                 channel list
 *   GET  /api/health                   liveness and live counts
 *   OPTIONS any of them                CORS preflight
 *
 * Every parameter is range-checked and refused (400), never clamped.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "parse.h"
#include "query.h"
#include "token.h"

#define SINCE_MAX   ((uint64_t)INT64_MAX)
#define LIMIT_MAX   1000
#define LIMIT_DEF   100
#define TIMEOUT_MAX 120

int api_config_from_env(struct api_config *cfg, struct lcerr *err)
{
	const char *v;
	uint64_t n;

	memset(cfg, 0, sizeof(*cfg));
	v = getenv("LOGCAST_PUBLISH_TOKEN");
	cfg->publish_token = v && *v ? v : NULL;
	v = getenv("LOGCAST_CORS_ORIGIN");
	cfg->cors_origin = v && *v ? v : "*";
	if (!strcmp(cfg->cors_origin, "none"))
		cfg->cors_origin = "";
	if (strchr(cfg->cors_origin, '\r') || strchr(cfg->cors_origin, '\n'))
		return lcerr_set(err, -EINVAL, "LOGCAST_CORS_ORIGIN has a line break");
	if (parse_env_u64("LOGCAST_POLL_TIMEOUT", 30, 1, TIMEOUT_MAX, &n))
		return lcerr_set(err, -EINVAL,
				 "LOGCAST_POLL_TIMEOUT must be 1 to 120 seconds");
	cfg->poll_timeout = (unsigned)n;
	if (parse_env_u64("LOGCAST_SSE_KEEPALIVE", 15, 1, 300, &n))
		return lcerr_set(err, -EINVAL,
				 "LOGCAST_SSE_KEEPALIVE must be 1 to 300 seconds");
	cfg->sse_keepalive = (unsigned)n;
	if (parse_env_u64("LOGCAST_MAX_HELD", 8192, 1, 1000000, &n))
		return lcerr_set(err, -EINVAL,
				 "LOGCAST_MAX_HELD must be 1 to 1000000");
	cfg->max_held = (unsigned)n;
	cfg->retry_after = 5;
	cfg->max_response = 1 << 20;
	return 0;
}

/* ------------------------------------------------------------------ */
/* routing                                                            */

enum route {
	RT_NONE,
	RT_MESSAGES,     /* GET short poll, POST publish */
	RT_POLL,
	RT_EVENTS,
	RT_CHANNELS,
	RT_HEALTH,
	RT_SEED_SHORT,   /* GET /messages */
	RT_SEED_PUBLISH, /* POST /add, POST /orders */
	RT_SEED_POLL,    /* GET /poll */
};

static const char *route_allow(enum route rt)
{
	switch (rt) {
	case RT_MESSAGES: return "GET, HEAD, POST, OPTIONS";
	case RT_POLL:
	case RT_EVENTS:
	case RT_SEED_POLL: return "GET, OPTIONS";
	case RT_SEED_PUBLISH: return "POST, OPTIONS";
	default: return "GET, HEAD, OPTIONS";
	}
}


/* Find the route of `path`; the channel name goes to `chan`.  Returns 0,
 * or -EINVAL (with a 400 in resp) for a bad channel name. */
static int route_find(const char *path, enum route *rt, char *chan,
		      struct http_resp *resp)
{
	const char *rest, *slash;
	int n;

	*rt = RT_NONE;
	chan[0] = '\0';
	if (!strcmp(path, "/messages") || !strcmp(path, "/poll") ||
	    !strcmp(path, "/add") || !strcmp(path, "/orders")) {
		snprintf(chan, MSGLOG_NAME_MAX + 2, "%s",
			 strcmp(path, "/orders") ? "chat" : "orders");
		*rt = path[1] == 'm' ? RT_SEED_SHORT :
		      path[1] == 'p' ? RT_SEED_POLL : RT_SEED_PUBLISH;
		return 0;
	}
	if (strncmp(path, "/api/", 5))
		return 0;
	rest = path + 5;
	if (!strcmp(rest, "health")) {
		*rt = RT_HEALTH;
		return 0;
	}
	if (!strcmp(rest, "channels")) {
		*rt = RT_CHANNELS;
		return 0;
	}
	if (strncmp(rest, "channels/", 9))
		return 0;
	rest += 9;
	slash = strchr(rest, '/');
	if (!slash)
		return 0;
	if (!strcmp(slash + 1, "messages"))
		*rt = RT_MESSAGES;
	else if (!strcmp(slash + 1, "poll"))
		*rt = RT_POLL;
	else if (!strcmp(slash + 1, "events"))
		*rt = RT_EVENTS;
	else
		return 0;
	n = url_decode(rest, (size_t)(slash - rest), chan, MSGLOG_NAME_MAX + 2, 0);
	if (n < 0 || !msglog_name_valid(chan)) {
		http_resp_error(resp, 400,
			"invalid channel name: use 1 to 64 of A-Z a-z 0-9 _ . -, "
			"starting with a letter or digit");
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* response helpers                                                   */

void api_cors_headers(const struct api *api, struct http_resp *resp)
{
	if (!api->cfg.cors_origin[0])
		return;
	http_resp_header(resp, "Access-Control-Allow-Origin", "%s",
			 api->cfg.cors_origin);
	http_resp_header(resp, "Access-Control-Expose-Headers",
			 "X-First-Id, X-Last-Id, Retry-After");
	if (strcmp(api->cfg.cors_origin, "*"))
		http_resp_header(resp, "Vary", "Origin");
}

static void read_headers(struct http_resp *resp, const struct msglog_range *r)
{
	http_resp_header(resp, "Cache-Control", "no-store");
	http_resp_header(resp, "X-First-Id", "%llu",
			 (unsigned long long)r->first_id);
	http_resp_header(resp, "X-Last-Id", "%llu",
			 (unsigned long long)r->last_id);
}

/* "[env,env,...]" for messages [from, from+limit) of b. */
static int array_body(struct strbuf *out, const struct msglog_batch *b,
		      size_t from, size_t limit)
{
	size_t i;
	int rc = strbuf_addch(out, '[');

	for (i = from; !rc && i < b->n && i - from < limit; i++) {
		if (i > from)
			rc = strbuf_addch(out, ',');
		if (!rc)
			rc = strbuf_add(out, b->buf.buf + b->msgs[i].off,
					b->msgs[i].len);
	}
	return rc ? rc : strbuf_addch(out, ']');
}

/* strbuf-backed transport for formatting whole responses */
static int sb_write(void *ctx, const void *p, size_t len)
{
	return strbuf_add(ctx, p, len);
}

static int resp_to_strbuf(struct http_resp *resp, struct strbuf *out)
{
	struct http_io io = { NULL, NULL, sb_write, NULL, out };

	return http_resp_send(&io, resp, 0);
}

int api_longpoll_format(const struct api *api, struct strbuf *out,
			const struct msglog_batch *b, size_t from,
			size_t limit, const struct msglog_range *range)
{
	struct http_resp resp;
	int rc = 0;

	http_resp_init(&resp);
	api_cors_headers(api, &resp);
	read_headers(&resp, range);
	if (b && from < b->n) {
		resp.status = 200;
		http_resp_header(&resp, "Content-Type", "application/json");
		rc = array_body(&resp.body, b, from, limit);
	} else {
		resp.status = 204;
	}
	if (!rc)
		rc = resp_to_strbuf(&resp, out);
	http_resp_release(&resp);
	return rc;
}

int api_sse_head_format(const struct api *api, struct strbuf *out,
			const struct msglog_range *range)
{
	struct http_resp resp;
	int rc;

	http_resp_init(&resp);
	api_cors_headers(api, &resp);
	read_headers(&resp, range);
	http_resp_header(&resp, "Content-Type", "text/event-stream; charset=utf-8");
	http_resp_header(&resp, "X-Accel-Buffering", "no");
	rc = strbuf_addf(out, "Status: 200 OK\r\n%s\r\nretry: 2000\n\n",
			 resp.head.buf);
	http_resp_release(&resp);
	return rc;
}

int api_sse_events_format(struct strbuf *out, const struct msglog_batch *b,
			  size_t *offsets)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < b->n; i++) {
		if (offsets)
			offsets[i] = out->len;
		rc = strbuf_add(out, "id: ", 4);
		if (!rc)
			rc = strbuf_addu64(out, b->msgs[i].id);
		if (!rc)
			rc = strbuf_add(out, "\ndata: ", 7);
		if (!rc)
			rc = strbuf_add(out, b->buf.buf + b->msgs[i].off,
					b->msgs[i].len);
		if (!rc)
			rc = strbuf_add(out, "\n\n", 2);
	}
	if (offsets)
		offsets[b->n] = out->len;
	return rc;
}

int api_sse_send(const struct api *api, struct api_wait *w,
		 struct http_io *io, int head)
{
	struct lcerr err = LCERR_INIT;
	struct msglog_batch b;
	struct msglog_range r;
	struct strbuf out;
	int rc = 0;

	msglog_batch_init(&b);
	strbuf_init(&out, 0);
	if (head) {
		msglog_chan_range(w->chan, &r);
		rc = api_sse_head_format(api, &out, &r) ? -ENOMEM :
		     io->write(io->ctx, out.buf, out.len);
	}
	while (!rc) {
		int n = msglog_read(w->chan, w->cursor, 1000,
				    api->cfg.max_response, &b, &err);

		if (n <= 0) {
			if (n < 0) {
				fprintf(stderr, "logcast: %s\n", err.msg);
				rc = -EIO;
			}
			break;
		}
		strbuf_reset(&out);
		rc = api_sse_events_format(&out, &b, NULL) ? -ENOMEM :
		     io->write(io->ctx, out.buf, out.len);
		if (!rc)
			w->cursor = b.msgs[b.n - 1].id;
	}
	strbuf_release(&out);
	msglog_batch_release(&b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* handlers                                                           */

/* Read an optional numeric query parameter; on a bad value answer 400
 * and return -EINVAL. */
static int param_u64(struct http_req *req, struct http_resp *resp,
		     const char *name, uint64_t min, uint64_t max,
		     uint64_t *out, int *present)
{
	int rc = query_get_u64(req->query, name, min, max, out);

	if (present)
		*present = rc == 1;
	if (rc >= 0)
		return 0;
	http_resp_error(resp, 400, "%s must be an integer from %llu to %llu",
			name, (unsigned long long)min, (unsigned long long)max);
	return -EINVAL;
}

static void handle_short_poll(struct api *api, struct http_req *req,
			      struct http_resp *resp, const char *name)
{
	struct lcerr err = LCERR_INIT;
	struct msglog_chan *c = NULL;
	struct msglog_batch b;
	struct msglog_range r = { 0, 0 };
	uint64_t since = 0, limit = LIMIT_DEF;
	int has_since, rc;

	if (param_u64(req, resp, "since", 0, SINCE_MAX, &since, &has_since) ||
	    param_u64(req, resp, "limit", 1, LIMIT_MAX, &limit, NULL))
		return;
	msglog_batch_init(&b);
	rc = msglog_chan_get(api->log, name, 0, &c, &err);
	if (rc == -ENOENT) {
		rc = 0;   /* an unknown channel is an empty channel */
	} else if (!rc) {
		msglog_chan_range(c, &r);
		if (!has_since)
			since = r.last_id > limit ? r.last_id - limit : 0;
		rc = msglog_read(c, since, (size_t)limit, api->cfg.max_response,
				 &b, &err);
		if (rc >= 0)
			r = b.range;
	}
	if (rc < 0) {
		http_resp_lcerr(resp, &err);
		goto out;
	}
	resp->status = 200;
	read_headers(resp, &r);
	http_resp_header(resp, "Content-Type", "application/json");
	array_body(&resp->body, &b, 0, (size_t)limit);
out:
	msglog_chan_put(c);
	msglog_batch_release(&b);
}

static void handle_publish(struct api *api, struct http_req *req,
			   struct http_resp *resp, const char *name)
{
	struct lcerr err = LCERR_INIT;
	struct msglog_chan *c = NULL;
	const char *key = http_req_param(req, "HTTP_IDEMPOTENCY_KEY");
	struct strbuf body;
	uint64_t id;
	int rc;

	if (!token_check_bearer(http_req_param(req, "HTTP_AUTHORIZATION"),
				api->cfg.publish_token)) {
		http_resp_header(resp, "WWW-Authenticate", "Bearer");
		http_resp_error(resp, 401, "missing or wrong token");
		return;
	}
	strbuf_init(&body, msglog_opts(api->log)->max_data + 1);
	rc = http_req_body(req, msglog_opts(api->log)->max_data, &body);
	if (rc == -E2BIG) {
		http_resp_error(resp, 413, "body larger than %zu bytes",
				msglog_opts(api->log)->max_data);
		goto out;
	} else if (rc) {
		http_resp_error(resp, 400, "could not read the request body");
		goto out;
	}
	if (key && !*key)
		key = NULL;
	rc = msglog_chan_get(api->log, name, MSGLOG_CREATE, &c, &err);
	if (!rc)
		rc = msglog_append(c, body.buf, body.len, key, key ? strlen(key) : 0,
				   &id, &resp->body, &err);
	if (rc < 0) {
		if (http_status_from_err(rc) >= 500)
			fprintf(stderr, "logcast: publish to '%s': %s\n", name,
				err.msg);
		http_resp_lcerr(resp, &err);
		goto out;
	}
	resp->status = rc == 1 ? 200 : 201;
	http_resp_header(resp, "Content-Type", "application/json");
	http_resp_header(resp, "Cache-Control", "no-store");
out:
	msglog_chan_put(c);
	strbuf_release(&body);
}

/* Long poll and SSE: answer at once when possible, else say how to wait. */
static void handle_wait(struct api *api, struct http_req *req,
			struct http_resp *resp, const char *name, int sse,
			unsigned default_timeout, struct api_wait *w)
{
	struct lcerr err = LCERR_INIT;
	struct msglog_chan *c = NULL;
	struct msglog_batch b;
	uint64_t since = 0, limit = LIMIT_DEF, timeout = default_timeout;
	const char *leid = NULL;
	int has_since = 0, rc;

	if (sse) {
		leid = http_req_param(req, "HTTP_LAST_EVENT_ID");
		if (leid && *leid) {
			if (parse_u64(leid, 0, SINCE_MAX, &since)) {
				http_resp_error(resp, 400,
					"Last-Event-ID must be an integer from 0 to %llu",
					(unsigned long long)SINCE_MAX);
				return;
			}
			has_since = 1;
		} else if (param_u64(req, resp, "since", 0, SINCE_MAX, &since,
				     &has_since)) {
			return;
		}
	} else if (param_u64(req, resp, "since", 0, SINCE_MAX, &since, &has_since) ||
		   param_u64(req, resp, "timeout", 1, TIMEOUT_MAX, &timeout, NULL) ||
		   param_u64(req, resp, "limit", 1, LIMIT_MAX, &limit, NULL)) {
		return;
	}
	if (api->may_hold ? !api->may_hold(api->counts_ctx) :
	    stats_get(api->stats, STATS_CGI_LONG_POLLS) +
	    stats_get(api->stats, STATS_CGI_SSE_STREAMS) >= api->cfg.max_held) {
		http_resp_header(resp, "Retry-After", "%u", api->cfg.retry_after);
		http_resp_error(resp, 503, "too many held requests; retry later");
		return;
	}
	rc = msglog_chan_get(api->log, name, MSGLOG_CREATE, &c, &err);
	if (rc) {
		http_resp_lcerr(resp, &err);
		return;
	}
	if (!has_since)
		since = msglog_chan_last_id(c);
	if (!sse && has_since && since < msglog_chan_last_id(c)) {
		/* news already: answer now */
		msglog_batch_init(&b);
		rc = msglog_read(c, since, (size_t)limit, api->cfg.max_response,
				 &b, &err);
		if (rc > 0) {
			resp->status = 200;
			read_headers(resp, &b.range);
			http_resp_header(resp, "Content-Type", "application/json");
			array_body(&resp->body, &b, 0, (size_t)limit);
		} else if (rc < 0) {
			http_resp_lcerr(resp, &err);
		}
		msglog_batch_release(&b);
		if (rc != 0) {
			msglog_chan_put(c);
			return;
		}
	}
	w->action = sse ? API_SSE : API_LONG_POLL;
	w->chan = c;
	w->cursor = since;
	w->limit = (unsigned)limit;
	w->timeout = (unsigned)timeout;
}

static int add_channel(const char *name, void *ctx)
{
	json_t *arr = ctx;

	return json_array_append_new(arr, json_string(name)) ? -ENOMEM : 0;
}

static int cmp_json_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

static void handle_channels(struct api *api, struct http_resp *resp)
{
	struct lcerr err = LCERR_INIT;
	json_t *names = json_array(), *out = json_array();
	json_t **v = NULL;
	size_t i, n;
	char *text = NULL;

	if (!names || !out || msglog_list(api->log, add_channel, names, &err) < 0) {
		http_resp_lcerr(resp, &err);
		goto done;
	}
	n = json_array_size(names);
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		goto oom;
	for (i = 0; i < n; i++)
		v[i] = json_array_get(names, i);
	qsort(v, n, sizeof(*v), cmp_json_str);
	for (i = 0; i < n; i++) {
		struct msglog_chan *c;
		struct msglog_range r;

		if (msglog_chan_get(api->log, json_string_value(v[i]), 0, &c, NULL))
			continue;
		msglog_chan_range(c, &r);
		msglog_chan_put(c);
		if (json_array_append_new(out, json_pack("{s:s, s:I, s:I}",
				"channel", json_string_value(v[i]),
				"first_id", (json_int_t)r.first_id,
				"last_id", (json_int_t)r.last_id)))
			goto oom;
	}
	text = json_dumps(out, JSON_COMPACT);
	if (!text)
		goto oom;
	resp->status = 200;
	http_resp_header(resp, "Content-Type", "application/json");
	http_resp_header(resp, "Cache-Control", "no-store");
	strbuf_addstr(&resp->body, text);
	goto done;
oom:
	http_resp_error(resp, 500, "out of memory");
done:
	free(text);
	free(v);
	json_decref(names);
	json_decref(out);
}

static unsigned count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n ? n - 1 : 0;   /* not the directory stream itself */
}

static void handle_health(struct api *api, struct http_resp *resp)
{
	uint64_t lp = 0, sse = 0;
	json_t *o;
	char *text;

	if (api->counts)
		api->counts(api->counts_ctx, &lp, &sse);
	lp += stats_get(api->stats, STATS_CGI_LONG_POLLS);
	sse += stats_get(api->stats, STATS_CGI_SSE_STREAMS);
	o = json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:s, s:I}",
		"ok", 1,
		"mode", api->mode,
		"held_long_polls", (json_int_t)lp,
		"sse_streams", (json_int_t)sse,
		"websocket_connections",
		(json_int_t)stats_get(api->stats, STATS_WS_CONNECTIONS),
		"open_fds", (json_int_t)count_fds(),
		"fsync", msglog_fsync_name(msglog_opts(api->log)->fsync),
		"max_held", (json_int_t)api->cfg.max_held);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text) {
		http_resp_error(resp, 500, "out of memory");
		return;
	}
	resp->status = 200;
	http_resp_header(resp, "Content-Type", "application/json");
	http_resp_header(resp, "Cache-Control", "no-store");
	strbuf_addstr(&resp->body, text);
	free(text);
}

int api_handle(struct api *api, struct http_req *req, struct http_resp *resp,
	       struct api_wait *w)
{
	char chan[MSGLOG_NAME_MAX + 2];
	const char *m = req->method;
	enum route rt;

	memset(w, 0, sizeof(*w));
	w->action = API_DONE;
	w->head_only = !strcmp(m, "HEAD");
	api_cors_headers(api, resp);
	if (route_find(req->path, &rt, chan, resp))
		return 0;
	if (rt == RT_NONE) {
		http_resp_error(resp, 404, "no such route: %s", req->path);
		return 0;
	}
	if (!strcmp(m, "OPTIONS")) {
		resp->status = 204;
		http_resp_header(resp, "Allow", "%s", route_allow(rt));
		if (api->cfg.cors_origin[0]) {
			http_resp_header(resp, "Access-Control-Allow-Methods", "%s",
					 route_allow(rt));
			http_resp_header(resp, "Access-Control-Allow-Headers",
				"Content-Type, Authorization, Idempotency-Key, Last-Event-ID");
			http_resp_header(resp, "Access-Control-Max-Age", "600");
		}
		return 0;
	}
	if (!http_method_allowed(route_allow(rt), m)) {
		http_resp_header(resp, "Allow", "%s", route_allow(rt));
		http_resp_error(resp, 405, "method %s not allowed here; use %s",
				*m ? m : "(none)", route_allow(rt));
		return 0;
	}
	switch (rt) {
	case RT_MESSAGES:
		if (!strcmp(m, "POST"))
			handle_publish(api, req, resp, chan);
		else
			handle_short_poll(api, req, resp, chan);
		break;
	case RT_SEED_SHORT:
		handle_short_poll(api, req, resp, chan);
		break;
	case RT_SEED_PUBLISH:
		handle_publish(api, req, resp, chan);
		break;
	case RT_POLL:
		handle_wait(api, req, resp, chan, 0, api->cfg.poll_timeout, w);
		break;
	case RT_SEED_POLL:
		/* the seed's client re-polls at once; it passes no since */
		handle_wait(api, req, resp, chan, 0, api->cfg.poll_timeout, w);
		break;
	case RT_EVENTS:
		handle_wait(api, req, resp, chan, 1, 0, w);
		break;
	case RT_CHANNELS:
		handle_channels(api, resp);
		break;
	case RT_HEALTH:
		handle_health(api, resp);
		break;
	case RT_NONE:
		break;
	}
	return 0;
}
