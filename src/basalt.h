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

/* The one internal header: limits, structs and every file's prototypes. */

#ifndef BASALT_H
#define BASALT_H

#include <sys/types.h>

#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct evbuffer;
struct event_base;
struct filter;
struct db;
struct dbq;
struct stream;
struct worker;
struct conn;
struct store;
struct hooks;
struct filter_sql;
struct filter_band;

/*
 * Threads
 *
 * basalt serve runs these threads (and webhook.c's sender); nothing else
 * starts threads.
 *
 * The loop (the main thread; server.c, conn.c, broker.c) runs the
 * libevent base. It alone owns every socket and struct conn, the streams
 * and topics, timers and signals, and it alone publishes a new
 * configuration (SIGHUP). It never reads the database, nor blocks on
 * its lock or on user code.
 *
 * The tail (tail.c, one) reads the event log on its own store and queues
 * batches of events for the loop, which publishes them.
 *
 * The broker's reader (broker.c, one) does the streams' reads on its own
 * store (replay, revoked tokens, rules) and hands the rows to the loop.
 *
 * The workers (worker.c, cfg->workers of them) take complete requests from
 * one queue and run the handlers (route.c, api.c, auth.c, reply.c, the
 * hooks) on their own store and their own hook heaps.
 *
 * The writer (writer.c, one) commits every write of the process in batches
 * on its own store (a write's before-hooks ran on a worker first), and
 * runs the retention sweep. It never waits for a socket.
 *
 * How a request passes between them. conn.c reads the FastCGI records of
 * a request on the loop; once it is whole, worker_enqueue() hands the
 * struct request to the workers, and from then on the request (not its
 * conn) belongs to the one thread holding it. A worker fills req->out and
 * calls conn_complete(), which queues the request for the loop; the
 * loop writes the reply (conn_reply) or, for a stream, hands the conn to
 * broker_subscribe(). A write goes from the worker to the writer
 * (writer_submit waits; writer_submit_async returns API_PENDING and the
 * op's done_cb runs on the writer, which then completes the request or
 * queues it for a worker again with req->after set). After its commit the
 * writer calls tail_wake(); the tail then reads the new events from the
 * database and queues copies of them for the loop (tail.c), which fans
 * them out (broker.c). Events reach the loop only through the log, never
 * by a pointer into another thread's work.
 *
 * Which functions may be called from where:
 *   any thread	  conn_complete, conn_stopping, tail_wake,
 *		  worker_enqueue, writer_submit,
 *		  writer_submit_async, writer_prune, broker_count,
 *		  broker_spec_bind,
 *		  hooks_app_has, hooks_reload_all, config_refresh, log_*,
 *		  x* allocators, ulid_new, time_*, error_set, and the pure
 *		  parsers (jsonutil.c, fcgi.c, config_parse_*, route_split,
 *		  request_decode, cors_*_parse, filter_* but filter_sql_bind,
 *		  which binds on its statement's store; a parsed filter is
 *		  read-only and may be shared)
 *   loop only	  conn_* (but conn_complete, conn_stopping), broker_*
 *		  (but broker_count), tail_* (but tail_wake),
 *		  config_publish, route_max_body
 *   worker only  route_dispatch, route_batch and the api_* handlers,
 *		  hooks_before, hooks_after, cors_check, cors_preflight
 *   writer only  a write_op's apply and done_cb, hooks_pubs_apply,
 *		  store_event_prune
 *   per store	  a struct store is one SQLite connection, used by one
 *		  thread at a time: the main thread opens and closes the
 *		  workers' and the writer's stores before their threads
 *		  start and after they are joined (store_* take it first).
 *
 * The configuration. cfg is this thread's snapshot of it, never written
 * once published: a worker refreshes it (config_refresh) when it takes a
 * request, the writer when it takes a batch, and the loop's is always the
 * current one, since only the loop replaces it. So one request phase, one
 * batch or one loop callback sees one configuration throughout. A
 * replaced snapshot is freed by the last thread to let go of it; at most
 * one per thread plus the current one are alive. The stop flag is read
 * with conn_stopping() (atomic); the worker and writer queues have their
 * own stop flags under their locks.
 */

/* Defaults, each overridable from basalt.conf. */
#define DEFAULT_WORKERS			4
#define DEFAULT_REQUEST_TIMEOUT		30
#define DEFAULT_MAX_BODY_SIZE		(1024 * 1024)
#define DEFAULT_MAX_BATCH_SIZE		(16 * 1024 * 1024)
#define DEFAULT_HEARTBEAT_INTERVAL	15
#define DEFAULT_STREAM_BUFFER_LIMIT	(1024 * 1024)
#define DEFAULT_RETRY_MS		2000
#define DEFAULT_RETENTION_SECONDS	86400
#define DEFAULT_RETENTION_COUNT		1000000
#define DEFAULT_BUSY_TIMEOUT_MS		5000
#define DEFAULT_DATABASE_TIMEOUT_MS	800
#define DEFAULT_HOOK_TIMEOUT_MS		1000
#define DEFAULT_WEBHOOK_TIMEOUT_MS	10000
#define DEFAULT_WEBHOOK_MAX_FAILURES	10

/* Fixed limits. */
#define MAX_WORKERS		256
#define MAX_NAME_LEN		63	/* realm, app, collection names */
#define ULID_LEN		26
#define TIMESTAMP_LEN		24	/* 2026-11-29T17:21:40.123Z */
#define MAX_PARAMS_SIZE		(64 * 1024)	/* FastCGI params of a request */
#define MAX_JSON_DEPTH		64
#define DEFAULT_PAGE_LIMIT	50
#define MAX_PAGE_LIMIT		500
#define MAX_EVENT_TYPE_LEN	64
#define MAX_STREAM_TYPES	32	/* types= of a stream */
#define MAX_FEED_COLLECTIONS	64	/* collections= of a change feed */
#define MAX_LABEL_LEN		200
#define MAX_BATCH_REQUESTS	1000	/* writes in one batch request */
#define WRITER_BATCH_MAX	256	/* writes committed together */
#define WRITER_BATCH_MAX_PG	64	/* the same on PostgreSQL */
#define REPLAY_BATCH		256	/* events read per replay step */
#define TAIL_BATCH		1024	/* events read per tail step */
#define FLUSH_STREAMS		1024	/* streams written per loop turn */
#define TAIL_POLL_MS		10	/* look for other processes' commits */
#define TAIL_POLL_PG_MS		250	/* the same on PostgreSQL, besides
					   its notifications */
#define TAIL_QUEUE_MAX		8	/* batches read, not yet published */
#define TAIL_RETRY_MS		50	/* after a failed read, doubling */
#define TAIL_RETRY_MAX_MS	1000
#define PRUNE_INTERVAL		60	/* seconds between retention sweeps */
#define PRUNE_BATCH		2000	/* events deleted per transaction */
#define PRUNE_APPS		64	/* apps trimmed per transaction */
#define STREAM_LOW_WATER	(64 * 1024)	/* replay resumes below this */
#define TOKEN_SECRET_BYTES	32
#define TOKEN_HASH_LEN		64	/* hex of a 32-byte BLAKE2b */
#define TOKEN_ID_LEN		16
#define MAX_ORIGIN_LEN		255	/* scheme://host[:port] */
#define MAX_APP_ORIGINS		100	/* CORS origins of one app */
#define CORS_MAX_AGE		3600	/* seconds a preflight is cached */
#define FILTER_MAX_LEN		2048	/* bytes of a filter or sort */
#define FILTER_MAX_TERMS	64	/* comparisons in a filter */
#define FILTER_MAX_DEPTH	64	/* nested parentheses and ! */
#define FILTER_MAX_IN		100	/* values of in (...) */
#define FILTER_MAX_SORT_KEYS	8	/* besides id */
#define MAX_COLLECTION_INDEXES	8	/* indexes on one collection */
#define MAX_INDEX_FIELD_LEN	200	/* fields.a.b of an index */
#define MAX_SUB_LEN		255	/* a JWT's sub */
#define MAX_JWT_LEN		8192	/* bytes of a JWT */
#define MAX_JWT_KEYS		16	/* verification keys of one app */
#define JWT_LEEWAY		60	/* seconds of clock skew allowed */
#define JWT_MAX_LIFETIME	86400	/* default longest exp - iat, seconds */
#define MAX_KID_LEN		128	/* a JWT key's kid */
#define MAX_JWT_CLAIM_LEN	255	/* an app's issuer, audience */
#define MAX_JWT_KEY_LEN		4096	/* bytes of a stored key */
#define JWT_MIN_SECRET		32	/* bytes of an HS256 secret, at least */
#define REQUEST_ID_MAX		128	/* bytes of an X-Request-Id */
#define WEBHOOK_BATCH		100	/* events in one webhook request */
#define WEBHOOK_POLL_MS		100	/* look for other processes' commits */
#define WEBHOOK_SCAN_MS		1000	/* look for webhooks due a retry */
#define WEBHOOK_BACKOFF_MAX	3600	/* seconds between retries, at most */
#define WEBHOOK_LEASE_MARGIN_MS	5000	/* a lease outlives a request by it */
#define WEBHOOK_ID_LEN		ULID_LEN
#define WEBHOOK_SECRET_MIN	16	/* bytes of a secret, at least */
#define WEBHOOK_SECRET_MAX	256
#define WEBHOOK_URL_MAX		2048
#define WEBHOOK_ERROR_MAX	255	/* bytes of a last error kept */

