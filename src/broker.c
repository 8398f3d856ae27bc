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

/* The broker: topics, the streams subscribed to them, fan-out of each
 * event (framed once, written to every live stream of its topics),
 * heartbeats, the replay that brings a resuming stream up to the live
 * position, and closing streams whose client stopped reading. Everything
 * here runs on the event loop thread.
 *
 * Fan-out goes in passes over a topic's streams, FLUSH_STREAMS at a time
 * per turn of the loop, so that requests are still read and answered
 * while thousands of streams are written. Events that arrive during a
 * pass are written together with the older ones to the streams the pass
 * has not reached yet: one write for several events, the busier the
 * loop the more. */

#include <sys/queue.h>
#include <sys/uio.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "basalt.h"

#define TOPIC_BUCKETS	4096

/* An event framed for SSE, shared by the topics it goes to. */
struct frame {
	int			 refs;
	size_t			 len;
	char			 data[];
};

struct topic {
	char			*key;		/* realm/app/coll[/record] */
	char			 realm[MAX_NAME_LEN + 1];
	char			 app[MAX_NAME_LEN + 1];
	char			 collection[MAX_NAME_LEN + 1];
	char			 record_id[ULID_LEN + 1];
	TAILQ_HEAD(, stream)	 streams;
	int			 publishing;	/* on the pending list */
	struct frame		**frames;	/* not yet written to all */
	struct iovec		*iov;		/* the same, for writev */
	int64_t			*ids;		/* their ids, ascending */
	int			 nframes, framecap;
	struct stream		*cursor;	/* the pass's next stream */
	int			 in_pass;
	int64_t			 pass_upto;	/* every stream has these */
	TAILQ_ENTRY(topic)	 pending;
	struct topic		*next;		/* hash chain */
};

struct stream {
	struct conn		*conn;
	struct topic		*topic;
	int64_t			 last_id;	/* the last event it has */
	int			 live;		/* 0 while replaying */
	int			 queued;	/* on the replay queue */
	TAILQ_ENTRY(stream)	 entry;		/* in its topic */
	TAILQ_ENTRY(stream)	 all;
	TAILQ_ENTRY(stream)	 replay;
};

static struct topic		*buckets[TOPIC_BUCKETS];
static TAILQ_HEAD(, topic)	 pending = TAILQ_HEAD_INITIALIZER(pending);
static TAILQ_HEAD(, stream)	 all_streams = TAILQ_HEAD_INITIALIZER(all_streams);
static TAILQ_HEAD(, stream)	 replay_queue = TAILQ_HEAD_INITIALIZER(replay_queue);
static struct event		*heartbeat_ev, *replay_ev, *flush_ev;
static struct store		*store;
static int64_t			 head;		/* the last event published */
static int			 nstreams;
static int			 heartbeat_now;

static void	broker_heartbeat_arm(void);

int
broker_count(void)
{
	return (__atomic_load_n(&nstreams, __ATOMIC_RELAXED));
}

static unsigned int
topic_hash(const char *key)
{
	unsigned int	 h = 2166136261u;

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return (h % TOPIC_BUCKETS);
}

static void
topic_key(char *out, size_t len, const char *realm, const char *app,
    const char *coll, const char *record_id)
{
	snprintf(out, len, "%s/%s/%s%s%s", realm, app, coll,
	    record_id != NULL && *record_id != '\0' ? "/" : "",
	    record_id != NULL ? record_id : "");
}

static struct topic *
topic_find(const char *key)
{
	struct topic	*t;

	for (t = buckets[topic_hash(key)]; t != NULL; t = t->next)
		if (strcmp(t->key, key) == 0)
			return (t);
	return (NULL);
}

static struct topic *
topic_get(const struct stream_spec *spec)
{
	struct topic	*t;
	char		 key[512];
	unsigned int	 h;

	topic_key(key, sizeof key, spec->realm, spec->app, spec->collection,
	    spec->record_id);
	if ((t = topic_find(key)) != NULL)
		return (t);
	t = xcalloc(1, sizeof *t);
	t->key = xstrdup(key);
	strlcpy_b(t->realm, spec->realm, sizeof t->realm);
	strlcpy_b(t->app, spec->app, sizeof t->app);
	strlcpy_b(t->collection, spec->collection, sizeof t->collection);
	strlcpy_b(t->record_id, spec->record_id, sizeof t->record_id);
	TAILQ_INIT(&t->streams);
	h = topic_hash(key);
	t->next = buckets[h];
	buckets[h] = t;
	return (t);
}

