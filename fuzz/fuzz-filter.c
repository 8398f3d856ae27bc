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

/* libFuzzer target: the expression language (filter.c). The input is a
 * filter, then after a NUL byte a sort. Whatever parses runs both ways
 * on a few fixed records, in memory and as SQL in an SQLite database of
 * its own: the SQL must prepare and run, and select (a filter) or order
 * (a sort, and the records after each cursor, in one statement or in the
 * two bands an index seeks) exactly as memory does. A filter's fan-out
 * term (filter_index_term) must hold for every record it matches. Its
 * canonical text (filter_text) must read back to the same text and the
 * same matches. The filter read as a rule and bound to a fixed token,
 * body and event type must be a plain filter that passes all the same
 * checks. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"
#include "db.h"

static const char *const fixed[] = {
	"{\"s\":\"Hello World\",\"n\":5,\"f\":1.5,\"t\":true,\"z\":null,"
	"\"arr\":[1,\"x\",true,null],\"obj\":{\"a\":{\"b\":\"deep\"}},"
	"\"x y\":{\"k.1\":\"v\"},\"e\":\"\xc3\x89\",\"\":\"e\",\"a\":[{}]}",
	"{\"s\":\"hello\",\"n\":-0,\"t\":false,\"arr\":[],\"obj\":{\"a\":[]},"
	"\"big\":18446744073709551615,\"a\":{\"b\":\"c\"}}",
	"{}",
	"{\"s\":[\"x\"],\"n\":\"5\",\"t\":1,\"z\":{\"a\":null},\"f\":1e400,"
	"\"tab\\t\":\"\\u0001\"}",
};
#define NFIXED	(sizeof fixed / sizeof fixed[0])

/* What a rule's references read. */
static const char claims_text[] = "{\"sub\":\"x\",\"s\":\"Hello World\","
    "\"n\":5,\"arr\":[1,\"x\"],\"obj\":{\"a\":{\"b\":\"deep\"}},"
    "\"z\":null,\"t\":true}";
static const char body_text[] = "{\"s\":\"hello\",\"n\":1.5,\"a\":{\"b\":\"c\"}}";

static struct db	*db;
static json_object	*claims, *body;
static json_object	*fields[NFIXED];
static struct filter_rec recs[NFIXED];
static const char *const ids[NFIXED] = { "A", "B", "C", "D" };

static void
setup(void)
{
	struct dbq	*s;
	char		 err[256];
	size_t		 i;

	if (db != NULL)
		return;
	if (jsonutil_parse_value(claims_text, strlen(claims_text),
	    &claims) == -1 || jsonutil_parse_value(body_text,
	    strlen(body_text), &body) == -1)
		abort();
	if ((db = db_open(":memory:", 1000, 0, err, sizeof err)) == NULL ||
	    db_exec(db, "CREATE TABLE records (n INTEGER PRIMARY KEY,"
	    " id TEXT NOT NULL, fields TEXT NOT NULL, created_at TEXT NOT NULL,"
	    " updated_at TEXT NOT NULL)") != DB_OK ||
	    (s = db_prepare(db, "INSERT INTO records VALUES (?, ?, ?, ?, ?)"))
	    == NULL)
		abort();
	for (i = 0; i < NFIXED; i++) {
		if (jsonutil_parse_value(fixed[i], strlen(fixed[i]),
		    &fields[i]) == -1)
			abort();
		recs[i].id = ids[i];
		recs[i].created_at = i % 2 ? "2026-01-01" : "2026-01-02";
		recs[i].updated_at = "2026-02-01";
		recs[i].fields = fields[i];
		dbq_bind_int64(s, 1, (int64_t)i);
		dbq_bind_text(s, 2, recs[i].id, 0);
		dbq_bind_text(s, 3, jsonutil_string(fields[i]), DB_COPY);
		dbq_bind_text(s, 4, recs[i].created_at, 0);
		dbq_bind_text(s, 5, recs[i].updated_at, 0);
		if (dbq_step(s) != DB_DONE)
			abort();
		dbq_reset(s);
	}
	dbq_finalize(s);
}

/* The records SQL selects with the where parts (ANDed; NULL ones left
 * out) and order, as their indexes ("021"); the statement must prepare
 * and run. */
static void
run_parts(const struct filter_sql *const *where, size_t nwhere,
    const struct filter_sql *order, char out[NFIXED + 1])
{
	struct dbq	*s;
	char		*sql, *w, *t;
	size_t		 i, n = 0;
	int		 next = 1, rc;

	w = xstrdup("1");
	for (i = 0; i < nwhere; i++) {
		if (where[i] == NULL)
			continue;
		xasprintf(&t, "%s AND (%s)", w, where[i]->sql);
		free(w);
		w = t;
	}
	xasprintf(&sql, "SELECT n FROM records WHERE %s ORDER BY %s", w,
	    order != NULL ? order->sql : "n");
	free(w);
	if ((s = db_prepare(db, sql)) == NULL)
		abort();
	for (i = 0; i < nwhere; i++)
		if (where[i] != NULL &&
		    (next = filter_sql_bind(where[i], s, next)) == -1)
			abort();
	if (order != NULL && filter_sql_bind(order, s, next) == -1)
		abort();
	while ((rc = dbq_step(s)) == DB_ROW && n < NFIXED)
		out[n++] = (char)('0' + dbq_int64(s, 0));
	if (rc != DB_DONE)
		abort();
	out[n] = '\0';
	dbq_finalize(s);
	free(sql);
}

static void
run(const struct filter_sql *where, const struct filter_sql *order,
    char out[NFIXED + 1])
{
	run_parts(&where, 1, order, out);
}

