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

/* The HTTP handlers. Reads run on the worker's own connection; every
 * write is an apply function that the writer thread runs inside a group
 * commit, so the record change and its event commit together.
 *
 * A record create, from the web server to the reply, and where each
 * check answers:
 *
 * loop    conn_read_cb, conn_input: FastCGI records (conn_begin,
 *         conn_params, conn_stdin) make a struct request; a body past
 *         max_body_size is read and dropped. Once whole, conn_dispatch
 *         hands it to worker_enqueue.
 * worker  worker_main -> route_dispatch: 413 for that body; the route
 *         table (route_find: 404, 405); route_run: the token (auth_token,
 *         401), the names in the path (route_check_names, 400), the
 *         grant (auth_allow, 403), that realm, app and collection exist
 *         (route_resolve, 404); then the handler, api_record_create.
 *         body_object: the media type (415), the JSON (400). A job of
 *         one write (rec_single); the record gets its id and timestamps
 *         (rec_item_add); rec_submit: for an app with hooks, rec_stage
 *         runs the before-hooks (rec_before, 422 or 500), then
 *         writer_submit_async, and the worker is free (API_PENDING).
 * writer  writer_main -> writer_batch: BEGIN; writer_apply runs apply_job
 *         and it apply_record_create in a savepoint (store_record_insert,
 *         404 if the collection went meanwhile; rec_append_event);
 *         COMMIT (if it fails, every write of the batch gets 503 or
 *         500); tail_wake.
 *         Then the op's done_cb, rec_done: rec_reply (201, Location, the
 *         record) or reply_error fills req->out, and conn_complete; with
 *         after-hooks, a worker runs them first (rec_after).
 * loop    conn_reply_completed -> conn_reply: the reply as STDOUT
 *         records, END_REQUEST, and a flush.
 *
 * An update or delete goes the same way; its apply loads the record in
 * the writer (rec_load), or, if the before-hooks saw it, answers 409
 * when it changed since (rec_unchanged). A batch (api_batch) is a job of
 * many writes, each checked by route_batch as if alone, in one write op.
 * The other writes wait for the writer on the worker (api_write). */

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "basalt.h"

#define MAX_DASHBOARD_FILE	(4 * 1024 * 1024)

/* Record JSON text as the API shows it; the caller frees it. */
static char *
api_record_json(const struct record *r)
{
	char	*s;

	xasprintf(&s, "{\"id\":\"%s\",\"collection\":\"%s\",\"fields\":%s,"
	    "\"created_at\":\"%s\",\"updated_at\":\"%s\"}", r->id,
	    r->collection, r->fields, r->created_at, r->updated_at);
	return (s);
}

/* The body as a JSON object nested at most depth deep, after the media
 * type check. */
static json_object *
body_parse(struct api_ctx *ctx, int depth)
{
	struct request	*req = ctx->req;
	const char	*type = request_param(req, "CONTENT_TYPE");
	json_object	*o;
	size_t		 len, tl;

	if (type != NULL) {
		tl = strcspn(type, ";");
		while (tl > 0 && type[tl - 1] == ' ')
			tl--;
	}
	if (type == NULL || !((tl == 16 && strncasecmp(type,
	    "application/json", 16) == 0) || (tl > 5 && tl < 128 &&
	    strncasecmp(type + tl - 5, "+json", 5) == 0 &&
	    strncasecmp(type, "application/", 12) == 0))) {
		error_set(&req->err, ERR_MEDIA_TYPE, NULL);
		return (NULL);
	}
	len = req->body != NULL ? evbuffer_get_length(req->body) : 0;
	if (jsonutil_parse_depth(len > 0 ? (const char *)evbuffer_pullup(
	    req->body, -1) : "", len, depth, &o) == -1) {
		error_set(&req->err, ERR_INVALID_JSON, NULL);
		return (NULL);
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		error_set(&req->err, ERR_NOT_OBJECT, NULL);
		return (NULL);
	}
	return (o);
}

static json_object *
body_object(struct api_ctx *ctx)
{
	return (body_parse(ctx, MAX_JSON_DEPTH));
}

/* The same for the handlers of other files. */
json_object *
api_body(struct api_ctx *ctx)
{
	return (body_object(ctx));
}

/* 201 for what was made at .../apps/{a}/<what>/<id>, whose answer holds
 * its secret, shown that once: no cache keeps it. Takes o. */
void
api_reply_secret(struct api_ctx *ctx, const char *what, const char *id,
    json_object *o)
{
	char	*loc;

	xasprintf(&loc, "/api/realms/%s/apps/%s/%s/%s", ctx->realm, ctx->app,
	    what, id);
	reply_header(ctx->req, "Location", loc);
	free(loc);
	reply_header(ctx->req, "Cache-Control", "no-store");
	reply_json(ctx->req, 201, o);
	json_object_put(o);
}

/* Submits a write and maps a failed commit. */
int
api_write(struct api_ctx *ctx, int (*apply)(struct worker *,
    struct write_op *), void *arg)
{
	struct write_op	 op;

	memset(&op, 0, sizeof op);
	op.apply = apply;
	op.arg = arg;
	op.err = &ctx->req->err;
	return (writer_submit(&op));
}

int
api_health(struct api_ctx *ctx)
{
	char	 buf[64];
	int	 n;

	n = snprintf(buf, sizeof buf, "{\"status\":\"ok\",\"streams\":%d}",
	    broker_count());
	reply_raw_json(ctx->req, 200, buf, n);
	return (0);
}

int
api_token(struct api_ctx *ctx)
{
	json_object	*o, *scopes;
	char		 ts[TIMESTAMP_LEN + 1];
	int		 i;
	static const char *names[] = { "read", "write", "admin" };

	o = json_object_new_object();
	json_object_object_add(o, "realm",
	    json_object_new_string(ctx->grant.realm));
	json_object_object_add(o, "app", json_object_new_string(ctx->grant.app));
	scopes = json_object_new_array();
	for (i = 0; i < 3; i++)
		if (ctx->grant.scopes & (1 << i))
			json_object_array_add(scopes,
			    json_object_new_string(names[i]));
	json_object_object_add(o, "scopes", scopes);
	json_object_object_add(o, "label",
	    json_object_new_string(ctx->grant.label));
	if (ctx->grant.expires_at != 0) {
		time_iso(ctx->grant.expires_at * 1000, ts);
		json_object_object_add(o, "expires_at",
		    json_object_new_string(ts));
	} else
		json_object_object_add(o, "expires_at", NULL);
	reply_json(ctx->req, 200, o);
	json_object_put(o);
	return (0);
}

/* An app's CORS origins. */

static void
cors_origin_add(void *arg, const char *origin)
{
	json_object_array_add(arg, json_object_new_string(origin));
}

static int
cors_reply(struct api_ctx *ctx, json_object *origins)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "origins", origins);
	reply_json(ctx->req, 200, o);
	json_object_put(o);
	return (0);
}

int
api_app_cors_get(struct api_ctx *ctx)
{
	json_object	*origins = json_object_new_array();
	int		 rc;

	rc = store_cors_list(ctx->worker->store, ctx->ids.app_id,
	    cors_origin_add, origins);
	if (rc != STORE_OK) {
		json_object_put(origins);
		return (error_store(&ctx->req->err, rc, "app"));
	}
	return (cors_reply(ctx, origins));
}

struct cors_arg {
	struct api_ctx	*ctx;
	char		 (*origins)[MAX_ORIGIN_LEN + 1];
	const char	*list[MAX_APP_ORIGINS];
	size_t		 n;
	json_object	*stored;	/* what the app holds after the write */
};

static int
apply_app_cors(struct worker *w, struct write_op *op)
{
	struct cors_arg	*a = op->arg;
	int		 rc;

	rc = store_cors_set(w->store, a->ctx->ids.app_id, a->list, a->n);
	if (rc == STORE_EXISTS)		/* the app went away */
		rc = STORE_NOTFOUND;
	if (rc == STORE_OK)
		rc = store_cors_list(w->store, a->ctx->ids.app_id,
		    cors_origin_add, a->stored);
	return (rc == STORE_OK ? 0 : error_store(op->err, rc, "app"));
}

/* The body's "origins", normalised into a; -1 with the cause. */
static int
cors_body(struct api_ctx *ctx, json_object *body, struct cors_arg *a)
{
	struct error	*err = &ctx->req->err;
	json_object	*list, *v;
	char		 why[200];
	size_t		 i;

	if (!json_object_object_get_ex(body, "origins", &list) ||
	    !json_object_is_type(list, json_type_array))
		return (error_set(err, ERR_INVALID_PARAMETER, "\"origins\" "
		    "must be an array of origins, as [\"https://app.example."
		    "com\"]"));
	if ((a->n = json_object_array_length(list)) > MAX_APP_ORIGINS)
		return (error_set(err, ERR_INVALID_PARAMETER,
		    "an app allows at most %d origins", MAX_APP_ORIGINS));
	a->origins = xcalloc(a->n + 1, sizeof *a->origins);
	for (i = 0; i < a->n; i++) {
		v = json_object_array_get_idx(list, i);
		if (!json_object_is_type(v, json_type_string) ||
		    (size_t)json_object_get_string_len(v) !=
		    strlen(json_object_get_string(v)))
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "origins[%zu] must be a string", i));
		if (cors_origin_parse(json_object_get_string(v), a->origins[i],
		    why, sizeof why) == -1)
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "origins[%zu]: %s", i, why));
		a->list[i] = a->origins[i];
	}
	return (0);
}

