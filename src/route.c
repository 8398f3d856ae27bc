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

/* The route table: one row per (method, path pattern) with its handler and
 * the scope it needs, and the dispatch that checks, in order, the path
 * (404: no route, or an empty segment where a name goes), the token (401),
 * the names in the path (400), a JWT against the keys of the app they
 * name (401), the grant (403) and that the named objects exist (404)
 * before a handler runs. OPTIONS, which no row has, answers
 * with the methods of the path (a CORS preflight, without a token). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"

#define MAX_SEGS	12
#define SEG_SIZE	256

enum { NO_AUTH, AUTH, AUTH_OR_QUERY };

static const struct route {
	const char	*method;
	const char	*pattern;	/* ":x" captures a segment */
	int		(*fn)(struct api_ctx *);
	int		 auth;
	int		 scope;
} routes[] = {
	{ "GET", "/api/health", api_health, NO_AUTH, 0 },
	{ "GET", "/api/metrics", api_metrics, NO_AUTH, 0 },
	{ "GET", "/api/token", api_token, AUTH, 0 },
	{ "GET", "/api/realms/:realm/apps/:app/cors",
	    api_app_cors_get, AUTH, SCOPE_ADMIN },
	{ "PUT", "/api/realms/:realm/apps/:app/cors",
	    api_app_cors_put, AUTH, SCOPE_ADMIN },
	{ "GET", "/api/realms/:realm/apps/:app/token", api_app_token, AUTH, 0 },
	{ "GET", "/api/realms/:realm/apps/:app/jwt",
	    api_app_jwt_get, AUTH, SCOPE_ADMIN },
	{ "PUT", "/api/realms/:realm/apps/:app/jwt",
	    api_app_jwt_put, AUTH, SCOPE_ADMIN },
	{ "DELETE", "/api/realms/:realm/apps/:app/jwt",
	    api_app_jwt_delete, AUTH, SCOPE_ADMIN },
	{ "POST", "/api/realms/:realm/apps/:app/jwt/keys",
	    api_app_jwt_key_add, AUTH, SCOPE_ADMIN },
	{ "DELETE", "/api/realms/:realm/apps/:app/jwt/keys/:kid",
	    api_app_jwt_key_remove, AUTH, SCOPE_ADMIN },
	{ "GET", "/api/realms/:realm/apps/:app/tokens",
	    api_tokens_list, AUTH, SCOPE_ADMIN },
	{ "POST", "/api/realms/:realm/apps/:app/tokens",
	    api_token_create, AUTH, SCOPE_ADMIN },
	{ "DELETE", "/api/realms/:realm/apps/:app/tokens/:token",
	    api_token_revoke, AUTH, SCOPE_ADMIN },
	{ "GET", "/api/realms/:realm/apps/:app/webhooks",
	    api_webhooks_list, AUTH, SCOPE_ADMIN },
	{ "POST", "/api/realms/:realm/apps/:app/webhooks",
	    api_webhook_create, AUTH, SCOPE_ADMIN },
	{ "DELETE", "/api/realms/:realm/apps/:app/webhooks/:id",
	    api_webhook_delete, AUTH, SCOPE_ADMIN },
	{ "POST", "/api/realms/:realm/apps/:app/webhooks/:id/resume",
	    api_webhook_resume, AUTH, SCOPE_ADMIN },
	{ "GET", "/api/realms/:realm/apps/:app/collections",
	    api_collections_list, AUTH, SCOPE_READ },
	{ "POST", "/api/realms/:realm/apps/:app/collections",
	    api_collection_create, AUTH, SCOPE_ADMIN },
	{ "GET", "/api/realms/:realm/apps/:app/collections/:coll",
	    api_collection_get, AUTH, SCOPE_READ },
	{ "PATCH", "/api/realms/:realm/apps/:app/collections/:coll",
	    api_collection_patch, AUTH, SCOPE_ADMIN },
	{ "DELETE", "/api/realms/:realm/apps/:app/collections/:coll",
	    api_collection_delete, AUTH, SCOPE_ADMIN },
	{ "GET", "/api/realms/:realm/apps/:app/collections/:coll/indexes",
	    api_indexes_list, AUTH, SCOPE_ADMIN },
	{ "POST", "/api/realms/:realm/apps/:app/collections/:coll/indexes",
	    api_index_create, AUTH, SCOPE_ADMIN },
	{ "DELETE",
	    "/api/realms/:realm/apps/:app/collections/:coll/indexes/:field",
	    api_index_drop, AUTH, SCOPE_ADMIN },
	{ "GET", "/api/realms/:realm/apps/:app/collections/:coll/records",
	    api_records_list, AUTH, SCOPE_READ },
	{ "POST", "/api/realms/:realm/apps/:app/collections/:coll/records",
	    api_record_create, AUTH, SCOPE_WRITE },
	{ "GET", "/api/realms/:realm/apps/:app/collections/:coll/records/:id",
	    api_record_get, AUTH, SCOPE_READ },
	{ "PATCH", "/api/realms/:realm/apps/:app/collections/:coll/records/:id",
	    api_record_patch, AUTH, SCOPE_WRITE },
	{ "PUT", "/api/realms/:realm/apps/:app/collections/:coll/records/:id",
	    api_record_put, AUTH, SCOPE_WRITE },
	{ "DELETE", "/api/realms/:realm/apps/:app/collections/:coll/records/:id",
	    api_record_delete, AUTH, SCOPE_WRITE },
	{ "GET", "/api/realms/:realm/apps/:app/collections/:coll/events",
	    api_events_stream, AUTH_OR_QUERY, SCOPE_READ },
	{ "POST", "/api/realms/:realm/apps/:app/collections/:coll/events",
	    api_events_publish, AUTH, SCOPE_WRITE },
	{ "GET",
	    "/api/realms/:realm/apps/:app/collections/:coll/records/:id/events",
	    api_events_stream, AUTH_OR_QUERY, SCOPE_READ },
	{ "GET", "/api/realms/:realm/apps/:app/changes",
	    api_changes, AUTH_OR_QUERY, SCOPE_READ },
	{ "POST", "/api/realms/:realm/apps/:app/batch", api_batch, AUTH,
	    SCOPE_WRITE },
	{ "GET", "/_", api_dashboard, NO_AUTH, 0 },
	{ "GET", "/_/:file", api_dashboard, NO_AUTH, 0 },
};

