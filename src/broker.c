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
 * here runs on the event loop thread, but the reads of the database,
 * which the broker's reader thread does (see struct rread).
 *
 * Fan-out goes in passes over a topic's streams, FLUSH_STREAMS at a time
 * per turn of the loop, so that requests are still read and answered
 * while thousands of streams are written. Events that arrive during a
 * pass are written together with the older ones to the streams the pass
 * has not reached yet: one write for several events, the busier the
 * loop the more.
 *
 * A store callback (tail_row, replay_row) only queues bytes: it never
 * writes to a socket, so it never closes a stream or frees a topic while
 * the store still reads the topic's names. Checks, writes and closes
 * happen once the store call has returned.
 *
 * A stream's limit (stream_buffer_limit) bounds what waits behind the
 * frame at the head of its output: a stream with nothing queued takes
 * its next frame whatever its size, so no event blocks a stream.
 *
 * Filtered streams (filter=, types=) share a topic when they have the
 * same collection or record, filter text and types; a collection's (or
 * record's) filtered topics make its group. Each event is offered to a
 * topic through pub_variant, which decides from the record before and
 * after the write what the topic gets of it: the event as logged, a
 * record_entered or record_left in its place, or nothing. Replay asks
 * the same function, so a resumed stream gets what a live one got. An
 * event is framed once per variant (struct pub) and the frame shared.
 *
 * An end user's stream (a JWT) is a filtered one whose filter is its
 * collection's rules bound to the token (broker_spec_bind), and whose
 * topic also says which custom events it takes (the subscribe rule). A
 * change of the rules (rules_changed in the log, never sent as such)
 * reaches it as a reset, after which it is bound to the rules as they
 * are then and replays from there (stream_rebind).
 *
 * The change feed of an app is a topic of its own kind (feed): it takes
 * every event of the app, or of the collections it names, through the
 * same pub_variant, with each collection's rules bound apart for an end
 * user (struct feed_bind); a collection's end goes on as an event and
 * ends nothing. Live feeds sit on one list that each event is offered
 * to. An NDJSON feed is no stream: a worker reads it in pages through
 * a topic of its own (broker_feed_page), one line per event. */

/*
 * An event, from its commit to a stream:
 *
 * writer  writer_batch commits the record and its event row together,
 *         then tail_wake (any thread) wakes the tail's thread.
 * tail    tail_main reads the log after the last id it handed over
 *         (tail_read: store_event_range, TAIL_BATCH rows a step), copies
 *         each step into a batch and queues it for the loop.
 * loop    tail_ready_cb -> tail_publish: each row goes
 *         to broker_publish, which frames it once
 *         (frame_new -> sse_frame) and queues the frame on its
 *         collection's topic and its record's (topic_queue; a
 *         collection_deleted on the collection's record topics too).
 *         After the batches queued, broker_flush -> broker_pump: topic_pump passes
 *         over a topic's streams, FLUSH_STREAMS a turn (the rest in
 *         broker_flush_cb), and topic_write gives each live stream the
 *         frames it lacks in one conn_write_frames (writev), then ends it
 *         after its collection's end (stream_end) or closes it if its
 *         client is too far behind (stream_check).
 *
 * Commits of other processes take the same road: the tail's thread sees
 * store_data_version move (SQLite's PRAGMA data_version; on PostgreSQL a
 * notification, or log_head's last id as the fall-back) and reads the
 * log. A stream that resumes
 * gets its backlog from the log (replay_step asks the reader, which reads
 * it; replay_answer writes it) until it reaches the head, then takes
 * frames from topic_write like the others.
 */

#include <sys/queue.h>
#include <sys/uio.h>

#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "basalt.h"

#define TOPIC_BUCKETS	4096
#define SLOT_BUCKETS	16384
#define REVOKED_OVERLAP	5	/* seconds looked back past the last look */
#define READS_IN_FLIGHT	64	/* streams' reads queued to the reader */
#define READ_RETRY_MS	500	/* a failed read is tried again after */

/* What a frame does to the streams it is written to, besides. */
enum { FRAME_GOES_ON, FRAME_END, FRAME_RULES, FRAME_REBIND };

/* An event framed for SSE, shared by the topics it goes to. */
struct frame {
	int			 refs;
	int			 ends;		/* FRAME_END: the last one of a
						   stream; FRAME_RULES: its
						   rules are bound again;
						   FRAME_REBIND: the same
						   after this event, whatever
						   the binding's age */
	size_t			 len;
	char			 data[];
};

struct topic {
	char			*key;		/* realm/app/coll[/record], then
						   for a filtered one "\n" types
						   "\n" filter; an end user's
						   has "\n" topic_key_jwt before
						   the types */
	int			 baselen;	/* the key up to the "\n" */
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
	int			 hold;		/* replays in flight: frames */
	int64_t			 hold_from;	/* after this id are kept */
	TAILQ_ENTRY(topic)	 pending;
	struct topic		*next;		/* hash chain */

	struct filter		*filter;	/* NULL: every record event */
	char			*types;		/* ",a,b,"; NULL: every type */
	int			 jwt;		/* end users': rules apply */
	int			 subscribe;	/* their custom events */
	struct filter		*sub_filter;	/* SUBSCRIBE_SOME: which */
	struct group		*group;		/* NULL if not filtered */
	TAILQ_ENTRY(topic)	 gentry;	/* in its group */
	struct gpath		*gpath;		/* indexed: its term's path */
	struct slot		*slot;		/* ... and value; NULL: plain */
	TAILQ_ENTRY(topic)	 sentry;	/* in its slot, or plain */

	int			 feed;		/* an app's change feed */
	char			*colls;		/* ",a,b,"; NULL: all */
	struct feed_bind	*binds;		/* an end user's, by name */
	size_t			 nbinds;
	TAILQ_ENTRY(topic)	 fentry;	/* on feeds, if live */
};

/*
 * The filtered topics of one collection or record, and their index: a
 * topic whose filter has a top-level equality term on a field sits in
 * the slot of that path and value; a record write is offered only to
 * the slots of the record's values before and after it, and to the
 * plain topics (no such term, or types= alone). Other events, and writes
 * logged without the record before them, go to every topic.
 */
struct group {
	char			*key;		/* realm/app/coll[/record] */
	TAILQ_HEAD(, topic)	 topics;	/* all */
	TAILQ_HEAD(, topic)	 plain;		/* not indexed */
	struct gpath		*paths;
	struct group		*next;		/* hash chain */
};

/* A path the group's topics are indexed on. */
struct gpath {
	struct filter_path	*path;
	int			 refs;		/* topics indexed on it */
	struct gpath		*next;
};

/* The topics indexed on one path and value of one group. */
struct slot {
	char			*key;		/* group "\n" path "\n" value */
	TAILQ_HEAD(, topic)	 topics;
	struct slot		*next;		/* hash chain */
};

/* What a topic takes of an event. */
enum variant {
	V_NONE = -1,		/* nothing */
	V_AS_IS,		/* the event as logged */
	V_ENTERED,		/* record_entered: updated into the filter */
	V_LEFT,			/* record_left: updated out of it */
	V_END,			/* no frame, but its stream ends */
	V_RULES,		/* reset: the rules changed */
	V_KEEP,			/* as logged, but ends nothing (a feed) */
	V_KEEP_REBIND,		/* ... and binds an end user's again */
	V__COUNT
};

/* An event on its way to the topics: the record before and after the
 * write, parsed once a filter needs them, and its frames, made once a
 * topic takes them (each holds a reference of the pub's). */
enum { EV_OTHER, EV_CREATED, EV_UPDATED, EV_DELETED };

struct pub {
	const struct event_row	*ev;
	int			 kind;
	int			 parsed;
	json_object		*before, *after;
	struct filter_rec	 rb, ra;
	int			 has_before;	/* -1: not logged; 0: unusable */
	int			 has_after;
	int			 ndjson;	/* frames are NDJSON lines */
	struct frame		*frames[V__COUNT];
};

struct stream {
	struct conn		*conn;
	struct topic		*topic;
	int64_t			 last_id;	/* the last event it has */
	int			 live;		/* 0 while replaying */
	int64_t			 rebind;	/* bind its rules again first, as
						   of this change */
	int64_t			 bound_at;	/* a new stream bound to rules no
						   older: no reset for changes
						   up to it */
	int			 queued;	/* on the replay queue (1) or
						   waiting to retry (2) */
	struct rread		*reading;	/* its read in flight */
	int64_t			 end_checked;	/* replay: no end up to it */
	char			 token_id[TOKEN_ID_LEN + 1];
	int64_t			 expires_at;
	struct event		*expire_ev;	/* ends it at expires_at */
	/* An end user's: what its rules are bound to again when they
	 * change. */
	int64_t			 collection_id;	/* a feed's: the app's id */
	char			*claims;
	char			*user_filter;
	TAILQ_ENTRY(stream)	 entry;		/* in its topic */
	TAILQ_ENTRY(stream)	 all;
	TAILQ_ENTRY(stream)	 replay;
};

static struct topic		*buckets[TOPIC_BUCKETS];
static struct group		*groups[TOPIC_BUCKETS];
static struct slot		*slots[SLOT_BUCKETS];
static int			 ngroups;
static TAILQ_HEAD(, topic)	 pending = TAILQ_HEAD_INITIALIZER(pending);
static TAILQ_HEAD(, stream)	 all_streams = TAILQ_HEAD_INITIALIZER(all_streams);
static TAILQ_HEAD(, stream)	 replay_queue = TAILQ_HEAD_INITIALIZER(replay_queue);
static TAILQ_HEAD(, topic)	 feeds = TAILQ_HEAD_INITIALIZER(feeds);
static uint64_t			 feed_serial;	/* names unshared feeds */
static struct event		*heartbeat_ev, *replay_ev, *flush_ev;
static struct event_base	*evbase;
static int64_t			 head;		/* the last event published */
static int			 nstreams;
static int			 heartbeat_now;
static int			 pump_delivered;	/* frames written in this
						   pump, for the metrics */
static int			 in_store;	/* inside a store callback */
static int64_t			 revoked_seen;	/* tokens revoked since */

/* The last change of rules seen of each collection that had one. */
struct rules_seen {
	char			*key;		/* realm/app/coll */
	int64_t			 id;
	struct rules_seen	*next;
};
static struct rules_seen	*rules_seen[TOPIC_BUCKETS];

/* The rules of one collection as read after one change, shared by every
 * stream that is bound again for it. */
static struct {
	int64_t			 collection_id;
	int64_t			 id;
	struct rules		 rules;
} rules_cache;

