/*
 * logread.c - reading a channel without taking any lock: the range comes
 * from the shared head, the index gives the first record's offset, and
 * records are read sequentially in 64 KiB windows and CRC-checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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

#define READ_CHUNK   (64 * 1024)

/* ------------------------------------------------------------------ */
/* reading                                                            */

void msglog_batch_init(struct msglog_batch *b)
{
	memset(b, 0, sizeof(*b));
	strbuf_init(&b->buf, 0);
	strbuf_init(&b->scratch, 0);
}

void msglog_batch_reset(struct msglog_batch *b)
{
	strbuf_reset(&b->buf);
	b->n = 0;
	b->range.first_id = b->range.last_id = 0;
}

void msglog_batch_release(struct msglog_batch *b)
{
	strbuf_release(&b->buf);
	strbuf_release(&b->scratch);
	free(b->msgs);
	memset(b, 0, sizeof(*b));
	strbuf_init(&b->buf, 0);
	strbuf_init(&b->scratch, 0);
}

static int batch_push(struct msglog_batch *b, const struct rec_hdr *rh,
		      const unsigned char *env)
{
	int rc;

	if (b->n == b->alloc) {
		size_t n = b->alloc ? b->alloc * 2 : 16;
		struct msglog_msg *m = realloc(b->msgs, n * sizeof(*m));

		if (!m)
			return -ENOMEM;
		b->msgs = m;
		b->alloc = n;
	}
	b->msgs[b->n].id = rh->id;
	b->msgs[b->n].time_ms = rh->time_ms;
	b->msgs[b->n].off = b->buf.len;
	b->msgs[b->n].len = rh->len;
	rc = strbuf_add(&b->buf, env, rh->len);
	if (rc)
		return rc;
	b->n++;
	return 0;
}

/* Read records id..last from segment `s`, starting at file offset `off`.
 * Returns the number appended or negative. */
static int read_run(struct msglog_chan *c, struct segfd *s, uint64_t off,
		    uint64_t id, uint64_t last, size_t limit, size_t max_bytes,
		    struct msglog_batch *b, struct lcerr *err)
{
	struct strbuf *sc = &b->scratch;
	uint64_t have_off = 0;   /* file offset of sc->buf[0] */
	int count = 0, rc;

	strbuf_reset(sc);
	while (id <= last && b->n < limit) {
		struct rec_hdr rh;
		uint64_t need;
		size_t pos;

		if (off < have_off || off + REC_HDR_SIZE > have_off + sc->len) {
			/* refill the window at `off`: exactly the records still
			 * wanted when the index knows where they end */
			size_t want = READ_CHUNK;
			uint64_t n = last - id + 1, end;

			if (n > limit - b->n)
				n = limit - b->n;
			if (id + n - s->base < c->head->seg_records &&
			    !segfd_index_get(s, (uint32_t)(id + n - s->base), &end) &&
			    end > off && end - off < want)
				want = (size_t)(end - off);

			strbuf_reset(sc);
			rc = strbuf_grow(sc, want);
			if (rc)
				return lcerr_set(err, rc, "out of memory");
			rc = (int)pread(s->fd, sc->buf, want, (off_t)off);
			if (rc < 0)
				return lcerr_sys(err, -errno,
					"channel '%s': read failed", c->name);
			sc->len = (size_t)rc;
			sc->buf[sc->len] = '\0';
			have_off = off;
			if (sc->len < REC_HDR_SIZE)
				goto torn;
		}
		pos = (size_t)(off - have_off);
		if (rec_decode((unsigned char *)sc->buf + pos, &rh) || rh.id != id)
			goto torn;
		need = rec_size(rh.klen, rh.len);
		if (pos + need > sc->len) {
			/* the record runs past the window: read it whole */
			strbuf_reset(sc);
			rc = strbuf_grow(sc, (size_t)need);
			if (rc)
				return lcerr_set(err, rc, "out of memory");
			rc = pread_full(s->fd, sc->buf, (size_t)need, off);
			if (rc)
				goto torn;
			sc->len = (size_t)need;
			sc->buf[sc->len] = '\0';
			have_off = off;
			pos = 0;
		}
		if (!rec_crc_ok(&rh, (unsigned char *)sc->buf + pos))
			goto torn;
		if (b->n && b->buf.len + rh.len > max_bytes)
			break;
		rc = batch_push(b, &rh, (unsigned char *)sc->buf + pos +
					REC_HDR_SIZE + rh.klen);
		if (rc)
			return lcerr_set(err, rc, "out of memory");
		count++;
		off += need;
		id++;
	}
	return count;
torn:
	return lcerr_set(err, -EBADMSG,
			 "channel '%s': record %llu at offset %llu of segment %llu "
			 "is damaged; run 'logcast check'", c->name,
			 (unsigned long long)id, (unsigned long long)off,
			 (unsigned long long)s->base);
}

int msglog_read(struct msglog_chan *c, uint64_t since, size_t limit,
		size_t max_bytes, struct msglog_batch *b, struct lcerr *err)
{
	struct loghead *h = c->head;
	uint32_t S = h->seg_records;
	uint64_t durable, id;
	int rc;

	msglog_batch_reset(b);
	msglog_chan_range(c, &b->range);
	durable = b->range.last_id;
	if (since >= durable || !limit)
		return 0;
	id = since + 1 < b->range.first_id ? b->range.first_id : since + 1;
	while (id <= durable && b->n < limit) {
		uint64_t base = seg_base_of(id, S), off, last;
		struct segfd *s;

		rc = chan_seg_get(c, base, &s, err);
		if (rc == -ENOENT) {
			/* dropped by retention since we looked */
			uint64_t first = atomic_load(&h->first_id);

			if (first > id) {
				id = first;
				b->range.first_id = first;
				continue;
			}
			return lcerr_set(err, -EBADMSG,
				"channel '%s': segment %llu is missing", c->name,
				(unsigned long long)base);
		}
		if (rc)
			return rc;
		rc = segfd_index_get(s, (uint32_t)(id - base), &off);
		if (!rc && off < seg_data_start(S))
			rc = lcerr_set(err, -EBADMSG,
				"channel '%s': no index entry for message %llu",
				c->name, (unsigned long long)id);
		else if (rc)
			rc = lcerr_sys(err, rc, "channel '%s': cannot read index",
				       c->name);
		last = base + S - 1 < durable ? base + S - 1 : durable;
		if (!rc)
			rc = read_run(c, s, off, id, last, limit, max_bytes, b, err);
		chan_seg_put(c, s);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;     /* byte bound reached */
		id += (uint64_t)rc;
		if (b->n && b->buf.len >= max_bytes)
			break;
	}
	return (int)b->n;
}

