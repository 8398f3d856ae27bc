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

/* What a token grants on its app, and, for admin tokens, the app's JWT
 * settings and keys: GET, PUT and DELETE .../jwt, POST .../jwt/keys and
 * DELETE .../jwt/keys/{kid}. Keys are never shown, only kid and alg. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "basalt.h"

#define MAX_JWT_LIFETIME	(366 * 86400)	/* the longest one may set */

int
api_app_token(struct api_ctx *ctx)
{
	struct grant	*g = &ctx->grant;
	json_object	*o, *scopes;
	char		 ts[TIMESTAMP_LEN + 1];
	int		 i;
	static const char *names[] = { "read", "write", "admin" };

	o = json_object_new_object();
	json_object_object_add(o, "kind",
	    json_object_new_string(g->jwt ? "jwt" : "service"));
	json_object_object_add(o, "realm", json_object_new_string(ctx->realm));
	json_object_object_add(o, "app", json_object_new_string(ctx->app));
	scopes = json_object_new_array();
	for (i = 0; i < 3; i++)
		if (g->scopes & (1 << i))
			json_object_array_add(scopes,
			    json_object_new_string(names[i]));
	json_object_object_add(o, "scopes", scopes);
	if (g->jwt)
		json_object_object_add(o, "sub", json_object_new_string(g->sub));
	else
		json_object_object_add(o, "label",
		    json_object_new_string(g->label));
	if (g->expires_at != 0) {
		time_iso(g->expires_at * 1000, ts);
		json_object_object_add(o, "expires_at",
		    json_object_new_string(ts));
	} else
		json_object_object_add(o, "expires_at", NULL);
	reply_json(ctx->req, 200, o);
	json_object_put(o);
	return (0);
}

/* The JWT settings and keys of an app. */

static json_object *
string_or_null(const char *s)
{
	return (s[0] != '\0' ? json_object_new_string(s) : NULL);
}

static void
key_json(void *arg, const struct jwt_key *k)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "kid", json_object_new_string(k->kid));
	json_object_object_add(o, "alg", json_object_new_string(k->alg));
	json_object_object_add(o, "created_at",
	    json_object_new_string(k->created_at));
	json_object_array_add(arg, o);
}

/* {"enabled","issuer","audience","max_lifetime","keys":[...]}, or NULL
 * with the store's result in *rcp. */
static json_object *
jwt_json(struct store *st, int64_t app_id, int *rcp)
{
	struct jwt_settings	 set;
	json_object		*o, *keys;
	int			 rc, on;

	if ((rc = store_jwt_get(st, app_id, &set)) != STORE_OK &&
	    rc != STORE_NOTFOUND) {
		*rcp = rc;
		return (NULL);
	}
	on = rc == STORE_OK;
	if (!on)
		set.max_lifetime = JWT_MAX_LIFETIME;
	keys = json_object_new_array();
	if ((rc = store_jwt_keys(st, app_id, key_json, keys)) != STORE_OK) {
		json_object_put(keys);
		*rcp = rc;
		return (NULL);
	}
	o = json_object_new_object();
	json_object_object_add(o, "enabled", json_object_new_boolean(on));
	json_object_object_add(o, "issuer", string_or_null(set.issuer));
	json_object_object_add(o, "audience", string_or_null(set.audience));
	json_object_object_add(o, "max_lifetime",
	    json_object_new_int64(set.max_lifetime));
	json_object_object_add(o, "keys", keys);
	*rcp = STORE_OK;
	return (o);
}

static int
jwt_reply(struct api_ctx *ctx, struct store *st, int status)
{
	json_object	*o;
	int		 rc;

	if ((o = jwt_json(st, ctx->ids.app_id, &rc)) == NULL)
		return (error_store(&ctx->req->err, rc, "app"));
	reply_json(ctx->req, status, o);
	json_object_put(o);
	return (0);
}

