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
 * CRUD runs: C clients in closed loops of creates, gets or lists (or a mix)
 * for a while, reporting requests/s and latency per operation.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "bench.h"

enum {
	OP_CREATE,
	OP_GET,
	OP_LIST,
	OP__COUNT
};

static const char *op_names[OP__COUNT] = { "create", "get", "list" };

struct crud_client {
	struct client	 c;
	int		 op;
	uint64_t	 start;
	char		 body[BENCH_BODY_KEEP];
	size_t		 bodylen;
};

static struct crud {
	const struct crud_opts *o;
	struct crud_client	*w;
	char		(*ids)[32];
	int		 nids;
	int		 idcap;
	int		 collect;	/* keep ids of created records */
	int		 stopping;
	int		 busy;
	uint64_t	 seq;
	uint64_t	 deadline;
	uint64_t	 limit;		/* stop after this many requests, 0: none */
	uint64_t	 issued;
	uint64_t	 ok[OP__COUNT];
	uint64_t	 fail[OP__COUNT];
	int		 last_fail_status;
	struct hist	 lat[OP__COUNT];
	char		*pad;
	struct event	*retry;
} K;

static void	 crud_next(struct crud_client *);

static int
crud_pick(void)
{
	const char	*op = K.o->op;
	unsigned	 r;

	if (K.collect || strcmp(op, "create") == 0)
		return (OP_CREATE);
	if (strcmp(op, "get") == 0)
		return (OP_GET);
	if (strcmp(op, "list") == 0)
		return (OP_LIST);
	/* mix: 10% creates, 80% gets, 10% lists */
	r = random() % 10;
	return (r == 0 ? OP_CREATE : r == 1 ? OP_LIST : OP_GET);
}

static void
crud_body(struct client *c, const char *buf, size_t len)
{
	struct crud_client	*w = c->arg;

	buf_append(w->body, sizeof w->body, &w->bodylen, buf, len);
}

static void
crud_keep_id(struct crud_client *w)
{
	const char	*p;

	w->body[w->bodylen] = '\0';
	if ((p = strstr(w->body, "\"id\"")) == NULL)
		return;
	p += 4;
	while (*p == ' ' || *p == ':')
		p++;
	if (*p++ != '"')
		return;
	if (K.nids == K.idcap) {
		K.idcap = K.idcap ? K.idcap * 2 : 1024;
		K.ids = xrealloc(K.ids, K.idcap * sizeof *K.ids);
	}
	snprintf(K.ids[K.nids], sizeof K.ids[0], "%.26s", p);
	K.nids++;
}

static void
crud_done(struct client *c, int error)
{
	struct crud_client	*w = c->arg;
	uint64_t	 now = now_ns();

	K.busy--;
	if (!error && c->status >= 200 && c->status < 300) {
		K.ok[w->op]++;
		hist_add(&K.lat[w->op], now - w->start);
		if (K.collect && w->op == OP_CREATE)
			crud_keep_id(w);
	} else {
		K.fail[w->op]++;
		K.last_fail_status = error ? -1 : c->status;
	}
	crud_next(w);
}

static void
crud_retry(evutil_socket_t fd, short what, void *arg)
{
	int	 i;

	(void)fd;
	(void)what;
	(void)arg;
	for (i = 0; i < K.o->conc; i++)
		if (!K.w[i].c.busy)
			crud_next(&K.w[i]);
}

static void
crud_next(struct crud_client *w)
{
	struct timeval	 tv = { 0, 1000 };
	char		 uri[2048], body[65536];
	const char	*method = "GET", *b = NULL;
	int		 n = 0;

	if (K.stopping || now_ns() >= K.deadline ||
	    (K.limit != 0 && K.issued >= K.limit))
		return;
	w->op = crud_pick();
	if (w->op == OP_GET && K.nids == 0)
		w->op = OP_LIST;
	if (w->op == OP_CREATE) {
		method = "POST";
		snprintf(uri, sizeof uri, "%s", K.o->records_uri);
		n = snprintf(body, sizeof body, "{\"n\":%" PRIu64 ",\"pad\":\"%s\"}",
		    K.seq++, K.pad);
		b = body;
	} else if (w->op == OP_GET)
		snprintf(uri, sizeof uri, "%s/%s", K.o->records_uri,
		    K.ids[random() % K.nids]);
	else
		snprintf(uri, sizeof uri, "%s?%s", K.o->records_uri,
		    K.o->query);
	w->bodylen = 0;
	w->start = now_ns();
	if (client_request(&w->c, method, uri, K.o->token, "application/json",
	    b, (size_t)n) == -1) {
		if (errno != EAGAIN && errno != EINTR)
			errx(1, "connect: %s", strerror(errno));
		evtimer_add(K.retry, &tv);
		return;
	}
	K.issued++;
	K.busy++;
}