static void
topic_release(struct topic *t)
{
	struct topic	**pp;

	if (t->publishing || !TAILQ_EMPTY(&t->streams))
		return;
	for (pp = &buckets[topic_hash(t->key)]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	free(t->key);
	free(t);
}

/* Closes the stream if its client is too far behind. Returns -1 if the
 * stream is gone. */
static int
stream_check(struct stream *s)
{
	if (conn_pending(s->conn) <= cfg->stream_buffer_limit)
		return (0);
	/* Behind, or only not flushed yet? */
	if (conn_flush(s->conn) == -1)
		return (-1);
	if (conn_pending(s->conn) > cfg->stream_buffer_limit) {
		log_info("closing a stream of %s: its client is %zu bytes "
		    "behind", s->topic->key, conn_pending(s->conn));
		conn_close(s->conn);	/* calls broker_stream_closed */
		return (-1);
	}
	return (0);
}

/* Queues a frame (it is written at the next flush point). Returns -1 if
 * the stream is gone. */
static int
stream_send(struct stream *s, const char *frame, size_t len)
{
	if (conn_write(s->conn, frame, len) == -1)
		return (-1);
	return (stream_check(s));
}

/* "id: N\nevent: T\ndata: D\n\n" */
static char *
frame_event(const struct event_row *ev, size_t *len)
{
	char	*f;
	int	 n;

	n = xasprintf(&f, "id: %lld\nevent: %s\ndata: %.*s\n\n",
	    (long long)ev->id, ev->type, (int)ev->data_len, ev->data);
	*len = (size_t)n;
	return (f);
}

static struct frame *
frame_new(const struct event_row *ev)
{
	struct frame	*f;
	int		 n;

	n = snprintf(NULL, 0, "id: %lld\nevent: %s\ndata: %.*s\n\n",
	    (long long)ev->id, ev->type, (int)ev->data_len, ev->data);
	f = xmalloc(sizeof *f + (size_t)n + 1);
	snprintf(f->data, (size_t)n + 1, "id: %lld\nevent: %s\ndata: %.*s\n\n",
	    (long long)ev->id, ev->type, (int)ev->data_len, ev->data);
	f->len = (size_t)n;
	f->refs = 0;
	return (f);
}

static void
frame_unref(struct frame *f)
{
	if (--f->refs == 0)
		free(f);
}

/* Adds a frame to t's pending ones. */
static void
topic_queue(struct topic *t, int64_t id, struct frame *f)
{
	if (!t->publishing) {
		t->publishing = 1;
		TAILQ_INSERT_TAIL(&pending, t, pending);
	}
	if (t->nframes == t->framecap) {
		t->framecap = t->framecap == 0 ? 16 : t->framecap * 2;
		t->frames = xrealloc(t->frames,
		    t->framecap * sizeof *t->frames);
		t->iov = xrealloc(t->iov, t->framecap * sizeof *t->iov);
		t->ids = xrealloc(t->ids, t->framecap * sizeof *t->ids);
	}
	f->refs++;
	t->frames[t->nframes] = f;
	t->iov[t->nframes].iov_base = f->data;
	t->iov[t->nframes].iov_len = f->len;
	t->ids[t->nframes++] = id;
}

/* Drops the frames every stream of t has (ids up to upto). */
static void
topic_drop(struct topic *t, int64_t upto)
{
	int	 i, k;

	for (k = 0; k < t->nframes && t->ids[k] <= upto; k++)
		frame_unref(t->frames[k]);
	for (i = k; i < t->nframes; i++) {
		t->frames[i - k] = t->frames[i];
		t->iov[i - k] = t->iov[i];
		t->ids[i - k] = t->ids[i];
	}
	t->nframes -= k;
	if (t->nframes == 0) {
		free(t->frames);
		free(t->iov);
		free(t->ids);
		t->frames = NULL;
		t->iov = NULL;
		t->ids = NULL;
		t->framecap = 0;
	}
}

/* Writes to s, in one write, the frames of t it lacks. */
static void
topic_write(struct topic *t, struct stream *s)
{
	int	 i;

	if (!s->live || t->ids[t->nframes - 1] <= s->last_id)
		return;
	for (i = 0; i < t->nframes && t->ids[i] <= s->last_id; i++)
		continue;
	if (conn_write_frames(s->conn, t->iov + i, t->nframes - i) == -1)
		return;		/* closing or gone */
	s->last_id = t->ids[t->nframes - 1];
	stream_check(s);
}

/* Goes on with t's pass for at most *budget streams. Returns 1 when the
 * pass ended and t has nothing more to write. */
static int
topic_pump(struct topic *t, int *budget)
{
	struct stream	*s;

	if (!t->in_pass) {
		t->in_pass = 1;
		t->cursor = TAILQ_FIRST(&t->streams);
		t->pass_upto = t->ids[t->nframes - 1];
	}
	while ((s = t->cursor) != NULL && *budget > 0) {
		t->cursor = TAILQ_NEXT(s, entry);
		(*budget)--;
		topic_write(t, s);
	}
	if (t->cursor != NULL)
		return (0);
	/* Every stream of the pass has its frames up to pass_upto; newer
	 * ones arrived during the pass and need another. */
	t->in_pass = 0;
	topic_drop(t, t->pass_upto);
	return (t->nframes == 0);
}

/* Writes pending frames to at most budget streams (all if -1). */
static void
broker_pump(int budget)
{
	struct topic	*t;
	int		 left = budget < 0 ? INT_MAX : budget;

	while (left > 0 && (t = TAILQ_FIRST(&pending)) != NULL) {
		TAILQ_REMOVE(&pending, t, pending);
		if (topic_pump(t, &left)) {
			t->publishing = 0;
			topic_release(t);
		} else
			TAILQ_INSERT_TAIL(&pending, t, pending);
	}
	if (!TAILQ_EMPTY(&pending) && flush_ev != NULL)
		event_active(flush_ev, EV_READ, 0);
	conn_flush_all();	/* what was queued behind unsent output */
}

static void
broker_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	broker_pump(FLUSH_STREAMS);
}