int
api_app_jwt_get(struct api_ctx *ctx)
{
	return (jwt_reply(ctx, ctx->worker->store, 200));
}

/* What a write of settings or keys carries to the writer. */
struct jwt_arg {
	struct api_ctx		*ctx;
	struct jwt_settings	 set;
	struct jwt_key		*keys;
	size_t			 n;
	int			 replace_keys;	/* PUT with keys or jwks */
	int			 off;		/* DELETE .../jwt */
	int			 add;		/* POST .../jwt/keys */
	json_object		*out;		/* the app's JWT state after */
};

static int
apply_jwt(struct worker *w, struct write_op *op)
{
	struct jwt_arg	*a = op->arg;
	int64_t		 app_id = a->ctx->ids.app_id;
	size_t		 i;
	int		 rc = STORE_OK;

	if (a->off)
		rc = store_jwt_off(w->store, app_id);
	else if (a->add)
		for (i = 0; i < a->n && rc == STORE_OK; i++)
			rc = store_jwt_key_add(w->store, app_id, &a->keys[i]);
	else
		rc = store_jwt_set(w->store, app_id, &a->set,
		    a->replace_keys ? a->keys : NULL, a->n);
	if (rc == STORE_FULL)
		return (error_set(op->err, ERR_INVALID_PARAMETER,
		    "an app has at most %d JWT keys", MAX_JWT_KEYS));
	if (rc == STORE_EXISTS && a->add)
		return (error_set(op->err, ERR_CONFLICT,
		    "the app has a key with that kid already"));
	if (rc == STORE_EXISTS)		/* the app went away */
		rc = STORE_NOTFOUND;
	if (rc == STORE_OK && !a->off)
		a->out = jwt_json(w->store, app_id, &rc);
	return (rc == STORE_OK ? 0 : error_store(op->err, rc, "app"));
}

static void
keys_free(struct jwt_arg *a)
{
	if (a->keys == NULL)
		return;
	sodium_memzero(a->keys, MAX_JWT_KEYS * sizeof *a->keys);
	free(a->keys);
	a->keys = NULL;
}

static int
api_jwt_write(struct api_ctx *ctx, struct jwt_arg *a, int status)
{
	struct write_op	 op;
	int		 rc;

	a->ctx = ctx;
	memset(&op, 0, sizeof op);
	op.apply = apply_jwt;
	op.arg = a;
	op.err = &ctx->req->err;
	rc = writer_submit(&op);
	keys_free(a);
	if (rc == -1) {
		json_object_put(a->out);
		return (-1);
	}
	if (a->out == NULL) {
		reply_empty(ctx->req, 204);
		return (0);
	}
	reply_json(ctx->req, status, a->out);
	json_object_put(a->out);
	return (0);
}

/* A member that is a string without NUL bytes, NULL if absent or null;
 * -1 if it is something else. */
static int
opt_string(json_object *o, const char *name, const char **out,
    struct error *err)
{
	json_object	*v;

	*out = NULL;
	if (!json_object_object_get_ex(o, name, &v) || v == NULL)
		return (0);
	if (!json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) !=
	    strlen(json_object_get_string(v)))
		return (error_set(err, ERR_INVALID_PARAMETER,
		    "\"%s\" must be a string", name));
	*out = json_object_get_string(v);
	return (0);
}

/* One key of {"kid","alg","key"}: key is base64url of the bytes for
 * HS256 and EdDSA, PEM text for RS256 and ES256. */
static int
key_parse(json_object *o, const char *where, struct jwt_key *k,
    struct error *err)
{
	const char	*kid, *alg, *key;
	unsigned char	*raw;
	char		 why[200];
	size_t		 n, len;
	int		 rc;

