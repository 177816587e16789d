/*
 * logchan.c - channel handles of the message log: creating a channel,
 * opening and caching its head mapping and segment descriptors per
 * process, the append and sync locks, and waking readers.
 *
 * A process keeps one handle per channel name, shared by its threads and
 * reference counted; idle handles stay open in an LRU list (bounded by
 * opts.max_handles) so a FastCGI responder does not reopen a busy
 * channel's files on every request.  Segment descriptors are reference
 * counted too, so a reader's pread() never races a close().
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

/* ------------------------------------------------------------------ */
/* channel handles                                                    */

static unsigned name_hash(const char *s)
{
	unsigned h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h % HASH_BUCKETS;
}

static void chan_free(struct msglog_chan *c)
{
	chan_seg_forget(c);
	idem_close(c->idem);
	if (c->head)
		munmap(c->head, HEAD_SIZE);
	if (c->head_fd >= 0)
		close(c->head_fd);
	if (c->dirfd >= 0)
		close(c->dirfd);
	pthread_mutex_destroy(&c->append_mu);
	pthread_mutex_destroy(&c->sync_mu);
	pthread_mutex_destroy(&c->seg_mu);
	free(c);
}

static int head_valid(const struct loghead *h)
{
	return !memcmp(h->magic, HEAD_MAGIC, 8) && h->version == HEAD_VERSION &&
	       h->seg_records >= 4 && h->seg_records <= SEG_RECORDS_MAX;
}

/* Write a fresh head template (no boot id, so the first opener runs
 * recovery, which creates the first segment) under a temporary name and
 * link it into place; losing the race to another creator is fine. */
static int head_create(struct msglog_chan *c, struct lcerr *err)
{
	struct loghead *h;
	char tmp[64];
	int fd, rc = 0;

	h = calloc(1, HEAD_SIZE);
	if (!h)
		return lcerr_set(err, -ENOMEM, "out of memory");
	memcpy(h->magic, HEAD_MAGIC, 8);
	h->version = HEAD_VERSION;
	h->seg_records = c->log->opts.seg_records;
	h->created_ms = log_now_ms();
	snprintf(tmp, sizeof(tmp), "head.tmp.%ld.%lx", (long)getpid(),
		 (unsigned long)pthread_self());
	fd = openat(c->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0666);
	if (fd < 0) {
		rc = lcerr_sys(err, -errno, "cannot create head of '%s'",
			       c->name);
		goto out;
	}
	if (pwrite(fd, h, HEAD_SIZE, 0) != HEAD_SIZE || fsync(fd))
		rc = lcerr_sys(err, errno ? -errno : -ENOSPC,
			       "cannot write head of '%s'", c->name);
	else if (linkat(c->dirfd, tmp, c->dirfd, "head", 0) && errno != EEXIST)
		rc = lcerr_sys(err, -errno, "cannot link head of '%s'", c->name);
	else if (fsync(c->dirfd))
		rc = lcerr_sys(err, -errno, "cannot sync '%s'", c->name);
	close(fd);
	unlinkat(c->dirfd, tmp, 0);
out:
	free(h);
	return rc;
}

/* Bring the head up to date when it cannot be trusted: a crashed writer
 * left `busy`, the machine rebooted since it was last checked, or it is not
 * a valid head at all.  Caller holds the append lock. */
int chan_settle(struct msglog_chan *c, struct lcerr *err)
{
	struct loghead *h = c->head;

	if (head_valid(h) && !atomic_load(&h->busy) &&
	    !strncmp(h->boot_id, boot_id_get(), sizeof(h->boot_id)))
		return 0;
	return log_recover(c, err);
}

static int chan_open(struct msglog *log, const char *name, int flags,
		     struct msglog_chan **out, struct lcerr *err)
{
	struct msglog_chan *c;
	struct stat st;
	int create = flags & MSGLOG_CREATE;
	int rc;

	c = calloc(1, sizeof(*c));
	if (!c)
		return lcerr_set(err, -ENOMEM, "out of memory");
	c->log = log;
	c->head_fd = c->dirfd = -1;
	snprintf(c->name, sizeof(c->name), "%s", name);
	pthread_mutex_init(&c->append_mu, NULL);
	pthread_mutex_init(&c->sync_mu, NULL);
	pthread_mutex_init(&c->seg_mu, NULL);

