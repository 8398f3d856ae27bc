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

/* An app's service tokens over HTTP, for admin tokens, as the CLI manages
 * them: create (the secret is in that answer alone), list (never a secret)
 * and revoke (the token's open streams end at the next heartbeat, as after
 * `basalt token revoke`). */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "basalt.h"

/* What a write on the app's tokens did, filled by the writer. */
struct token_arg {
	struct api_ctx	*ctx;
	const char	*id;
	const char	*hash;		/* create */
	int		 scopes;
	const char	*label;
	int64_t		 expires_at;
	json_object	*found;		/* the token as stored, after the write */
	int64_t		 revoked_at;	/* revoke: before it */
};

static const char *const scope_names[] = { "read", "write", "admin" };

/* The token as the API shows it; now (unix seconds) tells the state. */
static json_object *
token_json(const struct grant *g, int64_t created, int64_t revoked,
    int64_t now)
{
	json_object	*o, *scopes;
	char		 ts[TIMESTAMP_LEN + 1];
	size_t		 i;

	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(g->token_id));
	scopes = json_object_new_array();
	for (i = 0; i < 3; i++)
		if (g->scopes & (1 << i))
			json_object_array_add(scopes,
			    json_object_new_string(scope_names[i]));
	json_object_object_add(o, "scopes", scopes);
	json_object_object_add(o, "label", json_object_new_string(g->label));
	time_iso(created * 1000, ts);
	json_object_object_add(o, "created_at", json_object_new_string(ts));
	if (g->expires_at != 0) {
		time_iso(g->expires_at * 1000, ts);
		json_object_object_add(o, "expires_at",
		    json_object_new_string(ts));
	} else
		json_object_object_add(o, "expires_at", NULL);
	if (revoked != 0) {
		time_iso(revoked * 1000, ts);
		json_object_object_add(o, "revoked_at",
		    json_object_new_string(ts));
	} else
		json_object_object_add(o, "revoked_at", NULL);
	json_object_object_add(o, "state", json_object_new_string(
	    revoked != 0 ? "revoked" : g->expires_at != 0 &&
	    g->expires_at <= now ? "expired" : "active"));
	return (o);
}

static void
token_add(void *arg, const struct grant *g, int64_t created, int64_t revoked)
{
	json_object_array_add(arg, token_json(g, created, revoked,
	    time_now_ms() / 1000));
}

/* Keeps the token of a->id: the store lists tokens by app only. */
static void
token_find(void *arg, const struct grant *g, int64_t created,
    int64_t revoked)
{
	struct token_arg	*a = arg;

	if (a->found != NULL || strcmp(g->token_id, a->id) != 0)
		return;
	a->found = token_json(g, created, revoked, time_now_ms() / 1000);
	a->revoked_at = revoked;
}

/* GET .../tokens: {"items":[...]}, oldest first. */
int
api_tokens_list(struct api_ctx *ctx)
{
	json_object	*items, *o;
	int		 rc;

	items = json_object_new_array();
	rc = store_token_list(ctx->worker->store, ctx->ids.app_id, token_add,
	    items);
	if (rc != STORE_OK) {
		json_object_put(items);
		return (error_store(&ctx->req->err, rc, "app"));
	}
	o = json_object_new_object();
	json_object_object_add(o, "items", items);
	reply_json(ctx->req, 200, o);
	json_object_put(o);
	return (0);
}

/* "scopes": a non-empty array of read, write and admin. */
static int
body_scopes(json_object *v, int *out, struct error *err)
{
	json_object	*s;
	size_t		 i, j, n;

	*out = 0;
	if (v == NULL || !json_object_is_type(v, json_type_array) ||
	    (n = json_object_array_length(v)) == 0)
		return (error_set(err, ERR_INVALID_PARAMETER, "\"scopes\" must "
		    "be an array of read, write and admin, as [\"read\"]"));
	for (i = 0; i < n; i++) {
		s = json_object_array_get_idx(v, i);
		for (j = 0; j < 3 && json_object_is_type(s, json_type_string);
		    j++)
			if (strcmp(json_object_get_string(s),
			    scope_names[j]) == 0)
				break;
		if (j >= 3 || !json_object_is_type(s, json_type_string))
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "scopes[%zu] must be \"read\", \"write\" or "
			    "\"admin\"", i));
		*out |= 1 << j;
	}
	return (0);
}

/* "label": a string of at most MAX_LABEL_LEN bytes on one line. */
static int
body_label(json_object *v, const char **out, struct error *err)
{
	const char	*s;
	size_t		 i, len;

	*out = "";
	if (v == NULL)
		return (0);
	if (!json_object_is_type(v, json_type_string))
		return (error_set(err, ERR_INVALID_PARAMETER,
		    "\"label\" must be a string"));
	s = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (len > MAX_LABEL_LEN)
		return (error_set(err, ERR_INVALID_PARAMETER,
		    "\"label\" is longer than %d bytes", MAX_LABEL_LEN));
	/* A label is shown on one line, in one column (token list). */
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "\"label\" may not hold control characters "
			    "(TAB, newline, ...)"));
	*out = json_object_get_string(v);
	return (0);
}

/* "expires_in": a duration as the CLI's --expires ("30d", "12h", "90m",
 * "45s") or a number of seconds; absent or null: never. Sets the unix
 * time it ends. */
