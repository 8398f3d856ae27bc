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
 * Soak runs: many streams held for a long time while writes go on and
 * streams keep leaving and coming back with Last-Event-ID. Every stream
 * starts from one mark in the log, so each must get every acknowledged
 * write exactly once, in id order, across all its resumes. The server's
 * RSS and open files are sampled all along and must stay flat.
 *
 * Everything runs on the main thread and its loop: the publish rate of a
 * soak is low, and a 10 ms tick paces publishes, leaves and resumes.
 */

#include <sys/types.h>

#include <dirent.h>
#include <err.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "bench.h"

#define SOAK_TICK_US		10000	/* the pacing tick */
#define SOAK_MAX_SAMPLES	100000

enum {
	SS_NEW,			/* waiting for its (re)connect */
	SS_CONNECTING,
	SS_OPEN,
	SS_AWAY			/* left; comes back after opts->away */
};

struct sstream {
	struct client	 c;
	struct sse	 sse;
	int		 state;
	int64_t		 last_id;	/* the resume point */
	struct got	 got;
	uint64_t	 connects;
};

struct sample {
	double		 t;
	long		 rss_kb;
	long		 fds;
	int		 open;
	int		 connecting;
	double		 cpu;
	uint64_t	 deliveries;
	uint64_t	 resumes;
};

/* A ring of stream indexes; each stream is in it at most once. */
struct ring {
	int		*v;
	uint64_t	*due;
	int		 cap;
	int		 head;
	int		 len;
};

static struct soak {
	const struct soak_opts *o;
	const char	*evtype;
	struct sstream	*s;
	int		 n;
	int		 open;
	int		 connecting;
	int		 away;
	struct ring	 pending;	/* to connect now */
	struct ring	 gone;		/* away, in the order they are due */

	int64_t		 start_id;	/* every stream starts after it */
	struct publisher pub;

	int		 phase;		/* 0 connect, 1 run, 2 drain */
	uint64_t	 t_end;
	double		 churn_credit;
	uint64_t	 last_tick;
	uint64_t	 next_sample;
	uint64_t	 last_activity;

	uint64_t	 now;
	uint64_t	 deliveries;
	uint64_t	 unique;
	uint64_t	 resumes;
	uint64_t	 refused;	/* a (re)connect not answered 200 */
	uint64_t	 ended;		/* streams the server ended */
	int		 last_refused_status;
	struct hist	 lat;

	struct sample	*samples;
	int		 nsamples;
	struct procstat	 ps0;
} S;

static void
ring_init(struct ring *r, int cap)
{
	r->v = xcalloc(cap, sizeof *r->v);
	r->due = xcalloc(cap, sizeof *r->due);
	r->cap = cap;
	r->head = r->len = 0;
}

static void
ring_push(struct ring *r, int i, uint64_t due)
{
	int	 at;

	if (r->len == r->cap)
		errx(1, "soak: ring overflow");
	at = (r->head + r->len) % r->cap;
	r->v[at] = i;
	r->due[at] = due;
	r->len++;
}

/* The next index due by now, or -1. */
static int
ring_pop(struct ring *r, uint64_t now)
{
	int	 i;

	if (r->len == 0 || r->due[r->head] > now)
		return (-1);
	i = r->v[r->head];
	r->head = (r->head + 1) % r->cap;
	r->len--;
	return (i);
}

static void
ring_free(struct ring *r)
{
	free(r->v);
	free(r->due);
}

