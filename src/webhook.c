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

/* Webhook delivery: one thread of its own with a curl multi handle, so
 * that no request holds the loop, a worker or the writer, and a slow
 * receiver holds only its own webhook (one request per webhook in flight,
 * any number of webhooks at once). Each webhook is sent the events after
 * its cursor in log order, at most WEBHOOK_BATCH a request, signed with
 * its secret; the cursor moves only after a 2xx answer. A lease in the
 * database names the one process that delivers a webhook; it outlives the
 * longest request, so two processes never send the same events at once.
 * Woken by this process's writer after a commit, and every
 * WEBHOOK_POLL_MS by PRAGMA data_version for other processes' commits. */

#include <sys/socket.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <sodium.h>

#include "basalt.h"

/* One request in flight. */
struct delivery {
	CURL			*easy;
	char			 id[WEBHOOK_ID_LEN + 1];
	int64_t			 last_id;	/* the cursor after a 2xx */
	int			 failures;	/* before this request */
	int			 allow_private;
	char			*body;
	struct curl_slist	*headers;
	char			 errbuf[CURL_ERROR_SIZE];
	char			 refused[128];	/* "": the address was fine */
	struct delivery		*next;
};

/* The webhooks due, copied out of the store's rows. */
struct due {
	struct webhook	*w;
	size_t		 n, size;
};

static pthread_t	 thread;
static int		 started;
static CURLM		*multi;
static struct store	*store;
static struct delivery	*flight;
static char		 holder[64];
static atomic_int	 stopping, woken;

static void
webhook_free_delivery(struct delivery *d)
{
	if (d == NULL)
		return;
	if (d->easy != NULL) {
		curl_multi_remove_handle(multi, d->easy);
		curl_easy_cleanup(d->easy);
	}
	curl_slist_free_all(d->headers);
	free(d->body);
	free(d);
}

/* Whether a connection to sa would reach loopback, a private, link-local,
 * unique-local, shared, multicast or unspecified address. */
static int
webhook_addr_private(const struct sockaddr *sa)
{
	const struct sockaddr_in	*s4;
	const struct sockaddr_in6	*s6;
	const uint8_t			*b;
	uint32_t			 a;

	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)sa;
		a = ntohl(s4->sin_addr.s_addr);
		goto v4;
	}
	if (sa->sa_family != AF_INET6)
		return (1);
	s6 = (const struct sockaddr_in6 *)sa;
	b = s6->sin6_addr.s6_addr;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) ||
	    IN6_IS_ADDR_V4COMPAT(&s6->sin6_addr)) {
		a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
		    (uint32_t)b[14] << 8 | b[15];
		goto v4;
	}
	return (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
	    IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ||
	    (b[0] & 0xfe) == 0xfc ||			/* fc00::/7 */
	    (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||	/* fe80::/10 */
	    (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) ||	/* fec0::/10 */
	    b[0] == 0xff ||				/* multicast */
	    (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b));
v4:
	return ((a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||
	    (a & 0xffc00000) == 0x64400000 ||		/* 100.64/10 */
	    (a & 0xffff0000) == 0xa9fe0000 ||		/* 169.254/16 */
	    (a & 0xfff00000) == 0xac100000 ||		/* 172.16/12 */
	    (a & 0xffff0000) == 0xc0a80000 ||		/* 192.168/16 */
	    (a & 0xffffff00) == 0xc0000000 ||		/* 192.0.0/24 */
	    (a & 0xfffe0000) == 0xc6120000 ||		/* 198.18/15 */
	    (a >> 28) >= 0xe);			/* multicast, reserved */
}

/* Opens curl's socket unless its address is refused: the check is on the
 * address connected to, after name resolution. */
static curl_socket_t
webhook_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct delivery	*d = arg;
	char		 host[INET6_ADDRSTRLEN];
	const void	*p;

	(void)purpose;
	if (!d->allow_private && webhook_addr_private(&a->addr)) {
		p = a->family == AF_INET6 ?
		    (const void *)&((struct sockaddr_in6 *)&a->addr)->sin6_addr :
		    (const void *)&((struct sockaddr_in *)&a->addr)->sin_addr;
		if (inet_ntop(a->family, p, host, sizeof host) == NULL)
			strlcpy_b(host, "?", sizeof host);
		snprintf(d->refused, sizeof d->refused, "address %s refused: "
		    "a private or loopback address (webhook_allow_private)",
		    host);
		return (CURL_SOCKET_BAD);
	}
	return (socket(a->family, a->socktype, a->protocol));
}

