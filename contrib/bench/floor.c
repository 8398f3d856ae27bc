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
 * basalt-floor: the least a FastCGI event-stream backend can do, to
 * measure basalt against behind a web server. One thread, epoll, FastCGI
 * records parsed here; no database and no JSON parser. A GET of a
 * collection's stream gets basalt's headers and opening, a POST of a
 * record or of a custom event is answered as basalt answers it, and its
 * event goes to every open stream in basalt's bytes, one write per
 * stream per event.
 *
 *	basalt-floor --listen PATH|127.0.0.1:PORT [--heartbeat S]
 */

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fastcgi.h>

#define FLOOR_BACKLOG		4096
#define FLOOR_EVENTS		256		/* epoll events per wait */
#define FLOOR_READ		65536		/* bytes per read */
#define FLOOR_MAX_PARAMS	65536		/* FastCGI params per request */
#define FLOOR_MAX_BODY		(1024 * 1024)	/* request body, as basalt */
#define FLOOR_MAX_QUEUED	(64 * 1024 * 1024) /* unread output per peer */
#define FLOOR_MAX_TYPE		64		/* event type, as basalt */
#define FLOOR_RETRY_MS		2000		/* the stream's retry: hint */

struct buf {
	char		*p;
	size_t		 off;		/* consumed from the front */
	size_t		 len;		/* end of the data */
	size_t		 cap;
};

struct conn {
	int		 fd;
	int		 polling_out;	/* EPOLLOUT asked for */
	int		 closing;	/* close once the output is out */
	size_t		 tail;		/* the last queued STDOUT record
					   starts this far from the end */
	struct buf	 in;
	struct buf	 out;

	/* the request in progress, or the stream */
	int		 active;
	uint16_t	 id;
	int		 keep_conn;
	int		 params_done;
	int		 too_large;	/* the body */
	int		 params_large;
	struct buf	 params;
	struct buf	 body;
	int		 stream;
	struct conn	*prev, *next;	/* the streams */
	struct conn	*dead;		/* freed after this turn */
	struct conn	*aprev, *anext;	/* all connections */
};

static int		 ep;
static struct conn	*streams;
static struct conn	*dead;		/* closed this turn, freed after it */
static struct conn	*conns;		/* all of them */
static int		 listen_fd;
static int		 accept_paused;	/* out of descriptors */
static int		 lmark, tmark, smark;
static int64_t		 last_id;
static uint64_t		 rid;
static uint64_t		 ulid_seq;
static const char	 beat[] = ":keepalive\n\n";

static void	conn_free(struct conn *);

static void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n)) == NULL)
		err(1, "malloc");
	return (p);
}

static void
buf_reserve(struct buf *b, size_t n)
{
	if (b->off > 0 && b->len + n > b->cap) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n <= b->cap)
		return;
	b->cap = b->len + n < 4096 ? 4096 : (b->len + n) * 2;
	if ((b->p = realloc(b->p, b->cap)) == NULL)
		err(1, "realloc");
}

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static size_t
buf_size(const struct buf *b)
{
	return (b->len - b->off);
}

