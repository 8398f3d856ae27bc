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

/* The one expression language of filters, sort keys and rules: its
 * parser, its evaluation on a record in memory, its translation to SQL,
 * its canonical text, and the binding of a rule's references. */

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "basalt.h"
#include "db.h"

/*
 * Meaning, shared by both back ends (README "Querying" is the user's
 * version). A value has one of six JSON types; a missing key is null.
 * Values of different types are never equal, and <, <=, >, >= between
 * them are false. Numbers compare as doubles (integers beyond 2^53 lose
 * their last digits), strings by the bytes of their UTF-8 up to a U+0000
 * if they hold one (as SQLite 3.40's json_extract cuts them), false is
 * below true. The total order of sort keys ranks the types: null,
 * false, true, numbers, strings, then arrays and objects, which compare
 * by their JSON text as json-c writes it (the text the records table
 * holds).
 */
enum jtype { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

struct fvalue {
	enum jtype	 type;
	double		 num;		/* a number; 0 or 1 for a boolean */
	const char	*str;		/* a string */
	json_object	*obj;		/* an array or object */
	char		*buf;		/* a literal's string, owned */
	struct foperand	*ref;		/* in a rule: @token or @body, owned,
					   until it is bound */
};

/* What a comparison or a sort key reads of a record; in rules also what
 * it reads of the token, the request's body and the event. */
enum { OPD_ID, OPD_CREATED, OPD_UPDATED, OPD_FIELD, OPD_TOKEN, OPD_BODY,
    OPD_EVTYPE };

struct foperand {
	int		 kind;
	char		**keys;		/* the path under fields */
	size_t		 nkeys;
};

enum fop {
	OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_CONTAINS, OP_NCONTAINS,
	OP_HAS, OP_IN
};

enum { FN_AND, FN_OR, FN_NOT, FN_CMP, FN_TRUE, FN_FALSE };

struct fnode {
	int		 kind;
	struct fnode	**kids;		/* FN_AND, FN_OR; FN_NOT has one */
	size_t		 nkids;
	enum fop	 op;		/* FN_CMP */
	struct foperand	 opd;
	struct fvalue	*vals;		/* one, or the values of in (...) */
	size_t		 nvals;
};

struct filter {
	struct fnode	*root;
};

struct sort_key {
	struct foperand	 opd;
	int		 desc;
};

struct filter_sort {
	struct sort_key	 keys[FILTER_MAX_SORT_KEYS + 1];	/* and id */
	size_t		 nkeys;
};

static const struct {
	const char	*text;
	enum fop	 op;
} fops[] = {	/* two-character operators first */
	{ "!=", OP_NE }, { "!~", OP_NCONTAINS }, { "<=", OP_LE },
	{ ">=", OP_GE }, { "?=", OP_HAS }, { "=", OP_EQ }, { "<", OP_LT },
	{ ">", OP_GT }, { "~", OP_CONTAINS },
};

static void
operand_clear(struct foperand *o)
{
	size_t	 i;

	for (i = 0; i < o->nkeys; i++)
		free(o->keys[i]);
	free(o->keys);
	o->keys = NULL;
	o->nkeys = 0;
}

static void
fvalue_clear(struct fvalue *v)
{
	free(v->buf);
	v->buf = NULL;
	if (v->ref != NULL) {
		operand_clear(v->ref);
		free(v->ref);
		v->ref = NULL;
	}
}

static void
fnode_free(struct fnode *n)
{
	size_t	 i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		fnode_free(n->kids[i]);
	free(n->kids);
	for (i = 0; i < n->nvals; i++)
		fvalue_clear(&n->vals[i]);
	free(n->vals);
	operand_clear(&n->opd);
	free(n);
}

static struct fnode *
fnode_new(int kind)
{
	struct fnode	*n = xcalloc(1, sizeof *n);

	n->kind = kind;
	return (n);
}

static void
fnode_add(struct fnode *n, struct fnode *kid)
{
	n->kids = xrealloc(n->kids, (n->nkids + 1) * sizeof *n->kids);
	n->kids[n->nkids++] = kid;
}

/*
 * The parser: recursive descent over the text, one byte at a time.
 * Nesting (parentheses and !) is bounded by FILTER_MAX_DEPTH, so the
 * recursion is too. Errors name the 1-based byte column where the
 * parser stopped.
 */
struct fparse {
	const char	*text;
	const char	*p;
	int		 terms;
	int		 depth;
	enum err	 code;
	const char	*prefix;	/* "" or "sort: " */
	int		 rule;		/* a rule: @ references may be */
	int		 refs;		/* FILTER_REF_*: which of them */
	struct error	*err;
};

static int	fp_or(struct fparse *, struct fnode **);
static int	fp_ref(struct fparse *, struct foperand *);
static int	fvalue_rank(const struct fvalue *);

static int
fp_fail(struct fparse *fp, const char *at, const char *fmt, ...)
{
	va_list	 ap;
	char	 why[128];

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	return (error_set(fp->err, fp->code, "%sat %d: %s", fp->prefix,
	    (int)(at - fp->text) + 1, why));
}

static void
fp_ws(struct fparse *fp)
{
	while (*fp->p == ' ' || *fp->p == '\t' || *fp->p == '\n' ||
	    *fp->p == '\r')
		fp->p++;
}

/* The length of the name at p: letters, digits, _ and (dash) -. */
static size_t
fp_name(const char *p, int dash)
{
	size_t	 n = 0;

	while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
	    (p[n] >= '0' && p[n] <= '9') || p[n] == '_' ||
	    (dash && p[n] == '-'))
		n++;
	return (n);
}

static int
fp_word(const char *p, size_t n, const char *word)
{
	return (strlen(word) == n && memcmp(p, word, n) == 0);
}

/*
 * A quoted string, single or double, with JSON's escapes and \': it is
 * rewritten as a JSON string and decoded by the JSON parser, so the
 * rules are JSON's (valid UTF-8, no raw control characters, surrogate
 * pairs as one). U+0000 is refused: it could not be compared alike in
 * memory and in SQLite.
 */
static int
fp_string(struct fparse *fp, struct fvalue *v)
{
	const char	*start = fp->p, *s;
	char		 q = *start;
	char		*buf;
	size_t		 len = 0;
	json_object	*o;
	int		 rc;

	buf = xmalloc(2 * strlen(start) + 3);
	buf[len++] = '"';
	for (s = start + 1; *s != q; s++) {
		if (*s == '\0') {
			free(buf);
			return (fp_fail(fp, start, "unterminated string"));
		}
		if (*s == '\\' && s[1] == '\'') {
			buf[len++] = *++s;
			continue;
		}
		if (*s == '\\' && s[1] != '\0') {
			buf[len++] = *s++;
			buf[len++] = *s;
			continue;
		}
		if (*s == '"')
			buf[len++] = '\\';
		buf[len++] = *s;
	}
	buf[len++] = '"';
	rc = jsonutil_parse_depth(buf, len, 0, &o);
	free(buf);
	if (rc == -1)
		return (fp_fail(fp, start, "invalid string (JSON escapes, "
		    "UTF-8, no control characters)"));
	if ((size_t)json_object_get_string_len(o) !=
	    strlen(json_object_get_string(o))) {
		json_object_put(o);
		return (fp_fail(fp, start, "a string may not hold U+0000"));
	}
	v->type = J_STRING;
	v->str = v->buf = xstrdup(json_object_get_string(o));
	json_object_put(o);
	fp->p = s + 1;
	return (0);
}

/* A number in JSON's syntax, kept as a double. */
static int
fp_number(struct fparse *fp, struct fvalue *v)
{
	const char	*start = fp->p;
	size_t		 n;
	json_object	*o;

	n = strspn(start, "0123456789+-.eE");
	if (jsonutil_parse_depth(start, n, 0, &o) == -1 ||
	    (!json_object_is_type(o, json_type_int) &&
	    !json_object_is_type(o, json_type_double))) {
		json_object_put(o);
		return (fp_fail(fp, start, "invalid number"));
	}
	v->type = J_NUMBER;
	v->num = json_object_get_double(o);
	json_object_put(o);
	fp->p += n;
	return (0);
}

static int
fp_value(struct fparse *fp, struct fvalue *v)
{
	const char	*p = fp->p;
	size_t		 n;

	memset(v, 0, sizeof *v);
	if (*p == '@') {
		v->ref = xcalloc(1, sizeof *v->ref);
		if (fp_ref(fp, v->ref) == -1) {
			fvalue_clear(v);
			return (-1);
		}
		if (v->ref->kind == OPD_EVTYPE) {
			fvalue_clear(v);
			return (fp_fail(fp, p, "@event.type goes on the left "
			    "of a comparison"));
		}
		return (0);
	}
	if (*p == '"' || *p == '\'')
		return (fp_string(fp, v));
	if (*p == '-' || (*p >= '0' && *p <= '9'))
		return (fp_number(fp, v));
	n = fp_name(p, 0);
	if (fp_word(p, n, "null"))
		v->type = J_NULL;
	else if (fp_word(p, n, "true") || fp_word(p, n, "false")) {
		v->type = J_BOOL;
		v->num = *p == 't';
	} else
		return (fp_fail(fp, p, "expected a value"));
	fp->p += n;
	return (0);
}

/* One key of a path, after its . or [. */
static int
fp_key(struct fparse *fp, int bracket, char **key)
{
	const char	*at;
	struct fvalue	 v;
	size_t		 n;

	if (!bracket) {
		if ((n = fp_name(fp->p, 1)) == 0)
			return (fp_fail(fp, fp->p, "expected a name"));
		*key = xstrndup(fp->p, n);
		fp->p += n;
		return (0);
	}
	fp_ws(fp);
	at = fp->p;
	if (*at != '"' && *at != '\'')
		return (fp_fail(fp, at, "expected a quoted key"));
	if (fp_string(fp, &v) == -1)
		return (-1);
	/* SQLite 3.40 cannot name such a key in a JSON path. */
	if (strchr(v.buf, '"') != NULL) {
		free(v.buf);
		return (fp_fail(fp, at, "a key may not hold a double quote"));
	}
	fp_ws(fp);
	if (*fp->p != ']') {
		free(v.buf);
		return (fp_fail(fp, fp->p, "expected ]"));
	}
	fp->p++;
	*key = v.buf;
	return (0);
}

/* A path after what, one or more keys: .name or ["key"]. */
static int
fp_path(struct fparse *fp, struct foperand *o, const char *what)
{
	char	*key = NULL;
	int	 bracket;

	if (*fp->p != '.' && *fp->p != '[')
		return (fp_fail(fp, fp->p, "expected . or [ after %s", what));
	while (*fp->p == '.' || *fp->p == '[') {
		if (o->nkeys == MAX_JSON_DEPTH) {
			operand_clear(o);
			return (fp_fail(fp, fp->p, "a path has at most %d keys",
			    MAX_JSON_DEPTH));
		}
		bracket = *fp->p++ == '[';
		if (fp_key(fp, bracket, &key) == -1) {
			operand_clear(o);
			return (-1);
		}
		o->keys = xrealloc(o->keys, (o->nkeys + 1) * sizeof *o->keys);
		o->keys[o->nkeys++] = key;
	}
	return (0);
}

