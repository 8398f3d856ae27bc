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

/* A log-bucketed latency histogram: 32 buckets per power of two (3%). */

#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "bench.h"

#define SUB	(1 << HIST_SUB_BITS)

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

static unsigned
hist_index(uint64_t v)
{
	unsigned	 e;

	if (v < SUB)
		return (v);
	e = 63 - __builtin_clzll(v);
	return (SUB + (e - HIST_SUB_BITS) * SUB +
	    ((v >> (e - HIST_SUB_BITS)) & (SUB - 1)));
}

/* The highest value that falls in bucket i. */
static uint64_t
hist_upper(unsigned i)
{
	unsigned	 e, sub;

	if (i < SUB)
		return (i);
	e = (i - SUB) / SUB + HIST_SUB_BITS;
	sub = (i - SUB) % SUB;
	return ((((uint64_t)SUB + sub) << (e - HIST_SUB_BITS)) +
	    ((uint64_t)1 << (e - HIST_SUB_BITS)) - 1);
}

void
hist_add(struct hist *h, uint64_t v)
{
	h->bucket[hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v > h->max)
		h->max = v;
	if (v < h->min)
		h->min = v;
}

void
hist_merge(struct hist *h, const struct hist *o)
{
	unsigned	 i;

	for (i = 0; i < HIST_BUCKETS; i++)
		h->bucket[i] += o->bucket[i];
	h->count += o->count;
	h->sum += o->sum;
	if (o->max > h->max)
		h->max = o->max;
	if (o->min < h->min)
		h->min = o->min;
}

/* The value at quantile q (0..1): the upper end of its bucket, at most max. */
uint64_t
hist_pct(const struct hist *h, double q)
{
	uint64_t	 rank, seen = 0, up;
	unsigned	 i;

	if (h->count == 0)
		return (0);
	rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen > rank) {
			up = hist_upper(i);
			return (up < h->max ? up : h->max);
		}
	}
	return (h->max);
}

void
hist_print(const struct hist *h, const char *name)
{
	if (h->count == 0) {
		printf("%-12s no samples\n", name);
		return;
	}
	printf("%-12s n=%llu p50=%.3fms p90=%.3fms p99=%.3fms p999=%.3fms "
	    "max=%.3fms mean=%.3fms\n", name, (unsigned long long)h->count,
	    hist_pct(h, 0.5) / 1e6, hist_pct(h, 0.9) / 1e6,
	    hist_pct(h, 0.99) / 1e6, hist_pct(h, 0.999) / 1e6, h->max / 1e6,
	    h->sum / h->count / 1e6);
}

/* The percentiles in microseconds as key=value words of a RESULT line. */
void
hist_result(const struct hist *h, const char *prefix)
{
	printf(" %s_p50_us=%.1f %s_p90_us=%.1f %s_p99_us=%.1f "
	    "%s_p999_us=%.1f %s_max_us=%.1f", prefix, hist_pct(h, 0.5) / 1e3,
	    prefix, hist_pct(h, 0.9) / 1e3, prefix, hist_pct(h, 0.99) / 1e3,
	    prefix, hist_pct(h, 0.999) / 1e3, prefix,
	    h->count ? h->max / 1e3 : 0.0);
}
