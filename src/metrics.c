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

/* GET /api/metrics (metrics in basalt.conf): the process's figures in the
 * Prometheus text format 0.0.4, server-wide, with no realm, app or
 * collection in them. Most figures have a single writer (the loop thread
 * or the writer thread), which counts with plain relaxed atomic stores;
 * figures that several threads move use relaxed atomic adds. No lock on
 * any request's path; a scrape reads them all and sums as it goes.
 * With metrics off nothing is counted. */

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "basalt.h"

#define STATUS_MIN	100
#define STATUS_MAX	599
#define NSTATUS		(STATUS_MAX - STATUS_MIN + 1)
#define ROUTES_MAX	METRICS_ROUTES_MAX
#define WEBHOOKS_MAX	1024	/* lag kept for this many webhooks */

/* One writer: a relaxed load and store, no locked instruction. */
#define ADD1(p, n)	__atomic_store_n((p), __atomic_load_n((p), \
			    __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
/* Several writers. */
#define ADDN(p, n)	__atomic_add_fetch((p), (n), __ATOMIC_RELAXED)
#define GET(p)		__atomic_load_n((p), __ATOMIC_RELAXED)

/* Bounds in microseconds for durations, plain numbers for sizes. */
static const uint64_t	 dur_bounds[] = { 500, 1000, 2500, 5000, 10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
    10000000 };
static const uint64_t	 size_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256 };
#define NDUR	(sizeof dur_bounds / sizeof dur_bounds[0])
#define NSIZE	(sizeof size_bounds / sizeof size_bounds[0])

/* A histogram: counts per bucket (the last past every bound), not
 * cumulative, and the sum; _count is the buckets' sum at the scrape. */
struct hist {
	uint64_t	 b[NDUR + 1];
	uint64_t	 sum;
};

/* Each thread's figures on cache lines of their own, so that no thread
 * writes a line another one writes. */
#define LINE	__attribute__((aligned(64)))

static LINE struct {		/* the loop thread's */
	uint64_t	 req_count[ROUTES_MAX + 1][NSTATUS];
	struct hist	 req_dur;
	uint64_t	 delivered;
	uint64_t	 slow_closed;
} lp;
static LINE struct {		/* the writer thread's */
	struct hist	 batch_size;
	struct hist	 commit_dur;
} wr;
static LINE struct {		/* hooks: workers and the writer */
	uint64_t	 calls, failures, timeouts;
} hk;
static LINE struct {		/* webhooks: their delivery threads */
	uint64_t	 ok, failed;
	struct hist	 dur;
} wh;
static pthread_mutex_t	 wh_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wh_lag {
	char		 id[64];
	int64_t		 lag;
}			 wh_lags[WEBHOOKS_MAX];
static int		 wh_nlags;

static void
hist_add(struct hist *h, const uint64_t *bounds, size_t n, uint64_t v,
    int shared)
{
	size_t	 i;

	for (i = 0; i < n && v > bounds[i]; i++)
		continue;
	if (shared) {
		ADDN(&h->b[i], 1);
		ADDN(&h->sum, v);
	} else {
		ADD1(&h->b[i], 1);
		ADD1(&h->sum, v);
	}
}

/* Loop thread: an answer of req, when its line would be logged. */
void
metrics_request(const struct request *req)
{
	int64_t	 us;
	int	 r, st = req->status;

	if (cfg->metrics == METRICS_OFF)
		return;
	if (st < STATUS_MIN || st > STATUS_MAX)
		st = 500;	/* cannot happen: basalt sends none */
	r = req->route_ix >= 0 && req->route_ix <= ROUTES_MAX ?
	    req->route_ix : 0;
	ADD1(&lp.req_count[r][st - STATUS_MIN], 1);
	us = time_mono_us() - req->started_us;
	hist_add(&lp.req_dur, dur_bounds, NDUR, us > 0 ? (uint64_t)us : 0, 0);
}

/* Loop thread: n events went to a stream. */
void
metrics_delivered(int n)
{
	if (cfg->metrics == METRICS_OFF)
		return;
	ADD1(&lp.delivered, (uint64_t)n);
}

/* Loop thread: a stream closed because its client fell behind. */
void
metrics_slow_consumer(void)
{
	if (cfg->metrics == METRICS_OFF)
		return;
	ADD1(&lp.slow_closed, 1);
}

/* Writer thread: a batch of n writes committed in us microseconds. */
void
metrics_commit(int n, int64_t us)
{
	if (cfg->metrics == METRICS_OFF)
		return;
	hist_add(&wr.batch_size, size_bounds, NSIZE, (uint64_t)n, 0);
	hist_add(&wr.commit_dur, dur_bounds, NDUR, us > 0 ? (uint64_t)us : 0, 0);
}

