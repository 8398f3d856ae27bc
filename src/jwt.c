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

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "basalt.h"

#define JWT_MAX_PART	(MAX_JWT_LEN * 3 / 4 + 3)

struct jwt_parts {
	json_object	*header;
	json_object	*claims;
	unsigned char	 sig[1100];	/* RSA up to 8192 bits */
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

/* ES256's JOSE signature, r and s of 32 bytes each, as the DER that
 * OpenSSL verifies; its length, or 0. */
static size_t
es256_der(const unsigned char *sig, size_t len, unsigned char *out,
    size_t max)
{
	ECDSA_SIG	*es;
	BIGNUM		*r, *s;
	unsigned char	*o = out;
	int		 n;

	if (len != 64 || (es = ECDSA_SIG_new()) == NULL)
		return (0);
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return (0);
	}
	n = i2d_ECDSA_SIG(es, NULL);
	if (n <= 0 || (size_t)n > max)
		n = 0;
	else
		n = i2d_ECDSA_SIG(es, &o);
	ECDSA_SIG_free(es);
	return (n > 0 ? (size_t)n : 0);
}

/*
 * Decoding a DER key costs OpenSSL more than the verification itself
 * (and takes its global locks), so each thread keeps the last keys it
 * decoded, found by their exact bytes: the keys still come from the
 * store on every request, so a key removed or replaced is never used.
 */
#define PKEY_CACHE	8

struct pkey_cache {
	struct {
		unsigned char	*der;
		size_t		 len;
		EVP_PKEY	*pk;
	}		 e[PKEY_CACHE];
	size_t		 next;
};

static pthread_key_t	 pkey_tls;
static pthread_once_t	 pkey_once = PTHREAD_ONCE_INIT;

static void
pkey_cache_free(void *arg)
{
	struct pkey_cache	*c = arg;
	size_t			 i;

	for (i = 0; i < PKEY_CACHE; i++) {
		EVP_PKEY_free(c->e[i].pk);
		free(c->e[i].der);
	}
	free(c);
}

static void
pkey_cache_init(void)
{
	if (pthread_key_create(&pkey_tls, pkey_cache_free) != 0)
		fatal("pthread_key_create failed");
}

/* k's key as OpenSSL's (the cache keeps it: do not free it), or NULL. */
static EVP_PKEY *
pkey_get(const struct jwt_key *k)
{
	struct pkey_cache	*c;
	const unsigned char	*d = k->key;
	EVP_PKEY		*pk;
	size_t			 i;

	pthread_once(&pkey_once, pkey_cache_init);
	if ((c = pthread_getspecific(pkey_tls)) == NULL) {
		c = xcalloc(1, sizeof *c);
		if (pthread_setspecific(pkey_tls, c) != 0)
			fatal("pthread_setspecific failed");
	}
	for (i = 0; i < PKEY_CACHE; i++)
		if (c->e[i].pk != NULL && c->e[i].len == k->len &&
		    memcmp(c->e[i].der, k->key, k->len) == 0)
			return (c->e[i].pk);
	if ((pk = d2i_PUBKEY(NULL, &d, k->len)) == NULL) {
		ERR_clear_error();
		return (NULL);
	}
	i = c->next++ % PKEY_CACHE;
	EVP_PKEY_free(c->e[i].pk);
	free(c->e[i].der);
	c->e[i].der = xmalloc(k->len);
	memcpy(c->e[i].der, k->key, k->len);
	c->e[i].len = k->len;
	c->e[i].pk = pk;
	return (pk);
}

/* RS256 (RSASSA-PKCS1-v1_5 with SHA-256) and ES256 (ECDSA on P-256 with
 * SHA-256), with OpenSSL, the key as DER SubjectPublicKeyInfo. */
