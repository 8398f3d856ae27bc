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

/*
 * Fan-out runs: N subscribers on one stream, a publisher on a fixed
 * schedule, publish-to-receive latency and an exact account of every
 * delivery (missing, duplicated, out of order); and idle runs that only
 * hold streams open and watch the server's memory and CPU.
 *
 * The publisher (pub.c) runs on a thread and a loop of its own, so that
 * a burst of subscriber reads never delays a publish that is due. While
 * it runs, the fields it shares with the main thread (the publisher's
 * counts and pub_stop) are read and written with atomic builtins;
 * everything else it touches is its own until it is joined.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "bench.h"

enum {
	SUB_NEW,
	SUB_CONNECTING,
	SUB_OPEN,
	SUB_FAILED,
	SUB_ENDED
};

struct sub {
	struct client	 c;
	struct sse	 sse;
	int		 state;
	struct got	 got;
	int64_t		 last_id;
	int64_t		 max_seq;
	char		*jwt;		/* its user's, with --jwt-secret-file */
};

static struct fan {
	const struct fanout_opts *o;
	const char	*evtype;
	int		 nchan;

	struct sub	*subs;
	int		 nsubs;		/* allocated */
	int		 want;		/* open this many */
	int		 next;		/* next to connect */
	int		 connecting;
	int		 open;
	int		 failed;
	int		 ended;
	int		 last_fail_status;
	struct event	*retry;

	struct publisher pub;
	int64_t		*ok_in_room;	/* once all is answered; NULL before */
	int64_t		*id_of_seq;	/* first id seen for a seq */
	struct event	*pub_timer;
	pthread_t	 pub_thread;
	int		 pub_stop;	/* the main thread gives up on answers */

	uint64_t	 now;		/* main thread: when the read returned */
	struct hist	 lat;
	uint64_t	 deliveries;
	uint64_t	 unique;
	uint64_t	 mismatch;
	uint64_t	 first_delivery;
	uint64_t	 last_delivery;
} F;

/* Runs the loop until cond() holds or seconds pass; 0 if cond held. */
static int (*loop_cond)(void);
static uint64_t	 loop_deadline;
static int	 loop_met;

static void
loop_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (loop_cond != NULL && loop_cond()) {
		loop_met = 1;
		event_base_loopbreak(base);
	} else if (now_ns() >= loop_deadline)
		event_base_loopbreak(base);
}

static int
loop_until(int (*cond)(void), double seconds)
{
	struct event	*tick;
	struct timeval	 tv = { 0, 10000 };

	loop_cond = cond;
	loop_met = 0;
	loop_deadline = now_ns() + (uint64_t)(seconds * 1e9);
	tick = event_new(base, -1, EV_PERSIST, loop_tick, NULL);
	event_add(tick, &tv);
	event_base_dispatch(base);
	event_free(tick);
	return (loop_met ? 0 : -1);
}

/* An SSE id as a number: "42", or nchan's "time:index". */
static int64_t
id_key(const char *id)
{
	char	*end;
	int64_t	 a, b = 0;

	a = strtoll(id, &end, 10);
	if (*end == ':')
		b = strtoll(end + 1, NULL, 10);
	return (a * 1000000 + b);
}

static void
sub_event(void *arg, const char *id, const char *type, const char *data,
    size_t len)
{
	struct sub	*s = arg;
	int64_t		 seq, t, key;

	if (pub_read(&F.pub, &s->got, F.evtype, type, data, len, &seq,
	    &t) == -1)
		return;
	F.deliveries++;
	if (pub_seen(&F.pub, &s->got, seq, t, F.now, &F.lat) == -1)
		return;
	F.unique++;
	if (F.first_delivery == 0)
		F.first_delivery = F.now;
	F.last_delivery = F.now;

	key = id_key(id);
	if (key <= s->last_id)
		s->got.ooo++;
	s->last_id = key;
	if (F.o->l.pub_conc == 1 && seq < s->max_seq)
		s->got.ooo++;
	if (seq > s->max_seq)
		s->max_seq = seq;
	if (F.id_of_seq[seq] == -1)
		F.id_of_seq[seq] = key;
	else if (F.id_of_seq[seq] != key)
		F.mismatch++;
}

static void
sub_head(struct client *c)
{
	struct sub	*s = c->arg;

	F.connecting--;
	if (c->status != 200) {
		F.failed++;
		F.last_fail_status = c->status;
		s->state = SUB_FAILED;
		client_close(c);
		return;
	}
	s->state = SUB_OPEN;
	F.open++;
}