static void
buf_reset(struct buf *b)
{
	b->off = b->len = 0;
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------- output */

static void
fcgi_header(uint8_t *h, uint8_t type, uint16_t id, size_t len)
{
	h[0] = FCGI_VERSION_1;
	h[1] = type;
	h[2] = (uint8_t)(id >> 8);
	h[3] = (uint8_t)id;
	h[4] = (uint8_t)(len >> 8);
	h[5] = (uint8_t)len;
	h[6] = 0;
	h[7] = 0;
}

/* Queues data as STDOUT records of c's request (an empty one when len
 * is 0: the end of the output). */
static void
queue_stdout(struct conn *c, const char *data, size_t len)
{
	uint8_t	 h[FCGI_HEADER_LEN];
	size_t	 n;

	c->tail = 0;
	for (;;) {
		n = len > FCGI_MAX_LENGTH ? FCGI_MAX_LENGTH : len;
		fcgi_header(h, FCGI_STDOUT, c->id, n);
		buf_add(&c->out, h, sizeof h);
		buf_add(&c->out, data, n);
		if (n == len)
			break;
		data += n;
		len -= n;
	}
}

static void
queue_end(struct conn *c, uint16_t id, uint8_t protostatus)
{
	uint8_t	 r[FCGI_HEADER_LEN + 8];

	c->tail = 0;
	fcgi_header(r, FCGI_END_REQUEST, id, 8);
	memset(r + FCGI_HEADER_LEN, 0, 8);
	r[FCGI_HEADER_LEN + 4] = protostatus;
	buf_add(&c->out, r, sizeof r);
}

static void
poll_out(struct conn *c, int on)
{
	struct epoll_event	 ev;

	if (c->polling_out == on)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		err(1, "epoll_ctl");
	c->polling_out = on;
}

/* Writes what is queued; the rest waits for EPOLLOUT. -1: c is gone. */
static int
conn_flush(struct conn *c)
{
	ssize_t	 n;

	if (c->fd == -1)
		return (-1);
	while (buf_size(&c->out) > 0) {
		n = write(c->fd, c->out.p + c->out.off, buf_size(&c->out));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (buf_size(&c->out) > FLOOR_MAX_QUEUED) {
				warnx("closing a peer that does not read");
				conn_free(c);
				return (-1);
			}
			poll_out(c, 1);
			return (0);
		}
		if (n <= 0) {
			conn_free(c);
			return (-1);
		}
		c->out.off += (size_t)n;
	}
	buf_free(&c->out);
	poll_out(c, 0);
	if (c->closing) {
		conn_free(c);
		return (-1);
	}
	return (0);
}

/* Adds frame to the last record queued on c, which no write has begun,
 * when they fit in one together (as basalt puts the events that reach a
 * stream together in one record). 0 if it did. */
static int
stream_append(struct conn *c, const char *frame, size_t len)
{
	uint8_t	*h;
	size_t	 have;

	if (c->tail == 0 || c->tail > buf_size(&c->out))
		return (-1);
	h = (uint8_t *)c->out.p + c->out.len - c->tail;
	have = (size_t)(h[4] << 8 | h[5]);
	if (h[1] != FCGI_STDOUT || have == 0 || have + len > FCGI_MAX_LENGTH)
		return (-1);
	have += len;
	h[4] = (uint8_t)(have >> 8);
	h[5] = (uint8_t)have;
	buf_add(&c->out, frame, len);
	c->tail += len;
	return (0);
}

/* Frame to stream c: one STDOUT record in one write when nothing waits
 * before it; else queued, and what the kernel does not take is queued
 * too, the rest waiting for EPOLLOUT. */
static void
stream_send(struct conn *c, const char *frame, size_t len)
{
	uint8_t		 h[FCGI_HEADER_LEN];
	struct iovec	 iov[2];
	ssize_t		 n;
	size_t		 done;

	if (buf_size(&c->out) > 0 || len > FCGI_MAX_LENGTH) {
		if (stream_append(c, frame, len) == -1) {
			queue_stdout(c, frame, len);
			if (len <= FCGI_MAX_LENGTH)
				c->tail = FCGI_HEADER_LEN + len;
		}
		if (buf_size(&c->out) > FLOOR_MAX_QUEUED) {
			warnx("closing a stream that does not read");
			conn_free(c);
		} else if (!c->polling_out)
			conn_flush(c);
		return;
	}
	fcgi_header(h, FCGI_STDOUT, c->id, len);
	iov[0].iov_base = h;
	iov[0].iov_len = sizeof h;
	iov[1].iov_base = (void *)frame;
	iov[1].iov_len = len;
	do
		n = writev(c->fd, iov, 2);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
		conn_free(c);
		return;
	}
	done = n == -1 ? 0 : (size_t)n;
	if (done == sizeof h + len)
		return;
	c->tail = 0;		/* a record begun: nothing may join it */
	if (done < sizeof h) {
		buf_add(&c->out, h + done, sizeof h - done);
		buf_add(&c->out, frame, len);
	} else
		buf_add(&c->out, frame + (done - sizeof h),
		    len - (done - sizeof h));
	poll_out(c, 1);
}

