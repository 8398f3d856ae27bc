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

/* The tail of the event log. A thread of its own reads, on a store of its
 * own, the events committed since its last look and hands them to the
 * loop in batches, in id order; the loop gives them to the broker. The
 * thread looks when this process's writer wakes it (tail_wake), when
 * PostgreSQL notifies a commit (LISTEN), and at every poll: on SQLite
 * every TAIL_POLL_MS after a cheap check of PRAGMA data_version, which
 * moves when another process commits; on PostgreSQL, where the
 * notification is the fast path, every TAIL_POLL_PG_MS. All paths run the
 * same read after the last id handed over, so no event is delivered twice
 * or out of order, and the loop never waits on the database: a slow or
 * unreachable one holds up no stream and no heartbeat. */

#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "basalt.h"

/* A batch of events read in one step (one allocation, event_copy.c),
 * freed once published. */
struct tail_batch {
	TAILQ_ENTRY(tail_batch)	 entry;
	struct event_rows	*ev;
};
TAILQ_HEAD(tail_queue, tail_batch);

static struct store		*store;	/* the thread's; the loop's once
					   the thread has ended */
static struct event		*ready_ev;
static pthread_t		 thread;
static int			 started;
static int			 wake_fd[2] = { -1, -1 };
static atomic_int		 wake_pending;
static atomic_int		 stopping;

/* The queue from the thread to the loop, under lock. held counts the
 * batches queued and those being published: the thread waits for room
 * beyond TAIL_QUEUE_MAX, so a burst cannot grow it. */
static pthread_mutex_t		 lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 room = PTHREAD_COND_INITIALIZER;
static struct tail_queue	 queue = TAILQ_HEAD_INITIALIZER(queue);
static int			 held;

/* The thread's. */
static int64_t			 read_id;	/* the last id queued */
static struct event_copy	 copy;		/* the step being read */

/* The loop's. */
static int64_t			 last_id;	/* the last id published */

/* Thread: the store's callback, a row copied. */
static void
tail_collect(void *arg, const struct event_row *ev)
{
	(void)arg;
	event_copy_add(&copy, ev);
}

static void
tail_batch_free(struct tail_batch *b)
{
	free(b->ev);
	free(b);
}

/* Thread: queues the rows copied for the loop, waiting for room. -1
 * when stopping (nothing queued: the loop reads it again). */
static int
tail_queue_copy(void)
{
	struct tail_batch	*b = xmalloc(sizeof *b);

	b->ev = event_copy_take(&copy);

	pthread_mutex_lock(&lock);
	while (held >= TAIL_QUEUE_MAX && !atomic_load(&stopping))
		pthread_cond_wait(&room, &lock);
	if (atomic_load(&stopping)) {
		pthread_mutex_unlock(&lock);
		tail_batch_free(b);
		return (-1);
	}
	read_id = b->ev->rows[b->ev->n - 1].id;	/* b is the loop's now */
	TAILQ_INSERT_TAIL(&queue, b, entry);
	held++;
	pthread_mutex_unlock(&lock);
	event_active(ready_ev, EV_READ, 0);
	return (0);
}

/* Thread: reads and queues every event after read_id. 0, or -1 if a read
 * failed or the thread stops (what was read before is queued). */
static int
tail_read(void)
{
	int	 n;

	do {
		n = store_event_range(store, read_id, 0, NULL, NULL, NULL,
		    NULL, TAIL_BATCH, tail_collect, NULL);
		if (copy.n > 0 && tail_queue_copy() == -1)
			return (-1);
	} while (n == TAIL_BATCH);
	return (n < 0 ? -1 : 0);
}

/* Thread: empties the wake pipe. A commit after this writes again; one
 * before it is seen by the read that follows. */
static void
tail_woken(void)
{
	char	 b[64];

	while (read(wake_fd[0], b, sizeof b) > 0)
		;
	atomic_store(&wake_pending, 0);
}

/* Thread: waits up to ms for a wake or a notification; 1 if one came,
 * 0 on the time-out. With only_wake, a notification does not count
 * and the whole time is waited unless stopping. */
