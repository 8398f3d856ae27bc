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

/*
 * End users' JWTs (RFC 7519), checked with the keys of one app. The
 * header's alg must be the key's own (never "none", never another
 * algorithm with the same key bytes); a kid picks the key, a JWT without
 * one tries the app's keys of its alg. Then the claims: exp (required),
 * nbf, iat with JWT_LEEWAY seconds of clock skew, the app's issuer and
 * audience if it has them, a lifetime of at most the app's longest, and
 * sub. scope gives read and write (both when absent), never admin.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "basalt.h"

#define JWT_MAX_PART	(MAX_JWT_LEN * 3 / 4 + 3)

struct jwt_parts {
	json_object	*header;
	json_object	*claims;
	unsigned char	 sig[512];
	size_t		 siglen;
	const char	*input;		/* header.payload, what is signed */
	size_t		 inputlen;
};

struct key_list {
	struct jwt_key	*keys;
	size_t		 n;
};

static int
b64url_char(int c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_');
}

int
jwt_looks_like(const char *s)
{
	int	 dots = 0;

	if (strncmp(s, "bas_", 4) == 0)
		return (0);
	for (; *s != '\0'; s++) {
		if (*s == '.')
			dots++;
		else if (!b64url_char((unsigned char)*s))
			return (0);
	}
	return (dots == 2);
}

/* Base64url without padding, strictly: -1 for anything else. */
static int
b64url_decode(const char *s, size_t len, unsigned char *out, size_t max,
    size_t *outlen)
{
	const char	*end;

	if (len == 0) {
		*outlen = 0;
		return (0);
	}
	if (sodium_base642bin(out, max, s, len, NULL, outlen, &end,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || end != s + len)
		return (-1);
	return (0);
}

/* A part of the JWT as a JSON object. */
static json_object *
part_json(const char *s, size_t len)
{
	unsigned char	*buf;
	json_object	*o = NULL;
	size_t		 n;

	buf = xmalloc(JWT_MAX_PART);
	if (b64url_decode(s, len, buf, JWT_MAX_PART, &n) == 0 &&
	    jsonutil_parse_depth((const char *)buf, n, MAX_JSON_DEPTH, &o) == 0 &&
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	free(buf);
	return (o);
}

static int refuse(struct error *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
refuse(struct error *err, const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[sizeof err->message];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return (error_set(err, ERR_INVALID_TOKEN, "%s", buf));
}

static int
jwt_split(const char *token, struct jwt_parts *p, struct error *err)
{
	const char	*d1, *d2;
	size_t		 len = strlen(token);

	if (len > MAX_JWT_LEN)
		return (refuse(err, "the JWT is longer than %d bytes",
		    MAX_JWT_LEN));
	d1 = strchr(token, '.');
	d2 = d1 != NULL ? strchr(d1 + 1, '.') : NULL;
	if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL)
		return (refuse(err, "the JWT is malformed"));
	if ((p->header = part_json(token, d1 - token)) == NULL)
		return (refuse(err, "the JWT's header is not a base64url JSON "
		    "object"));
	if ((p->claims = part_json(d1 + 1, d2 - d1 - 1)) == NULL)
		return (refuse(err, "the JWT's payload is not a base64url JSON "
		    "object"));
	if (b64url_decode(d2 + 1, strlen(d2 + 1), p->sig, sizeof p->sig,
	    &p->siglen) == -1)
		return (refuse(err, "the JWT's signature is not base64url"));
	p->input = token;
	p->inputlen = d2 - token;
	return (0);
}

/* A string member, NULL if absent; -1 if present but not a string. */
static int
member_string(json_object *o, const char *name, const char **out)
{
	json_object	*v;

	*out = NULL;
	if (!json_object_object_get_ex(o, name, &v))
		return (0);
	if (!json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) !=
	    strlen(json_object_get_string(v)))
		return (-1);
	*out = json_object_get_string(v);
	return (0);
}

/* A NumericDate member: 1 if present (in *out), 0 if absent, -1 if not a
 * number. */
static int
member_time(json_object *o, const char *name, int64_t *out)
{
	json_object	*v;
	double		 d;

	if (!json_object_object_get_ex(o, name, &v))
		return (0);
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return (*out > -1000000000000000LL && *out < 1000000000000000LL ?
		    1 : -1);
	}
	if (!json_object_is_type(v, json_type_double))
		return (-1);
	d = json_object_get_double(v);
	if (!(d > -1e15 && d < 1e15))
		return (-1);
	*out = (int64_t)d;
	return (1);
}

static int
verify_hs256(const struct jwt_key *k, const struct jwt_parts *p)
{
	crypto_auth_hmacsha256_state	 st;
	unsigned char			 mac[crypto_auth_hmacsha256_BYTES];
	int				 rc;

	if (p->siglen != sizeof mac)
		return (-1);
	crypto_auth_hmacsha256_init(&st, k->key, k->len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)p->input,
	    p->inputlen);
	crypto_auth_hmacsha256_final(&st, mac);
	rc = sodium_memcmp(mac, p->sig, sizeof mac);
	sodium_memzero(&st, sizeof st);
	sodium_memzero(mac, sizeof mac);
	return (rc == 0 ? 0 : -1);
}

