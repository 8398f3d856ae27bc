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

/* JSON helpers: bounded parsing, RFC 7396 merge patch, name checks. */

#include <string.h>

#include "basalt.h"

/* json-c takes 'single-quoted' strings even when strict; JSON does not. */
static int
single_quoted(const char *buf, size_t len)
{
	size_t	 i;
	int	 in = 0;

	for (i = 0; i < len; i++) {
		if (in && buf[i] == '\\')
			i++;
		else if (buf[i] == '"')
			in = !in;
		else if (!in && buf[i] == '\'')
			return (1);
	}
	return (0);
}

/* 0 if the whole buffer is one JSON value within MAX_JSON_DEPTH; *out is
 * NULL for JSON null. -1 otherwise. */
int
jsonutil_parse_value(const char *buf, size_t len, json_object **out)
{
	json_tokener	*tok;
	json_object	*obj;
	size_t		 off;
	int		 ok;

	*out = NULL;

	if (len > INT32_MAX || single_quoted(buf, len))
		return (-1);
	tok = json_tokener_new_ex(MAX_JSON_DEPTH);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	off = json_tokener_get_parse_end(tok);
	if (obj == NULL && json_tokener_get_error(tok) == json_tokener_continue) {
		/* A bare number ends only at the end of input: say so. */
		obj = json_tokener_parse_ex(tok, "", 1);
		off = len;
	}
	/* JSON null is a NULL object, and a success. */
	ok = obj != NULL || json_tokener_get_error(tok) == json_tokener_success;
	/* Only white space may follow the value. */
	for (; ok && off < len; off++)
		if (strchr(" \t\r\n", buf[off]) == NULL)
			ok = 0;
	json_tokener_free(tok);
	if (!ok) {
		json_object_put(obj);
		return (-1);
	}
	*out = obj;
	return (0);
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
