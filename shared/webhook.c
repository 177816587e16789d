/*
 * webhook.c - the subscription store and atomic file replacement (see
 * webhook.h for the layout of <data>/webhooks and who writes what).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "webhook.h"

/* ------------------------------------------------------------------ */
/* files                                                              */

int webhook_dir_sync(int dirfd, struct lcerr *err)
{
	if (fsync(dirfd) && errno != EINVAL)
		return lcerr_sys(err, -errno, "fsync of a webhooks directory");
	return 0;
}

static int tmp_name(const char *name, char *tmp, size_t len)
{
	int n = snprintf(tmp, len, ".%s.%ld.tmp", name, (long)getpid());

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Create and write the temporary; its fd (open) or negative. */
static int write_tmp(int dirfd, const char *tmp, const void *data, size_t len)
{
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
	int rc;

	if (fd < 0)
		return -errno;
	rc = fdio_write_all(fd, data, len);
	if (rc) {
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return rc;
	}
	return fd;
}

int webhook_file_replace(int dirfd, const char *name, const void *data,
			 size_t len, int durable, int sync_dir,
			 struct lcerr *err)
{
	char tmp[256];
	int fd, rc = 0;

	if (tmp_name(name, tmp, sizeof(tmp)))
		return lcerr_set(err, -ENAMETOOLONG, "file name too long");
	fd = write_tmp(dirfd, tmp, data, len);
	if (fd < 0)
		return lcerr_sys(err, fd, "cannot write webhooks file %s", name);
	if (durable && fdatasync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && renameat(dirfd, tmp, dirfd, name))
		rc = -errno;
	if (rc) {
		unlinkat(dirfd, tmp, 0);
		return lcerr_sys(err, rc, "cannot write webhooks file %s", name);
	}
	if (durable && sync_dir)
		return webhook_dir_sync(dirfd, err);
	return 0;
}

int webhook_file_read(int dirfd, const char *name, size_t max,
		      struct strbuf *out, struct lcerr *err)
{
	char buf[16384];
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	strbuf_reset(out);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT :
		       lcerr_sys(err, -errno, "cannot open webhooks file %s", name);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = lcerr_sys(err, -errno, "cannot read webhooks file %s", name);
			break;
		}
		if (!n)
			break;
		if (out->len + (size_t)n > max) {
			rc = lcerr_set(err, -E2BIG, "webhooks file %s is larger than %zu bytes",
				       name, max);
			break;
		}
		if (strbuf_add(out, buf, (size_t)n)) {
			rc = lcerr_set(err, -ENOMEM, "out of memory");
			break;
		}
	}
	close(fd);
	return rc;
}

void webhook_state_name(const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s.json", id);
}

json_t *webhook_json_time(uint64_t ms)
{
	char t[32];

	if (!ms)
		return json_null();
	msglog_format_time(t, ms);
	return json_string(t);
}

/* ------------------------------------------------------------------ */
/* the store                                                          */

static int open_dir(int at, const char *path, struct lcerr *err)
{
	int fd;

	if (mkdirat(at, path, 0770) && errno != EEXIST)
		return lcerr_sys(err, -errno, "cannot create %s", path);
	fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return lcerr_sys(err, -errno, "cannot open %s", path);
	return fd;
}

int webhook_store_init(struct webhook_store *s, const char *data_dir,
		       int durable, struct lcerr *err)
{
	size_t n = strlen(data_dir) + sizeof("/webhooks");
	int rc;

	memset(s, 0, sizeof(*s));
	s->dirfd = s->statefd = s->lock_fd = -1;
	s->durable = durable;
	if (mkdir(data_dir, 0755) && errno != EEXIST)
		return lcerr_sys(err, -errno, "cannot create %s", data_dir);
	s->dir = malloc(n);
	if (!s->dir)
		return lcerr_set(err, -ENOMEM, "out of memory");
	snprintf(s->dir, n, "%s/webhooks", data_dir);
	rc = open_dir(AT_FDCWD, s->dir, err);
	if (rc < 0)
		goto fail;
	s->dirfd = rc;
	rc = open_dir(s->dirfd, WEBHOOK_STATE_DIR, err);
	if (rc < 0)
		goto fail;
	s->statefd = rc;
	return 0;
fail:
	webhook_store_release(s);
	return rc;
}

void webhook_store_release(struct webhook_store *s)
{
	webhook_store_unlock(s);
	if (s->statefd >= 0)
		close(s->statefd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->dir);
	s->dir = NULL;
	s->dirfd = s->statefd = -1;
}

int webhook_store_lock(struct webhook_store *s, struct lcerr *err)
{
	int fd;

	if (s->lock_fd >= 0)
		return 0;
	fd = openat(s->dirfd, "subscriptions.lock",
		    O_RDWR | O_CREAT | O_CLOEXEC, 0660);
	if (fd < 0)
		return lcerr_sys(err, -errno, "cannot open subscriptions.lock");
	while (flock(fd, LOCK_EX)) {
		if (errno == EINTR)
			continue;
		close(fd);
		return lcerr_sys(err, -errno, "cannot lock subscriptions.lock");
	}
	s->lock_fd = fd;
	return 0;
}

