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
 * One client connection: sends a request as FastCGI records or as HTTP/1.1
 * and decodes the response (CGI head in FCGI_STDOUT, or an HTTP head with a
 * Content-Length, chunked or read-until-close body) as a stream of bytes.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <fastcgi.h>

#include "bench.h"

enum {
	BODY_NONE,
	BODY_LENGTH,
	BODY_CHUNKED,
	BODY_CLOSE
};

enum {
	CH_SIZE,
	CH_DATA,
	CH_DATA_CRLF,
	CH_TRAILER
};

struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

/* Per thread: the publisher reads on its own thread. */
static __thread char	 readbuf[BENCH_READ_SIZE];

static void	 client_finish(struct client *, int);

static void
buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 256;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
client_init(struct client *c, const struct target *t, client_head_cb head,
    client_body_cb body, client_done_cb done, void *arg)
{
	memset(c, 0, sizeof *c);
	c->t = t;
	c->fd = -1;
	c->on_head = head;
	c->on_body = body;
	c->on_done = done;
	c->arg = arg;
}

static void
client_reset(struct client *c)
{
	free(c->head);
	c->head = NULL;
	c->headlen = 0;
	c->head_done = 0;
	c->status = 0;
	c->http_close = 0;
	c->body_mode = BODY_NONE;
	c->body_left = 0;
	c->chunk_state = CH_SIZE;
	c->chunk_linelen = 0;
	c->rhlen = 0;
	c->rcontent = 0;
	c->rpad = 0;
	c->rtype = 0;
	c->ended = 0;
}

void
client_close(struct client *c)
{
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	c->rev = c->wev = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	c->outlen = c->outoff = 0;
	c->busy = 0;
	c->gen++;
	client_reset(c);
}

/* Ends the response; keeps the connection when the protocol allows. */
static void
client_finish(struct client *c, int error)
{
	int	 keep, status = c->status;

	if (c->t->proto == PROTO_HTTP)
		keep = !error && !c->http_close && c->body_mode != BODY_CLOSE;
	else
		keep = !error && c->t->fcgi_keep;
	if (keep) {
		free(c->out);
		c->out = NULL;
		c->outlen = c->outoff = 0;
		c->busy = 0;
		c->gen++;
	} else
		client_close(c);
	c->status = status;
	c->on_done(c, error);
}

/* Offset just past the blank line ending a head, or 0. */
static size_t
head_end(const char *h, size_t len, size_t from)
{
	size_t	 i;

	for (i = from; i + 1 < len; i++) {
		if (h[i] != '\n')
			continue;
		if (h[i + 1] == '\n')
			return (i + 2);
		if (i + 2 < len && h[i + 1] == '\r' && h[i + 2] == '\n')
			return (i + 3);
	}
	return (0);
}

const char *
client_header(struct client *c, const char *name, char *out, size_t size)
{
	size_t		 nlen = strlen(name), i, j;
	const char	*h = c->head;

	if (h == NULL)
		return (NULL);
	for (i = 0; i + nlen + 1 < c->headlen; i++) {
		if (i != 0 && h[i - 1] != '\n')
			continue;
		if (strncasecmp(h + i, name, nlen) != 0 || h[i + nlen] != ':')
			continue;
		i += nlen + 1;
		while (i < c->headlen && h[i] == ' ')
			i++;
		for (j = 0; i < c->headlen && h[i] != '\r' && h[i] != '\n' &&
		    j + 1 < size; i++)
			out[j++] = h[i];
		out[j] = '\0';
		return (out);
	}
	return (NULL);
}

/* Accumulates the head; returns bytes of buf used, or -1 on error. When
 * the head is complete, *done is set. */
