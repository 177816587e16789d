/*
 * idem.c - idempotency-key table (see idem.h).
 *
 * File "idem" in the channel directory, little-endian:
 *
 *   +0   "LOGCASTI"        magic
 *   +8   u32 version (1)   +12 u32 log2(slots)
 *   +16  reserved up to 64
 *   +64  slots x { u64 hash, u64 id }    id 0 = never used
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idem.h"

#define IDEM_MAGIC   "LOGCASTI"
#define IDEM_HDR     64
#define IDEM_PROBE   64

struct idem_slot {
	uint64_t hash;
	uint64_t id;
};

struct idem_table {
	unsigned char *map;
	size_t map_len;
	struct idem_slot *slots;
	uint64_t mask;
};

uint64_t idem_hash(const char *key, size_t klen)
{
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */
	size_t i;

	for (i = 0; i < klen; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

int idem_open(int dirfd, uint64_t retain, struct idem_table **out,
	      struct lcerr *err)
{
	struct idem_table *t;
	struct stat st;
	unsigned bits = 10;
	uint32_t v;
	int fd, rc = 0;

	while (bits < 20 && ((uint64_t)1 << bits) < retain * 2)
		bits++;
	fd = openat(dirfd, "idem", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return lcerr_sys(err, -errno, "cannot open idempotency table");
	if (fstat(fd, &st)) {
		rc = lcerr_sys(err, -errno, "cannot stat idempotency table");
		goto fail;
	}
	if (st.st_size == 0) {
		unsigned char hdr[IDEM_HDR] = { 0 };
		size_t len = IDEM_HDR + ((size_t)16 << bits);

		memcpy(hdr, IDEM_MAGIC, 8);
		v = 1;
		memcpy(hdr + 8, &v, 4);
		v = bits;
		memcpy(hdr + 12, &v, 4);
		if (posix_fallocate(fd, 0, (off_t)len) ||
		    pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
			rc = lcerr_set(err, -ENOSPC,
				       "cannot create idempotency table");
			ftruncate(fd, 0);
			goto fail;
		}
		st.st_size = (off_t)len;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		rc = -ENOMEM;
		goto fail;
	}
	t->map_len = (size_t)st.st_size;
	t->map = mmap(NULL, t->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      fd, 0);
	if (t->map == MAP_FAILED) {
		rc = lcerr_sys(err, -errno, "cannot map idempotency table");
		free(t);
		goto fail;
	}
	memcpy(&v, t->map + 12, 4);
	if (memcmp(t->map, IDEM_MAGIC, 8) || v < 10 || v > 20 ||
	    t->map_len < IDEM_HDR + ((size_t)16 << v)) {
		munmap(t->map, t->map_len);
		free(t);
		rc = lcerr_set(err, -EBADMSG, "idempotency table is damaged");
		goto fail;
	}
	t->slots = (struct idem_slot *)(t->map + IDEM_HDR);
	t->mask = ((uint64_t)1 << v) - 1;
	close(fd);
	*out = t;
	return 0;
fail:
	close(fd);
	return rc;
}

void idem_close(struct idem_table *t)
{
	if (!t)
		return;
	munmap(t->map, t->map_len);
	free(t);
}

size_t idem_lookup(struct idem_table *t, uint64_t hash, uint64_t first_id,
		   uint64_t *ids, size_t max)
{
	size_t n = 0;
	unsigned i;

	for (i = 0; i < IDEM_PROBE && n < max; i++) {
		struct idem_slot *s = &t->slots[(hash + i) & t->mask];

		if (!s->id)
			break;
		if (s->hash == hash && s->id >= first_id)
			ids[n++] = s->id;
	}
	return n;
}

void idem_insert(struct idem_table *t, uint64_t hash, uint64_t id,
		 uint64_t first_id)
{
	struct idem_slot *victim = NULL;
	unsigned i;

	for (i = 0; i < IDEM_PROBE; i++) {
		struct idem_slot *s = &t->slots[(hash + i) & t->mask];

		if (!s->id || s->id < first_id) {
			victim = s;
			break;
		}
		if (!victim || s->id < victim->id)
			victim = s;
	}
	victim->hash = hash;
	victim->id = id;
}
