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

/* libFuzzer target: JWTs and keys (jwt.c). The first byte picks what the
 * rest is:
 *   0  a JWT, checked as it is against an app with an HS256 key;
 *   1  a header and, after a NUL byte, a payload (JSON text), made into a
 *      JWT signed with that key, so that the claims are what is tested;
 *   2  a JWKS document;
 *   3  a PEM key.
 * A JWT accepted has a sub, an exp, read and write at most, its claims;
 * one refused says so with ERR_INVALID_TOKEN. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "basalt.h"

#define KEY	"0123456789abcdef0123456789abcdef"

static struct store	*st;
static int64_t		 app_id;

static void
setup(void)
{
	struct jwt_settings	 set;
	struct jwt_key		 k;
	struct scope_ids	 ids;
	const char		*missing;
	char			 path[64] = "/tmp/basalt-fuzz-jwt-XXXXXX", err[256];
	char			 why[200];
	int			 fd;

	if (sodium_init() < 0 || (fd = mkstemp(path)) == -1)
		abort();
	close(fd);
	if ((st = store_open(path, 1000, 0, err, sizeof err)) == NULL)
		abort();
	unlink(path);
	if (store_realm_create(st, "r") != STORE_OK ||
	    store_app_create(st, "r", "a") != STORE_OK ||
	    store_resolve(st, "r", "a", NULL, &ids, &missing) != STORE_OK)
		abort();
	app_id = ids.app_id;
	if (jwt_key_hs256((const unsigned char *)KEY, strlen(KEY), &k, why,
	    sizeof why) == -1)
		abort();
	memset(&set, 0, sizeof set);
	set.max_lifetime = JWT_MAX_LIFETIME;
	if (store_jwt_set(st, app_id, &set, &k, 1) != STORE_OK)
		abort();
}

static char *
b64(const uint8_t *d, size_t n)
{
	size_t	 len = sodium_base64_ENCODED_LEN(n,
		    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char	*s = xmalloc(len);

	sodium_bin2base64(s, len, d, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return (s);
}

static void
verify(const char *tok)
{
	struct grant	 g;
	struct error	 e;

	memset(&g, 0, sizeof g);
	memset(&e, 0, sizeof e);
	if (jwt_verify(st, app_id, tok, &g, &e) == 0) {
		if (!g.jwt || g.claims == NULL || g.sub[0] == '\0' ||
		    g.expires_at == 0 ||
		    (g.scopes & ~(SCOPE_READ | SCOPE_WRITE)) != 0)
			abort();
		json_object_put(g.claims);
	} else if (e.code != ERR_INVALID_TOKEN || g.claims != NULL)
		abort();
}

/* A JWT of header and payload as given, signed with KEY. */
static void
signed_jwt(const uint8_t *d, size_t n)
{
	unsigned char	 mac[crypto_auth_hmacsha256_BYTES];
	const uint8_t	*nul = memchr(d, '\0', n);
	char		*h, *p, *in, *sig, *tok;
	crypto_auth_hmacsha256_state s;

	if (nul == NULL)
		return;
	h = b64(d, (size_t)(nul - d));
	p = b64(nul + 1, n - (size_t)(nul - d) - 1);
	xasprintf(&in, "%s.%s", h, p);
	crypto_auth_hmacsha256_init(&s, (const unsigned char *)KEY, strlen(KEY));
	crypto_auth_hmacsha256_update(&s, (const unsigned char *)in, strlen(in));
	crypto_auth_hmacsha256_final(&s, mac);
	sig = b64(mac, sizeof mac);
	xasprintf(&tok, "%s.%s", in, sig);
	verify(tok);
	free(h);
	free(p);
	free(in);
	free(sig);
	free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt_key	*keys;
	json_object	*o;
	char		*s, why[200];
	size_t		 n;

	if (st == NULL)
		setup();
	if (size < 1 || size > 2 * MAX_JWT_LEN)
		return (0);
	s = xstrndup((const char *)data + 1, size - 1);
	switch (data[0] % 4) {
	case 0:
		verify(s);
		break;
	case 1:
		signed_jwt(data + 1, size - 1);
		break;
	case 2:
		keys = xcalloc(MAX_JWT_KEYS, sizeof *keys);
		if ((o = jsonutil_parse(s, strlen(s))) != NULL) {
			if (jwt_jwks(o, keys, MAX_JWT_KEYS, &n, why,
			    sizeof why) == 0 && (n == 0 || n > MAX_JWT_KEYS))
				abort();
			json_object_put(o);
		}
		free(keys);
		break;
	case 3:
		keys = xcalloc(1, sizeof *keys);
		if (jwt_key_pem(s, strlen(s), keys, why, sizeof why) == 0 &&
		    (keys->len == 0 || keys->len > MAX_JWT_KEY_LEN))
			abort();
		free(keys);
		break;
	}
	free(s);
	return (0);
}