static ssize_t
head_feed(struct client *c, const char *buf, size_t len, int *done)
{
	size_t	 old = c->headlen, take, end, from;

	*done = 0;
	if (c->head == NULL)
		c->head = xcalloc(1, BENCH_HEAD_MAX + 1);
	take = len;
	if (take > BENCH_HEAD_MAX - old)
		take = BENCH_HEAD_MAX - old;
	memcpy(c->head + old, buf, take);
	c->headlen = old + take;
	from = old > 2 ? old - 2 : 0;
	if ((end = head_end(c->head, c->headlen, from)) == 0) {
		if (c->headlen == BENCH_HEAD_MAX)
			return (-1);
		return ((ssize_t)take);
	}
	c->headlen = end;
	c->head[end] = '\0';
	c->head = xrealloc(c->head, end + 1);	/* streams are held long */
	*done = 1;
	return ((ssize_t)(end - old));
}

static int
cgi_head_parse(struct client *c)
{
	char	 v[64];

	c->status = 200;
	if (client_header(c, "Status", v, sizeof v) != NULL)
		c->status = atoi(v);
	return (0);
}

static int
http_head_parse(struct client *c)
{
	char	 v[128];

	if (strncmp(c->head, "HTTP/1.", 7) != 0 || c->headlen < 12)
		return (-1);
	c->status = atoi(c->head + 9);
	c->http_close = c->head[7] == '0';
	if (client_header(c, "Connection", v, sizeof v) != NULL)
		c->http_close = strcasecmp(v, "close") == 0;
	if (client_header(c, "Transfer-Encoding", v, sizeof v) != NULL &&
	    strcasestr(v, "chunked") != NULL) {
		c->body_mode = BODY_CHUNKED;
		c->chunk_state = CH_SIZE;
	} else if (client_header(c, "Content-Length", v, sizeof v) != NULL) {
		c->body_mode = BODY_LENGTH;
		c->body_left = strtoll(v, NULL, 10);
	} else if (c->status == 204 || c->status == 304 || c->status < 200)
		c->body_mode = BODY_NONE;
	else
		c->body_mode = BODY_CLOSE;
	return (0);
}

/* Hands body bytes on; -1 if the callback ended this response. */
static int
body_emit(struct client *c, const char *buf, size_t len)
{
	unsigned	 gen = c->gen;

	if (len > 0)
		c->on_body(c, buf, len);
	return (c->gen == gen ? 0 : -1);
}

static int
head_emit(struct client *c)
{
	unsigned	 gen = c->gen;

	if (c->on_head != NULL)
		c->on_head(c);
	return (c->gen == gen ? 0 : -1);
}

/*
 * Feeds the head of a response until it is complete, then parses it and
 * hands it on: 1 with *buf and *len moved past the head, 0 if more is
 * needed, -1 if the response ended.
 */
static int
head_take(struct client *c, const char **buf, size_t *len,
    int (*parse)(struct client *))
{
	ssize_t	 used;
	int	 done;

	if ((used = head_feed(c, *buf, *len, &done)) == -1) {
		client_finish(c, 1);
		return (-1);
	}
	if (!done)
		return (0);
	c->head_done = 1;
	if (parse(c) == -1) {
		client_finish(c, 1);
		return (-1);
	}
	if (head_emit(c) == -1)
		return (-1);
	*buf += used;
	*len -= used;
	return (1);
}

/* STDOUT content: a CGI head, then the body. */
static int
cgi_feed(struct client *c, const char *buf, size_t len)
{
	int	 rc;

	if (!c->head_done && (rc = head_take(c, &buf, &len,
	    cgi_head_parse)) != 1)
		return (rc);
	return (body_emit(c, buf, len));
}