int
api_app_cors_put(struct api_ctx *ctx)
{
	struct cors_arg	 a;
	json_object	*body;
	int		 rc;

	memset(&a, 0, sizeof a);
	if ((body = body_object(ctx)) == NULL)
		return (-1);
	a.ctx = ctx;
	a.stored = json_object_new_array();
	if ((rc = cors_body(ctx, body, &a)) == 0)
		rc = api_write(ctx, apply_app_cors, &a);
	json_object_put(body);
	free(a.origins);
	if (rc == -1) {
		json_object_put(a.stored);
		return (-1);
	}
	return (cors_reply(ctx, a.stored));
}

/* Collections. */

static json_object *
collection_json(const char *name, const char *created)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "created_at", json_object_new_string(created));
	return (o);
}

static void
collection_add(void *arg, const char *name, const char *created)
{
	json_object_array_add(arg, collection_json(name, created));
}

/* 200 {"items":[...]} from a list the store filled, or its error; takes
 * items. */
static int
reply_items(struct api_ctx *ctx, int rc, json_object *items, const char *what)
{
	json_object	*o;

	if (rc != STORE_OK) {
		json_object_put(items);
		return (error_store(&ctx->req->err, rc, what));
	}
	o = json_object_new_object();
	json_object_object_add(o, "items", items);
	reply_json(ctx->req, 200, o);
	json_object_put(o);
	return (0);
}

int
api_collections_list(struct api_ctx *ctx)
{
	json_object	*items;
	int		 rc;

	items = json_object_new_array();
	rc = store_collection_list(ctx->worker->store, ctx->ids.app_id,
	    collection_add, items);
	return (reply_items(ctx, rc, items, "app"));
}

struct coll_find {
	const char	*name;
	json_object	*found;
};

static void
collection_find(void *arg, const char *name, const char *created)
{
	struct coll_find	*f = arg;

	if (f->found == NULL && strcmp(name, f->name) == 0)
		f->found = collection_json(name, created);
}

/* 200 with the collection, and its rules (NULL: read them). */
static int
collection_reply(struct api_ctx *ctx, const struct rules *r)
{
	struct coll_find	 f = { ctx->collection, NULL };
	struct rules		 got;
	int			 rc;

	memset(&got, 0, sizeof got);
	rc = store_collection_list(ctx->worker->store, ctx->ids.app_id,
	    collection_find, &f);
	if (rc == STORE_OK && f.found != NULL && r == NULL) {
		rc = store_rules_get(ctx->worker->store,
		    ctx->ids.collection_id, &got);
		r = &got;
	}
	if (rc != STORE_OK || f.found == NULL) {
		json_object_put(f.found);
		return (error_store(&ctx->req->err, rc != STORE_OK ? rc :
		    STORE_NOTFOUND, "collection"));
	}
	json_object_object_add(f.found, "rules", rules_json(r));
	rules_clear(&got);
	reply_json(ctx->req, 200, f.found);
	json_object_put(f.found);
	return (0);
}

int
api_collection_get(struct api_ctx *ctx)
{
	return (collection_reply(ctx, NULL));
}

/* The collection is still the one the request named: its id may have
 * gone to another since the worker read it. */
static int
collection_same(struct worker *w, struct api_ctx *ctx, struct error *err)
{
	int64_t	 id;
	int	 rc;

	rc = store_collection_id(w->store, ctx->ids.app_id, ctx->collection,
	    &id);
	if (rc == STORE_OK && id != ctx->ids.collection_id)
		rc = STORE_NOTFOUND;
	return (rc == STORE_OK ? 0 : error_store(err, rc, "collection"));
}

struct rules_arg {
	struct api_ctx	*ctx;
	json_object	*change;
	struct rules	 rules;		/* as they are after the change */
};

/* The rules change and its event commit together; a change that changes
 * nothing writes nothing. */
static int
apply_collection_rules(struct worker *w, struct write_op *op)
{
	struct rules_arg *a = op->arg;
	struct api_ctx	*ctx = a->ctx;
	struct rules	 before;
	int		 rc;

	if (collection_same(w, ctx, op->err) == -1)
		return (-1);
	rules_clear(&a->rules);
	if ((rc = store_rules_get(w->store, ctx->ids.collection_id,
	    &before)) != STORE_OK)
		return (error_store(op->err, rc, "collection"));
	if ((rc = store_rules_get(w->store, ctx->ids.collection_id,
	    &a->rules)) == STORE_OK && rules_change(&a->rules, a->change,
	    op->err) == -1) {
		rules_clear(&before);
		return (-1);
	}
	if (rc == STORE_OK && !rules_equal(&before, &a->rules))
		rc = rules_save(w->store, ctx->realm, ctx->app,
		    ctx->collection, ctx->ids.collection_id, &a->rules);
	rules_clear(&before);
	return (rc == STORE_OK ? 0 : error_store(op->err, rc, "collection"));
}

/* PATCH {"rules":{"list":"...","view":null}}: each verb given is set (a
 * string) or unset (null), the others stay; 200 with the collection. */
int
api_collection_patch(struct api_ctx *ctx)
{
	struct rules_arg a;
	json_object	*body;
	int		 rc = -1;

	memset(&a, 0, sizeof a);
	if ((body = body_object(ctx)) == NULL)
		return (-1);
	json_object_object_foreach(body, key, val) {
		(void)val;
		if (strcmp(key, "rules") != 0) {
			json_object_put(body);
			return (error_set(&ctx->req->err, ERR_INVALID_PARAMETER,
			    "a collection's \"rules\" are all that may "
			    "change"));
		}
	}
	a.ctx = ctx;
	if (!json_object_object_get_ex(body, "rules", &a.change))
		a.change = NULL;
	if (rules_change_check(a.change, &ctx->req->err) == 0 &&
	    api_write(ctx, apply_collection_rules, &a) == 0)
		rc = collection_reply(ctx, &a.rules);
	rules_clear(&a.rules);
	json_object_put(body);
	return (rc);
}

struct coll_arg {
	struct api_ctx	*ctx;
	const char	*name;
	char		 created[TIMESTAMP_LEN + 1];
};

static int
apply_collection_create(struct worker *w, struct write_op *op)
{
	struct coll_arg	*a = op->arg;
	int		 rc;

	rc = store_collection_create(w->store, a->ctx->ids.app_id, a->name,
	    a->created);
	if (rc == STORE_EXISTS)
		return (error_set(op->err, ERR_CONFLICT,
		    "collection '%s' exists already", a->name));
	return (rc == STORE_OK ? 0 : error_store(op->err, rc, "app"));
}

int
api_collection_create(struct api_ctx *ctx)
{
	struct coll_arg	 a;
	json_object	*body, *name, *out;
	char		*loc;

	memset(&a, 0, sizeof a);
	if ((body = body_object(ctx)) == NULL)
		return (-1);
	if (!json_object_object_get_ex(body, "name", &name) ||
	    !json_object_is_type(name, json_type_string) ||
	    !name_valid(json_object_get_string(name))) {
		json_object_put(body);
		return (error_set(&ctx->req->err, ERR_INVALID_NAME,
		    "\"name\" must be a string matching [a-z0-9][a-z0-9_-]{0,62}"));
	}
	a.ctx = ctx;
	a.name = json_object_get_string(name);
	if (api_write(ctx, apply_collection_create, &a) == -1) {
		json_object_put(body);
		return (-1);
	}
	xasprintf(&loc, "/api/realms/%s/apps/%s/collections/%s", ctx->realm,
	    ctx->app, a.name);
	reply_header(ctx->req, "Location", loc);
	free(loc);
	out = collection_json(a.name, a.created);
	reply_json(ctx->req, 201, out);
	json_object_put(out);
	json_object_put(body);
	return (0);
}

/* The deletion and its one event (not one per record) commit together;
 * the event ends the collection's streams and its records' streams. */
static int
apply_collection_delete(struct worker *w, struct write_op *op)
{
	struct api_ctx	*ctx = op->arg;
	char		 data[MAX_NAME_LEN + 32];
	int		 rc;

	rc = store_collection_delete(w->store, ctx->ids.app_id, ctx->collection);
	if (rc != STORE_OK)
		return (error_store(op->err, rc, "collection"));
	/* a name is [a-z0-9_-]: nothing to escape */
	snprintf(data, sizeof data, "{\"collection\":\"%s\"}",
	    ctx->collection);
	if (store_event_append(w->store, ctx->realm, ctx->app, ctx->collection,
	    NULL, "collection_deleted", data, NULL) == -1)
		return (error_store(op->err, store_event_append_rc(w->store),
		    NULL));
	return (0);
}

int
api_collection_delete(struct api_ctx *ctx)
{
	if (api_write(ctx, apply_collection_delete, ctx) == -1)
		return (-1);
	reply_empty(ctx->req, 204);
	return (0);
}

/*
 * Indexes on a field of a collection's records (admin). Creating one
 * builds it at once in the writer, which does nothing else meanwhile.
 */

struct index_arg {
	struct api_ctx	*ctx;
	const char	*field;
	char		*exprs;		/* filter_index_exprs' */
};

static void
index_add(void *arg, const char *field)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "field", json_object_new_string(field));
	json_object_array_add(arg, o);
}

int
api_indexes_list(struct api_ctx *ctx)
{
	json_object	*items = json_object_new_array();
	int		 rc;

	rc = store_index_list(ctx->worker->store, ctx->ids.collection_id,
	    index_add, items);
	return (reply_items(ctx, rc, items, "collection"));
}