/* The open files of a process, or -1. */
static long
proc_fds(pid_t pid)
{
	char		 path[64];
	DIR		*d;
	struct dirent	*e;
	long		 n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

static void
stream_event(void *arg, const char *id, const char *type, const char *data,
    size_t len)
{
	struct sstream	*s = arg;
	int64_t		 seq, t, key;
	char		*end;

	if (pub_read(&S.pub, &s->got, S.evtype, type, data, len, &seq,
	    &t) == -1)
		return;
	key = strtoll(id, &end, 10);
	if (*end != '\0' || end == id) {
		s->got.bad++;
		return;
	}
	S.deliveries++;
	S.last_activity = S.now;
	if (key <= s->last_id)
		s->got.ooo++;
	else
		s->last_id = key;
	if (pub_seen(&S.pub, &s->got, seq, t, S.now, &S.lat) == -1)
		return;
	S.unique++;
}

static void
stream_head(struct client *c)
{
	struct sstream	*s = c->arg;

	S.connecting--;
	if (c->status != 200) {
		S.refused++;
		S.last_refused_status = c->status;
		client_close(c);
		s->state = SS_NEW;
		ring_push(&S.pending, (int)(s - S.s), 0);
		return;
	}
	s->state = SS_OPEN;
	S.open++;
}

static void
stream_body(struct client *c, const char *buf, size_t len)
{
	struct sstream	*s = c->arg;

	S.now = c->rtime;
	sse_feed(&s->sse, buf, len);
}

/* The server ended a stream, or a connect failed: it comes back. */
static void
stream_done(struct client *c, int error)
{
	struct sstream	*s = c->arg;

	(void)error;
	if (s->state == SS_CONNECTING) {
		S.connecting--;
		S.refused++;
		S.last_refused_status = error ? -1 : c->status;
	} else if (s->state == SS_OPEN) {
		S.open--;
		S.ended++;
	} else
		return;
	client_close(c);
	s->state = SS_NEW;
	ring_push(&S.pending, (int)(s - S.s), 0);
}

/* Opens a stream from its resume point. 0, or -1 to retry later. */
static int
stream_connect(struct sstream *s)
{
	client_init(&s->c, S.o->l.sub_target, stream_head, stream_body,
	    stream_done, s);
	snprintf(s->c.last_event_id, sizeof s->c.last_event_id, "%" PRId64,
	    s->last_id);
	sse_free(&s->sse);
	sse_init(&s->sse, stream_event, s);
	s->state = SS_CONNECTING;
	S.connecting++;
	if (client_subscribe(&s->c, S.o->l.sub_uri, S.o->l.token) == -1) {
		S.connecting--;
		s->state = SS_NEW;
		return (-1);
	}
	if (s->connects++ > 0)
		S.resumes++;
	return (0);
}

/* Connects pending streams, a bounded number at a time. */
static void
streams_pump(uint64_t now)
{
	int	 i;

	while ((i = ring_pop(&S.gone, now)) != -1) {
		S.away--;
		ring_push(&S.pending, i, 0);
	}
	while (S.connecting < S.o->l.connect_conc &&
	    (i = ring_pop(&S.pending, now)) != -1) {
		if (stream_connect(&S.s[i]) == -1) {
			/* back to the front: it keeps its turn */
			S.pending.head = (S.pending.head + S.pending.cap - 1) %
			    S.pending.cap;
			S.pending.len++;
			S.pending.v[S.pending.head] = i;
			S.pending.due[S.pending.head] = 0;
			break;
		}
	}
}

/* Streams leave at the churn rate: random open ones close. */
static void
streams_churn(double dt, uint64_t now)
{
	struct sstream	*s;
	int		 tries;

	S.churn_credit += S.o->churn * dt;
	while (S.churn_credit >= 1) {
		S.churn_credit -= 1;
		for (tries = 0; tries < 8; tries++) {
			s = &S.s[random() % S.n];
			if (s->state != SS_OPEN)
				continue;
			client_close(&s->c);
			s->state = SS_AWAY;
			S.open--;
			S.away++;
			ring_push(&S.gone, (int)(s - S.s), now +
			    (uint64_t)(S.o->away * 1e9));
			break;
		}
	}
}

static void
take_sample(uint64_t now)
{
	struct procstat	 ps;
	struct sample	*m;
	long		 fds = 0, f;
	int		 i;

	if (S.nsamples == SOAK_MAX_SAMPLES)
		return;
	proc_read(S.o->l.pids, S.o->l.npids, &ps);
	for (i = 0; i < S.o->l.npids; i++)
		if ((f = proc_fds(S.o->l.pids[i])) >= 0)
			fds += f;
	m = &S.samples[S.nsamples++];
	m->t = S.pub.t0 != 0 && now > S.pub.t0 ? (now - S.pub.t0) / 1e9 : 0;
	m->rss_kb = ps.rss_kb;
	m->fds = fds;
	m->open = S.open;
	m->connecting = S.connecting;
	m->cpu = ps.cpu;
	m->deliveries = S.deliveries;
	m->resumes = S.resumes;
	printf("  t=%5.0fs rss=%ldkB fds=%ld open=%d away=%d connecting=%d "
	    "published=%" PRId64 " deliveries=%" PRIu64 " resumes=%" PRIu64
	    " cpu=%.1fs\n", m->t, m->rss_kb, m->fds, m->open, S.away,
	    m->connecting, S.pub.ok, S.deliveries, S.resumes, m->cpu);
}

static void
soak_tick(evutil_socket_t fd, short what, void *arg)
{
	uint64_t	 now = now_ns();
	double		 dt;
	int		 i;

	(void)fd;
	(void)what;
	(void)arg;
	dt = S.last_tick ? (now - S.last_tick) / 1e9 : 0;
	S.last_tick = now;
	if (S.phase == 1 && now >= S.t_end && S.pub.sent == S.pub.total) {
		S.phase = 2;
		S.last_activity = now;
		/* everyone comes back for the count */
		while ((i = ring_pop(&S.gone, UINT64_MAX)) != -1) {
			S.away--;
			ring_push(&S.pending, i, 0);
		}
	}
	if (S.phase == 1)
		streams_churn(dt, now);
	streams_pump(now);
	if (S.phase == 1)
		pub_pump(&S.pub, now);
	if (S.o->l.npids > 0 && now >= S.next_sample) {
		take_sample(now);
		S.next_sample = now + (uint64_t)(S.o->sample * 1e9);
	}
	switch (S.phase) {
	case 0:
		if (S.pending.len == 0 && S.connecting == 0)
			event_base_loopbreak(base);
		break;
	case 2:
		if (S.pub.t_last_answer > S.last_activity)
			S.last_activity = S.pub.t_last_answer;
		if (S.pub.answered == S.pub.sent && S.open == S.n &&
		    S.unique >= (uint64_t)S.pub.ok * (uint64_t)S.n)
			event_base_loopbreak(base);
		else if (now - S.last_activity > (uint64_t)(S.o->l.drain * 1e9))
			event_base_loopbreak(base);
		break;
	}
}

static void
run_loop(void)
{
	struct event	*tick;
	struct timeval	 tv = { 0, SOAK_TICK_US };

	tick = event_new(base, -1, EV_PERSIST, soak_tick, NULL);
	event_add(tick, &tv);
	event_base_dispatch(base);
	event_free(tick);
}

/* The start mark: a custom event whose id every stream resumes from. */
struct mark {
	char	 body[4096];
	size_t	 len;
	int	 done;
	int	 status;
};

static void
mark_body(struct client *c, const char *buf, size_t len)
{
	struct mark	*m = c->arg;

	buf_append(m->body, sizeof m->body, &m->len, buf, len);
}

static void
mark_done(struct client *c, int error)
{
	struct mark	*m = c->arg;

	m->done = 1;
	m->status = error ? -1 : c->status;
	event_base_loopbreak(base);
}

static int64_t
soak_mark(void)
{
	struct client	 c;
	struct mark	 m;
	const char	*body = "{\"type\":\"soak_start\",\"payload\":{}}";

	memset(&m, 0, sizeof m);
	client_init(&c, S.o->l.pub_target, NULL, mark_body, mark_done, &m);
	if (client_request(&c, "POST", S.o->l.sub_uri, S.o->l.token,
	    "application/json", body, strlen(body)) == -1)
		err(1, "soak: the start mark");
	while (!m.done)
		event_base_dispatch(base);
	client_close(&c);
	if (m.status != 202)
		errx(1, "soak: the start mark was answered %d: %s", m.status,
		    m.body);
	return (json_int(m.body, m.len, "\"id\":"));
}

static void
soak_init(const struct soak_opts *o)
{
	const struct load_opts	*l = &o->l;
	int64_t			 total;

	memset(&S, 0, sizeof S);
	S.o = o;
	S.n = o->streams;
	S.evtype = strcmp(l->kind, "events") == 0 ? "soak" : "record_created";
	if (strcmp(l->kind, "events") != 0 && strcmp(l->kind, "records") != 0)
		errx(1, "soak: --kind is records or events");
	total = (int64_t)(l->rate * l->seconds + 0.5);
	S.s = xcalloc(S.n > 0 ? S.n : 1, sizeof *S.s);
	ring_init(&S.pending, S.n + 1);
	ring_init(&S.gone, S.n + 1);
	pub_init(&S.pub, l, strcmp(l->kind, "events") == 0 ? "soak" : NULL,
	    total);
	S.samples = xcalloc(SOAK_MAX_SAMPLES, sizeof *S.samples);
	hist_init(&S.lat);
}

static void
soak_free(void)
{
	int	 i;

	for (i = 0; i < S.n; i++) {
		client_close(&S.s[i].c);
		sse_free(&S.s[i].sse);
		free(S.s[i].got.seen);
	}
	pub_free(&S.pub);
	ring_free(&S.pending);
	ring_free(&S.gone);
	free(S.s);
	free(S.samples);
}

static void
soak_tally(struct tally *t)
{
	int	 i;

	memset(t, 0, sizeof *t);
	for (i = 0; i < S.n; i++)
		pub_tally(&S.pub, t, &S.s[i].got, S.pub.sent);
}

/* Least-squares slope of RSS over samples [a, b), in kB a minute. */
static double
slope_per_min(int a, int b)
{
	double	 n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, x, y;
	int	 i;

	for (i = a; i < b; i++) {
		x = S.samples[i].t / 60;
		y = (double)S.samples[i].rss_kb;
		n++;
		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
	}
	if (n < 2 || n * sxx - sx * sx == 0)
		return (0);
	return ((n * sxy - sx * sy) / (n * sxx - sx * sx));
}

/*
 * Flat means: from the end of the warm-up (the first fifth of the run, at
 * most a minute) to the end, RSS grows by at most 10% plus 16 MB (SQLite's
 * page caches, 2 MB per connection by default, fill as the log grows: a
 * leak climbs on, a cache levels off, which the two slopes show), and the
 * open files, less the streams that are connected or connecting (churn
 * moves those), stay within a band of 1% of the streams plus 16.
 */
struct flat {
	int	 from;		/* first sample after the warm-up */
	int	 to;		/* first sample of the drain */
	long	 rss_a, rss_b, rss_max;
	double	 slope1, slope2; /* kB a minute, first and second half */
	long	 extra_min, extra_max;
	int	 rss_ok, fds_ok;
};

static void
soak_flat(struct flat *f)
{
	double	 warm = S.o->l.seconds / 5 < 60 ? S.o->l.seconds / 5 : 60;
	long	 extra;
	int	 i, mid;

	memset(f, 0, sizeof *f);
	f->rss_ok = f->fds_ok = 1;
	for (i = 0; i < S.nsamples && S.samples[i].t <= warm; i++)
		;
	if (i >= S.nsamples)
		return;
	f->from = i;
	f->rss_a = S.samples[i].rss_kb;
	f->extra_min = LONG_MAX;
	f->extra_max = LONG_MIN;
	for (; i < S.nsamples && S.samples[i].t <= S.o->l.seconds; i++) {
		if (S.samples[i].rss_kb > f->rss_max)
			f->rss_max = S.samples[i].rss_kb;
		f->rss_b = S.samples[i].rss_kb;
		extra = S.samples[i].fds - S.samples[i].open -
		    S.samples[i].connecting;
		if (extra < f->extra_min)
			f->extra_min = extra;
		if (extra > f->extra_max)
			f->extra_max = extra;
	}
	f->to = i;
	mid = (f->from + f->to) / 2;
	f->slope1 = slope_per_min(f->from, mid + 1);
	f->slope2 = slope_per_min(mid, f->to);
	f->rss_ok = f->rss_b <= f->rss_a * 1.10 + 16384;
	f->fds_ok = f->extra_max - f->extra_min <= S.n / 100 + 16;
}

int
soak_run(const struct soak_opts *o)
{
	struct tally		 t;
	struct flat		 f;
	struct procstat		 ps1;
	uint64_t		 t_start;
	int			 i, rc = 0;

	soak_init(o);
	S.start_id = soak_mark();
	printf("soak: %d streams from event %" PRId64 ", %g writes/s (%s) for "
	    "%g s, %g leaves/s, each away %g s\n", S.n, S.start_id, o->l.rate,
	    o->l.kind, o->l.seconds, o->churn, o->away);
	t_start = now_ns();
	for (i = 0; i < S.n; i++) {
		S.s[i].last_id = S.start_id;
		ring_push(&S.pending, i, 0);
	}
	S.phase = 0;
	run_loop();
	printf("streams: %d open in %.1f s (%" PRIu64 " refused, last status "
	    "%d)\n", S.open, (now_ns() - t_start) / 1e9, S.refused,
	    S.last_refused_status);
	proc_read(o->l.pids, o->l.npids, &S.ps0);

	S.phase = 1;
	S.pub.t0 = now_ns() + 10000000;
	S.t_end = S.pub.t0 + (uint64_t)(o->l.seconds * 1e9);
	S.next_sample = 0;
	run_loop();
	if (o->l.npids > 0)
		take_sample(now_ns());
	proc_read(o->l.pids, o->l.npids, &ps1);

	soak_tally(&t);
	soak_flat(&f);
	printf("published: %" PRId64 " of %" PRId64 " ok, %" PRId64 " failed "
	    "(last status %d)\n", S.pub.ok, S.pub.sent, S.pub.failed,
	    S.pub.last_status);
	printf("resumes: %" PRIu64 " with Last-Event-ID, %" PRIu64 " refused "
	    "(last status %d), %" PRIu64 " ended by the server\n", S.resumes,
	    S.refused, S.last_refused_status, S.ended);
	printf("deliveries: %" PRIu64 " unique of %" PRIu64 " expected; %d of "
	    "%d streams complete\n", S.unique, (uint64_t)S.pub.ok * S.n,
	    t.complete, S.n);
	printf("check: missing=%" PRIu64 " duplicates=%" PRIu64 " out_of_order="
	    "%" PRIu64 " unexpected=%" PRIu64 " other_events=%" PRIu64
	    " unreadable=%" PRIu64 "\n", t.missing, t.dup, t.ooo, t.unexpected,
	    t.other, t.bad);
	hist_print(&S.lat, "latency");
	if (o->l.npids > 0 && f.from > 0) {
		printf("rss: %ld kB after the warm-up, %ld kB at the end, peak "
		    "%ld kB; slope %+.0f then %+.0f kB/min: %s\n", f.rss_a,
		    f.rss_b, f.rss_max, f.slope1, f.slope2, f.rss_ok ? "flat" :
		    "GROWS");
		printf("open files beyond the streams: %ld to %ld: %s\n",
		    f.extra_min, f.extra_max, f.fds_ok ? "flat" : "GROWS");
	}
	proc_cpu_report(&S.ps0, &ps1);
	printf("RESULT mode=soak kind=%s streams=%d rate=%g seconds=%g churn=%g "
	    "published=%" PRId64 " pub_failed=%" PRId64 " resumes=%" PRIu64
	    " refused=%" PRIu64 " ended=%" PRIu64 " deliveries=%" PRIu64
	    " missing=%" PRIu64 " duplicates=%" PRIu64 " out_of_order=%" PRIu64
	    " rss_warm_kb=%ld rss_end_kb=%ld rss_peak_kb=%ld "
	    "rss_slope1_kb_min=%.0f rss_slope2_kb_min=%.0f fds_extra_min=%ld "
	    "fds_extra_max=%ld "
	    "rss_flat=%d fds_flat=%d", o->l.kind, S.n, o->l.rate, o->l.seconds,
	    o->churn, S.pub.ok, S.pub.failed, S.resumes, S.refused, S.ended,
	    S.unique, t.missing, t.dup, t.ooo, f.rss_a, f.rss_b, f.rss_max,
	    f.slope1, f.slope2, f.extra_min, f.extra_max, f.rss_ok, f.fds_ok);
	hist_result(&S.lat, "lat");
	proc_cpu_result(&S.ps0, &ps1);
	printf("\n");
	if (t.missing || t.dup || t.ooo || t.bad || !f.rss_ok || !f.fds_ok ||
	    S.open != S.n)
		rc = 2;
	soak_free();
	return (rc);
}