static int
fcgi_feed(struct client *c, const char *buf, size_t len)
{
	size_t	 n;

	for (;;) {
		if (c->rhlen < FCGI_HEADER_LEN) {
			if (len == 0)
				return (0);
			n = FCGI_HEADER_LEN - c->rhlen;
			n = n < len ? n : len;
			memcpy(c->rh + c->rhlen, buf, n);
			buf += n;
			len -= n;
			if ((c->rhlen += n) < FCGI_HEADER_LEN)
				return (0);
			c->rtype = c->rh[1];
			c->rcontent = (size_t)c->rh[4] << 8 | c->rh[5];
			c->rpad = c->rh[6];
		}
		if (c->rcontent > 0) {
			if (len == 0)
				return (0);
			n = c->rcontent < len ? c->rcontent : len;
			if (c->rtype == FCGI_STDOUT && cgi_feed(c, buf, n) == -1)
				return (-1);
			buf += n;
			len -= n;
			c->rcontent -= n;
			continue;
		}
		if (c->rpad > 0) {
			if (len == 0)
				return (0);
			n = c->rpad < len ? c->rpad : len;
			buf += n;
			len -= n;
			c->rpad -= n;
			continue;
		}
		c->rhlen = 0;
		if (c->rtype == FCGI_END_REQUEST) {
			client_finish(c, !c->head_done);
			return (-1);
		}
	}
}

/* One step of the chunked decoder; returns bytes used or -1. */
static ssize_t
chunk_step(struct client *c, const char *buf, size_t len)
{
	size_t	 n;

	switch (c->chunk_state) {
	case CH_DATA:
		n = (size_t)c->body_left < len ? (size_t)c->body_left : len;
		if (body_emit(c, buf, n) == -1)
			return (-1);
		if ((c->body_left -= n) == 0)
			c->chunk_state = CH_DATA_CRLF;
		return ((ssize_t)n);
	case CH_DATA_CRLF:
		if (buf[0] == '\n')
			c->chunk_state = CH_SIZE;
		return (1);
	}
	/* CH_SIZE and CH_TRAILER read a line. */
	if (buf[0] != '\n') {
		if (buf[0] != '\r' && c->chunk_linelen + 1 < sizeof c->chunk_line)
			c->chunk_line[c->chunk_linelen++] = buf[0];
		return (1);
	}
	c->chunk_line[c->chunk_linelen] = '\0';
	if (c->chunk_state == CH_TRAILER) {
		if (c->chunk_linelen == 0) {
			client_finish(c, 0);
			return (-1);
		}
	} else if ((c->body_left = strtoll(c->chunk_line, NULL, 16)) == 0)
		c->chunk_state = CH_TRAILER;
	else
		c->chunk_state = CH_DATA;
	c->chunk_linelen = 0;
	return (1);
}

static int
http_body_feed(struct client *c, const char *buf, size_t len)
{
	ssize_t	 used;
	size_t	 n;

	switch (c->body_mode) {
	case BODY_CLOSE:
		return (body_emit(c, buf, len));
	case BODY_LENGTH:
		n = (size_t)c->body_left < len ? (size_t)c->body_left : len;
		if (body_emit(c, buf, n) == -1)
			return (-1);
		if ((c->body_left -= n) == 0) {
			client_finish(c, 0);
			return (-1);
		}
		return (0);
	case BODY_CHUNKED:
		while (len > 0) {
			if ((used = chunk_step(c, buf, len)) == -1)
				return (-1);
			buf += used;
			len -= used;
		}
		return (0);
	}
	client_finish(c, 0);
	return (-1);
}

static int
http_feed(struct client *c, const char *buf, size_t len)
{
	int	 rc;

	if (!c->head_done) {
		if ((rc = head_take(c, &buf, &len, http_head_parse)) != 1)
			return (rc);
		if (c->body_mode == BODY_NONE ||
		    (c->body_mode == BODY_LENGTH && c->body_left == 0)) {
			client_finish(c, 0);
			return (-1);
		}
	}
	return (http_body_feed(c, buf, len));
}

static void
client_eof(struct client *c)
{
	if (c->t->proto == PROTO_HTTP && c->head_done &&
	    c->body_mode == BODY_CLOSE)
		client_finish(c, 0);
	else if (c->busy)
		client_finish(c, 1);
	else
		client_close(c);
}