/* @token.<path>, @body.<path> or @event.type, where the rule may read
 * it. */
static int
fp_ref(struct fparse *fp, struct foperand *o)
{
	static const struct {
		const char	*name;
		int		 kind;
		int		 flag;
		const char	*label;
		const char	*where;
	} refs[] = {
		{ "@token", OPD_TOKEN, FILTER_REF_TOKEN, "@token", "rules" },
		{ "@body", OPD_BODY, FILTER_REF_BODY, "@body",
		    "the create, update and publish rules" },
		{ "@event", OPD_EVTYPE, FILTER_REF_EVENT, "@event.type",
		    "the publish and subscribe rules" },
	};
	const char	*at = fp->p;
	size_t		 i, n = fp_name(at + 1, 0) + 1;

	for (i = 0; i < sizeof refs / sizeof refs[0]; i++)
		if (fp_word(at, n, refs[i].name))
			break;
	if (i == sizeof refs / sizeof refs[0])
		return (fp_fail(fp, at, fp->rule ? "expected @token, @body or "
		    "@event.type" : "@ references are only allowed in rules"));
	if (!fp->rule)
		return (fp_fail(fp, at, "%s is only allowed in rules",
		    refs[i].label));
	if ((fp->refs & refs[i].flag) == 0)
		return (fp_fail(fp, at, "%s is only allowed in %s",
		    refs[i].label, refs[i].where));
	fp->p += n;
	o->kind = refs[i].kind;
	if (o->kind != OPD_EVTYPE)
		return (fp_path(fp, o, refs[i].name));
	if (strncmp(fp->p, ".type", 5) != 0 || fp_name(fp->p + 5, 1) != 0)
		return (fp_fail(fp, fp->p, "expected .type after @event"));
	fp->p += 5;
	return (0);
}

/* id, created_at, updated_at or fields followed by a path; in a rule
 * also a reference. */
static int
fp_operand(struct fparse *fp, struct foperand *o)
{
	const char	*p = fp->p;
	size_t		 n = fp_name(p, 0);

	memset(o, 0, sizeof *o);
	if (*p == '@')
		return (fp_ref(fp, o));
	if (fp_word(p, n, "id"))
		o->kind = OPD_ID;
	else if (fp_word(p, n, "created_at"))
		o->kind = OPD_CREATED;
	else if (fp_word(p, n, "updated_at"))
		o->kind = OPD_UPDATED;
	else if (fp_word(p, n, "fields"))
		o->kind = OPD_FIELD;
	else
		return (fp_fail(fp, p, "expected a field"));
	fp->p += n;
	if (o->kind != OPD_FIELD)
		return (0);
	return (fp_path(fp, o, "fields"));
}

static int
fp_operator(struct fparse *fp, enum fop *op)
{
	size_t	 i, n;

	for (i = 0; i < sizeof fops / sizeof fops[0]; i++) {
		n = strlen(fops[i].text);
		if (strncmp(fp->p, fops[i].text, n) == 0) {
			*op = fops[i].op;
			fp->p += n;
			return (0);
		}
	}
	if (fp_word(fp->p, fp_name(fp->p, 0), "in")) {
		*op = OP_IN;
		fp->p += 2;
		return (0);
	}
	return (fp_fail(fp, fp->p, "expected an operator"));
}

/* The values of in (v1, v2, ...). */
static int
fp_list(struct fparse *fp, struct fnode *n)
{
	fp_ws(fp);
	if (*fp->p != '(')
		return (fp_fail(fp, fp->p, "expected ("));
	fp->p++;
	for (;;) {
		fp_ws(fp);
		if (n->nvals == FILTER_MAX_IN)
			return (fp_fail(fp, fp->p, "in takes at most %d values",
			    FILTER_MAX_IN));
		n->vals = xrealloc(n->vals, (n->nvals + 1) * sizeof *n->vals);
		if (fp_value(fp, &n->vals[n->nvals]) == -1)
			return (-1);
		n->nvals++;
		fp_ws(fp);
		if (*fp->p == ')') {
			fp->p++;
			return (0);
		}
		if (*fp->p != ',')
			return (fp_fail(fp, fp->p, "expected , or )"));
		fp->p++;
	}
}