static void
sub_body(struct client *c, const char *buf, size_t len)
{
	struct sub	*s = c->arg;

	F.now = c->rtime;
	sse_feed(&s->sse, buf, len);
}

static void
sub_done(struct client *c, int error)
{
	struct sub	*s = c->arg;

	(void)error;
	if (s->state == SUB_CONNECTING) {
		F.connecting--;
		F.failed++;
		s->state = SUB_FAILED;
	} else if (s->state == SUB_OPEN) {
		F.open--;
		F.ended++;
		s->state = SUB_ENDED;
	}
}

static void	 sub_pump(void);

static void
sub_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sub_pump();
}

/* Stream i's URI: with rooms, filtered on its room (fields.room =
 * "rN", percent-encoded), unless it takes every room or signs in as
 * the room's user (the collection's list rule filters it then). */
static const char *
sub_uri(int i, char *buf, size_t size)
{
	const struct load_opts	*l = &F.o->l;

	if (l->rooms <= 0 || l->unfiltered || l->jwt_key != NULL)
		return (l->sub_uri);
	snprintf(buf, size, "%s?filter=fields.%s%%20%%3D%%20%%22%s%d%%22",
	    l->sub_uri, l->room_field, l->room_prefix, i % l->rooms);
	return (buf);
}

/* Stream i's bearer secret: a JWT of user u(i % rooms), or the token. */
static const char *
sub_token(struct sub *s, int i)
{
	const struct load_opts	*l = &F.o->l;
	char			 user[32];

	if (l->jwt_key == NULL)
		return (l->token);
	if (s->jwt == NULL) {
		snprintf(user, sizeof user, "%s%d", l->room_prefix,
		    l->rooms > 0 ? i % l->rooms : i);
		s->jwt = jwt_hs256(l->jwt_key, l->jwt_keylen, user,
		    time(NULL), l->jwt_ttl);
	}
	return (s->jwt);
}

/* Opens subscribers up to F.want, a bounded number at a time. */
static void
sub_pump(void)
{
	struct timeval	 tv = { 0, 5000 };
	struct sub	*s;
	char		 uri[2048];

	while (F.next < F.want && F.connecting < F.o->l.connect_conc) {
		s = &F.subs[F.next];
		client_init(&s->c, F.o->l.sub_target, sub_head, sub_body,
		    sub_done, s);
		sse_init(&s->sse, sub_event, s);
		s->last_id = -1;
		s->max_seq = -1;
		s->got.room = F.o->l.rooms > 0 && !F.o->l.unfiltered ?
		    F.next % F.o->l.rooms : -1;
		s->state = SUB_CONNECTING;
		F.connecting++;
		if (client_subscribe(&s->c, sub_uri(F.next, uri, sizeof uri),
		    sub_token(s, F.next)) == -1) {
			F.connecting--;
			s->state = SUB_NEW;
			break;
		}
		F.next++;
	}
	if (F.next < F.want)
		evtimer_add(F.retry, &tv);
}

static int
subs_settled(void)
{
	if (F.next < F.want && !evtimer_pending(F.retry, NULL))
		sub_pump();
	return (F.next == F.want && F.connecting == 0);
}

static int
subs_connect(int want)
{
	uint64_t	 t = now_ns();

	F.want = want;
	sub_pump();
	if (loop_until(subs_settled, 120) == -1)
		warnx("subscribers: only %d of %d open after 120 s", F.open,
		    want);
	printf("subscribers: %d open, %d failed (last status %d) in %.2f s\n",
	    F.open, F.failed, F.last_fail_status, (now_ns() - t) / 1e9);
	return (F.open);
}

/* On the publisher thread: sends what is due; ends when all is answered. */
static void
pub_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (F.pub.answered == F.pub.total || SHARED_GET(F.pub_stop))
		event_base_loopbreak(base);
	else
		pub_pump(&F.pub, now_ns());
}

static void *
pub_main(void *arg)
{
	struct timeval	 tv = { 0, 1000 };

	(void)arg;
	base = bench_base_new();
	F.pub_timer = event_new(base, -1, EV_PERSIST, pub_tick, NULL);
	event_add(F.pub_timer, &tv);
	event_base_dispatch(base);
	pub_close(&F.pub);
	event_free(F.pub_timer);
	event_base_free(base);
	return (NULL);
}