void webhook_store_unlock(struct webhook_store *s)
{
	if (s->lock_fd < 0)
		return;
	close(s->lock_fd);        /* drops the flock */
	s->lock_fd = -1;
}

/* ------------------------------------------------------------------ */
/* lists                                                              */

void webhook_list_init(struct webhook_list *l)
{
	memset(l, 0, sizeof(*l));
}

void webhook_sub_release(struct webhook_sub *sub)
{
	free(sub->url);
	if (sub->secret) {
		memset(sub->secret, 0, strlen(sub->secret));
		free(sub->secret);
	}
	free(sub->channels);
	free(sub->start);
	memset(sub, 0, sizeof(*sub));
}

int webhook_sub_copy(struct webhook_sub *dst, const struct webhook_sub *src)
{
	*dst = *src;
	dst->url = strdup(src->url);
	dst->secret = strdup(src->secret);
	dst->channels = calloc(src->nchannels, sizeof(*dst->channels));
	dst->start = calloc(src->nchannels, sizeof(*dst->start));
	if (!dst->url || !dst->secret || !dst->channels || !dst->start) {
		webhook_sub_release(dst);
		return -ENOMEM;
	}
	memcpy(dst->channels, src->channels, src->nchannels * sizeof(*dst->channels));
	memcpy(dst->start, src->start, src->nchannels * sizeof(*dst->start));
	return 0;
}

void webhook_list_release(struct webhook_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		webhook_sub_release(&l->subs[i]);
	free(l->subs);
	webhook_list_init(l);
}

struct webhook_sub *webhook_list_find(struct webhook_list *l, const char *id)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->subs[i].id, id))
			return &l->subs[i];
	return NULL;
}

int webhook_list_add(struct webhook_list *l, struct webhook_sub *sub)
{
	if (l->n == l->alloc) {
		size_t n = l->alloc ? l->alloc * 2 : 8;
		struct webhook_sub *s = realloc(l->subs, n * sizeof(*s));

		if (!s)
			return -ENOMEM;
		l->subs = s;
		l->alloc = n;
	}
	l->subs[l->n++] = *sub;
	memset(sub, 0, sizeof(*sub));
	return 0;
}

int webhook_list_remove(struct webhook_list *l, const char *id)
{
	struct webhook_sub *s = webhook_list_find(l, id);
	size_t i;

	if (!s)
		return -ENOENT;
	i = (size_t)(s - l->subs);
	webhook_sub_release(s);
	memmove(&l->subs[i], &l->subs[i + 1], (l->n - i - 1) * sizeof(*s));
	l->n--;
	return 0;
}

int webhook_sub_channel(const struct webhook_sub *sub, const char *channel)
{
	size_t i;

	for (i = 0; i < sub->nchannels; i++)
		if (!strcmp(sub->channels[i], channel))
			return (int)i;
	return -1;
}

int webhook_id_new(char *out, struct lcerr *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[8];
	size_t got = 0, i;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return lcerr_sys(err, -errno, "getrandom");
		}
		got += (size_t)n;
	}
	memcpy(out, "wh_", 3);
	for (i = 0; i < sizeof(r); i++) {
		out[3 + 2 * i] = hex[r[i] >> 4];
		out[4 + 2 * i] = hex[r[i] & 15];
	}
	out[WEBHOOK_ID_LEN] = '\0';
	return 0;
}

