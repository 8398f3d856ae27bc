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

/* Access rules per collection. Placeholder until the rules land: every
 * rule is unset. */

#include <stdlib.h>
#include <string.h>

#include "basalt.h"

static const char *const rule_names[RULE__COUNT] = {
	"list", "view", "create", "update", "delete", "publish", "subscribe"
};

const char *
rule_name(enum rule_verb v)
{
	return (rule_names[v]);
}

int
rule_verb_parse(const char *s, enum rule_verb *out)
{
	int	 i;

	for (i = 0; i < RULE__COUNT; i++)
		if (strcmp(s, rule_names[i]) == 0) {
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

int
rule_check(enum rule_verb v, const char *text, struct error *err)
{
	(void)text;
	return (error_set(err, ERR_INVALID_FILTER, "rules.%s: not supported",
	    rule_name(v)));
}

int
rule_bind(const struct rules *r, enum rule_verb v, const struct rule_env *env,
    struct filter **out, struct error *err)
{
	(void)env; (void)err;
	*out = NULL;
	return (r->text[v] == NULL ? RULE_UNSET : 0);
}

int
store_rules_get(struct store *st, int64_t collection_id, struct rules *r)
{
	(void)st; (void)collection_id;
	memset(r, 0, sizeof *r);
	return (STORE_OK);
}

int
store_rules_set(struct store *st, int64_t collection_id, const struct rules *r)
{
	(void)st; (void)collection_id; (void)r;
	return (STORE_OK);
}

char *
filter_text(const struct filter *f)
{
	(void)f;
	return (xstrdup(""));
}

struct filter *
filter_and(struct filter *a, struct filter *b)
{
	if (a == NULL)
		return (b);
	filter_free(b);
	return (a);
}
