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

/* An app's webhooks over HTTP, for admin tokens: list, create (with the
 * secret it was given or a new one, shown once), delete and resume, as
 * `basalt webhook` does. Secrets are never listed. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "basalt.h"

struct webhook_arg {
	struct webhook	 w;
	const char	*id;
	json_object	*found;
	int		 resume;
};

/* A ",a,b," list as a JSON array; NULL as null (all). */
static json_object *
webhook_list_json(const char *l)
{
	json_object	*a;
	char		*buf, *p, *item;

	if (l == NULL)
		return (NULL);
	a = json_object_new_array();
	buf = xstrdup(l);
	for (p = buf; (item = strsep(&p, ",")) != NULL;)
		if (*item != '\0')
			json_object_array_add(a, json_object_new_string(item));
	free(buf);
	return (a);
}

static json_object *
webhook_json(const struct webhook *w)
{
	json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(w->id));
	json_object_object_add(o, "url", json_object_new_string(w->url));
	json_object_object_add(o, "collections",
	    webhook_list_json(w->collections));
	json_object_object_add(o, "types", webhook_list_json(w->types));
	json_object_object_add(o, "state", json_object_new_string(w->paused ?
	    "paused" : w->failures > 0 ? "failing" : "active"));
	json_object_object_add(o, "failures", json_object_new_int(w->failures));
	json_object_object_add(o, "cursor", json_object_new_int64(w->cursor));
	json_object_object_add(o, "last_error", w->last_error == NULL ? NULL :
	    json_object_new_string(w->last_error));
	return (o);
}

static void
webhook_add(void *arg, const struct webhook *w)
{
	json_object_array_add(arg, webhook_json(w));
}

static void
webhook_find(void *arg, const struct webhook *w)
{
	struct webhook_arg	*a = arg;

	if (strcmp(w->id, a->id) == 0 && a->found == NULL)
		a->found = webhook_json(w);
}

/* GET .../webhooks: {"items":[...]}, the app's webhooks by id. */
int
api_webhooks_list(struct api_ctx *ctx)
{
	json_object	*o, *items;
	int		 rc;

	o = json_object_new_object();
	items = json_object_new_array();
	json_object_object_add(o, "items", items);
	rc = store_webhook_list(ctx->worker->store, ctx->ids.app_id, 0,
	    webhook_add, items);
	if (rc != STORE_OK) {
		json_object_put(o);
		return (error_store(&ctx->req->err, rc, "app"));
	}
	reply_json(ctx->req, 200, o);
	json_object_put(o);
	return (0);
}

/* A list member: an array of strings, checked as the CLI checks its
 * option; absent or null: all. */
static int
body_list(json_object *body, const char *key, int names, char **out,
    struct error *err)
{
	json_object	*v;
	char		 buf[(MAX_STREAM_TYPES + 1) * (MAX_EVENT_TYPE_LEN + 1)];
	char		 why[256];
	size_t		 i, n;

	*out = NULL;
	if (!json_object_object_get_ex(body, key, &v) || v == NULL)
		return (0);
	if (!json_object_is_type(v, json_type_array) ||
	    (n = json_object_array_length(v)) == 0 || n > MAX_STREAM_TYPES)
		return (error_set(err, ERR_INVALID_PARAMETER, "\"%s\" must be "
		    "an array of 1 to %d strings", key, MAX_STREAM_TYPES));
	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(v, i);

		if (!json_object_is_type(s, json_type_string) ||
		    strchr(json_object_get_string(s), ',') != NULL ||
		    json_object_get_string_len(s) == 0)
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "\"%s\" must be an array of strings", key));
		if (i > 0)
			strlcat_b(buf, ",", sizeof buf);
		if (strlcat_b(buf, json_object_get_string(s), sizeof buf) >=
		    sizeof buf)
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "\"%s\" is too long", key));
	}
	if (webhook_list_parse(buf, names, out, why, sizeof why) == -1)
		return (error_set(err, ERR_INVALID_PARAMETER, "\"%s\": %s",
		    key, why));
	return (0);
}

