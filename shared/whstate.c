/*
 * whstate.c - an endpoint's delivery state and attempt history (see
 * whstate.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "whstate.h"

void whstate_init(struct whstate *st, const char *id)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->id, sizeof(st->id), "%s", id);
}

void whstate_release(struct whstate *st)
{
	size_t i;

	for (i = 0; i < WHSTATE_ATTEMPTS; i++)
		free(st->attempts[i]);
	free(st->cursors);
	memset(st, 0, sizeof(*st));
}

uint64_t *whstate_cursor(struct whstate *st, const char *channel)
{
	size_t i;

	for (i = 0; i < st->ncursors; i++)
		if (!strcmp(st->cursors[i].channel, channel))
			return &st->cursors[i].id;
	return NULL;
}

int whstate_cursor_set(struct whstate *st, const char *channel, uint64_t id)
{
	uint64_t *c = whstate_cursor(st, channel);
	struct whstate_cursor *n;

	if (c) {
		*c = id;
		return 0;
	}
	n = realloc(st->cursors, (st->ncursors + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	st->cursors = n;
	memset(&n[st->ncursors], 0, sizeof(*n));
	snprintf(n[st->ncursors].channel, sizeof(n->channel), "%s", channel);
	n[st->ncursors].id = id;
	st->ncursors++;
	return 0;
}

void whstate_cursor_prune(struct whstate *st, const struct webhook_sub *sub)
{
	size_t i = 0;

	while (i < st->ncursors) {
		if (webhook_sub_channel(sub, st->cursors[i].channel) < 0)
			st->cursors[i] = st->cursors[--st->ncursors];
		else
			i++;
	}
}

/* Is s[0..len) valid UTF-8 (no overlongs, surrogates or > U+10FFFF)? */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned c = s[0], need, cp, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3, cp = c & 0x07;
	else
		return 0;
	if (len < need + 1)
		return 0;
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return need + 1;
}

json_t *whstate_json_text(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	json_t *v;
	char *copy;
	size_t i = 0;

	v = json_stringn(s, len);
	if (v)
		return v;
	copy = malloc(len + 1);
	if (!copy)
		return NULL;
	while (i < len) {
		size_t n = utf8_seq(u + i, len - i);

		if (!n || (n == 1 && !u[i])) {
			copy[i++] = '?';
			continue;
		}
		memcpy(copy + i, s + i, n);
		i += n;
	}
	v = json_stringn(copy, len);
	free(copy);
	return v;
}

int whstate_attempt_add(struct whstate *st, const struct whattempt *a)
{
	json_t *o = json_object();
	char *text;
	size_t slot;
	int bad = !o;

	if (!bad)
		bad = json_object_set_new(o, "time", webhook_json_time(a->at_ms)) ||
		      json_object_set_new(o, "channel",
					  a->channel ? json_string(a->channel) : json_null()) ||
		      json_object_set_new(o, "message_id",
					  a->msg_id ? json_integer((json_int_t)a->msg_id) : json_null()) ||
		      json_object_set_new(o, "webhook_id",
					  a->webhook_id ? json_string(a->webhook_id) : json_null()) ||
		      json_object_set_new(o, "ok", json_boolean(!a->error)) ||
		      json_object_set_new(o, "status",
					  a->status ? json_integer(a->status) : json_null()) ||
		      json_object_set_new(o, "duration_ms",
					  json_integer((json_int_t)a->duration_ms)) ||
		      json_object_set_new(o, "error",
					  a->error ? whstate_json_text(a->error, strlen(a->error))
						   : json_null());
	if (!bad && a->last_id)
		bad = json_object_set_new(o, "skipped",
			json_pack("{s:I, s:I}", "first", (json_int_t)a->msg_id,
				  "last", (json_int_t)a->last_id));
	if (!bad && a->response)
		bad = json_object_set_new(o, "response",
			whstate_json_text(a->response,
				a->response_len > WHSTATE_RESPONSE_MAX ?
				WHSTATE_RESPONSE_MAX : a->response_len));
	if (!bad && a->next_ms)
		bad = json_object_set_new(o, "next_attempt_at",
					  webhook_json_time(a->next_ms));
	text = bad ? NULL : json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		return -ENOMEM;
	if (st->an < WHSTATE_ATTEMPTS) {
		slot = (st->ahead + st->an) % WHSTATE_ATTEMPTS;
		st->an++;
	} else {
		slot = st->ahead;
		st->ahead = (st->ahead + 1) % WHSTATE_ATTEMPTS;
	}
	free(st->attempts[slot]);
	st->attempts[slot] = text;
	return 0;
}