static int
apply_index_create(struct worker *w, struct write_op *op)
{
	struct index_arg *a = op->arg;
	int		 rc;

	if (collection_same(w, a->ctx, op->err) == -1)
		return (-1);
	rc = store_index_create(w->store, a->ctx->ids.collection_id, a->field,
	    a->exprs, MAX_COLLECTION_INDEXES);
	if (rc == STORE_FULL)
		return (error_set(op->err, ERR_CONFLICT, "a collection has at "
		    "most %d indexes", MAX_COLLECTION_INDEXES));
	if (rc == STORE_EXISTS)
		return (error_set(op->err, ERR_CONFLICT,
		    "the index on %s exists already", a->field));
	return (rc == STORE_OK ? 0 : error_store(op->err, rc, NULL));
}

/* POST {"field":"fields.status"}: 201 {"field":"fields.status"}. */
int
api_index_create(struct api_ctx *ctx)
{
	struct index_arg a;
	json_object	*body, *field, *out;
	int		 rc;

	memset(&a, 0, sizeof a);
	if ((body = body_object(ctx)) == NULL)
		return (-1);
	if (!json_object_object_get_ex(body, "field", &field) ||
	    !json_object_is_type(field, json_type_string)) {
		json_object_put(body);
		return (error_set(&ctx->req->err, ERR_INVALID_PARAMETER,
		    "\"field\" must be a string: fields.NAME[.NAME...]"));
	}
	a.ctx = ctx;
	a.field = json_object_get_string(field);
	if ((rc = filter_index_exprs(a.field, &a.exprs, &ctx->req->err)) ==
	    0 && (rc = api_write(ctx, apply_index_create, &a)) == 0) {
		out = json_object_new_object();
		json_object_object_add(out, "field", json_object_get(field));
		reply_json(ctx->req, 201, out);
		json_object_put(out);
	}
	free(a.exprs);
	json_object_put(body);
	return (rc);
}

static int
apply_index_drop(struct worker *w, struct write_op *op)
{
	struct index_arg *a = op->arg;
	char		 what[MAX_INDEX_FIELD_LEN + 16];
	int		 rc;

	if (collection_same(w, a->ctx, op->err) == -1)
		return (-1);
	rc = store_index_drop(w->store, a->ctx->ids.collection_id, a->field);
	snprintf(what, sizeof what, "the index on %s", a->field);
	return (rc == STORE_OK ? 0 : error_store(op->err, rc, what));
}

int
api_index_drop(struct api_ctx *ctx)
{
	struct index_arg a;

	memset(&a, 0, sizeof a);
	a.ctx = ctx;
	a.field = ctx->field;
	if (filter_index_exprs(a.field, &a.exprs, &ctx->req->err) == -1)
		return (-1);
	free(a.exprs);
	a.exprs = NULL;
	if (api_write(ctx, apply_index_drop, &a) == -1)
		return (-1);
	reply_empty(ctx->req, 204);
	return (0);
}

/* Records. */

static json_object *rec_object(const struct record *);

/*
 * End users' rules (README "End users and rules"). For a JWT the
 * collection's rule of the verb is bound on the worker, to the token's
 * claims and the body as sent, into a plain filter: what checks it
 * later (the writer, a hook's result) needs neither. Service tokens
 * have no rules.
 */

/* The bound rule of v for ctx's collection: 0 with *out (NULL: every
 * record passes), or -1 with err set, 403 when the rule is unset. */
static int
rule_of(struct api_ctx *ctx, enum rule_verb v, json_object *body,
    const char *event_type, struct filter **out, struct error *err)
{
	struct rules	 r;
	struct rule_env	 env;
	int		 rc;

	*out = NULL;
	if (!ctx->grant.jwt)
		return (0);
	rc = store_rules_get(ctx->worker->store, ctx->ids.collection_id, &r);
	if (rc != STORE_OK)
		return (error_store(err, rc, "collection"));
	memset(&env, 0, sizeof env);
	env.claims = ctx->grant.claims;
	env.body = body;
	env.event_type = event_type;
	rc = rule_bind(&r, v, &env, out, err);
	rules_clear(&r);
	if (rc == RULE_UNSET)
		return (error_set(err, ERR_FORBIDDEN, "the %s rule is not set",
		    rule_name(v)));
	return (rc == 0 ? 0 : -1);
}

/* Whether a record passes a bound rule (NULL: every record does). */
static int
rule_passes(const struct filter *rule, const struct record *r)
{
	struct filter_rec fr;
	json_object	*o;
	int		 pass;

	if (rule == NULL)
		return (1);
	if ((o = rec_object(r)) == NULL)
		return (0);
	pass = filter_rec_json(o, &fr) == 0 && filter_match(rule, &fr);
	json_object_put(o);
	return (pass);
}

struct list_ctx {
	struct evbuffer	*out;
	int		 count;
	int		 limit;
	const char	*collection;
	const struct filter_proj *proj;	/* NULL: whole records */
	struct record	 last;		/* its fields owned */
};

static void
record_add(void *arg, const struct record *r)
{
	struct list_ctx	*l = arg;
	struct record	 copy = *r;
	json_object	*o, *p;
	char		*s;

	if (++l->count > l->limit)
		return;		/* the extra row only tells there is more */
	strlcpy_b(copy.collection, l->collection, sizeof copy.collection);
	if (l->proj != NULL && (o = rec_object(&copy)) != NULL) {
		p = filter_proj_apply(l->proj, o);
		s = xstrdup(jsonutil_string(p));
		json_object_put(p);
		json_object_put(o);
	} else
		s = api_record_json(&copy);
	if (l->count > 1)
		evbuffer_add(l->out, ",", 1);
	evbuffer_add(l->out, s, strlen(s));
	free(s);
	store_record_clear(&l->last);
	l->last = copy;
	l->last.fields = xstrdup(r->fields);
}

static int
query_limit(struct api_ctx *ctx, int *limit)
{
	char	 buf[32], *end;
	long	 v;
	int	 rc;

	*limit = DEFAULT_PAGE_LIMIT;
	if ((rc = request_query(ctx->req, "limit", buf, sizeof buf)) == -1)
		return (0);
	v = rc == 0 && buf[0] != '\0' ? strtol(buf, &end, 10) : 0;
	if (rc != 0 || buf[0] == '\0' || *end != '\0' || v < 1 ||
	    v > MAX_PAGE_LIMIT)
		return (error_set(&ctx->req->err, ERR_INVALID_PARAMETER,
		    "limit must be a number from 1 to %d", MAX_PAGE_LIMIT));
	*limit = (int)v;
	return (0);
}

/*
 * What a list asks for, compiled once: the filter as a WHERE, the sort
 * as an ORDER BY, the cursor as the WHERE of what follows it, and the
 * projection. Without sort= the order is the id's and a cursor is a
 * record id; with it, a cursor is the base64url of the JSON array of the
 * last item's sort values (filter_sort_key), id last.
 */
struct list_query {
	struct filter	*filter;
	struct filter_sort *sort;	/* "id" when none was asked for */
	int		 sorted;	/* sort= was given */
	struct filter_proj *proj;
	struct filter_sql where;
	struct filter_sql order;
	struct filter_sql after;
	struct filter_band bands[2];	/* what an index can seek */
	int		 nbands;
	int		 has_after;
	char		 after_id[ULID_LEN + 1];	/* without sort= */
};

static void
list_query_free(struct list_query *q)
{
	filter_free(q->filter);
	filter_sort_free(q->sort);
	filter_proj_free(q->proj);
	filter_sql_free(&q->where);
	filter_sql_free(&q->order);
	filter_sql_free(&q->after);
	filter_sql_free(&q->bands[0].where);
	filter_sql_free(&q->bands[0].order);
	filter_sql_free(&q->bands[1].where);
	filter_sql_free(&q->bands[1].order);
}

/* A query parameter up to FILTER_MAX_LEN bytes into buf (at least
 * FILTER_MAX_LEN + 2): 1 if given, 0 if not, -1 with err set (code). */
static int
list_param(struct api_ctx *ctx, const char *key, char *buf, size_t len,
    enum err code)
{
	int	 rc = request_query(ctx->req, key, buf, len);

	if (rc == -2)
		return (error_set(&ctx->req->err, code, "%s: at most %d bytes, "
		    "percent-encoded as UTF-8", key, FILTER_MAX_LEN));
	return (rc == 0);
}

