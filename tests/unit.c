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
 * parsing, JSON helpers, FastCGI framing, CORS origins, and the expression
 * language of filters and sorts with its two back ends. */

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>
#ifdef HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#include "../src/basalt.h"
#include "../src/db.h"

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

/* Its parameters in one allocation, as the loop makes them. */
static struct request *
fake_request(const char *uri, const char *qs)
{
	struct request	*req = xcalloc(1, sizeof *req);
	const char	*s[4] = { "REQUEST_URI", uri, "QUERY_STRING", qs };
	size_t		 i, n = qs != NULL ? 2 : 1, len = 0;
	char		*p;

	for (i = 0; i < 2 * n; i++)
		len += strlen(s[i]) + 1;
	req->params = xmalloc(n * sizeof *req->params + len);
	p = (char *)(req->params + n);
	for (i = 0; i < 2 * n; i++) {
		memcpy(p, s[i], strlen(s[i]) + 1);
		if (i % 2 == 0)
			req->params[i / 2].name = p;
		else
			req->params[i / 2].value = p;
		p += strlen(s[i]) + 1;
	}
	req->nparams = n;
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
	/* access_log: off (the default) or a path, never empty */
	ck_assert_ptr_null(c->access_log);
	p = write_conf("access_log = /var/log/basalt/access.log\n");
	ck_assert_int_eq(config_load(c, p, 0, err, sizeof err), 0);
	ck_assert_str_eq(c->access_log, "/var/log/basalt/access.log");
	unlink(p);
	p = write_conf("access_log = off\n");
	ck_assert_int_eq(config_load(c, p, 0, err, sizeof err), 0);
	ck_assert_ptr_null(c->access_log);
	unlink(p);
	p = write_conf("access_log =\n");
	ck_assert_int_eq(config_load(c, p, 0, err, sizeof err), -1);
	ck_assert(strstr(err, "bad value for access_log") != NULL);
	unlink(p);
	/* database_timeout_ms: PostgreSQL's limit; SQLite keeps its busy
	 * timeout */
	ck_assert_int_eq(c->database_timeout_ms, 800);
	p = write_conf("database_timeout_ms = 250\nbusy_timeout_ms = 700\n");
	ck_assert_int_eq(config_load(c, p, 0, err, sizeof err), 0);
	ck_assert_int_eq(c->database_timeout_ms, 250);
	ck_assert_int_eq(config_db_timeout(c), 700);
	free(c->database);
	c->database = xstrdup("postgresql://basalt@/basalt?host=/tmp");
	ck_assert_int_eq(config_db_timeout(c), 250);
	unlink(p);
	p = write_conf("database_timeout_ms = 0\n");
	ck_assert_int_eq(config_load(c, p, 0, err, sizeof err), -1);
	ck_assert(strstr(err, "bad value for database_timeout_ms") != NULL);
	unlink(p);
	config_free(c);
}
END_TEST

/* X-Request-Id: the web server's when valid, else 16 random hex. */
START_TEST(test_request_id)
{
	struct request	 req;
	struct param	 prm = { "HTTP_X_REQUEST_ID", NULL };
	char		 first[REQUEST_ID_MAX + 1], big[REQUEST_ID_MAX + 2];
	const char	*bad[] = { "", "a b", "a;b", "\xc3\xbc", "a\nb" };
	size_t		 i;

	memset(&req, 0, sizeof req);
	access_rid_set(&req);
	ck_assert_uint_eq(strlen(req.rid), 16);
	ck_assert_uint_eq(strspn(req.rid, "0123456789abcdef"), 16);
	strlcpy_b(first, req.rid, sizeof first);
	access_rid_set(&req);
	ck_assert_str_ne(req.rid, first);
	req.params = &prm;
	req.nparams = 1;
	prm.value = "abc-1.2_Z";
	access_rid_set(&req);
	ck_assert_str_eq(req.rid, "abc-1.2_Z");
	memset(big, 'x', sizeof big - 1);
	big[REQUEST_ID_MAX] = '\0';
	prm.value = big;
	access_rid_set(&req);
	ck_assert_str_eq(req.rid, big);
	big[REQUEST_ID_MAX] = 'x';
	big[REQUEST_ID_MAX + 1] = '\0';
	access_rid_set(&req);
	ck_assert_uint_eq(strlen(req.rid), 16);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		prm.value = (char *)bad[i];
		access_rid_set(&req);
		ck_assert_uint_eq(strlen(req.rid), 16);
	}
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

/*
 * The expression language (filter.c): what it accepts and refuses, what
 * each operator means, and that its two back ends agree.
 */
static struct filter *
filter_ok(const char *text)
{
	struct filter	*f;
	struct error	 e;

	memset(&e, 0, sizeof e);
	ck_assert_msg(filter_parse(text, &f, &e) == 0, "refused %s: %s", text,
	    e.message);
	return (f);
}

static void
filter_refused(const char *text, const char *message)
{
	struct filter	*f;
	struct error	 e;

	memset(&e, 0, sizeof e);
	ck_assert_msg(filter_parse(text, &f, &e) == -1, "accepted %s", text);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(e.code, ERR_INVALID_FILTER);
	ck_assert_msg(strncmp(e.message, message, strlen(message)) == 0,
	    "%s: \"%s\", not \"%s\"", text, e.message, message);
}

static const char *const filter_accepted[] = {
	"id = \"01J\"",
	"created_at < '2026' && updated_at >= \"2026\"",
	"fields.a.b-c.d_e.0 = 1",
	"fields[\"a.b c\"] = 1",
	"fields.a[\"x y\"].b = 1",
	"fields[ \"it's\" ] = 1",
	"fields.s = 'it\\'s' || fields.s = \"say \\\"hi\\\"\"",
	"fields.s = \"\\\\ \\/ \\n \\t \\r \\b \\f \\u00e9 \\ud83d\\ude00\"",
	"fields.n = -0 || fields.n = 1.5e-3 || fields.n = 1E400",
	"fields.t = true || fields.t = false || fields.t = null",
	"fields.a != 1 && fields.a < 1 || fields.a <= 1 || fields.a > 1",
	"fields.a >= 1 || fields.a ~ 'x' || fields.a !~ \"x\"",
	"fields.tags ?= \"x\" || fields.a in (1, 'a', true, null)",
	"fields.a in(1)",
	"!fields.a = 1",
	"!(fields.a = 1) && !!(fields.b = 2)",
	"((fields.a = 1))",
	"\t fields.a=1&&fields.b=2||fields.c=3 \r\n",
	"fields.in = 1 && fields.true = 2 && fields.fields = 3",
	"fields.s = \"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80\"",
	/* README "Querying" */
	"fields.status = \"published\"",
	"fields.score >= 10 && fields.tags ?= \"news\"",
	"fields.title ~ \"basalt\" || fields.author.name = 'Ann'",
	"!(fields.archived = true) && created_at >= \"2026-11-01\"",
	"fields.kind in (\"post\", \"page\") && fields[\"reading time\"] < 5",
	"fields.deleted_at = null",
	"fields.meta[\"content-type\"].value = 1",
};

static const struct {
	const char	*text;
	const char	*message;
} filter_errors[] = {
	{ "", "at 1: expected a field" },
	{ "fields.age > ", "at 14: expected a value" },
	{ "\"x\" = fields.a", "at 1: expected a field" },
	{ "5 = fields.a", "at 1: expected a field" },
	{ "idx = 1", "at 1: expected a field" },
	{ "fields", "at 7: expected . or [ after fields" },
	{ "fields = 1", "at 7: expected . or [ after fields" },
	{ "fields.", "at 8: expected a name" },
	{ "fields..a = 1", "at 8: expected a name" },
	{ "fields[x] = 1", "at 8: expected a quoted key" },
	{ "fields[\"a\" = 1", "at 12: expected ]" },
	{ "fields[\"a\\\"b\"] = 1", "at 8: a key may not hold a double quote" },
	{ "fields.a 1", "at 10: expected an operator" },
	{ "fields.a", "at 9: expected an operator" },
	{ "fields.a == 1", "at 11: expected a value" },
	{ "fields.a = True", "at 12: expected a value" },
	{ "fields.a = fields.b", "at 12: expected a value" },
	{ "fields.a = 01", "at 12: invalid number" },
	{ "fields.a = 1.", "at 12: invalid number" },
	{ "fields.a = -", "at 12: invalid number" },
	{ "fields.a = .5", "at 12: expected a value" },
	{ "fields.a = \"abc", "at 12: unterminated string" },
	{ "fields.a = 'abc\\'", "at 12: unterminated string" },
	{ "fields.a = \"\\x\"", "at 12: invalid string" },
	{ "fields.a = \"\\ud800\"", "at 12: invalid string" },
	{ "fields.a = \"\xff\"", "at 12: invalid string" },
	{ "fields.a = \"\xc0\xaf\"", "at 12: invalid string" },
	{ "fields.a = \"a\tb\"", "at 12: invalid string" },
	{ "fields.a = \"\\u0000\"", "at 12: a string may not hold U+0000" },
	{ "fields.a ~ 1", "at 12: expected a string" },
	{ "fields.a !~ null", "at 13: expected a string" },
	{ "fields.a in ()", "at 14: expected a value" },
	{ "fields.a in (1 2)", "at 16: expected , or )" },
	{ "fields.a in (1,", "at 16: expected a value" },
	{ "fields.a in 1", "at 13: expected (" },
	{ "fields.a in (fields.b)", "at 14: expected a value" },
	{ "(fields.a = 1", "at 14: expected )" },
	{ "fields.a = 1)", "at 13: unmatched )" },
	{ "fields.a = 1 &", "at 14: expected &&, || or the end" },
	{ "fields.a = 1 fields.b = 2", "at 14: expected &&, || or the end" },
	{ "fields.a = 1 && ", "at 17: expected a field" },
	{ "fields.a = 1 || || fields.b = 1", "at 17: expected a field" },
	{ "!", "at 2: expected a field" },
	{ "()", "at 2: expected a field" },
};

START_TEST(test_filter_parse)
{
	size_t	 i;

	for (i = 0; i < sizeof filter_accepted / sizeof filter_accepted[0]; i++)
		filter_free(filter_ok(filter_accepted[i]));
	for (i = 0; i < sizeof filter_errors / sizeof filter_errors[0]; i++)
		filter_refused(filter_errors[i].text, filter_errors[i].message);
	ck_assert_int_eq(error_status(ERR_INVALID_FILTER), 400);
	ck_assert_str_eq(error_code(ERR_INVALID_FILTER), "invalid_filter");
}
END_TEST

/* Appends n copies of s, then tail. */
static char *
repeat(const char *s, int n, const char *head, const char *tail)
{
	size_t	 len = strlen(head) + strlen(s) * n + strlen(tail);
	char	*buf = xmalloc(len + 1);
	int	 i;

	strlcpy_b(buf, head, len + 1);
	for (i = 0; i < n; i++)
		strlcat_b(buf, s, len + 1);
	strlcat_b(buf, tail, len + 1);
	return (buf);
}

START_TEST(test_filter_limits)
{
	char	*t, *u, *v;
	char	 at[64];
	size_t	 n;

	/* 2 KiB of text. */
	t = repeat("x", FILTER_MAX_LEN - 14, "fields.a = \"", "\"");
	ck_assert_int_eq(strlen(t), FILTER_MAX_LEN - 1);
	filter_free(filter_ok(t));
	free(t);
	t = repeat("x", FILTER_MAX_LEN - 13, "fields.a = \"", "\"");
	filter_free(filter_ok(t));
	free(t);
	t = repeat("x", FILTER_MAX_LEN - 12, "fields.a = \"", "\"");
	filter_refused(t, "at 2049: a filter is at most 2048 bytes");
	free(t);

	/* 64 terms, whichever way they are joined. */
	t = repeat("id = 'x' || ", FILTER_MAX_TERMS - 1, "", "id = 'x'");
	filter_free(filter_ok(t));
	free(t);
	t = repeat("id = 'x' && ", FILTER_MAX_TERMS, "", "id = 'x'");
	snprintf(at, sizeof at, "at %zu: a filter has at most 64 terms",
	    strlen(t) - 7);
	filter_refused(t, at);
	free(t);

	/* 100 values in in (...). */
	t = repeat("1, ", FILTER_MAX_IN - 1, "fields.a in (", "1)");
	filter_free(filter_ok(t));
	free(t);
	t = repeat("1, ", FILTER_MAX_IN, "fields.a in (", "1)");
	n = strlen(t) - 1;
	snprintf(at, sizeof at, "at %zu: in takes at most 100 values", n);
	filter_refused(t, at);
	free(t);

	/* Nesting, by parentheses and by !. */
	t = repeat("(", FILTER_MAX_DEPTH, "", "");
	u = repeat(")", FILTER_MAX_DEPTH, "", "");
	xasprintf(&v, "%sid = 'x'%s", t, u);
	filter_free(filter_ok(v));
	free(v);
	xasprintf(&v, "(%sid = 'x'%s)", t, u);
	filter_refused(v, "at 65: nested more than 64 deep");
	free(v);
	free(u);
	free(t);
	t = repeat("!", FILTER_MAX_DEPTH, "", "id = 'x'");
	filter_free(filter_ok(t));
	free(t);
	t = repeat("!", FILTER_MAX_DEPTH + 1, "", "id = 'x'");
	filter_refused(t, "at 65: nested more than 64 deep");
	free(t);
}
END_TEST

/* A records table in a real database file, made by store.c, with a
 * connection of its own to query it; and, when BASALT_TEST_PG names a
 * PostgreSQL database (tests/filter-pg.sh), a copy of its records there
 * that every query runs on too (tpg_*). */
struct tdb {
	char		 path[64];
	struct store	*st;
	struct db	*db;
	int64_t		 coll;
	void		*pg;		/* PGconn */
	int		 pg_stale;	/* records not copied yet */
};

static void	 tpg_open(struct tdb *);
static void	 tpg_close(struct tdb *);
static char	*tpg_ids(struct tdb *, const struct filter_sql *,
		    const struct filter_sql *);

static void
tdb_open(struct tdb *t)
{
	struct scope_ids ids;
	const char	*missing;
	char		 err[256], created[TIMESTAMP_LEN + 1];
	int		 fd;

	strlcpy_b(t->path, "/tmp/basalt-unit-XXXXXX", sizeof t->path);
	ck_assert_int_ne(fd = mkstemp(t->path), -1);
	close(fd);
	t->st = store_open(t->path, 1000, 0, err, sizeof err);
	ck_assert_msg(t->st != NULL, "%s", err);
	ck_assert_int_eq(store_realm_create(t->st, "r"), STORE_OK);
	ck_assert_int_eq(store_app_create(t->st, "r", "a"), STORE_OK);
	ck_assert_int_eq(store_resolve(t->st, "r", "a", NULL, &ids, &missing),
	    STORE_OK);
	ck_assert_int_eq(store_collection_create(t->st, ids.app_id, "c",
	    created), STORE_OK);
	ck_assert_int_eq(store_collection_id(t->st, ids.app_id, "c",
	    &t->coll), STORE_OK);
	t->db = db_open(t->path, 1000, 0, err, sizeof err);
	ck_assert_msg(t->db != NULL, "%s", err);
	tpg_open(t);
}

