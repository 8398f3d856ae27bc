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

/* The worker threads: each takes complete requests from one queue, runs
 * the handler on its own database connection and hands the reply back to
 * the event loop. Workers never touch a socket, so a slow peer cannot
 * hold one. */

#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "basalt.h"

static pthread_mutex_t	 queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 queue_cond = PTHREAD_COND_INITIALIZER;
static struct request	*queue_head, **queue_tail = &queue_head;
static int		 stopping;
static struct worker	**workers;
static int		 nworkers;

struct worker *
worker_new(int index, char *err, size_t errlen)
{
	struct worker	*w;

	w = xcalloc(1, sizeof *w);
	w->index = index;
	w->store = store_open(cfg->database, config_db_timeout(cfg),
	    cfg->synchronous_full, err, errlen);
	if (w->store == NULL) {
		free(w);
		return (NULL);
	}
	w->hooks = hooks_new();
	return (w);
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	hooks_free(w->hooks);
	store_close(w->store);
	free(w);
}

static struct request *
worker_take(void)
{
	struct request	*req;

	pthread_mutex_lock(&queue_lock);
	while (queue_head == NULL && !stopping)
		pthread_cond_wait(&queue_cond, &queue_lock);
	req = queue_head;
	if (req != NULL) {
		queue_head = req->next;
		if (queue_head == NULL)
			queue_tail = &queue_head;
		req->next = NULL;
	}
	pthread_mutex_unlock(&queue_lock);
	return (req);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	struct request	*req;
	char		 rid[REQUEST_ID_MAX + 1];

	while ((req = worker_take()) != NULL) {
		config_refresh();	/* one snapshot for the whole request */
		/* a copy: req may be gone once handed on */
		strlcpy_b(rid, req->rid, sizeof rid);
		log_rid = rid;
		if (req->after != NULL) {
			req->after(w, req);	/* completes req */
			log_rid = NULL;
			continue;
		}
		if (req->out == NULL)
			req->out = evbuffer_new();
		if (route_dispatch(w, req) != API_PENDING)
			conn_complete(req);
		log_rid = NULL;
	}
	config_unhold();
	return (NULL);
}

int
worker_start(int count)
{
	char	 err[512];
	int	 i;

	workers = xcalloc(count, sizeof *workers);
	for (i = 0; i < count; i++) {
		if ((workers[i] = worker_new(i, err, sizeof err)) == NULL) {
			log_error("worker %d: %s", i, err);
			return (-1);
		}
		if (pthread_create(&workers[i]->thread, NULL, worker_main,
		    workers[i]) != 0) {
			worker_free(workers[i]);
			log_error("worker %d: cannot start its thread", i);
			return (-1);
		}
		nworkers++;
	}
	return (0);
}

/* Finishes every queued request, then stops the threads. */
void
worker_stop(void)
{
	int	 i;

	pthread_mutex_lock(&queue_lock);
	stopping = 1;
	pthread_cond_broadcast(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
	for (i = 0; i < nworkers; i++) {
		pthread_join(workers[i]->thread, NULL);
		worker_free(workers[i]);
	}
	free(workers);
	workers = NULL;
	nworkers = 0;
}

void
worker_enqueue(struct request *req)
{
	pthread_mutex_lock(&queue_lock);
	req->next = NULL;
	*queue_tail = req;
	queue_tail = &req->next;
	pthread_cond_signal(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
}