_Static_assert(sizeof routes / sizeof routes[0] <= METRICS_ROUTES_MAX,
    "metrics.c counts requests of METRICS_ROUTES_MAX routes at most");

/* The pattern of the table's i-th route and its method in *method;
 * NULL past the end (metrics.c). */
const char *
route_pattern(int i, const char **method)
{
	if (i < 0 || (size_t)i >= sizeof routes / sizeof routes[0])
		return (NULL);
	*method = routes[i].method;
	return (routes[i].pattern);
}

int
route_split(const char *path, char segs[][SEG_SIZE], int max)
{
	const char	*p = path, *e;
	int		 n = 0;

	if (*p != '/')
		return (-1);
	/* A trailing slash, like any "//", makes an empty segment. */
	while (*p == '/') {
		p++;
		e = p + strcspn(p, "/");
		if (n == max || request_decode(p, e - p, 0, segs[n],
		    SEG_SIZE) == -1)
			return (-1);
		n++;
		p = e;
	}
	return (n);
}

/* Matches segments against a pattern and copies the captures. */
static int
route_match(const struct route *r, char segs[][SEG_SIZE], int n,
    struct api_ctx *ctx)
{
	char		 pat[SEG_SIZE * 2], *p, *save = NULL;
	int		 i = 0;

	strlcpy_b(pat, r->pattern, sizeof pat);
	for (p = strtok_r(pat, "/", &save); p != NULL;
	    p = strtok_r(NULL, "/", &save), i++) {
		if (i == n)
			return (0);
		/* An empty capture names nothing: no route matches it, so
		 * it is 404 before any token is looked at. (An empty :file
		 * is the dashboard's index, /_/; an empty :kid a key
		 * without one.) */
		if (*p == ':' ? segs[i][0] == '\0' && strcmp(p, ":file") != 0 &&
		    strcmp(p, ":kid") != 0 :
		    strcmp(p, segs[i]) != 0)
			return (0);
	}
	if (i != n)
		return (0);
	if (ctx == NULL)
		return (1);
	strlcpy_b(pat, r->pattern, sizeof pat);
	i = 0;
	for (p = strtok_r(pat, "/", &save); p != NULL;
	    p = strtok_r(NULL, "/", &save), i++) {
		if (strcmp(p, ":realm") == 0)
			strlcpy_b(ctx->realm, segs[i], sizeof ctx->realm);
		else if (strcmp(p, ":app") == 0)
			strlcpy_b(ctx->app, segs[i], sizeof ctx->app);
		else if (strcmp(p, ":coll") == 0)
			strlcpy_b(ctx->collection, segs[i], sizeof ctx->collection);
		else if (strcmp(p, ":id") == 0)
			strlcpy_b(ctx->record_id, segs[i], sizeof ctx->record_id);
		else if (strcmp(p, ":file") == 0)
			strlcpy_b(ctx->file, segs[i], sizeof ctx->file);
		else if (strcmp(p, ":field") == 0)
			strlcpy_b(ctx->field, segs[i], sizeof ctx->field);
		else if (strcmp(p, ":kid") == 0)
			strlcpy_b(ctx->kid, segs[i], sizeof ctx->kid);
		else if (strcmp(p, ":token") == 0)
			strlcpy_b(ctx->token_id, segs[i], sizeof ctx->token_id);
		else
			continue;
		if (strlen(segs[i]) > (strcmp(p, ":id") == 0 ? ULID_LEN :
		    strcmp(p, ":field") == 0 ? MAX_INDEX_FIELD_LEN :
		    strcmp(p, ":token") == 0 ? TOKEN_ID_LEN :
		    strcmp(p, ":kid") == 0 ? MAX_KID_LEN : MAX_NAME_LEN))
			ctx->long_name = 1;
	}
	return (1);
}