/* Log levels. */
enum {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

/* Token scopes, a bit mask. */
#define SCOPE_READ	0x1
#define SCOPE_WRITE	0x2
#define SCOPE_ADMIN	0x4

/* Causes of a failed request; reply.c maps each to a status and code. */
enum err {
	ERR_NONE,
	ERR_INVALID_JSON,
	ERR_NOT_OBJECT,
	ERR_INVALID_NAME,
	ERR_INVALID_ID,
	ERR_INVALID_PARAMETER,
	ERR_INVALID_EVENT,
	ERR_INVALID_FILTER,
	ERR_UNAUTHORIZED,
	ERR_FORBIDDEN,
	ERR_NOT_FOUND,
	ERR_METHOD,
	ERR_TIMEOUT,
	ERR_CONFLICT,
	ERR_TOO_LARGE,
	ERR_INVALID_BATCH,
	ERR_BATCH_TOO_LARGE,
	ERR_HEADERS_TOO_LARGE,
	ERR_MEDIA_TYPE,
	ERR_HOOK_REJECTED,
	ERR_HOOK_FAILED,
	ERR_INTERNAL,
	ERR_BUSY,
	ERR_UNAVAILABLE,	/* 503, PostgreSQL cannot be reached now */
	ERR_INVALID_TOKEN,	/* 401, a token was sent and is refused */
	ERR_INSUFFICIENT_SCOPE,	/* 403, a JWT without the route's scope */
	ERR_EVENTS_PRUNED,	/* 410, since= is older than the log keeps */
	ERR__COUNT
};

struct error {
	enum err	 code;
	char		 message[256];
	char		 allow[64];	/* the Allow header with ERR_METHOD */
	int		 logged;	/* the cause is in the log already */
	int		 batch_index;	/* 1 + the batch's failing request */
	int64_t		 oldest_id;	/* ERR_EVENTS_PRUNED: the oldest event
					   the log keeps (0: none) */
};

struct config {
	char		*path;		/* the file read, NULL if none */
	char		*database;
	char		*listen;	/* NULL: the socket on fd 0 */
	int		 workers;
	int		 request_timeout;
	size_t		 max_body_size;
	size_t		 max_batch_size;
	int		 heartbeat_interval;
	size_t		 stream_buffer_limit;
	int		 retry_ms;
	long		 retention_seconds;
	long		 retention_count;
	int		 synchronous_full;
	int		 busy_timeout_ms;
	int		 database_timeout_ms;	/* PostgreSQL's calls */
	char		*hooks_dir;
	int		 hook_timeout_ms;
	int		 hook_calls_per_app;	/* 0: half the workers */
	int		 log_level;
	char		*dashboard_dir;
	char		*cors_origins;	/* normalised, space-separated, or "*";
					   NULL: none */
	char		*access_log;	/* NULL: off */
	int		 metrics;	/* METRICS_* */
	char		*metrics_token_file;
	char		*metrics_token;	/* its secret, read at load */
	int		 webhook_timeout_ms;
	int		 webhook_max_failures;
	int		 webhook_allow_private;
	int		 refs;		/* snapshot holders (config.c) */
};

/* One FastCGI request, from its first record to the reply. */
struct param {
	char		*name;
	char		*value;
};

struct request {
	struct conn	*conn;		/* the loop's side; never touched by workers */
	uint16_t	 id;		/* FastCGI request id */
	int		 keep_conn;
	int		 params_done;
	int		 too_large;	/* body passed max_body */
	size_t		 max_body;	/* the route's limit, once params are in */
	int64_t		 started_us;	/* time_mono_us() at its first record */
	char		 rid[REQUEST_ID_MAX + 1];	/* X-Request-Id, once
							   params are in */

	struct param	*params;	/* one allocation: the array, then
					   the strings it points to */
	size_t		 nparams;
	size_t		 params_size;
	struct evbuffer	*params_raw;	/* PARAMS stream until it ends */
	struct evbuffer	*body;

	/* Filled by the worker. */
	struct evbuffer	*out;		/* CGI response: headers, blank line, body */
	int		 status;
	struct error	 err;
	int		 cors;		/* the answer carries Vary: Origin */
	const char	*route;		/* the route's pattern, or NULL */
	int		 route_ix;	/* its row in route.c's table + 1, 0: none */
	char		 log_scope[2 * MAX_NAME_LEN + 2];	/* "realm/app",
							   "": none */
	char		 cors_origin[MAX_ORIGIN_LEN + 1];	/* "": none */

	/* Set when the reply is an event stream. */
	int		 stream;
	struct stream_spec {
		char	 realm[MAX_NAME_LEN + 1];
		char	 app[MAX_NAME_LEN + 1];
		char	 collection[MAX_NAME_LEN + 1];
		char	 record_id[ULID_LEN + 1];	/* "" for the collection */
		int	 has_last_id;
		int64_t	 last_id;
		/* Read by the worker for a stream that resumes
		 * (broker_spec_start): the log's last id, the app's newest
		 * pruned id, and whether last_id is unknown to the log. */
		int64_t	 start_max;
		int64_t	 start_pruned;
		int	 start_unknown;
		char	 token_id[TOKEN_ID_LEN + 1];	/* ends it if revoked */
		int64_t	 expires_at;	/* unix seconds, 0 for never */
		struct filter *filter;	/* filter=, or NULL: the broker takes
					   it, else request_free frees it */
		char	*filter_text;	/* its text, which names its topic */
		char	*types;		/* types= as ",a,b," sorted; NULL: all */
		/* An end user's stream (a JWT), which the collection's rules
		 * bind (broker_spec_bind): filter is then the list (view)
		 * rule && filter=, filter_text its canonical text. */
		int	 jwt;
		int64_t	 collection_id;
		int64_t	 bound_at;	/* the log's last id before the rules
					   were read */
		char	*claims;	/* the JWT's payload as JSON text */
		char	*user_filter;	/* filter= as given; NULL: none */
		int	 subscribe;	/* custom events: SUBSCRIBE_* */
		struct filter *sub_filter;	/* SUBSCRIBE_SOME: the bound
						   subscribe rule */
		char	*sub_text;	/* its canonical text */
		/* The change feed (api_changes.c): every event of the app,
		 * or of the collections in colls (",a,b,"; NULL: all);
		 * collection is "". As NDJSON it ends after end_at. An end
		 * user's feed has each visible collection bound to its rules
		 * (binds, sorted by name); the others are left out. NDJSON
		 * is read by a worker in parts (broker_feed_page), never a
		 * stream of the broker's. */
		int	 feed;
		char	*colls;
		int	 ndjson;
		int64_t	 end_at;
		struct feed_bind *binds;
		size_t	 nbinds;
	} spec;