/* Any thread: a hook call ended; rc 0 if it went well, else timed_out
 * tells a time-out from the other failures. */
void
metrics_hook(int rc, int timed_out)
{
	if (cfg->metrics == METRICS_OFF)
		return;
	ADDN(&hk.calls, 1);
	if (rc != 0)
		ADDN(timed_out ? &hk.timeouts : &hk.failures, 1);
}

/* Any thread: a webhook delivery (one request) ended, with a 2xx answer
 * if ok, after seconds. A delivery thread may hold no config: webhooks
 * are counted whatever metrics says. */
void
metrics_webhook_delivery(int ok, double seconds)
{
	ADDN(ok ? &wh.ok : &wh.failed, 1);
	hist_add(&wh.dur, dur_bounds, NDUR, seconds > 0 ?
	    (uint64_t)(seconds * 1e6) : 0, 1);
}

/* Any thread: the webhook id's lag (the log's head minus its cursor);
 * lag -1 forgets the webhook (deleted). Off every request's path: the
 * lock is the delivery threads' and the scrape's. */
void
metrics_webhook_lag(const char *id, int64_t lag)
{
	int	 i;

	pthread_mutex_lock(&wh_lock);
	for (i = 0; i < wh_nlags; i++)
		if (strcmp(wh_lags[i].id, id) == 0)
			break;
	if (lag < 0) {
		if (i < wh_nlags)
			wh_lags[i] = wh_lags[--wh_nlags];
	} else if (i < wh_nlags)
		wh_lags[i].lag = lag;
	else if (wh_nlags < WEBHOOKS_MAX) {
		strlcpy_b(wh_lags[i].id, id, sizeof wh_lags[i].id);
		wh_lags[i].lag = lag;
		wh_nlags++;
	}
	pthread_mutex_unlock(&wh_lock);
}

/* The scrape. */

struct out {
	struct evbuffer	*b;
	char		 proc[32];	/* process="PID" */
};