static int
verify_pkey(const struct jwt_key *k, const struct jwt_parts *p)
{
	const unsigned char	*sig = p->sig;
	unsigned char		 der[128];
	EVP_PKEY		*pk;
	EVP_MD_CTX		*md;
	size_t			 siglen = p->siglen;
	int			 es = strcmp(k->alg, "ES256") == 0, ok = 0;

	if ((pk = pkey_get(k)) == NULL ||
	    EVP_PKEY_base_id(pk) != (es ? EVP_PKEY_EC : EVP_PKEY_RSA))
		return (-1);
	if (es) {
		siglen = es256_der(p->sig, p->siglen, der, sizeof der);
		sig = der;
	}
	if (siglen > 0 && (md = EVP_MD_CTX_new()) != NULL) {
		ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) ==
		    1 && EVP_DigestVerify(md, sig, siglen,
		    (const unsigned char *)p->input, p->inputlen) == 1;
		EVP_MD_CTX_free(md);
	}
	ERR_clear_error();
	return (ok ? 0 : -1);
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

/* A public key OpenSSL holds as a key of ours: RSA of 2048 to 8192 bits
 * for RS256, P-256 for ES256 (DER SubjectPublicKeyInfo), Ed25519 for
 * EdDSA (its 32 bytes). Takes pk. */
static int
key_from_pkey(EVP_PKEY *pk, struct jwt_key *k, char *why, size_t whylen)
{
	unsigned char	*o;
	BIGNUM		*e = NULL;
	char		 group[64];
	size_t		 n;
	int		 bits, len, rc = -1;

	switch (EVP_PKEY_base_id(pk)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(pk);
		if (bits < 2048 || bits > 8192) {
			snprintf(why, whylen, "an RSA key has 2048 to 8192 "
			    "bits, not %d", bits);
			break;
		}
		/* OpenSSL verifies with any exponent; with e = 1 the
		 * padded hash is its own signature. */
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) != 1 ||
		    !BN_is_odd(e) || BN_cmp(e, BN_value_one()) <= 0) {
			BN_free(e);
			snprintf(why, whylen, "an RSA key's exponent is odd and "
			    "at least 3");
			break;
		}
		BN_free(e);
		key_init(k, "RS256");
		rc = 0;
		break;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pk, group, sizeof group, NULL) != 1 ||
		    strcmp(group, "prime256v1") != 0) {
			snprintf(why, whylen, "an EC key must be on P-256 "
			    "(ES256)");
			break;
		}
		key_init(k, "ES256");
		rc = 0;
		break;
	case EVP_PKEY_ED25519:
		key_init(k, "EdDSA");
		n = sizeof k->key;
		if (EVP_PKEY_get_raw_public_key(pk, k->key, &n) != 1 ||
		    n != crypto_sign_PUBLICKEYBYTES)
			snprintf(why, whylen, "a bad Ed25519 key");
		else {
			k->len = n;
			rc = 1;
		}
		break;
	default:
		snprintf(why, whylen, "the key is neither RSA, P-256 nor "
		    "Ed25519");
	}
	if (rc == 0) {
		len = i2d_PUBKEY(pk, NULL);
		if (len <= 0 || len > MAX_JWT_KEY_LEN) {
			snprintf(why, whylen, "the key is too large");
			rc = -1;
		} else {
			o = k->key;
			k->len = i2d_PUBKEY(pk, &o);
		}
	}
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return (rc == -1 ? -1 : 0);
}

int
jwt_key_pem(const char *pem, size_t len, struct jwt_key *k, char *why,
    size_t whylen)
{
	EVP_PKEY	*pk;
	X509		*x;
	BIO		*b;

	if (len > INT32_MAX || (b = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return (-1);
	}
	pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	if (pk == NULL) {
		/* A certificate's public key will do. */
		BIO_reset(b);
		if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
			pk = X509_get_pubkey(x);
			X509_free(x);
		}
	}
	BIO_free(b);
	ERR_clear_error();
	if (pk == NULL) {
		snprintf(why, whylen, "not a public key (-----BEGIN PUBLIC "
		    "KEY-----) or certificate in PEM");
		return (-1);
	}
	return (key_from_pkey(pk, k, why, whylen));
}

