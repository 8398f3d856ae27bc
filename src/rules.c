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