/* The cursor after= of a sorted list: the WHERE of what follows it. */
static int
list_cursor(struct api_ctx *ctx, struct list_query *q, const char *after)
{
	unsigned char	*bin;
	size_t		 len = strlen(after), binlen;
	json_object	*key = NULL;
	struct error	 e;
	int		 rc = -1;

	bin = xmalloc(len + 1);
	if (sodium_base642bin(bin, len + 1, after, len, NULL, &binlen, NULL,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
	    jsonutil_parse_depth((const char *)bin, binlen, MAX_JSON_DEPTH + 1,
	    &key) == 0 && filter_sort_after_sql(q->sort, key, &q->after,
	    &e) == 0) {
		q->nbands = filter_sort_after_bands(q->sort, key, q->bands);
		rc = 0;
	}
	json_object_put(key);
	free(bin);
	if (rc == -1)
		return (error_set(&ctx->req->err, ERR_INVALID_PARAMETER,
		    "after is not a cursor of this sort: pass the next of the "
		    "page before, with the same sort"));
	return (0);
}

/* after=: a cursor of the sort, or without sort= a record id. */
static int
list_after(struct api_ctx *ctx, struct list_query *q)
{
	char		*after = xmalloc(MAX_PARAMS_SIZE);
	json_object	*key;
	int		 rc;

	rc = request_query(ctx->req, "after", after, MAX_PARAMS_SIZE);
	q->has_after = rc != -1;
	if (rc == -1)
		rc = 0;
	else if (q->sorted)
		rc = list_cursor(ctx, q, rc == 0 ? after : "");
	else if (rc == -2 || !ulid_valid(after))
		rc = error_set(&ctx->req->err, ERR_INVALID_PARAMETER,
		    "after must be a record id");
	else {
		strlcpy_b(q->after_id, after, sizeof q->after_id);
		key = json_object_new_array();
		json_object_array_add(key, json_object_new_string(after));
		rc = filter_sort_after_sql(q->sort, key, &q->after,
		    &ctx->req->err);
		json_object_put(key);
	}
	free(after);
	return (rc);
}

/* Reads and compiles filter=, sort=, fields= and after=. */
static int
list_query(struct api_ctx *ctx, struct list_query *q)
{
	struct error	*err = &ctx->req->err;
	struct filter	*rule;
	char		*buf = xmalloc(FILTER_MAX_LEN + 2);
	int		 rc;

	if ((rc = list_param(ctx, "filter", buf, FILTER_MAX_LEN + 2,
	    ERR_INVALID_FILTER)) == 1)
		rc = filter_parse(buf, &q->filter, err);
	/* A JWT sees only what its list rule lets through: the rule is
	 * part of the filter, so paging and indexes work the same. */
	if (rc != -1 && (rc = rule_of(ctx, RULE_LIST, NULL, NULL, &rule,
	    err)) == 0)
		q->filter = filter_and(q->filter, rule);
	if (rc != -1 && q->filter != NULL)
		filter_sql(q->filter, &q->where);
	if (rc != -1 && (rc = list_param(ctx, "sort", buf, FILTER_MAX_LEN + 2,
	    ERR_INVALID_FILTER)) != -1) {
		q->sorted = rc;
		/* A sort is part of the query language: invalid_filter. */
		if ((rc = filter_sort_parse(q->sorted ? buf : "id", &q->sort,
		    err)) == -1)
			err->code = ERR_INVALID_FILTER;
		else
			filter_sort_sql(q->sort, &q->order);
	}
	if (rc != -1 && (rc = list_param(ctx, "fields", buf,
	    FILTER_MAX_LEN + 2, ERR_INVALID_PARAMETER)) == 1)
		rc = filter_proj_parse(buf, &q->proj, err);
	free(buf);
	if (rc == -1)
		return (-1);
	return (list_after(ctx, q));
}

/* The page's next: the last item's id, or with sort= its cursor. */
static void
list_next(struct list_ctx *l, struct list_query *q)
{
	struct filter_rec r;
	json_object	*fields, *key;
	const char	*text;
	char		*b64;
	size_t		 len;

	if (!q->sorted) {
		evbuffer_add_printf(l->out, "\"%s\"", l->last.id);
		return;
	}
	fields = jsonutil_parse(l->last.fields, strlen(l->last.fields));
	memset(&r, 0, sizeof r);
	r.id = l->last.id;
	r.created_at = l->last.created_at;
	r.updated_at = l->last.updated_at;
	r.fields = fields;
	key = filter_sort_key(q->sort, &r);
	text = jsonutil_string(key);
	len = sodium_base64_ENCODED_LEN(strlen(text),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	b64 = xmalloc(len);
	sodium_bin2base64(b64, len, (const unsigned char *)text, strlen(text),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	evbuffer_add_printf(l->out, "\"%s\"", b64);
	free(b64);
	json_object_put(key);
	json_object_put(fields);
}

/* The collection's index that serves the query, if it has one: on a
 * field the filter narrows down, else on the sort's first key. */
struct list_index {
	struct list_query *q;
	char		 field[MAX_INDEX_FIELD_LEN + 1];
	int		 narrows;
};

static void
list_index_add(void *arg, const char *field)
{
	struct list_index *x = arg;

	if (x->narrows)
		return;
	if (x->q->filter != NULL && filter_narrows(x->q->filter, field)) {
		strlcpy_b(x->field, field, sizeof x->field);
		x->narrows = 1;
	} else if (x->field[0] == '\0' && x->q->sorted &&
	    filter_sort_leads(x->q->sort, field))
		strlcpy_b(x->field, field, sizeof x->field);
}

/*
 * A page of records: {"items":[...],"next":...,"event_id":N}. The items
 * and event_id come from one read transaction (route_dispatch's), so a
 * stream resumed from event_id carries exactly what changed after them.
 */
int
api_records_list(struct api_ctx *ctx)
{
	struct store	*st = ctx->worker->store;
	struct list_ctx	 l;
	struct list_query q;
	struct list_index x;
	int64_t		 event_id;
	int		 rc;

	memset(&l, 0, sizeof l);
	memset(&q, 0, sizeof q);
	if (query_limit(ctx, &l.limit) == -1 || list_query(ctx, &q) == -1) {
		list_query_free(&q);
		return (-1);
	}
	l.out = evbuffer_new();
	l.collection = ctx->collection;
	l.proj = q.proj;
	evbuffer_add_printf(l.out, "{\"items\":[");
	event_id = store_event_max(st);
	if (q.filter == NULL && !q.sorted)
		rc = store_record_list(st, ctx->ids.collection_id,
		    q.has_after ? q.after_id : NULL, l.limit + 1,
		    record_add, &l);
	else {
		memset(&x, 0, sizeof x);
		x.q = &q;
		rc = store_index_list(st, ctx->ids.collection_id,
		    list_index_add, &x);
		if (rc == STORE_OK)
			rc = store_record_query(st, ctx->ids.collection_id,
			    x.field[0] != '\0' ? x.field : NULL,
			    q.filter != NULL ? &q.where : NULL,
			    q.has_after ? &q.after : NULL,
			    q.nbands > 0 ? q.bands : NULL, &q.order,
			    l.limit + 1, record_add, &l);
	}
	if (rc != STORE_OK) {
		evbuffer_free(l.out);
		store_record_clear(&l.last);
		list_query_free(&q);
		return (error_store(&ctx->req->err, rc, "collection"));
	}
	evbuffer_add_printf(l.out, "],\"next\":");
	if (l.count > l.limit)
		list_next(&l, &q);
	else
		evbuffer_add_printf(l.out, "null");
	evbuffer_add_printf(l.out, ",\"event_id\":%lld}", (long long)event_id);
	reply_raw_json(ctx->req, 200, (const char *)evbuffer_pullup(l.out, -1),
	    evbuffer_get_length(l.out));
	evbuffer_free(l.out);
	store_record_clear(&l.last);
	list_query_free(&q);
	return (0);
}

int
api_record_get(struct api_ctx *ctx)
{
	struct record	 r;
	struct filter	*rule;
	char		*s;
	int		 rc;

	if (rule_of(ctx, RULE_VIEW, NULL, NULL, &rule, &ctx->req->err) == -1)
		return (-1);
	memset(&r, 0, sizeof r);
	rc = store_record_get(ctx->worker->store, ctx->ids.collection_id,
	    ctx->record_id, &r);
	strlcpy_b(r.collection, ctx->collection, sizeof r.collection);
	/* a record the view rule hides is answered as a missing one */
	if (rc == STORE_OK && !rule_passes(rule, &r))
		rc = STORE_NOTFOUND;
	filter_free(rule);
	if (rc != STORE_OK) {
		store_record_clear(&r);
		return (error_store(&ctx->req->err, rc, "record"));
	}
	s = api_record_json(&r);
	reply_raw_json(ctx->req, 200, s, strlen(s));
	free(s);
	store_record_clear(&r);
	return (0);
}

/*
 * A record write: the input, and the record JSON that results.
 *
 * For an app with hooks, the before-hooks run on a worker (rec_stage), on
 * the record as that worker's read view has it, never in the writer: a
 * hook's time is its app's, not every app's. The writer then checks that
 * the stored record is still the one the hooks saw (rec_unchanged) and
 * answers 409 if not: running the hooks again could go on for ever on a
 * busy record and would hold a worker each time, so the client decides.
 */
struct rec_arg {
	struct api_ctx	*ctx;
	const char	*what;		/* create, update, delete */
	json_object	*input;		/* fields (create, put) or patch */
	int		 patch;
	struct record	 rec;
	char		*json;		/* the record, as replied and sent */
	char		*prev;		/* as it was stored (update, delete) */
	int		 hooked;	/* before-hooks saw rec: it is final */
	char		*seen_fields;	/* what they saw stored (not create) */
	char		 seen_at[TIMESTAMP_LEN + 1];
	struct hooks_pubs *pubs;	/* their events, appended with it */
	struct filter	*rule;		/* a JWT's rule of what, bound;
					   NULL: none */
};

/* The record as the API shows it, as an object; NULL if its fields do not
 * parse (they always do: they were parsed with the same depth). */
static json_object *
rec_object(const struct record *r)
{
	json_object	*o, *fields;

	fields = jsonutil_parse(r->fields, strlen(r->fields));
	if (fields == NULL || !json_object_is_type(fields, json_type_object)) {
		json_object_put(fields);
		return (NULL);
	}
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(r->id));
	json_object_object_add(o, "collection",
	    json_object_new_string(r->collection));
	json_object_object_add(o, "fields", fields);
	json_object_object_add(o, "created_at",
	    json_object_new_string(r->created_at));
	json_object_object_add(o, "updated_at",
	    json_object_new_string(r->updated_at));
	return (o);
}

/* The update's new fields: the input merged into (patch) or replacing the
 * loaded ones. */
static int
rec_merge(struct rec_arg *a, struct error *err)
{
	json_object	*fields;

	if (a->patch) {
		fields = jsonutil_parse(a->rec.fields, strlen(a->rec.fields));
		if (fields == NULL ||
		    !json_object_is_type(fields, json_type_object)) {
			json_object_put(fields);
			return (error_set(err, ERR_INTERNAL, "stored fields"));
		}
		jsonutil_merge_patch(fields, a->input);
		free(a->rec.fields);
		a->rec.fields = xstrdup(jsonutil_string(fields));
		json_object_put(fields);
	} else {
		free(a->rec.fields);
		a->rec.fields = xstrdup(jsonutil_string(a->input));
	}
	time_iso(time_now_ms(), a->rec.updated_at);
	free(a->json);
	a->json = api_record_json(&a->rec);
	return (0);
}

/* Loads the record into a->rec from st (a worker's read view, or the
 * writer inside the write's transaction). */
static int
rec_load(struct store *st, struct rec_arg *a, struct error *err)
{
	struct api_ctx	*ctx = a->ctx;
	int		 rc;

	store_record_clear(&a->rec);
	free(a->json);
	a->json = NULL;
	rc = store_record_get(st, ctx->ids.collection_id, ctx->record_id,
	    &a->rec);
	if (rc != STORE_OK)
		return (error_store(err, rc, "record"));
	strlcpy_b(a->rec.collection, ctx->collection, sizeof a->rec.collection);
	a->json = api_record_json(&a->rec);
	return (0);
}

/* A stored record the write's rule does not pass: 404, as if missing. */
static int
rec_rule_stored(struct rec_arg *a, struct error *err)
{
	if (rule_passes(a->rule, &a->rec))
		return (0);
	return (error_store(err, STORE_NOTFOUND, "record"));
}

/* The record as it would be stored fails the write's rule: 403. */
static int
rec_rule_new(struct rec_arg *a, struct error *err)
{
	if (rule_passes(a->rule, &a->rec))
		return (0);
	return (error_set(err, ERR_FORBIDDEN, "the record %sdoes not pass "
	    "the %s rule", a->hooked ? "as its hooks left it " : "",
	    a->what));
}

/*
 * Worker: lets the before-hooks see and change the record as it will be
 * (for an update or delete, as stored, or as a->rec has it if set).
 * 0, or -1 with err set.
 */
static int
rec_before(struct worker *w, struct rec_arg *a, struct error *err)
{
	struct api_ctx	*ctx = a->ctx;
	json_object	*o, *fields;
	int		 rc, ran;

	/* the hooks see only what the rules let through */
	if (strcmp(a->what, "create") != 0) {
		if (a->rec.fields == NULL && rec_load(w->store, a, err) == -1)
			return (-1);
		if (rec_rule_stored(a, err) == -1)
			return (-1);
		a->seen_fields = xstrdup(a->rec.fields);
		memcpy(a->seen_at, a->rec.updated_at, sizeof a->seen_at);
		if (strcmp(a->what, "update") == 0 && (rec_merge(a, err) ==
		    -1 || rec_rule_new(a, err) == -1))
			return (-1);
	}
	if ((o = rec_object(&a->rec)) == NULL)
		return (error_set(err, ERR_INTERNAL, "stored fields"));
	rc = hooks_before(w, a->what, ctx->realm, ctx->app, ctx->collection,
	    o, &a->pubs, &ran, err);
	if (rc == 0 && ran && strcmp(a->what, "delete") != 0) {
		if (!json_object_object_get_ex(o, "fields", &fields) ||
		    !json_object_is_type(fields, json_type_object))
			rc = error_set(err, ERR_HOOK_FAILED,
			    "a hook left record.fields not an object");
		else {
			free(a->rec.fields);
			a->rec.fields = xstrdup(jsonutil_string(fields));
			free(a->json);
			a->json = api_record_json(&a->rec);
		}
	}
	json_object_put(o);
	a->hooked = rc == 0 && ran;
	/* a hook cannot store what the user could not */
	if (a->hooked && strcmp(a->what, "delete") != 0)
		rc = rec_rule_new(a, err);
	return (rc);
}

/* Writer: whether the stored record is still the one the hooks saw; if
 * so, it is the write's before-image (a->prev). */
static int
rec_unchanged(struct worker *w, struct rec_arg *a, struct error *err)
{
	struct api_ctx	*ctx = a->ctx;
	struct record	 cur;
	int		 rc, same;

	memset(&cur, 0, sizeof cur);
	rc = store_record_get(w->store, ctx->ids.collection_id, ctx->record_id,
	    &cur);
	if (rc != STORE_OK) {
		store_record_clear(&cur);
		return (error_store(err, rc, "record"));
	}
	same = strcmp(cur.updated_at, a->seen_at) == 0 &&
	    strcmp(cur.fields, a->seen_fields) == 0;
	if (same) {
		strlcpy_b(cur.collection, ctx->collection,
		    sizeof cur.collection);
		free(a->prev);
		a->prev = api_record_json(&cur);
	}
	store_record_clear(&cur);
	if (!same)
		return (error_set(err, ERR_CONFLICT, "the record changed "
		    "while its hooks ran; send the request again"));
	return (0);
}

/* Writer: the stored record into a->rec, and as the write's before-image
 * (a->prev); for a record the before-hooks saw, only the check that it
 * is still the same. */
static int
rec_current(struct worker *w, struct rec_arg *a, struct error *err)
{
	if (a->hooked)
		return (rec_unchanged(w, a, err));
	if (rec_load(w->store, a, err) == -1)
		return (-1);
	free(a->prev);
	a->prev = xstrdup(a->json);
	return (0);
}

static int
rec_append_event(struct worker *w, struct rec_arg *a, const char *type,
    const char *data, struct error *err)
{
	struct api_ctx	*ctx = a->ctx;

	if (store_event_append(w->store, ctx->realm, ctx->app, ctx->collection,
	    a->rec.id, type, data, a->prev) == -1)
		return (error_store(err, store_event_append_rc(w->store), NULL));
	return (0);
}

/* The events the before-hooks published go just before the record's. */
static int
rec_append_pubs(struct worker *w, struct rec_arg *a, struct error *err)
{
	return (hooks_pubs_apply(w->store, a->ctx->realm, a->ctx->app,
	    a->pubs, err));
}

static int
apply_record_create(struct worker *w, struct write_op *op)
{
	struct rec_arg	*a = op->arg;
	int		 rc;

	if (rec_append_pubs(w, a, op->err) == -1)
		return (-1);
	rc = store_record_insert(w->store, a->ctx->ids.collection_id, &a->rec);
	if (rc == STORE_EXISTS)	/* the collection went away */
		rc = STORE_NOTFOUND;
	if (rc != STORE_OK)
		return (error_store(op->err, rc, "collection"));
	return (rec_append_event(w, a, "record_created", a->json, op->err));
}

static int
apply_record_update(struct worker *w, struct write_op *op)
{
	struct rec_arg	*a = op->arg;
	struct api_ctx	*ctx = a->ctx;
	int		 rc;

	/* The rule holds on the record as stored now and as it will be. A
	 * record the hooks saw is still the one the worker checked. */
	if ((rc = rec_current(w, a, op->err)) == 0 && !a->hooked &&
	    (rc = rec_rule_stored(a, op->err)) == 0)
		rc = rec_merge(a, op->err);
	if (rc == -1 || rec_rule_new(a, op->err) == -1 ||
	    rec_append_pubs(w, a, op->err) == -1)
		return (-1);
	rc = store_record_update(w->store, ctx->ids.collection_id, &a->rec);
	if (rc != STORE_OK)
		return (error_store(op->err, rc, "record"));
	return (rec_append_event(w, a, "record_updated", a->json, op->err));
}

static int
apply_record_delete(struct worker *w, struct write_op *op)
{
	struct rec_arg	*a = op->arg;
	struct api_ctx	*ctx = a->ctx;
	char		*data;
	int		 rc;

	if ((rc = rec_current(w, a, op->err)) == 0 && !a->hooked)
		rc = rec_rule_stored(a, op->err);
	if (rc == -1 || rec_append_pubs(w, a, op->err) == -1)
		return (-1);
	rc = store_record_delete(w->store, ctx->ids.collection_id, a->rec.id);
	if (rc != STORE_OK)
		return (error_store(op->err, rc, "record"));
	xasprintf(&data, "{\"id\":\"%s\",\"collection\":\"%s\"}", a->rec.id,
	    ctx->collection);
	rc = rec_append_event(w, a, "record_deleted", data, op->err);
	free(data);
	return (rc);
}

/*
 * The record writes of one request in flight: one for a single write, up
 * to MAX_BATCH_REQUESTS for a batch. The worker checks and prepares them
 * all, runs their before-hooks in order (one hook-call slot for the
 * request), then hands them to the writer in one write op and is free
 * again: they commit together, each with its events in order, or the
 * first failure undoes them all. The writer replies once committed.
 */
struct rec_item {
	struct api_ctx	 ctx;		/* the write's names and ids */
	struct rec_arg	 a;
	struct write_op	 op;		/* carries its apply, a and err */
	int		 status;
};

struct rec_job {
	struct api_ctx	 ctx;		/* a copy: the worker's frame is gone */
	struct rec_item	*items;
	size_t		 n;
	int		 batch;		/* answer as a batch, errors with index */
	struct write_op	 op;
	struct hooks_wait wait;		/* a hook-call slot of the app */
};

static int	apply_job(struct worker *, struct write_op *);
static void	rec_done(struct write_op *);

/* A job for up to n writes, each starting as a copy of ctx. */
static struct rec_job *
rec_job_new(struct api_ctx *ctx, size_t n, int batch)
{
	struct rec_job	*j = xcalloc(1, sizeof *j);
	struct rec_item	*it;
	size_t		 i;

	j->ctx = *ctx;
	j->batch = batch;
	j->items = xcalloc(n > 0 ? n : 1, sizeof *j->items);
	for (i = 0; i < n; i++) {
		it = &j->items[i];
		it->ctx = *ctx;
		it->a.ctx = &it->ctx;
		it->op.arg = &it->a;
		it->op.err = &ctx->req->err;
	}
	j->wait.req = ctx->req;
	j->op.apply = apply_job;
	j->op.arg = j;
	j->op.err = &ctx->req->err;
	j->op.done_cb = rec_done;
	return (j);
}

static void
rec_job_free(struct rec_job *j)
{
	struct rec_arg	*a;
	size_t		 i;

	for (i = 0; i < j->n; i++) {
		a = &j->items[i].a;
		if (a->input != NULL)
			json_object_put(a->input);
		store_record_clear(&a->rec);
		free(a->json);
		free(a->prev);
		free(a->seen_fields);
		hooks_pubs_free(a->pubs);
		filter_free(a->rule);
	}
	free(j->items);
	free(j);
}

/* The cause names the batch's failing request i. Returns -1. */
static int
rec_job_failed(struct rec_job *j, size_t i)
{
	if (j->batch)
		j->ctx.req->err.batch_index = i + 1;
	return (-1);
}

/* Prepares the next write of j as its handler does: the record's id and
 * times for a create, the input (a reference is taken) to merge later
 * for an update. */
static void
rec_item_add(struct rec_job *j, const char *what, json_object *input,
    int patch)
{
	struct rec_item	*it = &j->items[j->n++];
	struct rec_arg	*a = &it->a;

	a->what = what;
	a->patch = patch;
	a->input = input != NULL ? json_object_get(input) : NULL;
	if (strcmp(what, "create") == 0) {
		it->status = 201;
		it->op.apply = apply_record_create;
		ulid_new(a->rec.id);
		strlcpy_b(a->rec.collection, it->ctx.collection,
		    sizeof a->rec.collection);
		time_iso(time_now_ms(), a->rec.created_at);
		memcpy(a->rec.updated_at, a->rec.created_at,
		    sizeof a->rec.updated_at);
		a->rec.fields = xstrdup(jsonutil_string(input));
		a->json = api_record_json(&a->rec);
	} else if (strcmp(what, "update") == 0) {
		it->status = 200;
		it->op.apply = apply_record_update;
	} else {
		it->status = 204;
		it->op.apply = apply_record_delete;
	}
}

/* A JWT's write of j's last item: its rule bound to the token and the
 * body as sent; a create is checked at once, before any hook runs (an
 * update or delete when its record is read). 0, or -1 with err set. */
static int
rec_item_rule(struct rec_job *j)
{
	struct rec_item	*it = &j->items[j->n - 1];
	struct error	*err = &j->ctx.req->err;
	enum rule_verb	 v;

	v = it->status == 201 ? RULE_CREATE : it->status == 200 ?
	    RULE_UPDATE : RULE_DELETE;
	if (rule_of(&it->ctx, v, it->a.input, NULL, &it->a.rule, err) == -1)
		return (-1);
	return (v == RULE_CREATE ? rec_rule_new(&it->a, err) : 0);
}

/*
 * Worker: the before-hooks of each write in order. A record an earlier
 * write of the batch changes is shown to the hooks as that write leaves
 * it, and that write is then stored exactly as its hooks saw it (after
 * the check that the record did not change meanwhile, rec_unchanged), so
 * that what the later hooks saw holds.
 */
static int
rec_job_before(struct worker *w, struct rec_job *j)
{
	struct rec_item	*it, *prev;
	size_t		 i, k;

	for (i = 0; i < j->n; i++) {
		it = &j->items[i];
		for (k = i, prev = NULL; it->status != 201 && k-- > 0;) {
			if (j->items[k].ctx.ids.collection_id ==
			    it->ctx.ids.collection_id && strcmp(
			    j->items[k].a.rec.id, it->ctx.record_id) == 0) {
				prev = &j->items[k];
				break;
			}
		}
		if (prev != NULL && prev->status == 204) {
			error_store(&j->ctx.req->err, STORE_NOTFOUND, "record");
			return (rec_job_failed(j, i));
		}
		if (prev != NULL) {
			prev->a.hooked = 1;
			it->a.rec = prev->a.rec;
			it->a.rec.fields = xstrdup(prev->a.rec.fields);
		}
		if (rec_before(w, &it->a, &j->ctx.req->err) == -1)
			return (rec_job_failed(j, i));
	}
	return (0);
}

/* Writer: every write in order; the first failure undoes them all. */
static int
apply_job(struct worker *w, struct write_op *op)
{
	struct rec_job	*j = op->arg;
	size_t		 i;

	for (i = 0; i < j->n; i++)
		if (j->items[i].op.apply(w, &j->items[i].op) == -1)
			return (rec_job_failed(j, i));
	return (0);
}

/* A single write: its status, Location for a create, the record. A
 * batch: {"responses":[{"status":201,"body":{...}},...,{"status":204}]}. */
static void
rec_reply(struct rec_job *j)
{
	struct api_ctx	*ctx = &j->ctx;
	struct rec_item	*it = &j->items[0];
	struct evbuffer	*out;
	char		*loc;
	size_t		 i;

	if (!j->batch) {
		if (it->status == 201) {
			xasprintf(&loc, "/api/realms/%s/apps/%s/collections/%s"
			    "/records/%s", ctx->realm, ctx->app,
			    ctx->collection, it->a.rec.id);
			reply_header(ctx->req, "Location", loc);
			free(loc);
		}
		if (it->status == 204)
			reply_empty(ctx->req, 204);
		else
			reply_raw_json(ctx->req, it->status, it->a.json,
			    strlen(it->a.json));
		return;
	}
	out = evbuffer_new();
	evbuffer_add_printf(out, "{\"responses\":[");
	for (i = 0; i < j->n; i++) {
		it = &j->items[i];
		evbuffer_add_printf(out, "%s{\"status\":%d", i > 0 ? "," : "",
		    it->status);
		if (it->status != 204)
			evbuffer_add_printf(out, ",\"body\":%s", it->a.json);
		evbuffer_add(out, "}", 1);
	}
	evbuffer_add(out, "]}", 2);
	reply_raw_json(ctx->req, 200, (const char *)evbuffer_pullup(out, -1),
	    evbuffer_get_length(out));
	evbuffer_free(out);
}

/* A worker runs the after-hooks of each write in order, then the reply
 * goes out. */
static void
rec_after(struct worker *w, struct request *req)
{
	struct rec_job	*j = req->after_arg;
	struct api_ctx	*ctx = &j->ctx;
	struct rec_item	*it;
	json_object	*o;
	size_t		 i;

	if (!hooks_gate_enter(ctx->realm, ctx->app, &j->wait))
		return;		/* back on a worker in its turn */
	for (i = 0; i < j->n; i++) {
		it = &j->items[i];
		if ((o = rec_object(&it->a.rec)) != NULL) {
			hooks_after(w, it->a.what, ctx->realm, ctx->app,
			    it->ctx.collection, o);
			json_object_put(o);
		} else
			log_error("%s/%s: the record %s cannot be parsed; its "
			    "after hooks did not run", ctx->realm, ctx->app,
			    it->a.rec.id);
	}
	hooks_gate_leave(ctx->realm, ctx->app, &j->wait);
	rec_job_free(j);
	conn_complete(req);
}

/* The writer thread: the writes are committed or refused. */
static void
rec_done(struct write_op *op)
{
	struct rec_job	*j = op->arg;
	struct request	*req = j->ctx.req;

	if (op->rc != 0) {
		reply_error(req);
		rec_job_free(j);
		conn_complete(req);
		return;
	}
	rec_reply(j);
	if (!conn_stopping() && hooks_app_has(j->ctx.realm, j->ctx.app)) {
		req->after = rec_after;
		req->after_arg = j;
		worker_enqueue(req);
		return;
	}
	rec_job_free(j);
	conn_complete(req);
}

static void	rec_resume(struct worker *, struct request *);

/*
 * The worker's part of the writes to an app with hooks: a hook-call slot
 * of the app (or a place in its queue, without holding this worker), the
 * before-hooks, then the writer. 0 if the request went on (queued or
 * submitted), -1 with its err set and the job freed.
 */
static int
rec_stage(struct worker *w, struct rec_job *j)
{
	struct request	*req = j->ctx.req;
	int		 rc;

	req->after = rec_resume;
	req->after_arg = j;
	if (!hooks_gate_enter(j->ctx.realm, j->ctx.app, &j->wait))
		return (0);	/* req is not ours any more */
	req->after = NULL;
	req->after_arg = NULL;
	rc = rec_job_before(w, j);
	hooks_gate_leave(j->ctx.realm, j->ctx.app, &j->wait);
	if (rc == -1) {
		rec_job_free(j);
		return (-1);
	}
	writer_submit_async(&j->op);
	return (0);
}

/* A write that waited for a hook-call slot has one now. */
static void
rec_resume(struct worker *w, struct request *req)
{
	if (rec_stage(w, req->after_arg) == -1) {
		reply_error(req);
		conn_complete(req);
	}
}

/* Hands the writes on; the request completes in the writer. The
 * token's claims are the handler's: the job forgets them. */
static int
rec_submit(struct rec_job *j)
{
	size_t	 i;

	j->ctx.grant.claims = NULL;
	for (i = 0; i < j->n; i++)
		j->items[i].ctx.grant.claims = NULL;
	if (hooks_app_has(j->ctx.realm, j->ctx.app))
		return (rec_stage(j->ctx.worker, j) == -1 ? -1 : API_PENDING);
	writer_submit_async(&j->op);
	return (API_PENDING);
}

/* A single record write; input is the body (NULL for a delete), which
 * the job takes over. */
static int
rec_single(struct api_ctx *ctx, const char *what, json_object *input,
    int patch)
{
	struct rec_job	*j = rec_job_new(ctx, 1, 0);

	rec_item_add(j, what, input, patch);
	json_object_put(input);
	if (rec_item_rule(j) == -1) {
		rec_job_free(j);
		return (-1);
	}
	return (rec_submit(j));
}

int
api_record_create(struct api_ctx *ctx)
{
	json_object	*input;

	if ((input = body_object(ctx)) == NULL)
		return (-1);
	return (rec_single(ctx, "create", input, 0));
}

static int
record_update(struct api_ctx *ctx, int patch)
{
	json_object	*input;

	if ((input = body_object(ctx)) == NULL)
		return (-1);
	return (rec_single(ctx, "update", input, patch));
}

int
api_record_patch(struct api_ctx *ctx)
{
	return (record_update(ctx, 1));
}

int
api_record_put(struct api_ctx *ctx)
{
	return (record_update(ctx, 0));
}

int
api_record_delete(struct api_ctx *ctx)
{
	return (rec_single(ctx, "delete", NULL, 0));
}

/* Batches. */

/* A string member of a batch's request, or NULL. */
static const char *
batch_string(json_object *o, const char *key)
{
	json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) !=
	    strlen(json_object_get_string(v)))
		return (NULL);
	return (json_object_get_string(v));
}