/* ---------------------------------------------------------- streams */

static void
stream_unlink(struct conn *c)
{
	if (!c->stream)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		streams = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->stream = 0;
}

/* The event's frame as basalt's sse_frame makes it (data without line
 * breaks: the callers pass JSON on one line). */
static char *
frame_make(const char *type, size_t tlen, const char *data, size_t dlen,
    size_t *len)
{
	char	*f, *p;
	size_t	 i;

	p = f = xmalloc(32 + tlen + 16 + dlen + 3);
	last_id++;
	p += sprintf(p, "id: %" PRId64 "\nevent: ", last_id);
	for (i = 0; i < tlen; i++)
		*p++ = type[i];
	memcpy(p, "\ndata: ", 7);
	p += 7;
	for (i = 0; i < dlen; i++)
		*p++ = data[i] == '\n' || data[i] == '\r' ? ' ' : data[i];
	memcpy(p, "\n\n", 2);
	p += 2;
	*len = (size_t)(p - f);
	return (f);
}

static void
fanout(const char *frame, size_t len)
{
	struct conn	*c, *next;

	for (c = streams; c != NULL; c = next) {
		next = c->next;
		stream_send(c, frame, len);
	}
}

static void
publish(const char *type, size_t tlen, const char *data, size_t dlen)
{
	char	*f;
	size_t	 len;

	f = frame_make(type, tlen, data, dlen, &len);
	fanout(f, len);
	free(f);
}

/* ---------------------------------------------------------- answers */

static const char *
status_text(int status)
{
	switch (status) {
	case 200: return ("OK");
	case 201: return ("Created");
	case 202: return ("Accepted");
	case 400: return ("Bad Request");
	case 404: return ("Not Found");
	case 413: return ("Content Too Large");
	case 431: return ("Request Header Fields Too Large");
	default: return ("Error");
	}
}

/* The request's answer, its end, and the connection closed unless the
 * web server keeps it. -1: c is gone. */
static int
reply(struct conn *c, int status, const char *location, const char *body,
    size_t len)
{
	char	*out;
	size_t	 room;
	int	 n;

	/* the headers and the body in one record, as basalt sends them;
	 * the Location is as long as the request's path */
	room = 1024 + (location != NULL ? strlen(location) : 0);
	out = xmalloc(room + len);
	n = snprintf(out, room, "Status: %d %s\r\n%s%s%s"
	    "X-Request-Id: %016" PRIx64 "\r\nVary: Origin\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	    status, status_text(status), location ? "Location: " : "",
	    location ? location : "", location ? "\r\n" : "", ++rid, len);
	if (n < 0 || (size_t)n >= room)
		n = 0;
	memcpy(out + n, body, len);
	queue_stdout(c, out, (size_t)n + len);
	free(out);
	queue_stdout(c, NULL, 0);
	queue_end(c, c->id, FCGI_REQUEST_COMPLETE);
	if (!c->keep_conn)
		c->closing = 1;
	c->active = 0;
	return (conn_flush(c));
}

static int
reply_error(struct conn *c, int status, const char *code, const char *msg)
{
	char	 body[256];
	int	 n;

	n = snprintf(body, sizeof body, "{\"error\":{\"status\":%d,"
	    "\"code\":\"%s\",\"message\":\"%s\"}}", status, code, msg);
	return (reply(c, status, NULL, body, (size_t)n));
}

/* "2026-12-01T13:36:01.280Z" of now. */
static void
iso_now(char *buf, size_t size, uint64_t *ms)
{
	struct timespec	 ts;
	struct tm	 tm;
	time_t		 t;
	size_t		 n;

	clock_gettime(CLOCK_REALTIME, &ts);
	*ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	t = ts.tv_sec;
	gmtime_r(&t, &tm);
	/* strftime: the compiler cannot bound snprintf's %d fields */
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%03dZ", (int)(*ms % 1000));
}