/* The end of a batch of events: streams get their frames, one write per
 * stream for all the frames it lacks. */
void
broker_flush(void)
{
	broker_pump(FLUSH_STREAMS);
}

void
broker_publish(const struct event_row *ev)
{
	struct topic	*t;
	struct frame	*f = NULL;
	char		 key[512];
	int		 pass;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 1 && ev->record_id == NULL)
			break;
		topic_key(key, sizeof key, ev->realm, ev->app, ev->collection,
		    pass == 1 ? ev->record_id : NULL);
		if ((t = topic_find(key)) == NULL)
			continue;
		if (f == NULL)
			f = frame_new(ev);
		topic_queue(t, ev->id, f);
	}
	head = ev->id;
}

void
broker_set_head(int64_t id)
{
	head = id;
}

/* Replay. */

static void
replay_queue_add(struct stream *s)
{
	if (s->queued)
		return;
	s->queued = 1;
	TAILQ_INSERT_TAIL(&replay_queue, s, replay);
	event_active(replay_ev, EV_READ, 0);
}

static void
replay_queue_remove(struct stream *s)
{
	if (!s->queued)
		return;
	s->queued = 0;
	TAILQ_REMOVE(&replay_queue, s, replay);
}

struct replay_ctx {
	struct stream	*s;
	int		 gone;
};

static void
replay_row(void *arg, const struct event_row *ev)
{
	struct replay_ctx	*r = arg;
	char			*frame;
	size_t			 len;

	if (r->gone)
		return;
	frame = frame_event(ev, &len);
	if (stream_send(r->s, frame, len) == -1)
		r->gone = 1;
	else
		r->s->last_id = ev->id;
	free(frame);
}

/* One step of replay: the next batch of the stream's events up to head. */
static void
replay_step(struct stream *s)
{
	struct replay_ctx	 r = { s, 0 };
	struct topic		*t = s->topic;
	int64_t			 upto = head;
	int			 n;

	n = store_event_range(store, s->last_id, upto, t->realm, t->app,
	    t->collection, t->record_id[0] != '\0' ? t->record_id : NULL,
	    REPLAY_BATCH, replay_row, &r);
	if (r.gone || conn_flush(s->conn) == -1)
		return;
	if (n < 0) {
		log_warn("replay failed; closing the stream to be resumed");
		conn_close(s->conn);
		return;
	}
	if (n < REPLAY_BATCH) {
		s->last_id = upto;
		s->live = 1;
		replay_queue_remove(s);	/* a drain may have queued it */
		conn_watch_drain(s->conn, 0);
		return;
	}
	if (conn_pending(s->conn) < STREAM_LOW_WATER)
		replay_queue_add(s);
	else
		conn_watch_drain(s->conn, 1);	/* resumes in broker_stream_drained */
}

