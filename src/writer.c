/*
 * Copyright (c) 2026 The basalt developers
 *
 * Permission to use, copy, modify, and distribute this software for any
 * purpose with or without fee is hereby granted, provided that the above
 * copyright notice and this permission notice appear in all copies.
 *
 * THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 * WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 * MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 * ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 * WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 * ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 * OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
 */

/* The writer thread. Every write of the server passes through here: the
 * writes waiting when a batch starts run in one transaction, each in its
 * own savepoint, and are committed together (group commit). A write's
 * record change and its event row are in the same commit. */

#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"

static pthread_mutex_t	 writer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 writer_work = PTHREAD_COND_INITIALIZER;
static struct write_op	*queue_head, **queue_tail = &queue_head;
static int		 writer_stopping;
static int		 prune_wanted;
static struct worker	*writer;
static pthread_t	 writer_thread;

/* Runs one op in its savepoint. */
static void
writer_apply(struct write_op *op)
{
	int	 rc;

	if ((rc = store_savepoint(writer->store)) != STORE_OK) {
		op->rc = error_store(op->err, rc, NULL);
		return;
	}
	op->rc = op->apply(writer, op);
	if (op->rc == 0)
		store_release(writer->store);
	else
		store_rollback_savepoint(writer->store);
}

/* The batch's transaction could not begin (ran 0) or commit (ran 1): every
 * write that would have stood gets the cause. A write whose apply failed
 * keeps its own cause; writes queue with rc -1, so before they ran there
 * is none to keep. A commit whose connection to PostgreSQL broke is not
 * known to have happened: its writes are not acknowledged (503
 * database_unavailable), and a client that sends one again may find it
 * done. */
static void
writer_fail_all(struct write_op *batch, int rc, int ran)
{
	struct write_op	*op;

	if (rc != STORE_BUSY && rc != STORE_UNAVAILABLE)
		rc = STORE_ERROR;
	for (op = batch; op != NULL; op = op->next) {
		if (ran && op->rc != 0)
			continue;
		op->rc = error_store(op->err, rc, NULL);
	}
}

static void
writer_batch(struct write_op *batch)
{
	struct write_op	*op;
	int64_t		 t0;
	int		 rc, n = 0, any = 0;

	rc = store_begin(writer->store);
	if (rc != STORE_OK) {
		writer_fail_all(batch, rc, 0);
		return;
	}
	for (op = batch; op != NULL; op = op->next) {
		writer_apply(op);
		any |= op->rc == 0;
		n++;
	}
	if (!any) {
		store_rollback(writer->store);
		return;
	}
	t0 = time_mono_us();
	if ((rc = store_commit(writer->store)) != STORE_OK) {
		store_rollback(writer->store);
		writer_fail_all(batch, rc, 1);
		return;
	}
	metrics_commit(n, time_mono_us() - t0);
	tail_wake();
	webhook_wake();
}

/* One chunk of the retention sweep in its own transaction. When there is
 * more, the next chunk is asked for, so that writes queued meanwhile are
 * committed between chunks and never wait for a whole sweep. */
static void
writer_do_prune(void)
{
	int64_t	 start = time_now_ms();
	int64_t	 before = start - (int64_t)cfg->retention_seconds * 1000;
	int	 n, more;

	if (store_begin(writer->store) != STORE_OK)
		return;
	n = store_event_prune(writer->store, before, cfg->retention_count,
	    PRUNE_BATCH, &more);
	if (n == -1 || store_commit(writer->store) != STORE_OK) {
		store_rollback(writer->store);
		log_warn("event retention sweep failed; will try again");
		return;
	}
	log_debug("retention: %d events deleted in %lld ms%s", n,
	    (long long)(time_now_ms() - start), more ? ", more to go" : "");
	if (more)
		writer_prune();
}

static void *
writer_main(void *arg)
{
	struct write_op	*batch, *op, *next, **tailp;
	int		 n, prune, max;

	(void)arg;
	max = store_batch_max(writer->store);
	for (;;) {
		pthread_mutex_lock(&writer_lock);
		while (queue_head == NULL && !prune_wanted && !writer_stopping)
			pthread_cond_wait(&writer_work, &writer_lock);
		if (queue_head == NULL && writer_stopping) {
			pthread_mutex_unlock(&writer_lock);
			break;
		}
		batch = queue_head;
		for (n = 0, tailp = &queue_head; *tailp != NULL &&
		    n < max; n++)
			tailp = &(*tailp)->next;
		queue_head = *tailp;
		*tailp = NULL;
		if (queue_head == NULL)
			queue_tail = &queue_head;
		prune = prune_wanted;
		prune_wanted = 0;
		pthread_mutex_unlock(&writer_lock);

		config_refresh();	/* one snapshot for the whole batch */
		if (prune)
			writer_do_prune();
		if (batch == NULL)
			continue;
		writer_batch(batch);

		/* Each waiter has its own semaphore: no herd, no shared lock. */
		for (op = batch; op != NULL; op = next) {
			next = op->next;
			if (op->done_cb != NULL)
				op->done_cb(op);
			else
				sem_post(&op->done);
		}
	}
	config_unhold();
	return (NULL);
}

/* Loop thread, at start-up: opens the writer's store and starts its
 * thread. -1 (logged): either failed. */
int
writer_start(void)
{
	char	 err[512];

	if ((writer = worker_new(-1, err, sizeof err)) == NULL) {
		log_error("writer: %s", err);
		return (-1);
	}
	if (pthread_create(&writer_thread, NULL, writer_main, NULL) != 0) {
		log_error("writer: cannot start its thread");
		return (-1);
	}
	return (0);
}

/* Loop thread, at shutdown after worker_stop: commits every queued
 * write (their done_cb run), then stops the thread and closes its store. */
void
writer_stop(void)
{
	if (writer == NULL)
		return;
	pthread_mutex_lock(&writer_lock);
	writer_stopping = 1;
	pthread_cond_signal(&writer_work);
	pthread_mutex_unlock(&writer_lock);
	pthread_join(writer_thread, NULL);
	worker_free(writer);
	writer = NULL;
}

static void
writer_queue(struct write_op *op)
{
	op->rc = -1;
	op->next = NULL;
	pthread_mutex_lock(&writer_lock);
	*queue_tail = op;
	queue_tail = &op->next;
	pthread_cond_signal(&writer_work);
	pthread_mutex_unlock(&writer_lock);
}

/* Any thread but the writer: queues op and returns; op (the caller's)
 * must live until op->done_cb(op), which runs on the writer thread after
 * the commit with op->rc 0, or -1 and *op->err set. */
void
writer_submit_async(struct write_op *op)
{
	writer_queue(op);
}

/* Any thread but the writer: runs op (the caller's) in the next group
 * commit and waits for it. 0, or -1 with *op->err set. */
int
writer_submit(struct write_op *op)
{
	op->done_cb = NULL;
	sem_init(&op->done, 0, 0);
	writer_queue(op);
	while (sem_wait(&op->done) == -1)
		;	/* EINTR */
	sem_destroy(&op->done);
	return (op->rc);
}

/* Any thread: asks the writer for a retention sweep, and returns. */
void
writer_prune(void)
{
	pthread_mutex_lock(&writer_lock);
	prune_wanted = 1;
	pthread_cond_signal(&writer_work);
	pthread_mutex_unlock(&writer_lock);
}