/* A ULID of 26 characters as basalt's record ids: the time in ms, then
 * a counter where basalt has random bits. */
static void
ulid_make(char *out, uint64_t ms)
{
	static const char	 b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	uint64_t		 lo = ++ulid_seq;
	int			 i;

	for (i = 9; i >= 0; i--) {
		out[i] = b32[ms & 31];
		ms >>= 5;
	}
	for (i = 25; i >= 10; i--) {
		out[i] = b32[lo & 31];
		lo >>= 5;
	}
	out[26] = '\0';
}

/* The segment before the last of path: the collection of .../records. */
static void
path_collection(const char *path, size_t plen, const char **s, size_t *n)
{
	size_t	 e = plen, b;

	while (e > 0 && path[e - 1] != '/')
		e--;
	if (e > 0)
		e--;
	b = e;
	while (b > 0 && path[b - 1] != '/')
		b--;
	*s = path + b;
	*n = e - b;
}

/* Trims JSON white space from both ends of the body. */
static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && strchr(" \t\r\n", (*p)[0]) != NULL)
		(*p)++, (*n)--;
	while (*n > 0 && strchr(" \t\r\n", (*p)[*n - 1]) != NULL)
		(*n)--;
}

static int
create_record(struct conn *c, const char *path, size_t plen)
{
	const char	*body = c->body.p + c->body.off, *coll;
	size_t		 blen = buf_size(&c->body), clen, len;
	char		 id[27], now[32], *rec, *loc;
	uint64_t	 ms;
	int		 rc;

	trim(&body, &blen);
	if (blen < 2 || body[0] != '{' || body[blen - 1] != '}')
		return (reply_error(c, 400, "invalid_json",
		    "the body must be a JSON object"));
	path_collection(path, plen, &coll, &clen);
	iso_now(now, sizeof now, &ms);
	ulid_make(id, ms);
	rec = xmalloc(blen + clen + 160);
	len = (size_t)sprintf(rec, "{\"id\":\"%s\",\"collection\":\"%.*s\","
	    "\"fields\":%.*s,\"created_at\":\"%s\",\"updated_at\":\"%s\"}",
	    id, (int)clen, coll, (int)blen, body, now, now);
	loc = xmalloc(plen + 28);
	sprintf(loc, "%.*s/%s", (int)plen, path, id);
	publish("record_created", 14, rec, len);
	rc = reply(c, 201, loc, rec, len);
	free(loc);
	free(rec);
	return (rc);
}

/* Skips one JSON value from *p (not past end); -1 if there is none.
 * Only as much as finding the members of the top object needs. */
static int
json_skip(const char **p, const char *end)
{
	int	 depth = 0;

	do {
		while (*p < end && strchr(" \t\r\n", **p) != NULL)
			(*p)++;
		if (*p >= end)
			return (-1);
		if (**p == '"') {
			for ((*p)++; *p < end && **p != '"'; (*p)++)
				if (**p == '\\')
					(*p)++;
			if (*p >= end)
				return (-1);
			(*p)++;
		} else if (**p == '{' || **p == '[') {
			depth++;
			(*p)++;
		} else if (**p == '}' || **p == ']') {
			if (--depth < 0)
				return (-1);
			(*p)++;
		} else if (**p == ',' || **p == ':')
			(*p)++;
		else {
			while (*p < end && strchr(" \t\r\n,:]}", **p) == NULL)
				(*p)++;
		}
	} while (depth > 0);
	return (0);
}

