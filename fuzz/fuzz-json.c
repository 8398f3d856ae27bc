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

/* libFuzzer target: the JSON body path. Whatever jsonutil_parse_value
 * accepts must serialise (json-c) to text that it accepts again and that
 * serialises to the same bytes. Input with a NUL byte is a target and a
 * merge patch: the merged object must round-trip too, and applying the
 * patch again must change nothing (RFC 7396 patches are idempotent).
 * jsonutil_from_cesu8 must leave no surrogate and never grow the text. */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"

/* Serialises o, parses that back, checks it serialises the same; returns
 * the text (xmalloc'd). */
static char *
roundtrip(json_object *o)
{
	json_object	*again;
	char		*s;
	const char	*t;

	s = xstrdup(o == NULL ? "null" : jsonutil_string(o));
	if (jsonutil_parse_value(s, strlen(s), &again) != 0)
		abort();	/* we wrote JSON we refuse */
	t = again == NULL ? "null" : jsonutil_string(again);
	if (strcmp(s, t) != 0)
		abort();	/* it reads back different */
	json_object_put(again);
	return (s);
}

static void
cesu(const uint8_t *data, size_t size)
{
	char	*copy = xmalloc(size + 1);
	size_t	 n, i;

	memcpy(copy, data, size);
	n = jsonutil_from_cesu8(copy, size);
	if (n > size)
		abort();
	for (i = 0; i + 1 < n; i++)
		if ((unsigned char)copy[i] == 0xed &&
		    (unsigned char)copy[i + 1] >= 0xa0 &&
		    (unsigned char)copy[i + 1] <= 0xbf && i + 2 < n &&
		    ((unsigned char)copy[i + 2] & 0xc0) == 0x80)
			abort();	/* a surrogate is left */
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*buf = (const char *)data, *nul;
	json_object	*target, *patch;
	char		*once, *twice;
	size_t		 tlen;

	cesu(data, size);
	nul = memchr(buf, '\0', size);
	tlen = nul != NULL ? (size_t)(nul - buf) : size;
	if (jsonutil_parse_value(buf, size, &target) == 0) {
		assert(nul == NULL);	/* a raw NUL is never JSON */
		free(roundtrip(target));
		json_object_put(target);
	}
	if (nul == NULL)
		return (0);
	if (jsonutil_parse_value(buf, tlen, &target) != 0)
		return (0);
	if (jsonutil_parse_value(nul + 1, size - tlen - 1, &patch) != 0 ||
	    !json_object_is_type(target, json_type_object) ||
	    !json_object_is_type(patch, json_type_object)) {
		json_object_put(target);
		json_object_put(patch);
		return (0);
	}
	jsonutil_merge_patch(target, patch);
	once = roundtrip(target);
	jsonutil_merge_patch(target, patch);
	twice = roundtrip(target);
	if (strcmp(once, twice) != 0)
		abort();	/* the patch is not idempotent */
	free(once);
	free(twice);
	json_object_put(target);
	json_object_put(patch);
	return (0);
}