/* The deliveries due to the streams that opened (those that ended
 * still have what was read before the end): every acknowledged seq to
 * each, or with rooms each of its room. */
static uint64_t
fan_expected(void)
{
	uint64_t	 n = 0;
	int64_t		 q;
	int		 i, rooms = F.o->l.rooms;

	if (rooms <= 0 || F.o->l.unfiltered)
		return ((uint64_t)SHARED_GET(F.pub.ok) * (F.open + F.ended));
	if (F.ok_in_room == NULL) {	/* the publisher's state is final */
		F.ok_in_room = xcalloc(rooms, sizeof *F.ok_in_room);
		for (q = 0; q < F.pub.total; q++)
			F.ok_in_room[q % rooms] += F.pub.state[q] == 1;
	}
	for (i = 0; i < F.next; i++)
		if (F.subs[i].state == SUB_OPEN || F.subs[i].state == SUB_ENDED)
			n += F.ok_in_room[i % rooms];
	return (n);
}

static int
pub_finished(void)
{
	int64_t	 answered = SHARED_GET(F.pub.answered);

	return (answered == F.pub.total && F.unique >= fan_expected());
}

/* Custom events of type bench, or records created (nchan takes those). */
static void
pubs_init(int64_t total)
{
	size_t	 n = total > 0 ? total : 1;

	pub_init(&F.pub, &F.o->l, strcmp(F.o->l.kind, "events") == 0 ?
	    "bench" : NULL, total);
	F.pub.eager = 1;
	F.id_of_seq = xcalloc(n, sizeof *F.id_of_seq);
	memset(F.id_of_seq, 0xff, n * sizeof *F.id_of_seq);
}

static void
fan_init(const struct fanout_opts *o)
{
	int	 i, max = 0;

	memset(&F, 0, sizeof F);
	F.o = o;
	for (i = 0; i < o->nsteps; i++)
		if (o->subs[i] > max)
			max = o->subs[i];
	F.nsubs = max;
	F.subs = xcalloc(max > 0 ? max : 1, sizeof *F.subs);
	F.retry = evtimer_new(base, sub_retry, NULL);
	hist_init(&F.lat);
	if (strcmp(o->l.kind, "events") == 0)
		F.evtype = "bench";
	else if (strcmp(o->l.kind, "records") == 0)
		F.evtype = "record_created";
	else if (strcmp(o->l.kind, "nchan") == 0) {
		F.evtype = "message";
		F.nchan = 1;
	} else
		errx(1, "unknown kind %s", o->l.kind);
}

static void
fan_free(void)
{
	int	 i;

	for (i = 0; i < F.next; i++) {
		client_close(&F.subs[i].c);
		sse_free(&F.subs[i].sse);
		free(F.subs[i].got.seen);
		free(F.subs[i].jwt);
	}
	pub_free(&F.pub);
	event_free(F.retry);
	free(F.subs);
	free(F.ok_in_room);
	free(F.id_of_seq);
}

static void
fan_tally(struct tally *t)
{
	struct sub	*s;
	int		 i;

	memset(t, 0, sizeof *t);
	for (i = 0; i < F.next; i++) {
		s = &F.subs[i];
		if (s->state == SUB_FAILED || s->state == SUB_NEW)
			continue;
		pub_tally(&F.pub, t, &s->got, F.pub.total);
	}
}

static void
print_ps(const char *when, const struct procstat *ps)
{
	if (ps->ok)
		printf("server %-7s cpu=%.2fs rss=%ldkB\n", when, ps->cpu,
		    ps->rss_kb);
}