/* A base64url member of a JWK as bytes, at most max; -1 if absent or bad. */
static int
jwk_bytes(json_object *o, const char *name, unsigned char *out, size_t max,
    size_t *n)
{
	const char	*v;

	if (member_string(o, name, &v) == -1 || v == NULL ||
	    b64url_decode(v, strlen(v), out, max, n) == -1 || *n == 0)
		return (-1);
	return (0);
}

/* The public key of an RSA or EC JWK, made from its parts. */
static EVP_PKEY *
jwk_pkey(json_object *o, int rsa, char *why, size_t whylen)
{
	unsigned char	 a[1024], b[1024], pub[65];
	size_t		 na, nb;
	OSSL_PARAM_BLD	*bld;
	OSSL_PARAM	*params = NULL;
	EVP_PKEY_CTX	*ctx = NULL, *check;
	EVP_PKEY	*pk = NULL;
	BIGNUM		*n = NULL, *e = NULL;
	const char	*crv;

	if (rsa) {
		if (jwk_bytes(o, "n", a, sizeof a, &na) == -1 ||
		    jwk_bytes(o, "e", b, 8, &nb) == -1) {
			snprintf(why, whylen, "an RSA key needs n and e in "
			    "base64url");
			return (NULL);
		}
	} else {
		if (member_string(o, "crv", &crv) == -1 || crv == NULL ||
		    strcmp(crv, "P-256") != 0) {
			snprintf(why, whylen, "an EC key must be on P-256 "
			    "(ES256)");
			return (NULL);
		}
		if (jwk_bytes(o, "x", a, sizeof a, &na) == -1 || na != 32 ||
		    jwk_bytes(o, "y", b, sizeof b, &nb) == -1 || nb != 32) {
			snprintf(why, whylen, "an EC key needs x and y of 32 "
			    "bytes in base64url");
			return (NULL);
		}
		pub[0] = 0x04;
		memcpy(pub + 1, a, 32);
		memcpy(pub + 33, b, 32);
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		goto fail;
	if (rsa) {
		n = BN_bin2bn(a, na, NULL);
		e = BN_bin2bn(b, nb, NULL);
		if (n == NULL || e == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto fail;
	} else if (!OSSL_PARAM_BLD_push_utf8_string(bld,
	    OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pub, sizeof pub))
		goto fail;
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC",
	    NULL)) == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto fail;
	if (!rsa) {
		/* The point must be on the curve. */
		check = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
		if (check == NULL || EVP_PKEY_public_check(check) != 1) {
			EVP_PKEY_CTX_free(check);
			EVP_PKEY_free(pk);
			pk = NULL;
			goto fail;
		}
		EVP_PKEY_CTX_free(check);
	}
fail:
	if (pk == NULL)
		snprintf(why, whylen, "the key's numbers are not a valid %s "
		    "public key", rsa ? "RSA" : "P-256");
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return (pk);
}

/* One JWK as a key: 0, 1 if it is not for signatures or for another alg
 * (skipped), -1 with why. */