static void
tdb_close(struct tdb *t)
{
	char	 p[80];

	tpg_close(t);
	db_close(t->db);
	store_close(t->st);
	unlink(t->path);
	snprintf(p, sizeof p, "%s-wal", t->path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", t->path);
	unlink(p);
}

static void
tdb_insert(struct tdb *t, const char *id, const char *fields,
    const char *created, const char *updated)
{
	struct record	 r;

	memset(&r, 0, sizeof r);
	strlcpy_b(r.id, id, sizeof r.id);
	strlcpy_b(r.collection, "c", sizeof r.collection);
	r.fields = (char *)fields;
	strlcpy_b(r.created_at, created, sizeof r.created_at);
	strlcpy_b(r.updated_at, updated, sizeof r.updated_at);
	ck_assert_int_eq(store_record_insert(t->st, t->coll, &r), STORE_OK);
	t->pg_stale = 1;
}

/* A string of what evbuffer b holds, which it frees. */
static char *
buf_string(struct evbuffer *b)
{
	char	*s;

	evbuffer_add(b, "", 1);
	s = xstrdup((char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
	return (s);
}

/*
 * PostgreSQL. Statements are written as the store writes them, with ?
 * and ?N, and sent as its driver sends them: numbered $N (outside
 * quotes), values as text with their types.
 */
#ifdef HAVE_LIBPQ
#define TPG_MAX_PARAMS	1024

struct tpg_params {
	int		 n;
	char		*vals[TPG_MAX_PARAMS];
	unsigned int	 types[TPG_MAX_PARAMS];	/* Oid */
};

static void
tpg_param(struct tpg_params *p, unsigned int type, char *val)
{
	ck_assert_int_lt(p->n, TPG_MAX_PARAMS);
	p->types[p->n] = type;
	p->vals[p->n++] = val;
}

static void
tpg_int(struct tpg_params *p, int64_t i)
{
	char	*v;

	xasprintf(&v, "%lld", (long long)i);
	tpg_param(p, 20, v);		/* int8 */
}

static void
tpg_filter(struct tpg_params *p, const struct filter_sql *q)
{
	const struct filter_bind *b;
	char		*v;
	size_t		 i;

	for (i = 0; i < q->nbinds; i++) {
		b = &q->binds[i];
		switch (b->type) {
		case FILTER_BIND_TEXT:
			tpg_param(p, 0, xstrdup(b->text));
			break;
		case FILTER_BIND_DOUBLE:
			xasprintf(&v, "%.17g", b->d);
			tpg_param(p, 701, v);	/* float8 */
			break;
		case FILTER_BIND_INT:
			tpg_int(p, b->i);
			break;
		}
	}
}

static void
tpg_params_clear(struct tpg_params *p)
{
	int	 i;

	for (i = 0; i < p->n; i++)
		free(p->vals[i]);
	p->n = 0;
}

/* sql with its ? and ?N as $N, as PostgreSQL wants them. */
static char *
tpg_numbered(const char *sql)
{
	struct evbuffer	*b = evbuffer_new();
	const char	*p;
	char		 quote = 0;
	long		 n, high = 0;

	for (p = sql; *p != '\0'; p++) {
		if (quote != 0 || *p == '\'' || *p == '"') {
			if (quote == 0)
				quote = *p;
			else if (*p == quote)
				quote = 0;
			evbuffer_add(b, p, 1);
			continue;
		}
		if (*p != '?') {
			evbuffer_add(b, p, 1);
			continue;
		}
		if (p[1] >= '0' && p[1] <= '9') {
			n = strtol(p + 1, (char **)&p, 10);
			p--;
		} else
			n = high + 1;
		if (n > high)
			high = n;
		evbuffer_add_printf(b, "$%ld", n);
	}
	return (buf_string(b));
}

static PGresult *
tpg_run(struct tdb *t, const char *sql, struct tpg_params *p)
{
	PGresult	*res;
	char		*q = tpg_numbered(sql);

	res = PQexecParams(t->pg, q, p != NULL ? p->n : 0, p != NULL ?
	    p->types : NULL, p != NULL ? (const char *const *)p->vals : NULL,
	    NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK ||
	    PQresultStatus(res) == PGRES_COMMAND_OK, "%s\n%s",
	    PQresultErrorMessage(res), q);
	free(q);
	if (p != NULL)
		tpg_params_clear(p);
	return (res);
}

static void
tpg_exec(struct tdb *t, const char *sql)
{
	PQclear(tpg_run(t, sql, NULL));
}

static void
tpg_open(struct tdb *t)
{
	const char	*url = getenv("BASALT_TEST_PG");

	t->pg = NULL;
	if (url == NULL || *url == '\0')
		return;
	t->pg = PQconnectdb(url);
	ck_assert_msg(PQstatus(t->pg) == CONNECTION_OK, "%s",
	    PQerrorMessage(t->pg));
	tpg_exec(t, "SET client_min_messages = warning");
	tpg_exec(t, "DROP TABLE IF EXISTS records");
	/* The records table's columns, as the store's schema has them. */
	tpg_exec(t, "CREATE TABLE records (id text PRIMARY KEY, "
	    "collection_id bigint NOT NULL, fields text NOT NULL, "
	    "created_at text NOT NULL, updated_at text NOT NULL)");
	t->pg_stale = 1;
}

static void
tpg_close(struct tdb *t)
{
	if (t->pg == NULL)
		return;
	tpg_exec(t, "DROP TABLE records");
	PQfinish(t->pg);
	t->pg = NULL;
}

/* Copies the records of SQLite's table into PostgreSQL's. */
static void
tpg_sync(struct tdb *t)
{
	struct tpg_params p;
	struct dbq	*s;
	int		 i, rc;

	if (!t->pg_stale)
		return;
	memset(&p, 0, sizeof p);
	tpg_exec(t, "BEGIN");
	tpg_exec(t, "DELETE FROM records");
	s = db_prepare(t->db, "SELECT id, collection_id, fields, created_at,"
	    " updated_at FROM records");
	ck_assert_ptr_nonnull(s);
	while ((rc = dbq_step(s)) == DB_ROW) {
		for (i = 0; i < 5; i++)
			tpg_param(&p, 0, xstrdup(dbq_text(s, i)));
		PQclear(tpg_run(t, "INSERT INTO records VALUES (?, ?::int8, ?, "
		    "?, ?)", &p));
	}
	ck_assert_int_eq(rc, DB_DONE);
	dbq_finalize(s);
	tpg_exec(t, "COMMIT");
	tpg_exec(t, "ANALYZE records");
	t->pg_stale = 0;
}

/* tdb_ids on PostgreSQL. */
static char *
tpg_ids(struct tdb *t, const struct filter_sql *where,
    const struct filter_sql *order)
{
	struct evbuffer	*b = evbuffer_new();
	struct tpg_params p;
	PGresult	*res;
	char		*sql;
	int		 i;

	tpg_sync(t);
	memset(&p, 0, sizeof p);
	xasprintf(&sql, "SELECT id FROM records WHERE collection_id = ? AND"
	    " (%s) ORDER BY %s", where != NULL ? where->sql_pg : "TRUE",
	    order != NULL ? order->sql_pg : "id COLLATE \"C\"");
	tpg_int(&p, t->coll);
	if (where != NULL)
		tpg_filter(&p, where);
	if (order != NULL)
		tpg_filter(&p, order);
	res = tpg_run(t, sql, &p);
	for (i = 0; i < PQntuples(res); i++)
		evbuffer_add_printf(b, "%s\n", PQgetvalue(res, i, 0));
	PQclear(res);
	free(sql);
	return (buf_string(b));
}
#else
static void
tpg_open(struct tdb *t)
{
	const char	*url = getenv("BASALT_TEST_PG");

	t->pg = NULL;
	ck_assert_msg(url == NULL || *url == '\0', "BASALT_TEST_PG is set, "
	    "but this build has no PostgreSQL (libpq)");
}

static void
tpg_close(struct tdb *t)
{
	(void)t;
}

static char *
tpg_ids(struct tdb *t, const struct filter_sql *where,
    const struct filter_sql *order)
{
	(void)t;
	(void)where;
	(void)order;
	return (xstrdup(""));
}
#endif

/* The ids that SELECT selects with where and order, one per line. */
static char *
tdb_ids(struct tdb *t, const struct filter_sql *where,
    const struct filter_sql *order)
{
	struct evbuffer	*b = evbuffer_new();
	struct dbq	*s;
	char		*sql, *ids, *pg;
	int		 next, rc;

	xasprintf(&sql, "SELECT id FROM records WHERE collection_id = ? AND"
	    " (%s) ORDER BY %s", where != NULL ? where->sql : "1",
	    order != NULL ? order->sql : "id");
	s = db_prepare(t->db, sql);
	ck_assert_msg(s != NULL, "%s: %s", sql, db_errmsg(t->db));
	dbq_bind_int64(s, 1, t->coll);
	next = 2;
	if (where != NULL)
		ck_assert_int_ne(next = filter_sql_bind(where, s, next), -1);
	if (order != NULL)
		ck_assert_int_ne(filter_sql_bind(order, s, next), -1);
	while ((rc = dbq_step(s)) == DB_ROW)
		evbuffer_add_printf(b, "%s\n", dbq_text(s, 0));
	ck_assert_msg(rc == DB_DONE, "%s: %s", sql, db_errmsg(t->db));
	dbq_finalize(s);
	free(sql);
	ids = buf_string(b);
	/* PostgreSQL selects the same, in the same order. */
	if (t->pg != NULL) {
		pg = tpg_ids(t, where, order);
		ck_assert_msg(strcmp(ids, pg) == 0, "PostgreSQL: %s\n%s",
		    where != NULL ? where->sql_pg : "",
		    order != NULL ? order->sql_pg : "");
		free(pg);
	}
	return (ids);
}

static const char filter_record[] = "{\"s\":\"Hello World\",\"n\":5,"
    "\"f\":1.5,\"t\":true,\"fa\":false,\"z\":null,"
    "\"arr\":[1,\"x\",true,null],\"obj\":{\"a\":{\"b\":\"deep\"}},"
    "\"x y\":{\"k.1\":\"v\"},\"big\":9007199254740993,\"e\":\"\xc3\x89\","
    "\"emoji\":\"\xf0\x9f\x98\x80\",\"tags\":[\"red\",\"blue\"],"
    "\"nul\":\"ab\\u0000cd\",\"it's\":{\"\\\\\":1},\"\":\"empty\"}";
#define FILTER_ID	"01JAAAAAAAAAAAAAAAAAAAAAAA"

/* Each operator, in memory and in SQL, on filter_record. */
static const struct {
	const char	*text;
	int		 match;
} filter_meanings[] = {
	{ "fields.s = \"Hello World\"", 1 },
	{ "fields.s = \"hello world\"", 0 },
	{ "fields.s != \"x\"", 1 },
	{ "fields.s ~ \"WORLD\"", 1 },
	{ "fields.s ~ \"lo w\"", 1 },
	{ "fields.s ~ \"\"", 1 },
	{ "fields.s ~ \"worlds\"", 0 },
	{ "fields.s !~ \"world\"", 0 },
	{ "fields.s !~ \"x\"", 1 },
	{ "fields.n ~ \"5\"", 0 },
	{ "fields.n !~ \"5\"", 1 },
	{ "fields.missing ~ \"\"", 0 },
	{ "fields.missing !~ \"a\"", 1 },
	{ "fields.e ~ \"\xc3\xa9\"", 0 },	/* only ASCII letters fold */
	{ "fields.e ~ \"\xc3\x89\"", 1 },
	{ "fields.e = \"\\u00c9\"", 1 },
	{ "fields.emoji = \"\\ud83d\\ude00\"", 1 },
	{ "fields.emoji = '\xf0\x9f\x98\x80'", 1 },
	{ "fields.n = 5", 1 },
	{ "fields.n = 5.0", 1 },
	{ "fields.n = 5e0", 1 },
	{ "fields.n = \"5\"", 0 },
	{ "fields.n != \"5\"", 1 },
	{ "fields.n > 4.5", 1 },
	{ "fields.n >= 5", 1 },
	{ "fields.n <= 5", 1 },
	{ "fields.n < 5", 0 },
	{ "fields.n < \"6\"", 0 },
	{ "fields.n > \"6\"", 0 },
	{ "fields.n < true", 0 },
	{ "fields.n > null", 0 },
	{ "fields.s > 1", 0 },
	{ "fields.s < 1", 0 },
	{ "fields.s > \"Hello\"", 1 },
	{ "fields.s < \"hello\"", 1 },	/* bytes: H before h */
	{ "fields.f = 1.5", 1 },
	{ "fields.f = 15e-1", 1 },
	{ "fields.f > -1e400", 1 },
	{ "fields.t = true", 1 },
	{ "fields.t = 1", 0 },
	{ "fields.t != 1", 1 },
	{ "fields.t > false", 1 },
	{ "fields.t >= true", 1 },
	{ "fields.t < true", 0 },
	{ "fields.fa < true", 1 },
	{ "fields.fa = 0", 0 },
	{ "fields.fa = null", 0 },
	{ "fields.z = null", 1 },
	{ "fields.z = false", 0 },
	{ "fields.z <= null", 1 },
	{ "fields.z >= null", 1 },
	{ "fields.z < null", 0 },
	{ "fields.z != null", 0 },
	{ "fields.missing = null", 1 },
	{ "fields.missing != null", 0 },
	{ "fields.missing < 1", 0 },
	{ "fields.missing >= 1", 0 },
	{ "fields.s != null", 1 },
	{ "fields.arr ?= \"x\"", 1 },
	{ "fields.arr ?= 1", 1 },
	{ "fields.arr ?= 1.0", 1 },
	{ "fields.arr ?= true", 1 },
	{ "fields.arr ?= false", 0 },
	{ "fields.arr ?= null", 1 },
	{ "fields.arr ?= \"1\"", 0 },
	{ "fields.tags ?= \"red\"", 1 },
	{ "fields.tags ?= \"RED\"", 0 },
	{ "fields.s ?= \"Hello World\"", 0 },
	{ "fields.obj ?= \"a\"", 0 },
	{ "fields.missing ?= null", 0 },
	{ "id ?= \"x\"", 0 },
	{ "fields.arr = null", 0 },
	{ "fields.arr != null", 1 },
	{ "fields.arr > \"\"", 0 },
	{ "fields.arr = \"[1,\\\"x\\\",true,null]\"", 0 },
	{ "fields.obj = \"{\\\"a\\\":{\\\"b\\\":\\\"deep\\\"}}\"", 0 },
	{ "fields.obj.a.b = \"deep\"", 1 },
	{ "fields[\"obj\"]['a'].b = 'deep'", 1 },
	{ "fields.obj.a = \"deep\"", 0 },
	{ "fields.obj.a.b.c = null", 1 },
	{ "fields.s.length = null", 1 },
	{ "fields.arr.0 = null", 1 },
	{ "fields[\"x y\"][\"k.1\"] = \"v\"", 1 },
	{ "fields[\"x y\"].k = null", 1 },
	{ "fields[\"it's\"][\"\\\\\"] = 1", 1 },
	{ "fields[\"\"] = \"empty\"", 1 },
	{ "fields.big = 9007199254740992", 1 },	/* doubles past 2^53 */
	{ "fields.big = 9007199254740993", 1 },
	{ "fields.big > 9007199254740992", 0 },
	{ "fields.nul = \"ab\"", 1 },		/* strings end at U+0000 */
	{ "fields.n in (1, 2, 5)", 1 },
	{ "fields.n in (\"5\", true, null)", 0 },
	{ "fields.z in (\"5\", true, null)", 1 },
	{ "fields.missing in (null)", 1 },
	{ "fields.s in ('a', 'Hello World')", 1 },
	{ "fields.t in (false)", 0 },
	{ "fields.t in (false, true)", 1 },
	{ "fields.f in (1, 1.5)", 1 },
	{ "id = \"" FILTER_ID "\"", 1 },
	{ "id > \"01J\"", 1 },
	{ "id < \"01J\"", 0 },
	{ "id = 5", 0 },
	{ "id != null", 1 },
	{ "id ~ \"jaa\"", 1 },
	{ "id in (1, null, \"" FILTER_ID "\")", 1 },
	{ "created_at < \"2026-01-02\"", 1 },
	{ "created_at = \"2026-01-01T00:00:00.000Z\"", 1 },
	{ "updated_at >= \"2026-02-01T00:00:00.000Z\"", 1 },
	{ "updated_at > \"2026-02-01T00:00:00.000Z\"", 0 },
	{ "fields.s = 'Hello World' && fields.n = 5", 1 },
	{ "fields.s = 'x' && fields.n = 5", 0 },
	{ "fields.s = 'x' || fields.n = 5", 1 },
	{ "!(fields.n = 5)", 0 },
	{ "!fields.n = 5", 0 },
	{ "!!fields.n = 5", 1 },
	{ "!fields.n = 4 && fields.t = true", 1 },
	{ "fields.n = 5 || fields.n = 1 && fields.t = false", 1 },
	{ "(fields.n = 5 || fields.n = 1) && fields.t = false", 0 },
	{ "fields.t = false && fields.n = 1 || fields.n = 5", 1 },
	{ "fields.t = false && (fields.n = 1 || fields.n = 5)", 0 },
	{ "fields.n=5&&fields.t=true", 1 },
};

START_TEST(test_filter_meaning)
{
	struct tdb	 t;
	struct filter	*f;
	struct filter_sql w;
	struct filter_rec r;
	json_object	*fields, *rec;
	char		*ids, *text;
	size_t		 i;
	int		 sql;

	tdb_open(&t);
	tdb_insert(&t, FILTER_ID, filter_record, "2026-01-01T00:00:00.000Z",
	    "2026-02-01T00:00:00.000Z");
	ck_assert_int_eq(jsonutil_parse_depth(filter_record,
	    strlen(filter_record), MAX_JSON_DEPTH, &fields), 0);
	/* As a stream sees the record: an event's data. */
	xasprintf(&text, "{\"id\":\"%s\",\"collection\":\"c\",\"fields\":%s,"
	    "\"created_at\":\"2026-01-01T00:00:00.000Z\","
	    "\"updated_at\":\"2026-02-01T00:00:00.000Z\"}", FILTER_ID,
	    jsonutil_string(fields));
	json_object_put(fields);
	ck_assert_ptr_nonnull(rec = jsonutil_parse(text, strlen(text)));
	ck_assert_int_eq(filter_rec_json(rec, &r), 0);
	for (i = 0; i < sizeof filter_meanings / sizeof filter_meanings[0];
	    i++) {
		f = filter_ok(filter_meanings[i].text);
		filter_sql(f, &w);
		ids = tdb_ids(&t, &w, NULL);
		sql = strcmp(ids, FILTER_ID "\n") == 0;
		ck_assert_msg(sql || *ids == '\0', "%s", ids);
		ck_assert_msg(filter_match(f, &r) == filter_meanings[i].match,
		    "in memory: %s", filter_meanings[i].text);
		ck_assert_msg(sql == filter_meanings[i].match,
		    "in SQL: %s\n%s", filter_meanings[i].text, w.sql);
		free(ids);
		filter_sql_free(&w);
		filter_free(f);
	}
	json_object_put(rec);
	free(text);

	/* What is not a record. */
	rec = jsonutil_parse("{\"id\":\"x\",\"collection\":\"c\"}", 27);
	ck_assert_int_eq(filter_rec_json(rec, &r), -1);
	json_object_put(rec);
	tdb_close(&t);
}
END_TEST

/*
 * The agreement of the two back ends: random records with every JSON type
 * (missing keys, nesting, keys SQL paths must quote, Unicode) in a real
 * database, random filters and sorts. The seed is fixed (13, or
 * BASALT_FILTER_SEED) and every failure names it.
 */
#define AGREE_RECORDS	1000
#define AGREE_FILTERS	1000
#define AGREE_SORTS	60
#define AGREE_CURSORS	3
#define AGREE_BATCH	50	/* filters per SELECT */

static uint64_t	 agree_state;
static unsigned long long agree_seed;

static int
rn(int n)
{
	agree_state ^= agree_state << 13;
	agree_state ^= agree_state >> 7;
	agree_state ^= agree_state << 17;
	return ((int)((agree_state >> 16) % (uint64_t)n));
}

#define PICK(a)	(a)[rn(sizeof (a) / sizeof (a)[0])]

static const char *const agree_keys[] = { "a", "b", "n", "s", "tags",
    "x y", "\xc3\xa9", "a.b", "", "it's", "back\\slash", "[0]", "tab\t",
    "$" };
static const char *const agree_numbers[] = { "0", "-0", "1", "-1", "2",
    "1.5", "-2.25", "10", "1e1", "100", "0.1", "3.14159", "1e400",
    "-1e400", "9007199254740992", "9007199254740993",
    "18446744073709551615", "-9223372036854775808", "123456789" };
static const char *const agree_strings[] = { "", "a", "A", "ab", "abc",
    "ABC", "Abc def", "b", "x y", "\xc3\xa9", "\xc3\x89",
    "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80", "stra\xc3\x9f" "e",
    "STRASSE", "null", "true", "1", "[1]", "a\"b", "it's", "back\\slash",
    "line\nbreak", "\x01", "zz", "Hello World", "STR", "wor" };

struct trec {
	char		 id[ULID_LEN + 1];
	char		 created[TIMESTAMP_LEN + 1];
	char		 updated[TIMESTAMP_LEN + 1];
	json_object	*fields;
	struct filter_rec r;
};

static json_object *
agree_value(int depth)
{
	json_object	*o;
	const char	*s;
	int		 i, n;

	switch (rn(depth < 2 ? 9 : 6)) {
	case 0:
		return (NULL);
	case 1:
		return (json_object_new_boolean(rn(2)));
	case 2:
	case 3:
		s = PICK(agree_numbers);
		return (jsonutil_parse(s, strlen(s)));
	case 4:
	case 5:
		return (json_object_new_string(PICK(agree_strings)));
	case 6:
	case 7:
		o = json_object_new_array();
		for (i = 0, n = rn(4); i < n; i++)
			json_object_array_add(o, agree_value(depth + 1));
		return (o);
	default:
		o = json_object_new_object();
		for (i = 0, n = rn(4); i < n; i++)
			json_object_object_add(o, PICK(agree_keys),
			    agree_value(depth + 1));
		return (o);
	}
}

/* n records, stored and as a stream would see them, in id order. */
static struct trec *
agree_records(struct tdb *t, int n)
{
	struct trec	*recs = xcalloc(n, sizeof *recs);
	json_object	*o;
	char		*text;
	size_t		 k;
	int		 i;

	ck_assert_int_eq(store_begin(t->st), STORE_OK);
	for (i = 0; i < n; i++) {
		ulid_new(recs[i].id);
		snprintf(recs[i].created, sizeof recs[i].created,
		    "2026-01-%02dT00:00:00.000Z", 1 + rn(20));
		snprintf(recs[i].updated, sizeof recs[i].updated,
		    "2026-02-%02dT00:00:00.000Z", 1 + rn(20));
		o = json_object_new_object();
		for (k = 0; k < sizeof agree_keys / sizeof agree_keys[0]; k++)
			if (rn(2))
				json_object_object_add(o, agree_keys[k],
				    agree_value(0));
		text = xstrdup(jsonutil_string(o));
		json_object_put(o);
		tdb_insert(t, recs[i].id, text, recs[i].created,
		    recs[i].updated);
		ck_assert_int_eq(jsonutil_parse_depth(text, strlen(text),
		    MAX_JSON_DEPTH, &recs[i].fields), 0);
		free(text);
		recs[i].r.id = recs[i].id;
		recs[i].r.created_at = recs[i].created;
		recs[i].r.updated_at = recs[i].updated;
		recs[i].r.fields = recs[i].fields;
	}
	ck_assert_int_eq(store_commit(t->st), STORE_OK);
	return (recs);
}

static void
gen_quoted(struct evbuffer *b, const char *s)
{
	char	 q = rn(2) ? '"' : '\'';

	evbuffer_add(b, &q, 1);
	for (; *s != '\0'; s++) {
		if (*s == q || *s == '\\')
			evbuffer_add_printf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			evbuffer_add_printf(b, "\\u%04x", *s);
		else
			evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, &q, 1);
}

/* An operand; *col is 0, 1 or 2 for id, created_at, updated_at, else
 * -1. */
static void
gen_operand(struct evbuffer *b, int *col)
{
	static const char *const cols[] = { "id", "created_at",
	    "updated_at" };
	const char	*key;
	int		 i, n, plain;

	if ((*col = rn(16)) < 3) {
		evbuffer_add_printf(b, "%s", cols[*col]);
		return;
	}
	*col = -1;
	evbuffer_add_printf(b, "fields");
	n = 1 + (rn(10) < 3) + (rn(10) < 1);
	for (i = 0; i < n; i++) {
		key = PICK(agree_keys);
		plain = *key != '\0' && strspn(key, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(key);
		if (plain && rn(4) != 0)
			evbuffer_add_printf(b, ".%s", key);
		else {
			evbuffer_add_printf(b, "[");
			gen_quoted(b, key);
			evbuffer_add_printf(b, "]");
		}
	}
}

static void
gen_literal(struct evbuffer *b, const struct trec *recs, int col,
    int string)
{
	const struct trec *r = &recs[rn(AGREE_RECORDS)];
	int		 k = rn(20);

	if (col >= 0 && k < 12)
		gen_quoted(b, col == 0 ? r->id : col == 1 ? r->created :
		    r->updated);
	else if (string || k < 8)
		gen_quoted(b, PICK(agree_strings));
	else if (k < 14)
		evbuffer_add_printf(b, "%s", PICK(agree_numbers));
	else if (k < 17)
		evbuffer_add_printf(b, "%s", rn(2) ? "true" : "false");
	else
		evbuffer_add_printf(b, "null");
}

static void
gen_compare(struct evbuffer *b, const struct trec *recs)
{
	static const char *const ops[] = { "=", "!=", "<", "<=", ">", ">=",
	    "~", "!~", "?=", "in" };
	const char	*sp = rn(3) ? " " : "";
	int		 col, op = rn(10), i, n;

	gen_operand(b, &col);
	evbuffer_add_printf(b, "%s%s%s", op == 9 ? " " : sp, ops[op], sp);
	if (op != 9) {
		gen_literal(b, recs, col, op == 6 || op == 7);
		return;
	}
	evbuffer_add_printf(b, "(");
	for (i = 0, n = 1 + rn(4); i < n; i++) {
		if (i > 0)
			evbuffer_add_printf(b, ", ");
		gen_literal(b, recs, col, 0);
	}
	evbuffer_add_printf(b, ")");
}

static void
gen_expr(struct evbuffer *b, const struct trec *recs, int depth)
{
	int	 k = depth < 3 ? rn(10) : 9;

	if (k < 2) {
		evbuffer_add_printf(b, "(");
		gen_expr(b, recs, depth + 1);
		evbuffer_add_printf(b, rn(2) ? " && " : " || ");
		gen_expr(b, recs, depth + 1);
		evbuffer_add_printf(b, ")");
	} else if (k < 4) {
		gen_expr(b, recs, depth + 1);
		evbuffer_add_printf(b, rn(2) ? " && " : " || ");
		gen_expr(b, recs, depth + 1);
		evbuffer_add_printf(b, rn(2) ? " && " : " || ");
		gen_expr(b, recs, depth + 1);
	} else if (k < 5) {
		evbuffer_add_printf(b, "!");
		gen_expr(b, recs, depth + 1);
	} else
		gen_compare(b, recs);
}

static const struct filter_sort *agree_sort;
static const struct trec *agree_recs;

static int
agree_cmp(const void *a, const void *b)
{
	return (filter_sort_cmp(agree_sort, &agree_recs[*(const int *)a].r,
	    &agree_recs[*(const int *)b].r));
}

/* The records of recs (n) in the sort s, in memory, one id per line;
 * their indexes in idx. */
static char *
sorted_ids(const struct filter_sort *s, const struct trec *recs, int n,
    int *idx)
{
	struct evbuffer	*b = evbuffer_new();
	int		 k;

	for (k = 0; k < n; k++)
		idx[k] = k;
	agree_sort = s;
	agree_recs = recs;
	qsort(idx, n, sizeof idx[0], agree_cmp);
	for (k = 0; k < n; k++)
		evbuffer_add_printf(b, "%s\n", recs[idx[k]].id);
	return (buf_string(b));
}

/* (a) AND (b), with the values of both. */
static void
sql_and(const struct filter_sql *a, const struct filter_sql *b,
    struct filter_sql *out)
{
	size_t	 i;

	xasprintf(&out->sql, "(%s) AND (%s)", a->sql, b->sql);
	xasprintf(&out->sql_pg, "(%s) AND (%s)", a->sql_pg, b->sql_pg);
	out->nbinds = a->nbinds + b->nbinds;
	out->binds = xcalloc(out->nbinds + 1, sizeof *out->binds);
	for (i = 0; i < out->nbinds; i++) {
		out->binds[i] = i < a->nbinds ? a->binds[i] :
		    b->binds[i - a->nbinds];
		if (out->binds[i].text != NULL)
			out->binds[i].text = xstrdup(out->binds[i].text);
	}
}

/* The bands of what follows key, one after the other, are what after
 * selects (ids). */
static void
check_bands(struct tdb *t, const struct filter_sort *s, json_object *key,
    const char *ids, const struct filter_sql *after)
{
	struct filter_band bands[2];
	struct filter_sql w;
	char		*b0, *b1, *both;
	int		 i;

	if (filter_sort_after_bands(s, key, bands) == 0)
		return;
	for (i = 0; i < 2; i++) {
		sql_and(after, &bands[i].where, &w);
		if (i == 0)
			b0 = tdb_ids(t, &w, &bands[i].order);
		else
			b1 = tdb_ids(t, &w, &bands[i].order);
		filter_sql_free(&w);
		filter_sql_free(&bands[i].where);
		filter_sql_free(&bands[i].order);
	}
	xasprintf(&both, "%s%s", b0, b1);
	ck_assert_msg(strcmp(both, ids) == 0, "seed %llu: bands of %s",
	    agree_seed, after->sql);
	free(both);
	free(b0);
	free(b1);
}

/* Whether SQL selects what follows record idx[p] of the sorted ids,
 * with the cursor made of its values and sent through JSON text. */
static void
check_after(struct tdb *t, const struct filter_sort *s,
    const struct filter_sql *order, const struct trec *rec,
    const char *sorted, int p, const char *what)
{
	struct filter_sql after;
	struct error	 e;
	json_object	*key;
	char		*text, *ids;

	key = filter_sort_key(s, &rec->r);
	text = xstrdup(jsonutil_string(key));
	json_object_put(key);
	ck_assert_int_eq(jsonutil_parse_depth(text, strlen(text),
	    MAX_JSON_DEPTH, &key), 0);
	ck_assert_int_eq(filter_sort_after_sql(s, key, &after, &e), 0);
	ids = tdb_ids(t, &after, order);
	ck_assert_msg(strcmp(ids, sorted + (size_t)(p + 1) *
	    (ULID_LEN + 1)) == 0, "seed %llu, sort %s, after %s\n%s",
	    agree_seed, what, text, after.sql);
	check_bands(t, s, key, ids, &after);
	free(ids);
	free(text);
	json_object_put(key);
	filter_sql_free(&after);
}

static void
agree_sorts(struct tdb *t, const struct trec *recs)
{
	struct filter_sort *s;
	struct filter_sql order;
	struct evbuffer	*b;
	struct error	 e;
	char		*text, *ids, *mem;
	int		*idx = xcalloc(AGREE_RECORDS, sizeof *idx);
	int		 i, k, n, col;

	for (i = 0; i < AGREE_SORTS; i++) {
		b = evbuffer_new();
		for (k = 0, n = 1 + rn(3); k < n; k++) {
			evbuffer_add_printf(b, "%s%s", k > 0 ? "," : "",
			    rn(2) ? "-" : "");
			gen_operand(b, &col);
		}
		text = buf_string(b);
		ck_assert_msg(filter_sort_parse(text, &s, &e) == 0, "%s: %s",
		    text, e.message);
		filter_sort_sql(s, &order);
		ids = tdb_ids(t, NULL, &order);
		mem = sorted_ids(s, recs, AGREE_RECORDS, idx);
		ck_assert_msg(strcmp(ids, mem) == 0, "seed %llu, sort %d: "
		    "%s\n%s", agree_seed, i, text, order.sql);
		for (k = 0; k < AGREE_CURSORS; k++) {
			n = rn(AGREE_RECORDS);
			check_after(t, s, &order, &recs[idx[n]], mem, n, text);
		}
		free(mem);
		free(ids);
		filter_sql_free(&order);
		filter_sort_free(s);
		free(text);
	}
	free(idx);
}

#ifdef HAVE_LIBPQ
/* agree_batch on PostgreSQL: each filter a column, true or false. */
static void
agree_batch_pg(struct tdb *t, const struct trec *recs, struct filter **f,
    struct filter_sql *w, char **text, int n, int first)
{
	struct evbuffer	*b = evbuffer_new();
	struct tpg_params p;
	PGresult	*res;
	const char	*v;
	char		*sql;
	int		 i, k;

	tpg_sync(t);
	memset(&p, 0, sizeof p);
	evbuffer_add_printf(b, "SELECT id");
	for (i = 0; i < n; i++) {
		evbuffer_add_printf(b, ", %s", w[i].sql_pg);
		tpg_filter(&p, &w[i]);
	}
	evbuffer_add_printf(b, " FROM records WHERE collection_id = ? "
	    "ORDER BY id COLLATE \"C\"");
	tpg_int(&p, t->coll);
	sql = buf_string(b);
	res = tpg_run(t, sql, &p);
	ck_assert_int_eq(PQntuples(res), AGREE_RECORDS);
	for (k = 0; k < AGREE_RECORDS; k++) {
		if (strcmp(PQgetvalue(res, k, 0), recs[k].id) != 0)
			ck_abort_msg("record %d is not %s", k, recs[k].id);
		for (i = 0; i < n; i++) {
			v = PQgetisnull(res, k, i + 1) ? "null" :
			    PQgetvalue(res, k, i + 1);
			if (strcmp(v, filter_match(f[i], &recs[k].r) ? "t" :
			    "f") != 0)
				ck_abort_msg("seed %llu, filter %d: %s\n"
				    "record %s: PostgreSQL %s\n%s", agree_seed,
				    first + i, text[i], recs[k].id, v,
				    w[i].sql_pg);
		}
	}
	PQclear(res);
	free(sql);
}
#else
static void
agree_batch_pg(struct tdb *t, const struct trec *recs, struct filter **f,
    struct filter_sql *w, char **text, int n, int first)
{
	(void)t, (void)recs, (void)f, (void)w, (void)text, (void)n,
	    (void)first;
}
#endif

/* A batch of filters as one SELECT, each a column that must be 0 or 1:
 * SQLite then parses each record's JSON once for all of them. Every
 * row must agree with filter_match; the batch's first filter also runs
 * as a WHERE. Returns how many filters selected some records, not all. */
static int
agree_batch(struct tdb *t, const struct trec *recs, struct filter **f,
    struct filter_sql *w, char **text, int n, int first)
{
	struct evbuffer	*b = evbuffer_new();
	struct dbq	*s;
	char		*sql, *ids, *mem;
	int		 i, k = 0, next = 1, rc, v, count[AGREE_BATCH] = { 0 };
	int		 some = 0;

	evbuffer_add_printf(b, "SELECT id");
	for (i = 0; i < n; i++)
		evbuffer_add_printf(b, ", %s", w[i].sql);
	evbuffer_add_printf(b, " FROM records WHERE collection_id = ? "
	    "ORDER BY id");
	sql = buf_string(b);
	ck_assert_msg((s = db_prepare(t->db, sql)) != NULL, "seed %llu: %s",
	    agree_seed, db_errmsg(t->db));
	for (i = 0; i < n; i++)	/* the columns' values come first */
		ck_assert_int_ne(next = filter_sql_bind(&w[i], s, next), -1);
	dbq_bind_int64(s, next, t->coll);
	/* No ck_assert per value: each one costs a write to a pipe. */
	while ((rc = dbq_step(s)) == DB_ROW && k < AGREE_RECORDS) {
		if (strcmp(dbq_text(s, 0), recs[k].id) != 0)
			ck_abort_msg("record %d is not %s", k, recs[k].id);
		for (i = 0; i < n; i++) {
			v = dbq_null(s, i + 1) ? -1 :
			    (int)dbq_int64(s, i + 1);
			if (v != filter_match(f[i], &recs[k].r))
				ck_abort_msg("seed %llu, filter %d: %s\n"
				    "record %s: SQL %d\n%s", agree_seed,
				    first + i, text[i], recs[k].id, v,
				    w[i].sql);
			count[i] += v;
		}
		k++;
	}
	ck_assert_int_eq(rc, DB_DONE);
	ck_assert_int_eq(k, AGREE_RECORDS);
	dbq_finalize(s);
	free(sql);
	for (i = 0; i < n; i++)
		some += count[i] > 0 && count[i] < AGREE_RECORDS;
	if (t->pg != NULL)
		agree_batch_pg(t, recs, f, w, text, n, first);

	ids = tdb_ids(t, &w[0], NULL);
	b = evbuffer_new();
	for (k = 0; k < AGREE_RECORDS; k++)
		if (filter_match(f[0], &recs[k].r))
			evbuffer_add_printf(b, "%s\n", recs[k].id);
	mem = buf_string(b);
	ck_assert_msg(strcmp(ids, mem) == 0, "seed %llu, filter %d: %s",
	    agree_seed, first, text[0]);
	free(mem);
	free(ids);
	return (some);
}

/* f written by filter_text and read back (f is freed): the text of the
 * result is the same. */
static struct filter *
text_again(struct filter *f)
{
	struct filter	*g;
	char		*t, *u;

	t = filter_text(f);
	filter_free(f);
	g = filter_ok(t);
	u = filter_text(g);
	ck_assert_str_eq(t, u);
	free(t);
	free(u);
	return (g);
}

START_TEST(test_filter_agree)
{
	struct tdb	 t;
	struct trec	*recs;
	struct filter	*f[AGREE_BATCH];
	struct filter_sql w[AGREE_BATCH];
	char		*text[AGREE_BATCH];
	struct evbuffer	*b;
	const char	*env = getenv("BASALT_FILTER_SEED");
	int		 i, k, n, some = 0;

	agree_seed = env != NULL ? strtoull(env, NULL, 10) : 13;
	agree_state = agree_seed * 0x9e3779b97f4a7c15ULL + 1;
	tdb_open(&t);
	recs = agree_records(&t, AGREE_RECORDS);
	for (i = 0; i < AGREE_FILTERS; i += n) {
		n = AGREE_FILTERS - i < AGREE_BATCH ? AGREE_FILTERS - i :
		    AGREE_BATCH;
		for (k = 0; k < n; k++) {
			b = evbuffer_new();
			gen_expr(b, recs, 0);
			text[k] = buf_string(b);
			f[k] = filter_ok(text[k]);
			filter_sql(f[k], &w[k]);
			/* Matched in memory as its text reads back. */
			f[k] = text_again(f[k]);
		}
		some += agree_batch(&t, recs, f, w, text, n, i);
		for (k = 0; k < n; k++) {
			filter_sql_free(&w[k]);
			filter_free(f[k]);
			free(text[k]);
		}
	}
	/* Most filters select some records, not all. */
	ck_assert_msg(some > AGREE_FILTERS / 4, "%d of %d", some,
	    AGREE_FILTERS);
	agree_sorts(&t, recs);
	for (i = 0; i < AGREE_RECORDS; i++)
		json_object_put(recs[i].fields);
	free(recs);
	tdb_close(&t);
}
END_TEST

/* The fan-out index: a filter's top-level equality term, and the key
 * of a record's value at its path. */
static const struct {
	const char	*text;
	const char	*path;		/* NULL: no term */
	const char	*key;
} index_terms[] = {
	{ "fields.room = \"r17\"", "\"room\"", "sr17" },
	{ "fields.n >= 2 && fields.a.b = 1.0 && fields.c = 3", "\"a\".\"b\"",
	    "d1" },
	{ "fields[\"a.b c\"] = 'x' && id != ''", "\"a.b c\"", "sx" },
	{ "fields.t = true", "\"t\"", "b1" },
	{ "fields.t = false", "\"t\"", "b0" },
	{ "fields.x = null && fields.y != 1", "\"x\"", "n" },
	{ "fields.x = -0", "\"x\"", "d0" },
	{ "fields.x = 1 || fields.y = 2", NULL, NULL },
	{ "id = \"01J00000000000000000000000\"", NULL, NULL },
	{ "!(fields.a = 1)", NULL, NULL },
	{ "fields.a != 1 && fields.b > 1", NULL, NULL },
	{ "(fields.a = 1 && fields.b = 2) && fields.c = 3", "\"c\"", "d3" },
	{ "fields.tags ?= \"x\"", NULL, NULL },
};

/* Record fields and the key of their value at path "a". */
static const struct {
	const char	*fields;
	const char	*key;
} index_values[] = {
	{ "{}", "n" }, { "{\"a\":null}", "n" }, { "{\"a\":1}", "d1" },
	{ "{\"a\":1.0}", "d1" }, { "{\"a\":-0.0}", "d0" },
	{ "{\"a\":\"r1\"}", "sr1" }, { "{\"a\":[\"r1\"]}", "a" },
	{ "{\"a\":{\"b\":1}}", "o" }, { "{\"a\":false}", "b0" },
};

START_TEST(test_filter_index)
{
	struct filter_path *fp;
	struct filter_rec r;
	struct filter	*f;
	json_object	*fields;
	char		*key, *k2;
	size_t		 i;
	int		 rc;

	for (i = 0; i < sizeof index_terms / sizeof index_terms[0]; i++) {
		f = filter_ok(index_terms[i].text);
		rc = filter_index_term(f, &fp, &key);
		ck_assert_msg(rc == (index_terms[i].path != NULL ? 0 : -1),
		    "%s", index_terms[i].text);
		if (rc == 0) {
			ck_assert_str_eq(filter_path_text(fp),
			    index_terms[i].path);
			ck_assert_str_eq(key, index_terms[i].key);
			filter_path_free(fp);
			free(key);
		}
		filter_free(f);
	}
	f = filter_ok("fields.a = 0");
	ck_assert_int_eq(filter_index_term(f, &fp, &key), 0);
	free(key);
	memset(&r, 0, sizeof r);
	r.id = r.created_at = r.updated_at = "";
	for (i = 0; i < sizeof index_values / sizeof index_values[0]; i++) {
		fields = jsonutil_parse(index_values[i].fields,
		    strlen(index_values[i].fields));
		r.fields = fields;
		k2 = filter_path_key(fp, &r);
		ck_assert_msg(strcmp(k2, index_values[i].key) == 0, "%s: %s",
		    index_values[i].fields, k2);
		free(k2);
		json_object_put(fields);
	}
	filter_path_free(fp);
	filter_free(f);
}
END_TEST

/* Random filters with a top-level equality term, on the random records:
 * every record a filter selects has the term's key at its path, so the
 * broker, which offers a write only to the streams of its record's keys,
 * misses none. */
START_TEST(test_filter_index_sound)
{
	struct tdb	 t;
	struct trec	*recs;
	struct filter_path *fp;
	struct filter	*f;
	struct evbuffer	*b;
	char		*text, *key, *k2;
	int		 i, k, col, indexed = 0, selected = 0;

	agree_state = 7 * 0x9e3779b97f4a7c15ULL + 1;
	tdb_open(&t);
	recs = agree_records(&t, AGREE_RECORDS);
	for (i = 0; i < AGREE_FILTERS; i++) {
		b = evbuffer_new();
		if (rn(4) != 0) {
			do {
				evbuffer_drain(b, evbuffer_get_length(b));
				gen_operand(b, &col);
			} while (col != -1);
			evbuffer_add_printf(b, " = ");
			gen_literal(b, recs, -1, 0);
			evbuffer_add_printf(b, " && ");
		}
		gen_expr(b, recs, 0);
		text = buf_string(b);
		f = filter_ok(text);
		if (filter_index_term(f, &fp, &key) == 0) {
			indexed++;
			for (k = 0; k < AGREE_RECORDS; k++) {
				if (!filter_match(f, &recs[k].r))
					continue;
				selected++;
				k2 = filter_path_key(fp, &recs[k].r);
				if (strcmp(k2, key) != 0)
					ck_abort_msg("%s: record %s has %s, "
					    "not %s", text, recs[k].id, k2, key);
				free(k2);
			}
			filter_path_free(fp);
			free(key);
		}
		filter_free(f);
		free(text);
	}
	ck_assert_int_gt(indexed, AGREE_FILTERS / 2);
	ck_assert_int_gt(selected, AGREE_RECORDS);
	for (i = 0; i < AGREE_RECORDS; i++)
		json_object_put(recs[i].fields);
	free(recs);
	tdb_close(&t);
}
END_TEST

/* The one total order, with keyset paging, on one value of each kind. */
static const char *const sort_values[] = { NULL, "null", "false", "true",
    "-1", "2", "1e1", "\"B\"", "\"a\"", "\"\xc3\xa9\"", "[1,2]", "[1]",
    "{\"a\":1}", "{}" };
#define NSORT	(sizeof sort_values / sizeof sort_values[0])

START_TEST(test_filter_sort)
{
	static const struct {
		const char	*text;
		const char	*message;
	} refused[] = {
		{ "", "sort: at 1: expected a field" },
		{ "--id", "sort: at 2: expected a field" },
		{ "fields.a;", "sort: at 9: expected , or the end" },
		{ "fields.a,", "sort: at 10: expected a field" },
		{ "fields.a b", "sort: at 10: expected , or the end" },
		{ "a,b", "sort: at 1: expected a field" },
		{ "id,id,id,id,id,id,id,id,id", "sort: at 25: at most 8 keys" },
		{ "-fields.score,,created_at", "sort: at 15: expected a field" },
	};
	struct tdb	 t;
	struct trec	 recs[NSORT];
	struct filter_sort *s;
	struct filter_sql order;
	struct error	 e;
	json_object	*key;
	char		*ids, *mem, *text;
	int		 idx[NSORT];
	size_t		 i;

	for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		ck_assert_int_eq(filter_sort_parse(refused[i].text, &s, &e),
		    -1);
		ck_assert_int_eq(e.code, ERR_INVALID_PARAMETER);
		ck_assert_str_eq(e.message, refused[i].message);
	}
	ck_assert_int_eq(filter_sort_parse("id,id,id,id,id,id,id,id", &s, &e),
	    0);
	filter_sort_free(s);

	tdb_open(&t);
	memset(recs, 0, sizeof recs);
	for (i = 0; i < NSORT; i++) {
		snprintf(recs[i].id, sizeof recs[i].id,
		    "01JAAAAAAAAAAAAAAAAAAAAA%02zu", i);
		strlcpy_b(recs[i].created, "2026-01-01T00:00:00.000Z",
		    sizeof recs[i].created);
		strlcpy_b(recs[i].updated, recs[i].created,
		    sizeof recs[i].updated);
		xasprintf(&text, "{\"w\":%s%s}", sort_values[i] != NULL ?
		    "1,\"v\":" : "1", sort_values[i] != NULL ? sort_values[i] :
		    "");
		tdb_insert(&t, recs[i].id, text, recs[i].created,
		    recs[i].updated);
		recs[i].fields = jsonutil_parse(text, strlen(text));
		free(text);
		recs[i].r.id = recs[i].id;
		recs[i].r.created_at = recs[i].created;
		recs[i].r.updated_at = recs[i].updated;
		recs[i].r.fields = recs[i].fields;
	}
	/* Ascending: the order above; descending: reversed, but missing
	 * and null are equal and stay in id order. */
	ck_assert_int_eq(filter_sort_parse("fields.v", &s, &e), 0);
	filter_sort_sql(s, &order);
	mem = sorted_ids(s, recs, NSORT, idx);
	for (i = 0; i < NSORT; i++)
		ck_assert_int_eq(idx[i], i);
	ck_assert_str_eq(ids = tdb_ids(&t, NULL, &order), mem);
	for (i = 0; i < NSORT; i++)
		check_after(&t, s, &order, &recs[idx[i]], mem, i, "fields.v");
	free(ids);
	free(mem);
	filter_sql_free(&order);
	filter_sort_free(s);
	ck_assert_int_eq(filter_sort_parse(" -fields.v , fields[\"w\"] ", &s,
	    &e), 0);
	filter_sort_sql(s, &order);
	mem = sorted_ids(s, recs, NSORT, idx);
	for (i = 0; i < NSORT - 2; i++)
		ck_assert_int_eq(idx[i], NSORT - 1 - i);
	ck_assert_int_eq(idx[NSORT - 2], 0);
	ck_assert_int_eq(idx[NSORT - 1], 1);
	ck_assert_str_eq(ids = tdb_ids(&t, NULL, &order), mem);
	for (i = 0; i < NSORT; i++)
		check_after(&t, s, &order, &recs[idx[i]], mem, i, "-fields.v");
	free(ids);
	free(mem);
	filter_sql_free(&order);

	/* A cursor that does not fit the sort. */
	for (i = 0; i < 3; i++) {
		text = i == 0 ? "{}" : i == 1 ? "[1]" : "[1,1,2]";
		ck_assert_ptr_nonnull(key = jsonutil_parse(text, strlen(text)));
		ck_assert_int_eq(filter_sort_after_sql(s, key, &order, &e), -1);
		ck_assert_int_eq(e.code, ERR_INVALID_PARAMETER);
		json_object_put(key);
	}
	filter_sort_free(s);
	for (i = 0; i < NSORT; i++)
		json_object_put(recs[i].fields);
	tdb_close(&t);
}
END_TEST

/*
 * An index on a field serves a filter (=, in, a range) and a sort on it,
 * with its cursor: the query plan of store_record_query's statement names
 * it; without the index, or for another field, it does not.
 */
static char *
plan_of(struct tdb *t, const char *filter, const char *sort,
    const char *after)
{
	struct filter	*f = NULL;
	struct filter_sort *s = NULL;
	struct filter_sql where, order, next;
	struct filter_band bands[2];
	struct error	 e;
	json_object	*key;
	const char	*index;
	char		*plan;
	int		 i, nbands = 0;

	memset(&where, 0, sizeof where);
	memset(&next, 0, sizeof next);
	memset(bands, 0, sizeof bands);
	if (filter != NULL) {
		ck_assert_int_eq(filter_parse(filter, &f, &e), 0);
		filter_sql(f, &where);
	}
	ck_assert_int_eq(filter_sort_parse(sort, &s, &e), 0);
	filter_sort_sql(s, &order);
	if (after != NULL) {
		key = jsonutil_parse(after, strlen(after));
		ck_assert_int_eq(filter_sort_after_sql(s, key, &next, &e), 0);
		nbands = filter_sort_after_bands(s, key, bands);
		json_object_put(key);
	}
	/* The index the list would name (api_records_list). */
	index = (f != NULL && filter_narrows(f, "fields.status")) ||
	    filter_sort_leads(s, "fields.status") ? "fields.status" : NULL;
	ck_assert_int_eq(store_record_plan(t->st, t->coll, index, f != NULL ?
	    &where : NULL, after != NULL ? &next : NULL, nbands > 0 ? bands :
	    NULL, &order, &plan), STORE_OK);
	for (i = 0; i < 2; i++) {
		filter_sql_free(&bands[i].where);
		filter_sql_free(&bands[i].order);
	}
	filter_sql_free(&where);
	filter_sql_free(&order);
	filter_sql_free(&next);
	filter_free(f);
	filter_sort_free(s);
	return (plan);
}

static const struct {
	const char	*filter;
	const char	*sort;
	const char	*after;
	int		 uses;	/* the index on status */
} plan_cases[] = {
	{ "fields.status = \"s3\"", "id", NULL, 1 },
	{ "fields.status in (\"s1\", \"s2\")", "id", NULL, 1 },
	{ "fields.status > 5 && fields.status <= 9", "id", NULL, 1 },
	{ "fields.status = \"s3\" && fields.n > 1", "id", NULL, 1 },
	{ NULL, "fields.status", NULL, 1 },
	{ NULL, "-fields.status", NULL, 1 },
	{ NULL, "fields.status", "[\"s5\","
	    "\"01JAAAAAAAAAAAAAAAAAAAAA50\"]", 1 },
	{ NULL, "-fields.status", "[\"s5\","
	    "\"01JAAAAAAAAAAAAAAAAAAAAA50\"]", 1 },
	{ "fields.n = 3", "id", NULL, 0 },
	{ "fields.status = \"s3\" || fields.n = 3", "id", NULL, 0 },
	{ "fields.status != \"s3\"", "id", NULL, 0 },
	{ NULL, "fields.n", NULL, 0 },
	{ "fields[\"status\"] = 's3'", "id", NULL, 1 },
};

START_TEST(test_filter_plan)
{
	struct tdb	 t;
	struct error	 e;
	char		 id[ULID_LEN + 1], *fields, *exprs, *plan;
	size_t		 i;

	tdb_open(&t);
	for (i = 0; i < 200; i++) {
		snprintf(id, sizeof id, "01JAAAAAAAAAAAAAAAAAAAA%03zu", i);
		xasprintf(&fields, "{\"status\":\"s%zu\",\"n\":%zu}", i % 10,
		    i);
		tdb_insert(&t, id, fields, "2026-01-01T00:00:00.000Z",
		    "2026-01-01T00:00:00.000Z");
		free(fields);
	}
	ck_assert_int_eq(filter_index_exprs("fields.status", &exprs, &e), 0);
	ck_assert_int_eq(store_index_create(t.st, t.coll, "fields.status",
	    exprs, MAX_COLLECTION_INDEXES), STORE_OK);
	ck_assert_int_eq(store_index_create(t.st, t.coll, "fields.status",
	    exprs, MAX_COLLECTION_INDEXES), STORE_EXISTS);
	free(exprs);
	for (i = 0; i < sizeof plan_cases / sizeof plan_cases[0]; i++) {
		plan = plan_of(&t, plan_cases[i].filter, plan_cases[i].sort,
		    plan_cases[i].after);
		ck_assert_msg((strstr(plan, "records_field_1") != NULL) ==
		    plan_cases[i].uses, "%s, sort %s:\n%s", plan_cases[i].filter,
		    plan_cases[i].sort, plan);
		/* A sort the index serves needs no sorting of its own. */
		if (plan_cases[i].uses && plan_cases[i].filter == NULL)
			ck_assert_msg(strstr(plan, "TEMP B-TREE") == NULL,
			    "sort %s:\n%s", plan_cases[i].sort, plan);
		free(plan);
	}
	ck_assert_int_eq(store_index_drop(t.st, t.coll, "fields.status"),
	    STORE_OK);
	ck_assert_int_eq(store_index_drop(t.st, t.coll, "fields.status"),
	    STORE_NOTFOUND);
	plan = plan_of(&t, "fields.status = \"s3\"", "fields.status", NULL);
	ck_assert_msg(strstr(plan, "records_field_") == NULL, "%s", plan);
	free(plan);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(filter_index_exprs(i == 0 ? "fields[\"a\"]" :
		    i == 1 ? "fields.a b" : "created_at", &exprs, &e), -1);
		ck_assert_int_eq(e.code, ERR_INVALID_PARAMETER);
	}
	tdb_close(&t);
}
END_TEST


#ifdef HAVE_LIBPQ
/* plan_of on PostgreSQL: EXPLAIN of each statement the store would run
 * (one per band), the lines joined by newlines. */
static char *
plan_of_pg(struct tdb *t, const char *filter, const char *sort,
    const char *after)
{
	struct filter	*f = NULL;
	struct filter_sort *s = NULL;
	struct filter_sql where, order, next;
	struct filter_band bands[2];
	struct tpg_params p;
	struct evbuffer	*b = evbuffer_new();
	struct error	 e;
	json_object	*key;
	PGresult	*res;
	char		*sql;
	int		 i, k, nbands = 0;

	memset(&where, 0, sizeof where);
	memset(&next, 0, sizeof next);
	memset(bands, 0, sizeof bands);
	memset(&p, 0, sizeof p);
	if (filter != NULL) {
		ck_assert_int_eq(filter_parse(filter, &f, &e), 0);
		filter_sql(f, &where);
	}
	ck_assert_int_eq(filter_sort_parse(sort, &s, &e), 0);
	filter_sort_sql(s, &order);
	if (after != NULL) {
		key = jsonutil_parse(after, strlen(after));
		ck_assert_int_eq(filter_sort_after_sql(s, key, &next, &e), 0);
		nbands = filter_sort_after_bands(s, key, bands);
		json_object_put(key);
	}
	for (i = 0; i < (nbands > 0 ? 2 : 1); i++) {
		/* As store_record_query writes it: the collection's id
		 * written in, so that its partial index applies. */
		xasprintf(&sql, "EXPLAIN SELECT id, fields, created_at, "
		    "updated_at FROM records WHERE collection_id = %lld AND "
		    "(%s) AND (%s) AND (%s) ORDER BY %s LIMIT ?",
		    (long long)t->coll, f != NULL ? where.sql_pg : "TRUE",
		    after != NULL ? next.sql_pg : "TRUE",
		    nbands > 0 ? bands[i].where.sql_pg : "TRUE",
		    nbands > 0 ? bands[i].order.sql_pg : order.sql_pg);
		if (f != NULL)
			tpg_filter(&p, &where);
		if (after != NULL)
			tpg_filter(&p, &next);
		if (nbands > 0) {
			tpg_filter(&p, &bands[i].where);
			tpg_filter(&p, &bands[i].order);
		} else
			tpg_filter(&p, &order);
		tpg_int(&p, 20);
		res = tpg_run(t, sql, &p);
		for (k = 0; k < PQntuples(res); k++)
			evbuffer_add_printf(b, "%s\n", PQgetvalue(res, k, 0));
		PQclear(res);
		free(sql);
	}
	for (i = 0; i < 2; i++) {
		filter_sql_free(&bands[i].where);
		filter_sql_free(&bands[i].order);
	}
	filter_sql_free(&where);
	filter_sql_free(&order);
	filter_sql_free(&next);
	filter_free(f);
	filter_sort_free(s);
	return (buf_string(b));
}

/* The same on PostgreSQL, with its expressions (filter_index_exprs_pg)
 * and its planner's own choice: 20,000 records, 1,000 statuses. */
START_TEST(test_filter_plan_pg)
{
	struct tdb	 t;
	struct error	 e;
	char		*exprs, *sql, *plan;
	size_t		 i;

	tdb_open(&t);
	ck_assert_msg(t.pg != NULL, "BASALT_TEST_PG names no database");
	tpg_sync(&t);
	xasprintf(&sql, "INSERT INTO records SELECT "
	    "'01JAAAAAAAAAAAAAAAAAA' || lpad(i::text, 5, '0'), %lld, "
	    "'{\"status\":\"s' || (i %% 1000) || '\",\"n\":' || i || '}', "
	    "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' "
	    "FROM generate_series(0, 19999) AS i", (long long)t.coll);
	tpg_exec(&t, sql);
	free(sql);
	ck_assert_int_eq(filter_index_exprs_pg("fields.status", &exprs, &e),
	    0);
	/* As store_index_create writes it. */
	xasprintf(&sql, "CREATE INDEX records_field_1 ON records "
	    "(collection_id, %s) WHERE collection_id = %lld", exprs,
	    (long long)t.coll);
	tpg_exec(&t, sql);
	free(sql);
	free(exprs);
	tpg_exec(&t, "ANALYZE records");
	for (i = 0; i < sizeof plan_cases / sizeof plan_cases[0]; i++) {
		plan = plan_of_pg(&t, plan_cases[i].filter,
		    plan_cases[i].sort, plan_cases[i].after);
		ck_assert_msg((strstr(plan, "records_field_1") != NULL) ==
		    plan_cases[i].uses, "%s, sort %s:\n%s",
		    plan_cases[i].filter, plan_cases[i].sort, plan);
		/* A sort the index serves needs no sorting of its own. */
		if (plan_cases[i].uses && plan_cases[i].filter == NULL)
			ck_assert_msg(strstr(plan, "Sort") == NULL,
			    "sort %s:\n%s", plan_cases[i].sort, plan);
		free(plan);
	}
	tpg_exec(&t, "DROP INDEX records_field_1");
	plan = plan_of_pg(&t, "fields.status = \"s3\"", "fields.status",
	    NULL);
	ck_assert_msg(strstr(plan, "records_field_") == NULL, "%s", plan);
	free(plan);
	ck_assert_int_eq(filter_index_exprs_pg("fields[\"a\"]", &exprs, &e),
	    -1);
	tdb_close(&t);
}
END_TEST
#endif

/*
 * Rules (rules.c, filter.c): what each verb may read, binding to a token
 * and a body, folding, and the bound rule as a plain filter.
 */
static void
rule_refused(enum rule_verb v, const char *text, const char *message)
{
	struct error	 e;

	memset(&e, 0, sizeof e);
	ck_assert_msg(rule_check(v, text, &e) == -1, "accepted %s", text);
	ck_assert_int_eq(e.code, ERR_INVALID_FILTER);
	ck_assert_msg(strcmp(e.message, message) == 0, "%s: \"%s\", not \"%s\"",
	    text, e.message, message);
}

static const struct {
	enum rule_verb	 verb;
	const char	*text;
} rules_accepted[] = {
	{ RULE_LIST, "" },
	{ RULE_LIST, "fields.owner = @token.sub" },
	{ RULE_LIST, "@token.role = \"admin\" || fields.owner = @token.sub" },
	{ RULE_VIEW, "@token.groups ?= \"staff\"" },
	{ RULE_DELETE, "fields.s ~ @token[\"x y\"].z" },
	{ RULE_LIST, "fields.n in (1, @token.n) && !(@token.a = @token.b)" },
	{ RULE_CREATE, "@body.fields.owner = @token.sub" },
	{ RULE_UPDATE, "fields.owner = @body.fields.owner" },
	{ RULE_PUBLISH, "@event.type = \"chat\" && @body.to = @token.sub" },
	{ RULE_SUBSCRIBE, "@event.type in (\"a\", @token.channel)" },
	{ RULE_SUBSCRIBE, "true" },
	{ RULE_LIST, "false || fields.a = 1" },
};

static const struct {
	enum rule_verb	 verb;
	const char	*text;
	const char	*message;
} rules_refused[] = {
	{ RULE_LIST, "fields.owner = @body.owner", "rules.list: at 16: "
	    "@body is only allowed in the create, update and publish rules" },
	{ RULE_VIEW, "@event.type = \"x\"", "rules.view: at 1: "
	    "@event.type is only allowed in the publish and subscribe rules" },
	{ RULE_SUBSCRIBE, "@body.x = 1", "rules.subscribe: at 1: "
	    "@body is only allowed in the create, update and publish rules" },
	{ RULE_SUBSCRIBE, "fields.t = @event.type", "rules.subscribe: at 12: "
	    "@event.type goes on the left of a comparison" },
	{ RULE_LIST, "@token = 1", "rules.list: at 7: "
	    "expected . or [ after @token" },
	{ RULE_LIST, "@token. = 1", "rules.list: at 8: expected a name" },
	{ RULE_PUBLISH, "@event.kind = 1", "rules.publish: at 7: "
	    "expected .type after @event" },
	{ RULE_PUBLISH, "@event.types = 1", "rules.publish: at 7: "
	    "expected .type after @event" },
	{ RULE_LIST, "@user.id = 1", "rules.list: at 1: "
	    "expected @token, @body or @event.type" },
	{ RULE_LIST, "fields.a = @", "rules.list: at 12: "
	    "expected @token, @body or @event.type" },
	{ RULE_LIST, "fields.owner = ", "rules.list: at 16: expected a value" },
	{ RULE_UPDATE, "fields.a = 1 &&", "rules.update: at 16: "
	    "expected a field" },
	{ RULE_DELETE, " ", "rules.delete: at 2: expected a field" },
	{ RULE_LIST, "@token.a = fields.b", "rules.list: at 12: "
	    "expected a value" },
};

START_TEST(test_rule_parse)
{
	struct filter_sort *s;
	struct filter	*f;
	struct error	 e;
	enum rule_verb	 v;
	size_t		 i;

	for (i = 0; i < sizeof rules_accepted / sizeof rules_accepted[0];
	    i++) {
		memset(&e, 0, sizeof e);
		ck_assert_msg(rule_check(rules_accepted[i].verb,
		    rules_accepted[i].text, &e) == 0, "%s: %s",
		    rules_accepted[i].text, e.message);
	}
	for (i = 0; i < sizeof rules_refused / sizeof rules_refused[0]; i++)
		rule_refused(rules_refused[i].verb, rules_refused[i].text,
		    rules_refused[i].message);
	/* Plain filters, sorts and projections read no references. */
	filter_refused("fields.owner = @token.sub",
	    "at 16: @token is only allowed in rules");
	filter_refused("@body.x = 1", "at 1: @body is only allowed in rules");
	filter_refused("@event.type = \"x\"",
	    "at 1: @event.type is only allowed in rules");
	filter_refused("fields.a = @x", "at 12: @ references are only allowed "
	    "in rules");
	ck_assert_int_eq(filter_sort_parse("@token.sub", &s, &e), -1);
	ck_assert_int_eq(e.code, ERR_INVALID_PARAMETER);
	ck_assert_str_eq(e.message, "sort: at 1: @token is only allowed in "
	    "rules");
	/* The constants stand alone in plain filters too. */
	filter_free(filter_ok("true"));
	filter_free(filter_ok("false"));
	filter_free(filter_ok("!true && (false || fields.a = 1)"));
	filter_refused("true = 1", "at 6: expected &&, || or the end");
	ck_assert_int_eq(filter_rule_parse("fields.a = @token.b", -1, "", &f,
	    &e), -1);
	/* The seven verbs by name. */
	for (i = 0; i < RULE__COUNT; i++) {
		ck_assert_int_eq(rule_verb_parse(rule_name(i), &v), 0);
		ck_assert_int_eq(v, i);
	}
	ck_assert_str_eq(rule_name(RULE_SUBSCRIBE), "subscribe");
	ck_assert_int_eq(rule_verb_parse("read", &v), -1);
}
END_TEST

static const char rule_claims[] = "{\"sub\":\"u1\",\"role\":\"admin\","
    "\"nulsub\":\"u1\\u0000x\","
    "\"groups\":[\"staff\",\"x\"],\"n\":5,\"obj\":{\"a\":1},\"nul\":null,"
    "\"Name\":\"ANN\",\"x y\":{\"z\":\"Q\"},\"t\":true,\"a\":[1],\"b\":[1],"
    "\"big\":9007199254740993,\"nbig\":-9007199254740992,"
    "\"fbig\":1e300,\"near\":9007199254740991}";
static const char rule_body[] = "{\"fields\":{\"owner\":\"u1\",\"n\":2}}";

/* Each rule bound to rule_claims and rule_body (event "chat" when the
 * verb is publish), and the text of what it comes to ("*": everything
 * passes, *out NULL). */
static const struct {
	enum rule_verb	 verb;
	const char	*text;
	const char	*bound;
} rule_binds[] = {
	{ RULE_LIST, "", "*" },
	{ RULE_LIST, "fields.owner = @token.sub", "fields.owner = \"u1\"" },
	{ RULE_LIST, "fields.owner = @token[\"sub\"]", "fields.owner = \"u1\"" },
	{ RULE_LIST, "fields.owner = @token.missing", "false" },
	{ RULE_LIST, "fields.owner != @token.missing", "false" },
	{ RULE_LIST, "fields.owner = @token.sub.x", "false" },
	{ RULE_LIST, "!(fields.owner = @token.missing)", "*" },
	{ RULE_LIST, "fields.owner = @token.nul", "false" },
	{ RULE_LIST, "fields.owner = @token.nulsub", "false" },
	{ RULE_LIST, "@token.nulsub ~ \"u1\"", "false" },
	{ RULE_LIST, "fields.owner = @token.groups", "false" },
	{ RULE_LIST, "fields.owner = @token.obj", "false" },
	{ RULE_LIST, "fields.n > @token.n", "fields.n > 5" },
	{ RULE_LIST, "fields.t = @token.t", "fields.t = true" },
	{ RULE_LIST, "fields.n in (1, @token.n)", "fields.n in (1, 5)" },
	{ RULE_LIST, "fields.n in (1, @token.none)", "false" },
	/* Numbers a double holds inexactly count as missing. */
	{ RULE_LIST, "fields.uid = @token.big", "false" },
	{ RULE_LIST, "fields.uid = @token.nbig", "false" },
	{ RULE_LIST, "fields.uid < @token.fbig", "false" },
	{ RULE_LIST, "@token.big > 1", "false" },
	{ RULE_LIST, "fields.uid = @token.near",
	    "fields.uid = 9007199254740991" },
	{ RULE_LIST, "fields.s ~ @token.Name", "fields.s ~ \"ann\"" },
	{ RULE_LIST, "fields.s !~ @token[\"x y\"].z", "fields.s !~ \"q\"" },
	{ RULE_LIST, "fields.s ~ @token.n", "false" },
	{ RULE_LIST, "fields.tags ?= @token.sub", "fields.tags ?= \"u1\"" },
	{ RULE_LIST, "@token.role = \"admin\"", "*" },
	{ RULE_LIST, "@token.role != \"admin\"", "false" },
	{ RULE_LIST, "@token.missing != \"admin\"", "false" },
	{ RULE_LIST, "@token.role = \"admin\" && fields.a = 1",
	    "fields.a = 1" },
	{ RULE_LIST, "@token.role = \"user\" && fields.a = 1", "false" },
	{ RULE_LIST, "@token.role = \"user\" || fields.a = 1",
	    "fields.a = 1" },
	{ RULE_LIST, "@token.role = \"admin\" || fields.owner = @token.sub",
	    "*" },
	{ RULE_LIST, "@token.groups ?= \"staff\"", "*" },
	{ RULE_LIST, "@token.groups ?= \"nope\" || fields.owner = @token.sub",
	    "fields.owner = \"u1\"" },
	{ RULE_LIST, "@token.role in (\"editor\", \"admin\")", "*" },
	{ RULE_LIST, "@token.n >= 5 && @token.n < 6", "*" },
	{ RULE_LIST, "@token.role ~ \"DM\"", "*" },
	{ RULE_LIST, "@token.a = @token.b", "*" },
	{ RULE_LIST, "!(@token.role = \"admin\")", "false" },
	{ RULE_LIST, "!!(@token.role = \"admin\") && fields.a = 1",
	    "fields.a = 1" },
	{ RULE_LIST, "fields.a = 1 && (@token.role = \"admin\" || "
	    "fields.b = 2) && fields.c = 3", "fields.a = 1 && fields.c = 3" },
	{ RULE_LIST, "(fields.a = 1 || @token.sub = \"u2\") && "
	    "!(fields.b = 2 && @token.sub = \"u1\")",
	    "fields.a = 1 && !fields.b = 2" },
	{ RULE_LIST, "fields.a = 1 || fields.b = @token.sub || false",
	    "fields.a = 1 || fields.b = \"u1\"" },
	{ RULE_LIST, "true && fields.a = 1", "fields.a = 1" },
	{ RULE_CREATE, "@body.fields.owner = @token.sub", "*" },
	{ RULE_CREATE, "@body.fields.n > 2", "false" },
	{ RULE_CREATE, "fields.owner = @body.fields.owner",
	    "fields.owner = \"u1\"" },
	{ RULE_UPDATE, "fields.n < @body.fields.n", "fields.n < 2" },
	{ RULE_PUBLISH, "@event.type = \"chat\"", "*" },
	{ RULE_PUBLISH, "@event.type = \"news\"", "false" },
	{ RULE_PUBLISH, "@event.type ~ \"CH\" && @body.fields.owner = "
	    "@token.sub", "*" },
	{ RULE_SUBSCRIBE, "", "*" },
	{ RULE_SUBSCRIBE, "@event.type = \"chat\"", "@event.type = \"chat\"" },
	{ RULE_SUBSCRIBE, "@event.type in (\"a\", @token.sub) && "
	    "@token.role = \"admin\"", "@event.type in (\"a\", \"u1\")" },
	{ RULE_SUBSCRIBE, "@event.type = \"chat\" && @token.role = \"x\"",
	    "false" },
};

/* The rule bound: its text, or "*" when everything passes. */
static char *
bound_text(enum rule_verb v, const char *text, const struct rule_env *env,
    struct filter **fp)
{
	struct rules	 r;
	struct filter	*f;
	struct error	 e;

	memset(&r, 0, sizeof r);
	memset(&e, 0, sizeof e);
	r.text[v] = (char *)text;
	ck_assert_msg(rule_bind(&r, v, env, &f, &e) == 0, "%s: %s", text,
	    e.message);
	if (fp != NULL)
		*fp = f;
	if (f == NULL)
		return (xstrdup("*"));
	text = filter_text(f);
	if (fp == NULL)
		filter_free(f);
	return ((char *)text);
}

START_TEST(test_rule_bind)
{
	struct rule_env	 env;
	struct filter_rec rec;
	struct filter	*f, *g;
	struct rules	 r;
	struct error	 e;
	json_object	*claims, *body;
	char		*t;
	size_t		 i;

	claims = jsonutil_parse(rule_claims, strlen(rule_claims));
	body = jsonutil_parse(rule_body, strlen(rule_body));
	ck_assert_ptr_nonnull(claims);
	ck_assert_ptr_nonnull(body);
	for (i = 0; i < sizeof rule_binds / sizeof rule_binds[0]; i++) {
		memset(&env, 0, sizeof env);
		env.claims = claims;
		env.body = body;
		if (rule_binds[i].verb == RULE_PUBLISH)
			env.event_type = "chat";
		t = bound_text(rule_binds[i].verb, rule_binds[i].text, &env,
		    NULL);
		ck_assert_msg(strcmp(t, rule_binds[i].bound) == 0,
		    "%s: %s, not %s", rule_binds[i].text, t,
		    rule_binds[i].bound);
		/* A bound rule reads back as itself. */
		if (*t != '*' && strncmp(t, "@event", 6) != 0) {
			g = filter_ok(t);
			free(t);
			t = filter_text(g);
			ck_assert_str_eq(t, rule_binds[i].bound);
			filter_free(g);
		}
		free(t);
	}

	/* Without a body, @body reads as missing. */
	memset(&env, 0, sizeof env);
	env.claims = claims;
	t = bound_text(RULE_CREATE, "fields.owner = @body.fields.owner ||"
	    " fields.a = 1", &env, NULL);
	ck_assert_str_eq(t, "fields.a = 1");
	free(t);

	/* @event.type left to each event. */
	t = bound_text(RULE_SUBSCRIBE, "@event.type = \"chat\" || "
	    "@event.type != \"x\" && @event.type ~ \"NEW\"", &env, &f);
	memset(&rec, 0, sizeof rec);
	rec.event_type = "chat";
	ck_assert_int_eq(filter_match(f, &rec), 1);
	rec.event_type = "news";
	ck_assert_int_eq(filter_match(f, &rec), 1);
	rec.event_type = "x";
	ck_assert_int_eq(filter_match(f, &rec), 0);
	rec.event_type = "other";
	ck_assert_int_eq(filter_match(f, &rec), 0);
	rec.event_type = NULL;		/* a record's event */
	ck_assert_int_eq(filter_match(f, &rec), 0);
	g = NULL;
	ck_assert_int_eq(filter_rule_parse(t, FILTER_REF_EVENT, "", &g, &e),
	    0);
	filter_free(g);
	filter_free(f);
	free(t);

	/* Unset, "" and errors. */
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(rule_bind(&r, RULE_VIEW, &env, &f, &e), RULE_UNSET);
	ck_assert_ptr_null(f);
	r.text[RULE_VIEW] = (char *)"";
	ck_assert_int_eq(rule_bind(&r, RULE_VIEW, &env, &f, &e), 0);
	ck_assert_ptr_null(f);
	r.text[RULE_VIEW] = (char *)"fields.a = @body.a";
	ck_assert_int_eq(rule_bind(&r, RULE_VIEW, &env, &f, &e), -1);
	ck_assert_str_eq(e.message, "rules.view: at 12: @body is only allowed "
	    "in the create, update and publish rules");
	json_object_put(claims);
	json_object_put(body);
}
END_TEST

/* filter_text: canonical, and read back to the same filter. */
static const struct {
	const char	*text;
	const char	*canonical;
} filter_texts[] = {
	{ "fields.a=1&&fields.b=2||fields.c=3",
	    "fields.a = 1 && fields.b = 2 || fields.c = 3" },
	{ "(fields.a = 1 || fields.b = 2) && fields.c = 3",
	    "(fields.a = 1 || fields.b = 2) && fields.c = 3" },
	{ "fields.a = 1 && (fields.b = 2 && fields.c = 3)",
	    "fields.a = 1 && (fields.b = 2 && fields.c = 3)" },
	{ "fields.a = 1 || (fields.b = 2 || fields.c = 3)",
	    "fields.a = 1 || (fields.b = 2 || fields.c = 3)" },
	{ "((fields.a = 1))", "fields.a = 1" },
	{ "!fields.a = 1", "!fields.a = 1" },
	{ "!(fields.a = 1)", "!fields.a = 1" },
	{ "!!(fields.a = 1 || true)", "!!(fields.a = 1 || true)" },
	{ "fields[\"x y\"].b-c[\"\"] = 'it\\'s'",
	    "fields[\"x y\"].b-c[\"\"] = \"it's\"" },
	{ "fields[\"a\"] = \"\\u00e9\\n\\/\"", "fields.a = \"\xc3\xa9\\n/\"" },
	{ "fields.n = 1.5e-3", "fields.n = 0.0015" },
	{ "fields.n = 1E400 || fields.n = -1e400",
	    "fields.n = 1e400 || fields.n = -1e400" },
	{ "fields.n = 0.1 || fields.n = 100 || fields.n = 1e21",
	    "fields.n = 0.1 || fields.n = 100 || fields.n = 1e+21" },
	{ "fields.n = 9007199254740993", "fields.n = 9007199254740992" },
	{ "fields.n = 0.00001 || fields.n = -0",
	    "fields.n = 1e-05 || fields.n = -0" },
	{ "fields.s ~ 'AbC' && fields.s !~ 'x'",
	    "fields.s ~ \"abc\" && fields.s !~ \"x\"" },
	{ "fields.a in(1,'a',true,null)",
	    "fields.a in (1, \"a\", true, null)" },
	{ "fields.t?=false", "fields.t ?= false" },
	{ "id>='a'&&created_at<'b'&&updated_at!='c'",
	    "id >= \"a\" && created_at < \"b\" && updated_at != \"c\"" },
	{ "true", "true" },
	{ "false", "false" },
};

START_TEST(test_filter_text)
{
	struct filter	*f, *g;
	struct error	 e;
	char		*t, *u, *v;
	size_t		 i;

	for (i = 0; i < sizeof filter_texts / sizeof filter_texts[0]; i++) {
		f = filter_ok(filter_texts[i].text);
		t = filter_text(f);
		ck_assert_msg(strcmp(t, filter_texts[i].canonical) == 0,
		    "%s: %s", filter_texts[i].text, t);
		free(t);
		filter_free(text_again(f));
	}
	for (i = 0; i < sizeof filter_accepted / sizeof filter_accepted[0]; i++)
		filter_free(text_again(filter_ok(filter_accepted[i])));
	for (i = 0; i < sizeof filter_meanings / sizeof filter_meanings[0];
	    i++)
		filter_free(text_again(filter_ok(filter_meanings[i].text)));
	/* Nested as deep as may be: the text nests no deeper. */
	t = repeat("(", FILTER_MAX_DEPTH - 3, "", "fields.a = 1 || !(!");
	u = repeat(")", FILTER_MAX_DEPTH - 3, "fields.b = 1 && id = 'x')",
	    "");
	xasprintf(&v, "%s%s", t, u);
	filter_free(text_again(filter_ok(v)));
	free(v);
	free(u);
	free(t);
	/* Rules with their references. */
	ck_assert_int_eq(filter_rule_parse("fields.o=@token['a b'].c&&"
	    "@body.x in(@token.y,1)||@event.type='x'", FILTER_REF_TOKEN |
	    FILTER_REF_BODY | FILTER_REF_EVENT, "", &f, &e), 0);
	t = filter_text(f);
	ck_assert_str_eq(t, "fields.o = @token[\"a b\"].c && "
	    "@body.x in (@token.y, 1) || @event.type = \"x\"");
	filter_free(f);
	ck_assert_int_eq(filter_rule_parse(t, FILTER_REF_TOKEN |
	    FILTER_REF_BODY | FILTER_REF_EVENT, "", &g, &e), 0);
	u = filter_text(g);
	ck_assert_str_eq(t, u);
	filter_free(g);
	free(t);
	free(u);
}
END_TEST

START_TEST(test_filter_and)
{
	struct filter	*f;
	char		*t;

	ck_assert_ptr_null(filter_and(NULL, NULL));
	f = filter_and(filter_ok("fields.a = 1"), NULL);
	t = filter_text(f);
	ck_assert_str_eq(t, "fields.a = 1");
	free(t);
	filter_free(f);
	f = filter_and(NULL, filter_ok("fields.a = 1 || fields.b = 2"));
	t = filter_text(f);
	ck_assert_str_eq(t, "fields.a = 1 || fields.b = 2");
	free(t);
	filter_free(f);
	f = filter_and(filter_ok("fields.a = 1 || fields.b = 2"),
	    filter_ok("fields.c = 3 && fields.d = 4"));
	f = filter_and(filter_ok("fields.e = 5 && fields.f = 6"), f);
	t = filter_text(f);
	ck_assert_str_eq(t, "fields.e = 5 && fields.f = 6 && "
	    "(fields.a = 1 || fields.b = 2) && fields.c = 3 && fields.d = 4");
	free(t);
	filter_free(text_again(f));
}
END_TEST

/* A bound list rule and a client's filter ANDed: in memory and in SQL
 * the same records, and the owner term indexes the fan-out. */
START_TEST(test_rule_records)
{
	static const char *const owners[] = { "u1", "u2", "u1", "u3", "",
	    "U1", "u1" };
	static const char *const filters[] = { NULL, "fields.n >= 2",
	    "fields.n < 2 || fields.n > 4", "!(fields.n = 3)" };
	struct rule_env	 env;
	struct filter_rec rec;
	struct filter_path *path;
	struct filter_sql w;
	struct filter	*f;
	struct rules	 r;
	struct error	 e;
	struct tdb	 t;
	json_object	*claims, *fields[7];
	char		 id[32], buf[64], *ids, *key, *k2;
	size_t		 i, j;
	struct evbuffer	*b;

	tdb_open(&t);
	for (i = 0; i < 7; i++) {
		snprintf(id, sizeof id, "01JAAAAAAAAAAAAAAAAAAAAAA%zu", i);
		if (i == 4)
			snprintf(buf, sizeof buf, "{\"n\":%zu}", i);
		else
			snprintf(buf, sizeof buf, "{\"owner\":\"%s\",\"n\":%zu}",
			    owners[i], i);
		tdb_insert(&t, id, buf, "2026-01-01T00:00:00.000Z",
		    "2026-01-01T00:00:00.000Z");
		fields[i] = jsonutil_parse(buf, strlen(buf));
	}
	claims = jsonutil_parse("{\"sub\":\"u1\"}", 12);
	ck_assert_ptr_nonnull(claims);
	memset(&env, 0, sizeof env);
	env.claims = claims;
	memset(&r, 0, sizeof r);
	r.text[RULE_LIST] = (char *)"fields.owner = @token.sub";
	for (j = 0; j < sizeof filters / sizeof filters[0]; j++) {
		ck_assert_int_eq(rule_bind(&r, RULE_LIST, &env, &f, &e), 0);
		ck_assert_ptr_nonnull(f);
		if (filters[j] != NULL)
			f = filter_and(filter_ok(filters[j]), f);
		ck_assert_msg(filter_index_term(f, &path, &key) == 0, "%zu", j);
		ck_assert_str_eq(filter_path_text(path), "\"owner\"");
		filter_sql(f, &w);
		ids = tdb_ids(&t, &w, NULL);
		b = evbuffer_new();
		for (i = 0; i < 7; i++) {
			memset(&rec, 0, sizeof rec);
			snprintf(id, sizeof id, "01JAAAAAAAAAAAAAAAAAAAAAA%zu",
			    i);
			rec.id = id;
			rec.created_at = rec.updated_at =
			    "2026-01-01T00:00:00.000Z";
			rec.fields = fields[i];
			k2 = filter_path_key(path, &rec);
			if (filter_match(f, &rec)) {
				evbuffer_add_printf(b, "%s\n", id);
				ck_assert_str_eq(k2, key);
			}
			free(k2);
		}
		k2 = buf_string(b);
		ck_assert_msg(strcmp(ids, k2) == 0, "%s:\n%s\nnot\n%s",
		    filters[j] != NULL ? filters[j] : "-", ids, k2);
		ck_assert_msg(*ids != '\0', "%s", filters[j]);
		free(k2);
		free(ids);
		free(key);
		filter_path_free(path);
		filter_sql_free(&w);
		filter_free(f);
	}
	/* Records 0, 2, 6 are u1's: exactly those. */
	ck_assert_int_eq(rule_bind(&r, RULE_LIST, &env, &f, &e), 0);
	filter_sql(f, &w);
	ids = tdb_ids(&t, &w, NULL);
	ck_assert_str_eq(ids, "01JAAAAAAAAAAAAAAAAAAAAAA0\n"
	    "01JAAAAAAAAAAAAAAAAAAAAAA2\n01JAAAAAAAAAAAAAAAAAAAAAA6\n");
	free(ids);
	filter_sql_free(&w);
	filter_free(f);
	/* A token without sub sees nothing, in SQL too. */
	json_object_object_del(claims, "sub");
	ck_assert_int_eq(rule_bind(&r, RULE_LIST, &env, &f, &e), 0);
	filter_sql(f, &w);
	ck_assert_str_eq(w.sql, "0");
	ids = tdb_ids(&t, &w, NULL);
	ck_assert_str_eq(ids, "");
	free(ids);
	ck_assert_int_eq(filter_index_term(f, &path, &key), -1);
	filter_sql_free(&w);
	filter_free(f);
	/* An @event.type left unbound reads nothing of a record. */
	r.text[RULE_SUBSCRIBE] = (char *)"@event.type != \"x\"";
	ck_assert_int_eq(rule_bind(&r, RULE_SUBSCRIBE, &env, &f, &e), 0);
	filter_sql(f, &w);
	ids = tdb_ids(&t, &w, NULL);
	ck_assert_str_eq(ids, "");
	free(ids);
	filter_sql_free(&w);
	filter_free(f);
	json_object_put(claims);
	for (i = 0; i < 7; i++)
		json_object_put(fields[i]);
	tdb_close(&t);
}
END_TEST

START_TEST(test_store_rules)
{
	struct rules	 r, got;
	struct tdb	 t;
	int64_t		 other;
	char		 created[TIMESTAMP_LEN + 1];
	int		 i;

	tdb_open(&t);
	ck_assert_int_eq(store_rules_get(t.st, t.coll, &got), STORE_OK);
	for (i = 0; i < RULE__COUNT; i++)
		ck_assert_ptr_null(got.text[i]);
	memset(&r, 0, sizeof r);
	r.text[RULE_LIST] = (char *)"fields.owner = @token.sub";
	r.text[RULE_VIEW] = (char *)"";
	r.text[RULE_SUBSCRIBE] = (char *)"@event.type = 'it''s'";
	ck_assert_int_eq(store_rules_set(t.st, t.coll, &r), STORE_OK);
	ck_assert_int_eq(store_rules_get(t.st, t.coll, &got), STORE_OK);
	for (i = 0; i < RULE__COUNT; i++) {
		if (r.text[i] == NULL)
			ck_assert_ptr_null(got.text[i]);
		else
			ck_assert_str_eq(got.text[i], r.text[i]);
	}
	rules_clear(&got);
	/* Another collection's are its own. */
	ck_assert_int_eq(store_collection_create(t.st, 1, "d", created),
	    STORE_OK);
	ck_assert_int_eq(store_collection_id(t.st, 1, "d", &other), STORE_OK);
	ck_assert_int_eq(store_rules_get(t.st, other, &got), STORE_OK);
	ck_assert_ptr_null(got.text[RULE_LIST]);
	/* Replaced as a whole. */
	memset(&r, 0, sizeof r);
	r.text[RULE_DELETE] = (char *)"fields.a = 1";
	ck_assert_int_eq(store_rules_set(t.st, t.coll, &r), STORE_OK);
	ck_assert_int_eq(store_rules_get(t.st, t.coll, &got), STORE_OK);
	ck_assert_ptr_null(got.text[RULE_LIST]);
	ck_assert_ptr_null(got.text[RULE_VIEW]);
	ck_assert_str_eq(got.text[RULE_DELETE], "fields.a = 1");
	rules_clear(&got);
	ck_assert_ptr_null(got.text[RULE_DELETE]);
	/* They go with their collection. */
	ck_assert_int_eq(store_collection_delete(t.st, 1, "c"), STORE_OK);
	ck_assert_int_eq(store_rules_get(t.st, t.coll, &got), STORE_OK);
	ck_assert_ptr_null(got.text[RULE_DELETE]);
	tdb_close(&t);
}
END_TEST

/* An end user's stream spec bound to a collection's rules: the list rule
 * && filter= as one filter whose canonical text names the topic (the
 * same for the same user, another for another), whose bound owner term
 * is indexed for fan-out, and the subscribe rule's three cases. */
static void
spec_bind(struct stream_spec *spec, const struct rules *r, const char *claims,
    const char *user_filter, const char *record_id, int want)
{
	struct error	 e;

	memset(spec, 0, sizeof *spec);
	memset(&e, 0, sizeof e);
	spec->jwt = 1;
	spec->claims = xstrdup(claims);
	spec->user_filter = user_filter != NULL ? xstrdup(user_filter) : NULL;
	strlcpy_b(spec->record_id, record_id, sizeof spec->record_id);
	ck_assert_msg(broker_spec_bind(spec, r, &e) == want, "%s: %s", claims,
	    e.message);
}

static void
spec_clear(struct stream_spec *spec)
{
	filter_free(spec->filter);
	free(spec->filter_text);
	free(spec->claims);
	free(spec->user_filter);
	filter_free(spec->sub_filter);
	free(spec->sub_text);
}

/* The canonical text of a plain filter. */
static char *
canonical(const char *text)
{
	struct filter	*f = filter_ok(text);
	char		*t = filter_text(f);

	filter_free(f);
	return (t);
}

START_TEST(test_stream_bind)
{
	struct stream_spec	 a, a2, b, st, none;
	struct filter_rec	 rec;
	struct filter_path	*fp, *want_fp;
	struct filter		*want;
	struct rules		 r;
	char			*t, *key, *want_key;
	json_object		*o;

	memset(&r, 0, sizeof r);
	r.text[RULE_LIST] = xstrdup("fields.owner = @token.sub");
	r.text[RULE_SUBSCRIBE] = xstrdup("@event.type = \"public\" || "
	    "@token.role = \"staff\"");

	spec_bind(&a, &r, "{\"sub\":\"alice\"}", "fields.n > 1", "", 0);
	t = canonical("fields.owner = \"alice\" && fields.n > 1");
	ck_assert_str_eq(a.filter_text, t);
	free(t);
	/* The owner term, bound, is indexed by field and value. */
	want = filter_ok("fields.owner = \"alice\"");
	ck_assert_int_eq(filter_index_term(want, &want_fp, &want_key), 0);
	ck_assert_int_eq(filter_index_term(a.filter, &fp, &key), 0);
	ck_assert_str_eq(filter_path_text(fp), filter_path_text(want_fp));
	ck_assert_str_eq(key, want_key);
	filter_path_free(fp);
	filter_path_free(want_fp);
	free(key);
	free(want_key);
	filter_free(want);
	/* What it lets through. */
	t = "{\"id\":\"x\",\"created_at\":\"a\",\"updated_at\":\"a\","
	    "\"fields\":{\"owner\":\"alice\",\"n\":2}}";
	o = jsonutil_parse(t, strlen(t));
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(filter_rec_json(o, &rec), 0);
	ck_assert_int_eq(filter_match(a.filter, &rec), 1);
	json_object_object_add(rec.fields, "owner",
	    json_object_new_string("bob"));
	ck_assert_int_eq(filter_match(a.filter, &rec), 0);
	json_object_put(o);
	/* Custom events: only "public" for alice. */
	ck_assert_int_eq(a.subscribe, SUBSCRIBE_SOME);
	ck_assert_ptr_nonnull(a.sub_text);
	memset(&rec, 0, sizeof rec);
	rec.event_type = "public";
	ck_assert_int_eq(filter_match(a.sub_filter, &rec), 1);
	rec.event_type = "internal";
	ck_assert_int_eq(filter_match(a.sub_filter, &rec), 0);

	/* The same user shares the topic, another does not. */
	spec_bind(&a2, &r, "{\"sub\":\"alice\",\"iat\":1}", "fields.n > 1", "",
	    0);
	ck_assert_str_eq(a2.filter_text, a.filter_text);
	ck_assert_str_eq(a2.sub_text, a.sub_text);
	spec_bind(&b, &r, "{\"sub\":\"bob\"}", "fields.n > 1", "", 0);
	ck_assert_str_ne(b.filter_text, a.filter_text);

	/* Staff: every custom event; no filter=: the rule alone. */
	spec_bind(&st, &r, "{\"sub\":\"carol\",\"role\":\"staff\"}", NULL, "",
	    0);
	ck_assert_int_eq(st.subscribe, SUBSCRIBE_ALL);
	ck_assert_ptr_null(st.sub_filter);
	t = canonical("fields.owner = \"carol\"");
	ck_assert_str_eq(st.filter_text, t);
	free(t);

	/* No sub: the owner rule matches nothing. */
	spec_bind(&none, &r, "{}", NULL, "", 0);
	ck_assert_ptr_nonnull(none.filter);
	t = "{\"id\":\"x\",\"created_at\":\"a\",\"updated_at\":\"a\","
	    "\"fields\":{}}";
	o = jsonutil_parse(t, strlen(t));
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(filter_rec_json(o, &rec), 0);
	ck_assert_int_eq(filter_match(none.filter, &rec), 0);
	json_object_put(o);
	spec_clear(&none);

	/* "" for list: everything, no filter; subscribe unset: none. A
	 * record's stream needs view. */
	free(r.text[RULE_LIST]);
	r.text[RULE_LIST] = xstrdup("");
	free(r.text[RULE_SUBSCRIBE]);
	r.text[RULE_SUBSCRIBE] = NULL;
	spec_bind(&none, &r, "{\"sub\":\"alice\"}", NULL, "", 0);
	ck_assert_ptr_null(none.filter);
	ck_assert_str_eq(none.filter_text, "");
	ck_assert_int_eq(none.subscribe, SUBSCRIBE_NONE);
	spec_clear(&none);
	spec_bind(&none, &r, "{\"sub\":\"alice\"}", NULL,
	    "01J0000000000000000000000A", RULE_UNSET);
	spec_clear(&none);

	spec_clear(&a);
	spec_clear(&a2);
	spec_clear(&b);
	spec_clear(&st);
	rules_clear(&r);
}
END_TEST

/* An HS256 JWT of exactly header and payload, signed with key. */
static char *
jwt_make(const char *header, const char *payload, const char *key)
{
	crypto_auth_hmacsha256_state	 st;
	unsigned char			 mac[32];
	char				*h, *p, *out;
	char				 sig[64];
	size_t				 hl = strlen(header), pl = strlen(payload);

	h = xmalloc(sodium_base64_ENCODED_LEN(hl,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING));
	p = xmalloc(sodium_base64_ENCODED_LEN(pl,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING));
	sodium_bin2base64(h, sodium_base64_ENCODED_LEN(hl,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	    (const unsigned char *)header, hl,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_bin2base64(p, sodium_base64_ENCODED_LEN(pl,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	    (const unsigned char *)payload, pl,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	xasprintf(&out, "%s.%s", h, p);
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)key,
	    strlen(key));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)out,
	    strlen(out));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2base64(sig, sizeof sig, mac, sizeof mac,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	free(h);
	free(p);
	h = out;
	xasprintf(&out, "%s.%s", h, sig);
	free(h);
	return (out);
}

#define JKEY	"0123456789abcdef0123456789abcdef"

/* jwt_verify of a JWT made of header and payload (printf-formatted with
 * now), with key; the grant in *g, its claims put. */
static int
jwt_try(struct tdb *t, const char *header, const char *key, struct grant *g,
    const char *payload_fmt, ...)
{
	struct error	 e;
	va_list		 ap;
	char		*payload, *tok;
	int		 rc;

	va_start(ap, payload_fmt);
	ck_assert_int_ge(vasprintf(&payload, payload_fmt, ap), 0);
	va_end(ap);
	tok = jwt_make(header, payload, key);
	ck_assert(jwt_looks_like(tok));
	memset(g, 0, sizeof *g);
	memset(&e, 0, sizeof e);
	rc = jwt_verify(t->st, 1, tok, g, &e);
	if (rc == 0)
		ck_assert_ptr_nonnull(g->claims);
	else
		ck_assert_int_eq(e.code, ERR_INVALID_TOKEN);
	json_object_put(g->claims);
	g->claims = NULL;
	free(tok);
	free(payload);
	return (rc);
}

START_TEST(test_jwt_verify)
{
	struct jwt_settings	 set;
	struct jwt_key		 k[2];
	struct grant		 g;
	struct error		 e;
	struct tdb		 t;
	char			 why[200], sub[300];
	const char		*H = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	long long		 now = time_now_ms() / 1000;

	tdb_open(&t);
	ck_assert(!jwt_looks_like("bas_abc.def.ghi"));
	ck_assert(!jwt_looks_like("abc.def"));
	ck_assert(!jwt_looks_like("a+c.def.ghi"));
	ck_assert(jwt_looks_like("abc.def."));
	/* No settings: the app takes no JWTs. */
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld}", now + 60), -1);
	ck_assert_int_eq(jwt_key_hs256((const unsigned char *)"short", 5,
	    &k[0], why, sizeof why), -1);
	ck_assert_int_eq(jwt_key_hs256((const unsigned char *)JKEY,
	    strlen(JKEY), &k[0], why, sizeof why), 0);
	memset(&set, 0, sizeof set);
	set.max_lifetime = 3600;
	ck_assert_int_eq(store_jwt_set(t.st, 1, &set, k, 1), STORE_OK);

	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"iat\":%lld}", now + 600, now), 0);
	ck_assert_int_eq(g.jwt, 1);
	ck_assert_str_eq(g.sub, "u");
	ck_assert_int_eq(g.scopes, SCOPE_READ | SCOPE_WRITE);
	ck_assert_int_eq(g.expires_at, now + 600);
	ck_assert_int_eq(jwt_try(&t, H, "another key of 32 bytes or more!!",
	    &g, "{\"sub\":\"u\",\"exp\":%lld}", now + 600), -1);
	/* exp, nbf and iat with 60 s of leeway (a second of margin). */
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"iat\":%lld}", now - 58, now - 100), 0);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld}", now - 61), -1);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld.5}", now + 600), 0);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":\"%lld\"}", now + 600), -1);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":1e300}"), -1);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":9223372036854775807}"), -1);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g, "{\"sub\":\"u\"}"), -1);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld}", now + 600, now + 58), 0);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld}", now + 600, now + 62), -1);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"iat\":%lld}", now + 600, now + 62), -1);
	/* The longest lifetime: exp - iat, or exp - now. */
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"iat\":%lld}", now + 3000, now - 600),
	    0);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"iat\":%lld}", now + 3000, now - 601),
	    -1);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld}", now + 3700), -1);
	/* sub */
	memset(sub, 'x', sizeof sub);
	sub[MAX_SUB_LEN] = '\0';
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"%s\",\"exp\":%lld}", sub, now + 60), 0);
	ck_assert_int_eq(strlen(g.sub), MAX_SUB_LEN);
	sub[MAX_SUB_LEN] = 'x';
	sub[MAX_SUB_LEN + 1] = '\0';
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"%s\",\"exp\":%lld}", sub, now + 60), -1);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"\",\"exp\":%lld}", now + 60), -1);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":7,\"exp\":%lld}", now + 60), -1);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"a\\u0000b\",\"exp\":%lld}", now + 60), -1);
	/* Of duplicate keys the last one counts, for the checks and for
	 * the claims rules read alike (RFC 7515 4: reject, or the last). */
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"a\",\"exp\":%lld,\"sub\":\"b\"}", now + 60), 0);
	ck_assert_str_eq(g.sub, "b");
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"a\",\"exp\":%lld,\"exp\":%lld}", now + 60, now - 100),
	    -1);
	ck_assert_int_eq(jwt_try(&t, "{\"alg\":\"HS256\",\"alg\":\"none\"}",
	    JKEY, &g, "{\"sub\":\"u\",\"exp\":%lld}", now + 60), -1);
	/* scope */
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"scope\":\"read\"}", now + 60), 0);
	ck_assert_int_eq(g.scopes, SCOPE_READ);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"scope\":\" write  read \"}", now + 60),
	    0);
	ck_assert_int_eq(g.scopes, SCOPE_READ | SCOPE_WRITE);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"scope\":\"admin reader\"}", now + 60),
	    0);
	ck_assert_int_eq(g.scopes, 0);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"scope\":[\"read\"]}", now + 60), -1);
	/* The header. */
	ck_assert_int_eq(jwt_try(&t, "{\"alg\":\"none\"}", JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld}", now + 60), -1);
	ck_assert_int_eq(jwt_try(&t, "{\"alg\":\"HS512\"}", JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld}", now + 60), -1);
	ck_assert_int_eq(jwt_try(&t, "{\"typ\":\"JWT\"}", JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld}", now + 60), -1);
	ck_assert_int_eq(jwt_try(&t, "{\"alg\":\"HS256\",\"crit\":[]}", JKEY,
	    &g, "{\"sub\":\"u\",\"exp\":%lld}", now + 60), -1);
	ck_assert_int_eq(jwt_try(&t, "[\"HS256\"]", JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld}", now + 60), -1);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g, "[1]"), -1);
	/* kid: the key of that kid alone. */
	ck_assert_int_eq(jwt_try(&t, "{\"alg\":\"HS256\",\"kid\":\"k\"}", JKEY,
	    &g, "{\"sub\":\"u\",\"exp\":%lld}", now + 60), -1);
	k[1] = k[0];
	strlcpy_b(k[0].kid, "k", sizeof k[0].kid);
	ck_assert_int_eq(jwt_key_hs256((const unsigned char *)
	    "the second key, 32 bytes at least", 33, &k[1], why, sizeof why), 0);
	strlcpy_b(k[1].kid, "k2", sizeof k[1].kid);
	strlcpy_b(set.audience, "web", sizeof set.audience);
	ck_assert_int_eq(store_jwt_set(t.st, 1, &set, k, 2), STORE_OK);
	ck_assert_int_eq(jwt_try(&t, "{\"alg\":\"HS256\",\"kid\":\"k\"}", JKEY,
	    &g, "{\"sub\":\"u\",\"exp\":%lld,\"aud\":\"web\"}", now + 60), 0);
	ck_assert_int_eq(jwt_try(&t, "{\"alg\":\"HS256\",\"kid\":\"k2\"}", JKEY,
	    &g, "{\"sub\":\"u\",\"exp\":%lld,\"aud\":\"web\"}", now + 60), -1);
	ck_assert_int_eq(jwt_try(&t, "{\"alg\":\"HS256\"}",
	    "the second key, 32 bytes at least", &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"aud\":\"web\"}", now + 60), 0);
	ck_assert_int_eq(jwt_try(&t, "{\"alg\":\"EdDSA\",\"kid\":\"k\"}", JKEY,
	    &g, "{\"sub\":\"u\",\"exp\":%lld,\"aud\":\"web\"}", now + 60), -1);
	/* aud */
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"aud\":[1,\"x\",\"web\"]}", now + 60), 0);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld,\"aud\":\"webx\"}", now + 60), -1);
	ck_assert_int_eq(jwt_try(&t, H, JKEY, &g,
	    "{\"sub\":\"u\",\"exp\":%lld}", now + 60), -1);
	/* Base64url strictly: the signature's last character with its two
	 * spare bits set, the header's with its spare bits set, padding. */
	{
		char	*tok, *c;
		static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_";

		tok = jwt_make(H, "{\"sub\":\"u\",\"exp\":9999999999}", JKEY);
		set.max_lifetime = 10000000000LL;
		set.audience[0] = '\0';
		ck_assert_int_eq(store_jwt_set(t.st, 1, &set, k, 2), STORE_OK);
		memset(&g, 0, sizeof g);
		ck_assert_int_eq(jwt_verify(t.st, 1, tok, &g, &e), 0);
		json_object_put(g.claims);
		c = tok + strlen(tok) - 1;
		*c = alpha[(strchr(alpha, *c) - alpha) | 3];
		memset(&g, 0, sizeof g);
		ck_assert_int_eq(jwt_verify(t.st, 1, tok, &g, &e), -1);
		ck_assert_str_eq(e.message, "the JWT's signature is not base64url");
		free(tok);
		/* {"alg":"HS256","kid":"k"} is 25 bytes: 34 characters, the
		 * last with four spare bits. */
		tok = jwt_make("{\"alg\":\"HS256\",\"kid\":\"k\"}",
		    "{\"sub\":\"u\",\"exp\":9999999999}", JKEY);
		ck_assert_int_eq(strchr(tok, '.') - tok, 34);
		memset(&g, 0, sizeof g);
		ck_assert_int_eq(jwt_verify(t.st, 1, tok, &g, &e), 0);
		json_object_put(g.claims);
		c = strchr(tok, '.') - 1;
		*c = alpha[(strchr(alpha, *c) - alpha) | 3];
		memset(&g, 0, sizeof g);
		ck_assert_int_eq(jwt_verify(t.st, 1, tok, &g, &e), -1);
		ck_assert_str_eq(e.message, "the JWT's header is not a base64url "
		    "JSON object");
		free(tok);
	}
	/* Malformed. */
	memset(&e, 0, sizeof e);
	ck_assert_int_eq(jwt_verify(t.st, 1, "e30.e30.", &g, &e), -1);
	ck_assert_int_eq(jwt_verify(t.st, 1, "e30=.e30.AA", &g, &e), -1);
	ck_assert_int_eq(jwt_verify(t.st, 1, "..", &g, &e), -1);
	ck_assert_int_eq(e.code, ERR_INVALID_TOKEN);
	ck_assert_ptr_null(g.claims);
	tdb_close(&t);
}
END_TEST

