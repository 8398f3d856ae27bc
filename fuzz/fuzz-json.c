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
 * jsonutil_from_cesu8 must leave no surrogate and never grow the text.
 * A second validator, written apart from jsonutil.c's parser (code
 * points decoded, a number state machine), must agree on every input. */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"

/* The reference validator: 1 for JSON that jsonutil_parse_value must
 * accept, 0 for what it must refuse. */
struct ref {
	const unsigned char	*s;
	size_t			 n, i;
	int			 depth;
};

static int	ref_value(struct ref *);

static void
ref_ws(struct ref *r)
{
	while (r->i < r->n && strchr(" \t\n\r", r->s[r->i]) != NULL &&
	    r->s[r->i] != '\0')
		r->i++;
}

/* Decodes one UTF-8 character at r->i into *cp; 0 if malformed. */
static int
ref_char(struct ref *r, unsigned long *cp)
{
	static const unsigned long	 min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	unsigned char			 c = r->s[r->i];
	int				 len, k;

	len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 :
	    (c >> 3) == 30 ? 4 : 0;
	if (len == 0 || r->i + (size_t)len > r->n)
		return (0);
	*cp = len == 1 ? c : c & (0xff >> (len + 1));
	for (k = 1; k < len; k++) {
		if ((r->s[r->i + k] >> 6) != 2)
			return (0);
		*cp = *cp << 6 | (r->s[r->i + k] & 0x3f);
	}
	if (*cp < min[len] || (*cp >= 0xd800 && *cp <= 0xdfff) ||
	    *cp > 0x10ffff)
		return (0);
	r->i += (size_t)len;
	return (1);
}

static int
ref_hex(struct ref *r, unsigned long *u)
{
	int	 k;

	*u = 0;
	for (k = 0; k < 4; k++, r->i++) {
		if (r->i >= r->n || !strchr("0123456789abcdefABCDEF",
		    r->s[r->i]) || r->s[r->i] == '\0')
			return (0);
		*u = *u * 16 + (unsigned long)(r->s[r->i] <= '9' ?
		    r->s[r->i] - '0' : (r->s[r->i] | 0x20) - 'a' + 10);
	}
	return (1);
}

static int
ref_string(struct ref *r, int key)
{
	unsigned long	 cp, lo;

	r->i++;	/* the quote */
	for (;;) {
		if (r->i >= r->n)
			return (0);
		if (r->s[r->i] == '"') {
			r->i++;
			return (1);
		}
		if (r->s[r->i] != '\\') {
			if (!ref_char(r, &cp) || cp < 0x20)
				return (0);
			continue;
		}
		if (++r->i >= r->n)
			return (0);
		if (r->s[r->i] != 'u') {
			if (r->s[r->i] == '\0' || !strchr("\"\\/bfnrt",
			    r->s[r->i]))
				return (0);
			r->i++;
			continue;
		}
		r->i++;
		if (!ref_hex(r, &cp) || (cp >= 0xdc00 && cp <= 0xdfff) ||
		    (key && cp == 0))
			return (0);
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (r->i + 2 > r->n || r->s[r->i] != '\\' ||
			    r->s[r->i + 1] != 'u')
				return (0);
			r->i += 2;
			if (!ref_hex(r, &lo) || lo < 0xdc00 || lo > 0xdfff)
				return (0);
		}
	}
}

/* -?(0|[1-9]D*)(.D+)?([eE][+-]?D+)? as a state machine. */
static int
ref_number(struct ref *r)
{
	enum { START, MINUS, ZERO, INT, DOT, FRAC, E, ESIGN, EXP } st = START;
	unsigned char	 c;

	for (; r->i < r->n; r->i++) {
		c = r->s[r->i];
		if (st == START && c == '-')
			st = MINUS;
		else if ((st == START || st == MINUS) && c == '0')
			st = ZERO;
		else if ((st == START || st == MINUS) && c >= '1' && c <= '9')
			st = INT;
		else if (st == INT && c >= '0' && c <= '9')
			st = INT;
		else if ((st == ZERO || st == INT) && c == '.')
			st = DOT;
		else if ((st == DOT || st == FRAC) && c >= '0' && c <= '9')
			st = FRAC;
		else if ((st == ZERO || st == INT || st == FRAC) &&
		    (c == 'e' || c == 'E'))
			st = E;
		else if (st == E && (c == '+' || c == '-'))
			st = ESIGN;
		else if ((st == E || st == ESIGN || st == EXP) && c >= '0' &&
		    c <= '9')
			st = EXP;
		else
			break;
	}
	return (st == ZERO || st == INT || st == FRAC || st == EXP);
}

static int
ref_container(struct ref *r, char close)
{
	int	 first = 1;

	if (++r->depth > MAX_JSON_DEPTH)
		return (0);
	r->i++;
	for (;;) {
		ref_ws(r);
		if (r->i < r->n && r->s[r->i] == close && first) {
			r->i++;
			r->depth--;
			return (1);
		}
		if (close == '}') {
			if (r->i >= r->n || r->s[r->i] != '"' ||
			    !ref_string(r, 1))
				return (0);
			ref_ws(r);
			if (r->i >= r->n || r->s[r->i++] != ':')
				return (0);
			ref_ws(r);
		}
		if (!ref_value(r))
			return (0);
		ref_ws(r);
		if (r->i < r->n && r->s[r->i] == ',') {
			r->i++;
			first = 0;
			ref_ws(r);
			if (r->i < r->n && r->s[r->i] == close)
				return (0);
			continue;
		}
		if (r->i < r->n && r->s[r->i] == close) {
			r->i++;
			r->depth--;
			return (1);
		}
		return (0);
	}
}

static int
ref_value(struct ref *r)
{
	static const char	*words[] = { "true", "false", "null" };
	size_t			 k, len;

	if (r->i >= r->n)
		return (0);
	switch (r->s[r->i]) {
	case '{':
		return (ref_container(r, '}'));
	case '[':
		return (ref_container(r, ']'));
	case '"':
		return (ref_string(r, 0));
	}
	for (k = 0; k < 3; k++) {
		len = strlen(words[k]);
		if (r->n - r->i >= len && memcmp(r->s + r->i, words[k],
		    len) == 0) {
			r->i += len;
			return (1);
		}
	}
	return (ref_number(r));
}

static int
ref_valid(const uint8_t *data, size_t size)
{
	struct ref	 r = { data, size, 0, 0 };

	ref_ws(&r);
	if (!ref_value(&r))
		return (0);
	ref_ws(&r);
	return (r.i == r.n);
}

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
		if (!ref_valid(data, size))
			abort();	/* accepted, but it is not JSON */
		free(roundtrip(target));
		json_object_put(target);
	} else if (ref_valid(data, size))
		abort();	/* refused, but it is JSON */
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