	if (!json_object_is_type(o, json_type_object))
		return (error_set(err, ERR_INVALID_PARAMETER, "%s must be an "
		    "object {\"kid\",\"alg\",\"key\"}", where));
	if (opt_string(o, "kid", &kid, err) == -1 ||
	    opt_string(o, "alg", &alg, err) == -1 ||
	    opt_string(o, "key", &key, err) == -1)
		return (-1);
	if (alg == NULL || key == NULL)
		return (error_set(err, ERR_INVALID_PARAMETER,
		    "%s needs \"alg\" and \"key\"", where));
	if (kid != NULL && jwt_kid_valid(kid) == -1)
		return (error_set(err, ERR_INVALID_PARAMETER, "%s: a kid is "
		    "printable ASCII without spaces, at most %d bytes", where,
		    MAX_KID_LEN));
	if (strcmp(alg, "HS256") == 0) {
		len = strlen(key);
		raw = xmalloc(MAX_JWT_KEY_LEN + 1);
		rc = sodium_base642bin(raw, MAX_JWT_KEY_LEN + 1, key, len,
		    NULL, &n, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		if (rc != 0)
			snprintf(why, sizeof why, "an HS256 key is the secret's "
			    "bytes in base64url");
		else
			rc = jwt_key_hs256(raw, n, k, why, sizeof why);
		sodium_memzero(raw, MAX_JWT_KEY_LEN + 1);
		free(raw);
	} else if (strcmp(alg, "EdDSA") == 0)
		rc = jwt_key_ed25519(key, k, why, sizeof why);
	else if (strcmp(alg, "RS256") == 0 || strcmp(alg, "ES256") == 0) {
		rc = jwt_key_pem(key, strlen(key), k, why, sizeof why);
		if (rc == 0 && strcmp(k->alg, alg) != 0) {
			snprintf(why, sizeof why, "the key is for %s, not %s",
			    k->alg, alg);
			rc = -1;
		}
	} else
		return (error_set(err, ERR_INVALID_PARAMETER, "%s: alg is "
		    "HS256, EdDSA, RS256 or ES256", where));
	if (rc == -1)
		return (error_set(err, ERR_INVALID_PARAMETER, "%s: %s", where,
		    why));
	strlcpy_b(k->kid, kid != NULL ? kid : "", sizeof k->kid);
	return (0);
}

/* The keys of a body: "keys" (an array), a single key (the body itself,
 * when keys_member is NULL), or "jwks"; *given is 0 if there are none. */
static int
keys_parse(json_object *body, const char *keys_member, struct jwt_arg *a,
    int *given, struct error *err)
{
	json_object	*list, *jwks;
	char		 where[32], why[200];
	size_t		 i, j;

	*given = 0;
	a->keys = xcalloc(MAX_JWT_KEYS, sizeof *a->keys);
	if (json_object_object_get_ex(body, "jwks", &jwks) && jwks != NULL) {
		*given = 1;
		if (jwt_jwks(jwks, a->keys, MAX_JWT_KEYS, &a->n, why,
		    sizeof why) == -1)
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "jwks: %s", why));
	} else if (keys_member == NULL) {
		*given = 1;
		if (key_parse(body, "the key", &a->keys[0], err) == -1)
			return (-1);
		a->n = 1;
	} else if (json_object_object_get_ex(body, keys_member, &list) &&
	    list != NULL) {
		*given = 1;
		if (!json_object_is_type(list, json_type_array))
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "\"keys\" must be an array"));
		if (json_object_array_length(list) > MAX_JWT_KEYS)
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "an app has at most %d JWT keys", MAX_JWT_KEYS));
		for (i = 0; i < json_object_array_length(list); i++) {
			snprintf(where, sizeof where, "keys[%zu]", i);
			if (key_parse(json_object_array_get_idx(list, i), where,
			    &a->keys[i], err) == -1)
				return (-1);
			a->n++;
		}
	}
	for (i = 0; i < a->n; i++)
		for (j = i + 1; j < a->n; j++)
			if (strcmp(a->keys[i].kid, a->keys[j].kid) == 0)
				return (error_set(err, ERR_INVALID_PARAMETER,
				    "two keys have the kid '%s'",
				    a->keys[i].kid));
	return (0);
}