/* An ES256 JWT with kid, signed with pk. */
static char *
es256_jwt(EVP_PKEY *pk, const char *kid, long long exp)
{
	unsigned char	 der[80], raw[64];
	const unsigned char *d = der;
	char		*h, *hp, *p, *out, b[128], sig[100];
	ECDSA_SIG	*es;
	EVP_MD_CTX	*md;
	size_t		 n = sizeof der;

	xasprintf(&h, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
	xasprintf(&p, "{\"sub\":\"%s\",\"exp\":%lld}", kid, exp);
	sodium_bin2base64(b, sizeof b, (unsigned char *)h, strlen(h),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	xasprintf(&hp, "%s.", b);
	sodium_bin2base64(b, sizeof b, (unsigned char *)p, strlen(p),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	free(h);
	free(p);
	xasprintf(&out, "%s%s", hp, b);
	free(hp);
	ck_assert_ptr_nonnull(md = EVP_MD_CTX_new());
	ck_assert_int_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk), 1);
	ck_assert_int_eq(EVP_DigestSign(md, der, &n, (unsigned char *)out,
	    strlen(out)), 1);
	EVP_MD_CTX_free(md);
	ck_assert_ptr_nonnull(es = d2i_ECDSA_SIG(NULL, &d, n));
	ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32), 32);
	ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32), 32);
	ECDSA_SIG_free(es);
	sodium_bin2base64(sig, sizeof sig, raw, sizeof raw,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	hp = out;
	xasprintf(&out, "%s.%s", hp, sig);
	free(hp);
	return (out);
}