/* Publishes at the rate while sampling the server once a second. */
static void
fan_publish(struct procstat *peak)
{
	struct procstat	 ps;
	uint64_t	 end, prev = 0, quiet, t;
	int64_t		 sent;

	F.pub.t0 = now_ns() + 10000000;
	if ((errno = pthread_create(&F.pub_thread, NULL, pub_main,
	    NULL)) != 0)
		err(1, "pthread_create");
	end = F.pub.t0 + (uint64_t)(F.o->l.seconds * 1e9);
	for (;;) {
		if (loop_until(pub_finished, 1.0) == 0)
			break;
		proc_read(F.o->l.pids, F.o->l.npids, &ps);
		if (ps.rss_kb > peak->rss_kb)
			*peak = ps;
		sent = SHARED_GET(F.pub.sent);
		if (F.o->verbose)
			printf("  t=%.0fs sent=%" PRId64 " deliveries/s=%" PRIu64
			    " rss=%ldkB cpu=%.2fs\n", (now_ns() - F.pub.t0) /
			    1e9, sent, F.deliveries - prev, ps.rss_kb, ps.cpu);
		prev = F.deliveries;
		/* Late events are waited for as long as something moves. */
		quiet = SHARED_GET(F.pub.t_last_sent);
		if (F.last_delivery > quiet)
			quiet = F.last_delivery;
		if ((t = SHARED_GET(F.pub.t_last_answer)) > quiet)
			quiet = t;
		if (sent == F.pub.total && now_ns() > end &&
		    now_ns() - quiet > (uint64_t)(F.o->l.drain * 1e9))
			break;
		/* A server that takes no more connections (lighttpd out
		 * of descriptors) never answers: the run ends 30 s after
		 * its time, with what was sent. */
		if (now_ns() > end + (uint64_t)((F.o->l.drain + 30) * 1e9)) {
			warnx("publishing: only %" PRId64 " of %" PRId64
			    " sent 30 s after the run's time", sent,
			    (int64_t)F.pub.total);
			break;
		}
	}
	/* Answers still out after the drain are given up on. */
	SHARED_SET(F.pub_stop, 1);
	if ((errno = pthread_join(F.pub_thread, NULL)) != 0)
		err(1, "pthread_join");
}

/* The server's figures at each stage of a run. */
struct stages {
	struct procstat	 before;
	struct procstat	 idle;
	struct procstat	 peak;
	struct procstat	 after;
};

static void
fan_print(const struct tally *t, const struct stages *st, int n,
    double span, double dps)
{
	uint64_t	 expected = fan_expected();
	double		 cpu_pub = st->after.cpu - st->idle.cpu;

	printf("published: %" PRId64 " of %" PRId64 " ok, %" PRId64 " failed "
	    "(last status %d), over %.2f s\n", F.pub.ok, F.pub.total,
	    F.pub.failed, F.pub.last_status, (F.pub.t_last_sent - F.pub.t0) /
	    1e9);
	printf("deliveries: %" PRIu64 " unique of %" PRIu64 " expected, "
	    "%.0f/s over %.2f s; %d of %d subscribers complete, %d ended early\n",
	    F.unique, expected, dps, span, t->complete, n, F.ended);
	printf("check: missing=%" PRIu64 " duplicates=%" PRIu64
	    " out_of_order=%" PRIu64 " id_mismatch=%" PRIu64 " unexpected=%"
	    PRIu64 " other_events=%" PRIu64 " unreadable=%" PRIu64 "\n",
	    t->missing, t->dup, t->ooo, F.mismatch, t->unexpected, t->other,
	    t->bad);
	hist_print(&F.lat, "latency");
	hist_print(&F.pub.lat, "publish");
	if (st->before.ok)
		printf("server: rss %ld -> %ld kB idle (%.0f B/stream), peak %ld "
		    "kB, after %ld kB; cpu %.2f s publishing (%.1f%% of a core)\n",
		    st->before.rss_kb, st->idle.rss_kb, n > 0 ?
		    (st->idle.rss_kb - st->before.rss_kb) * 1024.0 / n : 0,
		    st->peak.rss_kb, st->after.rss_kb, cpu_pub,
		    span > 0 ? 100 * cpu_pub / span : 0);
	proc_cpu_report(&st->idle, &st->after);
}

static void
fan_result(const struct tally *t, const struct stages *st, int n, double dps)
{
	printf("RESULT mode=fanout kind=%s subs=%d rooms=%d streams_by=%s "
	    "rate=%g seconds=%g "
	    "published=%" PRId64 " pub_failed=%" PRId64 " expected=%" PRIu64
	    " delivered=%" PRIu64 " deliveries_per_s=%.0f missing=%" PRIu64
	    " duplicates=%" PRIu64 " out_of_order=%" PRIu64 " mismatch=%" PRIu64
	    " unexpected=%" PRIu64 " ended=%d failed_subs=%d", F.o->l.kind, n,
	    F.o->l.rooms, F.o->l.rooms <= 0 || F.o->l.unfiltered ? "all" :
	    F.o->l.jwt_key != NULL ? "jwt" : "filter", F.o->l.rate, F.o->l.seconds, F.pub.ok, F.pub.failed,
	    fan_expected(), F.unique, dps, t->missing, t->dup, t->ooo,
	    F.mismatch, t->unexpected, F.ended, F.failed);
	hist_result(&F.lat, "lat");
	hist_result(&F.pub.lat, "pub");
	printf(" rss_before_kb=%ld rss_idle_kb=%ld rss_peak_kb=%ld "
	    "rss_after_kb=%ld rss_per_sub_b=%.0f cpu_pub_s=%.2f "
	    "cpu_per_write_us=%.1f", st->before.rss_kb, st->idle.rss_kb,
	    st->peak.rss_kb, st->after.rss_kb, n > 0 ? (st->idle.rss_kb -
	    st->before.rss_kb) * 1024.0 / n : 0, st->after.cpu - st->idle.cpu,
	    F.pub.ok > 0 ? (st->after.cpu - st->idle.cpu) * 1e6 / F.pub.ok :
	    0);
	proc_cpu_result(&st->idle, &st->after);
	printf("\n");
}