static int
jwk_key(json_object *o, struct jwt_key *k, char *why, size_t whylen)
{
	const char	*kty, *alg, *use, *kid, *crv;
	unsigned char	*raw;
	EVP_PKEY	*pk;
	size_t		 n;
	int		 rc;

	if (!json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, "a key is a JSON object");
		return (-1);
	}
	if (member_string(o, "kty", &kty) == -1 || kty == NULL ||
	    member_string(o, "alg", &alg) == -1 ||
	    member_string(o, "use", &use) == -1 ||
	    member_string(o, "kid", &kid) == -1) {
		snprintf(why, whylen, "kty, alg, use and kid are strings, kty "
		    "required");
		return (-1);
	}
	if (use != NULL && strcmp(use, "sig") != 0)
		return (1);
	if (kid != NULL && jwt_kid_valid(kid) == -1) {
		snprintf(why, whylen, "a kid is printable ASCII without "
		    "spaces, at most %d bytes", MAX_KID_LEN);
		return (-1);
	}
	if (strcmp(kty, "RSA") == 0 || strcmp(kty, "EC") == 0) {
		if (alg != NULL && strcmp(alg, strcmp(kty, "RSA") == 0 ?
		    "RS256" : "ES256") != 0)
			return (1);
		if ((pk = jwk_pkey(o, strcmp(kty, "RSA") == 0, why,
		    whylen)) == NULL)
			return (-1);
		rc = key_from_pkey(pk, k, why, whylen);
	} else if (strcmp(kty, "OKP") == 0) {
		if ((alg != NULL && strcmp(alg, "EdDSA") != 0) ||
		    member_string(o, "crv", &crv) == -1 || crv == NULL ||
		    strcmp(crv, "Ed25519") != 0)
			return (1);
		key_init(k, "EdDSA");
		rc = jwk_bytes(o, "x", k->key, sizeof k->key, &n);
		if (rc == -1 || n != crypto_sign_PUBLICKEYBYTES) {
			snprintf(why, whylen, "an Ed25519 key needs x of 32 "
			    "bytes in base64url");
			return (-1);
		}
		k->len = n;
	} else if (strcmp(kty, "oct") == 0) {
		if (alg != NULL && strcmp(alg, "HS256") != 0)
			return (1);
		raw = xmalloc(MAX_JWT_KEY_LEN + 1);
		if (jwk_bytes(o, "k", raw, MAX_JWT_KEY_LEN + 1, &n) == -1) {
			snprintf(why, whylen, "a secret key needs k in "
			    "base64url");
			rc = -1;
		} else
			rc = jwt_key_hs256(raw, n, k, why, whylen);
		sodium_memzero(raw, MAX_JWT_KEY_LEN + 1);
		free(raw);
	} else
		return (1);
	if (rc == -1)
		return (-1);
	strlcpy_b(k->kid, kid != NULL ? kid : "", sizeof k->kid);
	return (0);
}

/* A JWKS document ({"keys":[...]}, or one JWK): the keys for signatures
 * of the algorithms basalt has; others are left out. */
int
jwt_jwks(json_object *o, struct jwt_key *keys, size_t max, size_t *n,
    char *why, size_t whylen)
{
	json_object	*list;
	char		 kwhy[160];
	size_t		 i, len;
	int		 rc;

	*n = 0;
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, "a key set is a JSON object "
		    "{\"keys\":[...]}");
		return (-1);
	}
	if (!json_object_object_get_ex(o, "keys", &list)) {
		/* One JWK alone. */
		if ((rc = jwk_key(o, &keys[0], kwhy, sizeof kwhy)) == -1) {
			snprintf(why, whylen, "%s", kwhy);
			return (-1);
		}
		*n = rc == 0;
	} else if (!json_object_is_type(list, json_type_array)) {
		snprintf(why, whylen, "keys must be an array");
		return (-1);
	} else {
		len = json_object_array_length(list);
		for (i = 0; i < len; i++) {
			if (*n == max) {
				snprintf(why, whylen, "an app has at most %zu "
				    "keys", max);
				return (-1);
			}
			rc = jwk_key(json_object_array_get_idx(list, i),
			    &keys[*n], kwhy, sizeof kwhy);
			if (rc == -1) {
				snprintf(why, whylen, "keys[%zu]: %s", i, kwhy);
				return (-1);
			}
			if (rc == 0)
				(*n)++;
		}
	}
	if (*n == 0) {
		snprintf(why, whylen, "no key for signatures with HS256, "
		    "EdDSA, RS256 or ES256");
		return (-1);
	}
	for (i = 0; i < *n; i++)
		for (len = i + 1; len < *n; len++)
			if (strcmp(keys[i].kid, keys[len].kid) == 0) {
				snprintf(why, whylen, "two keys have the kid "
				    "'%s'", keys[i].kid);
				return (-1);
			}
	return (0);
}