/* What the :id of a route names, for its errors. */
static const char *
route_id_kind(const struct route *r)
{
	return (strstr(r->pattern, "/webhooks/:id") != NULL ? "webhook" :
	    "record");
}

/* 400 for malformed names in the path. */
static int
route_check_names(struct api_ctx *ctx, const struct route *r)
{
	struct error	*err = &ctx->req->err;
	int		 i;

	if (ctx->long_name)
		return (error_set(err, ctx->record_id[0] != '\0' &&
		    strlen(ctx->record_id) == ULID_LEN ? ERR_INVALID_ID :
		    ERR_INVALID_NAME, "a name or id in the path is too long"));
	for (i = 0; i < 3; i++) {
		const char *name = i == 0 ? ctx->realm : i == 1 ? ctx->app :
		    ctx->collection;

		if (name[0] != '\0' && !name_valid(name))
			return (error_set(err, ERR_INVALID_NAME,
			    "invalid name '%s': names match "
			    "[a-z0-9][a-z0-9_-]{0,62}", name));
	}
	if (ctx->record_id[0] != '\0' && !ulid_valid(ctx->record_id))
		return (error_set(err, ERR_INVALID_ID, "invalid %s id '%s'",
		    route_id_kind(r), ctx->record_id));
	return (0);
}

/* 404 unless the realm, app and collection of the path exist. */
static int
route_resolve(struct api_ctx *ctx)
{
	const char	*missing, *name;
	char		 what[MAX_NAME_LEN + 32] = "";
	int		 rc;

	if (ctx->realm[0] == '\0')
		return (0);
	if (ctx->grant.app_id != 0) {
		/* auth_allow matched the token's realm and app to the path's,
		 * and the token lookup brought their ids. */
		ctx->ids.realm_id = ctx->grant.realm_id;
		ctx->ids.app_id = ctx->grant.app_id;
		missing = "collection";
		rc = ctx->collection[0] == '\0' ? STORE_OK :
		    store_collection_id(ctx->worker->store, ctx->ids.app_id,
		    ctx->collection, &ctx->ids.collection_id);
	} else
		rc = store_resolve(ctx->worker->store, ctx->realm, ctx->app,
		    ctx->collection[0] != '\0' ? ctx->collection : NULL,
		    &ctx->ids, &missing);
	if (rc == STORE_OK)
		return (0);
	if (rc == STORE_NOTFOUND) {
		name = strcmp(missing, "realm") == 0 ? ctx->realm :
		    strcmp(missing, "app") == 0 ? ctx->app : ctx->collection;
		snprintf(what, sizeof what, "%s '%s'", missing, name);
	}
	return (error_store(&ctx->req->err, rc, what));
}