/* The last request route_batch checked: the next with the same method
 * and path (an import's creates) is the same to it, in the same read. */
struct batch_last {
	const char	*method;	/* the batch body's, while it lives */
	const char	*path;
	struct api_ctx	*ctx;
	int		(*fn)(struct api_ctx *);
};

/* Checks the batch's next request as if it came alone (route_batch: its
 * route, names, grant and collection; then its body) and adds it. */
static int
batch_add(struct rec_job *j, json_object *o, struct batch_last *last)
{
	struct error	*err = &j->ctx.req->err;
	struct api_ctx	*sub = &j->items[j->n].ctx;
	int		(*fn)(struct api_ctx *);
	json_object	*body = NULL;
	const char	*method, *path;

	if (!json_object_is_type(o, json_type_object) ||
	    (method = batch_string(o, "method")) == NULL ||
	    (path = batch_string(o, "path")) == NULL)
		return (error_set(err, ERR_INVALID_BATCH, "each request must "
		    "be an object with a \"method\" and a \"path\" string"));
	if (last->ctx != NULL && strcmp(method, last->method) == 0 &&
	    strcmp(path, last->path) == 0) {
		*sub = *last->ctx;
		fn = last->fn;
	} else {
		sub->method = method;
		if (route_batch(&j->ctx, sub, path, &fn) == -1)
			return (-1);
		sub->method = NULL;	/* the body's, which goes first */
		last->method = method;
		last->path = path;
		last->ctx = sub;
		last->fn = fn;
	}
	if (fn != api_record_delete) {
		if (!json_object_object_get_ex(o, "body", &body) ||
		    !json_object_is_type(body, json_type_object))
			return (error_set(err, ERR_NOT_OBJECT,
			    "the body must be a JSON object"));
		if (strlen(jsonutil_string(body)) > cfg->max_body_size)
			return (error_set(err, ERR_TOO_LARGE, "the body is "
			    "larger than %zu bytes", cfg->max_body_size));
	}
	rec_item_add(j, fn == api_record_create ? "create" :
	    fn == api_record_delete ? "delete" : "update", body,
	    fn == api_record_patch);
	return (rec_item_rule(j));
}

