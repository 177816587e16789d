/*
 * logcheck.c - recovery and verification of a channel's segments.
 *
 * Two callers:
 *
 *  - log_recover() runs under the append lock whenever the head cannot be
 *    trusted (a writer died mid-append, the machine rebooted, the head is
 *    new or damaged).  It rebuilds the head from the segments: the tail
 *    segment is scanned record by record, a torn tail (bytes after the
 *    last valid record that hold no valid record) is truncated, index
 *    slots are rewritten, and the surviving records are synced before
 *    they become visible.  Anything else that is wrong - a gap between
 *    segments, an invalid record followed by valid ones, a record that a
 *    reader may already have seen - is refused with -EBADMSG: corruption
 *    in the middle is reported, never skipped (like redis refusing an AOF
 *    corrupted in the middle while loading a truncated one).
 *
 *  - msglog_check() (the `logcast check` command) verifies every record
 *    and index entry of every segment and reports the first problem with
 *    the file and offset; with repair it lets log_recover() cut a torn
 *    tail and nothing else.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idem.h"
#include "loghead.h"
#include "segment.h"

#define SCAN_CHUNK (256 * 1024)

struct seg_scan {
	uint32_t count;       /* valid records from the start */
	uint64_t end;         /* offset just after the last valid record */
	uint64_t size;        /* file size */
	uint64_t bad_off;     /* first invalid record (if end < size) */
	int corrupt;          /* a valid record follows an invalid one */
	uint64_t *offsets;    /* offset of each valid record (malloc'd) */
	char why[160];
};

typedef void (*scan_fn)(void *ctx, const struct rec_hdr *h, const char *key);

/* Is there a valid record anywhere at or after `from`?  Used to tell a
 * torn tail (nothing valid after the damage) from damage in the middle. */
static int any_valid_after(int fd, uint64_t from, uint64_t size,
			   unsigned char *buf)
{
	uint64_t pos = (from + 7) & ~(uint64_t)7;

	while (pos + REC_HDR_SIZE <= size) {
		size_t want = size - pos > SCAN_CHUNK ? SCAN_CHUNK : (size_t)(size - pos);
		size_t i;

		if (pread_full(fd, buf, want, pos))
			return 0;
		for (i = 0; i + REC_HDR_SIZE <= want; i += 8) {
			struct rec_hdr h;
			uint64_t need;
			unsigned char *rec;
			int ok;

			if (rec_decode(buf + i, &h))
				continue;
			need = rec_size(h.klen, h.len);
			if (pos + i + need > size)
				continue;
			if (i + need <= want) {
				ok = rec_crc_ok(&h, buf + i);
			} else {
				rec = malloc((size_t)need);
				if (!rec)
					return 1;   /* assume the worst */
				ok = !pread_full(fd, rec, (size_t)need, pos + i) &&
				     rec_crc_ok(&h, rec);
				free(rec);
			}
			if (ok)
				return 1;
		}
		if (want < SCAN_CHUNK)
			break;
		pos += i;   /* the first offset this window could not examine */
	}
	return 0;
}