static int
crud_idle(void)
{
	return (K.busy == 0 && (now_ns() >= K.deadline ||
	    (K.limit != 0 && K.issued >= K.limit)));
}

static int (*crud_cond)(void);

static void
crud_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (crud_cond())
		event_base_loopbreak(base);
}

static void
crud_phase(double seconds, uint64_t limit)
{
	struct timeval	 tv = { 0, 10000 };
	struct event	*tick;
	int		 i;

	K.deadline = now_ns() + (uint64_t)(seconds * 1e9);
	K.limit = limit;
	K.issued = 0;
	crud_cond = crud_idle;
	tick = event_new(base, -1, EV_PERSIST, crud_tick, NULL);
	event_add(tick, &tv);
	for (i = 0; i < K.o->conc; i++)
		crud_next(&K.w[i]);
	event_base_dispatch(base);
	event_free(tick);
}

int
crud_run(const struct crud_opts *o)
{
	struct procstat	 before, after;
	uint64_t	 t0, total_ok = 0, total_fail = 0;
	double		 el;
	size_t		 padlen;
	int		 i;

	memset(&K, 0, sizeof K);
	K.o = o;
	padlen = o->size > 30 ? o->size - 30 : 0;
	K.pad = xcalloc(1, padlen + 1);
	memset(K.pad, 'x', padlen);
	K.w = xcalloc(o->conc, sizeof *K.w);
	for (i = 0; i < o->conc; i++)
		client_init(&K.w[i].c, o->target, NULL, crud_body, crud_done,
		    &K.w[i]);
	K.retry = evtimer_new(base, crud_retry, NULL);
	for (i = 0; i < OP__COUNT; i++)
		hist_init(&K.lat[i]);

	if (strcmp(o->op, "create") != 0 && o->preload > 0) {
		K.collect = 1;
		crud_phase(120, (uint64_t)o->preload);
		K.collect = 0;
		printf("preload: %d records created, ids kept (%llu ok, %llu failed)\n", K.nids, (unsigned long long)K.ok[OP_CREATE], (unsigned long long)K.fail[OP_CREATE]);
		memset(K.ok, 0, sizeof K.ok);
		memset(K.fail, 0, sizeof K.fail);
		for (i = 0; i < OP__COUNT; i++)
			hist_init(&K.lat[i]);
	}

	proc_read(o->pids, o->npids, &before);
	t0 = now_ns();
	crud_phase(o->seconds, 0);
	el = (now_ns() - t0) / 1e9;
	proc_read(o->pids, o->npids, &after);

	printf("crud %s: concurrency %d over %s, %.2f s\n", o->op, o->conc,
	    o->target->proto == PROTO_FCGI ? "FastCGI" : "HTTP", el);
	for (i = 0; i < OP__COUNT; i++) {
		if (K.ok[i] + K.fail[i] == 0)
			continue;
		printf("  %-6s %" PRIu64 " ok (%.0f/s), %" PRIu64 " failed\n",
		    op_names[i], K.ok[i], K.ok[i] / el, K.fail[i]);
		hist_print(&K.lat[i], op_names[i]);
		total_ok += K.ok[i];
		total_fail += K.fail[i];
	}
	if (total_fail)
		printf("  last failure status %d\n", K.last_fail_status);
	if (before.ok)
		printf("server: cpu %.2f s (%.0f%% of a core), rss %ld -> %ld kB\n",
		    after.cpu - before.cpu, 100 * (after.cpu - before.cpu) / el,
		    before.rss_kb, after.rss_kb);
	proc_cpu_report(&before, &after);
	printf("RESULT mode=crud op=%s conc=%d proto=%s seconds=%.2f ok=%" PRIu64
	    " failed=%" PRIu64 " req_per_s=%.0f", o->op, o->conc,
	    o->target->proto == PROTO_FCGI ? "fcgi" : "http", el, total_ok,
	    total_fail, total_ok / el);
	for (i = 0; i < OP__COUNT; i++)
		if (K.ok[i] > 0) {
			printf(" %s_per_s=%.0f", op_names[i], K.ok[i] / el);
			hist_result(&K.lat[i], op_names[i]);
		}
	proc_cpu_result(&before, &after);
	printf("\n");

	for (i = 0; i < o->conc; i++)
		client_close(&K.w[i].c);
	event_free(K.retry);
	free(K.w);
	free(K.ids);
	free(K.pad);
	return (total_fail ? 2 : 0);
}