static void	broker_heartbeat_arm(void);
static void	stream_reset(struct stream *, int64_t, const char *);
static void	stream_rebind(struct stream *);
static void	feed_rebind(struct stream *);
static void	stream_expire_arm(struct stream *);
static void	rules_seen_set(const struct event_row *);
static void	replay_queue_add(struct stream *);
static struct topic *feed_topic_get(struct stream_spec *);

/* Tokens revoked since the last look (by any process: the CLI revokes
 * in its own), sorted, for bsearch. */
struct revoked {
	char		(*ids)[TOKEN_ID_LEN + 1];
	size_t		 n, cap;
};

/*
 * The reader: a thread with a store of its own does the broker's reads
 * (a step of replay, the tokens revoked, a collection's rules, an end
 * user's feed bound again), so that a slow or unreachable database holds
 * up no stream and no heartbeat. The loop queues a request (one at a
 * time per stream, READS_IN_FLIGHT at most for streams); the thread
 * fills it in (rows copied) and hands it back with event_active; the
 * loop then does with the rows what it did when it read them itself. A
 * stream that closes meanwhile only forgets its request (s is NULL):
 * the answer is dropped. A failed read is tried again READ_RETRY_MS
 * later; the stream stays open and gets its heartbeats.
 *
 * While a replay step is in flight the head moves on: the step reads up
 * to the head as it was (upto), and the stream's topic keeps the frames
 * after upto (hold) until the answer is in, so the stream takes them
 * from there when it goes live: nothing twice and nothing missed.
 */
enum { RD_REPLAY, RD_REVOKED, RD_RULES, RD_FEED_BIND };

struct rread {
	int			 kind;
	struct stream		*s;		/* NULL: cancelled or none */
	struct topic		*held;		/* RD_REPLAY: its topic */
	int			 rc;		/* STORE_OK, or why not */
	TAILQ_ENTRY(rread)	 entry;

	/* RD_REPLAY */
	char			 realm[MAX_NAME_LEN + 1];
	char			 app[MAX_NAME_LEN + 1];
	char			 collection[MAX_NAME_LEN + 1];
	char			 record_id[ULID_LEN + 1];
	int			 feed, jwt;
	int64_t			 last_id, upto, from;
	int64_t			 pruned;
	int64_t			 end_id;	/* 0: no end up to upto */
	struct event_rows	*end;		/* the end's row, copied */
	struct event_rows	*rows;		/* the rows, copied */
	int			 n;		/* store_event_range's */

	/* RD_REVOKED */
	int64_t			 since, now;
	struct revoked		 rv;

	/* RD_RULES: collection_id's as of the change rules_id */
	int64_t			 collection_id, rules_id;
	struct rules		 rules;

	/* RD_FEED_BIND */
	struct stream_spec	 spec;
	struct error		 err;
};
TAILQ_HEAD(rread_queue, rread);

static struct store		*rd_store;
static struct event_copy	 rd_copy;	/* the reader's */
static pthread_t		 rd_thread;
static int			 rd_started;
static int			 rd_stopping;	/* under rd_lock */
static pthread_mutex_t		 rd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 rd_cond = PTHREAD_COND_INITIALIZER;
static struct rread_queue	 rd_todo = TAILQ_HEAD_INITIALIZER(rd_todo);
static struct rread_queue	 rd_done = TAILQ_HEAD_INITIALIZER(rd_done);
static struct event		*rd_ev, *retry_ev;
static int			 rd_streams;	/* streams' reads in flight */
static struct rread		*rd_revoked;	/* the look in flight */
static TAILQ_HEAD(, stream)	 retry_queue = TAILQ_HEAD_INITIALIZER(retry_queue);

static struct rread *rread_new(int, struct stream *);
static void	rread_submit(struct rread *);
static void	rread_detach(struct rread *);
static void	rules_read(struct stream *, int64_t);
static void	topic_drop(struct topic *, int64_t);

/* The number of open streams: any thread (an atomic read). */
int
broker_count(void)
{
	return (__atomic_load_n(&nstreams, __ATOMIC_RELAXED));
}

static unsigned int
key_hash(const char *key)
{
	unsigned int	 h = 2166136261u;

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return (h);
}

