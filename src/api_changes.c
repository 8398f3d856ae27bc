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

/* An app's change feed: every event of the app (or of the collections
 * named) in log order from since= on, as SSE when the client accepts
 * text/event-stream (live, like a collection's stream: the broker's) and
 * as NDJSON otherwise, up to the head the request saw, read here in
 * parts, each once the client has taken most of the one before.
 * Everything is checked before anything is sent. */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "basalt.h"

static int
coll_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* collections=a,b: collections of the app, each once, as ",a,b," sorted
 * (NULL: all). 400 for a bad list, 404 for a collection not there. */
static int
changes_colls(struct api_ctx *ctx, struct stream_spec *spec)
{
	struct error	*err = &ctx->req->err;
	char		 buf[MAX_FEED_COLLECTIONS * (MAX_NAME_LEN + 1)];
	char		*list[MAX_FEED_COLLECTIONS], *p, *next, *out;
	size_t		 n = 0, i;
	int64_t		 id;
	int		 rc;

	if ((rc = request_query(ctx->req, "collections", buf,
	    sizeof buf)) == -1)
		return (0);
	if (rc == -2)
		return (error_set(err, ERR_INVALID_PARAMETER, "collections "
		    "must be at most %d names, separated by commas",
		    MAX_FEED_COLLECTIONS));
	for (p = buf; p != NULL; p = next) {
		if ((next = strchr(p, ',')) != NULL)
			*next++ = '\0';
		if (!name_valid(p))
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "collections: '%.*s' is not a collection name",
			    MAX_NAME_LEN, p));
		if (n == MAX_FEED_COLLECTIONS)
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "collections lists at most %d names",
			    MAX_FEED_COLLECTIONS));
		rc = store_collection_id(ctx->worker->store, ctx->ids.app_id,
		    p, &id);
		if (rc != STORE_OK) {
			char	 what[MAX_NAME_LEN + 16];

			snprintf(what, sizeof what, "collection '%.*s'",
			    MAX_NAME_LEN, p);
			return (error_store(err, rc, what));
		}
		list[n++] = p;
	}
	qsort(list, n, sizeof *list, coll_cmp);
	out = spec->colls = xmalloc(sizeof buf + 2);
	*out++ = ',';
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(list[i], list[i - 1]) != 0)
			out += sprintf(out, "%s,", list[i]);
	return (0);
}

/* since=: the id after which the feed starts; Last-Event-ID (or
 * last_event_id=) wins, as a reconnecting client sends it. */
static int
changes_since(struct api_ctx *ctx, struct stream_spec *spec)
{
	char		 buf[32], *end;
	long long	 v;
	int		 rc;

	if (api_stream_last_id(ctx, spec) == -1)
		return (-1);
	if (spec->has_last_id ||
	    (rc = request_query(ctx->req, "since", buf, sizeof buf)) == -1)
		return (0);
	errno = 0;
	v = rc == 0 ? strtoll(buf, &end, 10) : -1;
	if (rc == -2 || !isdigit((unsigned char)buf[0]) || *end != '\0' ||
	    errno != 0 || v < 0)
		return (error_set(&ctx->req->err, ERR_INVALID_PARAMETER,
		    "since must be an event id"));
	spec->has_last_id = 1;
	spec->last_id = v;
	return (0);
}

/* An end user's feed: each collection's rules bound to the token, as
 * its streams are (broker_feed_bind); a collection named whose list rule
 * is unset is refused, as its stream would be. */
static int
changes_rules(struct api_ctx *ctx, struct stream_spec *spec)
{
	struct error	*err = &ctx->req->err;
	const char	*p, *e;
	size_t		 i;

	api_stream_jwt(ctx, spec, ctx->ids.app_id);
	if (broker_feed_bind(ctx->worker->store, spec, err) == -1)
		return (-1);
	for (p = spec->colls; p != NULL && p[1] != '\0'; p = e) {
		e = strchr(p + 1, ',');
		for (i = 0; i < spec->nbinds; i++)
			if (strlen(spec->binds[i].collection) ==
			    (size_t)(e - p - 1) &&
			    strncmp(spec->binds[i].collection, p + 1,
			    e - p - 1) == 0)
				break;
		if (i == spec->nbinds)
			return (error_set(err, ERR_FORBIDDEN, "the list rule "
			    "of '%.*s' is not set", (int)(e - p - 1), p + 1));
	}
	return (0);
}

static void
changes_first(void *arg, const struct event_row *ev)
{
	*(int64_t *)arg = ev->id;
}

/*
 * NDJSON: where the answer ends (the head) and whether since is in the
 * log, read in the request's one snapshot. Without since it starts at
 * the oldest event the log keeps. 1 if since is no id of the log (the
 * answer is then the one reset line streams get), 0, or -1 with 410 and
 * the oldest id if retention took events after since.
 */
static int
changes_range(struct api_ctx *ctx, struct stream_spec *spec)
{
	struct store	*st = ctx->worker->store;
	struct error	*err = &ctx->req->err;
	int64_t		 pruned, oldest = 0;
	int		 rc = 0;

	/* route.c runs the handler in one read transaction */
	spec->end_at = store_event_max(st);
	pruned = store_event_pruned(st, ctx->realm, ctx->app);
	if (!spec->has_last_id) {
		spec->has_last_id = 1;
		spec->last_id = pruned;
	} else if (spec->last_id < pruned) {
		if (store_event_range(st, pruned, spec->end_at, ctx->realm,
		    ctx->app, NULL, NULL, 1, changes_first, &oldest) < 0)
			rc = error_set(err, ERR_INTERNAL, NULL);
		else {
			rc = error_set(err, ERR_EVENTS_PRUNED, "retention "
			    "deleted the events up to %lld; the oldest the "
			    "log keeps is %lld", (long long)pruned,
			    (long long)oldest);
			err->oldest_id = oldest;
		}
	} else if (store_event_unknown(st, spec->last_id))
		rc = 1;
	return (rc);
}

