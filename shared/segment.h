/*
 * segment.h - one segment file of a channel's log (format: msglog.c).
 *
 * A segment holds the records of a fixed range of ids, [base, base + S),
 * where S ("records per segment") is fixed when the channel is created.
 * Because the range is fixed, the segment holding any id is known by
 * arithmetic and opened by name: no directory listing, no search.  Inside a
 * segment an index of S file offsets (written as records are appended)
 * gives the position of any record, so reading "since N" is one lookup
 * however long the channel is.
 *
 * These functions do I/O on a file descriptor and know nothing about
 * locking or the head; msglog.c and logcheck.c decide when to call them.
 */
#ifndef SEGMENT_H
#define SEGMENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "lcerr.h"

#define SEG_MAGIC       "LOGCASTS"
#define SEG_VERSION     1
#define SEG_HDR_SIZE    64
#define REC_MAGIC       0x3152434cu /* "LCR1" little-endian */
#define REC_HDR_SIZE    32
#define REC_MAX_KEY     255
#define REC_MAX_LEN     ((uint32_t)16 << 20)   /* envelope bytes */
#define SEG_NAME_LEN    24                    /* 20 digits + ".seg" */
#define SEG_IDX_CHUNK   4096                  /* index slots allocated at once */
#define SEG_RECORDS_MAX ((uint32_t)1 << 22)   /* records per segment, at most */

/* Decoded record header. */
struct rec_hdr {
	uint32_t crc;
	uint64_t id;
	uint64_t time_ms;
	uint32_t len;     /* envelope bytes */
	uint16_t klen;    /* idempotency key bytes */
	uint16_t flags;
};

/* Size a record occupies on disk, padding included. */
static inline uint64_t rec_size(uint32_t klen, uint32_t len)
{
	return ((uint64_t)REC_HDR_SIZE + klen + len + 7) & ~(uint64_t)7;
}

/* Offset of the first record in a segment with S records. */
static inline uint64_t seg_data_start(uint32_t seg_records)
{
	return SEG_HDR_SIZE + (uint64_t)seg_records * 8;
}

/* Base id of the segment holding `id` (id >= 1). */
static inline uint64_t seg_base_of(uint64_t id, uint32_t seg_records)
{
	return (id - 1) / seg_records * seg_records + 1;
}

/* "00000000000000000001.seg" for base 1; buf needs SEG_NAME_LEN + 1. */
void seg_name(char *buf, uint64_t base);

/* Parse a segment file name; 0 and *base, or -EINVAL. */
int seg_parse_name(const char *name, uint64_t *base);

/*
 * Create the segment file for `base` in directory `dirfd`: written under a
 * temporary name, the first SEG_IDX_CHUNK index slots allocated (later ones
 * with seg_index_alloc() before use, so index writes never hit a full
 * disk), synced, renamed into place, and the directory synced.
 * Returns an O_RDWR descriptor (the caller closes it) or a negative code.
 */
int seg_create(int dirfd, uint64_t base, uint32_t seg_records,
	       struct lcerr *err);

/* Make sure index slot `slot` (and the chunk around it) has disk blocks.
 * 0, or -ENOSPC and friends. */
int seg_index_alloc(int fd, uint32_t slot, uint32_t seg_records);

/* Open an existing segment; -ENOENT if it is gone (dropped by retention). */
int seg_open(int dirfd, uint64_t base, int writable, struct lcerr *err);

/*
 * Read and validate the header of the segment on `fd`.  0, or -EBADMSG
 * when it is not a segment of `base` with `seg_records` records
 * (seg_records 0: accept any and return it in *seg_records_out).
 */
int seg_check_header(int fd, uint64_t base, uint32_t seg_records,
		     uint32_t *seg_records_out, struct lcerr *err);

/*
 * Fill the 32-byte header of a record.  The CRC covers the header after
 * the CRC field, the key and the envelope; it is computed from the iovecs
 * of key and envelope pieces that follow the header.
 */
void rec_encode(unsigned char hdr[REC_HDR_SIZE], uint64_t id,
		uint64_t time_ms, const struct iovec *body, int nbody,
		uint16_t klen);

/* Decode a header (no CRC check).  0, or -EBADMSG for a bad magic/size. */
int rec_decode(const unsigned char hdr[REC_HDR_SIZE], struct rec_hdr *h);

/* Check the CRC of a whole record image (header + key + envelope). */
int rec_crc_ok(const struct rec_hdr *h, const unsigned char *rec);

/* Read the index slot of record `slot`: its offset, 0 if unset. */
int seg_index_get(int fd, uint32_t slot, uint64_t *off);

/* Write the index slot of record `slot`. */
int seg_index_set(int fd, uint32_t slot, uint64_t off);

/* pread() everything or fail: 0, -EIO on a short read, -errno. */
int pread_full(int fd, void *buf, size_t len, uint64_t off);

/* pwritev() everything or fail (-ENOSPC on a short write). */
int pwritev_full(int fd, struct iovec *iov, int iovcnt, uint64_t off);

#endif