static unsigned int
topic_hash(const char *key)
{
	return (key_hash(key) % TOPIC_BUCKETS);
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

static struct group *
group_find(const char *key)
{
	struct group	*g;

	for (g = groups[topic_hash(key)]; g != NULL; g = g->next)
		if (strcmp(g->key, key) == 0)
			return (g);
	return (NULL);
}

static char *
slot_key(const struct group *g, const struct gpath *gp, const char *value)
{
	char	*key;

	xasprintf(&key, "%s\n%s\n%s", g->key, filter_path_text(gp->path),
	    value);
	return (key);
}

static struct slot *
slot_find(const char *key)
{
	struct slot	*sl;

	for (sl = slots[key_hash(key) % SLOT_BUCKETS]; sl != NULL;
	    sl = sl->next)
		if (strcmp(sl->key, key) == 0)
			return (sl);
	return (NULL);
}

/* The slot of key, made if new; takes key. */
static struct slot *
slot_get(char *key)
{
	struct slot	*sl;
	unsigned int	 h;

	if ((sl = slot_find(key)) != NULL) {
		free(key);
		return (sl);
	}
	sl = xcalloc(1, sizeof *sl);
	sl->key = key;
	TAILQ_INIT(&sl->topics);
	h = key_hash(key) % SLOT_BUCKETS;
	sl->next = slots[h];
	slots[h] = sl;
	return (sl);
}

static void
slot_release(struct slot *sl)
{
	struct slot	**pp;

	if (!TAILQ_EMPTY(&sl->topics))
		return;
	for (pp = &slots[key_hash(sl->key) % SLOT_BUCKETS]; *pp != sl;
	    pp = &(*pp)->next)
		continue;
	*pp = sl->next;
	free(sl->key);
	free(sl);
}

/* The group's entry for path, made if new; takes path. */
static struct gpath *
gpath_get(struct group *g, struct filter_path *path)
{
	struct gpath	*gp;

	for (gp = g->paths; gp != NULL; gp = gp->next)
		if (strcmp(filter_path_text(gp->path),
		    filter_path_text(path)) == 0)
			break;
	if (gp != NULL)
		filter_path_free(path);
	else {
		gp = xcalloc(1, sizeof *gp);
		gp->path = path;
		gp->next = g->paths;
		g->paths = gp;
	}
	gp->refs++;
	return (gp);
}

static void
gpath_release(struct group *g, struct gpath *gp)
{
	struct gpath	**pp;

	if (--gp->refs > 0)
		return;
	for (pp = &g->paths; *pp != gp; pp = &(*pp)->next)
		continue;
	*pp = gp->next;
	filter_path_free(gp->path);
	free(gp);
}

/* Puts a new filtered topic into its group, in the slot of its filter's
 * equality term if it has one. */
static void
group_add(struct topic *t, const char *key)
{
	struct filter_path	*path;
	struct group		*g;
	unsigned int		 h;
	char			*value;

	if ((g = group_find(key)) == NULL) {
		g = xcalloc(1, sizeof *g);
		g->key = xstrdup(key);
		TAILQ_INIT(&g->topics);
		TAILQ_INIT(&g->plain);
		h = topic_hash(key);
		g->next = groups[h];
		groups[h] = g;
		ngroups++;
	}
	TAILQ_INSERT_TAIL(&g->topics, t, gentry);
	t->group = g;
	if (t->filter == NULL ||
	    filter_index_term(t->filter, &path, &value) == -1) {
		TAILQ_INSERT_TAIL(&g->plain, t, sentry);
		return;
	}
	t->gpath = gpath_get(g, path);
	t->slot = slot_get(slot_key(g, t->gpath, value));
	free(value);
	TAILQ_INSERT_TAIL(&t->slot->topics, t, sentry);
}

static void
group_remove(struct topic *t)
{
	struct group	*g = t->group, **pp;

	TAILQ_REMOVE(&g->topics, t, gentry);
	if (t->slot != NULL) {
		TAILQ_REMOVE(&t->slot->topics, t, sentry);
		slot_release(t->slot);
		gpath_release(g, t->gpath);
	} else
		TAILQ_REMOVE(&g->plain, t, sentry);
	if (!TAILQ_EMPTY(&g->topics))
		return;
	for (pp = &groups[topic_hash(g->key)]; *pp != g; pp = &(*pp)->next)
		continue;
	*pp = g->next;
	ngroups--;
	free(g->key);
	free(g);
}

/* What an end user's topic takes of custom events, as a part of its key
 * that no service token's key has (theirs goes on with "," or "\n"), and
 * that ends where it says (the rule's text may hold any byte). */
static char *
topic_key_jwt(const struct stream_spec *spec)
{
	char	*part;

	if (spec->subscribe == SUBSCRIBE_SOME)
		xasprintf(&part, "@jwt if %zu:%s", strlen(spec->sub_text),
		    spec->sub_text);
	else
		part = xstrdup(spec->subscribe == SUBSCRIBE_ALL ? "@jwt all" :
		    "@jwt none");
	return (part);
}

/* The spec's topic, made if new; a new filtered one takes the spec's
 * filters. */
static struct topic *
topic_get(struct stream_spec *spec)
{
	struct topic	*t;
	char		 base[512], *key, *jwt;
	unsigned int	 h;

	if (spec->feed)
		return (feed_topic_get(spec));
	topic_key(base, sizeof base, spec->realm, spec->app, spec->collection,
	    spec->record_id);
	if (spec->jwt) {
		jwt = topic_key_jwt(spec);
		xasprintf(&key, "%s\n%s\n%s\n%s", base, jwt,
		    spec->types != NULL ? spec->types : "",
		    spec->filter_text);
		free(jwt);
	} else if (spec->filter_text == NULL && spec->types == NULL)
		key = xstrdup(base);
	else
		xasprintf(&key, "%s\n%s\n%s", base, spec->types != NULL ?
		    spec->types : "", spec->filter_text != NULL ?
		    spec->filter_text : "");
	if ((t = topic_find(key)) != NULL) {
		free(key);
		return (t);
	}
	t = xcalloc(1, sizeof *t);
	t->key = key;
	t->baselen = (int)strlen(base);
	strlcpy_b(t->realm, spec->realm, sizeof t->realm);
	strlcpy_b(t->app, spec->app, sizeof t->app);
	strlcpy_b(t->collection, spec->collection, sizeof t->collection);
	strlcpy_b(t->record_id, spec->record_id, sizeof t->record_id);
	TAILQ_INIT(&t->streams);
	h = topic_hash(key);
	t->next = buckets[h];
	buckets[h] = t;
	if (key[t->baselen] == '\0')
		return (t);
	assert(spec->jwt ||
	    (spec->filter != NULL) == (spec->filter_text != NULL));
	t->filter = spec->filter;
	spec->filter = NULL;
	if ((t->jwt = spec->jwt)) {
		t->subscribe = spec->subscribe;
		t->sub_filter = spec->sub_filter;
		spec->sub_filter = NULL;
	}
	if (spec->types != NULL)
		t->types = xstrdup(spec->types);
	group_add(t, base);
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
	if (t->group != NULL)
		group_remove(t);
	if (t->feed)
		TAILQ_REMOVE(&feeds, t, fentry);
	t->hold = 0;
	topic_drop(t, INT64_MAX);	/* frames held for a replay */
	free(t->colls);
	broker_binds_free(t->binds, t->nbinds);
	filter_free(t->filter);
	filter_free(t->sub_filter);
	free(t->types);
	free(t->key);
	free(t);
}

/* Closes the stream if its client is too far behind. Returns -1 if the
 * stream is gone. */
static int
stream_check(struct stream *s)
{
	assert(!in_store);
	if (conn_behind(s->conn) <= cfg->stream_buffer_limit)
		return (0);
	/* Behind, or only not flushed yet? */
	if (conn_flush(s->conn) == -1)
		return (-1);
	if (conn_behind(s->conn) > cfg->stream_buffer_limit) {
		log_info("closing a stream of %.*s: its client is %zu bytes "
		    "behind", s->topic->baselen, s->topic->key,
		    conn_behind(s->conn));
		metrics_slow_consumer();
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

/* Whether a stream ends after this event: its collection is gone. */
static int
event_ends(const char *type)
{
	return (type != NULL && strcmp(type, "collection_deleted") == 0);
}

/* Whether the event says the collection's rules changed: never sent as
 * it is, a reset for end users' streams. */
static int
event_rules(const struct event_row *ev)
{
	return (ev->record_id == NULL && ev->type != NULL &&
	    strcmp(ev->type, "rules_changed") == 0);
}

/* A log row as one line of JSON for an NDJSON feed: its id (none if
 * negative), type, collection and data (as JSON; as a string if it is
 * not, in a row another writer made). xmalloc'd, its length in *len. */
static char *
feed_line(const struct event_row *ev, size_t *len)
{
	json_object	*o, *d = NULL;
	char		*text;

	o = json_object_new_object();
	if (ev->id >= 0)
		json_object_object_add(o, "id", json_object_new_int64(ev->id));
	json_object_object_add(o, "type", json_object_new_string(
	    ev->type != NULL && ev->type[0] != '\0' ? ev->type : "message"));
	if (ev->collection != NULL)
		json_object_object_add(o, "collection",
		    json_object_new_string(ev->collection));
	if (ev->data != NULL && jsonutil_parse_depth(ev->data, ev->data_len,
	    MAX_JSON_DEPTH + 1, &d) == -1)
		d = json_object_new_string_len(ev->data, (int)ev->data_len);
	json_object_object_add(o, "data", d);
	xasprintf(&text, "%s\n", jsonutil_string(o));
	json_object_put(o);
	*len = strlen(text);
	return (text);
}

/* A log row as a frame to share between topics: sse_frame's, or an
 * NDJSON line. */
static struct frame *
frame_new(const struct event_row *ev, int ndjson)
{
	struct frame	*f;
	char		*text;
	size_t		 n;

	text = ndjson ? feed_line(ev, &n) : sse_frame(ev, &n);
	f = xmalloc(sizeof *f + n + 1);
	memcpy(f->data, text, n + 1);
	free(text);
	f->len = n;
	f->refs = 0;
	f->ends = event_ends(ev->type) ? FRAME_END : FRAME_GOES_ON;
	return (f);
}

/* Queues an event of basalt's own (not a log row when id is -1) on s. */
static int
stream_send_event(struct stream *s, int64_t id, const char *type,
    const char *data)
{
	struct event_row	 ev;
	char			*text;
	size_t			 n;
	int			 rc;

	memset(&ev, 0, sizeof ev);
	ev.id = id;
	ev.type = type;
	ev.data = data;
	ev.data_len = strlen(data);
	text = sse_frame(&ev, &n);
	rc = conn_write(s->conn, text, n);
	free(text);
	return (rc);
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

/*
 * Filters. The one rule of what a topic gets of an event, live and in
 * replay alike: an update is tested on the record before and after it,
 * a create after, a delete before; custom events and a collection's end
 * are no records' and pass any filter. types= then keeps the types it
 * lists, and a collection's end that it leaves out still ends the stream.
 */
static void
pub_init(struct pub *p, const struct event_row *ev)
{
	memset(p, 0, sizeof *p);
	p->ev = ev;
	p->kind = EV_OTHER;
	if (ev->record_id == NULL || ev->type == NULL)
		return;
	if (strcmp(ev->type, "record_created") == 0)
		p->kind = EV_CREATED;
	else if (strcmp(ev->type, "record_updated") == 0)
		p->kind = EV_UPDATED;
	else if (strcmp(ev->type, "record_deleted") == 0)
		p->kind = EV_DELETED;
}

/* A record as the API shows it, from the log: 1, or 0 if it is not one
 * (a row of another writer, say); *o is freed by the caller. */
static int
pub_record(const char *text, size_t len, json_object **o,
    struct filter_rec *r)
{
	/* a record holds its fields one level down */
	if (jsonutil_parse_depth(text, len, MAX_JSON_DEPTH + 1, o) == -1)
		return (0);
	return (filter_rec_json(*o, r) == 0);
}

static void
pub_parse(struct pub *p)
{
	const struct event_row	*ev = p->ev;

	if (p->parsed)
		return;
	p->parsed = 1;
	if (p->kind != EV_DELETED && ev->data != NULL)
		p->has_after = pub_record(ev->data, ev->data_len, &p->after,
		    &p->ra);
	if (p->kind == EV_CREATED)
		return;
	if (ev->prev == NULL)
		p->has_before = -1;	/* logged before version 4 */
	else
		p->has_before = pub_record(ev->prev, ev->prev_len, &p->before,
		    &p->rb);
}

static void
pub_clear(struct pub *p)
{
	int	 v;

	for (v = 0; v < V__COUNT; v++)
		if (p->frames[v] != NULL)
			frame_unref(p->frames[v]);
	json_object_put(p->before);
	json_object_put(p->after);
}

/* Whether types (",a,b,") lists type. */
static int
types_has(const char *types, const char *type)
{
	size_t		 n = strlen(type);
	const char	*p;

	if (n == 0)
		return (0);
	for (p = types + 1; (p = strstr(p, type)) != NULL; p++)
		if (p[-1] == ',' && p[n] == ',')
			return (1);
	return (0);
}

/* Whether an end user's topic takes a custom event: its subscribe rule
 * as bound to the token, on the event's type. */
static int
pub_subscribed(int subscribe, const struct filter *sub_filter,
    const struct event_row *ev)
{
	struct filter_rec	 r;

	if (subscribe != SUBSCRIBE_SOME)
		return (subscribe == SUBSCRIBE_ALL);
	memset(&r, 0, sizeof r);
	r.event_type = ev->type != NULL ? ev->type : "";
	return (filter_match(sub_filter, &r));
}

/* What topic t takes of the event. An update logged without the record
 * before it (by an older version) is sent as record_updated if the
 * record matches after it and as record_left if not, and such a delete
 * always: a client that applies them by id stays right. An end user's
 * topic, which must never show a record its rules hide, gets neither the
 * record_left nor the delete of such a write. */
static enum variant
pub_variant_of(const struct topic *t, struct pub *p,
    const struct filter *filter, int subscribe,
    const struct filter *sub_filter)
{
	enum variant	 v = V_AS_IS;
	const char	*type;
	int		 a, b;

	if (event_rules(p->ev))
		return (t->jwt ? V_RULES : V_NONE);
	if (t->jwt && p->kind == EV_OTHER && p->ev->record_id == NULL &&
	    !event_ends(p->ev->type) &&
	    !pub_subscribed(subscribe, sub_filter, p->ev))
		return (V_NONE);
	if (filter != NULL && p->kind != EV_OTHER) {
		pub_parse(p);
		a = p->has_after > 0 && filter_match(filter, &p->ra);
		b = p->has_before > 0 && filter_match(filter, &p->rb);
		if (p->kind == EV_CREATED)
			v = a ? V_AS_IS : V_NONE;
		else if (p->kind == EV_DELETED)
			v = b || (p->has_before < 0 && !t->jwt) ? V_AS_IS :
			    V_NONE;
		else if (p->has_before < 0)
			v = a ? V_AS_IS : t->jwt ? V_NONE : V_LEFT;
		else
			v = a && b ? V_AS_IS : a ? V_ENTERED : b ? V_LEFT :
			    V_NONE;
	}
	if (v == V_NONE || t->types == NULL)
		return (v);
	type = v == V_ENTERED ? "record_entered" : v == V_LEFT ?
	    "record_left" : p->ev->type;
	if (types_has(t->types, type))
		return (v);
	return (event_ends(p->ev->type) ? V_END : V_NONE);
}

static int
feed_bind_cmp(const void *key, const void *b)
{
	return (strcmp(key, ((const struct feed_bind *)b)->collection));
}

/* What a feed takes: the events of its collections, each judged as a
 * stream of that collection would judge it (an end user's by that
 * collection's rules, and only if it may list it); a collection's end
 * ends nothing, and types= may leave it out. A change of rules resets
 * an end user's feed whichever collection it is of: it may show one
 * that was hidden. */
static enum variant
pub_variant_feed(const struct topic *t, struct pub *p)
{
	const struct feed_bind	*b;
	enum variant		 v;

	if (t->colls != NULL && !types_has(t->colls, p->ev->collection))
		return (V_NONE);
	if (!t->jwt)
		v = pub_variant_of(t, p, t->filter, SUBSCRIBE_ALL, NULL);
	else if (event_rules(p->ev))
		return (V_RULES);
	else if ((b = bsearch(p->ev->collection, t->binds, t->nbinds,
	    sizeof *t->binds, feed_bind_cmp)) == NULL)
		return (V_NONE);
	else
		v = pub_variant_of(t, p, b->filter, b->subscribe,
		    b->sub_filter);
	if (v == V_END)
		return (V_NONE);
	/* an end user's binding must not outlive its collection: one made
	 * again under that name starts with no rules */
	if (v == V_AS_IS && event_ends(p->ev->type))
		return (t->jwt ? V_KEEP_REBIND : V_KEEP);
	return (v);
}

static enum variant
pub_variant(const struct topic *t, struct pub *p)
{
	if (t->feed)
		return (pub_variant_feed(t, p));
	return (pub_variant_of(t, p, t->filter, t->subscribe,
	    t->sub_filter));
}

/* The event's frame of variant v, made once. */
static struct frame *
pub_frame(struct pub *p, enum variant v)
{
	struct event_row	 row = *p->ev;
	struct frame		*f;
	json_object		*o;

	if (p->frames[v] != NULL)
		return (p->frames[v]);
	if (v == V_END) {
		f = xcalloc(1, sizeof *f + 1);
		f->ends = FRAME_END;
	} else if (v == V_RULES) {
		row.type = "reset";
		xasprintf((char **)&row.data, "{\"reason\":\"rules_changed\","
		    "\"last_event_id\":%lld}", (long long)row.id);
		row.data_len = strlen(row.data);
		f = frame_new(&row, p->ndjson);
		f->ends = FRAME_RULES;
		free((char *)row.data);
	} else if (v == V_LEFT) {
		o = json_object_new_object();
		json_object_object_add(o, "id",
		    json_object_new_string(row.record_id));
		json_object_object_add(o, "collection",
		    json_object_new_string(row.collection));
		row.type = "record_left";
		row.data = jsonutil_string(o);
		row.data_len = strlen(row.data);
		f = frame_new(&row, p->ndjson);
		json_object_put(o);
	} else {
		if (v == V_ENTERED)
			row.type = "record_entered";
		f = frame_new(&row, p->ndjson);
		if (v == V_KEEP || v == V_KEEP_REBIND)
			f->ends = v == V_KEEP ? FRAME_GOES_ON : FRAME_REBIND;
	}
	f->refs = 1;
	p->frames[v] = f;
	return (f);
}

/* Queues on t what it takes of the event. */
static void
topic_offer(struct topic *t, struct pub *p)
{
	enum variant	 v = pub_variant(t, p);

	if (v != V_NONE)
		topic_queue(t, p->ev->id, pub_frame(p, v));
}

static void
slot_offer(struct group *g, struct gpath *gp, const char *value,
    struct pub *p)
{
	struct topic	*t;
	struct slot	*sl;
	char		*key = slot_key(g, gp, value);

	if ((sl = slot_find(key)) != NULL)
		TAILQ_FOREACH(t, &sl->topics, sentry)
			topic_offer(t, p);
	free(key);
}

/* The topics of g that can take the event: see struct group. */
static void
group_offer(struct group *g, struct pub *p)
{
	struct topic	*t;
	struct gpath	*gp;
	char		*kb, *ka;

	if (p->kind == EV_OTHER || (p->kind != EV_CREATED &&
	    p->ev->prev == NULL)) {
		TAILQ_FOREACH(t, &g->topics, gentry)
			topic_offer(t, p);
		return;
	}
	pub_parse(p);
	for (gp = g->paths; gp != NULL; gp = gp->next) {
		kb = p->has_before > 0 ? filter_path_key(gp->path, &p->rb) :
		    NULL;
		ka = p->has_after > 0 ? filter_path_key(gp->path, &p->ra) :
		    NULL;
		if (kb != NULL)
			slot_offer(g, gp, kb, p);
		if (ka != NULL && (kb == NULL || strcmp(ka, kb) != 0))
			slot_offer(g, gp, ka, p);
		free(kb);
		free(ka);
	}
	TAILQ_FOREACH(t, &g->plain, sentry)
		topic_offer(t, p);
}

/* Drops the frames every stream of t has (ids up to upto). */
static void
topic_drop(struct topic *t, int64_t upto)
{
	int	 i, k;

	if (t->hold > 0 && upto > t->hold_from)
		upto = t->hold_from;	/* a replay in flight needs them */
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

/* Ends a stream after what it was sent: END_REQUEST, then the close. */
static void
stream_end(struct stream *s)
{
	log_debug("ending a stream of %.*s", s->topic->baselen,
	    s->topic->key);
	conn_end(s->conn);	/* calls broker_stream_closed */
}

/* Writes to s, in one write, the frames of t it lacks, up to the one
 * that ends it or has its rules bound again, if any. A change of rules
 * older than the stream's binding is passed over, and the frames after
 * it go in a second write. */
static void
topic_write(struct topic *t, struct stream *s)
{
	int	 i, j, n, rules;

	while (s->live && t->ids[t->nframes - 1] > s->last_id) {
		for (i = 0; i < t->nframes && t->ids[i] <= s->last_id; i++)
			continue;
		for (j = i; j < t->nframes - 1 && !t->frames[j]->ends; j++)
			continue;
		n = j + 1 - i;
		rules = (t->frames[j]->ends == FRAME_RULES &&
		    t->ids[j] > s->bound_at) ||
		    t->frames[j]->ends == FRAME_REBIND;
		if (t->frames[j]->len == 0 ||
		    (t->frames[j]->ends == FRAME_RULES && !rules))
			n--;	/* an end without a frame (V_END), or a
				   change older than the stream's rules */
		if (n > 0 && conn_write_frames(s->conn, t->iov + i, n) == -1)
			return;		/* closing or gone */
		pump_delivered += n > 0 ? n : 0;
		s->last_id = t->ids[j];
		if (t->frames[j]->ends == FRAME_END) {
			stream_end(s);
			return;
		}
		if (stream_check(s) == -1)
			return;
		if (rules) {
			stream_rebind(s);
			return;
		}
	}
}

/* A pass reads two cache lines of each stream and two of its connection,
 * all of them cold by the time the pass comes back, and stalls on each.
 * While the write to one stream is in the kernel, this fetches the next
 * stream's connection (that stream was fetched one step earlier) and the
 * stream after it. */
static void
stream_prefetch(struct stream *next)
{
	struct stream	*after;

	if (next == NULL)
		return;
	conn_prefetch(next->conn);
	if ((after = TAILQ_NEXT(next, entry)) != NULL) {
		__builtin_prefetch(after);
		__builtin_prefetch(&after->entry);
	}
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
		stream_prefetch(t->cursor);
		topic_write(t, s);
	}
	if (t->cursor != NULL)
		return (0);
	/* Every stream of the pass has its frames up to pass_upto; newer
	 * ones arrived during the pass and need another. */
	t->in_pass = 0;
	topic_drop(t, t->pass_upto);
	/* frames a replay holds wait for the next event, not a pass */
	return (t->nframes == 0 || t->ids[t->nframes - 1] <= t->pass_upto);
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
	/* counted once a pump, not once a stream */
	if (pump_delivered > 0) {
		metrics_delivered(pump_delivered);
		pump_delivered = 0;
	}
}

static void
broker_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	broker_pump(FLUSH_STREAMS);
}

/* The end of a batch of events: streams get their frames, one write per
 * stream for all the frames it lacks; FLUSH_STREAMS streams now, the rest
 * on later turns. Loop thread, outside a store callback: it may close
 * streams. */
void
broker_flush(void)
{
	broker_pump(FLUSH_STREAMS);
}

/* A collection's end goes to its record topics, too. */
static void
topic_queue_records(struct pub *p)
{
	const struct event_row	*ev = p->ev;
	struct topic		*t;
	size_t			 i;

	for (i = 0; i < TOPIC_BUCKETS; i++)
		for (t = buckets[i]; t != NULL; t = t->next)
			if (t->record_id[0] != '\0' &&
			    strcmp(t->collection, ev->collection) == 0 &&
			    strcmp(t->app, ev->app) == 0 &&
			    strcmp(t->realm, ev->realm) == 0)
				topic_offer(t, p);
}

/* Called from the tail's store callback (loop thread), in id order: only
 * queues. ev is needed only during the call; its id becomes head. */
void
broker_publish(const struct event_row *ev)
{
	struct topic	*t;
	struct group	*g;
	struct pub	 p;
	char		 key[512];
	int		 pass;

	pub_init(&p, ev);
	if (event_rules(ev))
		rules_seen_set(ev);
	if (ev->record_id == NULL && (event_ends(ev->type) || event_rules(ev)))
		topic_queue_records(&p);
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1 && ev->record_id == NULL)
			break;
		topic_key(key, sizeof key, ev->realm, ev->app, ev->collection,
		    pass == 1 ? ev->record_id : NULL);
		if ((t = topic_find(key)) != NULL)
			topic_offer(t, &p);
		if (ngroups > 0 && (g = group_find(key)) != NULL)
			group_offer(g, &p);
	}
	TAILQ_FOREACH(t, &feeds, fentry)
		if (strcmp(t->app, ev->app) == 0 &&
		    strcmp(t->realm, ev->realm) == 0)
			topic_offer(t, &p);
	pub_clear(&p);
	head = ev->id;
}

/* Loop thread: the id of the last event published (the tail's, at start);
 * a stream subscribed without a Last-Event-ID starts after it. */
void
broker_set_head(int64_t id)
{
	head = id;
}

/* Replay. */

static void
replay_queue_add(struct stream *s)
{
	if (s->queued || s->reading != NULL)
		return;
	s->queued = 1;
	TAILQ_INSERT_TAIL(&replay_queue, s, replay);
	event_active(replay_ev, EV_READ, 0);
}

static void
replay_queue_remove(struct stream *s)
{
	if (s->queued == 1)
		TAILQ_REMOVE(&replay_queue, s, replay);
	else if (s->queued == 2)
		TAILQ_REMOVE(&retry_queue, s, replay);
	s->queued = 0;
}

/* A stream whose read failed tries again later; it stays open. */
static void
read_retry(struct stream *s)
{
	struct timeval	 tv = { 0, READ_RETRY_MS * 1000 };

	replay_queue_remove(s);
	s->queued = 2;
	TAILQ_INSERT_TAIL(&retry_queue, s, replay);
	if (!evtimer_pending(retry_ev, NULL))
		evtimer_add(retry_ev, &tv);
}

static void
read_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream	*s;

	(void)fd; (void)what; (void)arg;
	while ((s = TAILQ_FIRST(&retry_queue)) != NULL) {
		replay_queue_remove(s);
		replay_queue_add(s);
	}
}