/* The answer to a since= that is no id of the log: the reset a stream
 * gets, as the one line, with the head to go on from. */
static void
changes_unknown(struct request *req, int64_t head)
{
	reply_ndjson(req);
	if (strcmp(request_param(req, "REQUEST_METHOD"), "HEAD") == 0)
		return;
	evbuffer_add_printf(req->out, "{\"type\":\"reset\",\"data\":"
	    "{\"reason\":\"unknown_event_id\",\"last_event_id\":%lld}}\n",
	    (long long)head);
}

/* Where an NDJSON answer is, between its parts. */
struct changes_part {
	struct broker_feed	*feed;
	int64_t			 last;
	int64_t			 end_at;
	int64_t			 expires_at;	/* its token's, 0: never */
	char			 token_id[TOKEN_ID_LEN + 1];	/* "": a JWT */
	int64_t			 started;	/* unix seconds */
};

static void
changes_revoked_one(void *arg, const char *id)
{
	struct changes_part	*cp = arg;

	if (strcmp(id, cp->token_id) == 0)
		cp->token_id[0] = '\0';	/* marks it revoked */
}

/* Whether the service token of the answer was revoked since it began
 * (by any process): one indexed query a part. */
static int
changes_revoked(struct changes_part *cp, struct store *st)
{
	if (cp->token_id[0] == '\0')
		return (0);
	if (store_token_revoked_since(st, cp->started, changes_revoked_one,
	    cp) != STORE_OK)
		return (0);	/* looked at again at the next part */
	return (cp->token_id[0] == '\0');
}

static void
changes_part_free(void *arg)
{
	struct changes_part	*cp = arg;

	broker_feed_free(cp->feed);
	free(cp);
}

/* A worker, once the client took most of the last part: the next one,
 * or the last. A token that expired or was revoked meanwhile ends it
 * as it ends streams; so does basalt stopping (the last id sent says
 * where to go on). */
static void
changes_next(struct worker *w, struct request *req)
{
	struct changes_part	*cp = req->after_arg;
	char			 id[TOKEN_ID_LEN + 1];
	int			 rc;

	strlcpy_b(id, cp->token_id, sizeof id);
	if (cp->expires_at != 0 && cp->expires_at <= time_now_ms() / 1000) {
		evbuffer_add_printf(req->out, "{\"type\":\"token_expired\","
		    "\"data\":{\"expires_at\":%lld}}\n",
		    (long long)cp->expires_at);
		rc = 0;
	} else if (changes_revoked(cp, w->store)) {
		evbuffer_add_printf(req->out, "{\"type\":\"token_revoked\","
		    "\"data\":{\"token_id\":\"%s\"}}\n", id);
		rc = 0;
	} else if ((rc = broker_feed_page(cp->feed, w->store, &cp->last,
	    cp->end_at, req->out)) == -1)
		log_warn("a change feed ends early: the log cannot be read: %s",
		    store_errmsg(w->store));
	req->more = rc == 1 && !conn_stopping();
	conn_complete(req);
}

int
api_changes(struct api_ctx *ctx)
{
	struct request		*req = ctx->req;
	struct stream_spec	*spec = &req->spec;
	const char		*accept = request_param(req, "HTTP_ACCEPT");
	struct changes_part	*cp;
	int			 rc = 0;

	memset(spec, 0, sizeof *spec);
	spec->feed = 1;
	spec->ndjson = accept == NULL ||
	    strstr(accept, "text/event-stream") == NULL;
	if (changes_since(ctx, spec) == -1 ||
	    api_stream_filter(ctx, spec) == -1 ||
	    changes_colls(ctx, spec) == -1)
		return (-1);
	strlcpy_b(spec->realm, ctx->realm, sizeof spec->realm);
	strlcpy_b(spec->app, ctx->app, sizeof spec->app);
	if (ctx->grant.jwt && changes_rules(ctx, spec) == -1)
		return (-1);
	if (spec->ndjson && (rc = changes_range(ctx, spec)) == -1)
		return (-1);
	if (rc == 1) {
		changes_unknown(req, spec->end_at);
		return (0);
	}
	/* it ends when its token is revoked or expires */
	strlcpy_b(spec->token_id, ctx->grant.token_id, sizeof spec->token_id);
	spec->expires_at = ctx->grant.expires_at;
	if (!spec->ndjson) {
		broker_spec_start(ctx->worker->store, spec);
		reply_stream(req);
		return (0);
	}
	reply_ndjson(req);
	if (strcmp(request_param(req, "REQUEST_METHOD"), "HEAD") == 0)
		return (0);
	cp = xcalloc(1, sizeof *cp);
	cp->last = spec->last_id;
	cp->end_at = spec->end_at;
	cp->expires_at = spec->expires_at;
	strlcpy_b(cp->token_id, spec->token_id, sizeof cp->token_id);
	/* revoked_at has a resolution of seconds: look a little back */
	cp->started = time_now_ms() / 1000 - 5;
	cp->feed = broker_feed_new(spec);
	req->after = changes_next;
	req->after_arg = cp;
	req->after_free = changes_part_free;
	req->more = cp->last < cp->end_at;
	return (0);
}