/* Finds "type" (a string) and "payload" (any value) in the top object. */
static int
event_members(const char *b, size_t n, const char **type, size_t *tlen,
    const char **pl, size_t *plen)
{
	const char	*p = b, *end = b + n, *k, *v;
	size_t		 klen;

	*type = *pl = NULL;
	if (n < 2 || b[0] != '{')
		return (-1);
	p++;
	for (;;) {
		while (p < end && strchr(" \t\r\n,", *p) != NULL)
			p++;
		if (p < end && *p == '}')
			break;
		if (p >= end || *p != '"')
			return (-1);
		k = p + 1;
		if (json_skip(&p, end) == -1)
			return (-1);
		klen = (size_t)(p - k - 1);
		while (p < end && strchr(" \t\r\n", *p) != NULL)
			p++;
		if (p >= end || *p++ != ':')
			return (-1);
		while (p < end && strchr(" \t\r\n", *p) != NULL)
			p++;
		v = p;
		if (json_skip(&p, end) == -1)
			return (-1);
		if (klen == 4 && memcmp(k, "type", 4) == 0 && *v == '"') {
			*type = v + 1;
			*tlen = (size_t)(p - v - 2);
		} else if (klen == 7 && memcmp(k, "payload", 7) == 0) {
			*pl = v;
			*plen = (size_t)(p - v);
		}
	}
	return (*type != NULL && *tlen > 0 ? 0 : -1);
}

static int
custom_event(struct conn *c)
{
	const char	*body = c->body.p + c->body.off, *t, *pl;
	size_t		 blen = buf_size(&c->body), tlen, plen = 0, i;
	char		 type[FLOOR_MAX_TYPE + 1], ans[128];
	int		 n;

	trim(&body, &blen);
	if (event_members(body, blen, &t, &tlen, &pl, &plen) == -1)
		return (reply_error(c, 400, "invalid_json",
		    "the body must be {\"type\":...,\"payload\":...}"));
	if (tlen > FLOOR_MAX_TYPE)
		tlen = FLOOR_MAX_TYPE;
	for (i = 0; i < tlen; i++)
		type[i] = strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-", t[i]) != NULL &&
		    t[i] != '\0' ? t[i] : '_';
	type[tlen] = '\0';
	if (pl == NULL) {
		pl = "null";
		plen = 4;
	}
	publish(type, tlen, pl, plen);
	n = snprintf(ans, sizeof ans, "{\"id\":%" PRId64 ",\"type\":\"%s\"}",
	    last_id, type);
	return (reply(c, 202, NULL, ans, (size_t)n));
}

static int
open_stream(struct conn *c, int head)
{
	char	 out[512];
	int	 n;

	n = snprintf(out, sizeof out, "Status: 200 OK\r\n"
	    "Content-Type: text/event-stream\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "X-Request-Id: %016" PRIx64 "\r\n"
	    "Vary: Origin\r\n\r\n", ++rid);
	if (!head)
		n += snprintf(out + n, sizeof out - (size_t)n,
		    ": basalt stream\nretry: %d\n\n", FLOOR_RETRY_MS);
	queue_stdout(c, out, (size_t)n);
	if (head) {
		queue_stdout(c, NULL, 0);
		queue_end(c, c->id, FCGI_REQUEST_COMPLETE);
		if (!c->keep_conn)
			c->closing = 1;
		c->active = 0;
		return (conn_flush(c));
	}
	c->stream = 1;
	c->prev = NULL;
	c->next = streams;
	if (streams != NULL)
		streams->prev = c;
	streams = c;
	return (conn_flush(c));
}

static int
ends_with(const char *s, size_t n, const char *tail)
{
	size_t	 t = strlen(tail);

	return (n >= t && memcmp(s + n - t, tail, t) == 0);
}