struct replay_ctx {
	struct stream	*s;
	int		 n;		/* frames queued */
	int		 seen;		/* rows done with, queued or not */
	int		 full;		/* the rest waits for a drain */
	int		 end;		/* a frame that ends the stream, or
					   its rules, is queued (FRAME_*) */
};

/* Queues one frame of the replay unless the stream has enough waiting
 * behind its head. Only queues: never closes the stream. */
static void
replay_frame(struct replay_ctx *r, const struct frame *f, int64_t id)
{
	struct conn	*c = r->s->conn;

	if (r->full || r->end)
		return;
	if (f->ends == FRAME_RULES && id <= r->s->bound_at) {
		r->s->last_id = id;	/* its rules are newer */
		r->seen++;
		return;
	}
	if (f->len > 0 && conn_pending(c) > 0 &&
	    conn_behind(c) + f->len > cfg->stream_buffer_limit) {
		r->full = 1;
		return;
	}
	if (f->len > 0 && conn_write(c, f->data, f->len) == -1) {
		r->full = 1;	/* cannot happen: nothing closed it */
		return;
	}
	if (f->len > 0)
		metrics_delivered(1);
	r->s->last_id = id;
	r->n++;
	r->seen++;
	r->end = f->ends;
}

static void
replay_row(void *arg, const struct event_row *ev)
{
	struct replay_ctx	*r = arg;
	struct pub		 p;
	enum variant		 v;

	if (r->full || r->end)
		return;
	pub_init(&p, ev);
	if ((v = pub_variant(r->s->topic, &p)) != V_NONE)
		replay_frame(r, pub_frame(&p, v), ev->id);
	else {
		r->s->last_id = ev->id;	/* nothing of it is the stream's */
		r->seen++;
	}
	pub_clear(&p);
}

