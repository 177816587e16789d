/*
 * webhook.h - webhook subscriptions and the files under <data>/webhooks.
 *
 * Two writers share the directory, and each file has exactly one of them,
 * so neither can undo the other's writes:
 *
 *   subscriptions.json   the registrations (ids, URLs, channels, secrets,
 *                        each channel's last id at registration, and a
 *                        retry counter).  Written only by the API (POST,
 *                        DELETE, POST .../retry), under an flock on
 *                        subscriptions.lock for its read-modify-write.
 *                        Mode 0660: it holds the secrets, readable by
 *                        the data directory's group (the web server's
 *                        user and the daemons share it), not by others.
 *   state/<id>.json      one endpoint's delivery state: a cursor per
 *                        channel, failures, next attempt, disabled and
 *                        why, the recent attempts (whstate.h).  Written
 *                        only by the dispatcher; the API reads it.
 *   dispatch.lock        flock held by the one running dispatcher.
 *
 * The API asks the dispatcher to resume a disabled endpoint by raising the
 * subscription's retry_seq; the dispatcher, seeing it above the value it
 * recorded in the state, re-enables the endpoint.  A deleted subscription's
 * state file is removed by the dispatcher.
 *
 * Every write is an atomic replace: a temporary file in the same
 * directory, written and fdatasync()ed, renamed over the old one, then the
 * directory fsync()ed - so a reader sees the old file or the new, and a
 * crash leaves one of them.  (With LOGCAST_FSYNC=off the syncs are
 * skipped, as for the log.)  The JSON is built and parsed with jansson.
 *
 * Ownership: a struct webhook_list owns its subscriptions and their
 * strings; webhook_list_release() frees them.  json_t results are new
 * references (the caller json_decref()s them).
 */
#ifndef WEBHOOK_H
#define WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lcerr.h"
#include "msglog.h"
#include "strbuf.h"

#define WEBHOOK_ID_LEN        19               /* "wh_" + 16 hex digits */
#define WEBHOOK_MAX_SUBS      1000
#define WEBHOOK_MAX_CHANNELS  64
#define WEBHOOK_FILE_MAX      ((size_t)32 << 20)
#define WEBHOOK_SUBS_FILE     "subscriptions.json"
#define WEBHOOK_STATE_DIR     "state"

struct webhook_sub {
	char id[WEBHOOK_ID_LEN + 1];
	char *url;                  /* as normalized by libcurl */
	char *secret;               /* "whsec_..." */
	size_t nchannels;
	char (*channels)[MSGLOG_NAME_MAX + 1];
	uint64_t *start;            /* per channel: last id at registration */
	uint64_t created_ms;
	uint64_t retry_seq;         /* raised by POST /api/webhooks/{id}/retry */
};

struct webhook_list {
	struct webhook_sub *subs;
	size_t n, alloc;
};

struct webhook_store {
	char *dir;                  /* <data>/webhooks */
	int dirfd;                  /* that directory */
	int statefd;                /* <data>/webhooks/state */
	int durable;                /* sync on replace */
	int lock_fd;                /* subscriptions.lock while held, else -1 */
};

/*
 * Open (creating if needed) <data_dir>/webhooks and its state/ directory.
 * `durable`: fsync replaced files (pass 0 for LOGCAST_FSYNC=off).
 * 0, or negative with `err` set; on error nothing needs releasing.
 */
int webhook_store_init(struct webhook_store *s, const char *data_dir,
		       int durable, struct lcerr *err);

void webhook_store_release(struct webhook_store *s);

/* Take (blocking) / drop the exclusive lock for a read-modify-write of
 * the subscriptions.  0 or negative with `err`. */
int webhook_store_lock(struct webhook_store *s, struct lcerr *err);
void webhook_store_unlock(struct webhook_store *s);

void webhook_list_init(struct webhook_list *l);
void webhook_list_release(struct webhook_list *l);

/*
 * Read subscriptions.json into `l` (which must be empty).  A missing file
 * is an empty list.  0, or -EBADMSG when the file is not what we write,
 * -E2BIG past WEBHOOK_FILE_MAX, or an errno; `err` says which.
 */
int webhook_list_load(struct webhook_store *s, struct webhook_list *l,
		      struct lcerr *err);

/* Atomically replace subscriptions.json with `l`.  0 or negative. */
int webhook_list_save(struct webhook_store *s, const struct webhook_list *l,
		      struct lcerr *err);

/* The subscription with this id (borrowed), or NULL. */
struct webhook_sub *webhook_list_find(struct webhook_list *l, const char *id);

/* Append `sub`, taking ownership of its strings (sub is then zeroed).
 * 0 or -ENOMEM (sub untouched). */
int webhook_list_add(struct webhook_list *l, struct webhook_sub *sub);

/* Remove and free the subscription with this id: 0 or -ENOENT. */
int webhook_list_remove(struct webhook_list *l, const char *id);

/* Deep copy of `src` into `dst` (release it with webhook_sub_release()).
 * 0 or -ENOMEM (dst then holds nothing to release). */
int webhook_sub_copy(struct webhook_sub *dst, const struct webhook_sub *src);

/* Free the strings of one subscription (not in a list). */
void webhook_sub_release(struct webhook_sub *sub);

/* Index of `channel` in sub->channels, or -1. */
int webhook_sub_channel(const struct webhook_sub *sub, const char *channel);

/*
 * The subscription as the API shows it: id, url, channels, created_at
 * (and the secret when `with_secret`).  New reference, or NULL on ENOMEM.
 */
json_t *webhook_sub_json(const struct webhook_sub *sub, int with_secret);

/* A new random id, "wh_" + 16 lower-case hex digits, into out[20].
 * 0 or negative (getrandom failed) with `err`. */
int webhook_id_new(char *out, struct lcerr *err);

/* Is `id` of that form? */
int webhook_id_valid(const char *id);

/*
 * Atomically replace file `name` in directory `dirfd` with data[0..len)
 * (mode 0600): write a temporary, fdatasync it (if `durable`), rename it
 * over `name`, then fsync the directory if `durable && sync_dir` (a caller
 * replacing many files syncs the directory once at the end with
 * webhook_dir_sync()).  0 or negative with `err`; on error the old file
 * is intact and no temporary is left.
 */
int webhook_file_replace(int dirfd, const char *name, const void *data,
			 size_t len, int durable, int sync_dir,
			 struct lcerr *err);

/* fsync a directory: 0 or negative with `err`. */
int webhook_dir_sync(int dirfd, struct lcerr *err);

/*
 * Read all of file `name` in `dirfd` into `out` (reset first), refusing
 * more than `max` bytes (-E2BIG).  -ENOENT when it does not exist.
 */
int webhook_file_read(int dirfd, const char *name, size_t max,
		      struct strbuf *out, struct lcerr *err);

/* "<id>.json", the state file's name in state/, into buf[32]. */
void webhook_state_name(const char *id, char *buf, size_t len);

/* Format unix ms as RFC 3339 (msglog_format_time) into a new json string;
 * 0 gives JSON null. */
json_t *webhook_json_time(uint64_t ms);

#endif