/* More ES256 keys than a thread keeps decoded: each JWT is checked with
 * its own key, whatever was decoded before. */
START_TEST(test_jwt_es256_keys)
{
	struct jwt_settings	 set;
	struct jwt_key		 k[12];
	struct grant		 g;
	struct error		 e;
	struct tdb		 t;
	EVP_PKEY		*pk[12];
	unsigned char		*o;
	char			*tok;
	long long		 now = time_now_ms() / 1000;
	int			 i, round, len;

	tdb_open(&t);
	memset(k, 0, sizeof k);
	for (i = 0; i < 12; i++) {
		ck_assert_ptr_nonnull(pk[i] = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
		    "P-256"));
		len = i2d_PUBKEY(pk[i], NULL);
		ck_assert(len > 0 && len <= MAX_JWT_KEY_LEN);
		o = k[i].key;
		k[i].len = i2d_PUBKEY(pk[i], &o);
		strlcpy_b(k[i].alg, "ES256", sizeof k[i].alg);
		snprintf(k[i].kid, sizeof k[i].kid, "k%d", i);
	}
	memset(&set, 0, sizeof set);
	set.max_lifetime = 3600;
	ck_assert_int_eq(store_jwt_set(t.st, 1, &set, k, 12), STORE_OK);
	for (round = 0; round < 2; round++)
		for (i = 0; i < 12; i++) {
			tok = es256_jwt(pk[i], k[i].kid, now + 60);
			memset(&g, 0, sizeof g);
			memset(&e, 0, sizeof e);
			ck_assert_msg(jwt_verify(t.st, 1, tok, &g, &e) == 0,
			    "key %d: %s", i, e.message);
			ck_assert_str_eq(g.sub, k[i].kid);
			json_object_put(g.claims);
			free(tok);
		}
	/* Signed by k3, sent as k4's; then k4 replaced by k3's key. */
	tok = es256_jwt(pk[3], "k4", now + 60);
	memset(&g, 0, sizeof g);
	ck_assert_int_eq(jwt_verify(t.st, 1, tok, &g, &e), -1);
	k[4] = k[3];
	strlcpy_b(k[4].kid, "k4", sizeof k[4].kid);
	ck_assert_int_eq(store_jwt_set(t.st, 1, &set, k + 4, 1), STORE_OK);
	ck_assert_int_eq(jwt_verify(t.st, 1, tok, &g, &e), 0);
	json_object_put(g.claims);
	free(tok);
	/* The key removed: refused at once. */
	ck_assert_int_eq(store_jwt_key_remove(t.st, 1, "k4"), STORE_OK);
	tok = es256_jwt(pk[3], "k4", now + 60);
	memset(&g, 0, sizeof g);
	ck_assert_int_eq(jwt_verify(t.st, 1, tok, &g, &e), -1);
	free(tok);
	for (i = 0; i < 12; i++)
		EVP_PKEY_free(pk[i]);
	tdb_close(&t);
}
END_TEST

