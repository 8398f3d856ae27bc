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

/* Record ids: ULIDs, monotonic within the process. */

#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "basalt.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static pthread_mutex_t	 ulid_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t		 ulid_last_ms;
static uint8_t		 ulid_last_rand[10];

/* Within one millisecond the random part counts up, so ids made by this
 * process sort in the order they were made. */
void
ulid_new(char out[ULID_LEN + 1])
{
	uint8_t	 b[16];
	int64_t	 ms = time_now_ms();
	int	 i, bit;

	pthread_mutex_lock(&ulid_lock);
	if (ms <= ulid_last_ms) {
		ms = ulid_last_ms;
		for (i = 9; i >= 0; i--)
			if (++ulid_last_rand[i] != 0)
				break;
	} else {
		ulid_last_ms = ms;
		randombytes_buf(ulid_last_rand, sizeof ulid_last_rand);
		ulid_last_rand[0] &= 0x7f;	/* room to count up */
	}
	for (i = 0; i < 6; i++)
		b[i] = (uint8_t)(ms >> (8 * (5 - i)));
	memcpy(b + 6, ulid_last_rand, 10);
	pthread_mutex_unlock(&ulid_lock);

	/* 128 bits as 26 base32 digits, the first carrying 3 bits. */
	for (i = 0; i < ULID_LEN; i++) {
		int	 v = 0, k;

		for (k = 0; k < 5; k++) {
			bit = i * 5 + k - 2;
			v <<= 1;
			if (bit >= 0 && (b[bit / 8] >> (7 - bit % 8)) & 1)
				v |= 1;
		}
		out[i] = crockford[v];
	}
	out[ULID_LEN] = '\0';
}

int
ulid_valid(const char *s)
{
	int	 i;

	if (strlen(s) != ULID_LEN || s[0] > '7')
		return (0);
	for (i = 0; i < ULID_LEN; i++)
		if (strchr(crockford, s[i]) == NULL || s[i] == '\0')
			return (0);
	return (1);
}