static void
client_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct client	*c = arg;
	unsigned	 gen = c->gen;
	ssize_t		 n;
	int		 i, rc;

	(void)what;
	for (i = 0; i < 4; i++) {
		n = read(fd, readbuf, sizeof readbuf);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (c->busy)
				client_finish(c, 1);
			else
				client_close(c);
			return;
		}
		if (n == 0) {
			client_eof(c);
			return;
		}
		c->rtime = now_ns();
		if (c->t->proto == PROTO_FCGI)
			rc = fcgi_feed(c, readbuf, n);
		else
			rc = http_feed(c, readbuf, n);
		if (rc == -1 || c->gen != gen)
			return;
		if ((size_t)n < sizeof readbuf)
			return;
	}
}

static void
client_flush(struct client *c)
{
	ssize_t	 n;

	while (c->outoff < c->outlen) {
		n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n == -1) {
			if (errno == EAGAIN || errno == ENOTCONN ||
			    errno == EINTR) {
				event_add(c->wev, NULL);
				return;
			}
			client_finish(c, 1);
			return;
		}
		c->outoff += n;
	}
	free(c->out);
	c->out = NULL;
	c->outlen = c->outoff = 0;
}

static void
client_writecb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	client_flush(arg);
}

static void
fcgi_record(struct buf *b, int type, const void *data, size_t len)
{
	FCGI_Header	 h;
	size_t		 n;

	do {
		n = len > FCGI_MAX_LENGTH ? FCGI_MAX_LENGTH : len;
		memset(&h, 0, sizeof h);
		h.version = FCGI_VERSION_1;
		h.type = type;
		h.requestIdB0 = 1;
		h.contentLengthB1 = (n >> 8) & 0xff;
		h.contentLengthB0 = n & 0xff;
		buf_add(b, &h, sizeof h);
		buf_add(b, data, n);
		data = (const char *)data + n;
		len -= n;
	} while (len > 0);
}

static void
fcgi_param(struct buf *b, const char *name, const char *value)
{
	size_t		 len[2] = { strlen(name), strlen(value) };
	unsigned char	 l[4];
	int		 i;

	for (i = 0; i < 2; i++) {
		if (len[i] < 128) {
			l[0] = len[i];
			buf_add(b, l, 1);
			continue;
		}
		l[0] = 0x80 | ((len[i] >> 24) & 0x7f);
		l[1] = (len[i] >> 16) & 0xff;
		l[2] = (len[i] >> 8) & 0xff;
		l[3] = len[i] & 0xff;
		buf_add(b, l, 4);
	}
	buf_add(b, name, len[0]);
	buf_add(b, value, len[1]);
}