static int
tail_wait(int ms, int only_wake)
{
	struct pollfd	 pfd[2];
	int64_t		 end = time_mono_us() + (int64_t)ms * 1000, left;
	int		 n;

	for (;;) {
		pfd[0].fd = wake_fd[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = only_wake ? -1 : store_notify_fd(store);
		pfd[1].events = POLLIN;
		n = pfd[1].fd != -1 ? 2 : 1;
		left = (end - time_mono_us() + 999) / 1000;
		if (left <= 0 || atomic_load(&stopping))
			return (0);
		if (poll(pfd, n, (int)left) <= 0)
			continue;	/* the time-out, or EINTR */
		if (pfd[0].revents != 0)
			tail_woken();
		if (n == 2 && pfd[1].revents != 0)
			store_notified(store);
		if (!only_wake)
			return (1);
	}
}

static void *
tail_main(void *arg)
{
	int64_t	 dv = -1, v;
	int	 listening, look, rc, backoff = 0;

	(void)arg;
	listening = store_listen(store);
	look = 1;	/* for commits since tail_init took the log's end */
	while (!atomic_load(&stopping)) {
		if (backoff > 0) {
			tail_wait(backoff, 1);
			look = 1;
		} else if (!look)
			look = tail_wait(listening != 0 ? TAIL_POLL_PG_MS :
			    TAIL_POLL_MS, 0);
		if (atomic_load(&stopping))
			break;
		v = store_data_version(store);
		if (!look && v == dv)
			continue;
		dv = v;
		look = 0;
		/* A notification that came in during a read may be for a
		 * commit the read did not see. */
		while ((rc = tail_read()) == 0 && store_notified(store) > 0)
			;
		if (atomic_load(&stopping))
			break;
		if (rc == -1) {
			if (backoff == 0)
				log_warn("reading the event log failed; will "
				    "retry");
			backoff = backoff == 0 ? TAIL_RETRY_MS :
			    backoff * 2 > TAIL_RETRY_MAX_MS ?
			    TAIL_RETRY_MAX_MS : backoff * 2;
			continue;
		}
		if (backoff > 0) {
			log_info("reading the event log again");
			backoff = 0;
		}
		if (listening == -1)
			listening = store_listen(store);
	}
	return (NULL);
}

/* Loop: gives a batch's events to the broker and frees it. */
static void
tail_publish(struct tail_batch *b)
{
	int	 i;

	for (i = 0; i < b->ev->n; i++) {
		broker_publish(&b->ev->rows[i]);
		last_id = b->ev->rows[i].id;
	}
	tail_batch_free(b);
}

/* Loop: publishes every batch queued since the last turn, then one write
 * per stream for all of them, as when the loop read the log itself. */
static void
tail_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tail_queue	 q = TAILQ_HEAD_INITIALIZER(q);
	struct tail_batch	*b;
	int			 n = 0;

	(void)fd; (void)what; (void)arg;
	pthread_mutex_lock(&lock);
	TAILQ_CONCAT(&q, &queue, entry);
	pthread_mutex_unlock(&lock);
	while ((b = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, b, entry);
		tail_publish(b);
		n++;
	}
	if (n == 0)
		return;
	broker_flush();
	pthread_mutex_lock(&lock);
	held -= n;
	pthread_cond_signal(&room);
	pthread_mutex_unlock(&lock);
}

/* Loop: the store callback of the last read, after the thread ended. */
static void
tail_row(void *arg, const struct event_row *ev)
{
	(void)arg;
	broker_publish(ev);
	last_id = ev->id;
}

/* Loop: ends the thread; the batches it left are dropped with
 * publish 0, else published. */
static void
tail_join(int publish)
{
	struct tail_batch	*b;
	char			 c = 0;

	if (!started)
		return;
	atomic_store(&stopping, 1);
	pthread_mutex_lock(&lock);
	pthread_cond_broadcast(&room);
	pthread_mutex_unlock(&lock);
	if (write(wake_fd[1], &c, 1) == -1 && errno != EAGAIN)
		log_warn("tail: cannot wake its thread: %s", strerror(errno));
	pthread_join(thread, NULL);
	started = 0;
	while ((b = TAILQ_FIRST(&queue)) != NULL) {
		TAILQ_REMOVE(&queue, b, entry);
		held--;
		if (publish)
			tail_publish(b);
		else
			tail_batch_free(b);
	}
	if (publish)
		broker_flush();
}

/* Loop, at shutdown: ends the thread, and publishes every event
 * committed until now, read on the loop from the thread's store (at most
 * the store's time limit on PostgreSQL). */
void
tail_drain(void)
{
	int	 n;

	if (!started)
		return;
	tail_join(1);
	do {
		n = store_event_range(store, last_id, 0, NULL, NULL, NULL,
		    NULL, TAIL_BATCH, tail_row, NULL);
		broker_flush();
	} while (n == TAIL_BATCH);
	if (n < 0)
		log_warn("reading the event log failed at shutdown: events "
		    "after %lld were not sent", (long long)last_id);
}

/* Any thread: a local commit happened. One byte in the pipe until the
 * thread takes it. */
void
tail_wake(void)
{
	char	 c = 0;

	if (wake_fd[1] == -1 || atomic_exchange(&wake_pending, 1))
		return;
	if (write(wake_fd[1], &c, 1) == -1 && errno != EAGAIN)
		log_warn("tail: cannot wake its thread: %s", strerror(errno));
}

/* Loop, at start-up: st becomes the tail's (closed by the caller after
 * tail_free). Events from the log's end on are published; the thread
 * starts. -1 (logged) if it cannot. */
int
tail_init(struct event_base *base, struct store *st)
{
	int	 i;

	store = st;
	last_id = read_id = store_event_max(store);
	broker_set_head(last_id);
	if (pipe(wake_fd) == -1) {
		log_error("tail: pipe: %s", strerror(errno));
		return (-1);
	}
	for (i = 0; i < 2; i++)
		if (fcntl(wake_fd[i], F_SETFL, O_NONBLOCK) == -1 ||
		    fcntl(wake_fd[i], F_SETFD, FD_CLOEXEC) == -1) {
			log_error("tail: fcntl: %s", strerror(errno));
			return (-1);
		}
	ready_ev = event_new(base, -1, 0, tail_ready_cb, NULL);
	atomic_store(&stopping, 0);
	atomic_store(&wake_pending, 0);
	if (pthread_create(&thread, NULL, tail_main, NULL) != 0) {
		log_error("tail: cannot start its thread");
		return (-1);
	}
	started = 1;
	return (0);
}

/* Loop, at teardown: ends the thread if still running (its batches are
 * dropped) and frees what the tail holds; the store stays open. */
void
tail_free(void)
{
	int	 i;

	tail_join(0);
	if (ready_ev != NULL)
		event_free(ready_ev);
	ready_ev = NULL;
	for (i = 0; i < 2; i++) {
		if (wake_fd[i] != -1)
			close(wake_fd[i]);
		wake_fd[i] = -1;
	}
	event_copy_clear(&copy);
	store = NULL;
}
