/*
 * whwriter.c - the dispatcher's background state writer (see whwriter.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "webhook.h"
#include "whwriter.h"

static void free_jobs(struct whwriter_job *jobs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(jobs[i].data);
	free(jobs);
}

/*
 * One batch: each text written to a temporary, fdatasync'd and renamed
 * over its file, removals in their place in the order, then one fsync of
 * the directory for all the renames.  1 if anything failed (that job's old
 * file stays).
 */
static int write_batch(struct whwriter *w, struct whwriter_job *jobs,
		       size_t n, struct lcerr *err)
{
	size_t i;
	int failed = 0;

	for (i = 0; i < n; i++) {
		if (!jobs[i].data) {
			if (unlinkat(w->dirfd, jobs[i].name, 0) && errno != ENOENT) {
				lcerr_sys(err, -errno, "cannot remove %s", jobs[i].name);
				failed = 1;
			}
		} else if (webhook_file_replace(w->dirfd, jobs[i].name, jobs[i].data,
						jobs[i].len, w->durable, 0, err)) {
			failed = 1;
		}
	}
	if (n && w->durable && webhook_dir_sync(w->dirfd, err))
		failed = 1;
	return failed;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *writer_main(void *arg)
{
	struct whwriter *w = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct whwriter_job *jobs;
		struct lcerr err = LCERR_INIT;
		uint64_t t0, t1;
		size_t n;
		int failed;

		while (!w->busy && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->busy && w->stop)
			break;
		jobs = w->jobs;
		n = w->njobs;
		pthread_mutex_unlock(&w->mu);

		t0 = mono_ms();
		failed = write_batch(w, jobs, n, &err);
		t1 = mono_ms();
		free_jobs(jobs, n);

		pthread_mutex_lock(&w->mu);
		w->jobs = NULL;
		w->njobs = 0;
		w->busy = 0;
		w->last_ms = t1 - t0;
		if (failed) {
			w->failed = 1;
			snprintf(w->error, sizeof(w->error), "%s", err.msg);
		}
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		if (w->done)
			w->done(w->done_ctx);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int whwriter_start(struct whwriter *w, int dirfd, int durable,
		   void (*done)(void *), void *ctx, struct lcerr *err)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->dirfd = dirfd;
	w->durable = durable;
	w->done = done;
	w->done_ctx = ctx;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	rc = pthread_create(&w->thread, NULL, writer_main, w);
	if (rc) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		return lcerr_sys(err, -rc, "cannot start the state writer");
	}
	w->started = 1;
	return 0;
}

int whwriter_idle(struct whwriter *w)
{
	int busy;

	pthread_mutex_lock(&w->mu);
	busy = w->busy;
	pthread_mutex_unlock(&w->mu);
	return !busy;
}

int whwriter_submit(struct whwriter *w, struct whwriter_job *jobs, size_t n)
{
	pthread_mutex_lock(&w->mu);
	if (w->busy) {
		pthread_mutex_unlock(&w->mu);
		return -EBUSY;
	}
	w->jobs = jobs;
	w->njobs = n;
	w->busy = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

uint64_t whwriter_last_ms(struct whwriter *w)
{
	uint64_t ms;

	pthread_mutex_lock(&w->mu);
	ms = w->last_ms;
	pthread_mutex_unlock(&w->mu);
	return ms;
}

void whwriter_wait(struct whwriter *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

int whwriter_failed(struct whwriter *w, char *why, size_t len)
{
	int f;

	pthread_mutex_lock(&w->mu);
	f = w->failed;
	if (f)
		snprintf(why, len, "%s", w->error);
	w->failed = 0;
	pthread_mutex_unlock(&w->mu);
	return f;
}

void whwriter_stop(struct whwriter *w)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	w->started = 0;
}