struct replay_end {
	struct topic	*t;
	struct frame	*f;
};

static void
replay_end_row(void *arg, const struct event_row *ev)
{
	struct replay_end	*e = arg;
	struct pub		 p;
	enum variant		 v;

	pub_init(&p, ev);
	/* an end is never V_NONE: types can only take its frame, and only
	 * an end user's stream looks for a change of rules */
	v = pub_variant(e->t, &p);
	assert(v != V_NONE);
	e->f = pub_frame(&p, v);
	e->f->refs++;
	pub_clear(&p);
}

/* One step of replay: the reader reads the next batch of the stream's
 * events up to head (rread_replay); replay_answer goes on with them. */
static void
replay_step(struct stream *s)
{
	struct topic	*t = s->topic;
	struct rread	*q;

	if (s->rebind != 0) {
		stream_rebind(s);	/* then replays, or is live */
		return;
	}
	q = rread_new(RD_REPLAY, s);
	strlcpy_b(q->realm, t->realm, sizeof q->realm);
	strlcpy_b(q->app, t->app, sizeof q->app);
	strlcpy_b(q->collection, t->collection, sizeof q->collection);
	strlcpy_b(q->record_id, t->record_id, sizeof q->record_id);
	q->feed = t->feed;
	q->jwt = t->jwt;
	q->last_id = s->last_id;
	q->upto = head;
	q->from = s->end_checked > s->last_id ? s->end_checked : s->last_id;
	q->held = t;
	if (t->hold++ == 0 || head < t->hold_from)
		t->hold_from = head;
	rread_submit(q);
}

/*
 * The answer to a step of replay. A record stream ends with its
 * collection, whose end is not one of the record's events (nor is a
 * change of the collection's rules, which an end user's stream must
 * see): the reader looked for the first such end after the stream's
 * position up to upto (end), and read the rows before it. Once the
 * stream has every event up to upto it goes live, and takes from its
 * topic the frames published meanwhile (held for it).
 */
static void
replay_answer(struct stream *s, struct rread *q)
{
	struct replay_ctx	 r = { s, 0, 0, 0, 0 };
	struct topic		*t = s->topic;
	struct replay_end	 e = { t, NULL };
	struct frame		*endf = NULL;
	int64_t			 upto = q->upto, end_id = q->end_id;
	int			 i, n = q->n;

	if (q->rc != STORE_OK) {
		read_retry(s);	/* busy or unreachable: later */
		return;
	}
	if (q->pruned > s->last_id) {
		log_info("a resuming stream of %.*s lost events to retention "
		    "during its replay; sending reset", t->baselen, t->key);
		replay_queue_remove(s);
		conn_watch_drain(s->conn, 0);
		stream_reset(s, head, "events_pruned");
		return;
	}
	if (q->record_id[0] != '\0' && q->from < upto && end_id == 0)
		s->end_checked = upto;
	if (end_id > 0) {
		replay_end_row(&e, &q->end->rows[0]);
		endf = e.f;
		upto = end_id - 1;
	}
	in_store = 1;
	for (i = 0; q->rows != NULL && i < q->rows->n; i++)
		replay_row(&r, &q->rows->rows[i]);
	in_store = 0;
	if (endf != NULL && n < REPLAY_BATCH && !r.full)
		replay_frame(&r, endf, end_id);
	if (endf != NULL)
		frame_unref(endf);
	if (r.end == FRAME_END) {
		stream_end(s);
		return;
	}
	if (conn_flush(s->conn) == -1)
		return;
	if (r.end == FRAME_RULES || r.end == FRAME_REBIND) {
		stream_rebind(s);	/* and replays on under the new ones */
		return;
	}
	if (n < REPLAY_BATCH && !r.full && end_id == 0) {
		s->last_id = upto;
		s->live = 1;
		replay_queue_remove(s);	/* a drain may have queued it */
		conn_watch_drain(s->conn, 0);
		/* what was published during the read; may close s */
		if (t->nframes > 0 && t->ids[t->nframes - 1] > s->last_id)
			topic_write(t, s);
		return;
	}
	if (conn_pending(s->conn) == 0 ||
	    (r.seen > 0 && conn_pending(s->conn) < STREAM_LOW_WATER))
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
	/* A bounded number of steps per turn keeps the loop responsive,
	 * and of reads in flight the reader's queue short; the answers
	 * activate this again. */
	while (n-- > 0 && rd_streams < READS_IN_FLIGHT &&
	    (s = TAILQ_FIRST(&replay_queue)) != NULL) {
		replay_queue_remove(s);
		replay_step(s);
	}
	if (!TAILQ_EMPTY(&replay_queue) && rd_streams < READS_IN_FLIGHT)
		event_active(replay_ev, EV_READ, 0);
}

/* conn.c, loop thread: a watched stream's output fell below
 * STREAM_LOW_WATER; a replay waiting for it goes on. */
void
broker_stream_drained(struct stream *s)
{
	if (!s->live)
		replay_queue_add(s);
}

/* End users' streams: their rules. */

static struct rules_seen *
rules_seen_find(const char *key)
{
	struct rules_seen	*rs;

	for (rs = rules_seen[topic_hash(key)]; rs != NULL; rs = rs->next)
		if (strcmp(rs->key, key) == 0)
			return (rs);
	return (NULL);
}

static void
rules_seen_set(const struct event_row *ev)
{
	struct rules_seen	*rs;
	char			 key[512];
	unsigned int		 h;

	topic_key(key, sizeof key, ev->realm, ev->app, ev->collection, NULL);
	if ((rs = rules_seen_find(key)) == NULL) {
		rs = xcalloc(1, sizeof *rs);
		rs->key = xstrdup(key);
		h = topic_hash(key);
		rs->next = rules_seen[h];
		rules_seen[h] = rs;
	}
	rs->id = ev->id;
}

/* The id of the last change of t's collection's rules seen, 0 if none. */
static int64_t
rules_seen_id(const struct topic *t)
{
	struct rules_seen	*rs;
	char			 key[512];

	topic_key(key, sizeof key, t->realm, t->app, t->collection, NULL);
	return ((rs = rules_seen_find(key)) != NULL ? rs->id : 0);
}

/* A collection's rules as they are now, read once (by the reader) for
 * the change id and kept for the other streams bound again for it; NULL
 * if not read yet. */
static const struct rules *
rules_now(int64_t collection_id, int64_t id)
{
	if (rules_cache.collection_id == collection_id &&
	    rules_cache.id == id)
		return (&rules_cache.rules);
	return (NULL);
}

static void
rules_seen_free(void)
{
	struct rules_seen	*rs;
	size_t			 i;

	for (i = 0; i < TOPIC_BUCKETS; i++)
		while ((rs = rules_seen[i]) != NULL) {
			rules_seen[i] = rs->next;
			free(rs->key);
			free(rs);
		}
	rules_clear(&rules_cache.rules);
	rules_cache.collection_id = 0;
}

/* Any thread: see basalt.h. */
int
broker_spec_bind(struct stream_spec *spec, const struct rules *r,
    struct error *err)
{
	struct rule_env	 env;
	struct filter	*rule = NULL, *user = NULL, *sub = NULL;
	enum rule_verb	 verb;
	int		 rc;

	verb = spec->record_id[0] != '\0' ? RULE_VIEW : RULE_LIST;
	memset(&env, 0, sizeof env);
	if (jsonutil_parse_depth(spec->claims, strlen(spec->claims),
	    MAX_JSON_DEPTH + 1, &env.claims) == -1)
		return (error_set(err, ERR_INTERNAL, "the token's claims "
		    "cannot be read"));
	if ((rc = rule_bind(r, verb, &env, &rule, err)) != 0)
		goto done;
	if (spec->user_filter != NULL &&
	    (rc = filter_parse(spec->user_filter, &user, err)) == -1) {
		filter_free(rule);
		goto done;
	}
	if ((rc = rule_bind(r, RULE_SUBSCRIBE, &env, &sub, err)) == -1) {
		filter_free(rule);
		filter_free(user);
		goto done;
	}
	spec->subscribe = rc == RULE_UNSET ? SUBSCRIBE_NONE : sub == NULL ?
	    SUBSCRIBE_ALL : SUBSCRIBE_SOME;
	spec->sub_filter = sub;
	spec->sub_text = sub != NULL ? filter_text(sub) : NULL;
	spec->filter = filter_and(rule, user);
	spec->filter_text = spec->filter != NULL ? filter_text(spec->filter) :
	    xstrdup("");
	rc = 0;
done:
	json_object_put(env.claims);
	return (rc);
}

/* Change feeds. */

void
broker_binds_free(struct feed_bind *b, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		filter_free(b[i].filter);
		filter_free(b[i].sub_filter);
	}
	free(b);
}

struct feed_colls {
	char		(*names)[MAX_NAME_LEN + 1];
	size_t		 n, cap;
};