int whstate_format(const struct whstate *st, struct strbuf *out)
{
	json_t *o = json_object(), *cur = json_object();
	char *text = NULL;
	size_t i, len;
	int rc = -ENOMEM;

	if (!o || !cur)
		goto out;
	for (i = 0; i < st->ncursors; i++)
		if (json_object_set_new(cur, st->cursors[i].channel,
					json_integer((json_int_t)st->cursors[i].id)))
			goto out;
	if (json_object_set_new(o, "id", json_string(st->id)) ||
	    json_object_set(o, "cursors", cur) ||
	    json_object_set_new(o, "failures", json_integer(st->failures)) ||
	    json_object_set_new(o, "next_attempt_ms", json_integer((json_int_t)st->next_ms)) ||
	    json_object_set_new(o, "disabled", json_boolean(st->disabled)) ||
	    json_object_set_new(o, "disabled_reason",
				st->disabled ? json_string(st->reason) : json_null()) ||
	    json_object_set_new(o, "retry_seq", json_integer((json_int_t)st->retry_seq)) ||
	    json_object_set_new(o, "delivered", json_integer((json_int_t)st->delivered)) ||
	    json_object_set_new(o, "last_success_ms",
				json_integer((json_int_t)st->last_success_ms)) ||
	    json_object_set_new(o, "last_attempt_ms",
				json_integer((json_int_t)st->last_attempt_ms)))
		goto out;
	text = json_dumps(o, JSON_COMPACT);
	if (!text)
		goto out;
	/* splice the attempt texts in before the closing brace */
	len = strlen(text);
	rc = strbuf_add(out, text, len - 1);
	if (!rc)
		rc = strbuf_addstr(out, ",\"attempts\":[");
	for (i = 0; !rc && i < st->an; i++) {
		if (i)
			rc = strbuf_addch(out, ',');
		if (!rc)
			rc = strbuf_addstr(out,
				st->attempts[(st->ahead + i) % WHSTATE_ATTEMPTS]);
	}
	if (!rc)
		rc = strbuf_addstr(out, "]}\n");
out:
	free(text);
	json_decref(cur);
	json_decref(o);
	return rc;
}

static uint64_t get_u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	       (uint64_t)json_integer_value(v) : 0;
}

int whstate_parse(struct whstate *st, const char *text, size_t len,
		  struct lcerr *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, 0, &jerr);
	json_t *id = json_object_get(root, "id"), *cur, *att, *v;
	const char *key;
	size_t i;
	int rc = 0;

	if (!json_is_string(id) || strcmp(json_string_value(id), st->id)) {
		rc = lcerr_set(err, -EBADMSG, "state of %s is damaged (%s)",
			       st->id, root ? "wrong id" : jerr.text);
		goto out;
	}
	cur = json_object_get(root, "cursors");
	json_object_foreach(cur, key, v) {
		if (!msglog_name_valid(key) || !json_is_integer(v) ||
		    json_integer_value(v) < 0) {
			rc = lcerr_set(err, -EBADMSG, "state of %s: bad cursor", st->id);
			goto out;
		}
		if (whstate_cursor_set(st, key, (uint64_t)json_integer_value(v))) {
			rc = lcerr_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	st->failures = (unsigned)get_u64(root, "failures");
	st->next_ms = get_u64(root, "next_attempt_ms");
	st->disabled = json_is_true(json_object_get(root, "disabled"));
	v = json_object_get(root, "disabled_reason");
	snprintf(st->reason, sizeof(st->reason), "%s",
		 json_is_string(v) ? json_string_value(v) : "");
	st->retry_seq = get_u64(root, "retry_seq");
	st->delivered = get_u64(root, "delivered");
	st->last_success_ms = get_u64(root, "last_success_ms");
	st->last_attempt_ms = get_u64(root, "last_attempt_ms");
	att = json_object_get(root, "attempts");
	i = json_array_size(att) > WHSTATE_ATTEMPTS ?
	    json_array_size(att) - WHSTATE_ATTEMPTS : 0;
	for (; i < json_array_size(att); i++) {
		char *t = json_dumps(json_array_get(att, i), JSON_COMPACT);

		if (!t) {
			rc = lcerr_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		st->attempts[st->an++] = t;
	}
out:
	json_decref(root);
	return rc;
}