static size_t
webhook_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p; (void)arg;
	return (size * n);
}

/* 0 if url is an http or https URL with a host, else -1 and why. */
int
webhook_url_check(const char *url, char *why, size_t len)
{
	CURLU	*u;
	char	*scheme = NULL, *host = NULL;
	int	 rc = -1;

	if (strlen(url) > WEBHOOK_URL_MAX) {
		snprintf(why, len, "the URL is longer than %d bytes",
		    WEBHOOK_URL_MAX);
		return (-1);
	}
	if ((u = curl_url()) == NULL)
		fatal("out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) !=
	    CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) !=
	    CURLUE_OK || curl_url_get(u, CURLUPART_HOST, &host, 0) !=
	    CURLUE_OK || *host == '\0')
		snprintf(why, len, "not a URL with a host");
	else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		snprintf(why, len, "only http and https URLs are allowed");
	else
		rc = 0;
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return (rc);
}

/* Builds the request body and the event ids of one delivery. */
struct batch {
	json_object	*events;
	char		 ids[WEBHOOK_BATCH * 21];
	size_t		 ids_len;
	int64_t		 last_id;
};

static void
webhook_add_event(void *arg, const struct event_row *ev, int64_t created_ms)
{
	struct batch	*b = arg;
	json_object	*o, *data;
	char		 ts[TIMESTAMP_LEN + 1];

	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(ev->id));
	json_object_object_add(o, "type", json_object_new_string(ev->type));
	json_object_object_add(o, "collection",
	    json_object_new_string(ev->collection));
	json_object_object_add(o, "record_id", ev->record_id == NULL ? NULL :
	    json_object_new_string(ev->record_id));
	data = ev->data != NULL ? json_tokener_parse(ev->data) : NULL;
	json_object_object_add(o, "data", data);
	time_iso(created_ms, ts);
	json_object_object_add(o, "created_at", json_object_new_string(ts));
	json_object_array_add(b->events, o);
	b->ids_len += snprintf(b->ids + b->ids_len, sizeof b->ids - b->ids_len,
	    "%s%lld", b->ids_len == 0 ? "" : ",", (long long)ev->id);
	b->last_id = ev->id;
}

/* The Basalt-Signature header: t=UNIX,v1=hex(HMAC-SHA256(secret,
 * "t.body")). */
static void
webhook_sign(const char *secret, const char *body, int64_t t, char *out,
    size_t len)
{
	crypto_auth_hmacsha256_state	 st;
	unsigned char			 mac[crypto_auth_hmacsha256_BYTES];
	char				 ts[24], hex[2 * sizeof mac + 1];

	snprintf(ts, sizeof ts, "%lld.", (long long)t);
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
	    strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts,
	    strlen(ts));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body,
	    strlen(body));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
	snprintf(out, len, "Basalt-Signature: t=%lld,v1=%s", (long long)t, hex);
	sodium_memzero(&st, sizeof st);
}

static struct curl_slist *
webhook_header(struct curl_slist *l, const char *h)
{
	struct curl_slist	*n;

	if ((n = curl_slist_append(l, h)) == NULL)
		fatal("out of memory");
	return (n);
}

static void
webhook_easy(struct delivery *d, const char *url)
{
	CURL	*e;

	if ((e = d->easy = curl_easy_init()) == NULL)
		fatal("curl_easy_init failed");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, d);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(d->body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->headers);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->webhook_timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_PROXY, "");	/* connect to the receiver */
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, webhook_open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, d);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, webhook_discard);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, d->errbuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "basalt/" VERSION);
	curl_multi_add_handle(multi, e);
}