	/* Set when the request goes back to a worker after its write, or
	 * for its next part (more). after_free, if set, frees after_arg
	 * with the request. */
	void		(*after)(struct worker *, struct request *);
	void		*after_arg;
	void		(*after_free)(void *);
	/* The answer comes in parts: req->out holds one, and the request
	 * goes back to a worker (after) once the client has taken most of
	 * it. The access log has its line after the first (logged). */
	int		 more;
	int		 logged;

	struct request	*next;		/* queue link */
};

/* A worker thread (and the writer thread): its own database and hooks. */
struct worker {
	pthread_t	 thread;
	int		 index;
	struct store	*store;
	struct hooks	*hooks;
};

/* What a request's token grants, after auth. */
struct grant {
	char		 token_id[TOKEN_ID_LEN + 1];
	char		 realm[MAX_NAME_LEN + 1];
	char		 app[MAX_NAME_LEN + 1];
	int		 scopes;
	char		 label[MAX_LABEL_LEN + 1];
	int64_t		 expires_at;	/* unix seconds, 0 for never */
	int64_t		 realm_id;
	int64_t		 app_id;
	/* An end user's JWT (jwt.c) rather than a service token: rules
	 * apply, token_id and label are "". */
	int		 jwt;
	char		 sub[MAX_SUB_LEN + 1];
	json_object	*claims;	/* the JWT's payload; owned by the request
					   (route.c puts it after the handler):
					   never kept past the handler */
};

/* The ids behind realm/app/collection names. */
struct scope_ids {
	int64_t		 realm_id;
	int64_t		 app_id;
	int64_t		 collection_id;
};

/* A record as the API shows it. */
struct record {
	char		 id[ULID_LEN + 1];
	char		 collection[MAX_NAME_LEN + 1];
	char		*fields;	/* JSON text of an object, owned */
	char		 created_at[TIMESTAMP_LEN + 1];
	char		 updated_at[TIMESTAMP_LEN + 1];
};

/* A row of the event log. */
struct event_row {
	int64_t		 id;
	const char	*realm;
	const char	*app;
	const char	*collection;
	const char	*record_id;	/* NULL for custom events */
	const char	*type;
	const char	*data;
	size_t		 data_len;
	const char	*prev;		/* the record before an update or
					   delete; NULL if none or unknown */
	size_t		 prev_len;
};

/* event_copy.c: event rows copied with their strings by a thread that read
 * them, to hand to the loop; the rows taken are one allocation. */
struct event_rows {
	int			 n;
	struct event_row	 rows[];
};
struct event_copy {
	struct event_copy_row	*rows;
	int			 n, cap;
	char			*buf;
	size_t			 len, size;
};
void		 event_copy_add(struct event_copy *, const struct event_row *);
struct event_rows *event_copy_take(struct event_copy *);
void		 event_copy_clear(struct event_copy *);

/* Store return codes. */
enum {
	STORE_OK = 0,
	STORE_ERROR = -1,
	STORE_NOTFOUND = -2,
	STORE_EXISTS = -3,
	STORE_BUSY = -4,
	STORE_FULL = -5,	/* a limit of the schema's was reached */
	STORE_UNAVAILABLE = -6	/* PostgreSQL cannot be reached now */
};

/* A write run by the writer thread inside a group-committed transaction. */
struct write_op {
	/* Runs in a savepoint of the batch; 0 keeps its changes, -1 undoes
	 * them and leaves the cause in *err. */
	int		(*apply)(struct worker *, struct write_op *);
	void		*arg;
	struct error	*err;
	int		 rc;		/* apply's result, -1 if the commit failed */
	sem_t		 done;		/* posted by the writer */
	/* Set for writer_submit_async: called by the writer instead. */
	void		(*done_cb)(struct write_op *);
	struct write_op	*next;
};

/* This thread's configuration snapshot: see "Threads" above. */
extern __thread struct config	*cfg;

/* xmalloc.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);
char		*xstrdup(const char *);
char		*xstrndup(const char *, size_t);
int		 xasprintf(char **, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
size_t		 strlcpy_b(char *, const char *, size_t);
size_t		 strlcat_b(char *, const char *, size_t);

/* log.c */
void		 log_init(int level);
void		 log_set_level(int);
void		 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void
		 fatal(const char *, ...) __attribute__((format(printf, 1, 2)));
int		 log_level_parse(const char *);
/* Control characters as \n, \r, \t, \xNN: untrusted text on one line. */
size_t		 log_escape(char *out, size_t outlen, const char *in, size_t inlen);
/* The id of the request this thread works on (NULL: none), which its
 * log lines carry. */
extern __thread const char *log_rid;

/* metrics.c: GET /api/metrics (metrics = off | open | token). Cheap
 * counters: each says which thread may call it. */
enum { METRICS_OFF, METRICS_OPEN, METRICS_TOKEN };
#define METRICS_ROUTES_MAX	64	/* rows of route.c's table counted */
void		 metrics_request(const struct request *);	/* loop */
void		 metrics_delivered(int n);			/* loop */
void		 metrics_slow_consumer(void);			/* loop */
void		 metrics_commit(int n, int64_t us);		/* writer */
void		 metrics_hook(int rc, int timed_out);		/* any */
/* Any thread, for webhooks: one delivery request ended (ok: a 2xx),
 * after seconds; a webhook's lag (the log's head minus its cursor), lag
 * -1 when the webhook is deleted. */
void		 metrics_webhook_delivery(int ok, double seconds);
void		 metrics_webhook_lag(const char *id, int64_t lag);

/* access.c: the access log (loop thread, but access_rid_set and
 * access_open_file). */
int		 access_open_file(const char *);
int		 access_reopen(struct event_base *);
void		 access_flush(void);
void		 access_close(void);
/* One line for req, whose answer's body is bytes long. */
void		 access_log(struct request *, size_t bytes);
void		 access_rid_set(struct request *);

/* config.c */
struct config	*config_new(void);
void		 config_free(struct config *);
/* Reads path into c; on error returns -1 and writes "file:line: why" into
 * err. A missing file is an error unless optional is set. */
int		 config_load(struct config *, const char *path, int optional,
		    char *err, size_t errlen);
int		 config_parse_size(const char *, size_t *);
/* 0 if a listen address is usable (a socket path, or host:port with a
 * port of 1 to 65535), else -1 with the reason in why. */
int		 config_check_listen(const char *, char *why, size_t);
int		 config_parse_duration(const char *, int64_t *);
const char	*config_default_path(void);
int		 config_db_timeout(const struct config *);
void		 config_publish(struct config *);	/* loop thread */
void		 config_refresh(void);		/* any thread */
void		 config_unhold(void);		/* a thread that ends */

/* ulid.c */
void		 ulid_new(char out[ULID_LEN + 1]);
int		 ulid_valid(const char *);

/* time.c */
void		 time_iso(int64_t ms, char out[TIMESTAMP_LEN + 1]);
int64_t		 time_now_ms(void);
int64_t		 time_mono_us(void);

/* jsonutil.c */
/* Parses a whole buffer; NULL on bad JSON or too deep. */
json_object	*jsonutil_parse(const char *, size_t);
int		 jsonutil_parse_value(const char *, size_t, json_object **);
/* The same with another depth limit (a record holds its fields one deeper). */
int		 jsonutil_parse_depth(const char *, size_t, int, json_object **);
/* Applies an RFC 7396 merge patch to target (an object) in place. */
void		 jsonutil_merge_patch(json_object *target, json_object *patch);
const char	*jsonutil_string(json_object *);
/* CESU-8 (Duktape's strings) to UTF-8 in place; returns the new length. */
size_t		 jsonutil_from_cesu8(char *, size_t);
int		 name_valid(const char *);
/* 0 if t may name a custom event, else -1 with ERR_INVALID_EVENT. */
int		 event_type_valid(const char *t, struct error *);

/* sse.c */
/* The SSE frame of an event row, xmalloc'd (never NULL), its length in
 * *len; safe for rows another process wrote (see sse.c). */
char		*sse_frame(const struct event_row *, size_t *len);

/* fcgi.c: pure encoding and decoding of FastCGI records. */
struct fcgi_header {
	uint8_t		 version;
	uint8_t		 type;
	uint16_t	 request_id;
	uint16_t	 content_length;
	uint8_t		 padding_length;
};
void		 fcgi_header_decode(const uint8_t *, struct fcgi_header *);
/* Writes an 8-byte record header, no padding; len is at most 65535. */
void		 fcgi_header_encode(uint8_t *, uint8_t type, uint16_t id, size_t len);
/* Appends data as FCGI_STDOUT records (empty data: the closing record). */
void		 fcgi_stdout(struct evbuffer *, uint16_t id, const void *, size_t);
void		 fcgi_end_request(struct evbuffer *, uint16_t id, uint32_t appstatus,
		    uint8_t protostatus);
/* Decodes name-value pairs; calls fn for each. -1 on a malformed pair. */
int		 fcgi_params_decode(const uint8_t *, size_t,
		    int (*fn)(void *, const char *, size_t, const char *, size_t),
		    void *);
void		 fcgi_get_values_result(struct evbuffer *, const uint8_t *, size_t);
void		 fcgi_unknown_type(struct evbuffer *, uint8_t type);

/* conn.c */
void		 conn_init(struct event_base *);
struct conn	*conn_new(struct event_base *, int fd);
void		 conn_complete(struct request *);	/* any thread */
void		 conn_reply_completed(void);
void		 conn_set_stopping(void);
int		 conn_stopping(void);		/* any thread */
int		 conn_write(struct conn *, const void *, size_t);	/* framed stdout */
size_t		 conn_pending(struct conn *);
/* Bytes queued behind the frame or reply at the head of the output (the
 * one that was queued when nothing else was). */
size_t		 conn_behind(struct conn *);
void		 conn_end(struct conn *);	/* END_REQUEST, then close */
void		 conn_close(struct conn *);	/* drop at once */
void		 conn_set_stream(struct conn *, struct stream *);
void		 conn_watch_drain(struct conn *, int on);
int		 conn_flush(struct conn *);	/* -1: the connection is gone */
void		 conn_flush_all(void);	/* write what events queued */
struct iovec;
/* Frames, in as few STDOUT records as fit, written at once if nothing
 * waits. */
int		 conn_write_frames(struct conn *, const struct iovec *, int);
void		 conn_prefetch(const struct conn *);	/* a write comes soon */
void		 conn_shutdown_all(int all);
int		 conn_busy_count(void);

/* request.c */
const char	*request_param(struct request *, const char *);
void		 request_free(struct request *);
/* Decodes one query-string parameter into out; 0 if found, -1 if absent,
 * -2 if malformed or too long for out. */
int		 request_query(struct request *, const char *key, char *out, size_t);
int		 request_decode(const char *, size_t, int plus, char *, size_t);

/* route.c */
/* Runs the handler for the request; fills req->out. Returns API_PENDING
 * when the request completes elsewhere (a write in the writer's hands). */
int		 route_dispatch(struct worker *, struct request *);
const char	*route_pattern(int, const char **method);
/* Splits a path into percent-decoded segments; -1 if malformed. */
int		 route_split(const char *path, char segs[][256],
		    int max);
/* The body size the route of method and uri accepts (loop thread). */
size_t		 route_max_body(const char *method, const char *uri);
struct api_ctx;
/* A request inside a batch: see route.c. */
int		 route_batch(struct api_ctx *batch, struct api_ctx *sub,
		    const char *path, int (**fn)(struct api_ctx *));

/* reply.c */
void		 reply_json(struct request *, int status, json_object *);
void		 reply_raw_json(struct request *, int status, const char *, size_t);
void		 reply_header(struct request *, const char *, const char *);
void		 reply_empty(struct request *, int status);
void		 reply_error(struct request *);
void		 reply_file(struct request *, const char *, const char *, size_t);
/* The headers of an event stream; sets req->stream unless it is HEAD. */
void		 reply_stream(struct request *);
void		 reply_ndjson(struct request *);
int		 error_set(struct error *, enum err, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
/* Marks the cause as logged in detail: reply_error will not log it. */
int		 error_logged(struct error *);
/* Maps a store result (STORE_BUSY, STORE_NOTFOUND, ...) to a cause; what
 * names the object in 404 and 409 messages. Returns -1. */
int		 error_store(struct error *, int rc, const char *what);
int		 error_status(enum err);
const char	*error_code(enum err);

/* api.c: the handlers, named by the route table. They return 0, -1 with
 * req->err set, or API_PENDING. */
#define API_PENDING	1
struct api_ctx {
	struct worker	*worker;
	struct request	*req;
	const char	*method;
	char		 realm[MAX_NAME_LEN + 1];
	char		 app[MAX_NAME_LEN + 1];
	char		 collection[MAX_NAME_LEN + 1];
	char		 record_id[ULID_LEN + 1];
	char		 file[MAX_NAME_LEN + 1];	/* under /_/ */
	char		 field[MAX_INDEX_FIELD_LEN + 1];	/* index */
	char		 token_id[TOKEN_ID_LEN + 1];	/* tokens/{id} */
	char		 kid[MAX_KID_LEN + 1];	/* a JWT key's */
	int		 long_name;	/* a captured segment was too long */
	struct grant	 grant;
	struct scope_ids ids;
};
int		 api_health(struct api_ctx *);
int		 api_metrics(struct api_ctx *);
/* api_webhooks.c */
int		 api_webhooks_list(struct api_ctx *);
int		 api_webhook_create(struct api_ctx *);
int		 api_webhook_delete(struct api_ctx *);
int		 api_webhook_resume(struct api_ctx *);
int		 api_token(struct api_ctx *);
void		 api_reply_secret(struct api_ctx *, const char *what,
		    const char *id, json_object *);
void		 api_stream_jwt(struct api_ctx *, struct stream_spec *,
		    int64_t id);
int		 api_collections_list(struct api_ctx *);
int		 api_collection_create(struct api_ctx *);
int		 api_collection_get(struct api_ctx *);
int		 api_collection_patch(struct api_ctx *);
int		 api_collection_delete(struct api_ctx *);
int		 api_records_list(struct api_ctx *);
int		 api_record_create(struct api_ctx *);
int		 api_record_get(struct api_ctx *);
int		 api_record_patch(struct api_ctx *);
int		 api_record_put(struct api_ctx *);
int		 api_record_delete(struct api_ctx *);
int		 api_events_stream(struct api_ctx *);
int		 api_events_publish(struct api_ctx *);
int		 api_batch(struct api_ctx *);
int		 api_dashboard(struct api_ctx *);
int		 api_app_cors_get(struct api_ctx *);
int		 api_app_cors_put(struct api_ctx *);
/* api_auth.c: what a token grants on its app, and the app's JWT keys. */
int		 api_app_token(struct api_ctx *);
int		 api_app_jwt_get(struct api_ctx *);
int		 api_app_jwt_put(struct api_ctx *);
int		 api_app_jwt_delete(struct api_ctx *);
int		 api_app_jwt_key_add(struct api_ctx *);
int		 api_app_jwt_key_remove(struct api_ctx *);
int		 api_indexes_list(struct api_ctx *);
int		 api_index_create(struct api_ctx *);
int		 api_index_drop(struct api_ctx *);
/* The parameters streams share, checked before anything is sent:
 * Last-Event-ID (or last_event_id=), and filter= with types=. */
int		 api_stream_last_id(struct api_ctx *, struct stream_spec *);
int		 api_stream_filter(struct api_ctx *, struct stream_spec *);
/* api_changes.c: the app's change feed, SSE or NDJSON. */
int		 api_changes(struct api_ctx *);
/* The request's body as a JSON object, or NULL with 415 or 400 set. */
json_object	*api_body(struct api_ctx *);
/* Runs apply in the writer's next commit and waits: 0, or -1 with the
 * request's err set. */
int		 api_write(struct api_ctx *, int (*)(struct worker *,
		    struct write_op *), void *);

/* api_tokens.c: an app's service tokens, for admin tokens. */
int		 api_tokens_list(struct api_ctx *);
int		 api_token_create(struct api_ctx *);
int		 api_token_revoke(struct api_ctx *);

/* auth.c */
/* Finds the request's token (Bearer header, or access_token when
 * allowed) and fills ctx->grant; -1 with ERR_UNAUTHORIZED or
 * ERR_INVALID_TOKEN. A JWT is only marked (grant.jwt) for auth_jwt. */
int		 auth_token(struct api_ctx *, int allow_query);
/* Verifies a JWT marked by auth_token against the keys of the app in the
 * path (its names checked first); 0 if there is none. */
int		 auth_jwt(struct api_ctx *, int allow_query);
/* Checks the grant against the path's realm and app and the scope. */
int		 auth_allow(struct api_ctx *, int scope);
void		 auth_hash(const char *secret, char out[TOKEN_HASH_LEN + 1]);
/* New secret and its id; caller stores the hash. */
void		 auth_new_secret(char *secret, size_t, char id[TOKEN_ID_LEN + 1]);
int		 auth_scopes_parse(const char *, int *);
void		 auth_scopes_format(int, char *, size_t);

/* store.c: target is a SQLite file's path or a postgresql:// URI. */
struct store;
struct store	*store_open(const char *target, int busy_timeout_ms, int sync_full,
		    char *err, size_t errlen);
void		 store_close(struct store *);
int		 store_begin(struct store *);	/* BEGIN IMMEDIATE */
int		 store_read_begin(struct store *);
void		 store_read_end(struct store *);
int		 store_commit(struct store *);
int		 store_rollback(struct store *);
int		 store_savepoint(struct store *);
int		 store_release(struct store *);
int		 store_rollback_savepoint(struct store *);
int		 store_realm_create(struct store *, const char *);
int		 store_realm_delete(struct store *, const char *);
int		 store_realm_list(struct store *, void (*)(void *, const char *), void *);
int		 store_app_create(struct store *, const char *, const char *);
int		 store_app_delete(struct store *, const char *, const char *);
int		 store_app_list(struct store *, const char *,
		    void (*)(void *, const char *), void *);
/* Resolves names; on STORE_NOTFOUND *missing names what was not found. */
int		 store_resolve(struct store *, const char *realm, const char *app,
		    const char *coll, struct scope_ids *, const char **missing);
/* The collection's id in the app, or STORE_NOTFOUND. */
int		 store_collection_id(struct store *, int64_t app_id, const char *,
		    int64_t *);
int		 store_collection_create(struct store *, int64_t app_id, const char *,
		    char created[TIMESTAMP_LEN + 1]);
int		 store_collection_delete(struct store *, int64_t app_id, const char *);
int		 store_collection_list(struct store *, int64_t app_id,
		    void (*)(void *, const char *, const char *), void *);
int		 store_record_get(struct store *, int64_t coll_id, const char *id,
		    struct record *);
int		 store_record_insert(struct store *, int64_t coll_id, const struct record *);
int		 store_record_update(struct store *, int64_t coll_id, const struct record *);
int		 store_record_delete(struct store *, int64_t coll_id, const char *id);
/* Lists up to limit records after the id (NULL: from the start). */
int		 store_record_list(struct store *, int64_t coll_id, const char *after,
		    int limit, void (*)(void *, const struct record *), void *);
void		 store_record_clear(struct record *);
/* The records that match where, after after, in order (filter.c's SQL;
 * NULL: all, from the first, by id), through the index on field (NULL:
 * as SQLite chooses), band after band (filter_sort_after_bands; NULL:
 * none): a statement made for each. */
int		 store_record_query(struct store *, int64_t coll_id,
		    const char *index, const struct filter_sql *where,
		    const struct filter_sql *after,
		    const struct filter_band *bands,
		    const struct filter_sql *order, int limit,
		    void (*)(void *, const struct record *), void *);
/* The query plan of that statement, one line per step, in *plan (freed
 * by the caller). */
int		 store_record_plan(struct store *, int64_t coll_id,
		    const char *index, const struct filter_sql *where,
		    const struct filter_sql *after,
		    const struct filter_band *bands,
		    const struct filter_sql *order, char **plan);
/* Indexes on a field (exprs from filter_index_exprs): STORE_EXISTS, or
 * STORE_FULL past max per collection. Dropped with their collection. */
int		 store_index_create(struct store *, int64_t coll_id,
		    const char *field, const char *exprs, int max);
int		 store_index_drop(struct store *, int64_t coll_id,
		    const char *field);
int		 store_index_list(struct store *, int64_t coll_id,
		    void (*)(void *, const char *), void *);
/* Appends an event (prev: the record before an update or delete, else
 * NULL); returns its id, or -1. */
int		 store_event_append_rc(struct store *);
int64_t		 store_event_append(struct store *, const char *realm, const char *app,
		    const char *coll, const char *record_id, const char *type,
		    const char *data, const char *prev);
/* Events with after < id <= upto (upto 0: no bound), optionally for one
 * topic (realm NULL: all; coll NULL: the whole app), in id order, at most
 * limit. Returns the count. */
int		 store_event_range(struct store *, int64_t after, int64_t upto,
		    const char *realm, const char *app, const char *coll,
		    const char *record_id, int limit,
		    void (*)(void *, const struct event_row *), void *);
int64_t		 store_event_max(struct store *);
int64_t		 store_event_oldest(struct store *);
/* A restore's gap in the event log: a row of meta, key this prefix and
 * the backup's last id, value the last id the replaced database gave. */
#define STORE_RESTORE_GAP	"restore_gap:"
int		 store_event_unknown(struct store *, int64_t id);
int		 store_schema_version(void);
/* The newest id of the app that retention deleted (0: none): a resume
 * from an id below it has lost events. */
int64_t		 store_event_pruned(struct store *, const char *realm,
		    const char *app);
/* Deletes events older than before_ms and, per app, all but its newest
 * keep; at most budget events. Returns the count; *more: call again. */
int		 store_event_prune(struct store *, int64_t before_ms, long keep,
		    int budget, int *more);
int64_t		 store_data_version(struct store *);
int		 store_token_insert(struct store *, const char *id, int64_t app_id,
		    const char *hash, int scopes, const char *label, int64_t expires_at);
int		 store_token_lookup(struct store *, const char *hash, struct grant *,
		    int64_t *revoked_at);
int		 store_token_revoke(struct store *, const char *id);
int		 store_token_list(struct store *, int64_t app_id,
		    void (*)(void *, const struct grant *, int64_t created,
		    int64_t revoked), void *);
const char	*store_errmsg(struct store *);
struct jwt_settings;
struct jwt_key;
/* An app's JWT settings (STORE_NOTFOUND: it takes no JWTs) and keys, by
 * kid. set replaces settings and keys (keys NULL: keeps them); off
 * removes both; key_add adds one (STORE_EXISTS for a kid taken,
 * STORE_FULL past MAX_JWT_KEYS; the default settings if there were
 * none). All but get and keys in the caller's transaction. */
int		 store_jwt_get(struct store *, int64_t app_id,
		    struct jwt_settings *);
int		 store_jwt_keys(struct store *, int64_t app_id,
		    void (*)(void *, const struct jwt_key *), void *);
int		 store_jwt_set(struct store *, int64_t app_id,
		    const struct jwt_settings *, const struct jwt_key *, size_t);
int		 store_jwt_off(struct store *, int64_t app_id);
int		 store_jwt_key_add(struct store *, int64_t app_id,
		    const struct jwt_key *);
int		 store_jwt_key_remove(struct store *, int64_t app_id,
		    const char *kid);
/* An app's CORS origins, in order; set replaces them all (in the caller's
 * transaction); allowed is STORE_OK if the app lists origin, else
 * STORE_NOTFOUND. */
int		 store_cors_list(struct store *, int64_t app_id,
		    void (*)(void *, const char *), void *);
int		 store_cors_set(struct store *, int64_t app_id,
		    const char *const *origins, size_t n);
int		 store_cors_allowed(struct store *, const char *realm,
		    const char *app, const char *origin);
/* For the broker: revoked tokens, and a collection's end (or change of
 * rules, with rules set) in the log. */
int		 store_token_watch_init(struct store *);
int		 store_token_revoked_since(struct store *, int64_t since,
		    void (*)(void *, const char *), void *);
int64_t		 store_event_collection_end(struct store *, int64_t after,
		    int64_t upto, const char *realm, const char *app,
		    const char *coll, int rules,
		    void (*)(void *, const struct event_row *), void *);

/* filter.c: the expression language of filters and sorts (README
 * "Querying"), parsed once, then evaluated in memory or run as SQL. A
 * parsed filter or sort is read-only and may be shared by threads. The
 * SQL comes in two dialects, SQLite's (sql) and PostgreSQL's (sql_pg),
 * over the records table's columns (id, fields, created_at, updated_at,
 * unqualified), which bind the same values in the same order; its ? are
 * numbered by position, so a WHERE's values are bound before its ORDER
 * BY's (filter_sql_bind returns the next index). Where SQLite's
 * conditions are 1 or 0, PostgreSQL's are TRUE or FALSE. Keys made of
 * letters, digits, _ and - are written into the SQL (an index on that
 * expression can serve them); other paths and every value are bound. */
struct filter;
struct filter_sort;
/* What a filter or sort reads of a record; fields NULL counts as {}. */
struct filter_rec {
	const char	*id;
	const char	*created_at;
	const char	*updated_at;
	json_object	*fields;
	const char	*event_type;	/* a custom event's type, for a bound
					   subscribe rule's @event.type */
};
/* SQL text with a ? for each value, and the values in order. */
enum filter_bind_type {
	FILTER_BIND_TEXT,
	FILTER_BIND_DOUBLE,
	FILTER_BIND_INT
};
struct filter_bind {
	enum filter_bind_type type;
	char		*text;
	double		 d;
	int64_t		 i;
};
struct filter_sql {
	char		*sql;
	char		*sql_pg;	/* the same in PostgreSQL's dialect,
					   which binds the same values */
	struct filter_bind *binds;
	size_t		 nbinds;
};
int		 filter_parse(const char *, struct filter **, struct error *);
void		 filter_free(struct filter *);
int		 filter_match(const struct filter *, const struct filter_rec *);
int		 filter_rec_json(json_object *record, struct filter_rec *);
void		 filter_sql(const struct filter *, struct filter_sql *);
void		 filter_sql_free(struct filter_sql *);
int		 filter_sql_bind(const struct filter_sql *, struct dbq *,
		    int first);
int		 filter_sort_parse(const char *, struct filter_sort **,
		    struct error *);
void		 filter_sort_free(struct filter_sort *);
/* json-c keeps the JSON text of arrays and objects it compares inside
 * them: the records must not be compared by two threads at once. */
int		 filter_sort_cmp(const struct filter_sort *,
		    const struct filter_rec *, const struct filter_rec *);
void		 filter_sort_sql(const struct filter_sort *, struct filter_sql *);
/* Keyset paging: a record's sort values (a JSON array for a cursor),
 * and the WHERE that selects what sorts strictly after them. */
json_object	*filter_sort_key(const struct filter_sort *,
		    const struct filter_rec *);
int		 filter_sort_after_sql(const struct filter_sort *, json_object *key,
		    struct filter_sql *, struct error *);
/* The same cut in two bands, each with its order, that an index can
 * seek (0: no need). */
struct filter_band {
	struct filter_sql where;
	struct filter_sql order;
};
int		 filter_sort_after_bands(const struct filter_sort *,
		    json_object *key, struct filter_band bands[2]);
/* An index's expressions for fields.a.b (plain names only), in
 * SQLite's dialect or PostgreSQL's (_pg, each in parentheses); whether
 * an index on field serves a filter (=, in or a range on it that every
 * match passes) or a sort (its first key). */
int		 filter_index_exprs(const char *field, char **out,
		    struct error *);
int		 filter_index_exprs_pg(const char *field, char **out,
		    struct error *);
int		 filter_narrows(const struct filter *, const char *field);
int		 filter_sort_leads(const struct filter_sort *,
		    const char *field);
/* Projections (fields=id,fields.title): a record as the API shows it cut
 * down to the parts listed, and its id. */
struct filter_proj;
int		 filter_proj_parse(const char *, struct filter_proj **,
		    struct error *);
void		 filter_proj_free(struct filter_proj *);
json_object	*filter_proj_apply(const struct filter_proj *,
		    json_object *rec);
/* Fan-out indexes: a filter's top-level equality term on a field (alone
 * or in a top-level &&) as a path and its value's key; the filter holds
 * for a record only if filter_path_key gives the record that same key.
 * Keys are xmalloc'd; -1 if the filter has no such term. */
struct filter_path;
int		 filter_index_term(const struct filter *, struct filter_path **,
		    char **key);
const char	*filter_path_text(const struct filter_path *);
char		*filter_path_key(const struct filter_path *,
		    const struct filter_rec *);
void		 filter_path_free(struct filter_path *);
/* A filter's text in a canonical form (xmalloc'd) that filter_parse reads
 * back to the same filter: equal filters, equal texts. */
char		*filter_text(const struct filter *);
/* a && b; takes both, either may be NULL (the other is the result). */
struct filter	*filter_and(struct filter *a, struct filter *b);
/* Rules (rules.c): a filter that may also read @token.<path>
 * (FILTER_REF_TOKEN), @body.<path> (FILTER_REF_BODY) and @event.type
 * (FILTER_REF_EVENT); refs -1 is a plain filter, which reads none.
 * filter_bind puts the values of env in their place and folds what is
 * then constant: 1 if the filter holds for everything, else 0. */
#define FILTER_REF_TOKEN	0x1
#define FILTER_REF_BODY		0x2
#define FILTER_REF_EVENT	0x4
struct rule_env;
int		 filter_rule_parse(const char *, int refs, const char *prefix,
		    struct filter **, struct error *);
int		 filter_bind(struct filter *, const struct rule_env *);

/* jwt.c: end users' JWTs, verified with the keys of the app in the path
 * (README "End users and rules"). Whether a bearer secret looks like a
 * JWT (three base64url parts, not a basalt service token), and checks it:
 * 0 with grant->jwt, sub, claims, scopes (SCOPE_READ|SCOPE_WRITE, never
 * SCOPE_ADMIN) and expires_at filled, or -1 with err set to
 * ERR_INVALID_TOKEN (401 unauthorized) and the reason (never the token:
 * the caller logs it). */
int		 jwt_looks_like(const char *);
int		 jwt_verify(struct store *, int64_t app_id, const char *token,
		    struct grant *, struct error *);
/* An app's JWT settings and keys (the key as stored: see schema v6). */
struct jwt_settings {
	char		 issuer[MAX_JWT_CLAIM_LEN + 1];	/* "": any */
	char		 audience[MAX_JWT_CLAIM_LEN + 1];	/* "": any */
	int64_t		 max_lifetime;	/* seconds */
};
struct jwt_key {
	char		 kid[MAX_KID_LEN + 1];	/* "": none */
	char		 alg[8];	/* HS256, EdDSA, RS256, ES256 */
	unsigned char	 key[MAX_JWT_KEY_LEN];
	size_t		 len;
	char		 created_at[TIMESTAMP_LEN + 1];
};
/* Keys from what a user gives: an HS256 secret (its bytes), an Ed25519
 * public key (base64url), a public key in PEM (RS256 for RSA, ES256 for
 * P-256), or a JWKS document (up to max keys into keys). 0, or -1 with
 * why. The kid is the caller's to set, but for a JWKS. */
int		 jwt_key_hs256(const unsigned char *, size_t, struct jwt_key *,
		    char *why, size_t);
int		 jwt_key_ed25519(const char *b64url, struct jwt_key *, char *why,
		    size_t);
int		 jwt_key_pem(const char *pem, size_t, struct jwt_key *, char *why,
		    size_t);
int		 jwt_jwks(json_object *, struct jwt_key *keys, size_t max,
		    size_t *n, char *why, size_t);
/* 0 if s may be a kid: printable ASCII, at most MAX_KID_LEN bytes. */
int		 jwt_kid_valid(const char *);

/* rules.c: each collection's access rules for end users, in the filter
 * language plus @token.<path>, @body.<path> (create, update) and
 * @event.type (publish, subscribe). A rule's text is NULL when unset
 * (only service tokens may), "" for any valid JWT of the app. */
enum rule_verb {
	RULE_LIST, RULE_VIEW, RULE_CREATE, RULE_UPDATE, RULE_DELETE,
	RULE_PUBLISH, RULE_SUBSCRIBE, RULE__COUNT
};
struct rules {
	char		*text[RULE__COUNT];
};
/* The values a rule's @ references take when it is bound. */
struct rule_env {
	json_object	*claims;	/* @token */
	json_object	*body;		/* @body, or NULL */
	const char	*event_type;	/* @event.type; NULL leaves it to
					   filter_rec.event_type */
};
#define RULE_UNSET	1
const char	*rule_name(enum rule_verb);	/* "list", ... */
int		 rule_verb_parse(const char *, enum rule_verb *);
void		 rules_clear(struct rules *);
/* 0 if text is a rule verb may have, else -1 with ERR_INVALID_FILTER
 * "rules.<verb>: at N: why". */
int		 rule_check(enum rule_verb, const char *text, struct error *);
/* The rule of verb bound to env as a plain filter: 0 with *out (NULL when
 * everything passes: the rule is "", or it folds to true), RULE_UNSET, or
 * -1 with err set. */
int		 rule_bind(const struct rules *, enum rule_verb,
		    const struct rule_env *, struct filter **out,
		    struct error *);
/* Changing rules: {"verb": "rule" or null, ...} checked (invalid_parameter
 * for its shape, invalid_filter for a rule) and applied; one verb set
 * (text NULL: unset). rules_save stores them with the rules_changed event
 * of the collection, in the caller's transaction (STORE_*). */
json_object	*rules_json(const struct rules *);
int		 rules_change_check(json_object *, struct error *);
int		 rules_change(struct rules *, json_object *, struct error *);
int		 rules_set_one(struct rules *, enum rule_verb, const char *text,
		    struct error *);
int		 rules_equal(const struct rules *, const struct rules *);
int		 rules_save(struct store *, const char *realm, const char *app,
		    const char *coll, int64_t coll_id, const struct rules *);
/* A collection's rules (all NULL if none), and replacing them all (the
 * writer, in its transaction). */
int		 store_rules_get(struct store *, int64_t collection_id,
		    struct rules *);
int		 store_rules_set(struct store *, int64_t collection_id,
		    const struct rules *);

/* writer.c */
int		 writer_start(void);
void		 writer_stop(void);
/* Runs op in the next group commit and waits for it. */
int		 writer_submit(struct write_op *);
/* Runs op in the next group commit; op->done_cb is called after it. */
void		 writer_submit_async(struct write_op *);
/* Retention sweep, asked for by the loop's timer. */
void		 writer_prune(void);

/* worker.c */
int		 worker_start(int count);
void		 worker_stop(void);
void		 worker_enqueue(struct request *);
struct worker	*worker_new(int index, char *err, size_t errlen);
void		 worker_free(struct worker *);

/* server.c */
int		 server_run(const char *listen);

/* broker.c: the loop thread's streams. The loop never reads the
 * database itself: a reader thread does, on the store broker_init gets
 * (replay, revoked tokens, rules), and hands the rows back. */
struct stream;
int		 broker_init(struct event_base *, struct store *);
void		 broker_free(void);
/* Worker: what a resuming stream's start compares with (start_*), read
 * on the worker's store; spec's last_id, realm and app set. */
void		 broker_spec_start(struct store *, struct stream_spec *);
/* Takes over a connection whose request asked for a stream, and the
 * spec's filter (spec->filter is NULL after). */
void		 broker_subscribe(struct conn *, struct stream_spec *);
void		 broker_stream_closed(struct stream *);	/* conn is going away */
void		 broker_stream_drained(struct stream *);
void		 broker_publish(const struct event_row *);
void		 broker_flush(void);	/* the end of a batch of events */
void		 broker_set_head(int64_t);
int		 broker_count(void);		/* any thread */
void		 broker_end_all(void);
void		 broker_reconfigure(void);
/* Any thread: binds an end user's stream spec (jwt, claims, user_filter,
 * record_id set) to its collection's rules: filter and filter_text from
 * the list rule (view for a record's stream) && filter=, subscribe,
 * sub_filter and sub_text from the subscribe rule. 0, RULE_UNSET when
 * the list (view) rule is unset, or -1 with err set. */
enum { SUBSCRIBE_NONE, SUBSCRIBE_ALL, SUBSCRIBE_SOME };
int		 broker_spec_bind(struct stream_spec *, const struct rules *,
		    struct error *);
/* One collection of an end user's change feed, as broker_spec_bind bound
 * it; broker_binds_free frees an array of n (NULL is fine). */
struct feed_bind {
	char		 collection[MAX_NAME_LEN + 1];
	struct filter	*filter;	/* NULL: every record */
	int		 subscribe;	/* SUBSCRIBE_* */
	struct filter	*sub_filter;
};
void		 broker_binds_free(struct feed_bind *, size_t n);
/* Any thread, on the caller's store: an end user's feed spec (jwt,
 * claims, user_filter, colls, and collection_id set to the app's id)
 * bound to each collection's rules (binds); 0, or -1 with err set. */
int		 broker_feed_bind(struct store *, struct stream_spec *,
		    struct error *);
/* Any thread: an NDJSON feed read in pages by a worker, made from an
 * end user's or a service token's feed spec (its filter, binds, claims
 * and filter= taken). broker_feed_page appends to out the lines of the
 * events after *last, up to end_at, at most REPLAY_BATCH events read
 * and about stream_buffer_limit bytes, moving *last; 1 if there is more, 0 at the end (or after a reset for
 * events pruned meanwhile), -1 on an error. */
struct broker_feed;
struct broker_feed *broker_feed_new(struct stream_spec *);
void		 broker_feed_free(struct broker_feed *);
int		 broker_feed_page(struct broker_feed *, struct store *,
		    int64_t *last, int64_t end_at, struct evbuffer *out);

/* tail.c: reads the log on a thread and store of its own (see the file) */
int		 tail_init(struct event_base *, struct store *);
void		 tail_drain(void);	/* at shutdown: publish every new event */
void		 tail_wake(void);	/* any thread: a local commit happened */
void		 tail_free(void);

/* store_notify.c: a store's notifications of new events. PostgreSQL
 * LISTENs on basalt_events; SQLite has none (no socket, never notified).
 * Used by the store's thread. */
int		 store_listen(struct store *);	/* 1, 0 on SQLite, or -1 */
int		 store_notify_fd(struct store *);	/* -1: none now */
int		 store_notified(struct store *);	/* how many; never blocks */

/* hooks_load.c */
struct hooks	*hooks_new(void);
void		 hooks_free(struct hooks *);
void		 hooks_reload_all(void);	/* SIGHUP */
/* Whether the app has any hooks loaded (any thread). */
int		 hooks_app_has(const char *realm, const char *app);

/* hooks.c */
/* Before a write, on a worker, outside the writer. record is the API's JSON
 * of the record as it will be, and may be changed. *ran tells whether any
 * handler saw it; *pubs (NULL if none, freed by hooks_pubs_free) holds the
 * events the hooks published, for the writer to append with the write.
 * 0, or -1 with err set. */
struct hooks_pubs;
int		 hooks_before(struct worker *, const char *what, const char *realm,
		    const char *app, const char *coll, json_object *record,
		    struct hooks_pubs **pubs, int *ran, struct error *);
/* Writer thread, in the write's savepoint: appends the before hooks'
 * events in the order they were published. 0, or -1 with err set. */
int		 hooks_pubs_apply(struct store *, const char *realm,
		    const char *app, const struct hooks_pubs *, struct error *);
void		 hooks_pubs_free(struct hooks_pubs *);
/* The per-app cap on hook calls running at once (hook_calls_per_app). A
 * request that may not run yet waits in its app's queue without a worker:
 * hooks_gate_enter returns 0 and the request is given back to the workers
 * (worker_enqueue, req->after unchanged) when it is its turn, with
 * granted set. Every granted call ends with hooks_gate_leave. */
struct hooks_wait {
	struct request	*req;
	int		 granted;
	struct hooks_wait *next;
};
int		 hooks_gate_enter(const char *realm, const char *app,
		    struct hooks_wait *);
void		 hooks_gate_leave(const char *realm, const char *app,
		    struct hooks_wait *);
/* After commit (worker thread); cannot fail the request. */
void		 hooks_after(struct worker *, const char *what, const char *realm,
		    const char *app, const char *coll, json_object *record);

/* hooks_*.c: private to the hooks files */
#define HOOKS_NREGS	6	/* onRecordCreate ... onRecordAfterDelete */
/* One hooks file. */
struct hooks_file {
	char		*name;		/* "validate.js": the sort key */
	char		*path;		/* what errors and logs show */
	char		*text;
	size_t		 len;
};
/* The hooks of one app as loaded: immutable once shared. */
struct hooks_app {
	int		 refs;		/* under hooks_lock */
	int		 bad;		/* a file could not be read */
	char		 realm[MAX_NAME_LEN + 1];
	char		 app[MAX_NAME_LEN + 1];
	struct hooks_file *files;
	size_t		 nfiles;
};
/* What the running call is about, for the native functions. */
struct hooks_call {
	struct worker	*worker;
	int		 before;	/* publishes wait for the write */
	struct hooks_pubs *pubs;	/* where they wait (before hooks) */
};
/* One thread's heap for one app. */
struct duk_hthread;
struct hooks_heap {
	struct hooks_app *src;		/* a reference the owner holds */
	struct duk_hthread *ctx;	/* a duk_context */
	int64_t		 deadline;	/* monotonic ms; 0: no budget */
	int64_t		 slow_at;	/* when the call counts as slow */
	int		 nice_prio;	/* to restore, or INT_MIN */
	size_t		 grace;		/* bytes left past the deadline */
	int		 timed_out;
	int		 out_of_memory;	/* the heap's limit was reached */
	size_t		 used;		/* bytes the heap holds */
	struct hooks_call *call;	/* NULL between calls */
	struct hooks_heap *next;
};
/* A function scripts register a handler with, and what it is for. */
struct hooks_reg {
	const char	*function;
	const char	*what;		/* create, update, delete */
	int		 after;
};
extern const struct hooks_reg hooks_js_regs[HOOKS_NREGS]; /* magic: index */
void		 hooks_js_init(void);	/* once, before any heap */
/* A heap for src with its files run; NULL after logging why not. */
struct hooks_heap *hooks_js_heap_new(struct hooks_app *src);
void		 hooks_js_heap_free(struct hooks_heap *);
void		 hooks_js_budget_start(struct hooks_heap *);
void		 hooks_js_budget_end(struct hooks_heap *);
/* A failed call's error (err NULL: log only) from what it left on the
 * stack top, which it pops; threw 0: it caught its timeout. Returns -1. */
int		 hooks_js_fault(struct hooks_heap *, int reg, const char *coll,
		    int threw, struct error *err);
/* This thread's heap for an app: HOOKS_NONE (the app has no hooks),
 * HOOKS_BROKEN (they did not load; logged) or HOOKS_READY with *out set. */
enum { HOOKS_NONE, HOOKS_READY, HOOKS_BROKEN };
int		 hooks_load_heap(struct hooks *, const char *realm,
		    const char *app, struct hooks_heap **out);
void		 hooks_load_drop(struct hooks *, struct hooks_heap *);
int		 hooks_coll_exists(struct store *, const char *realm,
		    const char *app, const char *coll, struct error *);
void		 hooks_pubs_add(struct hooks_pubs *, const char *coll,
		    const char *type, const char *data);

/* cors.c */
/* Writes the normalised form of origin (scheme://host[:port], lower case,
 * no default port) into out; -1 with the reason in why (NULL: none). */
int		 cors_origin_parse(const char *origin,
		    char out[MAX_ORIGIN_LEN + 1], char *why, size_t);
/* cors_origins' value: origins separated by spaces or commas, or "*";
 * *out is xmalloc'd, NULL for an empty list. -1 with the reason in why. */
int		 cors_list_parse(const char *, char **out, char *why, size_t);
/* Worker: decides the answer's CORS headers from the Origin header, the
 * server's cors_origins and, when realm is not NULL, the app's origins. */
void		 cors_check(struct store *, struct request *, const char *realm,
		    const char *app);
/* The answer to OPTIONS on a path that allows the methods in allow. */
void		 cors_preflight(struct request *, const char *allow);

/* store_webhook.c: a webhook as stored; the strings are the store's
 * (valid during a callback) or the caller's. */
struct webhook {
	const char	*id;
	const char	*realm;
	const char	*app;
	const char	*url;
	const char	*collections;	/* ",a,b,"; NULL: all */
	const char	*types;		/* ",t1,t2,"; NULL: all */
	const char	*secret;
	int64_t		 app_id;
	int64_t		 cursor;	/* the last event id delivered */
	int		 paused;
	int		 failures;	/* in a row */
	const char	*last_error;	/* NULL: none */
	int64_t		 next_attempt_ms;
};
int		 store_batch_max(struct store *);
struct db	*store_db(struct store *);
struct dbq	*store_stmt_ext(struct store *, int, const char *);
int		 store_rc(struct store *, int);
int		 store_webhook_insert(struct store *, const struct webhook *);
int		 store_webhook_list(struct store *, int64_t app_id, int64_t due_ms,
		    void (*)(void *, const struct webhook *), void *);
int		 store_webhook_delete(struct store *, int64_t app_id, const char *);
int		 store_webhook_resume(struct store *, int64_t app_id, const char *);
int		 store_webhook_lease(struct store *, struct webhook *,
		    const char *holder, int64_t now_ms, int64_t until_ms);
int		 store_webhook_release(struct store *, const char *holder);
int		 store_webhook_delivered(struct store *, const char *id,
		    const char *holder, int64_t cursor);
int		 store_webhook_failed(struct store *, const char *id,
		    const char *holder, const char *error, int64_t next_ms, int max);
int		 store_webhook_events(struct store *, const struct webhook *,
		    int limit, void (*)(void *, const struct event_row *,
		    int64_t created_ms), void *);

/* webhook.c */
int		 webhook_start(void);	/* main thread */
void		 webhook_stop(void);	/* main thread */
void		 webhook_wake(void);	/* any thread */
int		 webhook_url_check(const char *url, char *why, size_t);
int		 webhook_list_parse(const char *, int names, char **out,
		    char *why, size_t);

/* store_backup.c */
/* What store_backup copied or store_restore put in place. */
struct store_copy {
	int64_t		 event_id;	/* the last event id the copy holds */
	int		 version;	/* its schema version */
	int64_t		 next_after;	/* restore: new ids start past it */
	int64_t		 gap_through;	/* restore: ids past event_id up to it
					   are unknown (0: none) */
};
/* store_copy.c: what store_copy_db copied. */
struct copy_counts {
	int64_t		 event_id;	/* the event log's head, kept */
	int64_t		 records;
	int64_t		 events;
	int64_t		 rows;		/* of the other tables */
};
int		 store_copy_db(const char *from, const char *to, int busy_ms,
		    struct copy_counts *, char *err, size_t);
int		 store_target_is_pg(const char *);
int		 store_backup(const char *db, const char *file, int force,
		    struct store_copy *, char *err, size_t);
int		 store_restore(const char *db, const char *file, int busy_ms,
		    struct store_copy *, char *err, size_t);

/* cli.c */
int		 cli_main(int argc, char **argv, const char *dbpath);

#endif