static void
feed_coll_add(void *arg, const char *name, const char *created)
{
	struct feed_colls	*c = arg;

	(void)created;
	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 16 : c->cap * 2;
		c->names = xrealloc(c->names, c->cap * sizeof *c->names);
	}
	strlcpy_b(c->names[c->n++], name, sizeof *c->names);
}

/* Binds one collection of an end user's feed; 1 if it is left out (its
 * list rule is unset), 0 with b filled, or -1 with err set. */
static int
feed_bind_one(struct store *st, const struct stream_spec *spec,
    int64_t coll_id, struct feed_bind *b, struct error *err)
{
	struct stream_spec	 one;
	struct rules		 r;
	int			 rc;

	if ((rc = store_rules_get(st, coll_id, &r)) != STORE_OK)
		return (error_store(err, rc, "collection"));
	memset(&one, 0, sizeof one);
	one.jwt = 1;
	one.claims = spec->claims;
	one.user_filter = spec->user_filter;
	rc = broker_spec_bind(&one, &r, err);
	rules_clear(&r);
	if (rc != 0)
		return (rc == RULE_UNSET ? 1 : -1);
	b->filter = one.filter;
	b->subscribe = one.subscribe;
	b->sub_filter = one.sub_filter;
	free(one.filter_text);
	free(one.sub_text);
	return (0);
}

/* Any thread, on st: binds an end user's feed (jwt, claims, user_filter,
 * colls and collection_id, the app's id, set) to the rules of each
 * collection of the app it names, as they are now: spec->binds, sorted
 * by name, leaves out those whose list rule is unset. 0, or -1 with err
 * set. */
int
broker_feed_bind(struct store *st, struct stream_spec *spec,
    struct error *err)
{
	struct feed_colls	 c = { NULL, 0, 0 };
	struct feed_bind	*b;
	int64_t			 id;
	size_t			 i, n = 0;
	int			 rc = 0;

	if ((rc = store_collection_list(st, spec->collection_id,
	    feed_coll_add, &c)) != STORE_OK) {
		free(c.names);
		return (error_store(err, rc, "app"));
	}
	b = xcalloc(c.n + 1, sizeof *b);
	for (i = 0; i < c.n && rc != -1; i++) {
		if (spec->colls != NULL && !types_has(spec->colls, c.names[i]))
			continue;
		if ((rc = store_collection_id(st, spec->collection_id,
		    c.names[i], &id)) == STORE_NOTFOUND) {
			rc = 0;
			continue;	/* deleted since */
		}
		if (rc != STORE_OK)
			rc = error_store(err, rc, "collection");
		else if ((rc = feed_bind_one(st, spec, id, &b[n], err)) == 0)
			strlcpy_b(b[n++].collection, c.names[i],
			    sizeof b->collection);
	}
	free(c.names);
	if (rc == -1) {
		broker_binds_free(b, n);
		return (-1);
	}
	/* store_collection_list gives them by name, as bsearch needs */
	broker_binds_free(spec->binds, spec->nbinds);
	spec->binds = b;
	spec->nbinds = n;
	return (0);
}

/* A feed's topic: shared by service tokens' feeds that ask for the
 * same; an end user's is its stream's alone. Takes the spec's filter and
 * binds. */
static struct topic *
feed_topic_get(struct stream_spec *spec)
{
	struct topic	*t;
	char		 base[512], *key;
	unsigned int	 h;

	snprintf(base, sizeof base, "%s/%s/", spec->realm, spec->app);
	if (spec->jwt)
		xasprintf(&key, "%s\n@feed #%llu", base,
		    (unsigned long long)++feed_serial);
	else
		xasprintf(&key, "%s\n@feed %s\n%s\n%s", base,
		    spec->colls != NULL ? spec->colls : "",
		    spec->types != NULL ? spec->types : "",
		    spec->filter_text != NULL ? spec->filter_text : "");
	if ((t = topic_find(key)) != NULL) {
		free(key);
		return (t);
	}
	t = xcalloc(1, sizeof *t);
	t->key = key;
	t->baselen = (int)strlen(base);
	strlcpy_b(t->realm, spec->realm, sizeof t->realm);
	strlcpy_b(t->app, spec->app, sizeof t->app);
	TAILQ_INIT(&t->streams);
	h = topic_hash(key);
	t->next = buckets[h];
	buckets[h] = t;
	t->feed = 1;
	t->jwt = spec->jwt;
	t->filter = spec->jwt ? NULL : spec->filter;
	if (!spec->jwt)
		spec->filter = NULL;
	if (spec->types != NULL)
		t->types = xstrdup(spec->types);
	if (spec->colls != NULL)
		t->colls = xstrdup(spec->colls);
	t->binds = spec->binds;
	t->nbinds = spec->nbinds;
	spec->binds = NULL;
	spec->nbinds = 0;
	TAILQ_INSERT_TAIL(&feeds, t, fentry);
	return (t);
}

/*
 * NDJSON feeds, read by a worker in pages (api_changes.c): a topic of
 * their own that no table holds, judged by the same pub_variant. A
 * change of rules (newer than the binding) is written as the reset of
 * the streams and a collection's end as itself; after either the feed
 * is bound again, on the worker's store, before the next event.
 */
struct broker_feed {
	struct topic		 t;
	char			*claims;
	char			*user_filter;
	int64_t			 app_id;
	int64_t			 bound_at;
};

struct feed_page {
	struct broker_feed	*f;
	struct evbuffer		*out;
	int64_t			*last;
	int			 rebind;	/* the rest waits for it */
	int			 full;		/* the part has enough */
};

/* Any thread: see basalt.h. */
struct broker_feed *
broker_feed_new(struct stream_spec *spec)
{
	struct broker_feed	*f;
	struct topic		*t;

	f = xcalloc(1, sizeof *f);
	t = &f->t;
	strlcpy_b(t->realm, spec->realm, sizeof t->realm);
	strlcpy_b(t->app, spec->app, sizeof t->app);
	TAILQ_INIT(&t->streams);
	t->feed = 1;
	t->jwt = spec->jwt;
	t->filter = spec->filter;
	spec->filter = NULL;
	t->types = spec->types != NULL ? xstrdup(spec->types) : NULL;
	t->colls = spec->colls != NULL ? xstrdup(spec->colls) : NULL;
	t->binds = spec->binds;
	t->nbinds = spec->nbinds;
	spec->binds = NULL;
	spec->nbinds = 0;
	f->claims = spec->claims;
	f->user_filter = spec->user_filter;
	spec->claims = spec->user_filter = NULL;
	f->app_id = spec->collection_id;
	f->bound_at = spec->bound_at;
	return (f);
}

void
broker_feed_free(struct broker_feed *f)
{
	if (f == NULL)
		return;
	filter_free(f->t.filter);
	free(f->t.types);
	free(f->t.colls);
	broker_binds_free(f->t.binds, f->t.nbinds);
	free(f->claims);
	free(f->user_filter);
	free(f);
}

static void
feed_page_row(void *arg, const struct event_row *ev)
{
	struct feed_page	*pg = arg;
	struct pub		 p;
	struct frame		*fr;
	enum variant		 v;

	if (pg->rebind || pg->full)
		return;
	/* a part holds about what a stream may have waiting */
	if (evbuffer_get_length(pg->out) >= cfg->stream_buffer_limit) {
		pg->full = 1;
		return;
	}
	pub_init(&p, ev);
	p.ndjson = 1;
	v = pub_variant(&pg->f->t, &p);
	if (v == V_RULES && ev->id <= pg->f->bound_at)
		v = V_NONE;	/* its binding is newer */
	if (v != V_NONE && v != V_END) {
		fr = pub_frame(&p, v);
		evbuffer_add(pg->out, fr->data, fr->len);
	}
	pg->rebind = v == V_RULES || v == V_KEEP_REBIND;
	*pg->last = ev->id;
	pub_clear(&p);
}

/* Any thread: see basalt.h. */
int
broker_feed_page(struct broker_feed *f, struct store *st, int64_t *last,
    int64_t end_at, struct evbuffer *out)
{
	struct feed_page	 pg = { f, out, last, 0, 0 };
	struct stream_spec	 spec;
	struct error		 err;
	int			 n;

	if (*last >= end_at)
		return (0);
	/* one snapshot for the pruned mark and the rows, as in replay */
	if (store_read_begin(st) != STORE_OK)
		return (-1);
	if (store_event_pruned(st, f->t.realm, f->t.app) > *last) {
		store_read_end(st);
		evbuffer_add_printf(out, "{\"type\":\"reset\",\"data\":"
		    "{\"reason\":\"events_pruned\",\"last_event_id\":%lld}}\n",
		    (long long)end_at);
		return (0);
	}
	n = store_event_range(st, *last, end_at, f->t.realm, f->t.app, NULL,
	    NULL, REPLAY_BATCH, feed_page_row, &pg);
	store_read_end(st);
	if (n < 0)
		return (-1);
	if (pg.rebind) {
		memset(&spec, 0, sizeof spec);
		memset(&err, 0, sizeof err);
		spec.jwt = 1;
		spec.claims = f->claims;
		spec.user_filter = f->user_filter;
		spec.colls = f->t.colls;
		spec.collection_id = f->app_id;
		if (broker_feed_bind(st, &spec, &err) == -1) {
			log_warn("a feed cannot be bound again: %s",
			    err.message);
			return (-1);
		}
		broker_binds_free(f->t.binds, f->t.nbinds);
		f->t.binds = spec.binds;
		f->t.nbinds = spec.nbinds;
		f->bound_at = *last;
	}
	return (*last < end_at && (n == REPLAY_BATCH || pg.rebind || pg.full) ?
	    1 : 0);
}

/* An end user's feed after a change of rules (its client got the reset):
 * bound again to every collection's rules as they are now (by the
 * reader: feed_answer), it replays what it lacks from there. Its topic
 * is its own. s->rebind stays set until it is bound. */
static void
feed_rebind(struct stream *s)
{
	struct rread	*q;

	q = rread_new(RD_FEED_BIND, s);
	q->spec.jwt = 1;
	q->spec.claims = xstrdup(s->claims);
	q->spec.user_filter = s->user_filter != NULL ?
	    xstrdup(s->user_filter) : NULL;
	q->spec.colls = s->topic->colls != NULL ?
	    xstrdup(s->topic->colls) : NULL;
	q->spec.collection_id = s->collection_id;
	if (s->rebind == 0)
		s->rebind = 1;
	s->live = 0;
	replay_queue_remove(s);
	rread_submit(q);
}