static int
body_expires(json_object *v, int64_t *out, struct error *err)
{
	int64_t		 secs;

	*out = 0;
	if (v == NULL)
		return (0);
	if (json_object_is_type(v, json_type_int)) {
		secs = json_object_get_int64(v);
		if (secs <= 0 || secs > INT64_MAX / 1000)
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "\"expires_in\" must be a positive number of "
			    "seconds"));
	} else if (!json_object_is_type(v, json_type_string) ||
	    config_parse_duration(json_object_get_string(v), &secs) == -1)
		return (error_set(err, ERR_INVALID_PARAMETER, "\"expires_in\" "
		    "must be seconds or a duration: a number with s, m, h or d, "
		    "as \"30d\""));
	*out = secs + time_now_ms() / 1000;
	return (0);
}

/* The body of a create, checked as the CLI checks its options. */
static int
token_body(struct api_ctx *ctx, json_object *body, struct token_arg *a)
{
	struct error	*err = &ctx->req->err;
	json_object	*v;

	json_object_object_foreach(body, key, val) {
		(void)val;
		if (strcmp(key, "scopes") != 0 && strcmp(key, "label") != 0 &&
		    strcmp(key, "expires_in") != 0)
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "unknown member \"%.64s\": a token has scopes, "
			    "label and expires_in", key));
	}
	if (body_scopes(json_object_object_get_ex(body, "scopes", &v) ? v :
	    NULL, &a->scopes, err) == -1)
		return (-1);
	if (body_label(json_object_object_get_ex(body, "label", &v) ? v :
	    NULL, &a->label, err) == -1)
		return (-1);
	return (body_expires(json_object_object_get_ex(body, "expires_in",
	    &v) ? v : NULL, &a->expires_at, err));
}

static int
apply_token_create(struct worker *w, struct write_op *op)
{
	struct token_arg *a = op->arg;
	int		 rc;

	rc = store_token_insert(w->store, a->id, a->ctx->ids.app_id, a->hash,
	    a->scopes, a->label, a->expires_at);
	/* A constraint failed: the app went away since the request began
	 * (an id or hash taken twice is as good as impossible). */
	if (rc == STORE_EXISTS)
		rc = STORE_NOTFOUND;
	if (rc == STORE_OK)
		rc = store_token_list(w->store, a->ctx->ids.app_id, token_find,
		    a);
	if (rc == STORE_OK && a->found == NULL)
		rc = STORE_ERROR;
	return (rc == STORE_OK ? 0 : error_store(op->err, rc, "app"));
}

/* POST .../tokens {"scopes":[...],"label":"...","expires_in":"30d"}: 201
 * with the token and its "secret", never shown again. */
int
api_token_create(struct api_ctx *ctx)
{
	struct token_arg a;
	json_object	*body;
	char		 secret[128] = "", id[TOKEN_ID_LEN + 1];
	char		 hash[TOKEN_HASH_LEN + 1];
	int		 rc;

	memset(&a, 0, sizeof a);
	if ((body = api_body(ctx)) == NULL)
		return (-1);
	a.ctx = ctx;
	if ((rc = token_body(ctx, body, &a)) == 0) {
		auth_new_secret(secret, sizeof secret, id);
		auth_hash(secret, hash);
		a.id = id;
		a.hash = hash;
		rc = api_write(ctx, apply_token_create, &a);
	}
	json_object_put(body);
	if (rc == 0)
		json_object_object_add(a.found, "secret",
		    json_object_new_string(secret));
	sodium_memzero(secret, sizeof secret);
	if (rc == -1) {
		json_object_put(a.found);
		return (-1);
	}
	api_reply_secret(ctx, "tokens", id, a.found);
	log_info("token %s created for %s/%s over HTTP by token %s", id,
	    ctx->realm, ctx->app, ctx->grant.token_id);
	return (0);
}

/* In the writer: the token must be the app's, and not revoked yet. */
static int
apply_token_revoke(struct worker *w, struct write_op *op)
{
	struct token_arg *a = op->arg;
	char		 what[TOKEN_ID_LEN + 16];
	int		 rc;

	rc = store_token_list(w->store, a->ctx->ids.app_id, token_find, a);
	if (rc == STORE_OK && a->found == NULL)
		rc = STORE_NOTFOUND;
	if (rc == STORE_OK && a->revoked_at != 0)
		return (error_set(op->err, ERR_CONFLICT,
		    "token %s is revoked already", a->id));
	if (rc == STORE_OK)
		rc = store_token_revoke(w->store, a->id);
	snprintf(what, sizeof what, "token '%s'", a->id);
	return (rc == STORE_OK ? 0 : error_store(op->err, rc, what));
}

/* DELETE .../tokens/{id}: 204; 404 if the app has no such token, 409 if
 * it is revoked already. */
int
api_token_revoke(struct api_ctx *ctx)
{
	struct token_arg a;
	size_t		 i;
	int		 rc;

	for (i = 0; ctx->token_id[i] != '\0'; i++)
		if (!isxdigit((unsigned char)ctx->token_id[i]) ||
		    isupper((unsigned char)ctx->token_id[i]))
			break;
	if (i != TOKEN_ID_LEN || ctx->token_id[i] != '\0')
		return (error_set(&ctx->req->err, ERR_INVALID_ID,
		    "invalid token id '%s': %d hexadecimal digits",
		    ctx->token_id, TOKEN_ID_LEN));
	memset(&a, 0, sizeof a);
	a.ctx = ctx;
	a.id = ctx->token_id;
	rc = api_write(ctx, apply_token_revoke, &a);
	json_object_put(a.found);
	if (rc == -1)
		return (-1);
	reply_empty(ctx->req, 204);
	log_info("token %s of %s/%s revoked over HTTP by token %s",
	    ctx->token_id, ctx->realm, ctx->app, ctx->grant.token_id);
	return (0);
}
