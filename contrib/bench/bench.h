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

/* The load generator's one header: its structs and every file's prototypes. */

#ifndef BENCH_H
#define BENCH_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event;
struct event_base;

#define BENCH_READ_SIZE		(64 * 1024)	/* bytes read per read(2) */
#define BENCH_HEAD_MAX		(16 * 1024)	/* response head limit */
#define BENCH_BODY_KEEP		4096		/* response body kept for parsing */
#define BENCH_LINE_MAX		(64 * 1024)	/* longest SSE line accepted */
#define BENCH_CONNECTING	256		/* subscribers connecting at once */
#define BENCH_MAX_PIDS		64	/* Apache's master and children */
#define HIST_SUB_BITS		5		/* 32 buckets per power of two */
#define HIST_BUCKETS		(64 << HIST_SUB_BITS)

/* Where requests go. */
enum proto {
	PROTO_FCGI,
	PROTO_HTTP
};

struct target {
	enum proto		 proto;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	char			 host[256];	/* HTTP Host header */
	int			 fcgi_keep;	/* FastCGI keep_conn */
};

/* A log-bucketed histogram of nanoseconds. */
struct hist {
	uint64_t	 count;
	uint64_t	 max;
	uint64_t	 min;
	double		 sum;
	uint64_t	 bucket[HIST_BUCKETS];
};

/* One request/response connection (FastCGI or HTTP). */
struct client;
typedef void	(*client_head_cb)(struct client *);
typedef void	(*client_body_cb)(struct client *, const char *, size_t);
typedef void	(*client_done_cb)(struct client *, int error);

struct client {
	const struct target	*t;
	int			 fd;
	struct event		*rev;
	struct event		*wev;
	int			 busy;		/* a request is out */
	char			 last_event_id[24]; /* sent when not empty */
	unsigned		 gen;		/* changes when a response ends */
	uint64_t		 rtime;		/* when the last read(2) returned */

	char			*out;		/* unsent request bytes */
	size_t			 outlen;
	size_t			 outoff;

	/* Response state. */
	int			 status;
	int			 head_done;
	char			*head;
	size_t			 headlen;
	int			 http_close;	/* Connection: close or HTTP/1.0 */
	int			 body_mode;
	int64_t			 body_left;
	int			 chunk_state;
	char			 chunk_line[32];
	size_t			 chunk_linelen;

	/* FastCGI record parser. */
	uint8_t			 rh[8];
	size_t			 rhlen;
	size_t			 rcontent;
	size_t			 rpad;
	int			 rtype;
	int			 ended;

	client_head_cb		 on_head;
	client_body_cb		 on_body;
	client_done_cb		 on_done;
	void			*arg;
};

/* An SSE parser: per-connection line state and the event being built. */
struct sse;
typedef void	(*sse_event_cb)(void *, const char *id, const char *type,
		    const char *data, size_t datalen);
struct sse {
	char		*line;		/* a partial line across reads */
	size_t		 linelen;
	size_t		 linecap;
	char		*data;
	size_t		 datalen;
	size_t		 datacap;
	char		 id[64];
	char		 type[72];
	uint64_t	 comments;
	int		 overflow;
	sse_event_cb	 cb;
	void		*arg;
};

/* Process figures read from /proc. */
struct procstat {
	double		 cpu;		/* utime + stime, seconds */
	long		 rss_kb;
	int		 ok;
	double		 self_cpu;	/* the bench's own */
	double		 mach_busy;	/* the whole machine's */
	double		 mach_total;
	double		 backend_cpu;	/* of the --pid-backend processes */
	int		 backend_ok;
};

/* bench.c */
/* The calling thread's loop: the publisher has one of its own. */
extern __thread struct event_base	*base;
struct event_base	*bench_base_new(void);
uint64_t	 now_ns(void);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);
/* The integer after key in a JSON text, or -1. */
int64_t		 json_int(const char *, size_t, const char *key);
/* Appends to a buffer of size bytes holding *len, as much as fits, and
 * keeps it NUL-terminated. */
void		 buf_append(char *, size_t size, size_t *len, const char *,
		    size_t);

/* target.c */
int		 target_parse(struct target *, enum proto, const char *);
int		 target_socket(const struct target *);

/* client.c */
void		 client_init(struct client *, const struct target *,
		    client_head_cb, client_body_cb, client_done_cb, void *);
/* Sends one request; opens a connection if none is open. -1 if it
 * could not connect now (EAGAIN on a full backlog: retry later). */
int		 client_request(struct client *, const char *method,
		    const char *uri, const char *token, const char *accept,
		    const char *body, size_t bodylen);
int		 client_subscribe(struct client *, const char *uri,
		    const char *token);
void		 client_close(struct client *);
/* Header value from the response head, or NULL. */
const char	*client_header(struct client *, const char *, char *, size_t);

/* sse.c */
void		 sse_init(struct sse *, sse_event_cb, void *);
void		 sse_feed(struct sse *, const char *, size_t);
void		 sse_free(struct sse *);

/* hist.c */
void		 hist_init(struct hist *);
void		 hist_add(struct hist *, uint64_t);
void		 hist_merge(struct hist *, const struct hist *);
uint64_t	 hist_pct(const struct hist *, double);
void		 hist_print(const struct hist *, const char *name);
void		 hist_result(const struct hist *, const char *prefix);

