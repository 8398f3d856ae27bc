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
 * here runs on the event loop thread. */

#include <sys/queue.h>
#include <sys/uio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "basalt.h"

#define TOPIC_BUCKETS	4096

struct topic {
	char			*key;		/* realm/app/coll[/record] */
	char			 realm[MAX_NAME_LEN + 1];
	char			 app[MAX_NAME_LEN + 1];
	char			 collection[MAX_NAME_LEN + 1];
	char			 record_id[ULID_LEN + 1];
	TAILQ_HEAD(, stream)	 streams;
	int			 publishing;	/* has frames of this batch */
	struct iovec		*frames;	/* this batch's, in id order */
	int64_t			*ids;
	int			 nframes, framecap;
	struct topic		*batch_next;
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
static struct topic		*batch_topics;	/* with frames to write */
static char			**batch_frames;	/* freed after the batch */
static int			 nbatch_frames, batch_cap;
static TAILQ_HEAD(, stream)	 all_streams = TAILQ_HEAD_INITIALIZER(all_streams);
static TAILQ_HEAD(, stream)	 replay_queue = TAILQ_HEAD_INITIALIZER(replay_queue);
static struct event		*heartbeat_ev, *replay_ev;
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

/* Keeps a frame of the batch for broker_flush. */
static void
topic_queue(struct topic *t, int64_t id, char *frame, size_t len)
{
	if (!t->publishing) {
		t->publishing = 1;
		t->batch_next = batch_topics;
		batch_topics = t;
	}
	if (t->nframes == t->framecap) {
		t->framecap = t->framecap == 0 ? 16 : t->framecap * 2;
		t->frames = xrealloc(t->frames,
		    t->framecap * sizeof *t->frames);
		t->ids = xrealloc(t->ids, t->framecap * sizeof *t->ids);
	}
	t->frames[t->nframes].iov_base = frame;
	t->frames[t->nframes].iov_len = len;
	t->ids[t->nframes++] = id;
}

/* Writes the batch's frames to every live stream of t that lacks them:
 * one write per stream. */
static void
topic_flush(struct topic *t)
{
	struct stream	*s, *next;
	int		 i;

	for (s = TAILQ_FIRST(&t->streams); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (!s->live)
			continue;
		for (i = 0; i < t->nframes && t->ids[i] <= s->last_id; i++)
			continue;
		if (i == t->nframes)
			continue;
		if (conn_write_frames(s->conn, t->frames + i,
		    t->nframes - i) == -1)
			continue;	/* closing or gone */
		s->last_id = t->ids[t->nframes - 1];
		stream_check(s);
	}
}

/* The end of a batch of events: each stream gets its frames in one
 * write. */
void
broker_flush(void)
{
	struct topic	*t;
	int		 i;

	while ((t = batch_topics) != NULL) {
		batch_topics = t->batch_next;
		topic_flush(t);
		free(t->frames);
		free(t->ids);
		t->frames = NULL;
		t->ids = NULL;
		t->nframes = t->framecap = 0;
		t->publishing = 0;
		topic_release(t);
	}
	for (i = 0; i < nbatch_frames; i++)
		free(batch_frames[i]);
	nbatch_frames = 0;
	conn_flush_all();	/* what was queued behind unsent output */
}

void
broker_publish(const struct event_row *ev)
{
	struct topic	*t;
	char		 key[512], *frame = NULL;
	size_t		 len = 0;
	int		 pass;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 1 && ev->record_id == NULL)
			break;
		topic_key(key, sizeof key, ev->realm, ev->app, ev->collection,
		    pass == 1 ? ev->record_id : NULL);
		if ((t = topic_find(key)) == NULL)
			continue;
		if (frame == NULL) {
			frame = frame_event(ev, &len);
			if (nbatch_frames == batch_cap) {
				batch_cap = batch_cap == 0 ? 64 : batch_cap * 2;
				batch_frames = xrealloc(batch_frames,
				    batch_cap * sizeof *batch_frames);
			}
			batch_frames[nbatch_frames++] = frame;
		}
		topic_queue(t, ev->id, frame, len);
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
	if (spec->last_id < store_event_pruned(store)) {
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
	broker_heartbeat_arm();
}

/* Ends every stream cleanly: the web server gets END_REQUEST. */
void
broker_end_all(void)
{
	struct stream	*s;

	while ((s = TAILQ_FIRST(&all_streams)) != NULL)
		conn_end(s->conn);	/* calls broker_stream_closed */
}

void
broker_free(void)
{
	struct stream	*s;

	broker_flush();
	free(batch_frames);
	batch_frames = NULL;
	batch_cap = 0;
	while ((s = TAILQ_FIRST(&all_streams)) != NULL)
		conn_close(s->conn);
	if (heartbeat_ev != NULL)
		event_free(heartbeat_ev);
	if (replay_ev != NULL)
		event_free(replay_ev);
	heartbeat_ev = replay_ev = NULL;
}
