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

/* JSON: bounded parsing, RFC 7396 merge patch, and the checks of names
 * and event types. */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"

/*
 * Our own strict RFC 8259 parser. json-c's tokenizer, even strict, takes
 * NaN, Infinity, -01, 1., raw control characters in strings, surrogate
 * bytes, and clamps integers past 64 bits; basalt would store and send
 * all of that. This parser accepts exactly the JSON grammar and builds
 * json-c objects itself, so that what is stored is what was sent:
 * - numbers keep the text they were written with (json-c serialises a
 *   double made by json_object_new_double_s from that text), so integers
 *   of any size, -0, 1.50 and 1e400 come back exactly as written;
 * - strings are UTF-8 without surrogates or overlong forms, escapes are
 *   decoded (a lone or misordered surrogate escape is refused);
 * - a key holding U+0000 is refused (json-c's keys are C strings); in
 *   values it is kept;
 * - of duplicate keys the last one wins;
 * - containers nest at most max_depth deep (MAX_JSON_DEPTH for a body,
 *   json-c's limit for arrays before).
 */
struct jparse {
	const unsigned char	*p;
	const unsigned char	*end;
	int			 depth;
	int			 max_depth;
	char			*buf;	/* decoded string or number text */
	size_t			 len;
	size_t			 size;
};

static int	jp_value(struct jparse *, json_object **);

static void
jp_ws(struct jparse *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' ||
	    *jp->p == '\n' || *jp->p == '\r'))
		jp->p++;
}

static void
jp_add(struct jparse *jp, const void *data, size_t n)
{
	if (jp->size - jp->len <= n) {
		while (jp->size - jp->len <= n)
			jp->size = jp->size == 0 ? 64 : jp->size * 2;
		jp->buf = xrealloc(jp->buf, jp->size);
	}
	memcpy(jp->buf + jp->len, data, n);
	jp->len += n;
	jp->buf[jp->len] = '\0';
}

/* The length of the well-formed UTF-8 sequence at p (no surrogates, no
 * overlong forms, at most U+10FFFF), or 0. */
static size_t
jp_utf8(const unsigned char *p, const unsigned char *end)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	size_t		 n, i;

	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if (*p >= 0xe0 && *p <= 0xef) {
		n = 3;
		if (*p == 0xe0)
			lo = 0xa0;
		else if (*p == 0xed)
			hi = 0x9f;
	} else if (*p >= 0xf0 && *p <= 0xf4) {
		n = 4;
		if (*p == 0xf0)
			lo = 0x90;
		else if (*p == 0xf4)
			hi = 0x8f;
	} else
		return (0);
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return (0);
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return (0);
	return (n);
}

static int
jp_hex4(struct jparse *jp, unsigned int *out)
{
	int	 i, c;

	if (jp->end - jp->p < 4)
		return (-1);
	*out = 0;
	for (i = 0; i < 4; i++) {
		c = *jp->p++;
		if (c >= '0' && c <= '9')
			c -= '0';
		else if (c >= 'a' && c <= 'f')
			c -= 'a' - 10;
		else if (c >= 'A' && c <= 'F')
			c -= 'A' - 10;
		else
			return (-1);
		*out = *out << 4 | (unsigned int)c;
	}
	return (0);
}

/* After "\u": one code point, a surrogate pair as one. */
static int
jp_unicode(struct jparse *jp)
{
	unsigned int	 cp, lo;
	unsigned char	 u[4];
	size_t		 n;

	if (jp_hex4(jp, &cp) == -1 || (cp >= 0xdc00 && cp <= 0xdfff))
		return (-1);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (jp->end - jp->p < 2 || jp->p[0] != '\\' || jp->p[1] != 'u')
			return (-1);
		jp->p += 2;
		if (jp_hex4(jp, &lo) == -1 || lo < 0xdc00 || lo > 0xdfff)
			return (-1);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	jp_add(jp, u, n);
	return (0);
}