/* Starts the next request of w if this process holds its lease and there
 * are events after its cursor. The lease runs webhook_timeout_ms plus
 * WEBHOOK_LEASE_MARGIN_MS from now, and the request starts at once: it
 * ends before the lease does. */
static void
webhook_deliver(struct webhook *w)
{
	struct delivery	*d;
	struct batch	 b;
	char		 h[256], *ids;
	int64_t		 cursor, head, now;
	int		 n, running;

	now = time_now_ms();
	if (store_webhook_lease(store, w, holder, now, now +
	    cfg->webhook_timeout_ms + WEBHOOK_LEASE_MARGIN_MS) != STORE_OK)
		return;
	memset(&b, 0, sizeof b);
	b.events = json_object_new_array();
	/* Every event up to head is committed before the scan starts: if
	 * none of them is the webhook's, the cursor passes them all, so
	 * that other collections' and types' events are not read again at
	 * each commit. */
	head = store_event_max(store);
	n = store_webhook_events(store, w, WEBHOOK_BATCH, webhook_add_event,
	    &b);
	/* The lease counts from before its statement waited on the
	 * database's lock, if it did (another process's long write), and
	 * before a long read of the log: it may have run out already. It is
	 * renewed from now, unless another process holds it or the cursor
	 * moved meanwhile; if that waits on the lock again, the next scan
	 * tries anew. */
	if (time_now_ms() - now > WEBHOOK_LEASE_MARGIN_MS / 2) {
		cursor = w->cursor;
		now = time_now_ms();
		if (store_webhook_lease(store, w, holder, now, now +
		    cfg->webhook_timeout_ms + WEBHOOK_LEASE_MARGIN_MS) !=
		    STORE_OK || w->cursor != cursor ||
		    time_now_ms() - now > WEBHOOK_LEASE_MARGIN_MS / 2) {
			json_object_put(b.events);
			atomic_store(&woken, 1);
			return;
		}
	}
	if (n <= 0) {
		if (n < 0)
			log_warn("webhook %s: reading the event log failed",
			    w->id);
		else if (head > w->cursor && store_webhook_delivered(store,
		    w->id, holder, head) != STORE_OK)
			log_warn("webhook %s: its cursor was not saved", w->id);
		json_object_put(b.events);
		return;
	}
	d = xcalloc(1, sizeof *d);
	strlcpy_b(d->id, w->id, sizeof d->id);
	d->last_id = b.last_id;
	d->failures = w->failures;
	d->allow_private = cfg->webhook_allow_private;
	d->body = xstrdup(json_object_to_json_string_ext(b.events,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(b.events);
	d->headers = webhook_header(NULL, "Content-Type: application/json");
	d->headers = webhook_header(d->headers, "Expect:");
	snprintf(h, sizeof h, "Basalt-Webhook-Id: %s", w->id);
	d->headers = webhook_header(d->headers, h);
	ids = xmalloc(b.ids_len + 32);
	snprintf(ids, b.ids_len + 32, "Basalt-Event-Ids: %s", b.ids);
	d->headers = webhook_header(d->headers, ids);
	free(ids);
	webhook_sign(w->secret, d->body, now / 1000, h, sizeof h);
	d->headers = webhook_header(d->headers, h);
	webhook_easy(d, w->url);
	d->next = flight;
	flight = d;
	/* its time starts now, not after the scan's other webhooks */
	curl_multi_perform(multi, &running);
}

static int
webhook_in_flight(const char *id)
{
	struct delivery	*d;

	for (d = flight; d != NULL; d = d->next)
		if (strcmp(d->id, id) == 0)
			return (1);
	return (0);
}

static char *
dup_or_null(const char *s)
{
	return (s != NULL ? xstrdup(s) : NULL);
}

static void
webhook_collect(void *arg, const struct webhook *w)
{
	struct due	*due = arg;
	struct webhook	*c;

	if (webhook_in_flight(w->id))
		return;
	if (due->n == due->size) {
		due->size = due->size == 0 ? 16 : 2 * due->size;
		due->w = xrealloc(due->w, due->size * sizeof *due->w);
	}
	c = &due->w[due->n++];
	*c = *w;
	c->id = xstrdup(w->id);
	c->realm = xstrdup(w->realm);
	c->app = xstrdup(w->app);
	c->url = xstrdup(w->url);
	c->collections = dup_or_null(w->collections);
	c->types = dup_or_null(w->types);
	c->secret = xstrdup(w->secret);
	c->last_error = NULL;
}

/* Starts a request for every due webhook that has none in flight. */
static void
webhook_scan(int64_t now)
{
	struct due	 due;
	struct webhook	*w;
	size_t		 i;

	memset(&due, 0, sizeof due);
	if (store_webhook_list(store, 0, now, webhook_collect, &due) !=
	    STORE_OK)
		log_warn("reading the webhooks failed; will retry");
	for (i = 0; i < due.n; i++) {
		w = &due.w[i];
		if (!atomic_load(&stopping))
			webhook_deliver(w);
		free((char *)w->id);
		free((char *)w->realm);
		free((char *)w->app);
		free((char *)w->url);
		free((char *)w->collections);
		free((char *)w->types);
		sodium_memzero((char *)w->secret, strlen(w->secret));
		free((char *)w->secret);
	}
	free(due.w);
}

/* The end of one request: the cursor moves after a 2xx, else the failure
 * is counted and the next attempt put off. */
static void
webhook_done(struct delivery *d, CURLcode res)
{
	char	 err[WEBHOOK_ERROR_MAX + 1];
	long	 code = 0;
	double	 secs = 0;
	int64_t	 backoff, head;
	int	 rc;

	curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(d->easy, CURLINFO_TOTAL_TIME, &secs);
	metrics_webhook_delivery(res == CURLE_OK && code >= 200 && code < 300,
	    secs);
	if (res == CURLE_OK && code >= 200 && code < 300) {
		rc = store_webhook_delivered(store, d->id, holder, d->last_id);
		/* deleted, or its lease went to another process, whose
		   figures show its lag from now on */
		if (rc == STORE_NOTFOUND)
			metrics_webhook_lag(d->id, -1);
		else if (rc != STORE_OK)
			log_warn("webhook %s: its cursor was not saved; the "
			    "events will be sent again", d->id);
		else {
			head = store_event_max(store);
			metrics_webhook_lag(d->id, head > d->last_id ?
			    head - d->last_id : 0);
		}
		atomic_store(&woken, 1);	/* there may be more */
		return;
	}
	if (d->refused[0] != '\0')
		strlcpy_b(err, d->refused, sizeof err);
	else if (res != CURLE_OK)
		snprintf(err, sizeof err, "%s", d->errbuf[0] != '\0' ?
		    d->errbuf : curl_easy_strerror(res));
	else if (code >= 300 && code < 400)
		snprintf(err, sizeof err, "HTTP status %ld: redirects are not "
		    "followed", code);
	else
		snprintf(err, sizeof err, "HTTP status %ld", code);
	backoff = d->failures >= 12 ? WEBHOOK_BACKOFF_MAX :
	    1LL << d->failures;
	if (backoff > WEBHOOK_BACKOFF_MAX)
		backoff = WEBHOOK_BACKOFF_MAX;
	log_warn("webhook %s: delivery failed (%d in a row): %s", d->id,
	    d->failures + 1, err);
	rc = store_webhook_failed(store, d->id, holder, err,
	    time_now_ms() + backoff * 1000, cfg->webhook_max_failures);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		log_warn("webhook %s: its failure was not saved", d->id);
}

static void
webhook_reap(void)
{
	struct delivery	**p, *d;
	CURLMsg		 *m;
	int		  left;

	while ((m = curl_multi_info_read(multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		for (p = &flight; *p != NULL; p = &(*p)->next)
			if ((*p)->easy == m->easy_handle)
				break;
		if ((d = *p) == NULL)
			continue;
		*p = d->next;
		webhook_done(d, m->data.result);
		webhook_free_delivery(d);
	}
}

static void *
webhook_main(void *arg)
{
	int64_t	 now, next_scan = 0, next_poll = 0, dv = -1, v;
	int	 running;

	(void)arg;
	config_refresh();
	while (!atomic_load(&stopping)) {
		now = time_now_ms();
		if (now >= next_poll) {
			if ((v = store_data_version(store)) != dv)
				atomic_store(&woken, 1);
			dv = v;
			next_poll = now + WEBHOOK_POLL_MS;
		}
		if (atomic_exchange(&woken, 0) || now >= next_scan) {
			config_refresh();
			webhook_scan(now);
			next_scan = now + WEBHOOK_SCAN_MS;
		}
		curl_multi_perform(multi, &running);
		webhook_reap();
		if (!atomic_load(&woken))
			curl_multi_poll(multi, NULL, 0, WEBHOOK_POLL_MS, NULL);
	}
	config_unhold();
	return (NULL);
}

/* Starts the delivery thread on a store of its own. */
int
webhook_start(void)
{
	char	 err[512];

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("cannot initialise libcurl");
		return (-1);
	}
	store = store_open(cfg->database, cfg->busy_timeout_ms,
	    cfg->synchronous_full, err, sizeof err);
	if (store == NULL) {
		log_error("%s", err);
		return (-1);
	}
	if ((multi = curl_multi_init()) == NULL)
		fatal("curl_multi_init failed");
	snprintf(holder, sizeof holder, "%ld:%lld", (long)getpid(),
	    (long long)time_now_ms());
	atomic_store(&stopping, 0);
	atomic_store(&woken, 1);
	if (pthread_create(&thread, NULL, webhook_main, NULL) != 0) {
		log_error("cannot start the webhook thread");
		return (-1);
	}
	started = 1;
	return (0);
}

/* Stops the delivery thread. Requests in flight are dropped with their
 * cursors where they were: their events are sent again. */
void
webhook_stop(void)
{
	struct delivery	*d;

	if (started) {
		atomic_store(&stopping, 1);
		curl_multi_wakeup(multi);
		pthread_join(thread, NULL);
		started = 0;
	}
	while ((d = flight) != NULL) {
		flight = d->next;
		webhook_free_delivery(d);
	}
	if (store != NULL) {
		store_webhook_release(store, holder);
		store_close(store);
		store = NULL;
	}
	if (multi != NULL) {
		curl_multi_cleanup(multi);
		multi = NULL;
	}
	curl_global_cleanup();
}

/* Any thread: new events were committed. */
void
webhook_wake(void)
{
	atomic_store(&woken, 1);
	if (multi != NULL)
		curl_multi_wakeup(multi);
}

/* A list "a,b" of collection names (names) or event types as ",a,b,"
 * (xmalloc'd) into *out; -1 and why if an item is not one. */
int
webhook_list_parse(const char *s, int names, char **out, char *why,
    size_t len)
{
	char	*buf, *p, *item;
	size_t	 i, n = 0;

	*out = NULL;
	if (strlen(s) > (MAX_STREAM_TYPES + 1) * (MAX_EVENT_TYPE_LEN + 1)) {
		snprintf(why, len, "the list is too long");
		return (-1);
	}
	buf = xstrdup(s);
	*out = xmalloc(strlen(s) + 3);
	strlcpy_b(*out, ",", 2);
	for (p = buf; (item = strsep(&p, ",")) != NULL; n++) {
		for (i = 0; item[i] != '\0'; i++)
			if (!isalnum((unsigned char)item[i]) &&
			    strchr("_.:-", item[i]) == NULL)
				break;
		if (names ? !name_valid(item) : (i == 0 || item[i] != '\0' ||
		    i > MAX_EVENT_TYPE_LEN)) {
			snprintf(why, len, "'%.64s' is not a %s", item, names ?
			    "collection name" : "event type");
			free(buf);
			free(*out);
			*out = NULL;
			return (-1);
		}
		strlcat_b(*out, item, strlen(s) + 3);
		strlcat_b(*out, ",", strlen(s) + 3);
	}
	free(buf);
	return (0);
}