/* A params value by name, or NULL; *vlen its length. */
static const char *
param(struct conn *c, const char *name, size_t *vlen)
{
	const uint8_t	*p = (const uint8_t *)c->params.p + c->params.off;
	const uint8_t	*end = p + buf_size(&c->params);
	size_t		 nl = strlen(name), len[2];
	int		 i;

	while (p < end) {
		for (i = 0; i < 2; i++) {
			if (p >= end)
				return (NULL);
			if (*p < 0x80)
				len[i] = *p++;
			else {
				if (end - p < 4)
					return (NULL);
				len[i] = ((size_t)(p[0] & 0x7f) << 24) |
				    ((size_t)p[1] << 16) | ((size_t)p[2] << 8) |
				    p[3];
				p += 4;
			}
		}
		if (len[0] > (size_t)(end - p) ||
		    len[1] > (size_t)(end - p) - len[0])
			return (NULL);
		if (len[0] == nl && memcmp(p, name, nl) == 0) {
			*vlen = len[1];
			return ((const char *)p + len[0]);
		}
		p += len[0] + len[1];
	}
	return (NULL);
}

/* The request is in: answer it, or start its stream. -1: c is gone. */
static int
dispatch(struct conn *c)
{
	const char	*m, *uri;
	size_t		 mlen = 0, ulen = 0, plen;
	int		 rc;

	m = param(c, "REQUEST_METHOD", &mlen);
	uri = param(c, "REQUEST_URI", &ulen);
	if (m == NULL)
		m = "", mlen = 0;
	if (uri == NULL)
		uri = "", ulen = 0;
	for (plen = 0; plen < ulen && uri[plen] != '?'; plen++)
		continue;
	if (c->params_large)
		rc = reply_error(c, 431, "headers_too_large",
		    "request headers too large");
	else if (c->too_large)
		rc = reply_error(c, 413, "body_too_large", "body too large");
	else if (((mlen == 3 && memcmp(m, "GET", 3) == 0) ||
	    (mlen == 4 && memcmp(m, "HEAD", 4) == 0)) &&
	    (ends_with(uri, plen, "/events") || ends_with(uri, plen, "/stream")))
		rc = open_stream(c, mlen == 4);
	else if (mlen == 4 && memcmp(m, "POST", 4) == 0 &&
	    ends_with(uri, plen, "/records"))
		rc = create_record(c, uri, plen);
	else if (mlen == 4 && memcmp(m, "POST", 4) == 0 &&
	    ends_with(uri, plen, "/events"))
		rc = custom_event(c);
	else
		rc = reply_error(c, 404, "not_found", "no such endpoint");
	if (rc == 0) {
		buf_free(&c->params);
		buf_free(&c->body);
	}
	return (rc);
}

/* ---------------------------------------------------------- input */

/* Handles one record. -1: c is gone; 1: stop reading its input. */
static int
record(struct conn *c, const uint8_t *h, const uint8_t *body, size_t len)
{
	uint16_t	 id = (uint16_t)(h[2] << 8 | h[3]);

	switch (h[1]) {
	case FCGI_BEGIN_REQUEST:
		if (len < 8)
			return (-2);
		if (c->active) {
			queue_end(c, id, FCGI_CANT_MPX_CONN);
			return (0);
		}
		if ((body[0] << 8 | body[1]) != FCGI_RESPONDER) {
			queue_end(c, id, FCGI_UNKNOWN_ROLE);
			return (0);
		}
		c->active = 1;
		c->id = id;
		c->keep_conn = body[2] & FCGI_KEEP_CONN;
		c->params_done = c->too_large = c->params_large = 0;
		buf_reset(&c->params);
		buf_reset(&c->body);
		return (0);
	case FCGI_PARAMS:
		if (!c->active || id != c->id || c->params_done || c->stream)
			return (0);
		if (len == 0)
			c->params_done = 1;
		else if (buf_size(&c->params) + len > FLOOR_MAX_PARAMS)
			c->params_large = 1;
		else
			buf_add(&c->params, body, len);
		return (0);
	case FCGI_STDIN:
		if (!c->active || id != c->id || c->stream)
			return (0);
		if (!c->params_done)
			return (-2);
		if (len == 0)
			return (dispatch(c));
		if (buf_size(&c->body) + len > FLOOR_MAX_BODY) {
			c->too_large = 1;
			buf_reset(&c->body);
		} else if (!c->too_large)
			buf_add(&c->body, body, len);
		return (0);
	case FCGI_ABORT_REQUEST:
		if (!c->active || id != c->id)
			return (0);
		stream_unlink(c);
		queue_stdout(c, NULL, 0);
		queue_end(c, id, FCGI_REQUEST_COMPLETE);
		c->active = 0;
		if (!c->keep_conn)
			c->closing = 1;
		return (0);
	case FCGI_GET_VALUES:
		{
			static const char	 pair[] = "\017\001"
			    FCGI_MPXS_CONNS "0";
			uint8_t			 r[FCGI_HEADER_LEN];

			fcgi_header(r, FCGI_GET_VALUES_RESULT, 0,
			    sizeof pair - 1);
			c->tail = 0;	/* no STDOUT record last now */
			buf_add(&c->out, r, sizeof r);
			buf_add(&c->out, pair, sizeof pair - 1);
		}
		return (0);
	case FCGI_DATA:
		return (0);
	default:
		{
			uint8_t	 r[FCGI_HEADER_LEN + 8];

			fcgi_header(r, FCGI_UNKNOWN_TYPE, 0, 8);
			memset(r + FCGI_HEADER_LEN, 0, 8);
			r[FCGI_HEADER_LEN] = h[1];
			c->tail = 0;
			buf_add(&c->out, r, sizeof r);
		}
		return (0);
	}
}