int
api_batch(struct api_ctx *ctx)
{
	struct rec_job	*j;
	struct batch_last last;
	json_object	*body, *reqs;
	size_t		 i, n;

	/* a request's body sits three levels down: {"requests":[{"body": */
	if ((body = body_parse(ctx, MAX_JSON_DEPTH + 3)) == NULL)
		return (-1);
	if (!json_object_object_get_ex(body, "requests", &reqs) ||
	    !json_object_is_type(reqs, json_type_array)) {
		json_object_put(body);
		return (error_set(&ctx->req->err, ERR_INVALID_BATCH,
		    "\"requests\" must be an array"));
	}
	if ((n = json_object_array_length(reqs)) > MAX_BATCH_REQUESTS) {
		json_object_put(body);
		return (error_set(&ctx->req->err, ERR_BATCH_TOO_LARGE,
		    "a batch holds at most %d requests", MAX_BATCH_REQUESTS));
	}
	j = rec_job_new(ctx, n, 1);
	memset(&last, 0, sizeof last);
	for (i = 0; i < n; i++) {
		if (batch_add(j, json_object_array_get_idx(reqs, i),
		    &last) == -1) {
			json_object_put(body);
			rec_job_failed(j, i);
			rec_job_free(j);
			return (-1);
		}
	}
	json_object_put(body);
	if (n == 0) {
		rec_reply(j);
		rec_job_free(j);
		return (0);
	}
	return (rec_submit(j));
}

