/*
 * fcgirec.c - FastCGI response records on a non-blocking connection
 * (see fcgirec.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fastcgi.h>

#include "fcgirec.h"

#define RECORD_MAX  65535
#define MAX_RECORDS 80      /* 80 x 64 KiB > any response we build */

void fcgirec_init(struct fcgirec_out *o, int fd, uint16_t reqid)
{
	memset(o, 0, sizeof(*o));
	o->fd = fd;
	o->reqid = reqid;
}

static void record_header(unsigned char *h, int type, uint16_t reqid,
			  size_t len)
{
	FCGI_Header *r = (FCGI_Header *)h;

	r->version = FCGI_VERSION_1;
	r->type = (unsigned char)type;
	r->requestIdB1 = (unsigned char)(reqid >> 8);
	r->requestIdB0 = (unsigned char)(reqid & 0xff);
	r->contentLengthB1 = (unsigned char)(len >> 8);
	r->contentLengthB0 = (unsigned char)(len & 0xff);
	r->paddingLength = 0;
	r->reserved = 0;
}

/* Queue the unsent tail of an iovec array; -E2BIG past the limit. */
static int pending_add(struct fcgirec_out *o, const struct iovec *iov,
		       int n, size_t skip)
{
	size_t total = 0, at;
	char *buf;
	int i;

	for (i = 0; i < n; i++)
		total += iov[i].iov_len;
	total -= skip;
	if (o->pend_len + total > FCGIREC_MAX_PENDING)
		return -E2BIG;
	if (o->pend_off) {
		memmove(o->pending, o->pending + o->pend_off, o->pend_len);
		o->pend_off = 0;
	}
	buf = realloc(o->pending, o->pend_len + total);
	if (!buf)
		return -ENOMEM;
	o->pending = buf;
	at = o->pend_len;
	for (i = 0; i < n; i++) {
		const char *base = iov[i].iov_base;
		size_t len = iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		memcpy(buf + at, base + skip, len - skip);
		at += len - skip;
		skip = 0;
	}
	o->pend_len = at;
	return 0;
}

int fcgirec_send(struct fcgirec_out *o, const char *data, size_t len,
		 int end)
{
	unsigned char hdrs[MAX_RECORDS + 1][8];
	FCGI_EndRequestRecord endrec;
	struct iovec iov[2 * MAX_RECORDS + 4];
	size_t off = 0, total = 0;
	int n = 0, k = 0, rc;
	ssize_t w;

	while (off < len && k < MAX_RECORDS) {
		size_t chunk = len - off > RECORD_MAX ? RECORD_MAX : len - off;

		record_header(hdrs[k], FCGI_STDOUT, o->reqid, chunk);
		iov[n].iov_base = hdrs[k++];
		iov[n++].iov_len = 8;
		iov[n].iov_base = (char *)data + off;
		iov[n++].iov_len = chunk;
		off += chunk;
	}
	if (off < len)
		return -E2BIG;
	if (end) {
		record_header(hdrs[k], FCGI_STDOUT, o->reqid, 0);
		iov[n].iov_base = hdrs[k];
		iov[n++].iov_len = 8;
		memset(&endrec, 0, sizeof(endrec));
		record_header((unsigned char *)&endrec.header, FCGI_END_REQUEST,
			      o->reqid, sizeof(endrec.body));
		endrec.body.protocolStatus = FCGI_REQUEST_COMPLETE;
		iov[n].iov_base = &endrec;
		iov[n++].iov_len = sizeof(endrec);
	}
	if (o->pend_len) {
		rc = pending_add(o, iov, n, 0);
		return rc ? rc : 1;
	}
	for (k = 0; k < n; k++)
		total += iov[k].iov_len;
	w = writev(o->fd, iov, n);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		w = 0;
	}
	if ((size_t)w == total)
		return 0;
	rc = pending_add(o, iov, n, (size_t)w);
	return rc ? rc : 1;
}

int fcgirec_flush(struct fcgirec_out *o)
{
	while (o->pend_len) {
		ssize_t w = write(o->fd, o->pending + o->pend_off, o->pend_len);

		if (w < 0) {
			if (errno == EAGAIN)
				return 1;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		o->pend_off += (size_t)w;
		o->pend_len -= (size_t)w;
	}
	fcgirec_release(o);
	return 0;
}

void fcgirec_release(struct fcgirec_out *o)
{
	free(o->pending);
	o->pending = NULL;
	o->pend_off = o->pend_len = 0;
}