/* A string (at its opening quote), decoded into jp->buf, jp->len. */
static int
jp_string(struct jparse *jp)
{
	const unsigned char	*run;
	size_t			 n;
	unsigned char		 c;

	jp->len = 0;
	jp_add(jp, "", 0);
	jp->p++;
	for (;;) {
		run = jp->p;
		while (jp->p < jp->end && *jp->p >= 0x20 && *jp->p < 0x80 &&
		    *jp->p != '"' && *jp->p != '\\')
			jp->p++;
		if (jp->p > run)
			jp_add(jp, run, (size_t)(jp->p - run));
		if (jp->p >= jp->end)
			return (-1);
		c = *jp->p;
		if (c == '"') {
			jp->p++;
			return (0);
		}
		if (c < 0x20)
			return (-1);
		if (c >= 0x80) {
			if ((n = jp_utf8(jp->p, jp->end)) == 0)
				return (-1);
			jp_add(jp, jp->p, n);
			jp->p += n;
			continue;
		}
		/* A backslash. */
		if (jp->end - jp->p < 2)
			return (-1);
		c = jp->p[1];
		jp->p += 2;
		switch (c) {
		case '"': case '\\': case '/':
			break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u':
			if (jp_unicode(jp) == -1)
				return (-1);
			continue;
		default:
			return (-1);
		}
		jp_add(jp, &c, 1);
	}
}

static int
jp_digits(struct jparse *jp)
{
	const unsigned char	*start = jp->p;

	while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
		jp->p++;
	return (jp->p > start ? 0 : -1);
}

/* A number, kept as written: int64 and uint64 as such, anything else as
 * a double that serialises to its own text. */
static int
jp_number(struct jparse *jp, json_object **out)
{
	const unsigned char	*start = jp->p;
	int			 integer = 1;
	char			*end;
	long long		 ll;
	unsigned long long	 ull;

	if (*jp->p == '-')
		jp->p++;
	if (jp->p < jp->end && *jp->p == '0')
		jp->p++;
	else if (jp->p >= jp->end || *jp->p < '1' || *jp->p > '9' ||
	    jp_digits(jp) == -1)
		return (-1);
	if (jp->p < jp->end && *jp->p == '.') {
		jp->p++;
		integer = 0;
		if (jp_digits(jp) == -1)
			return (-1);
	}
	if (jp->p < jp->end && (*jp->p == 'e' || *jp->p == 'E')) {
		jp->p++;
		integer = 0;
		if (jp->p < jp->end && (*jp->p == '+' || *jp->p == '-'))
			jp->p++;
		if (jp_digits(jp) == -1)
			return (-1);
	}
	jp->len = 0;
	jp_add(jp, start, (size_t)(jp->p - start));
	if (integer && strcmp(jp->buf, "-0") != 0) {
		errno = 0;
		ll = strtoll(jp->buf, &end, 10);
		if (errno == 0) {
			*out = json_object_new_int64(ll);
			return (0);
		}
		errno = 0;
		if (jp->buf[0] != '-') {
			ull = strtoull(jp->buf, &end, 10);
			if (errno == 0) {
				*out = json_object_new_uint64(ull);
				return (0);
			}
		}
	}
	*out = json_object_new_double_s(strtod(jp->buf, NULL), jp->buf);
	return (0);
}

static int
jp_literal(struct jparse *jp, const char *word)
{
	size_t	 n = strlen(word);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, word, n) != 0)
		return (-1);
	jp->p += n;
	return (0);
}