static int
verify_eddsa(const struct jwt_key *k, const struct jwt_parts *p)
{
	if (p->siglen != crypto_sign_BYTES ||
	    k->len != crypto_sign_PUBLICKEYBYTES)
		return (-1);
	return (crypto_sign_verify_detached(p->sig,
	    (const unsigned char *)p->input, p->inputlen, k->key) == 0 ? 0 : -1);
}

/* RS256 and ES256: not yet. */
static int
verify_pkey(const struct jwt_key *k, const struct jwt_parts *p)
{
	(void)k; (void)p;
	return (-1);
}

/* 0 if the signature is k's. */
static int
verify_sig(const struct jwt_key *k, const struct jwt_parts *p)
{
	if (strcmp(k->alg, "HS256") == 0)
		return (verify_hs256(k, p));
	if (strcmp(k->alg, "EdDSA") == 0)
		return (verify_eddsa(k, p));
	if (strcmp(k->alg, "RS256") == 0 || strcmp(k->alg, "ES256") == 0)
		return (verify_pkey(k, p));
	return (-1);
}

static void
key_collect(void *arg, const struct jwt_key *k)
{
	struct key_list	*l = arg;

	if (l->n < MAX_JWT_KEYS)
		l->keys[l->n++] = *k;
}

/* The signature, with the key of the JWT's kid or one of its alg. */
static int
jwt_check_sig(struct store *st, int64_t app_id, struct jwt_parts *p,
    struct error *err)
{
	struct key_list	 l;
	const char	*alg, *kid;
	size_t		 i;
	int		 rc, tried = 0, ok = 0;

	if (member_string(p->header, "alg", &alg) == -1 || alg == NULL)
		return (refuse(err, "the JWT's header has no alg"));
	if (strcmp(alg, "none") == 0)
		return (refuse(err, "alg none is never accepted"));
	if (strcmp(alg, "HS256") != 0 && strcmp(alg, "EdDSA") != 0 &&
	    strcmp(alg, "RS256") != 0 && strcmp(alg, "ES256") != 0)
		return (refuse(err, "alg %.32s is not supported", alg));
	if (member_string(p->header, "kid", &kid) == -1)
		return (refuse(err, "the JWT's kid is not a string"));
	if (json_object_object_get_ex(p->header, "crit", NULL))
		return (refuse(err, "the JWT's header has crit"));
	l.keys = xcalloc(MAX_JWT_KEYS, sizeof *l.keys);
	l.n = 0;
	if ((rc = store_jwt_keys(st, app_id, key_collect, &l)) != STORE_OK) {
		free(l.keys);
		return (error_store(err, rc, NULL));
	}
	for (i = 0; i < l.n && !ok; i++) {
		if (kid != NULL && strcmp(kid, l.keys[i].kid) != 0)
			continue;
		if (kid != NULL && strcmp(alg, l.keys[i].alg) != 0) {
			free(l.keys);
			return (refuse(err, "alg %s is not the key's", alg));
		}
		if (strcmp(alg, l.keys[i].alg) != 0)
			continue;
		tried++;
		ok = verify_sig(&l.keys[i], p) == 0;
	}
	sodium_memzero(l.keys, MAX_JWT_KEYS * sizeof *l.keys);
	free(l.keys);
	if (ok)
		return (0);
	if (tried == 0 && kid != NULL)
		return (refuse(err, "no key of the app has the JWT's kid"));
	if (tried == 0)
		return (refuse(err, "no key of the app is for alg %s", alg));
	return (refuse(err, "the JWT's signature is wrong"));
}

/* aud as a string or an array of strings holds want. */
static int
aud_has(json_object *claims, const char *want)
{
	json_object	*v, *e;
	size_t		 i, n;

	if (!json_object_object_get_ex(claims, "aud", &v))
		return (0);
	if (json_object_is_type(v, json_type_string))
		return (strcmp(json_object_get_string(v), want) == 0 &&
		    (size_t)json_object_get_string_len(v) == strlen(want));
	if (!json_object_is_type(v, json_type_array))
		return (0);
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(v, i);
		if (json_object_is_type(e, json_type_string) &&
		    (size_t)json_object_get_string_len(e) == strlen(want) &&
		    strcmp(json_object_get_string(e), want) == 0)
			return (1);
	}
	return (0);
}

static int
jwt_check_claims(const struct jwt_settings *set, json_object *c,
    struct grant *g, struct error *err)
{
	const char	*sub, *iss, *scope, *w;
	int64_t		 now = time_now_ms() / 1000, exp, nbf, iat;
	int		 has_iat;
	size_t		 n;