/* Scan the records of one segment from its first record on. */
static int seg_scan(int fd, uint64_t base, uint32_t S, struct seg_scan *r,
		    scan_fn fn, void *ctx, struct lcerr *err)
{
	unsigned char *buf;
	uint64_t off = seg_data_start(S), have_off = 0, have_len = 0;
	struct stat st;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if (fstat(fd, &st))
		return lcerr_sys(err, -errno, "cannot stat segment %llu",
				 (unsigned long long)base);
	r->size = (uint64_t)st.st_size;
	r->offsets = calloc(S, sizeof(uint64_t));
	buf = malloc(SCAN_CHUNK);
	if (!r->offsets || !buf) {
		free(buf);
		return lcerr_set(err, -ENOMEM, "out of memory");
	}
	r->end = off;
	while (r->count < S && off < r->size) {
		struct rec_hdr h;
		unsigned char *rec;
		uint64_t need;
		int ok;

		if (off + REC_HDR_SIZE > r->size) {
			snprintf(r->why, sizeof(r->why), "truncated record header");
			break;
		}
		if (off < have_off || off + REC_HDR_SIZE > have_off + have_len) {
			have_len = r->size - off > SCAN_CHUNK ? SCAN_CHUNK :
				   r->size - off;
			rc = pread_full(fd, buf, (size_t)have_len, off);
			if (rc) {
				rc = lcerr_sys(err, rc, "cannot read segment %llu",
					       (unsigned long long)base);
				goto out;
			}
			have_off = off;
		}
		rec = buf + (off - have_off);
		if (rec_decode(rec, &h)) {
			snprintf(r->why, sizeof(r->why), "bad record header");
			break;
		}
		if (h.id != base + r->count) {
			snprintf(r->why, sizeof(r->why),
				 "record has id %llu where %llu belongs",
				 (unsigned long long)h.id,
				 (unsigned long long)(base + r->count));
			break;
		}
		need = rec_size(h.klen, h.len);
		if (off + need > r->size) {
			snprintf(r->why, sizeof(r->why), "record runs past the end");
			break;
		}
		if (off - have_off + need <= have_len) {
			ok = rec_crc_ok(&h, rec);
			if (ok && fn)
				fn(ctx, &h, (const char *)rec + REC_HDR_SIZE);
		} else {
			unsigned char *whole = malloc((size_t)need);

			if (!whole) {
				rc = lcerr_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			ok = !pread_full(fd, whole, (size_t)need, off) &&
			     rec_crc_ok(&h, whole);
			if (ok && fn)
				fn(ctx, &h, (const char *)whole + REC_HDR_SIZE);
			free(whole);
		}
		if (!ok) {
			snprintf(r->why, sizeof(r->why), "checksum mismatch");
			break;
		}
		r->offsets[r->count++] = off;
		off += need;
		r->end = off;
	}
	if (r->end < r->size) {
		r->bad_off = r->end;
		if (!r->why[0])
			snprintf(r->why, sizeof(r->why),
				 r->count == S ? "bytes after the last record"
					       : "bad record");
		r->corrupt = any_valid_after(fd, r->end + 8, r->size, buf);
	}
out:
	free(buf);
	return rc;
}

/* Compare the index with the scan; fix it when `fix`.  Returns the number
 * of wrong slots (first one in *bad_slot) or negative. */
static long seg_index_verify(int fd, uint32_t S, const struct seg_scan *r,
			     int fix, uint32_t *bad_slot)
{
	uint64_t *idx = malloc((size_t)S * 8);
	long wrong = 0;
	uint32_t i;
	int rc;

	if (!idx)
		return -ENOMEM;
	rc = pread_full(fd, idx, (size_t)S * 8, SEG_HDR_SIZE);
	if (rc) {
		free(idx);
		return rc;
	}
	for (i = 0; i < S; i++) {
		uint64_t want = i < r->count ? r->offsets[i] : 0;

		if (idx[i] == want)
			continue;
		if (!wrong && bad_slot)
			*bad_slot = i;
		wrong++;
		if (fix) {
			rc = seg_index_set(fd, i, want);
			if (rc) {
				free(idx);
				return rc;
			}
		}
	}
	free(idx);
	return wrong;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The bases of all segment files, sorted; removes leftovers of segment
 * creations that crashed.  Returns the count (array in *out) or negative. */
static int list_segments(struct msglog_chan *c, uint64_t **out,
			 struct lcerr *err)
{
	uint64_t *v = NULL, base;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return lcerr_sys(err, -errno, "cannot list channel '%s'", c->name);
	}
	while ((de = readdir(d))) {
		if (strstr(de->d_name, ".seg.tmp.")) {
			unlinkat(c->dirfd, de->d_name, 0);
			continue;
		}
		if (seg_parse_name(de->d_name, &base))
			continue;
		if (n == alloc) {
			uint64_t *nv;

			alloc = alloc ? alloc * 2 : 16;
			nv = realloc(v, alloc * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return lcerr_set(err, -ENOMEM, "out of memory");
			}
			v = nv;
		}
		v[n++] = base;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_u64);
	*out = v;
	return (int)n;
}

static int check_contiguous(struct msglog_chan *c, const uint64_t *bases,
			    int n, uint32_t S, struct lcerr *err)
{
	int i;

	for (i = 0; i < n; i++) {
		if ((bases[i] - 1) % S)
			return lcerr_set(err, -EBADMSG,
				"channel '%s': segment %llu does not start a range of %u",
				c->name, (unsigned long long)bases[i], S);
		if (i && bases[i] != bases[i - 1] + S)
			return lcerr_set(err, -EBADMSG,
				"channel '%s': segment %llu is missing",
				c->name, (unsigned long long)(bases[i - 1] + S));
	}
	return 0;
}

struct idem_readd {
	struct msglog_chan *c;
	uint64_t first_id;
};

static void idem_readd_one(void *ctx, const struct rec_hdr *h, const char *key)
{
	struct idem_readd *ir = ctx;

	if (h->klen && ir->c->idem)
		idem_insert(ir->c->idem, idem_hash(key, h->klen), h->id,
			    ir->first_id);
}

int log_recover(struct msglog_chan *c, struct lcerr *err)
{
	struct loghead *h = c->head;
	const struct msglog_opts *o = chan_opts(c);
	int trusted = !memcmp(h->magic, HEAD_MAGIC, 8) &&
		      h->version == HEAD_VERSION &&
		      h->seg_records >= 4 && h->seg_records <= SEG_RECORDS_MAX;
	int same_boot = trusted && !strncmp(h->boot_id, boot_id_get(),
					    sizeof(h->boot_id));
	uint32_t S = trusted ? h->seg_records : 0;
	uint64_t *bases = NULL, tail, last, bytes = 0;
	struct idem_readd ir;
	struct seg_scan r;
	int n, i, fd = -1, rc;

	memset(&r, 0, sizeof(r));
	n = list_segments(c, &bases, err);
	if (n < 0)
		return n;
	if (n == 0) {
		if (trusted && atomic_load(&h->written_id) > 0) {
			rc = lcerr_set(err, -EBADMSG,
				"channel '%s': its segments are missing", c->name);
			goto out;
		}
		if (!S)
			S = o->seg_records;
		fd = seg_create(c->dirfd, 1, S, err);
		if (fd < 0) {
			rc = fd;
			goto out;
		}
		close(fd);
		fd = -1;
		bases = malloc(sizeof(*bases));
		if (!bases) {
			rc = lcerr_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		bases[0] = 1;
		n = 1;
	}
	tail = bases[n - 1];
	fd = seg_open(c->dirfd, tail, 1, err);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	rc = seg_check_header(fd, tail, S, &S, err);
	if (rc)
		goto out;
	rc = check_contiguous(c, bases, n, S, err);
	if (rc)
		goto out;
	rc = seg_scan(fd, tail, S, &r, NULL, NULL, err);
	if (rc)
		goto out;
	if (r.corrupt) {
		rc = lcerr_set(err, -EBADMSG,
			"channel '%s': segment %llu is damaged at offset %llu (%s) "
			"and valid records follow; run 'logcast check'",
			c->name, (unsigned long long)tail,
			(unsigned long long)r.bad_off, r.why);
		goto out;
	}
	last = r.count ? tail + r.count - 1 : tail - 1;
	if (same_boot && last < atomic_load(&h->durable_id)) {
		rc = lcerr_set(err, -EBADMSG,
			"channel '%s': message %llu was visible but is damaged "
			"(segment %llu offset %llu: %s); run 'logcast check'",
			c->name, (unsigned long long)(last + 1),
			(unsigned long long)tail,
			(unsigned long long)r.end, r.why);
		goto out;
	}
	if (r.end < r.size && ftruncate(fd, (off_t)r.end)) {
		rc = lcerr_sys(err, -errno, "channel '%s': cannot truncate",
			       c->name);
		goto out;
	}
	rc = (int)seg_index_verify(fd, S, &r, 1, NULL);
	if (rc < 0) {
		lcerr_sys(err, rc, "channel '%s': cannot rewrite index", c->name);
		goto out;
	}
	if (o->fsync != MSGLOG_FSYNC_OFF && fdatasync(fd)) {
		rc = lcerr_sys(err, -errno, "channel '%s': fdatasync failed",
			       c->name);
		goto out;
	}
	for (i = 0; i < n - 1; i++) {
		char name[SEG_NAME_LEN + 1];
		struct stat st;

		seg_name(name, bases[i]);
		if (!fstatat(c->dirfd, name, &st, 0))
			bytes += (uint64_t)st.st_size;
	}
	bytes += r.end;

	if (!trusted) {
		memset(h, 0, HEAD_SIZE);
		memcpy(h->magic, HEAD_MAGIC, 8);
		h->version = HEAD_VERSION;
	}
	if (!same_boot && h->boot_id[0]) {
		/* the processes that counted themselves are gone */
		atomic_store(&h->futex_waiters, 0);
		atomic_store(&h->inotify_watchers, 0);
		atomic_store(&h->writers, 0);
	}
	h->seg_records = S;
	h->tail_base = tail;
	h->tail_off = r.end;
	h->idx_alloc = 0;       /* unknown: allocate before the next use */
	h->bytes = bytes;
	atomic_store(&h->first_id, bases[0]);
	atomic_store(&h->written_id, last);
	atomic_store(&h->durable_id, last);
	snprintf(h->boot_id, sizeof(h->boot_id), "%s", boot_id_get());
	atomic_store(&h->busy, 0);
	chan_seg_forget(c);

	/* keys of the newest messages, in case the table lost them */
	if (!c->idem && !faccessat(c->dirfd, "idem", F_OK, 0))
		idem_open(c->dirfd, o->retain, &c->idem, NULL);
	if (c->idem) {
		struct seg_scan r2;

		ir.c = c;
		ir.first_id = bases[0];
		if (!seg_scan(fd, tail, S, &r2, idem_readd_one, &ir, NULL))
			free(r2.offsets);
	}
	chan_notify(c);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(r.offsets);
	free(bases);
	return rc;
}

/* Verify one segment completely; set report->problem on the first issue.
 * Returns 0 clean, 1 torn tail (tail segment only), -EBADMSG otherwise. */
static int check_segment(struct msglog_chan *c, uint64_t base, uint32_t S,
			 int is_tail, uint64_t inflight_from,
			 struct msglog_check *rep, struct lcerr *err)
{
	char name[SEG_NAME_LEN + 1];
	struct seg_scan r;
	uint32_t bad_slot = 0;
	long wrong;
	int fd, rc;

	seg_name(name, base);
	fd = seg_open(c->dirfd, base, 0, err);
	if (fd < 0)
		return fd;
	rc = seg_check_header(fd, base, S, NULL, err);
	if (rc) {
		snprintf(rep->problem, sizeof(rep->problem), "%s/%s offset 0: %s",
			 c->name, name, err ? err->msg : "bad header");
		rc = -EBADMSG;
		goto out;
	}
	rc = seg_scan(fd, base, S, &r, NULL, NULL, err);
	if (rc)
		goto out;
	rep->segments++;
	rep->records += r.count;
	rep->bytes += r.size;
	if (r.end < r.size) {
		if (!is_tail || r.corrupt) {
			snprintf(rep->problem, sizeof(rep->problem),
				 "%s/%s offset %llu: %s%s", c->name, name,
				 (unsigned long long)r.bad_off, r.why,
				 r.corrupt ? " (valid records follow)" : "");
			rc = -EBADMSG;
			goto out;
		}
		rep->torn_tail = 1;
		rep->torn_bytes = r.size - r.end;
		snprintf(rep->problem, sizeof(rep->problem),
			 "%s/%s offset %llu: torn tail of %llu bytes (%s)",
			 c->name, name, (unsigned long long)r.bad_off,
			 (unsigned long long)(r.size - r.end), r.why);
		rc = 1;
	}
	if (!is_tail && r.count != S) {
		snprintf(rep->problem, sizeof(rep->problem),
			 "%s/%s offset %llu: holds %u records, %u expected",
			 c->name, name, (unsigned long long)r.end, r.count, S);
		rc = -EBADMSG;
		goto out;
	}
	wrong = seg_index_verify(fd, S, &r, 0, &bad_slot);
	if (wrong < 0) {
		rc = lcerr_sys(err, (int)wrong, "cannot read index of %s", name);
		goto out;
	}
	/* slots past the valid records may point into a torn tail, and an
	 * append interrupted by a crash may have left its slot unwritten */
	if (wrong && is_tail && base + bad_slot >= inflight_from) {
		if (!rep->torn_tail) {
			rep->torn_tail = 1;
			snprintf(rep->problem, sizeof(rep->problem),
				 "%s/%s offset %llu: interrupted append of message %llu",
				 c->name, name,
				 (unsigned long long)(SEG_HDR_SIZE + (uint64_t)bad_slot * 8),
				 (unsigned long long)(base + bad_slot));
		}
		rc = 1;
	} else if (wrong && !(rep->torn_tail && is_tail && bad_slot >= r.count)) {
		snprintf(rep->problem, sizeof(rep->problem),
			 "%s/%s offset %llu: index entry for message %llu is wrong",
			 c->name, name,
			 (unsigned long long)(SEG_HDR_SIZE + (uint64_t)bad_slot * 8),
			 (unsigned long long)(base + bad_slot));
		rc = -EBADMSG;
		goto out;
	}
	if (is_tail) {
		rep->last_id = r.count ? base + r.count - 1 : base - 1;
	}
out:
	free(r.offsets);
	close(fd);
	return rc;
}

int msglog_check(struct msglog *log, const char *name, int repair,
		 struct msglog_check *rep, struct lcerr *err)
{
	struct msglog_chan *c;
	struct loghead *h;
	uint64_t *bases = NULL, inflight;
	int n, i, rc, torn = 0;

	memset(rep, 0, sizeof(*rep));
	rc = msglog_chan_get(log, name, MSGLOG_NO_RECOVER, &c, err);
	if (rc)
		return rc;
	h = c->head;
	rc = head_lock(c, LOCK_APPEND);
	if (rc) {
		msglog_chan_put(c);
		return lcerr_sys(err, rc, "cannot lock channel '%s'", name);
	}
	n = list_segments(c, &bases, err);
	if (n < 0) {
		rc = n;
		goto out;
	}
	if (n == 0) {
		snprintf(rep->problem, sizeof(rep->problem), "%s: no segments",
			 name);
		rc = -EBADMSG;
		goto out;
	}
	rc = check_contiguous(c, bases, n, h->seg_records, err);
	if (rc) {
		snprintf(rep->problem, sizeof(rep->problem), "%s", err ? err->msg : "gap");
		goto out;
	}
	rep->first_id = bases[0];
	/* a writer died holding the lock: what it was writing is repairable */
	inflight = atomic_load(&h->busy) ? atomic_load(&h->written_id) + 1
					 : UINT64_MAX;
	for (i = 0; i < n; i++) {
		rc = check_segment(c, bases[i], h->seg_records, i == n - 1,
				   inflight, rep, err);
		if (rc < 0)
			goto out;
		torn |= rc == 1;
	}
	if (!torn && !atomic_load(&h->busy) &&
	    atomic_load(&h->durable_id) > rep->last_id) {
		snprintf(rep->problem, sizeof(rep->problem),
			 "%s: head says message %llu exists, segments end at %llu",
			 name, (unsigned long long)atomic_load(&h->durable_id),
			 (unsigned long long)rep->last_id);
		rc = -EBADMSG;
		goto out;
	}
	if (!torn && !atomic_load(&h->busy) &&
	    atomic_load(&h->written_id) > atomic_load(&h->durable_id)) {
		/* a writer died between its write and the group commit */
		rep->interrupted = 1;
		snprintf(rep->problem, sizeof(rep->problem),
			 "%s: %llu written message(s) not yet synced",
			 name, (unsigned long long)(atomic_load(&h->written_id) -
						    atomic_load(&h->durable_id)));
		rc = 1;
		if (repair) {
			rc = chan_commit(c, atomic_load(&h->written_id), err);
			if (!rc) {
				rep->repaired = 1;
				rc = 1;
			}
		}
		goto out;
	}
	if (atomic_load(&h->busy)) {
		/* consistent on disk, but the head has not caught up */
		rep->interrupted = 1;
		if (!torn)
			snprintf(rep->problem, sizeof(rep->problem),
				 "%s: interrupted append (a writer died holding "
				 "the lock)", name);
		torn = 1;
	}
	rc = torn;
	if (torn && repair) {
		rc = log_recover(c, err);
		if (rc)
			goto out;
		rep->repaired = 1;
		rc = 1;
	}
out:
	head_unlock(c, LOCK_APPEND);
	msglog_chan_put(c);
	free(bases);
	if (rc == -EBADMSG && !rep->problem[0] && err)
		snprintf(rep->problem, sizeof(rep->problem), "%s", err->msg);
	return rc;
}
