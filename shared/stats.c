/*
 * stats.c - shared live counters (see stats.h).
 *
 * <data>/stats, 4096 bytes: "LOGCASTC", the boot id (40 bytes), then
 * STATS__COUNT signed 64-bit counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loghead.h"
#include "stats.h"

#define STATS_SIZE 4096

struct stats_file {
	char magic[8];
	char boot_id[40];
	_Atomic int64_t v[STATS__COUNT];
};

struct stats {
	struct stats_file *f;
};

int stats_open(struct stats **out, const char *dir, struct lcerr *err)
{
	struct stats *st;
	char path[4096];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/stats", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return lcerr_sys(err, -errno, "cannot open '%s'", path);
	if (flock(fd, LOCK_EX)) {
		rc = lcerr_sys(err, -errno, "cannot lock '%s'", path);
		goto out;
	}
	if (ftruncate(fd, STATS_SIZE) && errno) {
		rc = lcerr_sys(err, -errno, "cannot size '%s'", path);
		goto out;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		rc = -ENOMEM;
		goto out;
	}
	st->f = mmap(NULL, STATS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (st->f == MAP_FAILED) {
		free(st);
		rc = lcerr_sys(err, -errno, "cannot map '%s'", path);
		goto out;
	}
	if (memcmp(st->f->magic, "LOGCASTC", 8) ||
	    strncmp(st->f->boot_id, boot_id_get(), sizeof(st->f->boot_id))) {
		/* new file or new boot: nobody from before is still counted */
		memset(st->f, 0, sizeof(*st->f));
		memcpy(st->f->magic, "LOGCASTC", 8);
		snprintf(st->f->boot_id, sizeof(st->f->boot_id), "%s",
			 boot_id_get());
	}
	*out = st;
out:
	/* unlock explicitly: the mapping keeps the open file description
	 * alive, so close() alone would hold the flock until munmap and
	 * every other process's stats_open() would block */
	flock(fd, LOCK_UN);
	close(fd);
	return rc;
}

void stats_close(struct stats *st)
{
	if (!st)
		return;
	munmap(st->f, STATS_SIZE);
	free(st);
}

void stats_add(struct stats *st, enum stats_counter which, int64_t delta)
{
	if (st && which < STATS__COUNT)
		atomic_fetch_add(&st->f->v[which], delta);
}

uint64_t stats_get(const struct stats *st, enum stats_counter which)
{
	int64_t v;

	if (!st || which >= STATS__COUNT)
		return 0;
	v = atomic_load(&st->f->v[which]);
	return v > 0 ? (uint64_t)v : 0;
}