static int
jp_object(struct jparse *jp, json_object **out)
{
	json_object	*o, *v;
	char		*key;

	*out = o = json_object_new_object();
	jp->p++;
	jp_ws(jp);
	if (jp->p < jp->end && *jp->p == '}') {
		jp->p++;
		return (0);
	}
	for (;;) {
		if (jp->p >= jp->end || *jp->p != '"' || jp_string(jp) == -1)
			return (-1);
		/* json-c's keys end at a NUL: refuse what it would cut. */
		if (strlen(jp->buf) != jp->len)
			return (-1);
		key = xstrdup(jp->buf);
		jp_ws(jp);
		if (jp->p >= jp->end || *jp->p != ':') {
			free(key);
			return (-1);
		}
		jp->p++;
		jp_ws(jp);
		if (jp_value(jp, &v) == -1) {
			free(key);
			json_object_put(v);
			return (-1);
		}
		json_object_object_add(o, key, v);	/* the last one wins */
		free(key);
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') {
			jp->p++;
			jp_ws(jp);
			continue;
		}
		if (jp->p < jp->end && *jp->p == '}') {
			jp->p++;
			return (0);
		}
		return (-1);
	}
}

static int
jp_array(struct jparse *jp, json_object **out)
{
	json_object	*a, *v;

	*out = a = json_object_new_array();
	jp->p++;
	jp_ws(jp);
	if (jp->p < jp->end && *jp->p == ']') {
		jp->p++;
		return (0);
	}
	for (;;) {
		if (jp_value(jp, &v) == -1) {
			json_object_put(v);
			return (-1);
		}
		json_object_array_add(a, v);
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') {
			jp->p++;
			jp_ws(jp);
			continue;
		}
		if (jp->p < jp->end && *jp->p == ']') {
			jp->p++;
			return (0);
		}
		return (-1);
	}
}

/* One value at jp->p (after white space). On -1, *out may hold a partial
 * value for the caller to put. */
static int
jp_value(struct jparse *jp, json_object **out)
{
	int	 rc;

	*out = NULL;
	if (jp->p >= jp->end)
		return (-1);
	switch (*jp->p) {
	case '{':
	case '[':
		if (++jp->depth > jp->max_depth)
			return (-1);
		rc = *jp->p == '{' ? jp_object(jp, out) : jp_array(jp, out);
		jp->depth--;
		return (rc);
	case '"':
		if (jp_string(jp) == -1)
			return (-1);
		*out = json_object_new_string_len(jp->buf, (int)jp->len);
		return (0);
	case 't':
		*out = json_object_new_boolean(1);
		return (jp_literal(jp, "true"));
	case 'f':
		*out = json_object_new_boolean(0);
		return (jp_literal(jp, "false"));
	case 'n':
		return (jp_literal(jp, "null"));
	default:
		return (jp_number(jp, out));
	}
}

/* 0 if the whole buffer is one JSON value (RFC 8259, white space around
 * it allowed) with containers nested at most max_depth deep; *out is NULL
 * for JSON null. -1 otherwise. See struct jparse for what is kept and
 * what is refused. */
int
jsonutil_parse_depth(const char *buf, size_t len, int max_depth,
    json_object **out)
{
	struct jparse	 jp;
	json_object	*o;
	int		 rc;

	*out = NULL;
	if (len > INT32_MAX)
		return (-1);
	memset(&jp, 0, sizeof jp);
	jp.max_depth = max_depth;
	jp.p = (const unsigned char *)buf;
	jp.end = jp.p + len;
	jp_ws(&jp);
	rc = jp_value(&jp, &o);
	jp_ws(&jp);
	free(jp.buf);
	if (rc == -1 || jp.p != jp.end) {
		json_object_put(o);
		return (-1);
	}
	*out = o;
	return (0);
}

/* The code unit of a surrogate encoded as 3 bytes (CESU-8) at p, else 0. */
static unsigned int
cesu_surrogate(const unsigned char *p, const unsigned char *end)
{
	if (end - p < 3 || p[0] != 0xed || p[1] < 0xa0 || p[1] > 0xbf ||
	    (p[2] & 0xc0) != 0x80)
		return (0);
	return (0xd000u | (unsigned int)(p[1] & 0x3f) << 6 | (p[2] & 0x3f));
}