	switch (member_time(c, "exp", &exp)) {
	case 0:
		return (refuse(err, "the JWT has no exp"));
	case -1:
		return (refuse(err, "the JWT's exp is not a number"));
	}
	if (exp + JWT_LEEWAY <= now)
		return (refuse(err, "the JWT has expired"));
	if ((has_iat = member_time(c, "iat", &iat)) == -1)
		return (refuse(err, "the JWT's iat is not a number"));
	if (has_iat && iat - JWT_LEEWAY > now)
		return (refuse(err, "the JWT's iat is in the future"));
	switch (member_time(c, "nbf", &nbf)) {
	case -1:
		return (refuse(err, "the JWT's nbf is not a number"));
	case 1:
		if (nbf - JWT_LEEWAY > now)
			return (refuse(err, "the JWT is not valid yet (nbf)"));
	}
	if (exp - (has_iat ? iat : now) > set->max_lifetime)
		return (refuse(err, "the JWT's lifetime is longer than the "
		    "app allows"));
	if (set->issuer[0] != '\0' && (member_string(c, "iss", &iss) == -1 ||
	    iss == NULL || strcmp(iss, set->issuer) != 0))
		return (refuse(err, "the JWT's iss is not the app's issuer"));
	if (set->audience[0] != '\0' && !aud_has(c, set->audience))
		return (refuse(err, "the JWT's aud is not the app's audience"));
	if (member_string(c, "sub", &sub) == -1 || sub == NULL ||
	    sub[0] == '\0')
		return (refuse(err, "the JWT has no sub"));
	if (strlen(sub) > MAX_SUB_LEN)
		return (refuse(err, "the JWT's sub is longer than %d bytes",
		    MAX_SUB_LEN));
	if (member_string(c, "scope", &scope) == -1)
		return (refuse(err, "the JWT's scope is not a string"));
	g->scopes = 0;
	if (scope == NULL)
		g->scopes = SCOPE_READ | SCOPE_WRITE;
	else
		for (w = scope; *w != '\0'; w += n) {
			w += strspn(w, " ");
			n = strcspn(w, " ");
			if (n == 4 && strncmp(w, "read", 4) == 0)
				g->scopes |= SCOPE_READ;
			else if (n == 5 && strncmp(w, "write", 5) == 0)
				g->scopes |= SCOPE_WRITE;
		}
	strlcpy_b(g->sub, sub, sizeof g->sub);
	g->expires_at = exp;
	return (0);
}

int
jwt_verify(struct store *st, int64_t app_id, const char *token,
    struct grant *g, struct error *err)
{
	struct jwt_parts	 p;
	struct jwt_settings	 set;
	int			 rc;

	memset(&p, 0, sizeof p);
	if ((rc = store_jwt_get(st, app_id, &set)) == STORE_NOTFOUND)
		return (refuse(err, "the app does not accept JWTs"));
	if (rc != STORE_OK)
		return (error_store(err, rc, NULL));
	if (jwt_split(token, &p, err) == -1 ||
	    jwt_check_sig(st, app_id, &p, err) == -1 ||
	    jwt_check_claims(&set, p.claims, g, err) == -1) {
		json_object_put(p.header);
		json_object_put(p.claims);
		return (-1);
	}
	json_object_put(p.header);
	g->jwt = 1;
	g->claims = p.claims;
	g->token_id[0] = '\0';
	g->label[0] = '\0';
	return (0);
}

/* Keys from what users give. */

int
jwt_kid_valid(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++, n++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return (-1);
	return (n <= MAX_KID_LEN ? 0 : -1);
}

static void
key_init(struct jwt_key *k, const char *alg)
{
	memset(k, 0, sizeof *k);
	strlcpy_b(k->alg, alg, sizeof k->alg);
}

int
jwt_key_hs256(const unsigned char *secret, size_t len, struct jwt_key *k,
    char *why, size_t whylen)
{
	if (len < JWT_MIN_SECRET || len > MAX_JWT_KEY_LEN) {
		snprintf(why, whylen, "an HS256 secret has %d to %d bytes",
		    JWT_MIN_SECRET, MAX_JWT_KEY_LEN);
		return (-1);
	}
	key_init(k, "HS256");
	memcpy(k->key, secret, len);
	k->len = len;
	return (0);
}

int
jwt_key_ed25519(const char *b64, struct jwt_key *k, char *why, size_t whylen)
{
	size_t	 len = strlen(b64), n;

	key_init(k, "EdDSA");
	/* Padding is tolerated: some tools print it. */
	while (len > 0 && b64[len - 1] == '=')
		len--;
	if (b64url_decode(b64, len, k->key, sizeof k->key, &n) == -1 ||
	    n != crypto_sign_PUBLICKEYBYTES) {
		snprintf(why, whylen, "an Ed25519 public key is 32 bytes in "
		    "base64url (43 characters)");
		return (-1);
	}
	k->len = n;
	return (0);
}

int
jwt_key_pem(const char *pem, size_t len, struct jwt_key *k, char *why,
    size_t whylen)
{
	(void)pem; (void)len; (void)k;
	snprintf(why, whylen, "RS256 and ES256 keys are not supported yet");
	return (-1);
}

int
jwt_jwks(json_object *o, struct jwt_key *keys, size_t max, size_t *n,
    char *why, size_t whylen)
{
	(void)o; (void)keys; (void)max;
	*n = 0;
	snprintf(why, whylen, "key sets are not supported yet");
	return (-1);
}
