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
 * The publisher of fan-out and soak runs: publishes on a fixed schedule,
 * seq k due at t0 + k/rate with its due time and seq in the payload, and
 * keeps per seq whether it was acknowledged; each stream's account of
 * what it got (struct got) is checked against that at the end.
 *
 * A fan-out run drives it from a thread of its own: the counts the main
 * thread reads while it runs (sent, answered, ok, t_last_sent,
 * t_last_answer) are written with atomic builtins.
 */

#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* One publish connection, and the publish it has out. */
struct pub_req {
	struct client		 c;
	struct publisher	*p;
	int64_t			 seq;
	uint64_t		 sched;		/* when it was due */
	struct pub_req		*next;		/* free list */
};

static void
pub_body(struct client *c, const char *buf, size_t len)
{
	(void)c;
	(void)buf;
	(void)len;
}

static void
pub_done(struct client *c, int error)
{
	struct pub_req		*r = c->arg;
	struct publisher	*p = r->p;
	int			 ok = !error && c->status >= 200 &&
				    c->status < 300;
	uint64_t		 now = now_ns();

	hist_add(&p->lat, now - r->sched);
	p->state[r->seq] = ok ? 1 : 2;
	SHARED_SET(p->t_last_answer, now);
	if (ok)
		SHARED_SET(p->ok, p->ok + 1);
	SHARED_SET(p->answered, p->answered + 1);
	if (!ok) {
		p->failed++;
		p->last_status = error ? -1 : c->status;
	}
	r->next = p->free_reqs;
	p->free_reqs = r;
	if (p->eager)
		pub_pump(p, now_ns());
}

/* Sends one publish; -1 if no connection could be opened just now. */
static int
pub_send(struct publisher *p, struct pub_req *r, int64_t seq, uint64_t sched)
{
	char	 body[65536];
	int	 n;

	if (p->type != NULL)
		n = snprintf(body, sizeof body, "{\"type\":\"%s\",\"payload\":"
		    "{\"t\":%" PRIu64 ",\"seq\":%" PRId64 ",\"pad\":\"%s\"}}",
		    p->type, sched, seq, p->pad);
	else if (p->o->rooms > 0)
		n = snprintf(body, sizeof body, "{\"t\":%" PRIu64 ",\"seq\":%"
		    PRId64 ",\"%s\":\"%s%" PRId64 "\",\"pad\":\"%s\"}",
		    sched, seq, p->o->room_field, p->o->room_prefix,
		    seq % p->o->rooms, p->pad);
	else
		n = snprintf(body, sizeof body, "{\"t\":%" PRIu64 ",\"seq\":%"
		    PRId64 ",\"pad\":\"%s\"}", sched, seq, p->pad);
	r->seq = seq;
	r->sched = sched;
	if (client_request(&r->c, "POST", p->o->pub_uri, p->o->token,
	    "application/json", body, (size_t)n) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return (-1);
		pub_done(&r->c, 1);
	}
	return (0);
}

void
pub_init(struct publisher *p, const struct load_opts *o, const char *type,
    int64_t total)
{
	size_t	 padlen;
	int	 i;

	memset(p, 0, sizeof *p);
	p->o = o;
	p->type = type;
	p->total = total;
	padlen = o->size > 60 ? o->size - 60 : 0;
	p->pad = xcalloc(1, padlen + 1);
	memset(p->pad, 'x', padlen);
	p->reqs = xcalloc(o->pub_conc, sizeof *p->reqs);
	for (i = 0; i < o->pub_conc; i++) {
		client_init(&p->reqs[i].c, o->pub_target, NULL, pub_body,
		    pub_done, &p->reqs[i]);
		p->reqs[i].p = p;
		p->reqs[i].next = p->free_reqs;
		p->free_reqs = &p->reqs[i];
	}
	p->state = xcalloc(total > 0 ? total + 1 : 1, 1);
	hist_init(&p->lat);
}