/* Events. */

struct publish_arg {
	struct api_ctx	*ctx;
	const char	*type;
	const char	*data;
	int64_t		 id;
};

static int
apply_publish(struct worker *w, struct write_op *op)
{
	struct publish_arg	*a = op->arg;
	struct api_ctx		*ctx = a->ctx;

	a->id = store_event_append(w->store, ctx->realm, ctx->app,
	    ctx->collection, NULL, a->type, a->data, NULL);
	if (a->id == -1)
		return (error_store(op->err, store_event_append_rc(w->store),
		    NULL));
	return (0);
}

/* A JWT publishes what the publish rule, bound to the token, the type
 * and the payload as @body, lets through: 0, or -1 with 403. */
static int
publish_allowed(struct api_ctx *ctx, const char *type, json_object *payload)
{
	struct filter_rec fr;
	struct filter	*rule;
	int		 pass;

	if (rule_of(ctx, RULE_PUBLISH, payload, type, &rule,
	    &ctx->req->err) == -1)
		return (-1);
	memset(&fr, 0, sizeof fr);
	fr.id = fr.created_at = fr.updated_at = "";
	fr.event_type = type;
	pass = rule == NULL || filter_match(rule, &fr);
	filter_free(rule);
	if (!pass)
		return (error_set(&ctx->req->err, ERR_FORBIDDEN, "the event "
		    "does not pass the publish rule"));
	return (0);
}

int
api_events_publish(struct api_ctx *ctx)
{
	struct publish_arg	 a;
	json_object		*body, *type, *payload = NULL, *out;

	if ((body = body_object(ctx)) == NULL)
		return (-1);
	memset(&a, 0, sizeof a);
	if (!json_object_object_get_ex(body, "type", &type) ||
	    !json_object_is_type(type, json_type_string)) {
		json_object_put(body);
		return (error_set(&ctx->req->err, ERR_INVALID_EVENT,
		    "\"type\" must be a string"));
	}
	a.type = json_object_get_string(type);
	/* A NUL inside would cut the type short of what was sent. */
	if ((size_t)json_object_get_string_len(type) != strlen(a.type)) {
		json_object_put(body);
		return (error_set(&ctx->req->err, ERR_INVALID_EVENT,
		    "type may hold only letters, digits and _ . : -"));
	}
	if (event_type_valid(a.type, &ctx->req->err) == -1) {
		json_object_put(body);
		return (-1);
	}
	json_object_object_get_ex(body, "payload", &payload);
	if (publish_allowed(ctx, a.type, payload) == -1) {
		json_object_put(body);
		return (-1);
	}
	a.ctx = ctx;
	a.data = payload != NULL ? jsonutil_string(payload) : "null";
	if (api_write(ctx, apply_publish, &a) == -1) {
		json_object_put(body);
		return (-1);
	}
	out = json_object_new_object();
	json_object_object_add(out, "id", json_object_new_int64(a.id));
	json_object_object_add(out, "type", json_object_new_string(a.type));
	reply_json(ctx->req, 202, out);
	json_object_put(out);
	json_object_put(body);
	return (0);
}

/* The last event id the client has, from the header or the query. */
int
api_stream_last_id(struct api_ctx *ctx, struct stream_spec *spec)
{
	const char	*h = request_param(ctx->req, "HTTP_LAST_EVENT_ID");
	char		 buf[32], *end;
	long long	 v;
	int		 rc;

	if (h == NULL || *h == '\0') {
		rc = request_query(ctx->req, "last_event_id", buf, sizeof buf);
		if (rc == -1)
			return (0);
		if (rc == -2)
			buf[0] = 'x';
		h = buf;
		if (*h == '\0')
			return (0);
	}
	errno = 0;
	v = strtoll(h, &end, 10);
	if (!isdigit((unsigned char)*h) || *end != '\0' || errno != 0 || v < 0)
		return (error_set(&ctx->req->err, ERR_INVALID_PARAMETER,
		    "Last-Event-ID must be an event id"));
	spec->has_last_id = 1;
	spec->last_id = v;
	return (0);
}

static void
stream_event_seen(void *arg, const struct event_row *ev)
{
	(void)arg; (void)ev;
}

/* A record's stream is for a record that exists, or, for a client that
 * resumes, one whose events after its last id are still in the log (a
 * client that resumes after a delete still gets its record_deleted). */
static int
stream_record_check(struct api_ctx *ctx, const struct stream_spec *spec)
{
	struct record	 r;
	int		 rc, n;

	memset(&r, 0, sizeof r);
	rc = store_record_get(ctx->worker->store, ctx->ids.collection_id,
	    ctx->record_id, &r);
	store_record_clear(&r);
	if (rc != STORE_NOTFOUND || !spec->has_last_id)
		return (rc == STORE_OK ? 0 : error_store(&ctx->req->err, rc,
		    "record"));
	n = store_event_range(ctx->worker->store, spec->last_id, 0,
	    ctx->realm, ctx->app, ctx->collection, ctx->record_id, 1,
	    stream_event_seen, NULL);
	if (n > 0)
		return (0);
	return (error_store(&ctx->req->err, n == 0 ? STORE_NOTFOUND :
	    STORE_ERROR, "record"));
}