static int
route_run(struct api_ctx *ctx, const struct route *r)
{
	if (r->auth != NO_AUTH &&
	    auth_token(ctx, r->auth == AUTH_OR_QUERY) == -1)
		return (-1);
	if (route_check_names(ctx, r) == -1)
		return (-1);
	if (r->auth != NO_AUTH && auth_jwt(ctx, r->auth == AUTH_OR_QUERY) == -1)
		return (-1);
	if (r->auth != NO_AUTH && auth_allow(ctx, r->scope) == -1)
		return (-1);
	if (route_resolve(ctx) == -1)
		return (-1);
	return (r->fn(ctx));
}

/* Finds the route, or says 404 or 405 with the methods the path has. */
static const struct route *
route_find(struct api_ctx *ctx, char segs[][SEG_SIZE], int n)
{
	struct error	*err = &ctx->req->err;
	const char	*method = ctx->method;
	size_t		 i;
	int		 path_found = 0;

	/* HEAD is GET without the body (reply.c leaves the body out). */
	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		if (!route_match(&routes[i], segs, n, NULL))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			route_match(&routes[i], segs, n, ctx);
			return (&routes[i]);
		}
		if (path_found++ > 0)
			strlcat_b(err->allow, ", ", sizeof err->allow);
		strlcat_b(err->allow, routes[i].method, sizeof err->allow);
		if (strcmp(routes[i].method, "GET") == 0)
			strlcat_b(err->allow, ", HEAD", sizeof err->allow);
	}
	if (path_found)
		error_set(err, ERR_METHOD, "%s is not allowed here; use %s",
		    ctx->method, err->allow);
	else
		error_set(err, ERR_NOT_FOUND, "no such endpoint");
	return (NULL);
}

/* Answers under /api/ follow CORS: the app's origins apply to the paths
 * that name it, cors_origins to all. */
static void
route_cors(struct worker *w, struct request *req, char segs[][SEG_SIZE],
    int n)
{
	if (n < 1 || strcmp(segs[0], "api") != 0)
		return;
	if (n >= 5 && strcmp(segs[1], "realms") == 0 &&
	    strcmp(segs[3], "apps") == 0)
		cors_check(w->store, req, segs[2], segs[4]);
	else
		cors_check(w->store, req, NULL, NULL);
}

/* The segments of a request URI's path (the query left out); -1 if it
 * is malformed or too long. */
static int
route_uri_split(const char *uri, char segs[][SEG_SIZE])
{
	char	 path[4096];
	size_t	 n;

	n = strcspn(uri, "?#");
	if (n >= sizeof path)
		return (-1);
	memcpy(path, uri, n);
	path[n] = '\0';
	return (route_split(path, segs, MAX_SEGS));
}