/* A filter's fan-out term: every record it matches has the term's value
 * at the term's path. */
static void
check_index_term(const struct filter *f)
{
	struct filter_path *path;
	char		*key, *rk;
	size_t		 i;

	if (filter_index_term(f, &path, &key) == -1)
		return;
	for (i = 0; i < NFIXED; i++) {
		if (!filter_match(f, &recs[i]))
			continue;
		rk = filter_path_key(path, &recs[i]);
		if (strcmp(rk, key) != 0)
			abort();
		free(rk);
	}
	free(key);
	filter_path_free(path);
}

/* The records after a cursor, read in the two bands an index seeks,
 * one after the other. */
static void
check_bands(const struct filter_sort *s, json_object *key,
    const struct filter_sql *after, const char *want)
{
	struct filter_band bands[2];
	const struct filter_sql *parts[2];
	char		 got[2 * NFIXED + 1], b[NFIXED + 1];
	int		 i;

	if (filter_sort_after_bands(s, key, bands) != 2)
		return;
	got[0] = '\0';
	for (i = 0; i < 2; i++) {
		parts[0] = after;
		parts[1] = &bands[i].where;
		run_parts(parts, 2, &bands[i].order, b);
		strlcat_b(got, b, sizeof got);
		filter_sql_free(&bands[i].where);
		filter_sql_free(&bands[i].order);
	}
	if (strcmp(got, want) != 0)
		abort();
}

/* The records f matches in memory, as their indexes. */
static void
matches(const struct filter *f, char mem[NFIXED + 1])
{
	size_t	 i, n = 0;

	for (i = 0; i < NFIXED; i++)
		if (filter_match(f, &recs[i]))
			mem[n++] = (char)('0' + i);
	mem[n] = '\0';
}

/* f's text reads back as a filter of the same text and matches. */
static void
check_text(const struct filter *f, const char *mem)
{
	struct filter	*g;
	struct error	 err;
	char		*t, *u, again[NFIXED + 1];

	t = filter_text(f);
	if (strlen(t) > FILTER_MAX_LEN) {	/* written longer */
		free(t);
		return;
	}
	if (filter_parse(t, &g, &err) == -1)
		abort();
	u = filter_text(g);
	matches(g, again);
	if (strcmp(t, u) != 0 || strcmp(mem, again) != 0)
		abort();
	free(t);
	free(u);
	filter_free(g);
}

/* A plain filter: memory and SQL agree, its fan-out term holds, its
 * text reads back. */
static void
check_plain(const struct filter *f)
{
	struct filter_sql w;
	char		 sql[NFIXED + 1], mem[NFIXED + 1];

	matches(f, mem);
	filter_sql(f, &w);
	run(&w, NULL, sql);
	if (strcmp(sql, mem) != 0)
		abort();
	check_index_term(f);
	check_text(f, mem);
	filter_sql_free(&w);
}

/* The text as a rule that may read everything, bound. */
static void
check_rule(const char *text)
{
	struct rule_env	 env = { claims, body, "chat" };
	struct filter	*f;
	struct error	 err;

	if (filter_rule_parse(text, FILTER_REF_TOKEN | FILTER_REF_BODY |
	    FILTER_REF_EVENT, "", &f, &err) == -1) {
		if (err.code != ERR_INVALID_FILTER ||
		    strncmp(err.message, "at ", 3) != 0)
			abort();
		return;
	}
	if (filter_bind(f, &env)) {
		filter_free(f);
		return;
	}
	check_plain(f);
	filter_free(f);
}

static void
check_filter(const char *text)
{
	struct filter	*f;
	struct error	 err;

	check_rule(text);
	if (filter_parse(text, &f, &err) == -1) {
		if (err.code != ERR_INVALID_FILTER ||
		    strncmp(err.message, "at ", 3) != 0)
			abort();
		return;
	}
	check_plain(f);
	filter_free(f);
}

static void
check_sort(const char *text)
{
	struct filter_sort *s;
	struct filter_sql order, after;
	struct error	 err;
	json_object	*key;
	char		 sql[NFIXED + 1], mem[NFIXED + 1], c;
	size_t		 i, j;

	if (filter_sort_parse(text, &s, &err) == -1)
		return;
	for (i = 0; i < NFIXED; i++)	/* insertion sort, in memory */
		for (mem[i] = (char)('0' + i), j = i; j > 0 &&
		    filter_sort_cmp(s, &recs[mem[j - 1] - '0'],
		    &recs[mem[j] - '0']) > 0; j--) {
			c = mem[j];
			mem[j] = mem[j - 1];
			mem[j - 1] = c;
		}
	mem[NFIXED] = '\0';
	filter_sort_sql(s, &order);
	run(NULL, &order, sql);
	if (strcmp(sql, mem) != 0)
		abort();
	for (i = 0; i < NFIXED; i++) {
		key = filter_sort_key(s, &recs[mem[i] - '0']);
		if (filter_sort_after_sql(s, key, &after, &err) == -1)
			abort();
		run(&after, &order, sql);
		if (strcmp(sql, mem + i + 1) != 0)
			abort();
		check_bands(s, key, &after, mem + i + 1);
		filter_sql_free(&after);
		json_object_put(key);
	}
	filter_sql_free(&order);
	filter_sort_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*nul = memchr(data, '\0', size);
	char		*text, *sort;

	setup();
	text = xstrndup((const char *)data, size);
	check_filter(text);
	if (nul != NULL) {
		sort = xstrndup((const char *)nul + 1,
		    size - (size_t)(nul + 1 - data));
		check_sort(sort);
		free(sort);
	} else
		check_sort(text);
	free(text);
	return (0);
}