/* proc.c */
int		 proc_parse_pids(const char *, pid_t *, int);
void		 proc_read(const pid_t *, int, struct procstat *);
void		 proc_read_backend(const pid_t *, int, struct procstat *);
void		 proc_raise_nofile(void);
long		 proc_self_rss_kb(void);
void		 proc_machine(double *busy, double *total);
double		 proc_self_cpu(void);
void		 proc_cpu_report(const struct procstat *, const struct procstat *);
void		 proc_cpu_result(const struct procstat *, const struct procstat *);

/* jwt.c */
uint8_t		*jwt_secret_read(const char *, size_t *);
char		*jwt_hs256(const uint8_t *, size_t, const char *sub, time_t,
		    long ttl);

/* ceiling.c */
int		 ceiling_run(int pairs, int seconds, size_t frame);

/* pub.c */
/* Fields a publisher on another thread shares with the main thread. */
#define SHARED_GET(f)		__atomic_load_n(&(f), __ATOMIC_ACQUIRE)
#define SHARED_SET(f, v)	__atomic_store_n(&(f), (v), __ATOMIC_RELEASE)

struct load_opts;
struct pub_req;
struct publisher {
	const struct load_opts	*o;		/* the publishing load */
	const char		*type;		/* event type, NULL: records */
	int64_t			 total;		/* seqs on the schedule */
	uint64_t		 t0;		/* when seq 0 is due */
	int			 eager;		/* pump on every answer */
	char			*pad;
	struct pub_req		*reqs;
	struct pub_req		*free_reqs;
	uint8_t			*state;		/* per seq: 1 ok, 2 failed */
	struct hist		 lat;		/* due time to answer */
	int64_t			 failed;
	int			 last_status;

	/* SHARED_GET from another thread while the publisher runs. */
	int64_t			 sent;
	int64_t			 answered;
	int64_t			 ok;
	uint64_t		 t_last_sent;
	uint64_t		 t_last_answer;
};
/* What one stream got of a publisher's seqs. */
struct got {
	int			 room;		/* it is due only these; -1: all */
	uint8_t			*seen;		/* a bit per seq */
	uint64_t		 recv;
	uint64_t		 dup;
	uint64_t		 ooo;
	uint64_t		 other;		/* events of another type */
	uint64_t		 bad;		/* unreadable events */
};
/* The streams' accounts summed at the end of a run. */
struct tally {
	uint64_t		 missing;
	uint64_t		 dup;
	uint64_t		 ooo;
	uint64_t		 unexpected;	/* got although it failed */
	uint64_t		 other;
	uint64_t		 bad;
	int			 complete;	/* streams that got all */
};
void		 pub_init(struct publisher *, const struct load_opts *,
		    const char *type, int64_t total);
void		 pub_pump(struct publisher *, uint64_t now);
int		 pub_read(const struct publisher *, struct got *,
		    const char *want, const char *type, const char *data,
		    size_t len, int64_t *seq, int64_t *t);
int		 pub_seen(const struct publisher *, struct got *, int64_t seq,
		    int64_t t, uint64_t now, struct hist *);
void		 pub_tally(const struct publisher *, struct tally *,
		    const struct got *, int64_t upto);
int		 pub_due(const struct publisher *, int room, int64_t seq);
void		 pub_close(struct publisher *);
void		 pub_free(struct publisher *);

/* What fan-out and soak runs share: where streams and publishes go, and
 * the publishing load. */
struct load_opts {
	const struct target	*sub_target;
	const struct target	*pub_target;
	const char		*sub_uri;
	const char		*pub_uri;
	const char		*token;
	const char		*kind;		/* events, records, nchan */
	int			 rooms;		/* records: seq k in room k % rooms,
						   stream i filtered on room
						   i % rooms; 0: none */
	const char		*room_field;	/* the record's field naming its
						   room: room (values rN) or
						   owner (values uN) */
	const char		*room_prefix;
	int			 unfiltered;	/* streams take every room */
	const uint8_t		*jwt_key;	/* HS256: stream i signs in as
						   user u(i % rooms), with no
						   filter; NULL: the token */
	size_t			 jwt_keylen;
	long			 jwt_ttl;
	double			 rate;		/* publishes per second */
	double			 seconds;
	double			 drain;
	size_t			 size;
	int			 pub_conc;
	int			 connect_conc;
	const pid_t		*pids;
	int			 npids;
	const pid_t		*bpids;		/* the backend behind a web
						   server, measured apart */
	int			 nbpids;
};

/* fanout.c */
struct fanout_opts {
	struct load_opts	 l;
	int			 subs[8];	/* counts; idle mode steps */
	int			 nsteps;
	double			 settle;
	int			 verbose;
};
int		 fanout_run(const struct fanout_opts *);
int		 idle_run(const struct fanout_opts *);

/* soak.c */
struct soak_opts {
	struct load_opts	 l;
	int			 streams;
	double			 churn;		/* streams leaving per second */
	double			 away;		/* seconds a leaver stays away */
	double			 sample;	/* seconds between samples */
};
int		 soak_run(const struct soak_opts *);

/* crud.c */
struct crud_opts {
	const struct target	*target;
	const char		*records_uri;
	const char		*token;
	const char		*op;		/* create, get, list, mix */
	int			 conc;
	double			 seconds;
	size_t			 size;
	int			 preload;
	const char		*query;		/* of a list */
	const pid_t		*pids;
	int			 npids;
};
int		 crud_run(const struct crud_opts *);

#endif
