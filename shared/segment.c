/*
 * segment.c - segment files: creation, headers, records and their index.
 * The format itself is drawn at the top of msglog.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "segment.h"

/* Host byte order is little-endian on every platform we build for; the
 * format says little-endian, so check it once at compile time. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the log format is little-endian; add byte swapping for this host"
#endif

void seg_name(char *buf, uint64_t base)
{
	snprintf(buf, SEG_NAME_LEN + 1, "%020llu.seg", (unsigned long long)base);
}

int seg_parse_name(const char *name, uint64_t *base)
{
	uint64_t v = 0;
	int i;

	if (strlen(name) != SEG_NAME_LEN || strcmp(name + 20, ".seg"))
		return -EINVAL;
	for (i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	if (!v)
		return -EINVAL;
	*base = v;
	return 0;
}

int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int pwritev_full(int fd, struct iovec *iov, int iovcnt, uint64_t off)
{
	while (iovcnt) {
		ssize_t n = pwritev(fd, iov, iovcnt, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENOSPC;
		off += (uint64_t)n;
		while (iovcnt && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void seg_header_fill(unsigned char h[SEG_HDR_SIZE], uint64_t base,
			    uint32_t seg_records)
{
	memset(h, 0, SEG_HDR_SIZE);
	memcpy(h, SEG_MAGIC, 8);
	put32(h + 8, SEG_VERSION);
	put32(h + 12, seg_records);
	put64(h + 16, base);
	put32(h + 24, crc32c(0, h, 24));
}

int seg_create(int dirfd, uint64_t base, uint32_t seg_records,
	       struct lcerr *err)
{
	char name[SEG_NAME_LEN + 1], tmp[SEG_NAME_LEN + 32];
	unsigned char hdr[SEG_HDR_SIZE];
	struct iovec iov = { hdr, sizeof(hdr) };
	int fd, rc;

	seg_name(name, base);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", name, (long)getpid());
	fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		return lcerr_sys(err, -errno, "cannot create segment '%s'", tmp);
	seg_header_fill(hdr, base, seg_records);
	rc = pwritev_full(fd, &iov, 1, 0);
	if (!rc)
		rc = seg_index_alloc(fd, 0, seg_records);
	if (!rc && ftruncate(fd, (off_t)seg_data_start(seg_records)))
		rc = -errno;
	if (!rc && fsync(fd))
		rc = -errno;
	if (!rc && renameat(dirfd, tmp, dirfd, name))
		rc = -errno;
	if (!rc && fsync(dirfd))
		rc = -errno;
	if (rc) {
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return lcerr_sys(err, rc, "cannot create segment '%s'", name);
	}
	return fd;
}

int seg_index_alloc(int fd, uint32_t slot, uint32_t seg_records)
{
	uint32_t first = slot / SEG_IDX_CHUNK * SEG_IDX_CHUNK;
	uint32_t n = seg_records - first < SEG_IDX_CHUNK ?
		     seg_records - first : SEG_IDX_CHUNK;
	int rc = posix_fallocate(fd, first ? SEG_HDR_SIZE + (off_t)first * 8 : 0,
				 (first ? 0 : SEG_HDR_SIZE) + (off_t)n * 8);

	return rc ? -rc : 0;
}

int seg_open(int dirfd, uint64_t base, int writable, struct lcerr *err)
{
	char name[SEG_NAME_LEN + 1];
	int fd;

	seg_name(name, base);
	fd = openat(dirfd, name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return lcerr_sys(err, -errno, "cannot open segment '%s'", name);
	return fd;
}

int seg_check_header(int fd, uint64_t base, uint32_t seg_records,
		     uint32_t *seg_records_out, struct lcerr *err)
{
	unsigned char h[SEG_HDR_SIZE];
	uint32_t s;
	int rc = pread_full(fd, h, sizeof(h), 0);

	if (rc == -EIO)
		return lcerr_set(err, -EBADMSG,
				 "segment %llu: header truncated at offset 0",
				 (unsigned long long)base);
	if (rc)
		return lcerr_sys(err, rc, "segment %llu: cannot read header",
				 (unsigned long long)base);
	s = get32(h + 12);
	if (memcmp(h, SEG_MAGIC, 8) || get32(h + 24) != crc32c(0, h, 24))
		return lcerr_set(err, -EBADMSG,
				 "segment %llu: bad header at offset 0",
				 (unsigned long long)base);
	if (get32(h + 8) != SEG_VERSION)
		return lcerr_set(err, -EBADMSG,
				 "segment %llu: unsupported version %u",
				 (unsigned long long)base, get32(h + 8));
	if (get64(h + 16) != base || (seg_records && s != seg_records) || !s)
		return lcerr_set(err, -EBADMSG,
				 "segment %llu: header names base %llu, %u records",
				 (unsigned long long)base,
				 (unsigned long long)get64(h + 16), s);
	if (seg_records_out)
		*seg_records_out = s;
	return 0;
}

void rec_encode(unsigned char hdr[REC_HDR_SIZE], uint64_t id,
		uint64_t time_ms, const struct iovec *body, int nbody,
		uint16_t klen)
{
	uint64_t len = 0;
	uint32_t crc;
	int i;

	for (i = 0; i < nbody; i++)
		len += body[i].iov_len;
	len -= klen;
	put32(hdr + 4, REC_MAGIC);
	put64(hdr + 8, id);
	put64(hdr + 16, time_ms);
	put32(hdr + 24, (uint32_t)len);
	hdr[28] = (unsigned char)(klen & 0xff);
	hdr[29] = (unsigned char)(klen >> 8);
	hdr[30] = hdr[31] = 0;
	crc = crc32c(0, hdr + 4, REC_HDR_SIZE - 4);
	for (i = 0; i < nbody; i++)
		crc = crc32c(crc, body[i].iov_base, body[i].iov_len);
	put32(hdr, crc);
}

int rec_decode(const unsigned char hdr[REC_HDR_SIZE], struct rec_hdr *h)
{
	h->crc = get32(hdr);
	h->id = get64(hdr + 8);
	h->time_ms = get64(hdr + 16);
	h->len = get32(hdr + 24);
	h->klen = (uint16_t)(hdr[28] | hdr[29] << 8);
	h->flags = (uint16_t)(hdr[30] | hdr[31] << 8);
	if (get32(hdr + 4) != REC_MAGIC || h->len > REC_MAX_LEN ||
	    h->klen > REC_MAX_KEY || h->len == 0)
		return -EBADMSG;
	return 0;
}

int rec_crc_ok(const struct rec_hdr *h, const unsigned char *rec)
{
	return crc32c(0, rec + 4, REC_HDR_SIZE - 4 + h->klen + h->len) == h->crc;
}

int seg_index_get(int fd, uint32_t slot, uint64_t *off)
{
	unsigned char b[8];
	int rc = pread_full(fd, b, 8, SEG_HDR_SIZE + (uint64_t)slot * 8);

	if (rc)
		return rc;
	*off = get64(b);
	return 0;
}

int seg_index_set(int fd, uint32_t slot, uint64_t off)
{
	unsigned char b[8];
	struct iovec iov = { b, 8 };

	put64(b, off);
	return pwritev_full(fd, &iov, 1, SEG_HDR_SIZE + (uint64_t)slot * 8);
}