/* Sends every publish that is due by now and has a free connection. */
void
pub_pump(struct publisher *p, uint64_t now)
{
	struct pub_req	*r;
	uint64_t	 due;
	int64_t		 seq;

	if (now < p->t0 || p->total == 0)
		return;
	due = (uint64_t)((double)(now - p->t0) * p->o->rate / 1e9) + 1;
	if (due > (uint64_t)p->total)
		due = p->total;
	while ((uint64_t)p->sent < due && (r = p->free_reqs) != NULL) {
		p->free_reqs = r->next;
		seq = p->sent;
		SHARED_SET(p->sent, seq + 1);
		SHARED_SET(p->t_last_sent, now);
		if (pub_send(p, r, seq, p->t0 + (uint64_t)(seq * 1e9 /
		    p->o->rate)) == -1) {
			SHARED_SET(p->sent, seq);
			r->next = p->free_reqs;
			p->free_reqs = r;
			return;
		}
	}
}

/*
 * Reads an event of type want with a seq and due time of ours; -1 if it
 * is not one (counted in g as another type, or unreadable).
 */
int
pub_read(const struct publisher *p, struct got *g, const char *want,
    const char *type, const char *data, size_t len, int64_t *seq, int64_t *t)
{
	if (strcmp(type, want) != 0) {
		g->other++;
		return (-1);
	}
	*seq = json_int(data, len, "\"seq\":");
	*t = json_int(data, len, "\"t\":");
	if (*seq < 0 || *seq >= p->total || *t < 0) {
		g->bad++;
		return (-1);
	}
	return (0);
}

/*
 * Marks seq, due at t and read at now, in a stream's bits (made at its
 * first delivery): -1 if the stream had it already (a duplicate), else 0
 * with its latency added to lat.
 */
int
pub_seen(const struct publisher *p, struct got *g, int64_t seq, int64_t t,
    uint64_t now, struct hist *lat)
{
	if (g->seen == NULL)
		g->seen = xcalloc(1, (p->total + 7) / 8);
	if (g->seen[seq / 8] & (1 << (seq % 8))) {
		g->dup++;
		return (-1);
	}
	g->seen[seq / 8] |= 1 << (seq % 8);
	g->recv++;
	hist_add(lat, now > (uint64_t)t ? now - (uint64_t)t : 0);
	return (0);
}

/* Whether seq is due to a stream of room (-1: every stream). */
int
pub_due(const struct publisher *p, int room, int64_t seq)
{
	return (room < 0 || p->o->rooms <= 0 || seq % p->o->rooms == room);
}

/*
 * Of seqs [0, upto) due to the stream, the acknowledged ones its bits
 * lack; the ones it got although their publish failed or were not due
 * are added to *unexpected.
 */
static uint64_t
pub_missing(const struct publisher *p, const struct got *g, int64_t upto,
    uint64_t *unexpected)
{
	const uint8_t	*seen = g->seen;
	uint64_t	 miss = 0;
	int64_t		 q;
	int		 got;

	for (q = 0; q < upto; q++) {
		got = seen != NULL && (seen[q / 8] & (1 << (q % 8)));
		if (!pub_due(p, g->room, q)) {
			*unexpected += got;
			continue;
		}
		if (p->state[q] == 1 && !got)
			miss++;
		else if (p->state[q] != 1 && got)
			(*unexpected)++;
	}
	return (miss);
}

/* Adds a stream's account of seqs [0, upto) to t. */
void
pub_tally(const struct publisher *p, struct tally *t, const struct got *g,
    int64_t upto)
{
	uint64_t	 miss;

	miss = pub_missing(p, g, upto, &t->unexpected);
	t->missing += miss;
	t->complete += miss == 0;
	t->dup += g->dup;
	t->ooo += g->ooo;
	t->other += g->other;
	t->bad += g->bad;
}

void
pub_close(struct publisher *p)
{
	int	 i;

	for (i = 0; p->reqs != NULL && i < p->o->pub_conc; i++)
		client_close(&p->reqs[i].c);
}

void
pub_free(struct publisher *p)
{
	pub_close(p);
	free(p->reqs);
	free(p->pad);
	free(p->state);
}
