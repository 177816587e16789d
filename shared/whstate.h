/*
 * whstate.h - one webhook endpoint's delivery state, as the dispatcher
 * keeps it in <data>/webhooks/state/<id>.json (see webhook.h).
 *
 *   cursors          per channel, the last id acknowledged with a 2xx
 *                    (or skipped past a retention gap); delivery resumes
 *                    after it, so it only moves forward
 *   failures         consecutive failed attempts of the current message
 *   next_attempt     when a failed endpoint is tried again (unix ms)
 *   disabled, why    after 410 Gone or an exhausted schedule
 *   retry_seq        the subscription's retry_seq last honoured
 *   delivered        2xx count; last success and attempt times
 *   attempts         the last WHSTATE_ATTEMPTS attempts, oldest first
 *
 * An attempt is serialized (jansson) once, when it is recorded, and kept as
 * text in a ring, so writing the file - the dispatcher's hot path, at
 * every group commit of cursors - costs a small jansson object for the
 * header plus copies of those texts, not a rebuild of a hundred objects.
 *
 * Ownership: the state owns its cursors and attempt texts;
 * whstate_release() frees them.
 */
#ifndef WHSTATE_H
#define WHSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "lcerr.h"
#include "msglog.h"
#include "strbuf.h"
#include "webhook.h"

#define WHSTATE_ATTEMPTS      100
#define WHSTATE_RESPONSE_MAX  4096     /* response bytes kept per attempt */
#define WHSTATE_REASON_MAX    256

struct whstate_cursor {
	char channel[MSGLOG_NAME_MAX + 1];
	uint64_t id;
};

struct whstate {
	char id[WEBHOOK_ID_LEN + 1];
	struct whstate_cursor *cursors;
	size_t ncursors;
	unsigned failures;
	uint64_t next_ms;
	int disabled;
	char reason[WHSTATE_REASON_MAX];
	uint64_t retry_seq;
	uint64_t delivered;
	uint64_t last_success_ms;
	uint64_t last_attempt_ms;
	char *attempts[WHSTATE_ATTEMPTS];   /* ring of JSON texts */
	size_t ahead, an;                    /* oldest index, count */
};

/* One attempt, as recorded. */
struct whattempt {
	uint64_t at_ms;             /* when it started (unix ms) */
	const char *channel;        /* may be NULL */
	uint64_t msg_id;            /* the message (0: none) */
	uint64_t last_id;           /* a retention gap: msg_id..last_id */
	const char *webhook_id;     /* may be NULL */
	int status;                 /* HTTP status, 0 when none came */
	uint64_t duration_ms;
	const char *error;          /* NULL for a success */
	const char *response;       /* response body excerpt, may be NULL */
	size_t response_len;
	uint64_t next_ms;           /* next attempt planned (0: none) */
};

void whstate_init(struct whstate *st, const char *id);
void whstate_release(struct whstate *st);

/* The cursor of `channel` (a pointer into st), or NULL. */
uint64_t *whstate_cursor(struct whstate *st, const char *channel);

/* Set (adding if needed) the cursor of `channel`.  0 or -ENOMEM. */
int whstate_cursor_set(struct whstate *st, const char *channel, uint64_t id);

/* Drop cursors of channels not in sub->channels. */
void whstate_cursor_prune(struct whstate *st, const struct webhook_sub *sub);

/* Record an attempt (dropping the oldest past WHSTATE_ATTEMPTS).
 * 0 or -ENOMEM (then the attempt is missing from the history). */
int whstate_attempt_add(struct whstate *st, const struct whattempt *a);

/* The file's text (appended to `out`).  0 or the strbuf/jansson error. */
int whstate_format(const struct whstate *st, struct strbuf *out);

/*
 * Load from the file's text into `st` (freshly initialized with its id).
 * 0, or -EBADMSG (with `err`) when the text is not a state of this id.
 */
int whstate_parse(struct whstate *st, const char *text, size_t len,
		  struct lcerr *err);

/*
 * A string for a JSON value: `s[0..len)` if it is valid UTF-8, else the
 * bytes with every invalid one turned into '?'.  New reference or NULL.
 */
json_t *whstate_json_text(const char *s, size_t len);

#endif