/* Handles the complete records in c's input. -1: c is gone. */
static int
conn_input(struct conn *c)
{
	const uint8_t	*h;
	size_t		 clen, need;
	int		 rc;

	while (!c->closing && buf_size(&c->in) >= FCGI_HEADER_LEN) {
		h = (const uint8_t *)c->in.p + c->in.off;
		if (h[0] != FCGI_VERSION_1) {
			conn_free(c);
			return (-1);
		}
		clen = (size_t)(h[4] << 8 | h[5]);
		need = FCGI_HEADER_LEN + clen + h[6];
		if (buf_size(&c->in) < need)
			break;
		c->in.off += need;
		rc = record(c, h, h + FCGI_HEADER_LEN, clen);
		if (rc == -1)
			return (-1);
		if (rc == -2) {
			conn_free(c);
			return (-1);
		}
	}
	if (buf_size(&c->in) == 0)
		buf_free(&c->in);
	return (conn_flush(c));
}

/* Reads what the peer sent; the input buffer lives only while a record
 * is incomplete, so that an idle stream holds no read buffer. */
static void
conn_read(struct conn *c)
{
	static char	 rbuf[FLOOR_READ];
	ssize_t		 n;

	if (c->fd == -1)
		return;
	n = read(c->fd, rbuf, sizeof rbuf);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c);
		return;
	}
	buf_add(&c->in, rbuf, (size_t)n);
	conn_input(c);
}

/* Closes c; its memory goes at the end of the loop's turn, since
 * events of this turn may still name it. */
static void
conn_free(struct conn *c)
{
	if (c->fd == -1)
		return;
	stream_unlink(c);
	close(c->fd);
	c->fd = -1;
	if (c->aprev != NULL)
		c->aprev->anext = c->anext;
	else
		conns = c->anext;
	if (c->anext != NULL)
		c->anext->aprev = c->aprev;
	c->dead = dead;
	dead = c;
}

static void
conn_reap(void)
{
	struct conn		*c;

	struct epoll_event	 ev;

	if (dead != NULL && accept_paused) {
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN;
		ev.data.ptr = &lmark;
		epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
		accept_paused = 0;
	}
	while ((c = dead) != NULL) {
		dead = c->dead;
		buf_free(&c->in);
		buf_free(&c->out);
		buf_free(&c->params);
		buf_free(&c->body);
		free(c);
	}
}

/* ---------------------------------------------------------- set-up */