/* The settings of a PUT body; what it leaves out is the default. */
static int
settings_parse(json_object *body, struct jwt_settings *set, struct error *err)
{
	const char	*iss, *aud, *s;
	json_object	*v;
	int64_t		 secs;

	memset(set, 0, sizeof *set);
	set->max_lifetime = JWT_MAX_LIFETIME;
	if (opt_string(body, "issuer", &iss, err) == -1 ||
	    opt_string(body, "audience", &aud, err) == -1)
		return (-1);
	if ((iss != NULL && strlen(iss) > MAX_JWT_CLAIM_LEN) ||
	    (aud != NULL && strlen(aud) > MAX_JWT_CLAIM_LEN))
		return (error_set(err, ERR_INVALID_PARAMETER, "an issuer or "
		    "audience has at most %d bytes", MAX_JWT_CLAIM_LEN));
	if (iss != NULL)
		strlcpy_b(set->issuer, iss, sizeof set->issuer);
	if (aud != NULL)
		strlcpy_b(set->audience, aud, sizeof set->audience);
	if (!json_object_object_get_ex(body, "max_lifetime", &v) || v == NULL)
		return (0);
	if (json_object_is_type(v, json_type_int))
		secs = json_object_get_int64(v);
	else if (json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		if (config_parse_duration(s, &secs) == -1)
			secs = -1;
	} else
		secs = -1;
	if (secs <= 0 || secs > MAX_JWT_LIFETIME)
		return (error_set(err, ERR_INVALID_PARAMETER, "\"max_lifetime\" "
		    "is seconds, or a duration such as \"1h\", up to 366d"));
	set->max_lifetime = secs;
	return (0);
}

int
api_app_jwt_put(struct api_ctx *ctx)
{
	struct jwt_arg	 a;
	json_object	*body;
	int		 given;

	memset(&a, 0, sizeof a);
	if ((body = api_body(ctx)) == NULL)
		return (-1);
	if (settings_parse(body, &a.set, &ctx->req->err) == -1 ||
	    keys_parse(body, "keys", &a, &given, &ctx->req->err) == -1) {
		json_object_put(body);
		keys_free(&a);
		return (-1);
	}
	json_object_put(body);
	a.replace_keys = given;
	return (api_jwt_write(ctx, &a, 200));
}

int
api_app_jwt_delete(struct api_ctx *ctx)
{
	struct jwt_arg	 a;

	memset(&a, 0, sizeof a);
	a.off = 1;
	return (api_jwt_write(ctx, &a, 204));
}

int
api_app_jwt_key_add(struct api_ctx *ctx)
{
	struct jwt_arg	 a;
	json_object	*body;
	int		 given;

	memset(&a, 0, sizeof a);
	if ((body = api_body(ctx)) == NULL)
		return (-1);
	if (keys_parse(body, NULL, &a, &given, &ctx->req->err) == -1) {
		json_object_put(body);
		keys_free(&a);
		return (-1);
	}
	json_object_put(body);
	a.add = 1;
	return (api_jwt_write(ctx, &a, 201));
}

static int
apply_jwt_key_remove(struct worker *w, struct write_op *op)
{
	struct api_ctx	*ctx = op->arg;
	char		 what[MAX_KID_LEN + 16];
	int		 rc;

	rc = store_jwt_key_remove(w->store, ctx->ids.app_id, ctx->kid);
	snprintf(what, sizeof what, "key '%s'", ctx->kid);
	return (rc == STORE_OK ? 0 : error_store(op->err, rc, what));
}

int
api_app_jwt_key_remove(struct api_ctx *ctx)
{
	struct write_op	 op;

	memset(&op, 0, sizeof op);
	op.apply = apply_jwt_key_remove;
	op.arg = ctx;
	op.err = &ctx->req->err;
	if (writer_submit(&op) == -1)
		return (-1);
	reply_empty(ctx->req, 204);
	return (0);
}