static void
feed_answer(struct stream *s, struct rread *q)
{
	struct topic	*t = s->topic;

	if (q->rc != STORE_OK && (q->err.code == ERR_BUSY ||
	    q->err.code == ERR_UNAVAILABLE)) {
		read_retry(s);
		return;
	}
	if (q->rc != STORE_OK) {
		log_info("ending a feed of %.*s: %s", t->baselen, t->key,
		    q->err.message);
		stream_end(s);
		return;
	}
	s->rebind = 0;
	broker_binds_free(t->binds, t->nbinds);
	t->binds = q->spec.binds;
	t->nbinds = q->spec.nbinds;
	q->spec.binds = NULL;
	q->spec.nbinds = 0;
	if (s->last_id < head) {
		s->live = 0;
		replay_queue_add(s);
	} else {
		s->live = 1;
		replay_queue_remove(s);
		conn_watch_drain(s->conn, 0);
	}
}

/*
 * Binds an end user's stream again to its collection's rules as they are
 * now, and moves it to the topic of the new binding, from where it
 * replays what it lacks. Its client got a reset first (or had not seen
 * anything under the old rules). Ends the stream if the rule it needs is
 * unset now. Outside a store callback: it may close s.
 */
static void
stream_rebind(struct stream *s)
{
	struct topic		*old = s->topic, *t;
	struct stream_spec	 spec;
	const struct rules	*r;
	struct error		 err;
	int64_t			 id;
	int			 rc;

	if (old->feed) {
		feed_rebind(s);
		return;
	}
	id = s->rebind > s->last_id ? s->rebind : s->last_id;
	if (rules_seen_id(old) > id)
		id = rules_seen_id(old);
	if ((r = rules_now(s->collection_id, id)) == NULL) {
		rules_read(s, id);	/* rules_answer binds it */
		return;
	}
	s->rebind = 0;
	memset(&spec, 0, sizeof spec);
	memset(&err, 0, sizeof err);
	strlcpy_b(spec.realm, old->realm, sizeof spec.realm);
	strlcpy_b(spec.app, old->app, sizeof spec.app);
	strlcpy_b(spec.collection, old->collection, sizeof spec.collection);
	strlcpy_b(spec.record_id, old->record_id, sizeof spec.record_id);
	spec.types = old->types;	/* topic_get copies it */
	spec.jwt = 1;
	spec.claims = s->claims;
	spec.user_filter = s->user_filter;
	rc = broker_spec_bind(&spec, r, &err);
	if (rc != 0) {
		log_info("ending a stream of %.*s: %s", old->baselen, old->key,
		    rc == RULE_UNSET ? "its rule is no longer set" :
		    err.message);
		replay_queue_remove(s);
		stream_end(s);
		goto done;
	}
	if (old->cursor == s)
		old->cursor = TAILQ_NEXT(s, entry);
	TAILQ_REMOVE(&old->streams, s, entry);
	t = topic_get(&spec);	/* old, and its types, are still there */
	s->topic = t;
	TAILQ_INSERT_TAIL(&t->streams, s, entry);
	if (t != old)
		topic_release(old);
	if (s->last_id < head) {
		s->live = 0;
		replay_queue_add(s);
	} else {
		s->live = 1;
		replay_queue_remove(s);
		conn_watch_drain(s->conn, 0);
	}
done:
	filter_free(spec.filter);
	free(spec.filter_text);
	filter_free(spec.sub_filter);
	free(spec.sub_text);
}

/* Subscribing. */

static void
stream_reset(struct stream *s, int64_t id, const char *reason)
{
	char	 data[128];

	snprintf(data, sizeof data, "{\"reason\":\"%s\",\"last_event_id\":"
	    "%lld}", reason, (long long)id);
	s->last_id = id;
	s->live = 1;
	if (stream_send_event(s, id, "reset", data) == 0)
		stream_check(s);
}

/* Worker: see basalt.h. Read in the request's snapshot. */
void
broker_spec_start(struct store *st, struct stream_spec *spec)
{
	if (!spec->has_last_id)
		return;
	spec->start_max = store_event_max(st);
	spec->start_pruned = store_event_pruned(st, spec->realm, spec->app);
	spec->start_unknown = store_event_unknown(st, spec->last_id);
}

/* Where a new stream starts: live from head, replayed from spec's last
 * id, or reset if that id was pruned or is unknown (past the head, or
 * left out by a restore), as the worker read them (broker_spec_start). */
static void
stream_start(struct stream *s, const struct stream_spec *spec)
{
	int64_t		 max;

	s->last_id = head;
	s->live = 1;
	if (spec->feed && spec->jwt && !spec->has_last_id)
		s->last_id = spec->bound_at;	/* changes since its binding */
	if (spec->feed && spec->jwt && !spec->has_last_id && s->last_id < head) {
		s->live = 0;
		replay_queue_add(s);
	}
	if (!spec->has_last_id)
		return;
	max = spec->start_max;
	if (spec->last_id < spec->start_pruned) {
		stream_reset(s, max > head ? max : head, "events_pruned");
		return;
	}
	if (spec->start_unknown) {
		stream_reset(s, max > head ? max : head, "unknown_event_id");
		return;
	}
	s->last_id = spec->last_id;
	if (s->last_id < head) {
		s->live = 0;
		replay_queue_add(s);
	}
}

/* Loop thread: takes c over as a stream of spec's topic (spec is copied,
 * its filters, claims and filter= text taken); see stream_start. */
void
broker_subscribe(struct conn *c, struct stream_spec *spec)
{
	struct stream	*s;

	assert(!spec->ndjson);	/* a worker's (broker_feed_page) */
	s = xcalloc(1, sizeof *s);
	s->conn = c;
	s->topic = topic_get(spec);
	strlcpy_b(s->token_id, spec->token_id, sizeof s->token_id);
	s->expires_at = spec->expires_at;
	if (spec->jwt) {
		s->collection_id = spec->collection_id;
		s->claims = spec->claims;
		s->user_filter = spec->user_filter;
		spec->claims = spec->user_filter = NULL;
	}
	TAILQ_INSERT_TAIL(&s->topic->streams, s, entry);
	TAILQ_INSERT_TAIL(&all_streams, s, all);
	__atomic_add_fetch(&nstreams, 1, __ATOMIC_RELAXED);
	conn_set_stream(c, s);
	stream_expire_arm(s);
	if (spec->jwt && !spec->has_last_id)
		s->bound_at = spec->bound_at;
	stream_start(s, spec);
	/* Rules that changed after the worker read them: bound again
	 * before anything more is sent (not here: that may end the
	 * stream, and the caller still holds its connection). */
	if (spec->jwt && rules_seen_id(s->topic) > spec->bound_at) {
		s->rebind = rules_seen_id(s->topic);
		s->live = 0;
		replay_queue_add(s);
	}
}

/* conn.c, loop thread, as the stream's connection goes (conn_close,
 * conn_end): frees s. Never from inside a store callback. */
void
broker_stream_closed(struct stream *s)
{
	struct topic	*t = s->topic;

	assert(!in_store);	/* the store may be reading t's names */
	if (s->reading != NULL)
		rread_detach(s->reading);	/* its answer is dropped */
	replay_queue_remove(s);
	if (t->cursor == s)
		t->cursor = TAILQ_NEXT(s, entry);
	TAILQ_REMOVE(&t->streams, s, entry);
	TAILQ_REMOVE(&all_streams, s, all);
	__atomic_sub_fetch(&nstreams, 1, __ATOMIC_RELAXED);
	if (s->expire_ev != NULL)
		event_free(s->expire_ev);
	free(s->claims);
	free(s->user_filter);
	free(s);
	topic_release(t);
}

/* Heartbeats. */

static void
revoked_add(void *arg, const char *id)
{
	struct revoked	*r = arg;

	if (r->n == r->cap) {
		r->cap = r->cap == 0 ? 16 : r->cap * 2;
		r->ids = xrealloc(r->ids, r->cap * sizeof *r->ids);
	}
	strlcpy_b(r->ids[r->n++], id, sizeof *r->ids);
}

static int
revoked_cmp(const void *a, const void *b)
{
	return (strcmp(a, b));
}

/* One indexed query per heartbeat, by the reader (revoked_answer). Looks
 * back a few seconds past the last look: revoked_at has a resolution of
 * seconds, and a stream may start just after a look with a token revoked
 * just before it. A failed look is made again at the next heartbeat,
 * from the same second. */
static void
revoked_ask(int64_t now)
{
	struct rread	*q;

	if (rd_revoked != NULL)
		return;		/* the last look is not back yet */
	if (TAILQ_EMPTY(&all_streams)) {
		revoked_seen = now;
		return;
	}
	q = rread_new(RD_REVOKED, NULL);
	q->since = revoked_seen - REVOKED_OVERLAP;
	q->now = now;
	rd_revoked = q;
	rread_submit(q);
}

/* Ends a stream whose token no longer holds, with an event (no id: it
 * is no event of the log) the client can recognise. */
static void
stream_token_end(struct stream *s, const char *why)
{
	char	 data[64];

	if (s->token_id[0] != '\0')
		snprintf(data, sizeof data, "{\"token_id\":\"%s\"}",
		    s->token_id);
	else		/* an end user's JWT */
		snprintf(data, sizeof data, "{\"expires_at\":%lld}",
		    (long long)s->expires_at);
	log_info("ending a stream of %.*s: %s", s->topic->baselen,
	    s->topic->key, why);
	if (stream_send_event(s, -1, why, data) == 0)
		stream_end(s);
	else
		conn_close(s->conn);
}

static void
stream_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream	*s = arg;

	(void)fd; (void)what;
	stream_token_end(s, "token_expired");
	conn_flush_all();
}

/* A stream whose token expires ends at that second, not at the next
 * heartbeat. */
static void
stream_expire_arm(struct stream *s)
{
	struct timeval	 tv;
	int64_t		 ms;

	if (s->expires_at == 0)
		return;
	ms = s->expires_at * 1000 - time_now_ms();
	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	s->expire_ev = evtimer_new(evbase, stream_expire_cb, s);
	evtimer_add(s->expire_ev, &tv);
}

static void
broker_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	static const char	 beat[] = ":keepalive\n\n";
	struct stream		*s, *next;
	int64_t			 now = time_now_ms() / 1000;

	(void)fd; (void)what; (void)arg;
	for (s = TAILQ_FIRST(&all_streams); s != NULL; s = next) {
		next = TAILQ_NEXT(s, all);
		if (s->expires_at != 0 && s->expires_at <= now)
			stream_token_end(s, "token_expired");
		else
			stream_send(s, beat, sizeof beat - 1);
	}
	conn_flush_all();
	revoked_ask(now);
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