static void
broker_replay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream	*s;
	int		 n = TAILQ_FIRST(&replay_queue) != NULL ? 64 : 0;

	(void)fd; (void)what; (void)arg;
	/* A bounded number of steps per turn keeps the loop responsive. */
	while (n-- > 0 && (s = TAILQ_FIRST(&replay_queue)) != NULL) {
		replay_queue_remove(s);
		replay_step(s);
	}
	if (!TAILQ_EMPTY(&replay_queue))
		event_active(replay_ev, EV_READ, 0);
}

void
broker_stream_drained(struct stream *s)
{
	if (!s->live)
		replay_queue_add(s);
}

/* Subscribing. */

static void
stream_reset(struct stream *s, int64_t id, const char *reason)
{
	char	 frame[256];
	int	 n;

	n = snprintf(frame, sizeof frame, "id: %lld\nevent: reset\n"
	    "data: {\"reason\":\"%s\",\"last_event_id\":%lld}\n\n",
	    (long long)id, reason, (long long)id);
	s->last_id = id;
	s->live = 1;
	stream_send(s, frame, n);
}

void
broker_subscribe(struct conn *c, const struct stream_spec *spec)
{
	struct stream	*s;
	int64_t		 max;

	s = xcalloc(1, sizeof *s);
	s->conn = c;
	s->topic = topic_get(spec);
	TAILQ_INSERT_TAIL(&s->topic->streams, s, entry);
	TAILQ_INSERT_TAIL(&all_streams, s, all);
	__atomic_add_fetch(&nstreams, 1, __ATOMIC_RELAXED);
	conn_set_stream(c, s);
	s->last_id = head;
	s->live = 1;
	if (!spec->has_last_id)
		return;
	max = store_event_max(store);
	if (spec->last_id < store_event_pruned(store, spec->realm, spec->app)) {
		stream_reset(s, max > head ? max : head, "events_pruned");
		return;
	}
	if (spec->last_id > max) {
		stream_reset(s, max > head ? max : head, "unknown_event_id");
		return;
	}
	s->last_id = spec->last_id;
	if (s->last_id < head) {
		s->live = 0;
		replay_queue_add(s);
	}
}

void
broker_stream_closed(struct stream *s)
{
	struct topic	*t = s->topic;

	replay_queue_remove(s);
	if (t->cursor == s)
		t->cursor = TAILQ_NEXT(s, entry);
	TAILQ_REMOVE(&t->streams, s, entry);
	TAILQ_REMOVE(&all_streams, s, all);
	__atomic_sub_fetch(&nstreams, 1, __ATOMIC_RELAXED);
	free(s);
	topic_release(t);
}

/* Heartbeats. */

static void
broker_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	static const char	 beat[] = ":keepalive\n\n";
	struct stream		*s, *next;

	(void)fd; (void)what; (void)arg;
	for (s = TAILQ_FIRST(&all_streams); s != NULL; s = next) {
		next = TAILQ_NEXT(s, all);
		stream_send(s, beat, sizeof beat - 1);
	}
	conn_flush_all();
	if (heartbeat_now != cfg->heartbeat_interval)
		broker_heartbeat_arm();
}

static void
broker_heartbeat_arm(void)
{
	struct timeval	 tv = { cfg->heartbeat_interval, 0 };

	heartbeat_now = cfg->heartbeat_interval;
	event_del(heartbeat_ev);
	event_add(heartbeat_ev, &tv);
}

void
broker_reconfigure(void)
{
	broker_heartbeat_arm();
}

void
broker_init(struct event_base *base, struct store *st)
{
	store = st;
	heartbeat_ev = event_new(base, -1, EV_PERSIST, broker_heartbeat_cb,
	    NULL);
	replay_ev = event_new(base, -1, 0, broker_replay_cb, NULL);
	flush_ev = event_new(base, -1, 0, broker_flush_cb, NULL);
	broker_heartbeat_arm();
}

/* Ends every stream cleanly: the web server gets END_REQUEST. */
void
broker_end_all(void)
{
	struct stream	*s;

	broker_pump(-1);	/* what the streams are owed, first */
	while ((s = TAILQ_FIRST(&all_streams)) != NULL)
		conn_end(s->conn);	/* calls broker_stream_closed */
}

void
broker_free(void)
{
	struct stream	*s;

	broker_pump(-1);
	while ((s = TAILQ_FIRST(&all_streams)) != NULL)
		conn_close(s->conn);
	if (heartbeat_ev != NULL)
		event_free(heartbeat_ev);
	if (replay_ev != NULL)
		event_free(replay_ev);
	if (flush_ev != NULL)
		event_free(flush_ev);
	heartbeat_ev = replay_ev = flush_ev = NULL;
}
