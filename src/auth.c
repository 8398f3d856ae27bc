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

/* Tokens: secrets are random, only their BLAKE2b hash is stored; a
 * request's token is checked against realm, app and scope. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "basalt.h"

#define SECRET_PREFIX	"bas_"

static const char *scope_names[] = { "read", "write", "admin" };

void
auth_hash(const char *secret, char out[TOKEN_HASH_LEN + 1])
{
	unsigned char	 h[TOKEN_HASH_LEN / 2];

	crypto_generichash(h, sizeof h, (const unsigned char *)secret,
	    strlen(secret), NULL, 0);
	sodium_bin2hex(out, TOKEN_HASH_LEN + 1, h, sizeof h);
}

void
auth_new_secret(char *secret, size_t len, char id[TOKEN_ID_LEN + 1])
{
	unsigned char	 raw[TOKEN_SECRET_BYTES], rid[TOKEN_ID_LEN / 2];
	char		 b64[sodium_base64_ENCODED_LEN(TOKEN_SECRET_BYTES,
			    sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

	randombytes_buf(raw, sizeof raw);
	sodium_bin2base64(b64, sizeof b64, raw, sizeof raw,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(secret, len, SECRET_PREFIX "%s", b64);
	randombytes_buf(rid, sizeof rid);
	sodium_bin2hex(id, TOKEN_ID_LEN + 1, rid, sizeof rid);
	sodium_memzero(raw, sizeof raw);
}

int
auth_scopes_parse(const char *s, int *out)
{
	char	 word[16];
	size_t	 i, n;

	*out = 0;
	while (*s != '\0') {
		n = strcspn(s, ",");
		if (n == 0 || n >= sizeof word)
			return (-1);
		memcpy(word, s, n);
		word[n] = '\0';
		for (i = 0; i < 3; i++)
			if (strcmp(word, scope_names[i]) == 0)
				break;
		if (i == 3)
			return (-1);
		*out |= 1 << i;
		s += n;
		if (*s == ',')
			s++;
	}
	return (*out == 0 ? -1 : 0);
}

void
auth_scopes_format(int scopes, char *out, size_t len)
{
	size_t	 i;

	out[0] = '\0';
	for (i = 0; i < 3; i++) {
		if (!(scopes & (1 << i)))
			continue;
		if (out[0] != '\0')
			strlcat_b(out, ",", len);
		strlcat_b(out, scope_names[i], len);
	}
}

/* The secret from "Authorization: Bearer X", or from access_token: 0,
 * -1 if there is none, -2 if it is too long. */
static int
auth_secret(struct api_ctx *ctx, int allow_query, char *out, size_t len)
{
	const char	*h;
	int		 rc;

	h = request_param(ctx->req, "HTTP_AUTHORIZATION");
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
		if (strlen(h) >= len)
			return (-2);
		strlcpy_b(out, h, len);
		return (out[0] == '\0' ? -1 : 0);
	}
	if (allow_query && (rc = request_query(ctx->req, "access_token", out,
	    len)) != -1) {
		if (rc == -2)
			return (-2);
		return (out[0] != '\0' ? 0 : -1);
	}
	return (-1);
}

/* One line in the log for a refused JWT: the path, never the query. */
static int
auth_refused(struct api_ctx *ctx)
{
	const char	*uri = request_param(ctx->req, "REQUEST_URI");

	if (uri == NULL)
		uri = "-";
	log_info("%s %.*s: JWT refused: %s", ctx->method,
	    (int)strcspn(uri, "?#"), uri, ctx->req->err.message);
	return (error_logged(&ctx->req->err));
}