/* Rewrites CESU-8 (what Duktape makes of strings built in JavaScript,
 * where a character beyond U+FFFF is two surrogates of 3 bytes each) as
 * UTF-8 in place: a high and low surrogate become one 4-byte sequence, a
 * lone surrogate U+FFFD (as TextEncoder does). Other bytes are left as
 * they are. Returns the new length (never more than len). */
size_t
jsonutil_from_cesu8(char *buf, size_t len)
{
	unsigned char	*p = (unsigned char *)buf, *end = p + len, *o = p;
	unsigned int	 hi, lo, cp;

	while (p < end) {
		if ((hi = cesu_surrogate(p, end)) == 0) {
			*o++ = *p++;
			continue;
		}
		lo = hi < 0xdc00 ? cesu_surrogate(p + 3, end) : 0;
		if (hi >= 0xdc00 || lo < 0xdc00) {
			*o++ = 0xef;
			*o++ = 0xbf;
			*o++ = 0xbd;
			p += 3;
			continue;
		}
		cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
		*o++ = (unsigned char)(0xf0 | cp >> 18);
		*o++ = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		*o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (unsigned char)(0x80 | (cp & 0x3f));
		p += 6;
	}
	return ((size_t)(o - (unsigned char *)buf));
}

/* A body: jsonutil_parse_depth within MAX_JSON_DEPTH. */
int
jsonutil_parse_value(const char *buf, size_t len, json_object **out)
{
	return (jsonutil_parse_depth(buf, len, MAX_JSON_DEPTH, out));
}

/* The value, or NULL for bad JSON (and for JSON null). */
json_object *
jsonutil_parse(const char *buf, size_t len)
{
	json_object	*o;

	return (jsonutil_parse_value(buf, len, &o) == 0 ? o : NULL);
}

void
jsonutil_merge_patch(json_object *target, json_object *patch)
{
	json_object	*cur;

	json_object_object_foreach(patch, key, value) {
		if (value == NULL) {
			json_object_object_del(target, key);
			continue;
		}
		if (json_object_is_type(value, json_type_object)) {
			if (!json_object_object_get_ex(target, key, &cur) ||
			    !json_object_is_type(cur, json_type_object)) {
				cur = json_object_new_object();
				json_object_object_add(target, key, cur);
			}
			jsonutil_merge_patch(cur, value);
			continue;
		}
		json_object_object_add(target, key, json_object_get(value));
	}
}

const char *
jsonutil_string(json_object *o)
{
	return (json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Names of realms, apps and collections: [a-z0-9][a-z0-9_-]{0,62}. */
int
name_valid(const char *s)
{
	size_t	 i, len = strlen(s);

	if (len == 0 || len > MAX_NAME_LEN)
		return (0);
	for (i = 0; i < len; i++) {
		char	 c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && (c == '_' || c == '-'))
			continue;
		return (0);
	}
	return (1);
}

/* A custom event type: 1 to 64 of [A-Za-z0-9_.:-], not reserved. */
int
event_type_valid(const char *t, struct error *err)
{
	static const char *const reserved[] = { "reset", "collection_deleted",
	    "token_revoked", "token_expired", "rules_changed" };
	size_t	 i, len = strlen(t);

	if (len == 0 || len > MAX_EVENT_TYPE_LEN)
		return (error_set(err, ERR_INVALID_EVENT,
		    "type must be 1 to %d characters", MAX_EVENT_TYPE_LEN));
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)t[i]) && strchr("_.:-", t[i]) == NULL)
			return (error_set(err, ERR_INVALID_EVENT,
			    "type may hold only letters, digits and _ . : -"));
	for (i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
		if (strcmp(t, reserved[i]) == 0)
			break;
	if (i < sizeof reserved / sizeof reserved[0] ||
	    strncmp(t, "record_", 7) == 0)
		return (error_set(err, ERR_INVALID_EVENT,
		    "type '%s' is reserved", t));
	return (0);
}