/* Keys from PEM and JWKS, made by node's crypto. */
static const char *rsa_pem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAlbREMwtVH2K8xWcc9x1Q\n"
    "Dg/v/0HoiKHrmEjcXHpqJBeP/4Ev1LCuKzWKU7qfUz5rPoRT6v/si24sceWOYDZC\n"
    "08O2SjgjgwJxeUQSu3h7v/f+VGolwWYL/7oXDyRQU7IcHpXcSZ+7EoHPNmSgKFtm\n"
    "6MWRGXbyNHFl/L5NCODCVySGnQf661ByKeJKYn/RT04i5TjZhYWRR2AWibQAQM97\n"
    "zfVhdZql4GF0IQvDRT4GDliPxTRXmy4pbcPus8cGmXszIzNJHwiK30JYcThrSJRh\n"
    "+pIs3q0VtaUoNd9Omlbi6VYwYWziKyUV4c9ygvEWS5yfjdef4TCD3vslBzZf2U6w\n"
    "qwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

START_TEST(test_jwt_keys)
{
	struct jwt_key	 k[MAX_JWT_KEYS];
	json_object	*o;
	char		 why[200], *t;
	size_t		 n, i;

	ck_assert_int_eq(jwt_key_pem(rsa_pem, strlen(rsa_pem), &k[0], why,
	    sizeof why), 0);
	ck_assert_str_eq(k[0].alg, "RS256");
	ck_assert_int_eq(jwt_key_pem("nothing", 7, &k[0], why, sizeof why), -1);
	ck_assert_int_eq(jwt_key_ed25519(
	    "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", &k[0], why,
	    sizeof why), 0);
	ck_assert_int_eq(k[0].len, 32);
	ck_assert_int_eq(jwt_key_ed25519("11qYAYKxCrfVS", &k[0], why,
	    sizeof why), -1);
	o = json_tokener_parse(
	    "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"lbREMwtVH2K8xWcc9x1QDg_v_0Ho"
	    "iKHrmEjcXHpqJBeP_4Ev1LCuKzWKU7qfUz5rPoRT6v_si24sceWOYDZC08O2Sjgj"
	    "gwJxeUQSu3h7v_f-VGolwWYL_7oXDyRQU7IcHpXcSZ-7EoHPNmSgKFtm6MWRGXby"
	    "NHFl_L5NCODCVySGnQf661ByKeJKYn_RT04i5TjZhYWRR2AWibQAQM97zfVhdZql"
	    "4GF0IQvDRT4GDliPxTRXmy4pbcPus8cGmXszIzNJHwiK30JYcThrSJRh-pIs3q0V"
	    "taUoNd9Omlbi6VYwYWziKyUV4c9ygvEWS5yfjdef4TCD3vslBzZf2U6wqw\",\"e"
	    "\":\"AQAB\",\"kid\":\"r\",\"alg\":\"RS256\"},{\"kty\":\"EC\",\"x"
	    "\":\"Rjnopo-qQMLf5QxmxMhi-Wv980ukEHMON_V32jER8i8\",\"y\":\"nSyeh"
	    "fvbySnu00KKl9DxnnoyPI800f4TTCu-inhBShw\",\"crv\":\"P-256\",\"kid"
	    "\":\"e\"},{\"crv\":\"Ed25519\",\"x\":\"VzvH7R5PXNYB5UsOTHeNMCgtv"
	    "fnnx7ezKL-QsRVxZZA\",\"kty\":\"OKP\",\"kid\":\"d\"},{\"kty\":\"o"
	    "ct\",\"kid\":\"h\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhY"
	    "mNkZWY\"}]}");
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(jwt_jwks(o, k, MAX_JWT_KEYS, &n, why, sizeof why), 0);
	json_object_put(o);
	ck_assert_int_eq(n, 4);
	ck_assert_str_eq(k[0].kid, "r");
	ck_assert_str_eq(k[0].alg, "RS256");
	ck_assert_str_eq(k[1].kid, "e");
	ck_assert_str_eq(k[1].alg, "ES256");
	ck_assert_str_eq(k[2].alg, "EdDSA");
	ck_assert_str_eq(k[3].alg, "HS256");
	/* A P-384 key, an encryption key, an RS384 key: none for us. */
	o = json_tokener_parse("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\","
	    "\"alg\":\"ES384\",\"x\":\"AA\",\"y\":\"AA\"},{\"kty\":\"RSA\","
	    "\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"},{\"kty\":\"RSA\","
	    "\"alg\":\"RS384\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}");
	ck_assert_int_eq(jwt_jwks(o, k, MAX_JWT_KEYS, &n, why, sizeof why), -1);
	json_object_put(o);
	/* A point off the curve; a small RSA key. */
	o = json_tokener_parse("{\"kty\":\"EC\",\"crv\":\"P-256\","
	    "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\","
	    "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}");
	ck_assert_int_eq(jwt_jwks(o, k, MAX_JWT_KEYS, &n, why, sizeof why), -1);
	json_object_put(o);
	o = json_tokener_parse("{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}");
	ck_assert_int_eq(jwt_jwks(o, k, MAX_JWT_KEYS, &n, why, sizeof why), -1);
	json_object_put(o);
	/* An exponent of 1 (every padded hash its own signature) or 2. */
	for (i = 0; i < 3; i++) {
		xasprintf(&t, "{\"kty\":\"RSA\",\"n\":\"lbREMwtVH2K8xWcc9x1Q"
		    "Dg_v_0HoiKHrmEjcXHpqJBeP_4Ev1LCuKzWKU7qfUz5rPoRT6v_si24sceWO"
		    "YDZC08O2SjgjgwJxeUQSu3h7v_f-VGolwWYL_7oXDyRQU7IcHpXcSZ-7EoHP"
		    "NmSgKFtm6MWRGXbyNHFl_L5NCODCVySGnQf661ByKeJKYn_RT04i5TjZhYWR"
		    "R2AWibQAQM97zfVhdZql4GF0IQvDRT4GDliPxTRXmy4pbcPus8cGmXszIzNJ"
		    "HwiK30JYcThrSJRh-pIs3q0VtaUoNd9Omlbi6VYwYWziKyUV4c9ygvEWS5yf"
		    "jdef4TCD3vslBzZf2U6wqw\",\"e\":\"%s\"}",
		    (const char *[]){ "AQ", "Ag", "Aw" }[i]);
		o = json_tokener_parse(t);
		free(t);
		ck_assert_int_eq(jwt_jwks(o, k, MAX_JWT_KEYS, &n, why,
		    sizeof why), i == 2 ? 0 : -1);
		json_object_put(o);
	}
	/* Two keys, one kid. */
	o = json_tokener_parse("{\"keys\":[{\"kty\":\"oct\",\"k\":"
	    "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"},{\"kty\":\"oct\","
	    "\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}");
	ck_assert_int_eq(jwt_jwks(o, k, MAX_JWT_KEYS, &n, why, sizeof why), -1);
	json_object_put(o);
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
	tcase_add_test(tc, test_request_id);
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
	tc = tcase_create("filter");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_filter_parse);
	tcase_add_test(tc, test_filter_limits);
	tcase_add_test(tc, test_filter_meaning);
	tcase_add_test(tc, test_filter_sort);
	tcase_add_test(tc, test_filter_agree);
	tcase_add_test(tc, test_filter_index);
	tcase_add_test(tc, test_filter_index_sound);
	tcase_add_test(tc, test_filter_plan);
#ifdef HAVE_LIBPQ
	/* tests/filter-pg.sh: the same on PostgreSQL. */
	if (getenv("BASALT_TEST_PG") != NULL)
		tcase_add_test(tc, test_filter_plan_pg);
#endif
	tcase_add_test(tc, test_rule_parse);
	tcase_add_test(tc, test_rule_bind);
	tcase_add_test(tc, test_filter_text);
	tcase_add_test(tc, test_filter_and);
	tcase_add_test(tc, test_rule_records);
	tcase_add_test(tc, test_store_rules);
	tcase_add_test(tc, test_stream_bind);
	tcase_add_test(tc, test_jwt_verify);
	tcase_add_test(tc, test_jwt_keys);
	tcase_add_test(tc, test_jwt_es256_keys);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? 0 : 1);
}
