/*
 * whwriter.h - group commit of the dispatcher's state files, off its
 * event loop.
 *
 * Making a cursor durable costs an fdatasync of the state file, a rename
 * and an fsync of the directory: about half a millisecond each on our
 * disks, fifty milliseconds for a hundred endpoints - far too long to
 * stall the loop that keeps a hundred deliveries in flight.  So the loop
 * hands a batch of finished file texts to this writer thread and goes on;
 * the writer replaces them one by one (webhook_file_replace(), without the
 * directory sync), syncs the directory once, and takes the next batch.
 * While it works, the loop's changes accumulate into the next batch: the
 * busier the dispatcher, the larger the groups.  A crash loses at most the
 * batch being written and the one accumulating - cursors then lag, and the
 * messages after them are delivered again (at-least-once); they never run
 * ahead of what was acknowledged, since a state is only formatted after
 * its 2xx.
 *
 * Jobs are applied in submission order, so a removal submitted after a
 * write of the same file wins.
 *
 * Ownership: whwriter_submit() takes the job array and its texts (freed
 * with free()); everything else stays the caller's.
 */
#ifndef WHWRITER_H
#define WHWRITER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "lcerr.h"

struct whwriter_job {
	char name[64];            /* file name in the directory */
	char *data;               /* NULL: remove the file */
	size_t len;
};

struct whwriter {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int dirfd, durable;
	struct whwriter_job *jobs;     /* the batch being written */
	size_t njobs;
	int busy, stop, started;
	int failed;                    /* a write failed since the last check */
	uint64_t last_ms;              /* how long the last batch took */
	char error[256];
	void (*done)(void *ctx);       /* called by the thread after a batch */
	void *done_ctx;
};

/*
 * Start the thread writing into directory `dirfd` (borrowed).  `done`
 * (may be NULL) is called from the writer thread after each batch, e.g. to
 * wake the event loop.  0 or negative with `err`.
 */
int whwriter_start(struct whwriter *w, int dirfd, int durable,
		   void (*done)(void *), void *ctx, struct lcerr *err);

/* Is the writer free to take a batch? */
int whwriter_idle(struct whwriter *w);

/* Hand over `n` jobs (the array is taken).  The writer must be idle:
 * -EBUSY otherwise (nothing is taken). */
int whwriter_submit(struct whwriter *w, struct whwriter_job *jobs, size_t n);

/* How long the last batch took to write, ms. */
uint64_t whwriter_last_ms(struct whwriter *w);

/* Wait until the current batch is written. */
void whwriter_wait(struct whwriter *w);

/* 1 when a write failed since the last call (the reason into `why`). */
int whwriter_failed(struct whwriter *w, char *why, size_t len);

/* Finish the current batch and stop the thread. */
void whwriter_stop(struct whwriter *w);

#endif