static int
type_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* types=: the event types a stream carries, as ",a,b," (sorted, each
 * once, so that streams asking for the same share a topic). */
static int
stream_types(struct api_ctx *ctx, struct stream_spec *spec)
{
	static const char *const ours[] = { "record_created",
	    "record_updated", "record_entered", "record_left",
	    "record_deleted", "collection_deleted" };
	struct error	*err = &ctx->req->err, why;
	char		 buf[MAX_STREAM_TYPES * (MAX_EVENT_TYPE_LEN + 1)];
	char		*list[MAX_STREAM_TYPES], *p, *next, *out;
	size_t		 n = 0, i, k;
	int		 rc;

	if ((rc = request_query(ctx->req, "types", buf, sizeof buf)) == -1)
		return (0);
	if (rc == -2)
		return (error_set(err, ERR_INVALID_PARAMETER, "types must be "
		    "at most %d event types, separated by commas",
		    MAX_STREAM_TYPES));
	for (p = buf; p != NULL; p = next) {
		if ((next = strchr(p, ',')) != NULL)
			*next++ = '\0';
		for (k = 0; k < sizeof ours / sizeof ours[0]; k++)
			if (strcmp(p, ours[k]) == 0)
				break;
		if (k == sizeof ours / sizeof ours[0] &&
		    event_type_valid(p, &why) == -1)
			return (error_set(err, ERR_INVALID_PARAMETER, "types: "
			    "'%.*s' is not an event type a stream carries",
			    MAX_EVENT_TYPE_LEN, p));
		if (n == MAX_STREAM_TYPES)
			return (error_set(err, ERR_INVALID_PARAMETER, "types "
			    "lists at most %d event types", MAX_STREAM_TYPES));
		list[n++] = p;
	}
	qsort(list, n, sizeof *list, type_cmp);
	out = spec->types = xmalloc(sizeof buf + 2);
	*out++ = ',';
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(list[i], list[i - 1]) == 0)
			continue;
		out += sprintf(out, "%s,", list[i]);
	}
	return (0);
}

/* filter= (the expression language of lists, README "Querying") and
 * types=, checked here so that a bad one is answered before the stream
 * starts; the broker takes the parsed filter. An empty filter is none. */
int
api_stream_filter(struct api_ctx *ctx, struct stream_spec *spec)
{
	char	 buf[FILTER_MAX_LEN + 2];
	int	 rc;

	rc = request_query(ctx->req, "filter", buf, sizeof buf);
	if (rc == -2)
		return (error_set(&ctx->req->err, ERR_INVALID_FILTER, "filter "
		    "must be at most %d bytes of text", FILTER_MAX_LEN));
	if (rc == 0 && buf[0] != '\0') {
		if (filter_parse(buf, &spec->filter, &ctx->req->err) == -1)
			return (-1);
		spec->filter_text = xstrdup(buf);
	}
	return (stream_types(ctx, spec));
}

/* Whether the record of a record's stream passes the view rule bound
 * to the token: an end user never learns that a record it may not see
 * exists. 0, or -1 with 404 as for a missing record. */
static int
stream_record_view(struct api_ctx *ctx, const struct rules *r)
{
	struct rule_env		 env = { ctx->grant.claims, NULL, NULL };
	struct filter_rec	 fr;
	struct filter		*view;
	struct record		 rec;
	json_object		*o = NULL;
	char			*text;
	int			 rc, pass;

	if ((rc = rule_bind(r, RULE_VIEW, &env, &view, &ctx->req->err)) != 0)
		return (rc == RULE_UNSET ? 0 : -1);	/* answered after */
	memset(&rec, 0, sizeof rec);
	rc = store_record_get(ctx->worker->store, ctx->ids.collection_id,
	    ctx->record_id, &rec);
	if (rc != STORE_OK) {
		store_record_clear(&rec);
		filter_free(view);
		/* gone since: a resuming client may still get its delete */
		return (rc == STORE_NOTFOUND ? 0 : error_store(&ctx->req->err,
		    rc, "record"));
	}
	strlcpy_b(rec.collection, ctx->collection, sizeof rec.collection);
	text = api_record_json(&rec);
	pass = view == NULL || (jsonutil_parse_depth(text, strlen(text),
	    MAX_JSON_DEPTH + 1, &o) == 0 && filter_rec_json(o, &fr) == 0 &&
	    filter_match(view, &fr));
	json_object_put(o);
	free(text);
	store_record_clear(&rec);
	filter_free(view);
	return (pass ? 0 : error_store(&ctx->req->err, STORE_NOTFOUND,
	    "record"));
}

/* An end user's stream: it keeps the claims and the client's filter to
 * bind the rules to (again, when they change), and the log's end before
 * the rules are read: a change after it is a reset. */
void
api_stream_jwt(struct api_ctx *ctx, struct stream_spec *spec, int64_t id)
{
	spec->jwt = 1;
	spec->collection_id = id;
	spec->claims = xstrdup(json_object_to_json_string_ext(
	    ctx->grant.claims, JSON_C_TO_STRING_PLAIN));
	spec->user_filter = spec->filter_text;
	spec->filter_text = NULL;
	filter_free(spec->filter);
	spec->filter = NULL;
	spec->bound_at = store_event_max(ctx->worker->store);
}

/* An end user's stream (a JWT) carries what the collection's rules,
 * bound to the token, let it see (broker_spec_bind): its filter is the
 * list rule (view for a record's stream) && filter=, and it keeps the
 * claims and filter= to be bound again when the rules change. */
static int
stream_rules(struct api_ctx *ctx, struct stream_spec *spec)
{
	struct error	*err = &ctx->req->err;
	struct rules	 r;
	int		 rc;

	api_stream_jwt(ctx, spec, ctx->ids.collection_id);
	if ((rc = store_rules_get(ctx->worker->store, ctx->ids.collection_id,
	    &r)) != STORE_OK)
		return (error_store(err, rc, "collection"));
	if (ctx->record_id[0] != '\0' && stream_record_view(ctx, &r) == -1) {
		rules_clear(&r);
		return (-1);
	}
	rc = broker_spec_bind(spec, &r, err);
	rules_clear(&r);
	if (rc == RULE_UNSET)
		return (error_set(err, ERR_FORBIDDEN, "the %s rule is not set",
		    ctx->record_id[0] != '\0' ? "view" : "list"));
	return (rc);
}

int
api_events_stream(struct api_ctx *ctx)
{
	struct request		*req = ctx->req;
	struct stream_spec	*spec = &req->spec;

	memset(spec, 0, sizeof *spec);
	if (api_stream_last_id(ctx, spec) == -1 ||
	    api_stream_filter(ctx, spec) == -1)
		return (-1);
	if (ctx->record_id[0] != '\0' && stream_record_check(ctx, spec) == -1)
		return (-1);
	strlcpy_b(spec->realm, ctx->realm, sizeof spec->realm);
	strlcpy_b(spec->app, ctx->app, sizeof spec->app);
	strlcpy_b(spec->collection, ctx->collection, sizeof spec->collection);
	strlcpy_b(spec->record_id, ctx->record_id, sizeof spec->record_id);
	if (ctx->grant.jwt && stream_rules(ctx, spec) == -1)
		return (-1);
	/* the stream ends when its token is revoked or expires */
	strlcpy_b(spec->token_id, ctx->grant.token_id, sizeof spec->token_id);
	spec->expires_at = ctx->grant.expires_at;
	broker_spec_start(ctx->worker->store, spec);
	reply_stream(req);
	return (0);
}

/* The dashboard's files. */

static const char *
file_type(const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".json", "application/json" },
	};
	const char	*dot = strrchr(name, '.');
	size_t		 i;

	for (i = 0; dot != NULL && i < sizeof types / sizeof types[0]; i++)
		if (strcmp(dot, types[i].ext) == 0)
			return (types[i].type);
	return (NULL);
}

int
api_dashboard(struct api_ctx *ctx)
{
	const char	*uri = request_param(ctx->req, "REQUEST_URI");
	const char	*name = ctx->file[0] != '\0' ? ctx->file : "index.html";
	const char	*type = file_type(name);
	struct stat	 sb;
	char		*path, *buf;
	int		 fd;
	ssize_t		 n;

	/* No other origin may frame the dashboard: a response header, as a
	 * meta tag cannot carry frame-ancestors. */
	reply_header(ctx->req, "Content-Security-Policy",
	    "frame-ancestors 'none'");
	if (strncmp(uri, "/_/", 3) != 0) {
		reply_header(ctx->req, "Location", "/_/");
		reply_empty(ctx->req, 301);
		return (0);
	}
	if (type == NULL || name[0] == '.' || strchr(name, '/') != NULL)
		return (error_set(&ctx->req->err, ERR_NOT_FOUND, "no such file"));
	xasprintf(&path, "%s/%s", cfg->dashboard_dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd == -1 || fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > MAX_DASHBOARD_FILE) {
		if (fd != -1)
			close(fd);
		return (error_set(&ctx->req->err, ERR_NOT_FOUND, "no such file"));
	}
	buf = xmalloc(sb.st_size + 1);
	n = read(fd, buf, sb.st_size);
	close(fd);
	if (n != sb.st_size) {
		free(buf);
		return (error_set(&ctx->req->err, ERR_INTERNAL, "read error"));
	}
	reply_file(ctx->req, type, buf, n);
	free(buf);
	return (0);
}
