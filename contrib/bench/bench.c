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

/*
 * basalt-bench: the load generator. Opens SSE subscribers over HTTP or
 * straight over FastCGI, publishes on a fixed schedule, runs CRUD load,
 * holds idle streams, and measures the socketpair fan-out ceiling.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"

__thread struct event_base	*base;

static void
usage(void)
{
	fprintf(stderr,
"usage: basalt-bench MODE [options]\n"
"modes: fanout, idle, crud, ceiling, soak, jwt (prints a JWT of --user)\n"
"  --fcgi ADDR        talk FastCGI to basalt's socket (/path or host:port)\n"
"  --http ADDR        talk HTTP to a web server (host:port)\n"
"  --sub-fcgi/--sub-http ADDR, --pub-fcgi/--pub-http ADDR   per role\n"
"  --prefix PATH      collection path, e.g. /api/realms/r/apps/a/collections/c\n"
"  --sub-uri URI      subscribe here (default PREFIX/events)\n"
"  --pub-uri URI      publish here (default PREFIX/events or PREFIX/records)\n"
"  --token SECRET     bearer token\n"
"  --kind K           events (custom events), records (creates), nchan\n"
"  --rooms N          records in N rooms, each stream filtered on one\n"
"  --owners N         the same with owners: records of N users (fields.owner\n"
"                     u0 to uN-1), stream i filtered on user u(i mod N)\n"
"  --jwt-secret-file F  with --owners: stream i signs in with an HS256 JWT\n"
"                     of user u(i mod N) made with F's bytes, no filter\n"
"  --jwt-ttl S        those JWTs' lifetime (default 3600)\n"
"  --user U           jwt: the JWT's sub (default u0)\n"
"  --unfiltered       with --rooms or --owners: streams take every record\n"
"  -n, --subs N[,N]   subscribers (idle: one step per count)\n"
"  -r, --rate R       publishes per second (fixed schedule)\n"
"  -d, --seconds S    publishing, holding or CRUD time\n"
"  --size B           payload bytes (ceiling: frame bytes, default 250)\n"
"  --pub-conc P       publish connections (default 4)\n"
"  --connect-conc K   subscribers connecting at once (default 256)\n"
"  --settle S         wait after subscribing (default 0.5)\n"
"  --drain S          wait for late deliveries (default 3)\n"
"  -c, --conc C       CRUD concurrency (default 16)\n"
"  --op OP            create, get, list or mix (default create)\n"
"  --preload K        records created before a get/list/mix run (1000)\n"
"  --query QS         a list's query string (default limit=20)\n"
"  --fcgi-keep        FastCGI keep_conn (reuse connections)\n"
"  --churn L          soak: streams leaving per second (default 50)\n"
"  --away S           soak: seconds a stream stays away (default 1)\n"
"  --sample S         soak: seconds between samples of the server (10)\n"
"  --pid P[,P...]     processes whose CPU and RSS to report\n"
"  --pid-backend P[,P...]\n"
"                     fanout: the backend behind the web server of --pid,\n"
"                     whose CPU is reported apart (cpu_backend_s)\n"
"  -v                 a line per second while publishing\n");
	exit(1);
}

/* Without a precise timer libevent may use a coarse clock, and the
 * publish schedule would slip by a few milliseconds. */
struct event_base *
bench_base_new(void)
{
	struct event_config	*ecfg;
	struct event_base	*b;

	if ((ecfg = event_config_new()) == NULL ||
	    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER) == -1 ||
	    (b = event_base_new_with_config(ecfg)) == NULL)
		errx(1, "event_base_new failed");
	event_config_free(ecfg);
	return (b);
}

uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec);
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n, size)) == NULL)
		errx(1, "out of memory");
	return (p);
}

void *
xrealloc(void *p, size_t size)
{
	if ((p = realloc(p, size)) == NULL)
		errx(1, "out of memory");
	return (p);
}