static void
family(struct out *o, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(o->b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
sample(struct out *o, const char *name, const char *labels, uint64_t v)
{
	evbuffer_add_printf(o->b, "%s{%s%s%s} %" PRIu64 "\n", name, o->proc,
	    labels[0] != '\0' ? "," : "", labels, v);
}

static void
sample_i(struct out *o, const char *name, int64_t v)
{
	evbuffer_add_printf(o->b, "%s{%s} %" PRId64 "\n", name, o->proc, v);
}

/* A histogram; div turns sums and bounds into the unit shown (1e6 for
 * seconds from microseconds). */
static void
hist_out(struct out *o, const char *name, const char *help,
    const struct hist *h, const uint64_t *bounds, size_t n, double div)
{
	uint64_t	 cum = 0, sum;
	size_t		 i;

	family(o, name, "histogram", help);
	sum = GET(&h->sum);
	for (i = 0; i <= n; i++) {
		cum += GET(&h->b[i]);
		if (i < n)
			evbuffer_add_printf(o->b, "%s_bucket{%s,le=\"%g\"} %"
			    PRIu64 "\n", name, o->proc, bounds[i] / div, cum);
		else
			evbuffer_add_printf(o->b, "%s_bucket{%s,le=\"+Inf\"} %"
			    PRIu64 "\n", name, o->proc, cum);
	}
	evbuffer_add_printf(o->b, "%s_sum{%s} %.6f\n", name, o->proc,
	    sum / div);
	evbuffer_add_printf(o->b, "%s_count{%s} %" PRIu64 "\n", name, o->proc,
	    cum);
}

/* Whether the request may see the figures (metrics = token): its bearer
 * secret against the configured one, in constant time. */
static int
metrics_allowed(struct request *req)
{
	unsigned char	 a[crypto_generichash_BYTES];
	unsigned char	 b[crypto_generichash_BYTES];
	const char	*h;

	if (cfg->metrics == METRICS_OPEN)
		return (1);
	h = request_param(req, "HTTP_AUTHORIZATION");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return (0);
	h += 7;
	while (*h == ' ')
		h++;
	/* Equal-length digests: the time says nothing of the secret. */
	crypto_generichash(a, sizeof a, (const unsigned char *)h, strlen(h),
	    NULL, 0);
	crypto_generichash(b, sizeof b,
	    (const unsigned char *)cfg->metrics_token,
	    strlen(cfg->metrics_token), NULL, 0);
	return (sodium_memcmp(a, b, sizeof a) == 0);
}

/* GET /api/metrics */
int
api_metrics(struct api_ctx *ctx)
{
	struct out	 o;
	const char	*method, *pattern;
	char		 labels[512];
	int64_t		 head, oldest, lag = 0;
	size_t		 len;
	uint64_t	 v;
	int		 r, s, i;

	if (cfg->metrics == METRICS_OFF) {
		error_set(&ctx->req->err, ERR_NOT_FOUND, "no such endpoint");
		return (-1);
	}
	if (!metrics_allowed(ctx->req)) {
		error_set(&ctx->req->err, ERR_UNAUTHORIZED,
		    "a valid metrics token is required");
		return (-1);
	}
	o.b = evbuffer_new();
	snprintf(o.proc, sizeof o.proc, "process=\"%ld\"", (long)getpid());

	family(&o, "basalt_requests_total", "counter",
	    "Answers by route pattern, method and status.");
	for (r = 0; r <= ROUTES_MAX; r++) {
		if (r == 0) {
			method = "";
			pattern = "unmatched";
		} else if ((pattern = route_pattern(r - 1, &method)) == NULL)
			break;
		for (s = 0; s < NSTATUS; s++) {
			if ((v = GET(&lp.req_count[r][s])) == 0)
				continue;
			snprintf(labels, sizeof labels, "route=\"%s\","
			    "method=\"%s\",status=\"%d\"", pattern, method,
			    s + STATUS_MIN);
			sample(&o, "basalt_requests_total", labels, v);
		}
	}
	hist_out(&o, "basalt_request_duration_seconds",
	    "Time from a request's first record to its answer (for a "
	    "stream, its opening).", &lp.req_dur, dur_bounds, NDUR, 1e6);

	family(&o, "basalt_streams_open", "gauge", "Event streams open.");
	sample_i(&o, "basalt_streams_open", broker_count());
	family(&o, "basalt_events_delivered_total", "counter",
	    "Events written to streams.");
	sample(&o, "basalt_events_delivered_total", "", GET(&lp.delivered));
	family(&o, "basalt_streams_slow_closed_total", "counter",
	    "Streams closed because their client fell behind.");
	sample(&o, "basalt_streams_slow_closed_total", "", GET(&lp.slow_closed));

	hist_out(&o, "basalt_writer_batch_size",
	    "Writes committed together in one transaction.", &wr.batch_size,
	    size_bounds, NSIZE, 1);
	hist_out(&o, "basalt_commit_duration_seconds",
	    "Time a batch's commit took.", &wr.commit_dur, dur_bounds, NDUR, 1e6);

	head = store_event_max(ctx->worker->store);
	oldest = store_event_oldest(ctx->worker->store);
	family(&o, "basalt_event_log_head_id", "gauge",
	    "The highest event id given out.");
	sample_i(&o, "basalt_event_log_head_id", head);
	family(&o, "basalt_event_log_oldest_id", "gauge",
	    "The oldest event id the log holds; 0 when it holds none.");
	sample_i(&o, "basalt_event_log_oldest_id", oldest);

	family(&o, "basalt_hook_calls_total", "counter", "Hook calls.");
	sample(&o, "basalt_hook_calls_total", "", GET(&hk.calls));
	family(&o, "basalt_hook_failures_total", "counter",
	    "Hook calls that threw, refused or ran out of memory.");
	sample(&o, "basalt_hook_failures_total", "", GET(&hk.failures));
	family(&o, "basalt_hook_timeouts_total", "counter",
	    "Hook calls that ran out of time.");
	sample(&o, "basalt_hook_timeouts_total", "", GET(&hk.timeouts));

	family(&o, "basalt_webhook_deliveries_total", "counter",
	    "Webhook requests answered with a 2xx.");
	sample(&o, "basalt_webhook_deliveries_total", "", GET(&wh.ok));
	family(&o, "basalt_webhook_failures_total", "counter",
	    "Webhook requests that failed: another status, a time-out or "
	    "no connection.");
	sample(&o, "basalt_webhook_failures_total", "", GET(&wh.failed));
	hist_out(&o, "basalt_webhook_delivery_duration_seconds",
	    "Time a webhook request took.", &wh.dur, dur_bounds, NDUR, 1e6);
	pthread_mutex_lock(&wh_lock);
	for (i = 0; i < wh_nlags; i++)
		if (wh_lags[i].lag > lag)
			lag = wh_lags[i].lag;
	pthread_mutex_unlock(&wh_lock);
	family(&o, "basalt_webhook_lag_events", "gauge",
	    "The largest lag of a webhook: the log's head minus its cursor.");
	sample_i(&o, "basalt_webhook_lag_events", lag);

	len = evbuffer_get_length(o.b);
	reply_file(ctx->req, "text/plain; version=0.0.4; charset=utf-8",
	    (const char *)evbuffer_pullup(o.b, -1), len);
	evbuffer_free(o.b);
	return (0);
}
