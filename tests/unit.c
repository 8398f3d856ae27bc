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

/* Unit tests of the pure parts: routing, query strings, ULIDs, config
 * parsing, JSON helpers, FastCGI framing and CORS origins. */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>

#include "../src/basalt.h"

START_TEST(test_route_split)
{
	char	 segs[12][256];

	ck_assert_int_eq(route_split("/api/realms/acme", segs, 12), 3);
	ck_assert_str_eq(segs[0], "api");
	ck_assert_str_eq(segs[2], "acme");
	ck_assert_int_eq(route_split("/api/realms/a%20b/", segs, 12), 4);
	ck_assert_str_eq(segs[2], "a b");
	ck_assert_str_eq(segs[3], "");	/* a trailing slash: empty */
	ck_assert_int_eq(route_split("/api//x", segs, 12), 3);
	ck_assert_str_eq(segs[1], "");
	ck_assert_int_eq(route_split("/a/%2Fx", segs, 12), 2);
	ck_assert_str_eq(segs[1], "/x");
	ck_assert_int_eq(route_split("/a/%zz", segs, 12), -1);
	ck_assert_int_eq(route_split("/a/%4", segs, 12), -1);
	ck_assert_int_eq(route_split("/a/%00", segs, 12), -1);
	ck_assert_int_eq(route_split("relative", segs, 12), -1);
	ck_assert_int_eq(route_split("/1/2/3/4", segs, 3), -1);
}
END_TEST

static struct request *
fake_request(const char *uri, const char *qs)
{
	struct request	*req = xcalloc(1, sizeof *req);

	req->params = xcalloc(2, sizeof *req->params);
	req->params[0].name = xstrdup("REQUEST_URI");
	req->params[0].value = xstrdup(uri);
	req->nparams = 1;
	if (qs != NULL) {
		req->params[1].name = xstrdup("QUERY_STRING");
		req->params[1].value = xstrdup(qs);
		req->nparams = 2;
	}
	return (req);
}