/* The route of a path alone, without its captures; NULL if none. */
static const struct route *
route_of(const char *method, const char *uri)
{
	char		 segs[MAX_SEGS][SEG_SIZE];
	size_t		 i;
	int		 nseg;

	if ((nseg = route_uri_split(uri, segs)) < 0)
		return (NULL);
	for (i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (strcmp(routes[i].method, method) == 0 &&
		    route_match(&routes[i], segs, nseg, NULL))
			return (&routes[i]);
	return (NULL);
}

/* Only a batch may send more than max_body_size: a body is read before
 * anything else of the request is checked, so the limit is the route's. */
size_t
route_max_body(const char *method, const char *uri)
{
	const struct route	*r;

	if (method == NULL || uri == NULL ||
	    (r = route_of(method, uri)) == NULL || r->fn != api_batch)
		return (cfg->max_body_size);
	return (cfg->max_batch_size);
}

/*
 * A request inside a batch, its path relative to the batch's app: finds
 * its route for sub->method (a record write, else 400) and checks it as
 * route_run would check it alone: the names (400), the grant (403) and
 * that its collection exists (404). sub starts as a copy of batch and
 * gets the captures and ids; *fn is the route's handler. 0, or -1 with
 * the batch's err set.
 */
int
route_batch(struct api_ctx *batch, struct api_ctx *sub, const char *path,
    int (**fn)(struct api_ctx *))
{
	struct error		*err = &batch->req->err;
	const struct route	*r;
	char			 segs[MAX_SEGS][SEG_SIZE], *full;
	int			 n, i;

	if (path[0] == '/' || path[strcspn(path, "?#")] != '\0')
		return (error_set(err, ERR_INVALID_BATCH, "a path is relative "
		    "to the app, without a query: collections/NAME/records"));
	xasprintf(&full, "/api/realms/%s/apps/%s/%s", batch->realm,
	    batch->app, path);
	n = route_uri_split(full, segs);
	free(full);
	for (i = 0; i < n; i++)
		if (strcmp(segs[i], ".") == 0 || strcmp(segs[i], "..") == 0)
			n = -1;
	if (n < 0)
		return (error_set(err, ERR_INVALID_BATCH,
		    "the path must name a record or records of the app"));
	r = route_find(sub, segs, n);
	err->allow[0] = '\0';
	if (r == NULL || (r->fn != api_record_create &&
	    r->fn != api_record_patch && r->fn != api_record_put &&
	    r->fn != api_record_delete))
		return (error_set(err, ERR_INVALID_BATCH, "only record writes "
		    "may be in a batch: POST collections/NAME/records, PATCH, "
		    "PUT or DELETE collections/NAME/records/ID"));
	if (route_check_names(sub, r) == -1 ||
	    auth_allow(sub, r->scope) == -1 || route_resolve(sub) == -1)
		return (-1);
	*fn = r->fn;
	return (0);
}

/* The first route of the path, whatever its method, with its captures
 * in ctx (for a 405); NULL if none. */
static const struct route *
route_path(struct api_ctx *ctx, char segs[][SEG_SIZE], int n)
{
	size_t	 i;

	for (i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (route_match(&routes[i], segs, n, ctx))
			return (&routes[i]);
	return (NULL);
}

/* What the access log shows of a request to route r: its pattern, never
 * the path, and the realm/app the path names. */
static void
route_log_as(struct api_ctx *ctx, const struct route *r)
{
	struct request	*req = ctx->req;

	if (r == NULL)
		return;
	req->route = r->pattern;
	if (name_valid(ctx->realm) && name_valid(ctx->app))
		snprintf(req->log_scope, sizeof req->log_scope, "%s/%s",
		    ctx->realm, ctx->app);
}

int
route_dispatch(struct worker *w, struct request *req)
{
	struct api_ctx		 ctx;
	const struct route	*r;
	const char		*uri;
	char			 segs[MAX_SEGS][SEG_SIZE];
	int			 n, rc;

	memset(&ctx, 0, sizeof ctx);
	ctx.worker = w;
	ctx.req = req;
	ctx.method = request_param(req, "REQUEST_METHOD");
	uri = request_param(req, "REQUEST_URI");
	if (ctx.method == NULL || uri == NULL) {
		error_set(&req->err, ERR_INTERNAL,
		    "the web server sent no REQUEST_METHOD or REQUEST_URI");
		reply_error(req);
		return (0);
	}
	n = route_uri_split(uri, segs);
	route_cors(w, req, segs, n);
	if (req->too_large) {
		error_set(&req->err, ERR_TOO_LARGE,
		    "the body is larger than %zu bytes", req->max_body);
		reply_error(req);
		return (0);
	}
	if (n < 0) {
		error_set(&req->err, ERR_NOT_FOUND, "no such endpoint");
		reply_error(req);
		return (0);
	}
	if ((r = route_find(&ctx, segs, n)) == NULL) {
		if (req->err.code == ERR_METHOD)
			route_log_as(&ctx, route_path(&ctx, segs, n));
		/* No route has OPTIONS: it finds the path's methods. */
		if (req->err.code == ERR_METHOD &&
		    strcmp(ctx.method, "OPTIONS") == 0)
			cors_preflight(req, req->err.allow);
		else
			reply_error(req);
		return (0);
	}
	route_log_as(&ctx, r);
	req->route_ix = (int)(r - routes) + 1;
	if (r->auth != NO_AUTH && (rc = store_read_begin(w->store)) !=
	    STORE_OK) {
		error_store(&req->err, rc, NULL);
		reply_error(req);
		return (0);
	}
	/* After API_PENDING req belongs to the writer: do not touch it. */
	if ((rc = route_run(&ctx, r)) == -1)
		reply_error(req);
	/* A JWT's claims live as long as the handler. */
	json_object_put(ctx.grant.claims);
	ctx.grant.claims = NULL;
	if (r->auth != NO_AUTH)
		store_read_end(w->store);
	return (rc == API_PENDING ? API_PENDING : 0);
}