/* operand OP value, or operand in (values): one term. */
static int
fp_compare(struct fparse *fp, struct fnode **out)
{
	struct fnode	*n;
	const char	*at = fp->p;
	char		*c;

	if (++fp->terms > FILTER_MAX_TERMS)
		return (fp_fail(fp, at, "a filter has at most %d terms",
		    FILTER_MAX_TERMS));
	/* true and false stand alone: what a bound rule may come to. */
	if (fp_word(at, fp_name(at, 0), "true") ||
	    fp_word(at, fp_name(at, 0), "false")) {
		*out = fnode_new(*at == 't' ? FN_TRUE : FN_FALSE);
		fp->p += fp_name(at, 0);
		return (0);
	}
	n = fnode_new(FN_CMP);
	if (fp_operand(fp, &n->opd) == -1)
		goto fail;
	fp_ws(fp);
	if (fp_operator(fp, &n->op) == -1)
		goto fail;
	if (n->op == OP_IN) {
		if (fp_list(fp, n) == -1)
			goto fail;
		*out = n;
		return (0);
	}
	fp_ws(fp);
	at = fp->p;
	n->vals = xcalloc(1, sizeof *n->vals);
	if (fp_value(fp, &n->vals[0]) == -1)
		goto fail;
	n->nvals = 1;
	if ((n->op == OP_CONTAINS || n->op == OP_NCONTAINS) &&
	    n->vals[0].ref == NULL) {
		if (n->vals[0].type != J_STRING) {
			fp_fail(fp, at, "expected a string");
			goto fail;
		}
		for (c = n->vals[0].buf; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c += 'a' - 'A';
	}
	*out = n;
	return (0);
fail:
	fnode_free(n);
	return (-1);
}

/* ! term, ( expression ), or a comparison. */
static int
fp_unary(struct fparse *fp, struct fnode **out)
{
	struct fnode	*kid;
	int		 paren;

	fp_ws(fp);
	if (*fp->p != '!' && *fp->p != '(')
		return (fp_compare(fp, out));
	if (++fp->depth > FILTER_MAX_DEPTH)
		return (fp_fail(fp, fp->p, "nested more than %d deep",
		    FILTER_MAX_DEPTH));
	paren = *fp->p++ == '(';
	if ((paren ? fp_or(fp, &kid) : fp_unary(fp, &kid)) == -1)
		return (-1);
	fp->depth--;
	if (paren) {
		fp_ws(fp);
		if (*fp->p != ')') {
			fnode_free(kid);
			return (fp_fail(fp, fp->p, "expected )"));
		}
		fp->p++;
		*out = kid;
		return (0);
	}
	*out = fnode_new(FN_NOT);
	fnode_add(*out, kid);
	return (0);
}

/* Terms joined by && (kind FN_AND) or by || (FN_OR); && binds tighter. */
static int
fp_chain(struct fparse *fp, int kind, struct fnode **out)
{
	const char	*sep = kind == FN_OR ? "||" : "&&";
	struct fnode	*n = NULL, *kid;

	for (;;) {
		if ((kind == FN_OR ? fp_chain(fp, FN_AND, &kid) :
		    fp_unary(fp, &kid)) == -1) {
			fnode_free(n);
			return (-1);
		}
		fp_ws(fp);
		if (n == NULL && strncmp(fp->p, sep, 2) != 0) {
			*out = kid;
			return (0);
		}
		if (n == NULL)
			n = fnode_new(kind);
		fnode_add(n, kid);
		if (strncmp(fp->p, sep, 2) != 0)
			break;
		fp->p += 2;
	}
	*out = n;
	return (0);
}

static int
fp_or(struct fparse *fp, struct fnode **out)
{
	return (fp_chain(fp, FN_OR, out));
}

static void
fp_init(struct fparse *fp, const char *text, enum err code,
    const char *prefix, struct error *err)
{
	memset(fp, 0, sizeof *fp);
	fp->text = fp->p = text;
	fp->code = code;
	fp->prefix = prefix;
	fp->err = err;
}

/* Parses a filter expression (README "Querying"); on error returns -1
 * with ERR_INVALID_FILTER and "at N: why" in err, N the 1-based byte
 * column. *out is freed with filter_free. */
int
filter_parse(const char *text, struct filter **out, struct error *err)
{
	return (filter_rule_parse(text, -1, "", out, err));
}

/* A rule (refs FILTER_REF_* it may read) or, with refs -1, a plain
 * filter; errors as filter_parse's after prefix. */
int
filter_rule_parse(const char *text, int refs, const char *prefix,
    struct filter **out, struct error *err)
{
	struct fparse	 fp;
	struct fnode	*root;

	*out = NULL;
	fp_init(&fp, text, ERR_INVALID_FILTER, prefix, err);
	fp.rule = refs != -1;
	fp.refs = refs == -1 ? 0 : refs;
	if (strlen(text) > FILTER_MAX_LEN)
		return (fp_fail(&fp, text + FILTER_MAX_LEN, "a filter is at "
		    "most %d bytes", FILTER_MAX_LEN));
	if (fp_or(&fp, &root) == -1)
		return (-1);
	fp_ws(&fp);
	if (*fp.p != '\0') {
		fnode_free(root);
		return (fp_fail(&fp, fp.p, *fp.p == ')' ? "unmatched )" :
		    "expected &&, || or the end"));
	}
	*out = xcalloc(1, sizeof **out);
	(*out)->root = root;
	return (0);
}

void
filter_free(struct filter *f)
{
	if (f == NULL)
		return;
	fnode_free(f->root);
	free(f);
}

/*
 * In memory: a record's values as struct fvalue, pointing into the
 * record (valid while it is).
 */
static void
fvalue_of(json_object *o, struct fvalue *v)
{
	memset(v, 0, sizeof *v);
	switch (json_object_get_type(o)) {
	case json_type_null:
		v->type = J_NULL;
		break;
	case json_type_boolean:
		v->type = J_BOOL;
		v->num = json_object_get_boolean(o);
		break;
	case json_type_int:
	case json_type_double:
		v->type = J_NUMBER;
		v->num = json_object_get_double(o);
		break;
	case json_type_string:
		v->type = J_STRING;
		v->str = json_object_get_string(o);
		break;
	case json_type_array:
		v->type = J_ARRAY;
		v->obj = o;
		break;
	case json_type_object:
		v->type = J_OBJECT;
		v->obj = o;
		break;
	}
}

/* The JSON value the operand names in the record: NULL if missing or
 * null (and for the columns, which are strings, NULL with *col set). */
static json_object *
operand_json(const struct foperand *o, const struct filter_rec *r,
    const char **col)
{
	json_object	*cur = r->fields;
	size_t		 i;

	*col = NULL;
	switch (o->kind) {
	case OPD_ID:
		*col = r->id;
		return (NULL);
	case OPD_CREATED:
		*col = r->created_at;
		return (NULL);
	case OPD_UPDATED:
		*col = r->updated_at;
		return (NULL);
	case OPD_EVTYPE:
		*col = r->event_type;
		return (NULL);
	case OPD_TOKEN:
	case OPD_BODY:
		return (NULL);	/* unbound: read as missing */
	}
	for (i = 0; i < o->nkeys; i++)
		if (!json_object_is_type(cur, json_type_object) ||
		    !json_object_object_get_ex(cur, o->keys[i], &cur))
			return (NULL);
	return (cur);
}

static void
operand_value(const struct foperand *o, const struct filter_rec *r,
    struct fvalue *v)
{
	const char	*col;
	json_object	*j = operand_json(o, r, &col);

	fvalue_of(j, v);
	if (col != NULL) {
		v->type = J_STRING;
		v->str = col;
	}
}

static int
num_cmp(double a, double b)
{
	return (a < b ? -1 : a > b);
}

/* Two values of one type in the order (arrays and objects by text). */
static int
fvalue_cmp_same(const struct fvalue *a, const struct fvalue *b)
{
	switch (a->type) {
	case J_BOOL:
	case J_NUMBER:
		return (num_cmp(a->num, b->num));
	case J_STRING:
		return (strcmp(a->str, b->str));
	case J_ARRAY:
	case J_OBJECT:
		if (a->obj == b->obj)	/* one text buffer */
			return (0);
		return (strcmp(jsonutil_string(a->obj),
		    jsonutil_string(b->obj)));
	default:
		return (0);
	}
}

static int
fvalue_eq(const struct fvalue *a, const struct fvalue *b)
{
	return (a->type == b->type && fvalue_cmp_same(a, b) == 0);
}

/* Whether h holds the needle (in lower case), ASCII letters folded. */
static int
contains_fold(const char *h, const char *needle)
{
	char	 small[256], *buf, *c;
	size_t	 n;
	int	 found;

	if (*needle == '\0')
		return (1);
	n = strlen(h);
	buf = n < sizeof small ? small : xmalloc(n + 1);
	memcpy(buf, h, n + 1);
	for (c = buf; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c += 'a' - 'A';
	found = strstr(buf, needle) != NULL;
	if (buf != small)
		free(buf);
	return (found);
}

static int
has_element(const struct fvalue *v, const struct fvalue *lit)
{
	struct fvalue	 e;
	size_t		 i, n;

	if (v->type != J_ARRAY)
		return (0);
	n = json_object_array_length(v->obj);
	for (i = 0; i < n; i++) {
		fvalue_of(json_object_array_get_idx(v->obj, i), &e);
		if (fvalue_eq(&e, lit))
			return (1);
	}
	return (0);
}

/* Whether the operand's value v passes the comparison n. */
static int
compare_value(const struct fnode *n, const struct fvalue *vp)
{
	struct fvalue	 v = *vp;
	const struct fvalue *lit = &n->vals[0];
	size_t		 i;
	int		 c;

	for (i = 0; i < n->nvals; i++)
		if (n->vals[i].ref != NULL)	/* unbound: missing */
			return (0);
	switch (n->op) {
	case OP_EQ:
		return (fvalue_eq(&v, lit));
	case OP_NE:
		return (!fvalue_eq(&v, lit));
	case OP_CONTAINS:
	case OP_NCONTAINS:
		c = v.type == J_STRING && contains_fold(v.str, lit->str);
		return (n->op == OP_CONTAINS ? c : !c);
	case OP_HAS:
		return (has_element(&v, lit));
	case OP_IN:
		for (i = 0; i < n->nvals; i++)
			if (fvalue_eq(&v, &n->vals[i]))
				return (1);
		return (0);
	default:
		break;
	}
	if (v.type != lit->type)
		return (0);
	c = fvalue_cmp_same(&v, lit);
	switch (n->op) {
	case OP_LT:
		return (c < 0);
	case OP_LE:
		return (c <= 0);
	case OP_GT:
		return (c > 0);
	default:
		return (c >= 0);
	}
}

/* A comparison of a reference that reads nothing (an unbound one, or
 * @event.type of what is no custom event) is false. */
static int
compare_match(const struct fnode *n, const struct filter_rec *r)
{
	struct fvalue	 v;

	if (n->opd.kind == OPD_TOKEN || n->opd.kind == OPD_BODY ||
	    (n->opd.kind == OPD_EVTYPE && r->event_type == NULL))
		return (0);
	operand_value(&n->opd, r, &v);
	return (compare_value(n, &v));
}

static int
node_match(const struct fnode *n, const struct filter_rec *r)
{
	size_t	 i;

	switch (n->kind) {
	case FN_AND:
		for (i = 0; i < n->nkids; i++)
			if (!node_match(n->kids[i], r))
				return (0);
		return (1);
	case FN_OR:
		for (i = 0; i < n->nkids; i++)
			if (node_match(n->kids[i], r))
				return (1);
		return (0);
	case FN_NOT:
		return (!node_match(n->kids[0], r));
	case FN_TRUE:
		return (1);
	case FN_FALSE:
		return (0);
	default:
		return (compare_match(n, r));
	}
}

/* 1 if the record matches, else 0. r->fields NULL is {}. */
int
filter_match(const struct filter *f, const struct filter_rec *r)
{
	return (node_match(f->root, r));
}

static const char *
rec_string(json_object *rec, const char *key)
{
	json_object	*v;

	if (!json_object_object_get_ex(rec, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	return (json_object_get_string(v));
}

/* Points r into a record as the API shows it (an event's data): 0, or
 * -1 if it is not one. r is valid while rec is. */
int
filter_rec_json(json_object *rec, struct filter_rec *r)
{
	memset(r, 0, sizeof *r);
	if (!json_object_is_type(rec, json_type_object) ||
	    (r->id = rec_string(rec, "id")) == NULL ||
	    (r->created_at = rec_string(rec, "created_at")) == NULL ||
	    (r->updated_at = rec_string(rec, "updated_at")) == NULL ||
	    !json_object_object_get_ex(rec, "fields", &r->fields) ||
	    !json_object_is_type(r->fields, json_type_object))
		return (-1);
	return (0);
}

/*
 * SQL. Statements are built in a struct sqlbuf: the text, with a ? for
 * each value, and the values in order. Only text of ours goes into the
 * statement, never input: a path whose keys are plain names (letters,
 * digits, _ and -) is written in (so that an index on the same
 * expression can serve it), any other path is bound too.
 */
struct sqlbuf {
	char			*s;
	size_t			 len;
	size_t			 size;
	struct filter_bind	*binds;
	size_t			 nbinds;
	int			 pg;	/* PostgreSQL's dialect */
};

static void __attribute__((format(printf, 2, 3)))
sb_add(struct sqlbuf *sb, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (sb->size - sb->len <= (size_t)n) {
		while (sb->size - sb->len <= (size_t)n)
			sb->size = sb->size == 0 ? 256 : sb->size * 2;
		sb->s = xrealloc(sb->s, sb->size);
	}
	va_start(ap, fmt);
	vsnprintf(sb->s + sb->len, sb->size - sb->len, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

static struct filter_bind *
sb_bind(struct sqlbuf *sb, enum filter_bind_type type)
{
	struct filter_bind	*b;

	sb->binds = xrealloc(sb->binds, (sb->nbinds + 1) * sizeof *sb->binds);
	b = &sb->binds[sb->nbinds++];
	memset(b, 0, sizeof *b);
	b->type = type;
	sb_add(sb, "?");
	return (b);
}

static void
sb_text(struct sqlbuf *sb, const char *s)
{
	sb_bind(sb, FILTER_BIND_TEXT)->text = xstrdup(s);
}

static void
sb_double(struct sqlbuf *sb, double d)
{
	sb_bind(sb, FILTER_BIND_DOUBLE)->d = d;
}

static void
sb_int(struct sqlbuf *sb, int64_t i)
{
	sb_bind(sb, FILTER_BIND_INT)->i = i;
}

static void
sb_finish(struct sqlbuf *sb, struct filter_sql *out)
{
	if (sb->s == NULL)
		sb_add(sb, "%s", "");
	out->sql = sb->s;
	out->binds = sb->binds;
	out->nbinds = sb->nbinds;
}

static void
sb_init(struct sqlbuf sb[2])
{
	memset(sb, 0, 2 * sizeof *sb);
	sb[1].pg = 1;
}

/* The two dialects' texts of one statement into out: their values are
 * the same, in the same order, so either text takes the one list. */
static void
sb_finish2(struct sqlbuf sb[2], struct filter_sql *out)
{
	size_t	 i;

	assert(sb[0].nbinds == sb[1].nbinds);
	for (i = 0; i < sb[1].nbinds; i++) {
		assert(sb[0].binds[i].type == sb[1].binds[i].type);
		free(sb[1].binds[i].text);
	}
	free(sb[1].binds);
	if (sb[1].s == NULL)
		sb_add(&sb[1], "%s", "");
	sb_finish(&sb[0], out);
	out->sql_pg = sb[1].s;
}

/* Frees what out holds (not out itself) and clears it. */
void
filter_sql_free(struct filter_sql *q)
{
	size_t	 i;

	for (i = 0; i < q->nbinds; i++)
		free(q->binds[i].text);
	free(q->binds);
	free(q->sql);
	free(q->sql_pg);
	memset(q, 0, sizeof *q);
}

/*
 * The two dialects: how an operand reads in SQL.
 *
 * An operand reads as its rank in the one total order (0 missing or
 * null, 1 false, 2 true, 3 numbers, 4 strings, 5 arrays and objects)
 * and its value within the rank (a number as a double, a string's text,
 * an array's or object's JSON text, 0 for the first three ranks, so that
 * neither is ever NULL). Comparisons, in (...), ORDER BY and the
 * cursor's row values all read an operand through exactly these
 * expressions, so that an index on (collection_id, rank, value) of a
 * plain path serves them all (filter_index_exprs). Every term is
 * written so that it is false or true, never NULL, so NOT is exact.
 *
 * SQLite's value is one expression of mixed type. PostgreSQL's column
 * has one type: there the value is two, the number (float8, 0 unless a
 * number) and the text (COLLATE "C", so that strings compare by their
 * bytes; '' unless a string, array or object), and a comparison with a
 * literal reads the one of the literal's type. PostgreSQL reads
 * records.fields as json, not jsonb, so that an array or object reads
 * back as the very text the table holds; a key on an array is missing
 * (->, never #>, which would take "0" as an index); a number too large
 * for a double is an infinity, as in SQLite. Its json refuses to read
 * a string that holds U+0000: such a string is cut there first, which
 * is where SQLite's json_extract ends it.
 *
 * Both texts are built by the same calls and bind the same values in the
 * same order (sb_finish2 checks it): where SQLite binds a path that is
 * not written in (sq_path) n times, PostgreSQL's text binds it n times
 * too, reading it once in a subquery.
 */
enum { SQ_COLUMN, SQ_FIELD, SQ_ELEMENT };

struct sqlopd {
	int		 kind;
	const char	*column;	/* SQ_COLUMN */
	char		*path;		/* SQ_FIELD: $."a"."b" */
	int		 plain;		/* the path is written in */
	const struct foperand *opd;	/* SQ_FIELD */
};

/* What PostgreSQL reads of an operand (pg_opd). */
enum { PG_RANK, PG_NUM, PG_STR, PG_ARRAY, PG_ISARRAY };

/* The record's JSON, as PostgreSQL reads it: strings cut at an escaped
 * U+0000 (after an even run of backslashes) up to their closing quote
 * (\x22). The literals hold neither ? nor a double quote, which the
 * driver would have to tell from placeholders and names. */
#define PG_DOC	"(CASE WHEN strpos(fields, '\\u0000') > 0 THEN " \
	"regexp_replace(fields, '((^|[^\\\\])(\\\\\\\\)*)\\\\u0000" \
	"([^\\x22\\\\]|\\\\.)*\\x22', '\\1' || chr(34), 'g') ELSE fields " \
	"END)::json"

/* A JSON number's text as a double, without the error PostgreSQL gives
 * where strtod overflows or underflows: the infinities, and 0. */
#define PG_F8	"CASE WHEN %1$s >= 1.797693134862315807937e308 THEN " \
	"'Infinity'::float8 WHEN %1$s <= -1.797693134862315807937e308 " \
	"THEN '-Infinity'::float8 WHEN abs(%1$s) <= " \
	"2.4703282292062327209e-324 THEN 0::float8 ELSE %1$s::float8 END"

static void
sqlopd_init(struct sqlopd *q, const struct foperand *o)
{
	static const char *const columns[] = { "id", "created_at",
	    "updated_at" };
	struct sqlbuf	 sb;
	json_object	*k;
	size_t		 i;

	memset(q, 0, sizeof *q);
	if (o->kind != OPD_FIELD) {
		q->kind = SQ_COLUMN;
		q->column = columns[o->kind];
		return;
	}
	q->kind = SQ_FIELD;
	q->plain = 1;
	q->opd = o;
	memset(&sb, 0, sizeof sb);
	sb_add(&sb, "$");
	for (i = 0; i < o->nkeys; i++) {
		/* The key as json-c writes it in the stored text, which is
		 * what SQLite 3.40 compares a path's key with. */
		k = json_object_new_string(o->keys[i]);
		sb_add(&sb, ".%s", jsonutil_string(k));
		json_object_put(k);
		if (fp_name(o->keys[i], 1) != strlen(o->keys[i]) ||
		    o->keys[i][0] == '\0')
			q->plain = 0;
	}
	q->path = sb.s;
}

static void
sq_path(struct sqlbuf *sb, const struct sqlopd *q)
{
	if (q->plain)
		sb_add(sb, "'%s'", q->path);
	else
		sb_text(sb, q->path);
}

/* What PostgreSQL reads (PG_*) of the JSON value j, an expression. */
static void
pg_expr(struct sqlbuf *sb, const char *j, int what)
{
	char	*num;

	switch (what) {
	case PG_RANK:
		sb_add(sb, "CASE json_typeof(%1$s) WHEN 'boolean' THEN CASE "
		    "WHEN (%1$s)::text = 'true' THEN 2 ELSE 1 END "
		    "WHEN 'number' THEN 3 WHEN 'string' THEN 4 "
		    "WHEN 'array' THEN 5 WHEN 'object' THEN 5 ELSE 0 END", j);
		break;
	case PG_NUM:
		xasprintf(&num, "(%s)::text::numeric", j);
		sb_add(sb, "CASE WHEN json_typeof(%s) = 'number' THEN ", j);
		sb_add(sb, PG_F8, num);
		sb_add(sb, " ELSE 0::float8 END");
		free(num);
		break;
	case PG_STR:
		sb_add(sb, "(CASE json_typeof(%1$s) WHEN 'string' THEN "
		    "(%1$s) #>> '{}' WHEN 'array' THEN (%1$s)::text "
		    "WHEN 'object' THEN (%1$s)::text ELSE '' END) COLLATE \"C\"",
		    j);
		break;
	case PG_ARRAY:	/* json_array_elements refuses anything else */
		sb_add(sb, "CASE WHEN json_typeof(%1$s) = 'array' THEN %1$s "
		    "END", j);
		break;
	default:
		sb_add(sb, "coalesce(json_typeof(%s) = 'array', FALSE)", j);
	}
}

/* What PostgreSQL reads of the operand, where SQLite's text binds its
 * path (if it is not written in) uses times. */
static void
pg_opd(struct sqlbuf *sb, const struct sqlopd *q, int what, int uses)
{
	struct sqlbuf	 j;
	size_t		 i;
	int		 k;

	if (q->kind == SQ_COLUMN) {
		if (what == PG_RANK)
			sb_add(sb, "4");
		else if (what == PG_NUM)
			sb_add(sb, "0::float8");
		else
			sb_add(sb, "%s COLLATE \"C\"", q->column);
		return;
	}
	if (q->kind == SQ_ELEMENT) {
		pg_expr(sb, "je.v", what);
		return;
	}
	memset(&j, 0, sizeof j);
	sb_add(&j, "(%s", PG_DOC);
	for (i = 0; i < q->opd->nkeys; i++) {
		if (q->plain)
			sb_add(&j, " -> '%s'", q->opd->keys[i]);
		else
			sb_add(&j, " -> p.k[%zu]", i + 1);
	}
	sb_add(&j, ")");
	if (q->plain) {
		pg_expr(sb, j.s, what);
		free(j.s);
		return;
	}
	/* The path's keys from its bound text, $."k1"."k2" (a key holds no
	 * double quote), read once; its other uses are bound and unread. */
	sb_add(sb, "(SELECT ");
	pg_expr(sb, "s.j", what);
	sb_add(sb, " FROM (SELECT %s AS j FROM (SELECT ARRAY(SELECT "
	    "json_array_elements_text(('[' || replace(substr(", j.s);
	sb_text(sb, q->path);
	sb_add(sb, "::text, 3), chr(34) || '.' || chr(34), chr(34) || ',' "
	    "|| chr(34)) || ']')::json)) AS k");
	for (k = 1; k < uses; k++) {
		sb_add(sb, ", ");
		sb_text(sb, q->path);
		sb_add(sb, "::text AS u%d", k);
	}
	sb_add(sb, ") AS p) AS s)");
	free(j.s);
}

/* A field's JSON type as json_type() names it, NULL when missing; or
 * its value as json_extract() gives it. */
static void
sq_json(struct sqlbuf *sb, const struct sqlopd *q, int type)
{
	if (q->kind == SQ_ELEMENT) {
		sb_add(sb, "%s", type ? "je.type" : "je.value");
		return;
	}
	sb_add(sb, "%s(fields, ", type ? "json_type" : "json_extract");
	sq_path(sb, q);
	sb_add(sb, ")");
}

/* The operand's rank (a column is a string). */
static void
sq_rank(struct sqlbuf *sb, const struct sqlopd *q)
{
	if (sb->pg) {
		pg_opd(sb, q, PG_RANK, 1);
		return;
	}
	if (q->kind == SQ_COLUMN) {
		sb_add(sb, "4");
		return;
	}
	sb_add(sb, "CASE ");
	sq_json(sb, q, 1);
	sb_add(sb, " WHEN 'false' THEN 1 WHEN 'true' THEN 2"
	    " WHEN 'integer' THEN 3 WHEN 'real' THEN 3 WHEN 'text' THEN 4"
	    " WHEN 'array' THEN 5 WHEN 'object' THEN 5 ELSE 0 END");
}

/* Which of PostgreSQL's values to read (sq_value). */
enum { V_NUM, V_STR, V_BOTH };

/*
 * The operand's value within its rank, then dir ("", " DESC"). On
 * PostgreSQL: the number (V_NUM), the text (V_STR) or both (V_BOTH,
 * each followed by dir; a column has only its text).
 */
static void
sq_value(struct sqlbuf *sb, const struct sqlopd *q, int v, const char *dir)
{
	if (sb->pg) {
		if (v == V_BOTH && q->kind == SQ_COLUMN)
			v = V_STR;
		if (v != V_STR) {
			pg_opd(sb, q, PG_NUM, v == V_BOTH ? 2 : 4);
			sb_add(sb, "%s%s", dir, v == V_BOTH ? ", " : "");
		}
		if (v != V_NUM) {
			pg_opd(sb, q, PG_STR, v == V_BOTH ? 2 : 4);
			sb_add(sb, "%s", dir);
		}
		return;
	}
	if (q->kind == SQ_COLUMN) {
		sb_add(sb, "%s%s", q->column, dir);
		return;
	}
	sb_add(sb, "CASE WHEN ");
	sq_json(sb, q, 1);
	sb_add(sb, " IN ('integer', 'real') THEN CAST(");
	sq_json(sb, q, 0);
	sb_add(sb, " AS REAL) WHEN ");
	sq_json(sb, q, 1);
	sb_add(sb, " IN ('text', 'array', 'object') THEN ");
	sq_json(sb, q, 0);
	sb_add(sb, " ELSE 0 END%s", dir);
}

/* Which value a literal of rank r is compared with. */
static int
v_of_rank(int r)
{
	return (r <= 3 ? V_NUM : V_STR);
}

static const char *
sq_false(const struct sqlbuf *sb)
{
	return (sb->pg ? "FALSE" : "0");
}

static const char *
sq_true(const struct sqlbuf *sb)
{
	return (sb->pg ? "TRUE" : "1");
}

/* "rank = r AND ", which a column (a string) has only for r = 4. */
static void
sq_rank_is(struct sqlbuf *sb, const struct sqlopd *q, int r)
{
	if (q->kind == SQ_COLUMN) {
		if (r != 4)
			sb_add(sb, "%s AND ", sq_false(sb));
		return;
	}
	sq_rank(sb, q);
	sb_add(sb, " = %d AND ", r);
}

/* On PostgreSQL, before a plain field's text is compared: its number,
 * which is 0 then, so that an index on (rank, number, text) is sought
 * by the text too. */
static void
sq_text_seek(struct sqlbuf *sb, const struct sqlopd *q, int v)
{
	if (!sb->pg || v != V_STR || q->kind != SQ_FIELD || !q->plain)
		return;
	pg_opd(sb, q, PG_NUM, 0);
	sb_add(sb, " = 0::float8 AND ");
}

static void
sq_literal(struct sqlbuf *sb, const struct fvalue *v)
{
	switch (v->type) {
	case J_BOOL:
		sb_int(sb, (int64_t)v->num);
		if (sb->pg)
			sb_add(sb, "::int8");
		break;
	case J_NUMBER:
		sb_double(sb, v->num);
		if (sb->pg)
			sb_add(sb, "::float8");
		break;
	default:
		sb_text(sb, v->str);
		if (sb->pg)
			sb_add(sb, "::text");
	}
}

/* The operand compared with the literal by op (=, <, <=, >, >=): of the
 * literal's type, and so ordered. */
static void
sq_compare(struct sqlbuf *sb, const struct sqlopd *q, const char *op,
    const struct fvalue *v)
{
	int	 strict = strcmp(op, "<") == 0 || strcmp(op, ">") == 0;

	sb_add(sb, "(");
	switch (v->type) {
	case J_NULL:
		/* Nothing is below or above null but null itself. */
		sq_rank_is(sb, q, 0);
		sb_add(sb, "%s)", strict ? sq_false(sb) : sq_true(sb));
		return;
	case J_BOOL:
		/* Within the booleans the rank is the order: false, true. */
		if (q->kind == SQ_COLUMN) {
			sb_add(sb, "%s)", sq_false(sb));
			return;
		}
		sq_rank(sb, q);
		sb_add(sb, " IN (1, 2) AND ");
		sq_rank(sb, q);
		sb_add(sb, " %s %d)", op, fvalue_rank(v));
		return;
	default:
		sq_rank_is(sb, q, fvalue_rank(v));
		sq_text_seek(sb, q, v_of_rank(fvalue_rank(v)));
		sq_value(sb, q, v_of_rank(fvalue_rank(v)), "");
		sb_add(sb, " %s ", op);
		sq_literal(sb, v);
		sb_add(sb, ")");
	}
}

/* operand in (values): one test per type the values have. */
static void
sq_in(struct sqlbuf *sb, const struct sqlopd *q, const struct fvalue *vals,
    size_t n)
{
	enum jtype	 t;
	size_t		 i, k;
	const char	*sep = "(";

	for (t = J_NULL; t <= J_STRING; t++) {
		for (i = 0, k = 0; i < n; i++)
			k += vals[i].type == t;
		if (k == 0)
			continue;
		if (t == J_NULL || t == J_BOOL) {
			for (i = 0; i < n; i++) {
				if (vals[i].type != t)
					continue;
				sb_add(sb, "%s", sep);
				sep = " OR ";
				sq_compare(sb, q, "=", &vals[i]);
			}
			continue;
		}
		sb_add(sb, "%s", sep);
		sep = " OR ";
		sb_add(sb, "(");
		sq_rank_is(sb, q, t == J_NUMBER ? 3 : 4);
		sq_text_seek(sb, q, t == J_NUMBER ? V_NUM : V_STR);
		sq_value(sb, q, t == J_NUMBER ? V_NUM : V_STR, "");
		sb_add(sb, " IN (");
		for (i = 0, k = 0; i < n; i++) {
			if (vals[i].type != t)
				continue;
			if (k++ > 0)
				sb_add(sb, ", ");
			sq_literal(sb, &vals[i]);
		}
		sb_add(sb, "))");
	}
	sb_add(sb, ")");
}

static void
sq_contains(struct sqlbuf *sb, const struct sqlopd *q, const char *needle)
{
	/* lower() folds ASCII letters only, as contains_fold does (the
	 * needle is in lower case already); PostgreSQL's would fold more. */
	sb_add(sb, "(");
	sq_rank_is(sb, q, 4);
	if (sb->pg) {
		sb_add(sb, "strpos(translate(");
		sq_value(sb, q, V_STR, "");
		sb_add(sb, ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
		    "'abcdefghijklmnopqrstuvwxyz'), ");
		sb_text(sb, needle);
		sb_add(sb, "::text) > 0)");
		return;
	}
	sb_add(sb, "instr(lower(");
	sq_value(sb, q, V_STR, "");
	sb_add(sb, "), ");
	sb_text(sb, needle);
	sb_add(sb, ") > 0)");
}

static void
sq_has(struct sqlbuf *sb, const struct sqlopd *q, const struct fvalue *v)
{
	struct sqlopd	 e = { .kind = SQ_ELEMENT };

	if (q->kind == SQ_COLUMN) {	/* a string is no array */
		sb_add(sb, "%s", sq_false(sb));
		return;
	}
	if (sb->pg) {
		sb_add(sb, "(");
		pg_opd(sb, q, PG_ISARRAY, 1);
		sb_add(sb, " AND EXISTS (SELECT 1 FROM json_array_elements(");
		pg_opd(sb, q, PG_ARRAY, 1);
		sb_add(sb, ") AS je(v) WHERE ");
		sq_compare(sb, &e, "=", v);
		sb_add(sb, "))");
		return;
	}
	sb_add(sb, "(coalesce(");
	sq_json(sb, q, 1);
	sb_add(sb, " = 'array', 0) AND EXISTS (SELECT 1 FROM json_each("
	    "fields, ");
	sq_path(sb, q);
	sb_add(sb, ") AS je WHERE ");
	sq_compare(sb, &e, "=", v);
	sb_add(sb, "))");
}

static void
sq_term(struct sqlbuf *sb, const struct fnode *n)
{
	static const char *const ops[] = { [OP_EQ] = "=", [OP_NE] = "=",
	    [OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">", [OP_GE] = ">=" };
	struct sqlopd	 q;
	size_t		 i;

	/* A record is no custom event, and an unbound reference reads
	 * nothing: such a comparison is false, as in memory. */
	for (i = 0; i < n->nvals && n->vals[i].ref == NULL; i++)
		;
	if (n->opd.kind > OPD_FIELD || i < n->nvals) {
		sb_add(sb, "%s", sq_false(sb));
		return;
	}
	sqlopd_init(&q, &n->opd);
	if (n->op == OP_NE || n->op == OP_NCONTAINS)
		sb_add(sb, "NOT ");
	switch (n->op) {
	case OP_CONTAINS:
	case OP_NCONTAINS:
		sq_contains(sb, &q, n->vals[0].str);
		break;
	case OP_HAS:
		sq_has(sb, &q, &n->vals[0]);
		break;
	case OP_IN:
		sq_in(sb, &q, n->vals, n->nvals);
		break;
	default:
		sq_compare(sb, &q, ops[n->op], &n->vals[0]);
	}
	free(q.path);
}

static void
sq_node(struct sqlbuf *sb, const struct fnode *n)
{
	size_t	 i;

	switch (n->kind) {
	case FN_AND:
	case FN_OR:
		sb_add(sb, "(");
		for (i = 0; i < n->nkids; i++) {
			if (i > 0)
				sb_add(sb, "%s", n->kind == FN_AND ? " AND " :
				    " OR ");
			sq_node(sb, n->kids[i]);
		}
		sb_add(sb, ")");
		break;
	case FN_NOT:
		sb_add(sb, "NOT ");
		sq_node(sb, n->kids[0]);
		break;
	case FN_TRUE:
		sb_add(sb, "%s", sq_true(sb));
		break;
	case FN_FALSE:
		sb_add(sb, "%s", sq_false(sb));
		break;
	default:
		sq_term(sb, n);
	}
}

/* The filter as a WHERE condition over the records table's columns (id,
 * fields, created_at, updated_at, unqualified), in both dialects, with
 * its values to bind in out (freed by filter_sql_free). It selects
 * exactly the records filter_match accepts. */
void
filter_sql(const struct filter *f, struct filter_sql *out)
{
	struct sqlbuf	 sb[2];
	int		 i;

	sb_init(sb);
	for (i = 0; i < 2; i++)
		sq_node(&sb[i], f->root);
	sb_finish2(sb, out);
}

/* Binds q's values (copies) to stmt from parameter first on; returns the
 * next parameter's index. A binding that fails fails the first step. */
int
filter_sql_bind(const struct filter_sql *q, struct dbq *stmt, int first)
{
	const struct filter_bind *b;
	size_t			 i;

	for (i = 0; i < q->nbinds; i++) {
		b = &q->binds[i];
		switch (b->type) {
		case FILTER_BIND_TEXT:
			dbq_bind_text(stmt, first++, b->text, DB_COPY);
			break;
		case FILTER_BIND_DOUBLE:
			dbq_bind_double(stmt, first++, b->d);
			break;
		case FILTER_BIND_INT:
			dbq_bind_int64(stmt, first++, b->i);
			break;
		}
	}
	return (first);
}

/*
 * Sort keys. One total order over every value: rank (null 0, false 1,
 * true 2, numbers 3, strings 4, arrays and objects 5), then the value
 * within its rank.
 */
static int
fvalue_rank(const struct fvalue *v)
{
	switch (v->type) {
	case J_NULL:
		return (0);
	case J_BOOL:
		return (1 + (int)v->num);
	case J_NUMBER:
		return (3);
	case J_STRING:
		return (4);
	default:
		return (5);
	}
}

static int
fvalue_order(const struct fvalue *a, const struct fvalue *b)
{
	int	 ra = fvalue_rank(a), rb = fvalue_rank(b);

	if (ra != rb)
		return (ra < rb ? -1 : 1);
	return (ra < 3 ? 0 : fvalue_cmp_same(a, b));
}

/* Operands separated by commas, each with - in front for descending if
 * signs is set, at most max, into keys; *n counts them, also on error
 * (the caller clears them). -1 with ERR_INVALID_PARAMETER and "<prefix>
 * at N: why" in err. */
static int
fp_keys(const char *text, const char *prefix, int signs,
    struct sort_key *keys, size_t max, size_t *n, struct error *err)
{
	struct fparse	 fp;

	fp_init(&fp, text, ERR_INVALID_PARAMETER, prefix, err);
	if (strlen(text) > FILTER_MAX_LEN)
		return (fp_fail(&fp, text + FILTER_MAX_LEN, "at most %d bytes",
		    FILTER_MAX_LEN));
	for (;;) {
		fp_ws(&fp);
		if (*n == max)
			return (fp_fail(&fp, fp.p, "at most %zu keys", max));
		if (signs && (keys[*n].desc = *fp.p == '-'))
			fp.p++;
		if (fp_operand(&fp, &keys[*n].opd) == -1)
			return (-1);
		(*n)++;
		fp_ws(&fp);
		if (*fp.p == '\0')
			return (0);
		if (*fp.p != ',')
			return (fp_fail(&fp, fp.p, "expected , or the end"));
		fp.p++;
	}
}

static void
keys_clear(struct sort_key *keys, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		operand_clear(&keys[i].opd);
}

/* Parses sort keys: operands separated by commas, each with - in front
 * for descending, at most FILTER_MAX_SORT_KEYS; id is the last key, in
 * the direction of the one before it, unless it is one already. -1 with
 * ERR_INVALID_PARAMETER and "sort: at N: why" in err. */
int
filter_sort_parse(const char *text, struct filter_sort **out,
    struct error *err)
{
	struct filter_sort	*s = xcalloc(1, sizeof *s);
	size_t			 i;
	int			 has_id = 0;

	*out = NULL;
	if (fp_keys(text, "sort: ", 1, s->keys, FILTER_MAX_SORT_KEYS,
	    &s->nkeys, err) == -1) {
		filter_sort_free(s);
		return (-1);
	}
	for (i = 0; i < s->nkeys; i++)
		has_id |= s->keys[i].opd.kind == OPD_ID;
	/* id goes the way of the key before it: one direction throughout
	 * lets an index on that key serve the whole order. */
	if (!has_id) {
		s->keys[s->nkeys].opd.kind = OPD_ID;
		s->keys[s->nkeys].desc = s->keys[s->nkeys - 1].desc;
		s->nkeys++;
	}
	*out = s;
	return (0);
}

void
filter_sort_free(struct filter_sort *s)
{
	if (s == NULL)
		return;
	keys_clear(s->keys, s->nkeys);
	free(s);
}

/* <0, 0 or >0 as a comes before, with or after b in the sort. */
int
filter_sort_cmp(const struct filter_sort *s, const struct filter_rec *a,
    const struct filter_rec *b)
{
	struct fvalue	 va, vb;
	size_t		 i;
	int		 c;

	for (i = 0; i < s->nkeys; i++) {
		operand_value(&s->keys[i].opd, a, &va);
		operand_value(&s->keys[i].opd, b, &vb);
		if ((c = fvalue_order(&va, &vb)) != 0)
			return (s->keys[i].desc ? -c : c);
	}
	return (0);
}

/* The sort as an ORDER BY list; without the first key's rank if
 * rank_fixed (a WHERE holds it to one value). */
static void
sq_order(struct sqlbuf *sb, const struct filter_sort *s, int rank_fixed)
{
	struct sqlopd	 q;
	const char	*dir;
	size_t		 i;

	for (i = 0; i < s->nkeys; i++) {
		dir = s->keys[i].desc ? " DESC" : "";
		sqlopd_init(&q, &s->keys[i].opd);
		if (i > 0)
			sb_add(sb, ", ");
		if (q.kind == SQ_FIELD && !(i == 0 && rank_fixed)) {
			sq_rank(sb, &q);
			sb_add(sb, "%s, ", dir);
		}
		sq_value(sb, &q, V_BOTH, dir);
		free(q.path);
	}
}

/* The sort as an ORDER BY list (without ORDER BY) over the records
 * table's columns, in the same order as filter_sort_cmp. */
void
filter_sort_sql(const struct filter_sort *s, struct filter_sql *out)
{
	struct sqlbuf	 sb[2];
	int		 i;

	sb_init(sb);
	for (i = 0; i < 2; i++)
		sq_order(&sb[i], s, 0);
	sb_finish2(sb, out);
}

/* The record's values of the sort keys, as a JSON array (a cursor to
 * continue after it); the caller puts it. */
json_object *
filter_sort_key(const struct filter_sort *s, const struct filter_rec *r)
{
	json_object	*a = json_object_new_array(), *v;
	const char	*col;
	size_t		 i;

	for (i = 0; i < s->nkeys; i++) {
		v = operand_json(&s->keys[i].opd, r, &col);
		json_object_array_add(a, col != NULL ?
		    json_object_new_string(col) : json_object_get(v));
	}
	return (a);
}

/* A key's value v as sq_value gives it, bound, after its rank (for a
 * field) if rank is set. On PostgreSQL, with rank, the number and the
 * text (V_BOTH); without, the one of its rank (v_of_rank). */
static void
sq_key_value(struct sqlbuf *sb, const struct sqlopd *q,
    const struct fvalue *v, int rank)
{
	const char	*num = sb->pg ? "::float8" : "";
	const char	*str = sb->pg ? "::text" : "";
	int		 r = fvalue_rank(v);

	if (q->kind == SQ_COLUMN) {
		sb_text(sb, v->str);
		sb_add(sb, "%s", str);
		return;
	}
	if (rank) {
		sb_int(sb, r);
		sb_add(sb, "%s, ", sb->pg ? "::int8" : "");
	}
	if (r < 3)
		sb_int(sb, 0);
	else if (r == 3)
		sb_double(sb, v->num);
	if (r <= 3) {
		sb_add(sb, "%s%s", num, sb->pg && rank ? ", ''" : "");
		return;
	}
	if (sb->pg && rank)
		sb_add(sb, "0::float8, ");
	if (r == 4)
		sb_text(sb, v->str);
	else
		sb_text(sb, jsonutil_string(v->obj));
	sb_add(sb, "%s", str);
}

/* Keys from..to of the sort as a row value: their expressions, or (vals)
 * the values of key, bound. */
static void
sq_row(struct sqlbuf *sb, const struct filter_sort *s, size_t from,
    size_t to, json_object *key, int vals)
{
	struct sqlopd	 q;
	struct fvalue	 v;
	size_t		 i;

	sb_add(sb, "(");
	for (i = from; i < to; i++) {
		if (i > from)
			sb_add(sb, ", ");
		sqlopd_init(&q, &s->keys[i].opd);
		fvalue_of(json_object_array_get_idx(key, i), &v);
		if (vals)
			sq_key_value(sb, &q, &v, 1);
		else {
			if (q.kind == SQ_FIELD) {
				sq_rank(sb, &q);
				sb_add(sb, ", ");
			}
			sq_value(sb, &q, V_BOTH, "");
		}
		free(q.path);
	}
	sb_add(sb, ")");
}

/* (keys from..to) op (their values in key). */
static void
sq_row_cmp(struct sqlbuf *sb, const struct filter_sort *s, size_t from,
    size_t to, json_object *key, const char *op)
{
	sq_row(sb, s, from, to, key, 0);
	sb_add(sb, " %s ", op);
	sq_row(sb, s, from, to, key, 1);
}

/* filter_sort_after_sql's condition, for a key that fits the sort. */
static void
sq_after(struct sqlbuf *sb, const struct filter_sort *s, json_object *key)
{
	size_t		 i, run;
	const char	*op;

	for (run = 1; run < s->nkeys; run++)
		if (s->keys[run].desc != s->keys[0].desc)
			break;
	op = s->keys[0].desc ? "<" : ">";
	sb_add(sb, "(");
	if (run == s->nkeys) {
		sq_row_cmp(sb, s, 0, run, key, op);
		sb_add(sb, ")");
		return;
	}
	sq_row_cmp(sb, s, 0, run, key, s->keys[0].desc ? "<=" : ">=");
	sb_add(sb, " AND ");
	for (i = 0; i < s->nkeys; i++) {
		op = s->keys[i].desc ? "<" : ">";
		sb_add(sb, "(");
		sq_row_cmp(sb, s, i, i + 1, key, op);
		if (i + 1 == s->nkeys)
			break;
		sb_add(sb, " OR (");
		sq_row_cmp(sb, s, i, i + 1, key, "=");
		sb_add(sb, " AND ");
	}
	for (i = 0; i + 1 < s->nkeys; i++)
		sb_add(sb, "))");
	sb_add(sb, "))");
}

/* The records strictly after the key (an array from filter_sort_key) in
 * the sort, as a WHERE condition like filter_sql's. -1 with
 * ERR_INVALID_PARAMETER if key does not fit the sort.
 *
 * Keys of one direction compare as one row value, (rank, value, ..., id)
 * > (?, ?, ..., ?), which an index on those expressions serves as a
 * range. Where directions change, the keys before the change bound the
 * range (>= or <=) and the exact condition follows: k1 after v1, or k1
 * at v1 and (k2 after v2, or ...). */
int
filter_sort_after_sql(const struct filter_sort *s, json_object *key,
    struct filter_sql *out, struct error *err)
{
	struct sqlbuf	 sb[2];
	struct fvalue	 v;
	size_t		 i;

	memset(out, 0, sizeof *out);
	if (!json_object_is_type(key, json_type_array) ||
	    json_object_array_length(key) != s->nkeys)
		return (error_set(err, ERR_INVALID_PARAMETER,
		    "the cursor does not fit the sort"));
	for (i = 0; i < s->nkeys; i++) {
		fvalue_of(json_object_array_get_idx(key, i), &v);
		if (s->keys[i].opd.kind != OPD_FIELD && v.type != J_STRING)
			return (error_set(err, ERR_INVALID_PARAMETER,
			    "the cursor does not fit the sort"));
	}
	sb_init(sb);
	for (i = 0; i < 2; i++)
		sq_after(&sb[i], s, key);
	sb_finish2(sb, out);
	return (0);
}

/*
 * Fan-out indexes. A filter whose top level is an equality term on a
 * field (the term alone, or one of the terms of a top-level &&) can hold
 * only for a record whose value at that path equals the term's value:
 * both are written as keys, equal strings exactly when fvalue_eq holds.
 */
struct filter_path {
	struct foperand	 opd;
	char		*text;		/* the keys as JSON strings, joined */
};

/* The value as a key: its type, then its text (numbers as doubles). */
static char *
fvalue_key(const struct fvalue *v)
{
	static const char types[] = { [J_NULL] = 'n', [J_BOOL] = 'b',
	    [J_NUMBER] = 'd', [J_STRING] = 's', [J_ARRAY] = 'a',
	    [J_OBJECT] = 'o' };
	char	*k;

	switch (v->type) {
	case J_BOOL:
		xasprintf(&k, "b%d", v->num != 0);
		break;
	case J_NUMBER:
		xasprintf(&k, "d%.17g", v->num == 0 ? 0.0 : v->num);
		break;
	case J_STRING:
		xasprintf(&k, "s%s", v->str);
		break;
	default:	/* a literal is never an array or an object */
		xasprintf(&k, "%c", types[v->type]);
	}
	return (k);
}

static int
is_field_eq(const struct fnode *n)
{
	return (n->kind == FN_CMP && n->op == OP_EQ && n->opd.kind == OPD_FIELD &&
	    n->vals[0].ref == NULL);
}

/* f's top-level equality term on a field: its path (freed with
 * filter_path_free) and its value's key (freed by the caller); -1 if f
 * has none. */
int
filter_index_term(const struct filter *f, struct filter_path **path,
    char **key)
{
	const struct fnode	*n = f->root, *t = is_field_eq(n) ? n : NULL;
	struct filter_path	*fp;
	struct sqlbuf		 sb;
	json_object		*k;
	size_t			 i;

	for (i = 0; n->kind == FN_AND && t == NULL && i < n->nkids; i++)
		if (is_field_eq(n->kids[i]))
			t = n->kids[i];
	if (t == NULL)
		return (-1);
	fp = xcalloc(1, sizeof *fp);
	fp->opd.kind = OPD_FIELD;
	fp->opd.nkeys = t->opd.nkeys;
	fp->opd.keys = xcalloc(t->opd.nkeys, sizeof *fp->opd.keys);
	memset(&sb, 0, sizeof sb);
	for (i = 0; i < t->opd.nkeys; i++) {
		fp->opd.keys[i] = xstrdup(t->opd.keys[i]);
		k = json_object_new_string(t->opd.keys[i]);
		sb_add(&sb, "%s%s", i > 0 ? "." : "", jsonutil_string(k));
		json_object_put(k);
	}
	fp->text = sb.s;
	*path = fp;
	*key = fvalue_key(&t->vals[0]);
	return (0);
}

/* The path's text: two paths are the same if their texts are. */
const char *
filter_path_text(const struct filter_path *fp)
{
	return (fp->text);
}

/* The record's value at the path as a key (freed by the caller). */
char *
filter_path_key(const struct filter_path *fp, const struct filter_rec *r)
{
	struct fvalue	 v;

	operand_value(&fp->opd, r, &v);
	return (fvalue_key(&v));
}

void
filter_path_free(struct filter_path *fp)
{
	if (fp == NULL)
		return;
	operand_clear(&fp->opd);
	free(fp->text);
	free(fp);
}

/*
 * What follows the key, cut in two bands for an index: SQLite seeks an
 * index by one expression at a time, never by a row value of them, and
 * takes an order from an index only if no WHERE holds one of its
 * expressions to a value. When the first key is a field, bands[0] holds
 * the records of the key's rank whose value is at or after the key's
 * (its order without that rank), bands[1] those of a rank after it, and
 * every record of the first comes before every record of the second;
 * each where is to be ANDed with filter_sort_after_sql's condition.
 * Returns 2, or 0 when the first key is a column (its row value serves).
 * key is one that filter_sort_after_sql took; the caller frees the bands'
 * where and order with filter_sql_free.
 */
int
filter_sort_after_bands(const struct filter_sort *s, json_object *key,
    struct filter_band bands[2])
{
	struct sqlbuf	 sb[2];
	struct sqlopd	 q;
	struct fvalue	 v;
	int		 i, r, desc = s->keys[0].desc;

	memset(bands, 0, 2 * sizeof *bands);
	sqlopd_init(&q, &s->keys[0].opd);
	if (q.kind != SQ_FIELD)
		return (0);
	fvalue_of(json_object_array_get_idx(key, 0), &v);
	r = fvalue_rank(&v);
	sb_init(sb);
	for (i = 0; i < 2; i++) {
		sq_rank(&sb[i], &q);
		sb_add(&sb[i], " = %d AND ", r);
		sq_text_seek(&sb[i], &q, v_of_rank(r));
		sq_value(&sb[i], &q, v_of_rank(r), "");
		sb_add(&sb[i], " %s ", desc ? "<=" : ">=");
		sq_key_value(&sb[i], &q, &v, 0);
	}
	sb_finish2(sb, &bands[0].where);
	sb_init(sb);
	for (i = 0; i < 2; i++)
		sq_order(&sb[i], s, 1);
	sb_finish2(sb, &bands[0].order);
	sb_init(sb);
	for (i = 0; i < 2; i++) {
		sq_rank(&sb[i], &q);
		sb_add(&sb[i], " %s %d", desc ? "<" : ">", r);
	}
	sb_finish2(sb, &bands[1].where);
	filter_sort_sql(s, &bands[1].order);
	free(q.path);
	return (2);
}

/*
 * Indexes. An index serves a field that every query writes in, the same
 * way: a plain path, fields.a.b with names of letters, digits, _ and -.
 */

/* The index's expressions for field in a dialect (pg), in *out. */
static int
index_exprs(const char *field, int pg, char **out, struct error *err)
{
	struct fparse	 fp;
	struct foperand	 o;
	struct sqlopd	 q;
	struct sqlbuf	 sb;

	*out = NULL;
	memset(&o, 0, sizeof o);
	fp_init(&fp, field, ERR_INVALID_PARAMETER, "", err);
	if (strlen(field) > MAX_INDEX_FIELD_LEN || strncmp(field, "fields.",
	    7) != 0 || strchr(field, '[') != NULL ||
	    fp_operand(&fp, &o) == -1 || *fp.p != '\0') {
		operand_clear(&o);
		return (error_set(err, ERR_INVALID_PARAMETER, "an index is on "
		    "fields.NAME[.NAME...], at most %d bytes, each name of "
		    "letters, digits, _ and -", MAX_INDEX_FIELD_LEN));
	}
	sqlopd_init(&q, &o);
	memset(&sb, 0, sizeof sb);
	sb.pg = pg;
	/* PostgreSQL wants an expression in parentheses. */
	sb_add(&sb, "%s", pg ? "(" : "");
	sq_rank(&sb, &q);
	sb_add(&sb, "%s, %s", pg ? ")" : "", pg ? "(" : "");
	sq_value(&sb, &q, V_NUM, "");
	if (pg) {
		sb_add(&sb, "), (");
		sq_value(&sb, &q, V_STR, "");
		/* Every sort ends with id: the index holds it too, so
		 * that it gives the whole order. */
		sb_add(&sb, "), (id COLLATE \"C\")");
	}
	assert(q.plain && sb.nbinds == 0);
	free(q.path);
	operand_clear(&o);
	*out = sb.s;
	return (0);
}

/* The index's expressions for field, "rank, value" as sq_rank and
 * sq_value write them, in *out (the caller frees it); -1 with
 * ERR_INVALID_PARAMETER if field is not fields.NAME[.NAME...]. */
int
filter_index_exprs(const char *field, char **out, struct error *err)
{
	return (index_exprs(field, 0, out, err));
}

/* The same for PostgreSQL: rank, number, text and id. */
int
filter_index_exprs_pg(const char *field, char **out, struct error *err)
{
	return (index_exprs(field, 1, out, err));
}

/*
 * Projections: fields=id,fields.title keeps those parts of a record, in
 * its shape ({"id":...,"fields":{"title":...}}), and always its id.
 */
struct filter_proj {
	struct sort_key	 keys[FILTER_MAX_TERMS];	/* no desc */
	size_t		 n;
};

/* Parses a projection: operands separated by commas, at most
 * FILTER_MAX_TERMS. -1 with ERR_INVALID_PARAMETER and "fields: at N:
 * why" in err. *out is freed with filter_proj_free. */
int
filter_proj_parse(const char *text, struct filter_proj **out,
    struct error *err)
{
	struct filter_proj	*p = xcalloc(1, sizeof *p);

	*out = NULL;
	if (fp_keys(text, "fields: ", 0, p->keys, FILTER_MAX_TERMS, &p->n,
	    err) == -1) {
		filter_proj_free(p);
		return (-1);
	}
	*out = p;
	return (0);
}

void
filter_proj_free(struct filter_proj *p)
{
	if (p == NULL)
		return;
	keys_clear(p->keys, p->n);
	free(p);
}

/* Copies what the path names in src (an object) into dst, making the
 * objects on its way; a part copied whole already stays as it is. */
static void
proj_path(json_object *dst, json_object *src, char **keys, size_t n)
{
	json_object	*s, *d;

	if (!json_object_object_get_ex(src, keys[0], &s))
		return;
	if (n == 1) {
		json_object_object_add(dst, keys[0], json_object_get(s));
		return;
	}
	if (!json_object_is_type(s, json_type_object))
		return;
	if (!json_object_object_get_ex(dst, keys[0], &d)) {
		d = json_object_new_object();
		json_object_object_add(dst, keys[0], d);
	} else if (d == s)
		return;		/* it holds all of s */
	proj_path(d, s, keys + 1, n - 1);
}

/* The parts of rec (a record as the API shows it) that p lists, and its
 * id, as a new object (the caller puts it). */
json_object *
filter_proj_apply(const struct filter_proj *p, json_object *rec)
{
	static const char *const columns[] = { "id", "created_at",
	    "updated_at" };
	json_object	*o = json_object_new_object(), *v, *f, *src;
	size_t		 i;

	if (json_object_object_get_ex(rec, "id", &v))
		json_object_object_add(o, "id", json_object_get(v));
	for (i = 0; i < p->n; i++) {
		if (p->keys[i].opd.kind != OPD_FIELD) {
			if (json_object_object_get_ex(rec,
			    columns[p->keys[i].opd.kind], &v))
				json_object_object_add(o,
				    columns[p->keys[i].opd.kind],
				    json_object_get(v));
			continue;
		}
		if (!json_object_object_get_ex(rec, "fields", &src))
			continue;
		if (!json_object_object_get_ex(o, "fields", &f)) {
			f = json_object_new_object();
			json_object_object_add(o, "fields", f);
		}
		proj_path(f, src, p->keys[i].opd.keys, p->keys[i].opd.nkeys);
	}
	return (o);
}

/* Whether the operand is the plain path field ("fields.a.b"). */
static int
operand_is(const struct foperand *o, const char *field)
{
	size_t	 i, n;

	if (o->kind != OPD_FIELD || strncmp(field, "fields", 6) != 0)
		return (0);
	field += 6;
	for (i = 0; i < o->nkeys; i++) {
		n = strlen(o->keys[i]);
		if (*field != '.' || strncmp(field + 1, o->keys[i], n) != 0 ||
		    fp_name(o->keys[i], 1) != n)
			return (0);
		field += n + 1;
	}
	return (*field == '\0');
}

static int
cmp_narrows(const struct fnode *n, const char *field)
{
	size_t	 i;

	if (n->kind != FN_CMP)
		return (0);
	for (i = 0; i < n->nvals; i++)
		if (n->vals[i].ref != NULL)
			return (0);
	return (((n->op <= OP_GE && n->op != OP_NE) || n->op == OP_IN) &&
	    operand_is(&n->opd, field));
}

/* Whether an index on field serves the filter: a comparison on it by =,
 * in, <, <=, > or >= that every match passes (the filter, or a term of
 * its top &&). */
int
filter_narrows(const struct filter *f, const char *field)
{
	size_t	 i;

	if (f->root->kind != FN_AND)
		return (cmp_narrows(f->root, field));
	for (i = 0; i < f->root->nkids; i++)
		if (cmp_narrows(f->root->kids[i], field))
			return (1);
	return (0);
}

/* Whether the sort's first key is field. */
int
filter_sort_leads(const struct filter_sort *s, const char *field)
{
	return (operand_is(&s->keys[0].opd, field));
}

/*
 * Rules: a filter that also reads @token, @body and @event.type is bound
 * to their values before it runs. A comparison that reads a reference
 * which is missing, null, a string holding U+0000 or a number of 2^53
 * or more (in magnitude) is false; so is one
 * of a record's value with a reference to an array or an object (a
 * literal is never one). A comparison of references only is decided
 * then and there, and the constants fold away, so that a bound rule is
 * a plain filter (only an @event.type left for filter_rec.event_type
 * remains).
 */

/* The JSON value the reference names in env: NULL if missing or null. */
static json_object *
ref_json(const struct foperand *o, const struct rule_env *env)
{
	json_object	*cur = o->kind == OPD_TOKEN ? env->claims : env->body;
	size_t		 i;

	for (i = 0; i < o->nkeys; i++)
		if (!json_object_is_type(cur, json_type_object) ||
		    !json_object_object_get_ex(cur, o->keys[i], &cur))
			return (NULL);
	return (cur);
}

/* The reference's value in v (pointing into env); -1 if it has none. */
static int
ref_value(const struct foperand *o, const struct rule_env *env,
    struct fvalue *v)
{
	json_object	*j;

	memset(v, 0, sizeof *v);
	if (o->kind == OPD_EVTYPE) {
		v->type = J_STRING;
		v->str = env->event_type;
		return (0);
	}
	if ((j = ref_json(o, env)) == NULL)
		return (-1);
	/* A string with a U+0000 cannot be compared exactly (a record's
	 * would end there): it counts as missing. */
	if (json_object_is_type(j, json_type_string) &&
	    (size_t)json_object_get_string_len(j) !=
	    strlen(json_object_get_string(j)))
		return (-1);
	fvalue_of(j, v);
	/* So is a number beyond 2^53: as a double it would equal its
	 * neighbours (a claim 9007199254740993 would be 9007199254740992,
	 * another user's id). */
	if (v->type == J_NUMBER && !(v->num > -9007199254740992.0 &&
	    v->num < 9007199254740992.0))
		return (-1);
	return (0);
}

static struct fnode *
fnode_const(struct fnode *n, int truth)
{
	fnode_free(n);
	return (fnode_new(truth ? FN_TRUE : FN_FALSE));
}

/* The comparison n bound: its references replaced by literals, or a
 * constant. */
static struct fnode *
bind_compare(struct fnode *n, const struct rule_env *env)
{
	struct fvalue	 v, *lit;
	char		*c;
	size_t		 i;
	int		 fixed;

	fixed = n->opd.kind == OPD_TOKEN || n->opd.kind == OPD_BODY ||
	    (n->opd.kind == OPD_EVTYPE && env->event_type != NULL);
	for (i = 0; i < n->nvals; i++) {
		lit = &n->vals[i];
		if (lit->ref == NULL)
			continue;
		if (ref_value(lit->ref, env, &v) == -1)
			return (fnode_const(n, 0));
		if (!fixed && (v.type == J_ARRAY || v.type == J_OBJECT))
			return (fnode_const(n, 0));
		if ((n->op == OP_CONTAINS || n->op == OP_NCONTAINS) &&
		    v.type != J_STRING)
			return (fnode_const(n, 0));
		fvalue_clear(lit);
		*lit = v;
		if (v.type == J_STRING) {
			lit->str = lit->buf = xstrdup(v.str);
			if (n->op == OP_CONTAINS || n->op == OP_NCONTAINS)
				for (c = lit->buf; *c != '\0'; c++)
					if (*c >= 'A' && *c <= 'Z')
						*c += 'a' - 'A';
		}
	}
	if (!fixed)
		return (n);
	if (ref_value(&n->opd, env, &v) == -1)
		return (fnode_const(n, 0));
	return (fnode_const(n, compare_value(n, &v)));
}

static struct fnode *
bind_node(struct fnode *n, const struct rule_env *env)
{
	struct fnode	*k;
	size_t		 i, j;
	int		 absorb;

	switch (n->kind) {
	case FN_CMP:
		return (bind_compare(n, env));
	case FN_NOT:
		n->kids[0] = k = bind_node(n->kids[0], env);
		if (k->kind == FN_TRUE || k->kind == FN_FALSE)
			return (fnode_const(n, k->kind == FN_FALSE));
		return (n);
	case FN_AND:
	case FN_OR:
		/* false absorbs an &&, true an ||; the other drops out. */
		absorb = n->kind == FN_AND ? FN_FALSE : FN_TRUE;
		for (i = 0, j = 0; i < n->nkids; i++) {
			k = bind_node(n->kids[i], env);
			if (k->kind == absorb) {
				n->kids[i] = k;
				return (fnode_const(n, absorb == FN_TRUE));
			}
			if (k->kind == FN_TRUE || k->kind == FN_FALSE) {
				n->kids[i] = NULL;
				fnode_free(k);
				continue;
			}
			n->kids[i] = NULL;
			n->kids[j++] = k;
		}
		n->nkids = j;
		if (j == 0)
			return (fnode_const(n, absorb == FN_FALSE));
		if (j == 1) {
			k = n->kids[0];
			n->nkids = 0;
			fnode_free(n);
			return (k);
		}
		return (n);
	default:
		return (n);
	}
}

/* Binds f's references to env (with env->event_type NULL, @event.type
 * stays for filter_match to read of each event). Returns 1 if f then
 * holds for everything, else 0. */
int
filter_bind(struct filter *f, const struct rule_env *env)
{
	f->root = bind_node(f->root, env);
	return (f->root->kind == FN_TRUE);
}

/* a && b; takes both, either may be NULL (the other is the result). */
struct filter *
filter_and(struct filter *a, struct filter *b)
{
	struct fnode	*n, *r[2];
	size_t		 i, k;

	if (a == NULL || b == NULL)
		return (a == NULL ? b : a);
	r[0] = a->root;
	r[1] = b->root;
	n = fnode_new(FN_AND);
	for (k = 0; k < 2; k++) {
		if (r[k]->kind != FN_AND) {
			fnode_add(n, r[k]);
			continue;
		}
		for (i = 0; i < r[k]->nkids; i++)
			fnode_add(n, r[k]->kids[i]);
		r[k]->nkids = 0;
		fnode_free(r[k]);
	}
	a->root = n;
	b->root = NULL;
	filter_free(b);
	return (a);
}

/*
 * Text: a filter written so that filter_parse (filter_rule_parse for a
 * rule) reads it back as the same tree. Values are written as JSON (the
 * shortest number that reads back, the infinities as 1e400), keys as
 * .name when they are names, else as ["key"], and parentheses only where
 * the tree needs them, so the text nests no deeper than any text that
 * gave the same tree.
 */
static void
tx_json(struct sqlbuf *sb, const char *fmt, json_object *o)
{
	sb_add(sb, fmt, jsonutil_string(o));
	json_object_put(o);
}

static void
tx_operand(struct sqlbuf *sb, const struct foperand *o)
{
	static const char *const names[] = { [OPD_ID] = "id",
	    [OPD_CREATED] = "created_at", [OPD_UPDATED] = "updated_at",
	    [OPD_FIELD] = "fields", [OPD_TOKEN] = "@token",
	    [OPD_BODY] = "@body", [OPD_EVTYPE] = "@event.type" };
	size_t	 i;

	sb_add(sb, "%s", names[o->kind]);
	for (i = 0; i < o->nkeys; i++) {
		if (o->keys[i][0] != '\0' &&
		    fp_name(o->keys[i], 1) == strlen(o->keys[i]))
			sb_add(sb, ".%s", o->keys[i]);
		else
			tx_json(sb, "[%s]", json_object_new_string(o->keys[i]));
	}
}

static void
tx_number(struct sqlbuf *sb, double d)
{
	char	 buf[32], best[32] = "";
	int	 prec;

	if (isinf(d)) {
		sb_add(sb, "%s", d < 0 ? "-1e400" : "1e400");
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, d);
		if (strtod(buf, NULL) == d && (best[0] == '\0' ||
		    strlen(buf) < strlen(best)))
			memcpy(best, buf, sizeof best);
	}
	sb_add(sb, "%s", best);
}

static void
tx_value(struct sqlbuf *sb, const struct fvalue *v)
{
	if (v->ref != NULL) {
		tx_operand(sb, v->ref);
		return;
	}
	switch (v->type) {
	case J_NULL:
		sb_add(sb, "null");
		break;
	case J_BOOL:
		sb_add(sb, "%s", v->num != 0 ? "true" : "false");
		break;
	case J_NUMBER:
		tx_number(sb, v->num);
		break;
	default:	/* a literal is never an array or an object */
		tx_json(sb, "%s", json_object_new_string(v->str));
	}
}

static void
tx_node(struct sqlbuf *sb, const struct fnode *n)
{
	const struct fnode	*k;
	size_t			 i;
	int			 paren;

	switch (n->kind) {
	case FN_TRUE:
	case FN_FALSE:
		sb_add(sb, "%s", n->kind == FN_TRUE ? "true" : "false");
		return;
	case FN_NOT:
		k = n->kids[0];
		paren = k->kind == FN_AND || k->kind == FN_OR;
		sb_add(sb, "!%s", paren ? "(" : "");
		tx_node(sb, k);
		sb_add(sb, "%s", paren ? ")" : "");
		return;
	case FN_AND:
	case FN_OR:
		for (i = 0; i < n->nkids; i++) {
			k = n->kids[i];
			paren = k->kind == FN_OR || (k->kind == FN_AND &&
			    n->kind == FN_AND);
			sb_add(sb, "%s%s", i == 0 ? "" : n->kind == FN_AND ?
			    " && " : " || ", paren ? "(" : "");
			tx_node(sb, k);
			sb_add(sb, "%s", paren ? ")" : "");
		}
		return;
	}
	tx_operand(sb, &n->opd);
	if (n->op == OP_IN) {
		sb_add(sb, " in (");
		for (i = 0; i < n->nvals; i++) {
			sb_add(sb, "%s", i == 0 ? "" : ", ");
			tx_value(sb, &n->vals[i]);
		}
		sb_add(sb, ")");
		return;
	}
	for (i = 0; fops[i].op != n->op; i++)
		;
	sb_add(sb, " %s ", fops[i].text);
	tx_value(sb, &n->vals[0]);
}

/* The filter's text in a canonical form (xmalloc'd) that filter_parse
 * reads back to the same filter: equal filters, equal texts. */
char *
filter_text(const struct filter *f)
{
	struct sqlbuf	 sb;

	memset(&sb, 0, sizeof sb);
	tx_node(&sb, f->root);
	return (sb.s);
}