static int
webhook_body(json_object *body, struct webhook *w, char **colls,
    char **types, char **secret, struct error *err)
{
	json_object	*v;
	char		 why[256];
	size_t		 len;

	json_object_object_foreach(body, key, val) {
		(void)val;
		if (strcmp(key, "url") != 0 && strcmp(key, "collections") != 0 &&
		    strcmp(key, "types") != 0 && strcmp(key, "secret") != 0)
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "unknown member \"%.64s\": a webhook has url, "
			    "collections, types and secret", key));
	}
	if (!json_object_object_get_ex(body, "url", &v) ||
	    !json_object_is_type(v, json_type_string))
		return (error_set(err, ERR_INVALID_PARAMETER,
		    "\"url\" must be a string"));
	w->url = json_object_get_string(v);
	if (webhook_url_check(w->url, why, sizeof why) == -1)
		return (error_set(err, ERR_INVALID_PARAMETER, "\"url\": %s",
		    why));
	if (body_list(body, "collections", 1, colls, err) == -1 ||
	    body_list(body, "types", 0, types, err) == -1)
		return (-1);
	if (json_object_object_get_ex(body, "secret", &v) && v != NULL) {
		len = json_object_get_string_len(v);
		if (!json_object_is_type(v, json_type_string) ||
		    len < WEBHOOK_SECRET_MIN || len > WEBHOOK_SECRET_MAX ||
		    strlen(json_object_get_string(v)) != len)
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "\"secret\" must be a string of %d to %d bytes",
			    WEBHOOK_SECRET_MIN, WEBHOOK_SECRET_MAX));
		*secret = xstrdup(json_object_get_string(v));
	}
	return (0);
}

static int
apply_webhook_create(struct worker *wk, struct write_op *op)
{
	struct webhook_arg	*a = op->arg;
	int			 rc;

	rc = store_webhook_insert(wk->store, &a->w);
	if (rc == STORE_EXISTS)	/* the app went away meanwhile */
		rc = STORE_NOTFOUND;
	if (rc == STORE_OK)
		rc = store_webhook_list(wk->store, a->w.app_id, 0,
		    webhook_find, a);
	if (rc == STORE_OK && a->found == NULL)
		rc = STORE_ERROR;
	return (rc == STORE_OK ? 0 : error_store(op->err, rc, "app"));
}

/* POST .../webhooks {"url":...,"collections":[...],"types":[...],
 * "secret":...}: 201 with the webhook, and its "secret" when basalt made
 * it, shown this once. */
int
api_webhook_create(struct api_ctx *ctx)
{
	struct webhook_arg	 a;
	json_object		*body;
	unsigned char		 raw[32];
	char			 id[WEBHOOK_ID_LEN + 1];
	char			*colls = NULL, *types = NULL, *secret = NULL;
	int			 rc, made = 0;

	memset(&a, 0, sizeof a);
	if ((body = api_body(ctx)) == NULL)
		return (-1);
	rc = webhook_body(body, &a.w, &colls, &types, &secret, &ctx->req->err);
	if (rc == 0) {
		if (secret == NULL) {
			randombytes_buf(raw, sizeof raw);
			secret = xmalloc(2 * sizeof raw + 1);
			sodium_bin2hex(secret, 2 * sizeof raw + 1, raw,
			    sizeof raw);
			made = 1;
		}
		ulid_new(id);
		a.id = a.w.id = id;
		a.w.app_id = ctx->ids.app_id;
		a.w.collections = colls;
		a.w.types = types;
		a.w.secret = secret;
		rc = api_write(ctx, apply_webhook_create, &a);
	}
	json_object_put(body);
	if (rc == 0 && made)
		json_object_object_add(a.found, "secret",
		    json_object_new_string(secret));
	if (secret != NULL)
		sodium_memzero(secret, strlen(secret));
	free(secret);
	free(colls);
	free(types);
	if (rc == -1) {
		json_object_put(a.found);
		return (-1);
	}
	api_reply_secret(ctx, "webhooks", id, a.found);
	log_info("webhook %s created for %s/%s over HTTP by token %s", id,
	    ctx->realm, ctx->app, ctx->grant.token_id);
	return (0);
}

static int
apply_webhook_change(struct worker *wk, struct write_op *op)
{
	struct webhook_arg	*a = op->arg;
	int			 rc;

	rc = a->resume ? store_webhook_resume(wk->store, a->w.app_id, a->id) :
	    store_webhook_delete(wk->store, a->w.app_id, a->id);
	if (rc == STORE_OK && a->resume)
		rc = store_webhook_list(wk->store, a->w.app_id, 0,
		    webhook_find, a);
	return (rc == STORE_OK ? 0 : error_store(op->err, rc, "webhook"));
}

static int
webhook_change(struct api_ctx *ctx, int resume)
{
	struct webhook_arg	 a;

	memset(&a, 0, sizeof a);
	a.id = ctx->record_id;
	a.w.app_id = ctx->ids.app_id;
	a.resume = resume;
	if (api_write(ctx, apply_webhook_change, &a) == -1) {
		json_object_put(a.found);
		return (-1);
	}
	if (!resume) {
		reply_empty(ctx->req, 204);
		return (0);
	}
	reply_json(ctx->req, 200, a.found);
	json_object_put(a.found);
	webhook_wake();
	return (0);
}

/* DELETE .../webhooks/{id}: 204. */
int
api_webhook_delete(struct api_ctx *ctx)
{
	return (webhook_change(ctx, 0));
}

/* POST .../webhooks/{id}/resume: 200 with the webhook, active again. */
int
api_webhook_resume(struct api_ctx *ctx)
{
	return (webhook_change(ctx, 1));
}