static void
fcgi_build(struct client *c, struct buf *b, const char *method,
    const char *uri, const char *token, const char *accept,
    const char *body, size_t bodylen)
{
	FCGI_BeginRequestBody	 br;
	struct buf		 p = { NULL, 0, 0 };
	const char		*q;
	char			 auth[512], clen[32], path[2048];

	memset(&br, 0, sizeof br);
	br.roleB0 = FCGI_RESPONDER;
	br.flags = c->t->fcgi_keep ? FCGI_KEEP_CONN : 0;
	fcgi_record(b, FCGI_BEGIN_REQUEST, &br, sizeof br);

	q = strchr(uri, '?');
	snprintf(path, sizeof path, "%.*s", (int)(q == NULL ? strlen(uri) :
	    (size_t)(q - uri)), uri);
	fcgi_param(&p, "GATEWAY_INTERFACE", "CGI/1.1");
	fcgi_param(&p, "SERVER_PROTOCOL", "HTTP/1.1");
	fcgi_param(&p, "REQUEST_METHOD", method);
	fcgi_param(&p, "REQUEST_URI", uri);
	fcgi_param(&p, "SCRIPT_NAME", path);
	fcgi_param(&p, "QUERY_STRING", q == NULL ? "" : q + 1);
	fcgi_param(&p, "REMOTE_ADDR", "127.0.0.1");
	fcgi_param(&p, "SERVER_NAME", "localhost");
	if (token != NULL) {
		snprintf(auth, sizeof auth, "Bearer %s", token);
		fcgi_param(&p, "HTTP_AUTHORIZATION", auth);
	}
	if (accept != NULL)
		fcgi_param(&p, "HTTP_ACCEPT", accept);
	if (c->last_event_id[0] != '\0')
		fcgi_param(&p, "HTTP_LAST_EVENT_ID", c->last_event_id);
	if (body != NULL) {
		snprintf(clen, sizeof clen, "%zu", bodylen);
		fcgi_param(&p, "CONTENT_TYPE", "application/json");
		fcgi_param(&p, "CONTENT_LENGTH", clen);
	}
	fcgi_record(b, FCGI_PARAMS, p.p, p.len);
	fcgi_record(b, FCGI_PARAMS, "", 0);
	if (body != NULL && bodylen > 0)
		fcgi_record(b, FCGI_STDIN, body, bodylen);
	fcgi_record(b, FCGI_STDIN, "", 0);
	free(p.p);
}

static void
http_build(struct client *c, struct buf *b, const char *method,
    const char *uri, const char *token, const char *accept,
    const char *body, size_t bodylen)
{
	char	 line[2560];

	snprintf(line, sizeof line, "%s %s HTTP/1.1\r\nHost: %s\r\n",
	    method, uri, c->t->host);
	buf_str(b, line);
	if (token != NULL) {
		snprintf(line, sizeof line, "Authorization: Bearer %s\r\n",
		    token);
		buf_str(b, line);
	}
	if (accept != NULL) {
		snprintf(line, sizeof line, "Accept: %s\r\n", accept);
		buf_str(b, line);
	}
	if (c->last_event_id[0] != '\0') {
		snprintf(line, sizeof line, "Last-Event-ID: %s\r\n",
		    c->last_event_id);
		buf_str(b, line);
	}
	if (body != NULL) {
		snprintf(line, sizeof line, "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\n", bodylen);
		buf_str(b, line);
	}
	buf_str(b, "\r\n");
	if (body != NULL)
		buf_add(b, body, bodylen);
}

static int
client_connect(struct client *c)
{
	if ((c->fd = target_socket(c->t)) == -1)
		return (-1);
	c->rev = event_new(base, c->fd, EV_READ | EV_PERSIST, client_readcb, c);
	c->wev = event_new(base, c->fd, EV_WRITE, client_writecb, c);
	if (c->rev == NULL || c->wev == NULL)
		errx(1, "event_new failed");
	event_add(c->rev, NULL);
	return (0);
}

int
client_request(struct client *c, const char *method, const char *uri,
    const char *token, const char *accept, const char *body, size_t bodylen)
{
	struct buf	 b = { NULL, 0, 0 };

	if (c->fd == -1 && client_connect(c) == -1)
		return (-1);
	client_reset(c);
	if (c->t->proto == PROTO_FCGI)
		fcgi_build(c, &b, method, uri, token, accept, body, bodylen);
	else
		http_build(c, &b, method, uri, token, accept, body, bodylen);
	c->out = b.p;
	c->outlen = b.len;
	c->outoff = 0;
	c->busy = 1;
	client_flush(c);
	return (0);
}

/* Opens an event stream: -1 if it could not connect now (retry later);
 * any other connect error ends the run. */
int
client_subscribe(struct client *c, const char *uri, const char *token)
{
	if (client_request(c, "GET", uri, token, "text/event-stream", NULL,
	    0) == -1) {
		if (errno != EAGAIN && errno != EINTR)
			errx(1, "connect: %s", strerror(errno));
		return (-1);
	}
	return (0);
}