int64_t
json_int(const char *data, size_t len, const char *key)
{
	const char	*p;

	if ((p = memmem(data, len, key, strlen(key))) == NULL)
		return (-1);
	return (strtoll(p + strlen(key), NULL, 10));
}

void
buf_append(char *buf, size_t size, size_t *len, const char *data, size_t n)
{
	if (n > size - 1 - *len)
		n = size - 1 - *len;
	memcpy(buf + *len, data, n);
	*len += n;
	buf[*len] = '\0';
}

struct options {
	struct target	 sub, pub;
	int		 have_sub, have_pub;
	const char	*prefix;
	const char	*sub_uri;
	const char	*pub_uri;
	const char	*token;
	const char	*kind;
	int		 kind_set;
	int		 rooms;
	int		 owners;	/* rooms named by fields.owner */
	int		 unfiltered;
	const char	*jwt_secret_file;
	long		 jwt_ttl;
	const char	*user;
	const char	*op;
	const char	*subs;
	double		 rate;
	double		 seconds;
	double		 settle;
	double		 drain;
	size_t		 size;
	int		 size_set;
	int		 pub_conc;
	int		 connect_conc;
	int		 conc;
	int		 preload;
	const char	*query;
	int		 fcgi_keep;
	pid_t		 pids[BENCH_MAX_PIDS];
	int		 npids;
	pid_t		 bpids[BENCH_MAX_PIDS];
	int		 nbpids;
	int		 verbose;
	double		 churn;
	double		 away;
	double		 sample;
};

enum {
	OPT_FCGI = 256, OPT_HTTP, OPT_SUB_FCGI, OPT_SUB_HTTP, OPT_PUB_FCGI,
	OPT_PUB_HTTP, OPT_PREFIX, OPT_SUB_URI, OPT_PUB_URI, OPT_TOKEN,
	OPT_KIND, OPT_SIZE, OPT_PUB_CONC, OPT_SETTLE, OPT_DRAIN, OPT_OP,
	OPT_PRELOAD, OPT_FCGI_KEEP, OPT_PID, OPT_CONNECT_CONC, OPT_CHURN,
	OPT_AWAY, OPT_SAMPLE, OPT_ROOMS, OPT_QUERY, OPT_OWNERS,
	OPT_UNFILTERED, OPT_JWT_SECRET_FILE, OPT_JWT_TTL, OPT_USER,
	OPT_PID_BACKEND
};

static const struct option longopts[] = {
	{ "fcgi", required_argument, NULL, OPT_FCGI },
	{ "http", required_argument, NULL, OPT_HTTP },
	{ "sub-fcgi", required_argument, NULL, OPT_SUB_FCGI },
	{ "sub-http", required_argument, NULL, OPT_SUB_HTTP },
	{ "pub-fcgi", required_argument, NULL, OPT_PUB_FCGI },
	{ "pub-http", required_argument, NULL, OPT_PUB_HTTP },
	{ "prefix", required_argument, NULL, OPT_PREFIX },
	{ "sub-uri", required_argument, NULL, OPT_SUB_URI },
	{ "pub-uri", required_argument, NULL, OPT_PUB_URI },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "kind", required_argument, NULL, OPT_KIND },
	{ "rooms", required_argument, NULL, OPT_ROOMS },
	{ "owners", required_argument, NULL, OPT_OWNERS },
	{ "unfiltered", no_argument, NULL, OPT_UNFILTERED },
	{ "jwt-secret-file", required_argument, NULL, OPT_JWT_SECRET_FILE },
	{ "jwt-ttl", required_argument, NULL, OPT_JWT_TTL },
	{ "user", required_argument, NULL, OPT_USER },
	{ "subs", required_argument, NULL, 'n' },
	{ "rate", required_argument, NULL, 'r' },
	{ "seconds", required_argument, NULL, 'd' },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "pub-conc", required_argument, NULL, OPT_PUB_CONC },
	{ "connect-conc", required_argument, NULL, OPT_CONNECT_CONC },
	{ "settle", required_argument, NULL, OPT_SETTLE },
	{ "drain", required_argument, NULL, OPT_DRAIN },
	{ "conc", required_argument, NULL, 'c' },
	{ "op", required_argument, NULL, OPT_OP },
	{ "preload", required_argument, NULL, OPT_PRELOAD },
	{ "query", required_argument, NULL, OPT_QUERY },
	{ "fcgi-keep", no_argument, NULL, OPT_FCGI_KEEP },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "pid-backend", required_argument, NULL, OPT_PID_BACKEND },
	{ "churn", required_argument, NULL, OPT_CHURN },
	{ "away", required_argument, NULL, OPT_AWAY },
	{ "sample", required_argument, NULL, OPT_SAMPLE },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 }
};