	c->dirfd = openat(log->chdirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0 && errno == ENOENT && create) {
		if (mkdirat(log->chdirfd, name, 0777) && errno != EEXIST) {
			rc = lcerr_sys(err, -errno, "cannot create channel '%s'",
				       name);
			goto fail;
		}
		fsync(log->chdirfd);
		c->dirfd = openat(log->chdirfd, name,
				  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (c->dirfd < 0) {
		rc = -errno;
		if (rc != -ENOENT)
			lcerr_sys(err, rc, "cannot open channel '%s'", name);
		else
			lcerr_set(err, rc, "no channel '%s'", name);
		goto fail;
	}
	c->head_fd = openat(c->dirfd, "head", O_RDWR | O_CLOEXEC);
	if (c->head_fd < 0 && errno == ENOENT) {
		if (!create) {
			rc = lcerr_set(err, -ENOENT, "no channel '%s'", name);
			goto fail;
		}
		rc = head_create(c, err);
		if (rc)
			goto fail;
		c->head_fd = openat(c->dirfd, "head", O_RDWR | O_CLOEXEC);
	}
	if (c->head_fd < 0 || fstat(c->head_fd, &st)) {
		rc = lcerr_sys(err, -errno, "cannot open head of '%s'", name);
		goto fail;
	}
	if (st.st_size < HEAD_SIZE && ftruncate(c->head_fd, HEAD_SIZE)) {
		rc = lcerr_sys(err, -errno, "cannot size head of '%s'", name);
		goto fail;
	}
	c->head = mmap(NULL, HEAD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       c->head_fd, 0);
	if (c->head == MAP_FAILED) {
		c->head = NULL;
		rc = lcerr_sys(err, -errno, "cannot map head of '%s'", name);
		goto fail;
	}
	if (!head_valid(c->head) && (flags & MSGLOG_NO_RECOVER)) {
		rc = lcerr_set(err, -EBADMSG, "channel '%s': head is damaged", name);
		goto fail;
	}
	if (flags & MSGLOG_NO_RECOVER) {
		*out = c;
		return 0;
	}
	if (!head_valid(c->head) || atomic_load(&c->head->busy) ||
	    strncmp(c->head->boot_id, boot_id_get(), sizeof(c->head->boot_id))) {
		rc = head_lock(c, LOCK_APPEND);
		if (rc) {
			lcerr_sys(err, rc, "cannot lock '%s'", name);
			goto fail;
		}
		rc = chan_settle(c, err);
		head_unlock(c, LOCK_APPEND);
		if (rc)
			goto fail;
	}
	*out = c;
	return 0;
fail:
	chan_free(c);
	return rc;
}

static void lru_unlink(struct msglog_chan *c)
{
	c->lru_prev->lru_next = c->lru_next;
	c->lru_next->lru_prev = c->lru_prev;
	c->lru_next = c->lru_prev = NULL;
}

static void hash_unlink(struct msglog *log, struct msglog_chan *c)
{
	struct msglog_chan **pp = &log->buckets[name_hash(c->name)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
}

int msglog_chan_get(struct msglog *log, const char *name, int flags,
		    struct msglog_chan **out, struct lcerr *err)
{
	struct msglog_chan *c, *other;
	unsigned b;
	int rc;

	if (!msglog_name_valid(name))
		return lcerr_set(err, -EINVAL,
			"invalid channel name: use 1 to 64 of A-Z a-z 0-9 _ . -, "
			"starting with a letter or digit");
	b = name_hash(name);
	pthread_mutex_lock(&log->mu);
	for (c = log->buckets[b]; c; c = c->hnext)
		if (!strcmp(c->name, name))
			break;
	if (c) {
		if (c->refs++ == 0) {
			lru_unlink(c);
			log->nidle--;
		}
		pthread_mutex_unlock(&log->mu);
		*out = c;
		return 0;
	}
	pthread_mutex_unlock(&log->mu);

	rc = chan_open(log, name, flags, &c, err);
	if (rc)
		return rc;

	pthread_mutex_lock(&log->mu);
	for (other = log->buckets[b]; other; other = other->hnext)
		if (!strcmp(other->name, name))
			break;
	if (other) {           /* another thread opened it meanwhile */
		if (other->refs++ == 0) {
			lru_unlink(other);
			log->nidle--;
		}
		pthread_mutex_unlock(&log->mu);
		chan_free(c);
		*out = other;
		return 0;
	}
	c->refs = 1;
	c->hnext = log->buckets[b];
	log->buckets[b] = c;
	log->nopen++;
	pthread_mutex_unlock(&log->mu);
	*out = c;
	return 0;
}

void msglog_chan_put(struct msglog_chan *c)
{
	struct msglog *log;
	struct msglog_chan *victim = NULL;

	if (!c)
		return;
	log = c->log;
	pthread_mutex_lock(&log->mu);
	if (--c->refs == 0) {
		/* most recently used at the front */
		c->lru_next = log->lru.lru_next;
		c->lru_prev = &log->lru;
		log->lru.lru_next->lru_prev = c;
		log->lru.lru_next = c;
		log->nidle++;
		if (log->nidle > log->opts.max_handles) {
			victim = log->lru.lru_prev;
			lru_unlink(victim);
			hash_unlink(log, victim);
			log->nidle--;
			log->nopen--;
		}
	}
	pthread_mutex_unlock(&log->mu);
	if (victim)
		chan_free(victim);
}

void msglog_close(struct msglog *log)
{
	unsigned b;

	if (!log)
		return;
	for (b = 0; b < HASH_BUCKETS; b++) {
		struct msglog_chan *c = log->buckets[b], *next;

		for (; c; c = next) {
			next = c->hnext;
			chan_free(c);
		}
	}
	if (log->chdirfd >= 0)
		close(log->chdirfd);
	pthread_mutex_destroy(&log->mu);
	free(log->dir);
	free(log);
}

const char *msglog_chan_name(const struct msglog_chan *c)
{
	return c->name;
}

void msglog_chan_range(const struct msglog_chan *c, struct msglog_range *r)
{
	uint64_t last = atomic_load(&c->head->durable_id);
	uint64_t first = atomic_load(&c->head->first_id);

	r->last_id = last;
	r->first_id = last ? (first ? first : 1) : 0;
	if (r->first_id > last)
		r->first_id = last;
}

uint64_t msglog_chan_last_id(const struct msglog_chan *c)
{
	return atomic_load(&c->head->durable_id);
}

/* ------------------------------------------------------------------ */
/* locks, segment descriptors, notification                           */

static int ofd_lock(int fd, int byte, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = byte;
	fl.l_len = 1;
	while (fcntl(fd, F_OFD_SETLKW, &fl)) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int head_lock(struct msglog_chan *c, int which)
{
	pthread_mutex_t *mu = which == LOCK_APPEND ? &c->append_mu : &c->sync_mu;
	int rc;

	pthread_mutex_lock(mu);
	rc = ofd_lock(c->head_fd, which, F_WRLCK);
	if (rc)
		pthread_mutex_unlock(mu);
	return rc;
}

void head_unlock(struct msglog_chan *c, int which)
{
	pthread_mutex_t *mu = which == LOCK_APPEND ? &c->append_mu : &c->sync_mu;

	ofd_lock(c->head_fd, which, F_UNLCK);
	pthread_mutex_unlock(mu);
}

static void segfd_unref(struct segfd *s)
{
	if (s && --s->refs == 0) {
		if (s->idx)
			munmap((void *)s->idx, s->idx_len);
		close(s->fd);
		free(s);
	}
}

/*
 * A segfd for an open descriptor, with its index mapped (best effort:
 * without the mapping the index goes through pread/pwrite).  How slots
 * are written depends on the fsync setting:
 *  - off: with a store through the mapping, no system call;
 *  - batch, always: with pwrite, the mapping read-only.  Every fdatasync
 *    cleans the index page, and with writable mappings the kernel must
 *    then write-protect it in every process that maps it (a TLB flush
 *    each) and take a fault at each one's next store.  Measured with 16
 *    publishers under group commit: those faults were a tenth of all the
 *    CPU time, and pwrite made `batch` 2.5 times faster.
 */
static struct segfd *segfd_new(int fd, uint64_t base, uint32_t S,
			       enum msglog_fsync fsync)
{
	struct segfd *s = calloc(1, sizeof(*s));
	int prot = PROT_READ;
	void *map;

	if (!s)
		return NULL;
	s->fd = fd;
	s->base = base;
	s->idx_store = fsync == MSGLOG_FSYNC_OFF &&
		       (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR;
	if (s->idx_store)
		prot |= PROT_WRITE;
	s->idx_len = SEG_HDR_SIZE + (size_t)S * 8;
	map = mmap(NULL, s->idx_len, prot, MAP_SHARED, fd, 0);
	if (map != MAP_FAILED)
		s->idx = map;
	return s;
}

int segfd_index_get(const struct segfd *s, uint32_t slot, uint64_t *off)
{
	if (s->idx) {
		*off = atomic_load_explicit(&s->idx[SEG_HDR_SIZE / 8 + slot],
					    memory_order_acquire);
		return 0;
	}
	return seg_index_get(s->fd, slot, off);
}

int segfd_index_set(struct segfd *s, uint32_t slot, uint64_t off)
{
	if (s->idx && s->idx_store) {
		atomic_store_explicit(&s->idx[SEG_HDR_SIZE / 8 + slot], off,
				      memory_order_release);
		return 0;
	}
	return seg_index_set(s->fd, slot, off);
}

/* Under seg_mu: the cached descriptor for `base`, moved to the front of
 * the older-segment list; descriptors of segments retention dropped are
 * let go so their disk space is freed. */
static struct segfd *seg_cache_find(struct msglog_chan *c, uint64_t base)
{
	uint64_t first = atomic_load(&c->head->first_id);
	struct segfd *hit = NULL;
	int i, j;

	if (c->tail && c->tail->base == base)
		return c->tail;
	for (i = j = 0; i < SEG_CACHE; i++) {
		struct segfd *s = c->older[i];

		c->older[i] = NULL;
		if (!s)
			continue;
		if (s->base == base)
			hit = s;
		else if (s->base + c->head->seg_records <= first)
			segfd_unref(s);
		else
			c->older[j++] = s;
	}
	if (hit) {
		memmove(c->older + 1, c->older, (SEG_CACHE - 1) * sizeof(*c->older));
		c->older[0] = hit;
	}
	return hit;
}

int chan_seg_get(struct msglog_chan *c, uint64_t base, struct segfd **out,
		 struct lcerr *err)
{
	struct segfd *s;
	int fd;

	pthread_mutex_lock(&c->seg_mu);
	s = seg_cache_find(c, base);
	if (s) {
		s->refs++;
		pthread_mutex_unlock(&c->seg_mu);
		*out = s;
		return 0;
	}
	pthread_mutex_unlock(&c->seg_mu);

	fd = seg_open(c->dirfd, base, 1, NULL);
	if (fd == -EACCES || fd == -EROFS)
		fd = seg_open(c->dirfd, base, 0, NULL);
	if (fd < 0) {
		if (fd == -ENOENT)
			return fd;
		return lcerr_sys(err, fd, "channel '%s': cannot open segment %llu",
				 c->name, (unsigned long long)base);
	}
	s = segfd_new(fd, base, c->head->seg_records, c->log->opts.fsync);
	if (!s) {
		close(fd);
		return lcerr_set(err, -ENOMEM, "out of memory");
	}
	s->refs = 2;    /* the cache's and the caller's */
	pthread_mutex_lock(&c->seg_mu);
	if (base >= c->head->tail_base) {
		segfd_unref(c->tail);
		c->tail = s;
	} else {
		segfd_unref(c->older[SEG_CACHE - 1]);
		memmove(c->older + 1, c->older, (SEG_CACHE - 1) * sizeof(*c->older));
		c->older[0] = s;
	}
	pthread_mutex_unlock(&c->seg_mu);
	*out = s;
	return 0;
}

void chan_seg_put(struct msglog_chan *c, struct segfd *s)
{
	pthread_mutex_lock(&c->seg_mu);
	segfd_unref(s);
	pthread_mutex_unlock(&c->seg_mu);
}

void chan_seg_forget(struct msglog_chan *c)
{
	int i;

	pthread_mutex_lock(&c->seg_mu);
	segfd_unref(c->tail);
	c->tail = NULL;
	for (i = 0; i < SEG_CACHE; i++) {
		segfd_unref(c->older[i]);
		c->older[i] = NULL;
	}
	pthread_mutex_unlock(&c->seg_mu);
}

/* Install a freshly created tail segment descriptor in the cache. */
int chan_seg_install(struct msglog_chan *c, int fd, uint64_t base)
{
	struct segfd *s = segfd_new(fd, base, c->head->seg_records,
				    c->log->opts.fsync);

	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->refs = 1;
	pthread_mutex_lock(&c->seg_mu);
	segfd_unref(c->tail);
	c->tail = s;
	pthread_mutex_unlock(&c->seg_mu);
	return 0;
}

void chan_notify(struct msglog_chan *c)
{
	struct loghead *h = c->head;
	uint64_t bell;

	atomic_fetch_add(&h->wake_seq, 1);
	if (atomic_load(&h->futex_waiters))
		syscall(SYS_futex, &h->wake_seq, FUTEX_WAKE, INT_MAX,
			NULL, NULL, 0);
	if (atomic_load(&h->inotify_watchers)) {
		bell = atomic_load(&h->wake_seq);
		if (pwrite(c->head_fd, &bell, sizeof(bell), HEAD_BELL_OFF) < 0) {
			/* inotify watchers then learn at their next timer */
		}
	}
}

void chan_publish_durable(struct msglog_chan *c, uint64_t id)
{
	uint64_t cur = atomic_load(&c->head->durable_id);

	while (cur < id) {
		if (atomic_compare_exchange_weak(&c->head->durable_id, &cur, id)) {
			chan_notify(c);
			return;
		}
	}
}