int webhook_id_valid(const char *id)
{
	size_t i;

	if (strlen(id) != WEBHOOK_ID_LEN || strncmp(id, "wh_", 3))
		return 0;
	for (i = 3; i < WEBHOOK_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return 1;
}

json_t *webhook_sub_json(const struct webhook_sub *sub, int with_secret)
{
	json_t *o = json_object(), *ch = json_array();
	size_t i;
	int bad = !o || !ch;

	for (i = 0; !bad && i < sub->nchannels; i++)
		bad = json_array_append_new(ch, json_string(sub->channels[i]));
	if (!bad)
		bad = json_object_set_new(o, "id", json_string(sub->id)) ||
		      json_object_set_new(o, "url", json_string(sub->url)) ||
		      json_object_set(o, "channels", ch) ||
		      json_object_set_new(o, "created_at",
					  webhook_json_time(sub->created_ms));
	if (!bad && with_secret)
		bad = json_object_set_new(o, "secret", json_string(sub->secret));
	json_decref(ch);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The stored form: the API view plus the secret, start cursors and the
 * retry counter. */
static json_t *sub_stored(const struct webhook_sub *sub)
{
	json_t *o = webhook_sub_json(sub, 1), *start = json_object();
	size_t i;
	int bad = !o || !start;

	for (i = 0; !bad && i < sub->nchannels; i++)
		bad = json_object_set_new(start, sub->channels[i],
					  json_integer((json_int_t)sub->start[i]));
	if (!bad)
		bad = json_object_set(o, "start", start) ||
		      json_object_set_new(o, "created_ms",
					  json_integer((json_int_t)sub->created_ms)) ||
		      json_object_set_new(o, "retry_seq",
					  json_integer((json_int_t)sub->retry_seq));
	json_decref(start);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int webhook_list_save(struct webhook_store *s, const struct webhook_list *l,
		      struct lcerr *err)
{
	json_t *root = json_object(), *arr = json_array();
	char *text = NULL;
	size_t i;
	int rc = -ENOMEM;

	if (!root || !arr || json_object_set_new(root, "version", json_integer(1)) ||
	    json_object_set(root, "subscriptions", arr))
		goto out;
	for (i = 0; i < l->n; i++)
		if (json_array_append_new(arr, sub_stored(&l->subs[i])))
			goto out;
	text = json_dumps(root, JSON_COMPACT);
	if (!text)
		goto out;
	rc = webhook_file_replace(s->dirfd, WEBHOOK_SUBS_FILE, text, strlen(text),
				  s->durable, 1, err);
out:
	if (rc == -ENOMEM)
		lcerr_set(err, rc, "out of memory");
	free(text);
	json_decref(arr);
	json_decref(root);
	return rc;
}

static int bad_entry(struct lcerr *err, size_t i, const char *what)
{
	return lcerr_set(err, -EBADMSG, "webhooks/" WEBHOOK_SUBS_FILE
			 ": subscription %zu: %s", i, what);
}

static char *dup_str(json_t *v)
{
	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* One stored subscription into `sub`.  0 or -EBADMSG/-ENOMEM. */
static int sub_from_json(json_t *o, size_t idx, struct webhook_sub *sub,
			 struct lcerr *err)
{
	json_t *id = json_object_get(o, "id"), *ch = json_object_get(o, "channels");
	json_t *start = json_object_get(o, "start"), *v;
	size_t i;

	memset(sub, 0, sizeof(*sub));
	if (!json_is_string(id) || !webhook_id_valid(json_string_value(id)))
		return bad_entry(err, idx, "bad id");
	memcpy(sub->id, json_string_value(id), WEBHOOK_ID_LEN + 1);
	sub->url = dup_str(json_object_get(o, "url"));
	sub->secret = dup_str(json_object_get(o, "secret"));
	if (!sub->url || !sub->secret)
		return bad_entry(err, idx, "url or secret missing");
	if (!json_is_array(ch) || !json_array_size(ch) ||
	    json_array_size(ch) > WEBHOOK_MAX_CHANNELS || !json_is_object(start))
		return bad_entry(err, idx, "bad channels");
	sub->nchannels = json_array_size(ch);
	sub->channels = calloc(sub->nchannels, sizeof(*sub->channels));
	sub->start = calloc(sub->nchannels, sizeof(*sub->start));
	if (!sub->channels || !sub->start)
		return lcerr_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < sub->nchannels; i++) {
		const char *name = json_string_value(json_array_get(ch, i));

		if (!name || !msglog_name_valid(name))
			return bad_entry(err, idx, "bad channel name");
		snprintf(sub->channels[i], sizeof(sub->channels[i]), "%s", name);
		v = json_object_get(start, name);
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return bad_entry(err, idx, "bad start cursor");
		sub->start[i] = (uint64_t)json_integer_value(v);
	}
	v = json_object_get(o, "created_ms");
	sub->created_ms = json_is_integer(v) && json_integer_value(v) > 0 ?
			  (uint64_t)json_integer_value(v) : 0;
	v = json_object_get(o, "retry_seq");
	sub->retry_seq = json_is_integer(v) && json_integer_value(v) > 0 ?
			 (uint64_t)json_integer_value(v) : 0;
	return 0;
}

int webhook_list_load(struct webhook_store *s, struct webhook_list *l,
		      struct lcerr *err)
{
	struct strbuf text;
	json_error_t jerr;
	json_t *root = NULL, *arr;
	size_t i;
	int rc;

	strbuf_init(&text, WEBHOOK_FILE_MAX);
	rc = webhook_file_read(s->dirfd, WEBHOOK_SUBS_FILE, WEBHOOK_FILE_MAX,
			       &text, err);
	if (rc == -ENOENT) {
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	root = json_loadb(text.buf, text.len, 0, &jerr);
	arr = json_object_get(root, "subscriptions");
	if (!json_is_array(arr)) {
		rc = lcerr_set(err, -EBADMSG, "webhooks/" WEBHOOK_SUBS_FILE
			       " is damaged (%s)", root ? "no subscriptions" : jerr.text);
		goto out;
	}
	for (i = 0; i < json_array_size(arr); i++) {
		struct webhook_sub sub;

		rc = sub_from_json(json_array_get(arr, i), i, &sub, err);
		if (!rc && webhook_list_add(l, &sub))
			rc = lcerr_set(err, -ENOMEM, "out of memory");
		if (rc) {
			webhook_sub_release(&sub);
			webhook_list_release(l);
			goto out;
		}
	}
out:
	json_decref(root);
	strbuf_release(&text);
	return rc;
}