int
fanout_run(const struct fanout_opts *o)
{
	struct stages	 st;
	struct tally	 t;
	double		 span, dps;
	int		 n;

	fan_init(o);
	pubs_init((int64_t)(o->l.rate * o->l.seconds));
	proc_read(o->l.pids, o->l.npids, &st.before);
	print_ps("before", &st.before);
	n = subs_connect(o->subs[0]);
	loop_until(NULL, o->settle);
	proc_read(o->l.pids, o->l.npids, &st.idle);
	proc_read_backend(o->l.bpids, o->l.nbpids, &st.idle);
	print_ps("idle", &st.idle);
	st.peak = st.idle;

	fan_publish(&st.peak);
	proc_read(o->l.pids, o->l.npids, &st.after);
	proc_read_backend(o->l.bpids, o->l.nbpids, &st.after);
	print_ps("after", &st.after);
	fan_tally(&t);

	/* Over the schedule's length at least: event k is due at k/R. */
	span = F.last_delivery > F.pub.t0 ? (F.last_delivery - F.pub.t0) /
	    1e9 : 0;
	if (span > 0 && span < o->l.seconds)
		span = o->l.seconds;
	dps = span > 0 ? F.unique / span : 0;
	fan_print(&t, &st, n, span, dps);
	fan_result(&t, &st, n, dps);
	fan_free();
	return (t.missing || t.dup || t.ooo || F.mismatch || F.failed ||
	    F.ended || F.pub.failed || (o->l.rooms > 0 && t.unexpected) ?
	    2 : 0);
}

static uint64_t
comments_total(void)
{
	uint64_t	 c = 0;
	int		 i;

	for (i = 0; i < F.next; i++)
		c += F.subs[i].sse.comments;
	return (c);
}

/* Holds streams open at each count and reports memory and CPU. */
int
idle_run(const struct fanout_opts *o)
{
	struct procstat	 before, at, held;
	uint64_t	 c0, c1;
	double		 per, pct;
	int		 i, n, rc = 0;

	fan_init(o);
	proc_read(o->l.pids, o->l.npids, &before);
	print_ps("before", &before);
	for (i = 0; i < o->nsteps; i++) {
		n = subs_connect(o->subs[i]);
		loop_until(NULL, o->settle);
		proc_read(o->l.pids, o->l.npids, &at);
		c0 = comments_total();
		loop_until(NULL, o->l.seconds);
		proc_read(o->l.pids, o->l.npids, &held);
		c1 = comments_total();
		per = n > 0 ? (at.rss_kb - before.rss_kb) * 1024.0 / n : 0;
		pct = 100 * (held.cpu - at.cpu) / o->l.seconds;
		printf("idle %d streams: rss %ld kB (+%.0f B/stream), cpu %.2f%%"
		    " of a core over %.0f s, %" PRIu64 " comments received, "
		    "%d ended\n", n, held.rss_kb, per, pct, o->l.seconds,
		    c1 - c0, F.ended);
		proc_cpu_report(&at, &held);
		printf("RESULT mode=idle streams=%d wanted=%d failed=%d ended=%d "
		    "rss_before_kb=%ld rss_kb=%ld rss_per_stream_b=%.0f "
		    "cpu_pct=%.3f hold_s=%g comments=%" PRIu64 " bench_rss_kb=%ld",
		    n, o->subs[i], F.failed, F.ended, before.rss_kb, held.rss_kb,
		    per, pct, o->l.seconds, c1 - c0, proc_self_rss_kb());
		proc_cpu_result(&at, &held);
		printf("\n");
		if (n != o->subs[i] || F.ended)
			rc = 2;
	}
	fan_free();
	return (rc);
}