int
auth_token(struct api_ctx *ctx, int allow_query)
{
	struct error	*err = &ctx->req->err;
	char		*secret, hash[TOKEN_HASH_LEN + 1];
	int64_t		 revoked;
	int		 rc;

	secret = xmalloc(MAX_JWT_LEN + 2);
	rc = auth_secret(ctx, allow_query, secret, MAX_JWT_LEN + 2);
	if (rc == -2) {
		free(secret);
		error_set(err, ERR_INVALID_TOKEN, "the token is longer than "
		    "%d bytes", MAX_JWT_LEN);
		return (auth_refused(ctx));
	}
	if (rc == -1) {
		free(secret);
		return (error_set(err, ERR_UNAUTHORIZED,
		    "a Bearer token is required"));
	}
	if (jwt_looks_like(secret)) {
		/* Checked by auth_jwt once the path's names are. */
		free(secret);
		ctx->grant.jwt = 1;
		if (ctx->realm[0] != '\0' && ctx->app[0] != '\0')
			return (0);
		error_set(err, ERR_INVALID_TOKEN, "a JWT is accepted only on "
		    "the routes of its app");
		return (auth_refused(ctx));
	}
	auth_hash(secret, hash);
	sodium_memzero(secret, MAX_JWT_LEN + 2);
	free(secret);
	rc = store_token_lookup(ctx->worker->store, hash, &ctx->grant,
	    &revoked);
	if (rc == STORE_NOTFOUND)
		return (error_set(err, ERR_INVALID_TOKEN, "unknown token"));
	if (rc != STORE_OK)
		return (error_store(err, rc, NULL));
	if (revoked != 0)
		return (error_set(err, ERR_INVALID_TOKEN,
		    "the token is revoked"));
	if (ctx->grant.expires_at != 0 &&
	    ctx->grant.expires_at <= time_now_ms() / 1000)
		return (error_set(err, ERR_INVALID_TOKEN,
		    "the token has expired"));
	return (0);
}

int
auth_jwt(struct api_ctx *ctx, int allow_query)
{
	struct error	*err = &ctx->req->err;
	struct scope_ids ids;
	const char	*missing;
	char		*secret;
	int		 rc;

	if (!ctx->grant.jwt)
		return (0);
	rc = store_resolve(ctx->worker->store, ctx->realm, ctx->app, NULL,
	    &ids, &missing);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return (error_store(err, rc, NULL));
	if (rc == STORE_NOTFOUND) {
		error_set(err, ERR_INVALID_TOKEN, "the app does not accept "
		    "JWTs");
		return (auth_refused(ctx));
	}
	secret = xmalloc(MAX_JWT_LEN + 2);
	if (auth_secret(ctx, allow_query, secret, MAX_JWT_LEN + 2) != 0) {
		free(secret);
		return (error_set(err, ERR_INTERNAL, "the token went away"));
	}
	rc = jwt_verify(ctx->worker->store, ids.app_id, secret, &ctx->grant,
	    err);
	free(secret);
	if (rc == -1)
		return (err->code == ERR_INVALID_TOKEN ? auth_refused(ctx) : -1);
	strlcpy_b(ctx->grant.realm, ctx->realm, sizeof ctx->grant.realm);
	strlcpy_b(ctx->grant.app, ctx->app, sizeof ctx->grant.app);
	ctx->grant.realm_id = ids.realm_id;
	ctx->grant.app_id = ids.app_id;
	return (0);
}

int
auth_allow(struct api_ctx *ctx, int scope)
{
	struct error	*err = &ctx->req->err;

	if (ctx->realm[0] != '\0' && (strcmp(ctx->realm, ctx->grant.realm) != 0 ||
	    strcmp(ctx->app, ctx->grant.app) != 0))
		return (error_set(err, ERR_FORBIDDEN,
		    "the token is not for this realm and app"));
	if ((ctx->grant.scopes & scope) != scope) {
		char	 need[32];

		auth_scopes_format(scope, need, sizeof need);
		return (error_set(err, ctx->grant.jwt ? ERR_INSUFFICIENT_SCOPE :
		    ERR_FORBIDDEN, "the token lacks the %s scope", need));
	}
	return (0);
}
