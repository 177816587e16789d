/*
 * logwrite.c - appending to a channel: the record write under the append
 * lock, group commit, rolling to a new segment, retention and the
 * Idempotency-Key check.  The protocol is described at the top of msglog.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

#include "idem.h"
#include "json.h"
#include "loghead.h"
#include "segment.h"
#include "watch.h"

/* ------------------------------------------------------------------ */
/* appending                                                          */

/* Sync the tail up to the latest written id unless someone already did:
 * group commit for fsync=batch.  0 or negative. */
#define GATHER_US 200
#define COMMIT_WAIT_MS 20

/* Try to become the process that syncs: the sync mutex and OFD byte
 * lock, without blocking.  1 taken, 0 busy, negative on error. */
static int sync_trylock(struct msglog_chan *c)
{
	struct flock fl;

	if (pthread_mutex_trylock(&c->sync_mu))
		return 0;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = LOCK_SYNC;
	fl.l_len = 1;
	if (fcntl(c->head_fd, F_OFD_SETLK, &fl)) {
		int rc = errno == EAGAIN || errno == EACCES ? 0 : -errno;

		pthread_mutex_unlock(&c->sync_mu);
		return rc;
	}
	return 1;
}

/* Sync the tail up to the latest written id (we hold the sync lock). */
static int commit_lead(struct msglog_chan *c, struct lcerr *err)
{
	struct loghead *h = c->head;
	struct timespec t0, now;
	struct segfd *s;
	uint64_t target;
	int rc;

	/* Appends already on their way (counted in `writers`) land within
	 * microseconds: let them, so this one fdatasync covers them too
	 * instead of each needing the next.  Bounded, so a writer that
	 * died while counted costs at most GATHER_US per sync. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (atomic_load(&h->writers)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000000L +
		    (now.tv_nsec - t0.tv_nsec) / 1000 > GATHER_US)
			break;
		sched_yield();
	}
	target = atomic_load(&h->written_id);
	if (atomic_load(&h->durable_id) >= target)
		return 0;
	rc = chan_seg_get(c, seg_base_of(target, h->seg_records), &s, err);
	if (rc) {
		if (rc == -ENOENT)
			rc = lcerr_set(err, -EBADMSG, "channel '%s': tail segment missing",
				       c->name);
		return rc;
	}
	if (fdatasync(s->fd))
		rc = lcerr_sys(err, -errno, "channel '%s': fdatasync failed",
			       c->name);
	chan_seg_put(c, s);
	if (!rc)
		chan_publish_durable(c, target);
	return rc;
}

/*
 * Make every message up to `id` durable: group commit.  One process at a
 * time syncs (the one holding the sync lock) for everyone whose record
 * is written; the others sleep on the head's futex until durable_id
 * passes their id.  Nobody blocks on the lock itself: a blocked lock
 * waiter is woken with all the others at every release, and with a
 * dozen publishers those wake-ups cost more than the syncs.  A syncer
 * that dies releases its lock with its descriptors; the sleepers look
 * again every COMMIT_WAIT_MS.
 */
int chan_commit(struct msglog_chan *c, uint64_t id, struct lcerr *err)
{
	struct loghead *h = c->head;
	int rc;

	for (;;) {
		if (atomic_load(&h->durable_id) >= id)
			return 0;
		rc = sync_trylock(c);
		if (rc < 0)
			return lcerr_sys(err, rc, "cannot lock '%s' for sync",
					 c->name);
		if (rc == 1) {
			rc = atomic_load(&h->durable_id) >= id ? 0 :
			     commit_lead(c, err);
			head_unlock(c, LOCK_SYNC);
			if (rc)
				return rc;
			continue;
		}
		msglog_wait(c, id - 1, COMMIT_WAIT_MS);
	}
}

/* Drop whole segments from the old end while what stays still holds
 * `retain` messages (or, with retain_bytes, while the channel is larger
 * than that).  Caller holds the append lock. */
static void chan_retain(struct msglog_chan *c)
{
	const struct msglog_opts *o = &c->log->opts;
	struct loghead *h = c->head;
	uint32_t S = h->seg_records;

	for (;;) {
		uint64_t first = atomic_load(&h->first_id);
		uint64_t fbase = seg_base_of(first ? first : 1, S);
		uint64_t written = atomic_load(&h->written_id);
		uint64_t after = written >= fbase + S ? written - (fbase + S) + 1 : 0;
		char name[SEG_NAME_LEN + 1];
		struct stat st;

		if (fbase + S > h->tail_base || after == 0)
			break;   /* never drop the tail or the last message */
		if (after < o->retain &&
		    !(o->retain_bytes && h->bytes > o->retain_bytes))
			break;
		seg_name(name, fbase);
		if (fstatat(c->dirfd, name, &st, 0))
			st.st_size = 0;
		atomic_store(&h->first_id, fbase + S);
		if (unlinkat(c->dirfd, name, 0) && errno != ENOENT)
			break;
		h->bytes -= (uint64_t)st.st_size < h->bytes ?
			    (uint64_t)st.st_size : h->bytes;
	}
}

/* The tail is full: make it durable, start the next segment, apply
 * retention.  Caller holds the append lock. */
static int chan_roll(struct msglog_chan *c, struct lcerr *err)
{
	struct loghead *h = c->head;
	uint32_t S = h->seg_records;
	uint64_t next = h->tail_base + S;
	struct segfd *s;
	int fd, rc;

	atomic_store(&h->busy, 1);
	if (c->log->opts.fsync != MSGLOG_FSYNC_OFF) {
		rc = chan_seg_get(c, h->tail_base, &s, err);
		if (rc)
			goto out;
		if (fdatasync(s->fd))
			rc = lcerr_sys(err, -errno, "channel '%s': fdatasync failed",
				       c->name);
		chan_seg_put(c, s);
		if (rc)
			goto out;
	}
	chan_publish_durable(c, atomic_load(&h->written_id));
	fd = seg_create(c->dirfd, next, S, err);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	rc = chan_seg_install(c, fd, next);
	if (rc)
		goto out;
	h->tail_base = next;
	h->tail_off = seg_data_start(S);
	h->idx_alloc = SEG_IDX_CHUNK;
	h->bytes += seg_data_start(S);
	chan_retain(c);
out:
	atomic_store(&h->busy, 0);
	return rc;
}

/* Is there a retained message with this key?  Returns 1 and its id, 0, or
 * negative.  Caller holds the append lock. */
static int chan_idem_find(struct msglog_chan *c, const char *key, size_t klen,
			  uint64_t hash, uint64_t *id_out, struct lcerr *err)
{
	struct loghead *h = c->head;
	uint64_t ids[8];
	size_t n, i;
	int rc;

	if (!c->idem) {
		rc = idem_open(c->dirfd, c->log->opts.retain, &c->idem, err);
		if (rc)
			return rc;
	}
	n = idem_lookup(c->idem, hash, atomic_load(&h->first_id), ids, 8);
	for (i = 0; i < n; i++) {
		uint64_t base = seg_base_of(ids[i], h->seg_records), off;
		unsigned char hdr[REC_HDR_SIZE + REC_MAX_KEY];
		struct rec_hdr rh;
		struct segfd *s;

		if (ids[i] > atomic_load(&h->written_id))
			continue;
		rc = chan_seg_get(c, base, &s, err);
		if (rc == -ENOENT)
			continue;
		if (rc)
			return rc;
		rc = segfd_index_get(s, (uint32_t)(ids[i] - base), &off);
		if (!rc && off)
			rc = pread_full(s->fd, hdr, REC_HDR_SIZE + klen, off);
		chan_seg_put(c, s);
		if (rc || !off)
			continue;
		if (!rec_decode(hdr, &rh) && rh.id == ids[i] && rh.klen == klen &&
		    !memcmp(hdr + REC_HDR_SIZE, key, klen)) {
			*id_out = ids[i];
			return 1;
		}
	}
	return 0;
}

static int key_valid(const char *key, size_t klen)
{
	size_t i;

	if (klen == 0 || klen > REC_MAX_KEY)
		return 0;
	for (i = 0; i < klen; i++)
		if (key[i] < 0x21 || key[i] > 0x7e)
			return 0;
	return 1;
}

/* Read back the envelope of message `id` (for a repeated key). */
static int chan_read_one(struct msglog_chan *c, uint64_t id,
			 struct strbuf *envelope, struct lcerr *err)
{
	struct msglog_batch b;
	int rc;

	msglog_batch_init(&b);
	rc = msglog_read(c, id - 1, 1, 1, &b, err);
	if (rc == 1 && b.msgs[0].id == id)
		rc = strbuf_add(envelope, b.buf.buf + b.msgs[0].off,
				b.msgs[0].len);
	else if (rc >= 0)
		rc = lcerr_set(err, -EBADMSG, "channel '%s': message %llu vanished",
			       c->name, (unsigned long long)id);
	msglog_batch_release(&b);
	return rc;
}

/* {"id":<id>,"channel":"<name>","time":"<time>","data":  -- without
 * printf, which cost more than the rest of an append together.  `buf`
 * needs 64 + MSGLOG_NAME_MAX bytes; returns the length. */
static int envelope_prefix(char *buf, uint64_t id, const char *name,
			   const char *time)
{
	char digits[20];
	size_t n = 0, k = sizeof(digits), len;

	do {
		digits[--k] = (char)('0' + id % 10);
		id /= 10;
	} while (id);
	memcpy(buf, "{\"id\":", 6);
	n = 6;
	memcpy(buf + n, digits + k, sizeof(digits) - k);
	n += sizeof(digits) - k;
	memcpy(buf + n, ",\"channel\":\"", 12);
	n += 12;
	len = strlen(name);
	memcpy(buf + n, name, len);
	n += len;
	memcpy(buf + n, "\",\"time\":\"", 10);
	n += 10;
	memcpy(buf + n, time, 24);
	n += 24;
	memcpy(buf + n, "\",\"data\":", 9);
	n += 9;
	return (int)n;
}

/* Tests only: the record in two writes with a pause between, so a kill
 * can land in the middle and leave a torn record behind. */
static int write_split(int fd, struct iovec *iov, uint64_t off)
{
	struct timespec pause = { 0, 200 * 1000 };
	struct iovec first = { iov[0].iov_base, REC_HDR_SIZE / 2 };
	int rc = pwritev_full(fd, &first, 1, off);

	if (rc)
		return rc;
	nanosleep(&pause, NULL);
	iov[0].iov_base = (char *)iov[0].iov_base + REC_HDR_SIZE / 2;
	iov[0].iov_len -= REC_HDR_SIZE / 2;
	return pwritev_full(fd, iov, 5, off + REC_HDR_SIZE / 2);
}

int msglog_append(struct msglog_chan *c, const char *data, size_t len,
		  const char *key, size_t klen, uint64_t *id_out,
		  struct strbuf *envelope, struct lcerr *err)
{
	const struct msglog_opts *o = &c->log->opts;
	struct loghead *h = c->head;
	unsigned char hdr[REC_HDR_SIZE];
	static const char tail[8] = "}";
	char prefix[192], tbuf[32];
	struct iovec iov[5];
	struct segfd *s = NULL;
	uint64_t id = 0, t, off, hash = 0, size;
	size_t mlen;
	char *min = NULL;
	int rc, plen = 0, dup = 0;

	if (len > o->max_data)
		return lcerr_set(err, -E2BIG, "message is %zu bytes, the limit is %zu",
				 len, o->max_data);
	if (key && !key_valid(key, klen))
		return lcerr_set(err, -EINVAL,
			"Idempotency-Key must be 1 to 255 printable ASCII characters");
	min = malloc(len ? len : 1);
	if (!min)
		return lcerr_set(err, -ENOMEM, "out of memory");
	rc = json_minify(data, len, min, &mlen, err);
	if (rc)
		goto done;
	if (key)
		hash = idem_hash(key, klen);

	if (o->fsync == MSGLOG_FSYNC_BATCH)
		atomic_fetch_add(&h->writers, 1);   /* see chan_commit() */
	rc = head_lock(c, LOCK_APPEND);
	if (rc) {
		if (o->fsync == MSGLOG_FSYNC_BATCH)
			atomic_fetch_sub(&h->writers, 1);
		lcerr_sys(err, rc, "cannot lock channel '%s'", c->name);
		goto done;
	}
	rc = chan_settle(c, err);
	if (rc)
		goto unlock;
	if (key) {
		rc = chan_idem_find(c, key, klen, hash, &id, err);
		if (rc < 0)
			goto unlock;
		if (rc == 1) {
			dup = 1;
			rc = 0;
			goto unlock;
		}
	}
	id = atomic_load(&h->written_id) + 1;
	if (id >= h->tail_base + h->seg_records) {
		rc = chan_roll(c, err);
		if (rc)
			goto unlock;
	}
	rc = chan_seg_get(c, h->tail_base, &s, err);
	if (rc) {
		if (rc == -ENOENT)
			rc = lcerr_set(err, -EBADMSG,
				       "channel '%s': tail segment missing", c->name);
		goto unlock;
	}

	t = log_now_ms();
	msglog_format_time(tbuf, t);
	plen = envelope_prefix(prefix, id, c->name, tbuf);
	if (plen + mlen + 1 > REC_MAX_LEN) {
		rc = lcerr_set(err, -E2BIG, "message too large");
		goto unlock;
	}
	iov[0].iov_base = hdr;
	iov[0].iov_len = REC_HDR_SIZE;
	iov[1].iov_base = (void *)(key ? key : "");
	iov[1].iov_len = key ? klen : 0;
	iov[2].iov_base = prefix;
	iov[2].iov_len = (size_t)plen;
	iov[3].iov_base = min;
	iov[3].iov_len = mlen;
	iov[4].iov_base = (void *)tail;
	iov[4].iov_len = 1;
	rec_encode(hdr, id, t, iov + 1, 4, (uint16_t)iov[1].iov_len);
	size = rec_size((uint32_t)iov[1].iov_len, (uint32_t)(plen + mlen + 1));
	iov[4].iov_len = 1 + (size_t)(size - REC_HDR_SIZE - iov[1].iov_len -
				      (uint64_t)plen - mlen - 1);

	off = h->tail_off;
	if (id - h->tail_base >= h->idx_alloc) {
		/* give the index slot its disk block before anything is
		 * written: a full disk then fails here, cleanly */
		rc = seg_index_alloc(s->fd, (uint32_t)(id - h->tail_base),
				     h->seg_records);
		if (rc) {
			lcerr_set(err, -ENOSPC, "disk full: cannot append to '%s'",
				  c->name);
			rc = -ENOSPC;
			goto unlock;
		}
		h->idx_alloc = (uint32_t)((id - h->tail_base) / SEG_IDX_CHUNK + 1) *
			       SEG_IDX_CHUNK;
	}
	atomic_store(&h->busy, 1);
	if (o->test_split_writes) {
		rc = write_split(s->fd, iov, off);
	} else {
		rc = pwritev_full(s->fd, iov, 5, off);
	}
	if (!rc)
		rc = segfd_index_set(s, (uint32_t)(id - h->tail_base), off);
	if (!rc && o->fsync == MSGLOG_FSYNC_ALWAYS && fdatasync(s->fd))
		rc = -errno;
	if (rc) {
		/* leave nothing partial behind: the slot and the bytes go */
		segfd_index_set(s, (uint32_t)(id - h->tail_base), 0);
		if (ftruncate(s->fd, (off_t)off) == 0)
			atomic_store(&h->busy, 0);
		if (rc == -EDQUOT)
			rc = -ENOSPC;
		if (rc == -ENOSPC)
			lcerr_set(err, rc, "disk full: cannot append to '%s'",
				  c->name);
		else
			lcerr_sys(err, rc, "cannot append to '%s'", c->name);
		goto unlock;
	}
	h->tail_off = off + size;
	h->bytes += size;
	atomic_store(&h->written_id, id);
	atomic_store(&h->busy, 0);
	if (key)
		idem_insert(c->idem, hash, id, atomic_load(&h->first_id));
	if (o->fsync != MSGLOG_FSYNC_BATCH)
		chan_publish_durable(c, id);
unlock:
	if (s)
		chan_seg_put(c, s);
	head_unlock(c, LOCK_APPEND);
	if (o->fsync == MSGLOG_FSYNC_BATCH)
		atomic_fetch_sub(&h->writers, 1);
	if (rc)
		goto done;
	if (o->fsync == MSGLOG_FSYNC_BATCH) {
		rc = chan_commit(c, id, err);
		if (rc)
			goto done;
	}
	if (id_out)
		*id_out = id;
	if (envelope) {
		if (dup) {
			rc = chan_read_one(c, id, envelope, err);
		} else {
			rc = strbuf_add(envelope, prefix, (size_t)plen);
			if (!rc)
				rc = strbuf_add(envelope, min, mlen);
			if (!rc)
				rc = strbuf_addch(envelope, '}');
		}
		if (rc < 0)
			goto done;
	}
	rc = dup;
done:
	free(min);
	return rc;
}