/* Loop thread, once a new configuration is published: the heartbeat takes
 * its interval. */
void
broker_reconfigure(void)
{
	broker_heartbeat_arm();
}

/* The reader. */

static void
rread_row(void *arg, const struct event_row *ev)
{
	(void)arg;
	event_copy_add(&rd_copy, ev);
}

static void
rread_end_row(void *arg, const struct event_row *ev)
{
	struct rread	*q = arg;

	free(q->end);
	event_copy_add(&rd_copy, ev);
	q->end = event_copy_take(&rd_copy);
}

/* Reader thread: a step of replay, in one snapshot for the pruned mark
 * and the rows (a retention sweep between the two would take events
 * from under the stream unseen). */
static void
rread_replay(struct rread *q)
{
	struct store	*st = rd_store;
	int64_t		 upto = q->upto;

	if ((q->rc = store_read_begin(st)) != STORE_OK)
		return;
	if ((q->pruned = store_event_pruned(st, q->realm, q->app)) >
	    q->last_id) {
		store_read_end(st);
		return;
	}
	if (q->record_id[0] != '\0' && q->from < upto) {
		q->end_id = store_event_collection_end(st, q->from, upto,
		    q->realm, q->app, q->collection, q->jwt, rread_end_row, q);
		if (q->end_id < 0) {
			store_read_end(st);
			q->rc = STORE_ERROR;
			return;
		}
		if (q->end_id > 0)
			upto = q->end_id - 1;
	}
	q->n = store_event_range(st, q->last_id, upto, q->realm, q->app,
	    q->feed ? NULL : q->collection,
	    q->record_id[0] != '\0' ? q->record_id : NULL,
	    REPLAY_BATCH, rread_row, q);
	q->rows = event_copy_take(&rd_copy);
	store_read_end(st);
	if (q->n < 0)
		q->rc = STORE_ERROR;
}

/* Reader thread: does q. */
static void
rread_run(struct rread *q)
{
	switch (q->kind) {
	case RD_REPLAY:
		rread_replay(q);
		break;
	case RD_REVOKED:
		q->rc = store_token_revoked_since(rd_store, q->since,
		    revoked_add, &q->rv) != 0 ? STORE_ERROR : STORE_OK;
		break;
	case RD_RULES:
		q->rc = store_rules_get(rd_store, q->collection_id, &q->rules);
		break;
	case RD_FEED_BIND:
		q->rc = broker_feed_bind(rd_store, &q->spec, &q->err) == -1 ?
		    STORE_ERROR : STORE_OK;
		break;
	}
}

static void *
rread_main(void *arg)
{
	struct rread	*q;

	(void)arg;
	pthread_mutex_lock(&rd_lock);
	for (;;) {
		while (TAILQ_EMPTY(&rd_todo) && !rd_stopping)
			pthread_cond_wait(&rd_cond, &rd_lock);
		if (rd_stopping)
			break;
		q = TAILQ_FIRST(&rd_todo);
		TAILQ_REMOVE(&rd_todo, q, entry);
		pthread_mutex_unlock(&rd_lock);
		rread_run(q);
		pthread_mutex_lock(&rd_lock);
		TAILQ_INSERT_TAIL(&rd_done, q, entry);
		event_active(rd_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&rd_lock);
	return (NULL);
}

/* Loop: a request of s (NULL: the broker's own). */
static struct rread *
rread_new(int kind, struct stream *s)
{
	struct rread	*q;

	q = xcalloc(1, sizeof *q);
	q->kind = kind;
	q->s = s;
	return (q);
}

/* Loop: hands q to the reader; it is the stream's one read in flight. */
static void
rread_submit(struct rread *q)
{
	if (q->s != NULL) {
		assert(q->s->reading == NULL);
		q->s->reading = q;
		rd_streams++;
	}
	pthread_mutex_lock(&rd_lock);
	TAILQ_INSERT_TAIL(&rd_todo, q, entry);
	pthread_cond_signal(&rd_cond);
	pthread_mutex_unlock(&rd_lock);
}

/* Loop: q is no longer its stream's, and its topic keeps no frames for
 * it. */
static void
rread_detach(struct rread *q)
{
	if (q->held != NULL) {
		q->held->hold--;
		q->held = NULL;
	}
	if (q->s != NULL) {
		q->s->reading = NULL;
		q->s = NULL;
		rd_streams--;
	}
}

static void
rread_free(struct rread *q)
{
	free(q->rows);
	free(q->end);
	free(q->rv.ids);
	rules_clear(&q->rules);
	free(q->spec.claims);
	free(q->spec.user_filter);
	free(q->spec.colls);
	broker_binds_free(q->spec.binds, q->spec.nbinds);
	free(q);
}

/* Loop: a collection's rules, for a stream bound again as of the change
 * id. */
static void
rules_read(struct stream *s, int64_t id)
{
	struct rread	*q;

	s->rebind = id;		/* kept until it is bound */
	s->live = 0;
	replay_queue_remove(s);
	q = rread_new(RD_RULES, s);
	q->collection_id = s->collection_id;
	q->rules_id = id;
	rread_submit(q);
}

static void
rules_answer(struct stream *s, struct rread *q)
{
	if (q->rc == STORE_OK) {
		rules_clear(&rules_cache.rules);
		rules_cache.rules = q->rules;
		memset(&q->rules, 0, sizeof q->rules);
		rules_cache.collection_id = q->collection_id;
		rules_cache.id = q->rules_id;
		stream_rebind(s);
	} else if (q->rc == STORE_NOTFOUND) {
		log_info("ending a stream of %.*s: the rules cannot be read",
		    s->topic->baselen, s->topic->key);
		stream_end(s);
	} else
		read_retry(s);
}

/* Loop: the tokens revoked since the last look end their streams. */
static void
revoked_answer(struct rread *q)
{
	struct stream	*s, *next;
	struct revoked	*r = &q->rv;

	if (q->rc != STORE_OK) {
		log_warn("cannot read revoked tokens; will retry");
		return;
	}
	revoked_seen = q->now;
	if (r->n == 0)
		return;
	if (r->n > 1)
		qsort(r->ids, r->n, sizeof *r->ids, revoked_cmp);
	for (s = TAILQ_FIRST(&all_streams); s != NULL; s = next) {
		next = TAILQ_NEXT(s, all);
		if (s->token_id[0] != '\0' && bsearch(s->token_id, r->ids,
		    r->n, sizeof *r->ids, revoked_cmp) != NULL)
			stream_token_end(s, "token_revoked");
	}
}

/* Loop: the reader's answers, in the order it gave them. */
static void
rread_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rread_queue	 done = TAILQ_HEAD_INITIALIZER(done);
	struct rread		*q;
	struct stream		*s;

	(void)fd; (void)what; (void)arg;
	pthread_mutex_lock(&rd_lock);
	TAILQ_CONCAT(&done, &rd_done, entry);
	pthread_mutex_unlock(&rd_lock);
	while ((q = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, q, entry);
		if (q->kind == RD_REVOKED) {
			rd_revoked = NULL;
			revoked_answer(q);
		} else if ((s = q->s) != NULL) {
			rread_detach(q);
			if (q->kind == RD_REPLAY)
				replay_answer(s, q);
			else if (q->kind == RD_RULES)
				rules_answer(s, q);
			else
				feed_answer(s, q);
		}
		rread_free(q);
	}
	if (!TAILQ_EMPTY(&replay_queue))
		event_active(replay_ev, EV_READ, 0);
	conn_flush_all();
}

/* Loop: ends the reader; requests left are dropped. */
static void
rread_stop(void)
{
	struct rread	*q;

	if (!rd_started)
		return;
	pthread_mutex_lock(&rd_lock);
	rd_stopping = 1;
	pthread_cond_broadcast(&rd_cond);
	pthread_mutex_unlock(&rd_lock);
	pthread_join(rd_thread, NULL);
	event_copy_clear(&rd_copy);
	rd_started = 0;
	TAILQ_CONCAT(&rd_todo, &rd_done, entry);
	while ((q = TAILQ_FIRST(&rd_todo)) != NULL) {
		TAILQ_REMOVE(&rd_todo, q, entry);
		rread_detach(q);
		rread_free(q);
	}
	rd_revoked = NULL;
}

/* Loop thread, once at start. st becomes the reader's store, used but
 * not owned: the caller closes it after broker_free. -1 (logged) if the
 * reader cannot start. */
int
broker_init(struct event_base *base, struct store *st)
{
	rd_store = st;
	evbase = base;
	revoked_seen = time_now_ms() / 1000;
	if (store_token_watch_init(rd_store) != 0)
		log_warn("cannot index revoked tokens: %s",
		    store_errmsg(rd_store));
	heartbeat_ev = event_new(base, -1, EV_PERSIST, broker_heartbeat_cb,
	    NULL);
	replay_ev = event_new(base, -1, 0, broker_replay_cb, NULL);
	flush_ev = event_new(base, -1, 0, broker_flush_cb, NULL);
	rd_ev = event_new(base, -1, 0, rread_done_cb, NULL);
	retry_ev = evtimer_new(base, read_retry_cb, NULL);
	broker_heartbeat_arm();
	rd_stopping = 0;
	if (pthread_create(&rd_thread, NULL, rread_main, NULL) != 0) {
		log_error("broker: cannot start its reader thread");
		return (-1);
	}
	rd_started = 1;
	return (0);
}

/* Ends every stream cleanly after the frames it is owed: the web server
 * gets END_REQUEST. Loop thread, at stop. */
void
broker_end_all(void)
{
	struct stream	*s;

	broker_pump(-1);	/* what the streams are owed, first */
	while ((s = TAILQ_FIRST(&all_streams)) != NULL)
		conn_end(s->conn);	/* calls broker_stream_closed */
}

/* Loop thread, at exit: writes what is pending, drops the streams left and
 * frees the broker's events. */
void
broker_free(void)
{
	struct stream	*s;

	rread_stop();
	broker_pump(-1);
	while ((s = TAILQ_FIRST(&all_streams)) != NULL)
		conn_close(s->conn);
	if (rd_ev != NULL)
		event_free(rd_ev);
	if (retry_ev != NULL)
		event_free(retry_ev);
	rd_ev = retry_ev = NULL;
	if (heartbeat_ev != NULL)
		event_free(heartbeat_ev);
	if (replay_ev != NULL)
		event_free(replay_ev);
	if (flush_ev != NULL)
		event_free(flush_ev);
	heartbeat_ev = replay_ev = flush_ev = NULL;
	rules_seen_free();
}