static int
listen_on(const char *where)
{
	struct sockaddr_un	 sun;
	struct sockaddr_in	 sin;
	const char		*colon;
	char			 host[64], *end;
	long			 port;
	int			 fd, one = 1;

	if (where[0] == '/') {
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		if (strlen(where) >= sizeof sun.sun_path)
			errx(1, "%s: path too long", where);
		strcpy(sun.sun_path, where);
		unlink(where);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1 ||
		    bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
		    chmod(where, 0660) == -1)
			err(1, "%s", where);
	} else {
		if ((colon = strrchr(where, ':')) == NULL ||
		    (size_t)(colon - where) >= sizeof host)
			errx(1, "%s: not a PATH or HOST:PORT", where);
		memcpy(host, where, (size_t)(colon - where));
		host[colon - where] = '\0';
		port = strtol(colon + 1, &end, 10);
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		if (*end != '\0' || port <= 0 || port > 65535 ||
		    inet_pton(AF_INET, host, &sin.sin_addr) != 1)
			errx(1, "%s: not a PATH or HOST:PORT", where);
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1)
			err(1, "socket");
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
			err(1, "%s", where);
	}
	if (listen(fd, FLOOR_BACKLOG) == -1)
		err(1, "listen");
	return (fd);
}

static void
accept_all(int lfd)
{
	struct epoll_event	 ev;
	struct conn		*c;
	int			 fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1 && (errno == EMFILE || errno == ENFILE)) {
			/* no busy loop: wait until a connection closes */
			warn("accept");
			epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
			accept_paused = 1;
		}
		if (fd == -1)
			return;
		c = calloc(1, sizeof *c);
		if (c == NULL)
			err(1, "calloc");
		c->fd = fd;
		c->anext = conns;
		if (conns != NULL)
			conns->aprev = c;
		conns = c;
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
			err(1, "epoll_ctl");
	}
}

static void
heartbeat(int tfd)
{
	uint64_t	 n;

	if (read(tfd, &n, sizeof n) != sizeof n)
		return;
	fanout(beat, sizeof beat - 1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: basalt-floor --listen PATH|127.0.0.1:PORT "
	    "[--heartbeat S]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "heartbeat", required_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct epoll_event		 ev, evs[FLOOR_EVENTS];
	struct itimerspec		 its;
	struct rlimit			 rl;
	const char			*where = NULL;
	char				*end;
	long				 hb = 15;
	sigset_t			 sigs;
	int				 tfd, sfd, n, i, ch, run = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			where = optarg;
			break;
		case 'h':
			hb = strtol(optarg, &end, 10);
			if (*end != '\0' || hb < 1 || hb > 86400)
				errx(2, "--heartbeat: 1 to 86400 seconds");
			break;
		default:
			usage();
		}
	}
	if (where == NULL || optind != argc)
		usage();

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	if ((sfd = signalfd(-1, &sigs, SFD_CLOEXEC)) == -1)
		err(1, "signalfd");
	if ((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) == -1)
		err(1, "timerfd_create");
	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = its.it_interval.tv_sec = hb;
	timerfd_settime(tfd, 0, &its, NULL);
	/* as many streams as the hard limit allows */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	listen_fd = listen_on(where);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(1, "epoll_create1");
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &lmark;
	epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
	ev.data.ptr = &tmark;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	ev.data.ptr = &smark;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

	while (run) {
		n = epoll_wait(ep, evs, FLOOR_EVENTS, -1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(1, "epoll_wait");
		for (i = 0; i < n; i++) {
			void	*p = evs[i].data.ptr;

			if (p == &lmark)
				accept_all(listen_fd);
			else if (p == &tmark)
				heartbeat(tfd);
			else if (p == &smark)
				run = 0;
			else {
				if (evs[i].events & EPOLLOUT)
					conn_flush(p);
				if (evs[i].events & (EPOLLIN | EPOLLHUP |
				    EPOLLERR))
					conn_read(p);
			}
		}
		conn_reap();
	}

	while (conns != NULL)
		conn_free(conns);
	conn_reap();
	if (where[0] == '/')
		unlink(where);
	return (0);
}
