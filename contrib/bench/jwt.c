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
 * End users' JWTs for JWT stream runs: HS256 (HMAC-SHA256 with libsodium)
 * over a secret read from a file, its bytes as they are, which is how
 * `basalt app jwt --hs256-secret-file` reads it.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"

#define JWT_SECRET_MAX	4096

/* The secret's bytes; exits if the file cannot be read or is empty. */
uint8_t *
jwt_secret_read(const char *path, size_t *len)
{
	uint8_t	*buf;
	ssize_t	 n;
	size_t	 have = 0;
	int	 fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		err(1, "%s", path);
	buf = xcalloc(1, JWT_SECRET_MAX);
	while (have < JWT_SECRET_MAX &&
	    (n = read(fd, buf + have, JWT_SECRET_MAX - have)) != 0) {
		if (n == -1)
			err(1, "%s", path);
		have += (size_t)n;
	}
	close(fd);
	if (have == 0 || have == JWT_SECRET_MAX)
		errx(1, "%s: a secret of 1 to %d bytes is needed", path,
		    JWT_SECRET_MAX - 1);
	*len = have;
	return (buf);
}

/* Appends part as base64url without padding. */
static void
b64u_append(char *out, size_t size, size_t *len, const void *part,
    size_t n)
{
	if (*len + sodium_base64_ENCODED_LEN(n,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) > size)
		errx(1, "JWT too long");
	sodium_bin2base64(out + *len, size - *len, part, n,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	*len += strlen(out + *len);
}

/*
 * A JWT for sub, signed with HS256, issued now and expiring after ttl
 * seconds; the caller frees it.
 */
char *
jwt_hs256(const uint8_t *key, size_t keylen, const char *sub, time_t now,
    long ttl)
{
	static const char	 head[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	crypto_auth_hmacsha256_state st;
	unsigned char		 mac[crypto_auth_hmacsha256_BYTES];
	char			 claims[512], *out;
	size_t			 len = 0, size = 1024;
	int			 n;

	if (sodium_init() == -1)
		errx(1, "sodium_init failed");
	n = snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"iat\":%lld,"
	    "\"exp\":%lld}", sub, (long long)now, (long long)(now + ttl));
	if (n < 0 || (size_t)n >= sizeof claims)
		errx(1, "JWT claims too long");
	out = xcalloc(1, size);
	b64u_append(out, size, &len, head, sizeof head - 1);
	out[len++] = '.';
	b64u_append(out, size, &len, claims, (size_t)n);
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (unsigned char *)out, len);
	crypto_auth_hmacsha256_final(&st, mac);
	out[len++] = '.';
	b64u_append(out, size, &len, mac, sizeof mac);
	return (out);
}
