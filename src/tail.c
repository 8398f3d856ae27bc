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

/* The tail of the event log: reads events committed since the last look
 * and hands them to the broker in id order. Woken at once by this
 * process's writer, and every TAIL_POLL_MS by a cheap check of
 * PRAGMA data_version, which moves when another process commits. Both
 * paths run the same code, so no event is delivered twice or out of
 * order. */

#include <event2/event.h>

#include "basalt.h"

static struct store	*store;
static struct event	*wake_ev, *poll_ev;
static int64_t		 last_id;
static int64_t		 data_version;

static void
tail_row(void *arg, const struct event_row *ev)
{
	(void)arg;
	broker_publish(ev);
	last_id = ev->id;
}

void
tail_run(void)
{
	int	 n;

	do {
		n = store_event_range(store, last_id, 0, NULL, NULL, NULL, NULL,
		    TAIL_BATCH, tail_row, NULL);
		broker_flush();	/* one write per stream per batch */
	} while (n == TAIL_BATCH);
	if (n < 0)
		log_warn("reading the event log failed; will retry");
}

static void
tail_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	data_version = store_data_version(store);
	tail_run();
}

static void
tail_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t	 v;

	(void)fd; (void)what; (void)arg;
	v = store_data_version(store);
	if (v == data_version)
		return;
	data_version = v;
	tail_run();
}

void
tail_wake(void)
{
	event_active(wake_ev, EV_READ, 0);
}

void
tail_init(struct event_base *base, struct store *st)
{
	struct timeval	 tv = { 0, TAIL_POLL_MS * 1000 };

	store = st;
	last_id = store_event_max(store);
	broker_set_head(last_id);
	data_version = store_data_version(store);
	wake_ev = event_new(base, -1, 0, tail_wake_cb, NULL);
	poll_ev = event_new(base, -1, EV_PERSIST, tail_poll_cb, NULL);
	evtimer_add(poll_ev, &tv);
}

void
tail_free(void)
{
	if (wake_ev != NULL)
		event_free(wake_ev);
	if (poll_ev != NULL)
		event_free(poll_ev);
	wake_ev = poll_ev = NULL;
}
