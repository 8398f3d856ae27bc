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

/* Access rules per collection: the seven verbs, what each rule may read,
 * and binding a rule to a request's token and body. The language is
 * filter.c's; the rules are stored by store.c. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"

static const struct {
	const char	*name;
	int		 refs;
} verbs[RULE__COUNT] = {
	[RULE_LIST] = { "list", FILTER_REF_TOKEN },
	[RULE_VIEW] = { "view", FILTER_REF_TOKEN },
	[RULE_CREATE] = { "create", FILTER_REF_TOKEN | FILTER_REF_BODY },
	[RULE_UPDATE] = { "update", FILTER_REF_TOKEN | FILTER_REF_BODY },
	[RULE_DELETE] = { "delete", FILTER_REF_TOKEN },
	[RULE_PUBLISH] = { "publish",
	    FILTER_REF_TOKEN | FILTER_REF_BODY | FILTER_REF_EVENT },
	[RULE_SUBSCRIBE] = { "subscribe", FILTER_REF_TOKEN | FILTER_REF_EVENT },
};

const char *
rule_name(enum rule_verb v)
{
	return (verbs[v].name);
}

int
rule_verb_parse(const char *s, enum rule_verb *out)
{
	int	 i;

	for (i = 0; i < RULE__COUNT; i++)
		if (strcmp(s, verbs[i].name) == 0) {
			*out = (enum rule_verb)i;
			return (0);
		}
	return (-1);
}

void
rules_clear(struct rules *r)
{
	int	 i;

	for (i = 0; i < RULE__COUNT; i++) {
		free(r->text[i]);
		r->text[i] = NULL;
	}
}

/* The rule's text parsed for verb v; "" is no filter at all. */
static int
rule_parse(enum rule_verb v, const char *text, struct filter **out,
    struct error *err)
{
	char	 prefix[32];

	*out = NULL;
	if (*text == '\0')
		return (0);
	snprintf(prefix, sizeof prefix, "rules.%s: ", rule_name(v));
	return (filter_rule_parse(text, verbs[v].refs, prefix, out, err));
}

int
rule_check(enum rule_verb v, const char *text, struct error *err)
{
	struct filter	*f;

	if (rule_parse(v, text, &f, err) == -1)
		return (-1);
	filter_free(f);
	return (0);
}

int
rule_bind(const struct rules *r, enum rule_verb v, const struct rule_env *env,
    struct filter **out, struct error *err)
{
	struct filter	*f;

	*out = NULL;
	if (r->text[v] == NULL)
		return (RULE_UNSET);
	if (rule_parse(v, r->text[v], &f, err) == -1)
		return (-1);
	if (f != NULL && filter_bind(f, env)) {
		filter_free(f);
		f = NULL;
	}
	*out = f;
	return (0);
}

/* The rules as an object of the seven verbs, each a string or null. */
json_object *
rules_json(const struct rules *r)
{
	json_object	*o = json_object_new_object();
	int		 i;

	for (i = 0; i < RULE__COUNT; i++)
		json_object_object_add(o, verbs[i].name, r->text[i] == NULL ?
		    NULL : json_object_new_string(r->text[i]));
	return (o);
}

/* Sets verb v of r to text (NULL: unset) if it is a rule v may have. */
int
rules_set_one(struct rules *r, enum rule_verb v, const char *text,
    struct error *err)
{
	if (text != NULL && rule_check(v, text, err) == -1)
		return (-1);
	free(r->text[v]);
	r->text[v] = text == NULL ? NULL : xstrdup(text);
	return (0);
}

/* Checks a change, {"verb": "rule" or null, ...}: 0, or -1 with err
 * (ERR_INVALID_PARAMETER for its shape, ERR_INVALID_FILTER for a rule). */
int
rules_change_check(json_object *change, struct error *err)
{
	struct rules	 r;
	int		 rc;

	memset(&r, 0, sizeof r);
	rc = rules_change(&r, change, err);
	rules_clear(&r);
	return (rc);
}

/* Applies a change that rules_change_check took to r: each verb it
 * names is set or unset, the others stay. -1 with err (r then holds
 * what was applied before the bad verb). */
int
rules_change(struct rules *r, json_object *change, struct error *err)
{
	enum rule_verb	 v;
	const char	*text;

	if (!json_object_is_type(change, json_type_object))
		return (error_set(err, ERR_INVALID_PARAMETER, "\"rules\" must "
		    "be an object of rules by verb: list, view, create, update,"
		    " delete, publish, subscribe"));
	json_object_object_foreach(change, key, val) {
		if (rule_verb_parse(key, &v) == -1)
			return (error_set(err, ERR_INVALID_PARAMETER, "rules: "
			    "no verb '%.64s' (list, view, create, update, "
			    "delete, publish, subscribe)", key));
		if (val != NULL && !json_object_is_type(val, json_type_string))
			return (error_set(err, ERR_INVALID_PARAMETER, "rules.%s"
			    " must be a string or null", key));
		text = val == NULL ? NULL : json_object_get_string(val);
		if (text != NULL && (size_t)json_object_get_string_len(val) !=
		    strlen(text))
			return (error_set(err, ERR_INVALID_FILTER, "rules.%s: "
			    "a rule may not hold U+0000", key));
		if (rules_set_one(r, v, text, err) == -1)
			return (-1);
	}
	return (0);
}

/* Whether two sets of rules are the same. */
int
rules_equal(const struct rules *a, const struct rules *b)
{
	int	 i;

	for (i = 0; i < RULE__COUNT; i++)
		if ((a->text[i] == NULL) != (b->text[i] == NULL) ||
		    (a->text[i] != NULL && strcmp(a->text[i], b->text[i]) != 0))
			return (0);
	return (1);
}

/* Stores the collection's rules with the rules_changed event that tells
 * its streams, in the caller's transaction. */
int
rules_save(struct store *st, const char *realm, const char *app,
    const char *coll, int64_t coll_id, const struct rules *r)
{
	char	 data[MAX_NAME_LEN + 32];
	int	 rc;

	if ((rc = store_rules_set(st, coll_id, r)) != STORE_OK)
		return (rc);
	/* a name is [a-z0-9_-]: nothing to escape */
	snprintf(data, sizeof data, "{\"collection\":\"%s\"}", coll);
	if (store_event_append(st, realm, app, coll, NULL, "rules_changed",
	    data, NULL) == -1)
		return (STORE_ERROR);
	return (STORE_OK);
}