static void
set_target(struct target *t, int *have, enum proto proto, const char *s)
{
	if (target_parse(t, proto, s) == -1)
		errx(1, "bad address: %s", s);
	*have = 1;
}

static double
num(const char *s)
{
	char	*end;
	double	 v;

	v = strtod(s, &end);
	if (*end != '\0' || v < 0)
		errx(1, "bad number: %s", s);
	return (v);
}

static void
parse_options(int argc, char **argv, struct options *o)
{
	int	 ch;

	while ((ch = getopt_long(argc, argv, "n:r:d:c:v", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case OPT_FCGI:
		case OPT_HTTP:
			set_target(&o->sub, &o->have_sub, ch == OPT_FCGI ?
			    PROTO_FCGI : PROTO_HTTP, optarg);
			set_target(&o->pub, &o->have_pub, ch == OPT_FCGI ?
			    PROTO_FCGI : PROTO_HTTP, optarg);
			break;
		case OPT_SUB_FCGI:
		case OPT_SUB_HTTP:
			set_target(&o->sub, &o->have_sub, ch == OPT_SUB_FCGI ?
			    PROTO_FCGI : PROTO_HTTP, optarg);
			break;
		case OPT_PUB_FCGI:
		case OPT_PUB_HTTP:
			set_target(&o->pub, &o->have_pub, ch == OPT_PUB_FCGI ?
			    PROTO_FCGI : PROTO_HTTP, optarg);
			break;
		case OPT_PREFIX: o->prefix = optarg; break;
		case OPT_SUB_URI: o->sub_uri = optarg; break;
		case OPT_PUB_URI: o->pub_uri = optarg; break;
		case OPT_TOKEN: o->token = optarg; break;
		case OPT_KIND: o->kind = optarg; o->kind_set = 1; break;
		case OPT_ROOMS: o->rooms = (int)num(optarg); o->owners = 0;
			break;
		case OPT_OWNERS: o->rooms = (int)num(optarg); o->owners = 1;
			break;
		case OPT_UNFILTERED: o->unfiltered = 1; break;
		case OPT_JWT_SECRET_FILE: o->jwt_secret_file = optarg; break;
		case OPT_JWT_TTL: o->jwt_ttl = (long)num(optarg); break;
		case OPT_USER: o->user = optarg; break;
		case 'n': o->subs = optarg; break;
		case 'r': o->rate = num(optarg); break;
		case 'd': o->seconds = num(optarg); break;
		case OPT_SIZE: o->size = (size_t)num(optarg); o->size_set = 1;
			break;
		case OPT_PUB_CONC: o->pub_conc = (int)num(optarg); break;
		case OPT_CONNECT_CONC: o->connect_conc = (int)num(optarg); break;
		case OPT_SETTLE: o->settle = num(optarg); break;
		case OPT_DRAIN: o->drain = num(optarg); break;
		case 'c': o->conc = (int)num(optarg); break;
		case OPT_OP: o->op = optarg; break;
		case OPT_PRELOAD: o->preload = (int)num(optarg); break;
		case OPT_QUERY: o->query = optarg; break;
		case OPT_FCGI_KEEP: o->fcgi_keep = 1; break;
		case OPT_PID:
			o->npids = proc_parse_pids(optarg, o->pids,
			    BENCH_MAX_PIDS);
			break;
		case OPT_PID_BACKEND:
			o->nbpids = proc_parse_pids(optarg, o->bpids,
			    BENCH_MAX_PIDS);
			break;
		case OPT_CHURN: o->churn = num(optarg); break;
		case OPT_AWAY: o->away = num(optarg); break;
		case OPT_SAMPLE: o->sample = num(optarg); break;
		case 'v': o->verbose = 1; break;
		default: usage();
		}
	}
	o->sub.fcgi_keep = o->pub.fcgi_keep = o->fcgi_keep;
}

static const char *
uri_join(char *buf, size_t size, const char *prefix, const char *tail)
{
	if (prefix == NULL)
		errx(1, "--prefix (or --sub-uri and --pub-uri) is needed");
	if ((size_t)snprintf(buf, size, "%s%s", prefix, tail) >= size)
		errx(1, "--prefix is too long");
	return (buf);
}

static int
parse_counts(const char *s, int *out, int max)
{
	char	*end;
	int	 n = 0;

	while (s != NULL && *s != '\0' && n < max) {
		out[n++] = (int)strtol(s, &end, 10);
		if (end == s || out[n - 1] < 0)
			errx(1, "bad subscriber count: %s", s);
		s = *end == ',' ? end + 1 : end;
	}
	return (n);
}

/* The options fan-out and soak runs share; sub and pub hold the URIs
 * made from --prefix. */
static void
load_fill(struct options *o, struct load_opts *l, const char *kind,
    int publish, char *sub, char *pub, size_t size)
{
	if (!o->have_sub || (publish && !o->have_pub))
		errx(1, "--fcgi or --http is needed");
	l->sub_target = &o->sub;
	l->pub_target = &o->pub;
	l->kind = kind;
	l->sub_uri = o->sub_uri ? o->sub_uri : uri_join(sub, size,
	    o->prefix, "/events");
	if (o->pub_uri != NULL)
		l->pub_uri = o->pub_uri;
	else if (publish)
		l->pub_uri = uri_join(pub, size, o->prefix,
		    strcmp(kind, "records") == 0 ? "/records" : "/events");
	l->token = o->token;
	l->rooms = strcmp(kind, "records") == 0 ? o->rooms : 0;
	l->room_field = o->owners ? "owner" : "room";
	l->room_prefix = o->owners ? "u" : "r";
	l->unfiltered = o->unfiltered;
	if (o->jwt_secret_file != NULL) {
		if (!o->owners || l->rooms <= 0 || o->unfiltered)
			errx(1, "--jwt-secret-file needs --owners and records");
		l->jwt_key = jwt_secret_read(o->jwt_secret_file,
		    &l->jwt_keylen);
		l->jwt_ttl = o->jwt_ttl > 0 ? o->jwt_ttl : 3600;
	}
	l->rate = o->rate;
	l->seconds = o->seconds;
	l->drain = o->drain;
	l->size = o->size_set ? o->size : 200;
	l->pub_conc = o->pub_conc > 0 ? o->pub_conc : 1;
	l->connect_conc = o->connect_conc > 0 ? o->connect_conc : 1;
	l->pids = o->pids;
	l->npids = o->npids;
	l->bpids = o->bpids;
	l->nbpids = o->nbpids;
}

static int
run_fanout(struct options *o, int idle)
{
	struct fanout_opts	 f;
	char			 sub[1024], pub[1024];
	int			 rc;

	memset(&f, 0, sizeof f);
	load_fill(o, &f.l, o->kind, !idle, sub, pub, sizeof sub);
	f.nsteps = parse_counts(o->subs ? o->subs : "100", f.subs, 8);
	f.settle = o->settle;
	f.verbose = o->verbose;
	if (!idle && (f.l.rate <= 0 || f.l.seconds <= 0))
		errx(1, "fanout needs --rate and --seconds above 0");
	rc = idle ? idle_run(&f) : fanout_run(&f);
	free((void *)f.l.jwt_key);
	return (rc);
}

static int
run_crud(struct options *o)
{
	struct crud_opts	 c;
	char			 rec[1024];

	memset(&c, 0, sizeof c);
	if (!o->have_pub)
		errx(1, "--fcgi or --http is needed");
	c.target = &o->pub;
	c.records_uri = o->pub_uri ? o->pub_uri : uri_join(rec, sizeof rec,
	    o->prefix, "/records");
	c.token = o->token;
	c.op = o->op;
	c.conc = o->conc > 0 ? o->conc : 1;
	c.seconds = o->seconds;
	c.size = o->size_set ? o->size : 100;
	c.preload = o->preload;
	c.query = o->query != NULL ? o->query : "limit=20";
	c.pids = o->pids;
	c.npids = o->npids;
	return (crud_run(&c));
}

/* One JWT, as the streams of a JWT run sign in with. */
static int
run_jwt(struct options *o)
{
	uint8_t	*key;
	size_t	 keylen;
	char	*jwt;

	if (o->jwt_secret_file == NULL)
		errx(1, "jwt needs --jwt-secret-file");
	key = jwt_secret_read(o->jwt_secret_file, &keylen);
	jwt = jwt_hs256(key, keylen, o->user != NULL ? o->user : "u0",
	    time(NULL), o->jwt_ttl > 0 ? o->jwt_ttl : 3600);
	printf("%s\n", jwt);
	free(jwt);
	free(key);
	return (0);
}

static int
run_soak(struct options *o)
{
	struct soak_opts	 k;
	char			 sub[1024], pub[1024];
	int			 counts[1], rc;

	memset(&k, 0, sizeof k);
	load_fill(o, &k.l, o->kind_set ? o->kind : "records", 1, sub, pub,
	    sizeof sub);
	parse_counts(o->subs ? o->subs : "10000", counts, 1);
	k.streams = counts[0];
	if (k.l.rate <= 0)
		k.l.rate = 5;
	k.churn = o->churn >= 0 ? o->churn : 50;
	k.away = o->away >= 0 ? o->away : 1;
	k.sample = o->sample > 0 ? o->sample : 10;
	if (k.l.seconds <= 0 || k.streams <= 0)
		errx(1, "soak needs --seconds and --subs above 0");
	rc = soak_run(&k);
	free((void *)k.l.jwt_key);
	return (rc);
}

int
main(int argc, char **argv)
{
	struct options	 o;
	const char	*mode;
	int		 rc, counts[8];

	if (argc < 2 || argv[1][0] == '-')
		usage();
	mode = argv[1];
	memset(&o, 0, sizeof o);
	o.kind = "events";
	o.op = "create";
	o.seconds = 10;
	o.settle = 0.5;
	o.drain = 3;
	o.pub_conc = 4;
	o.connect_conc = BENCH_CONNECTING;
	o.conc = 16;
	o.preload = 1000;
	o.churn = -1;
	o.away = -1;
	optind = 2;
	parse_options(argc, argv, &o);

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	proc_raise_nofile();
	srandom((unsigned)now_ns());
	if (strcmp(mode, "ceiling") == 0) {
		parse_counts(o.subs ? o.subs : "1000", counts, 1);
		return (ceiling_run(counts[0], (int)(o.seconds > 0 ?
		    o.seconds : 5), o.size_set ? o.size : 250));
	}
	if (strcmp(mode, "jwt") == 0)
		return (run_jwt(&o));
	base = bench_base_new();
	if (strcmp(mode, "fanout") == 0)
		rc = run_fanout(&o, 0);
	else if (strcmp(mode, "idle") == 0)
		rc = run_fanout(&o, 1);
	else if (strcmp(mode, "crud") == 0)
		rc = run_crud(&o);
	else if (strcmp(mode, "soak") == 0)
		rc = run_soak(&o);
	else
		usage();
	event_base_free(base);
	return (rc);
}