START_TEST(test_request_query)
{
	struct request	*req = fake_request("/x?limit=5&after=ab%2Bc&e=&flag",
			    NULL);
	char		 buf[16];

	ck_assert_int_eq(request_query(req, "limit", buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "5");
	ck_assert_int_eq(request_query(req, "after", buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "ab+c");
	ck_assert_int_eq(request_query(req, "e", buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(request_query(req, "flag", buf, sizeof buf), 0);
	ck_assert_int_eq(request_query(req, "lim", buf, sizeof buf), -1);
	ck_assert_int_eq(request_query(req, "nope", buf, sizeof buf), -1);
	request_free(req);
	req = fake_request("/x", "q=a+b&long=0123456789abcdefghij");
	ck_assert_int_eq(request_query(req, "q", buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "a b");
	ck_assert_int_eq(request_query(req, "long", buf, sizeof buf), -2);
	request_free(req);
}
END_TEST

START_TEST(test_ulid)
{
	char	 a[ULID_LEN + 1], b[ULID_LEN + 1];
	int	 i;

	ulid_new(a);
	ck_assert_int_eq(strlen(a), ULID_LEN);
	ck_assert(ulid_valid(a));
	for (i = 0; i < 1000; i++) {
		ulid_new(b);
		ck_assert(strcmp(a, b) < 0);	/* monotonic */
		memcpy(a, b, sizeof a);
	}
	ck_assert(!ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FA"));	/* 25 */
	ck_assert(!ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAI"));	/* I */
	ck_assert(!ulid_valid("81ARZ3NDEKTSV4RRFFQ69G5FAV"));	/* overflow */
	ck_assert(ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
}
END_TEST

START_TEST(test_time_iso)
{
	char	 out[TIMESTAMP_LEN + 1];

	time_iso(1795972900123LL, out);
	ck_assert_str_eq(out, "2026-11-29T17:21:40.123Z");
}
END_TEST

START_TEST(test_names)
{
	ck_assert(name_valid("acme"));
	ck_assert(name_valid("a-b_c9"));
	ck_assert(!name_valid(""));
	ck_assert(!name_valid("-a"));
	ck_assert(!name_valid("Acme"));
	ck_assert(!name_valid("a/b"));
	ck_assert(name_valid(
	    "a12345678901234567890123456789012345678901234567890123456789012"));
	ck_assert(!name_valid(
	    "a123456789012345678901234567890123456789012345678901234567890123"));
}
END_TEST

static const char *
write_conf(const char *text)
{
	static char	 path[] = "/tmp/basalt-unit-XXXXXX";
	int		 fd;

	strcpy(path, "/tmp/basalt-unit-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return (path);
}

START_TEST(test_config)
{
	struct config	*c = config_new();
	char		 err[256];
	const char	*p;

	p = write_conf("# comment\n\nworkers = 3 # trailing\n"
	    "max_body_size = 2k\nlog_level = debug\nsynchronous=full\n"
	    "listen = 127.0.0.1:9000\n");
	ck_assert_int_eq(config_load(c, p, 0, err, sizeof err), 0);
	ck_assert_int_eq(c->workers, 3);
	ck_assert_uint_eq(c->max_body_size, 2048);
	ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(c->synchronous_full, 1);
	ck_assert_str_eq(c->listen, "127.0.0.1:9000");
	unlink(p);
	p = write_conf("workers = 2\nbogus = 1\n");
	ck_assert_int_eq(config_load(c, p, 0, err, sizeof err), -1);
	ck_assert(strstr(err, ":2: unknown key \"bogus\"") != NULL);
	unlink(p);
	p = write_conf("heartbeat_interval = 0\n");
	ck_assert_int_eq(config_load(c, p, 0, err, sizeof err), -1);
	ck_assert(strstr(err, ":1: bad value for heartbeat_interval") != NULL);
	unlink(p);
	p = write_conf("workers\n");
	ck_assert_int_eq(config_load(c, p, 0, err, sizeof err), -1);
	unlink(p);
	ck_assert_int_eq(config_load(c, "/nonexistent/x.conf", 1, err,
	    sizeof err), 0);
	ck_assert_int_eq(config_load(c, "/nonexistent/x.conf", 0, err,
	    sizeof err), -1);
	config_free(c);
}
END_TEST

START_TEST(test_parse_values)
{
	size_t	 sz;
	int64_t	 d;

	ck_assert_int_eq(config_parse_size("1m", &sz), 0);
	ck_assert_uint_eq(sz, 1048576);
	ck_assert_int_eq(config_parse_size("12", &sz), 0);
	ck_assert_uint_eq(sz, 12);
	ck_assert_int_eq(config_parse_size("1x", &sz), -1);
	ck_assert_int_eq(config_parse_size("-1", &sz), -1);
	ck_assert_int_eq(config_parse_duration("30d", &d), 0);
	ck_assert_int_eq(d, 30 * 86400);
	ck_assert_int_eq(config_parse_duration("90", &d), 0);
	ck_assert_int_eq(d, 90);
	ck_assert_int_eq(config_parse_duration("0s", &d), -1);
	ck_assert_int_eq(config_parse_duration("5w", &d), -1);
}
END_TEST

START_TEST(test_json_parse)
{
	json_object	*o;
	char		 deep[200];
	int		 i;

	o = jsonutil_parse("{\"a\":1} \n", 9);
	ck_assert_ptr_nonnull(o);
	json_object_put(o);
	ck_assert_ptr_null(jsonutil_parse("{\"a\":1} x", 9));
	ck_assert_ptr_null(jsonutil_parse("{\"a\":", 5));
	ck_assert_ptr_null(jsonutil_parse("", 0));
	ck_assert_ptr_null(jsonutil_parse("{'a':1}", 7));
	ck_assert_ptr_null(jsonutil_parse("\"\xff\"", 3));
	for (i = 0; i < 100; i++)
		deep[i] = '[';
	for (i = 100; i < 200; i++)
		deep[i] = ']';
	ck_assert_ptr_null(jsonutil_parse(deep, sizeof deep));
	o = jsonutil_parse("7", 1);
	ck_assert_ptr_nonnull(o);
	json_object_put(o);
}
END_TEST

/* What the body parser takes, and what json-c's serialiser gives back. */
static const struct json_case {
	const char	*in;
	size_t		 len;		/* 0: strlen(in) */
	const char	*out;		/* NULL: refused */
} json_cases[] = {
	/* Numbers: the grammar, and kept as written. */
	{ "{\"v\":NaN}", 0, NULL },
	{ "{\"v\":Infinity}", 0, NULL },
	{ "{\"v\":-Infinity}", 0, NULL },
	{ "{\"v\":-01}", 0, NULL },
	{ "{\"v\":01}", 0, NULL },
	{ "{\"v\":1.}", 0, NULL },
	{ "{\"v\":-.123}", 0, NULL },
	{ "{\"v\":.5}", 0, NULL },
	{ "{\"v\":0.e1}", 0, NULL },
	{ "{\"v\":2.e+3}", 0, NULL },
	{ "{\"v\":1e}", 0, NULL },
	{ "{\"v\":1e+}", 0, NULL },
	{ "{\"v\":+1}", 0, NULL },
	{ "{\"v\":-}", 0, NULL },
	{ "{\"v\":0x10}", 0, NULL },
	{ "{\"v\":1_000}", 0, NULL },
	{ "[1.5e3,-0,-0.0,0E0,1E-2,2e+3]", 0,
	    "[1.5e3,-0,-0.0,0E0,1E-2,2e+3]" },
	{ "[18446744073709551615,18446744073709551616,-9223372036854775809]",
	    0, "[18446744073709551615,18446744073709551616,"
	    "-9223372036854775809]" },
	{ "[123456789012345678901234567890123456789]", 0,
	    "[123456789012345678901234567890123456789]" },
	{ "[1e400,-1e400,1e-400,1.000000000000000000001]", 0,
	    "[1e400,-1e400,1e-400,1.000000000000000000001]" },
	{ "[9223372036854775807,-9223372036854775808]", 0,
	    "[9223372036854775807,-9223372036854775808]" },
	/* Strings. */
	{ "[\"a\tb\"]", 0, NULL },
	{ "[\"a\nb\"]", 0, NULL },
	{ "[\"a\x01\"]", 0, NULL },
	{ "[\"\\x41\"]", 0, NULL },
	{ "[\"\\u12\"]", 0, NULL },
	{ "[\"\\uZZZZ\"]", 0, NULL },
	{ "[\"\\'\"]", 0, NULL },
	{ "['a']", 0, NULL },
	{ "[\"abc]", 0, NULL },
	{ "[\"\\\"]", 0, NULL },
	{ "[\"\\u0041\\/\\b\\f\\n\\r\\t\\\"\\\\\"]", 0,
	    "[\"A/\\b\\f\\n\\r\\t\\\"\\\\\"]" },
	{ "[\"\\u0000\"]", 0, "[\"\\u0000\"]" },
	{ "[\"\\ud83d\\ude00\"]", 0, "[\"\xf0\x9f\x98\x80\"]" },
	{ "[\"\\uD83D\\uDE00\"]", 0, "[\"\xf0\x9f\x98\x80\"]" },
	{ "[\"\\ud800\"]", 0, NULL },
	{ "[\"\\udc00\"]", 0, NULL },
	{ "[\"\\ud800\\u0041\"]", 0, NULL },
	{ "[\"\\ud800\\ud800\"]", 0, NULL },
	{ "[\"\\udc00\\ud800\"]", 0, NULL },
	{ "[\"\\ud800x\"]", 0, NULL },
	{ "[\"\\uffff\"]", 0, "[\"\xef\xbf\xbf\"]" },
	/* UTF-8. */
	{ "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"]", 0,
	    "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"]" },
	{ "[\"\xed\xa0\x80\"]", 0, NULL },
	{ "[\"\xed\xbf\xbf\"]", 0, NULL },
	{ "[\"\xed\x9f\xbf\"]", 0, "[\"\xed\x9f\xbf\"]" },
	{ "[\"\xc0\xaf\"]", 0, NULL },
	{ "[\"\xc1\xbf\"]", 0, NULL },
	{ "[\"\xe0\x80\xaf\"]", 0, NULL },
	{ "[\"\xf0\x80\x80\xaf\"]", 0, NULL },
	{ "[\"\xf4\x90\x80\x80\"]", 0, NULL },
	{ "[\"\xf5\x80\x80\x80\"]", 0, NULL },
	{ "[\"\xff\"]", 0, NULL },
	{ "[\"\x80\"]", 0, NULL },
	{ "[\"\xc3\"]", 0, NULL },
	{ "[\"\xe2\x82\"]", 0, NULL },
	{ "[\xc3\xa9]", 0, NULL },
	{ "\xef\xbb\xbf{}", 0, NULL },
	/* Keys. */
	{ "{\"foo\\u0000bar\":42}", 0, NULL },
	{ "{\"\\u0000\":1}", 0, NULL },
	{ "{\"a\":1,\"a\":2}", 0, "{\"a\":2}" },
	{ "{\"\":1}", 0, "{\"\":1}" },
	{ "{a:1}", 0, NULL },
	{ "{\"a\" 1}", 0, NULL },
	{ "{\"a\":1,}", 0, NULL },
	{ "{,}", 0, NULL },
	{ "{\"a\":1 \"b\":2}", 0, NULL },
	{ "{1:1}", 0, NULL },
	/* Structure, literals, white space. */
	{ "[1,]", 0, NULL },
	{ "[,1]", 0, NULL },
	{ "[1 2]", 0, NULL },
	{ "[", 0, NULL },
	{ "]", 0, NULL },
	{ "[]]", 0, NULL },
	{ "{}}", 0, NULL },
	{ "[true, false, null]", 0, "[true,false,null]" },
	{ "[tru]", 0, NULL },
	{ "[True]", 0, NULL },
	{ "[nul]", 0, NULL },
	{ "[undefined]", 0, NULL },
	{ "[1]\x0c", 0, NULL },
	{ "\x0b[1]", 0, NULL },
	{ "[1]\xc2\xa0", 0, NULL },
	{ " \t\r\n[ \t\r\n1 \t\r\n] \t\r\n", 0, "[1]" },
	{ "[1]/**/", 0, NULL },
	{ "[1] // x", 0, NULL },
	{ "[1]\0", 4, NULL },
	{ "[\"a\0b\"]", 7, NULL },
	{ "", 0, NULL },
	{ "   ", 0, NULL },
	{ "null", 0, "null" },
	{ "\"x\"", 0, "\"x\"" },
	{ "-12", 0, "-12" },
	{ "1 2", 0, NULL },
};

START_TEST(test_json_strict)
{
	const struct json_case	*c = &json_cases[_i];
	json_object		*o, *again;
	size_t			 len = c->len != 0 ? c->len : strlen(c->in);
	const char		*s;
	char			*first;
	int			 rc;

	rc = jsonutil_parse_value(c->in, len, &o);
	if (c->out == NULL) {
		ck_assert_msg(rc == -1, "accepted: %s", c->in);
		ck_assert_ptr_null(o);
		return;
	}
	ck_assert_msg(rc == 0, "refused: %s", c->in);
	s = o == NULL ? "null" : jsonutil_string(o);
	ck_assert_str_eq(s, c->out);
	/* What json-c writes reads back the same. */
	first = xstrdup(s);
	ck_assert_int_eq(jsonutil_parse_value(first, strlen(first), &again), 0);
	ck_assert_str_eq(again == NULL ? "null" : jsonutil_string(again),
	    first);
	free(first);
	json_object_put(again);
	json_object_put(o);
}
END_TEST

START_TEST(test_json_depth)
{
	char		 buf[8 * (MAX_JSON_DEPTH + 2)];
	json_object	*o;
	int		 n, i;

	for (n = MAX_JSON_DEPTH; n <= MAX_JSON_DEPTH + 1; n++) {
		memset(buf, '[', n);
		memset(buf + n, ']', n);
		ck_assert_int_eq(jsonutil_parse_value(buf, 2 * n, &o),
		    n <= MAX_JSON_DEPTH ? 0 : -1);
		json_object_put(o);
	}
	/* One deeper where asked. */
	n = MAX_JSON_DEPTH + 1;
	memset(buf, '[', n);
	memset(buf + n, ']', n);
	ck_assert_int_eq(jsonutil_parse_depth(buf, 2 * n, n, &o), 0);
	json_object_put(o);
	ck_assert_int_eq(jsonutil_parse_depth(buf, 2 * n, n - 1, &o), -1);
	/* Objects count as arrays do. */
	for (n = MAX_JSON_DEPTH; n <= MAX_JSON_DEPTH + 1; n++) {
		buf[0] = '\0';
		for (i = 0; i < n; i++)
			strcat(buf, "{\"\":");
		strcat(buf, "1");
		for (i = 0; i < n; i++)
			strcat(buf, "}");
		ck_assert_int_eq(jsonutil_parse_value(buf, strlen(buf), &o),
		    n <= MAX_JSON_DEPTH ? 0 : -1);
		json_object_put(o);
	}
}
END_TEST

/* The corpus of tests/json (tests/json.sh posts it through a web server):
 * every y_ and i_accept_ file parses alone and as {"v": DOC}, every n_ and
 * i_refuse_ file is refused both ways. */
static int
corpus_parse(const char *dir, const char *name, int nested)
{
	json_object	*o;
	char		*path, *buf;
	FILE		*f;
	long		 n;
	size_t		 off = nested ? 5 : 0;
	int		 rc;

	xasprintf(&path, "%s/%s", dir, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 6);
	memcpy(buf, "{\"v\":", 5);
	ck_assert_int_eq(fread(buf + off, 1, (size_t)n, f), (size_t)n);
	if (nested)
		buf[off + (size_t)n] = '}';
	fclose(f);
	rc = jsonutil_parse_value(buf, (size_t)n + (nested ? 6 : 0), &o);
	json_object_put(o);
	free(buf);
	free(path);
	return (rc);
}

START_TEST(test_json_corpus)
{
	const char	*top = getenv("top_srcdir");
	char		*dir;
	DIR		*d;
	struct dirent	*de;
	int		 want, seen = 0;

	xasprintf(&dir, "%s/tests/json", top != NULL ? top : "..");
	ck_assert_msg((d = opendir(dir)) != NULL, "%s", dir);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "y_", 2) == 0 ||
		    strncmp(de->d_name, "i_accept_", 9) == 0)
			want = 0;
		else if (strncmp(de->d_name, "n_", 2) == 0 ||
		    strncmp(de->d_name, "i_refuse_", 9) == 0)
			want = -1;
		else
			continue;
		seen++;
		ck_assert_msg(corpus_parse(dir, de->d_name, 0) == want,
		    "%s alone", de->d_name);
		ck_assert_msg(corpus_parse(dir, de->d_name, 1) == want,
		    "%s as {\"v\": DOC}", de->d_name);
	}
	closedir(d);
	free(dir);
	ck_assert_int_gt(seen, 300);
}
END_TEST

static void
sse_check(int64_t id, const char *type, const char *data, size_t dlen,
    const char *want)
{
	struct event_row	 ev;
	char			*f;
	size_t			 len;

	memset(&ev, 0, sizeof ev);
	ev.id = id;
	ev.type = type;
	ev.data = data;
	ev.data_len = dlen;
	f = sse_frame(&ev, &len);
	ck_assert_msg(len == strlen(want), "got %zu '%s' want '%s'", len, f, want);
	ck_assert_msg(memcmp(f, want, len) == 0, "got '%s' want '%s'", f, want);
	free(f);
}

START_TEST(test_sse_frame)
{
	char	 longtype[200];

	sse_check(7, "record_created", "{\"a\":1}", 7,
	    "id: 7\nevent: record_created\ndata: {\"a\":1}\n\n");
	/* Line breaks in data: one data line each, CRLF as one. */
	sse_check(1, "t", "a\nb", 3, "id: 1\nevent: t\ndata: a\ndata: b\n\n");
	sse_check(1, "t", "a\rb", 3, "id: 1\nevent: t\ndata: a\ndata: b\n\n");
	sse_check(1, "t", "a\r\nb", 4, "id: 1\nevent: t\ndata: a\ndata: b\n\n");
	sse_check(1, "t", "a\n\nb", 4,
	    "id: 1\nevent: t\ndata: a\ndata: \ndata: b\n\n");
	sse_check(1, "t", "\n\nid: 9\nevent: x\ndata: forged\n\n", 31,
	    "id: 1\nevent: t\ndata: \ndata: \ndata: id: 9\ndata: event: x\n"
	    "data: data: forged\ndata: \ndata: \n\n");
	sse_check(1, "t", "a\r", 2, "id: 1\nevent: t\ndata: a\ndata: \n\n");
	/* data_len counts, not a NUL; no data is an empty data line. */
	sse_check(1, "t", "ab\0c", 2, "id: 1\nevent: t\ndata: ab\n\n");
	sse_check(1, "t", NULL, 0, "id: 1\nevent: t\ndata: \n\n");
	/* A hostile type cannot end its line. */
	sse_check(2, "x\ndata: forged\n\nevent: y", "1", 1,
	    "id: 2\nevent: x_data:_forged__event:_y\ndata: 1\n\n");
	sse_check(2, "a\rb c\xc3\xa9", "1", 1,
	    "id: 2\nevent: a_b_c__\ndata: 1\n\n");
	sse_check(2, "", "1", 1, "id: 2\nevent: message\ndata: 1\n\n");
	sse_check(2, NULL, "1", 1, "id: 2\nevent: message\ndata: 1\n\n");
	/* not a log row: no id line */
	sse_check(-9223372036854775807LL - 1, "A-z.0:_", "1", 1,
	    "event: A-z.0:_\ndata: 1\n\n");
	memset(longtype, 'a', sizeof longtype - 1);
	longtype[sizeof longtype - 1] = '\0';
	longtype[MAX_EVENT_TYPE_LEN] = '\0';
	{
		char	 want[300];

		snprintf(want, sizeof want, "id: 3\nevent: %s\ndata: 1\n\n",
		    longtype);
		longtype[MAX_EVENT_TYPE_LEN] = 'a';
		sse_check(3, longtype, "1", 1, want);
	}
}
END_TEST

START_TEST(test_from_cesu8)
{
	static const struct {
		const char	*in, *out;
	} c[] = {
		{ "plain \xc3\xa9 \xe2\x82\xac", "plain \xc3\xa9 \xe2\x82\xac" },
		{ "\xed\xa0\xbd\xed\xb8\x80", "\xf0\x9f\x98\x80" },
		{ "[\"\xed\xaf\xbf\xed\xbf\xbf\"]", "[\"\xf4\x8f\xbf\xbf\"]" },
		{ "\xed\xa0\x80", "\xef\xbf\xbd" },
		{ "\xed\xb0\x80\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xa0\x80x", "\xef\xbf\xbdx" },
		{ "\xed\x9f\xbf", "\xed\x9f\xbf" },
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
		{ "\xed\xa0", "\xed\xa0" },
	};
	char	 buf[64];
	size_t	 i, n;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		strlcpy_b(buf, c[i].in, sizeof buf);
		n = jsonutil_from_cesu8(buf, strlen(buf));
		ck_assert_uint_eq(n, strlen(c[i].out));
		ck_assert_msg(memcmp(buf, c[i].out, n) == 0, "case %zu", i);
	}
}
END_TEST

START_TEST(test_merge_patch)
{
	json_object	*t, *p;

	/* RFC 7396 appendix A, in part. */
	t = json_tokener_parse("{\"a\":\"b\",\"c\":{\"d\":\"e\",\"f\":\"g\"},"
	    "\"x\":[1]}");
	p = json_tokener_parse("{\"a\":\"z\",\"c\":{\"f\":null},\"x\":{\"y\":1},"
	    "\"n\":{\"k\":null}}");
	jsonutil_merge_patch(t, p);
	ck_assert_str_eq(jsonutil_string(t),
	    "{\"a\":\"z\",\"c\":{\"d\":\"e\"},\"x\":{\"y\":1},\"n\":{}}");
	json_object_put(t);
	json_object_put(p);
}
END_TEST

static int
pair_cb(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	char	*out = arg;

	strncat(out, n, nl);
	strcat(out, "=");
	strncat(out, v, vl);
	strcat(out, ";");
	return (0);
}

START_TEST(test_fcgi_params)
{
	uint8_t	 buf[400];
	char	 out[600] = "";
	size_t	 n = 0;

	buf[n++] = 3; buf[n++] = 2;
	memcpy(buf + n, "KEYab", 5); n += 5;
	/* a long value: four-byte length */
	buf[n++] = 1; buf[n++] = 0x80; buf[n++] = 0; buf[n++] = 1; buf[n++] = 44;
	buf[n++] = 'L';
	memset(buf + n, 'v', 300); n += 300;
	ck_assert_int_eq(fcgi_params_decode(buf, n, pair_cb, out), 0);
	ck_assert(strncmp(out, "KEY=ab;L=vvv", 12) == 0);
	ck_assert_uint_eq(strlen(out), strlen("KEY=ab;L=;") + 300);
	/* a length past the end */
	ck_assert_int_eq(fcgi_params_decode(buf, 6, pair_cb, out), -1);
}
END_TEST

START_TEST(test_fcgi_stdout)
{
	struct evbuffer		*b = evbuffer_new();
	struct fcgi_header	 h;
	static char		 big[70000];
	uint8_t			*p;

	fcgi_stdout(b, 1, big, sizeof big);
	ck_assert_uint_eq(evbuffer_get_length(b), sizeof big + 16);
	p = evbuffer_pullup(b, -1);
	fcgi_header_decode(p, &h);
	ck_assert_int_eq(h.type, 6);
	ck_assert_int_eq(h.request_id, 1);
	ck_assert_int_eq(h.content_length, 65535);
	fcgi_header_decode(p + 8 + 65535, &h);
	ck_assert_int_eq(h.content_length, sizeof big - 65535);
	evbuffer_drain(b, evbuffer_get_length(b));
	fcgi_end_request(b, 258, 0, 0);
	p = evbuffer_pullup(b, -1);
	fcgi_header_decode(p, &h);
	ck_assert_int_eq(h.type, 3);
	ck_assert_int_eq(h.request_id, 258);
	ck_assert_int_eq(h.content_length, 8);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_errors)
{
	struct error	 e;

	memset(&e, 0, sizeof e);
	ck_assert_int_eq(error_set(&e, ERR_TOO_LARGE, NULL), -1);
	ck_assert_int_eq(error_status(e.code), 413);
	ck_assert_str_eq(error_code(e.code), "payload_too_large");
	ck_assert_int_eq(error_status(ERR_BUSY), 503);
	ck_assert_int_eq(error_status(ERR_HOOK_REJECTED), 422);
	ck_assert_int_eq(event_type_valid("chat.msg:1", &e), 0);
	ck_assert_int_eq(event_type_valid("record_created", &e), -1);
	ck_assert_int_eq(event_type_valid("reset", &e), -1);
	ck_assert_int_eq(event_type_valid("a\nb", &e), -1);
	ck_assert_int_eq(event_type_valid("", &e), -1);
}
END_TEST

START_TEST(test_scopes)
{
	int	 s;
	char	 out[32];

	ck_assert_int_eq(auth_scopes_parse("read,admin", &s), 0);
	ck_assert_int_eq(s, SCOPE_READ | SCOPE_ADMIN);
	auth_scopes_format(s, out, sizeof out);
	ck_assert_str_eq(out, "read,admin");
	ck_assert_int_eq(auth_scopes_parse("read,,write", &s), -1);
	ck_assert_int_eq(auth_scopes_parse("root", &s), -1);
	ck_assert_int_eq(auth_scopes_parse("", &s), -1);
}
END_TEST

START_TEST(test_cors_origins)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "https://app.example.com", "https://app.example.com" },
		{ "HTTPS://App.Example.COM:443", "https://app.example.com" },
		{ "http://localhost:80", "http://localhost" },
		{ "http://localhost:5173", "http://localhost:5173" },
		{ "https://a.example:080", "https://a.example:80" },
		{ "http://127.0.0.1:8080", "http://127.0.0.1:8080" },
		{ "http://[::1]:3000", "http://[::1]:3000" },
		{ "capacitor://localhost", "capacitor://localhost" },
		{ "https://a_b.example", "https://a_b.example" },
		{ "https://a.example/", NULL }, { "https://a.example/x", NULL },
		{ "https://a.example?x", NULL }, { "https://a.example#x", NULL },
		{ "null", NULL }, { "*", NULL }, { "", NULL },
		{ "a.example", NULL }, { "https:/a.example", NULL },
		{ "://a.example", NULL }, { "1http://a.example", NULL },
		{ "https://", NULL }, { "https://:80", NULL },
		{ "https://a.example:", NULL }, { "https://a.example:0", NULL },
		{ "https://a.example:65536", NULL },
		{ "https://a.example:123456", NULL },
		{ "https://a.example:+80", NULL }, { "https://u@a.example", NULL },
		{ "https://a..example", NULL }, { "https://.a.example", NULL },
		{ "https://a.example.", NULL }, { "https://[::1", NULL },
		{ "https://[g::1]", NULL }, { "https://bücher.example", NULL },
		{ "https://a.example x", NULL },
	};
	char	 out[MAX_ORIGIN_LEN + 1], why[200], *list, big[400];
	size_t	 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		why[0] = '\0';
		if (cases[i].out == NULL) {
			ck_assert_msg(cors_origin_parse(cases[i].in, out, why,
			    sizeof why) == -1, "%s is taken", cases[i].in);
			ck_assert_msg(why[0] != '\0', "%s: no reason",
			    cases[i].in);
			continue;
		}
		ck_assert_msg(cors_origin_parse(cases[i].in, out, why,
		    sizeof why) == 0, "%s: %s", cases[i].in, why);
		ck_assert_str_eq(out, cases[i].out);
	}
	memset(big, 'a', sizeof big);
	memcpy(big, "https://", 8);
	big[MAX_ORIGIN_LEN + 1] = '\0';
	ck_assert_int_eq(cors_origin_parse(big, out, NULL, 0), -1);
	big[MAX_ORIGIN_LEN] = '\0';
	ck_assert_int_eq(cors_origin_parse(big, out, NULL, 0), 0);
	ck_assert_str_eq(out, big);

	ck_assert_int_eq(cors_list_parse("", &list, why, sizeof why), 0);
	ck_assert_ptr_null(list);
	ck_assert_int_eq(cors_list_parse(" * ", &list, why, sizeof why), 0);
	ck_assert_str_eq(list, "*");
	free(list);
	ck_assert_int_eq(cors_list_parse("https://A.example,http://b:81 ,\t"
	    "https://c.example:443", &list, why, sizeof why), 0);
	ck_assert_str_eq(list, "https://a.example http://b:81 https://c.example");
	free(list);
	ck_assert_int_eq(cors_list_parse("* https://a.example", &list, why,
	    sizeof why), -1);
	ck_assert_int_eq(cors_list_parse("https://a.example null", &list, why,
	    sizeof why), -1);
	ck_assert_str_eq(why, "null: the null origin cannot be allowed: every "
	    "sandboxed page and local file sends it");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("basalt");
	TCase	*tc = tcase_create("pure");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_route_split);
	tcase_add_test(tc, test_request_query);
	tcase_add_test(tc, test_ulid);
	tcase_add_test(tc, test_time_iso);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_parse_values);
	tcase_add_test(tc, test_json_parse);
	tcase_add_loop_test(tc, test_json_strict, 0,
	    sizeof json_cases / sizeof json_cases[0]);
	tcase_add_test(tc, test_json_depth);
	tcase_add_test(tc, test_json_corpus);
	tcase_add_test(tc, test_merge_patch);
	tcase_add_test(tc, test_sse_frame);
	tcase_add_test(tc, test_from_cesu8);
	tcase_add_test(tc, test_fcgi_params);
	tcase_add_test(tc, test_fcgi_stdout);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_scopes);
	tcase_add_test(tc, test_cors_origins);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? 0 : 1);
}
