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

/* One FastCGI connection from the web server, owned by the event loop. It
 * reads records without blocking until a request is complete (or its
 * deadline passes), hands the request to a worker, writes the reply, and
 * for an event stream stays open for the broker. */

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fastcgi.h>

#include "basalt.h"

struct conn {
	struct bufferevent	*bev;
	struct event		*deadline;
	struct request		*req;		/* being read, or at a worker */
	int			 busy;		/* req is at a worker */
	int			 closing;	/* close once output is flushed */
	int			 aborted;	/* the web server gave up on req */
	struct stream		*stream;
	uint16_t		 stream_id;
	TAILQ_ENTRY(conn)	 entry;
};

static TAILQ_HEAD(, conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static int nconns;

static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_deadline_cb(evutil_socket_t, short, void *);

int
conn_count(void)
{
	return (nconns);
}

static void
conn_arm_deadline(struct conn *c)
{
	struct timeval	 tv = { cfg->request_timeout, 0 };

	evtimer_add(c->deadline, &tv);
}

struct conn *
conn_new(struct event_base *base, int fd)
{
	struct conn	*c;

	c = xcalloc(1, sizeof *c);
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return (NULL);
	}
	c->deadline = evtimer_new(base, conn_deadline_cb, c);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ);
	conn_arm_deadline(c);
	TAILQ_INSERT_TAIL(&conns, c, entry);
	nconns++;
	return (c);
}

/* Frees the connection at once; a request at a worker is freed when the
 * worker is done with it. */
static void
conn_free(struct conn *c)
{
	if (c->stream != NULL) {
		broker_stream_closed(c->stream);
		c->stream = NULL;
	}
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->busy)
		return;		/* conn_reply finishes the job */
	request_free(c->req);
	event_free(c->deadline);
	TAILQ_REMOVE(&conns, c, entry);
	nconns--;
	free(c);
}

void
conn_close(struct conn *c)
{
	conn_free(c);
}

static struct evbuffer *
conn_output(struct conn *c)
{
	return (bufferevent_get_output(c->bev));
}

/* Sends END_REQUEST and closes when the output has gone. */
static void
conn_finish(struct conn *c, uint16_t id, uint8_t protostatus)
{
	fcgi_end_request(conn_output(c), id, 0, protostatus);
	c->closing = 1;
}

size_t
conn_pending(struct conn *c)
{
	return (c->bev != NULL ? evbuffer_get_length(conn_output(c)) : 0);
}

int
conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->bev == NULL || c->closing)
		return (-1);
	fcgi_stdout(conn_output(c), c->stream_id, data, len);
	return (0);
}

void
conn_end(struct conn *c)
{
	if (c->bev == NULL || c->closing)
		return;
	if (c->stream != NULL) {
		broker_stream_closed(c->stream);
		c->stream = NULL;
	}
	fcgi_stdout(conn_output(c), c->stream_id, NULL, 0);
	conn_finish(c, c->stream_id, FCGI_REQUEST_COMPLETE);
	if (evbuffer_get_length(conn_output(c)) == 0)
		conn_free(c);
}

void
conn_set_stream(struct conn *c, struct stream *s)
{
	c->stream = s;
}

uint16_t
conn_request_id(struct conn *c)
{
	return (c->stream_id);
}

/* Asks for a call to broker_stream_drained once output runs low. */
void
conn_watch_drain(struct conn *c, int on)
{
	bufferevent_setwatermark(c->bev, EV_WRITE, on ? STREAM_LOW_WATER : 0, 0);
}

/* The worker is done: send the reply, or start the stream. */
void
conn_reply(struct request *req)
{
	struct conn	*c = req->conn;
	size_t		 len;

	c->busy = 0;
	if (c->bev == NULL || c->aborted) {
		if (c->bev != NULL) {
			conn_finish(c, req->id, FCGI_REQUEST_COMPLETE);
			request_free(req);
			c->req = NULL;
			return;
		}
		conn_free(c);
		return;
	}
	len = evbuffer_get_length(req->out);
	fcgi_stdout(conn_output(c), req->id, evbuffer_pullup(req->out, len),
	    len);
	c->req = NULL;
	if (req->stream && !server_stopping()) {
		c->stream_id = req->id;
		broker_subscribe(c, &req->spec);
		request_free(req);
		return;
	}
	fcgi_stdout(conn_output(c), req->id, NULL, 0);
	if (req->keep_conn && !req->stream && !server_stopping()) {
		fcgi_end_request(conn_output(c), req->id, 0,
		    FCGI_REQUEST_COMPLETE);
		conn_arm_deadline(c);
		request_free(req);
		/* the next request may be waiting in the input already */
		conn_read_cb(c->bev, c);
		return;
	}
	request_free(req);
	conn_finish(c, c->stream_id, FCGI_REQUEST_COMPLETE);
}

static int
conn_param_cb(void *arg, const char *n, size_t nlen, const char *v,
    size_t vlen)
{
	struct request	*req = arg;

	if (memchr(n, '\0', nlen) != NULL)
		return (-1);
	req->params = xrealloc(req->params, (req->nparams + 1) *
	    sizeof *req->params);
	req->params[req->nparams].name = xstrndup(n, nlen);
	req->params[req->nparams].value = xstrndup(v, memchr(v, '\0', vlen) !=
	    NULL ? strlen(v) : vlen);
	req->nparams++;
	return (0);
}

/* The request has arrived in full: to a worker with it. */
static void
conn_dispatch(struct conn *c)
{
	evtimer_del(c->deadline);
	c->busy = 1;
	worker_enqueue(c->req);
}

/* Answers a request that cannot go to a worker, from the loop. */
static void
conn_reply_error(struct conn *c, enum err code)
{
	struct request	*req = c->req;

	if (req->out == NULL)
		req->out = evbuffer_new();
	error_set(&req->err, code, NULL);
	reply_error(req);
	req->keep_conn = 0;
	c->busy = 1;
	conn_reply(req);
}

static int
conn_begin(struct conn *c, const struct fcgi_header *h, const uint8_t *body)
{
	struct request	*req;
	int		 role;

	if (h->content_length < 8)
		return (-1);
	if (c->req != NULL || c->stream != NULL) {
		fcgi_end_request(conn_output(c), h->request_id, 0,
		    FCGI_CANT_MPX_CONN);
		return (0);
	}
	role = body[0] << 8 | body[1];
	if (role != FCGI_RESPONDER) {
		fcgi_end_request(conn_output(c), h->request_id, 0,
		    FCGI_UNKNOWN_ROLE);
		return (0);
	}
	req = xcalloc(1, sizeof *req);
	req->conn = c;
	req->id = h->request_id;
	req->keep_conn = body[2] & FCGI_KEEP_CONN;
	req->params_raw = evbuffer_new();
	c->req = req;
	c->stream_id = req->id;
	return (0);
}

static int
conn_params(struct conn *c, const struct fcgi_header *h, const uint8_t *body)
{
	struct request	*req = c->req;
	size_t		 len;

	if (req == NULL || req->id != h->request_id || req->params_done)
		return (0);
	if (h->content_length > 0) {
		req->params_size += h->content_length;
		if (req->params_size > MAX_PARAMS_SIZE)
			return (-1);
		evbuffer_add(req->params_raw, body, h->content_length);
		return (0);
	}
	req->params_done = 1;
	len = evbuffer_get_length(req->params_raw);
	if (fcgi_params_decode(evbuffer_pullup(req->params_raw, len), len,
	    conn_param_cb, req) == -1)
		return (-1);
	evbuffer_free(req->params_raw);
	req->params_raw = NULL;
	return (0);
}

static int
conn_stdin(struct conn *c, const struct fcgi_header *h, const uint8_t *body)
{
	struct request	*req = c->req;

	if (req == NULL || req->id != h->request_id || c->busy)
		return (0);
	if (!req->params_done)
		return (-1);
	if (h->content_length > 0 && req->too_large)
		return (0);
	if (h->content_length == 0) {
		conn_dispatch(c);
		return (0);
	}
	if (req->body == NULL)
		req->body = evbuffer_new();
	if (evbuffer_get_length(req->body) + h->content_length >
	    cfg->max_body_size) {
		req->too_large = 1;	/* keep reading, discard */
		evbuffer_drain(req->body, evbuffer_get_length(req->body));
		return (0);
	}
	evbuffer_add(req->body, body, h->content_length);
	return (0);
}

static int
conn_abort(struct conn *c, const struct fcgi_header *h)
{
	if (c->stream != NULL && h->request_id == c->stream_id) {
		conn_end(c);
		return (1);
	}
	if (c->req == NULL || c->req->id != h->request_id)
		return (0);
	if (c->busy) {
		c->aborted = 1;
		return (0);
	}
	fcgi_end_request(conn_output(c), h->request_id, 0,
	    FCGI_REQUEST_COMPLETE);
	request_free(c->req);
	c->req = NULL;
	c->closing = 1;
	return (0);
}

/* Handles one record; -1 drops the connection, 1 means it is gone. */
static int
conn_record(struct conn *c, const struct fcgi_header *h, const uint8_t *body)
{
	uint8_t	 unknown[8];

	switch (h->type) {
	case FCGI_BEGIN_REQUEST:
		return (conn_begin(c, h, body));
	case FCGI_PARAMS:
		return (conn_params(c, h, body));
	case FCGI_STDIN:
		return (conn_stdin(c, h, body));
	case FCGI_ABORT_REQUEST:
		return (conn_abort(c, h));
	case FCGI_DATA:
		return (0);
	case FCGI_GET_VALUES:
		fcgi_get_values_result(conn_output(c), body, h->content_length);
		return (0);
	default:
		memset(unknown, 0, sizeof unknown);
		unknown[0] = h->type;
		evbuffer_add(conn_output(c), (uint8_t []){ FCGI_VERSION_1,
		    FCGI_UNKNOWN_TYPE, 0, 0, 0, 8, 0, 0 }, 8);
		evbuffer_add(conn_output(c), unknown, sizeof unknown);
		return (0);
	}
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn		*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct fcgi_header	 h;
	uint8_t			*p;
	size_t			 need;
	int			 rc;

	while (!c->closing && evbuffer_get_length(in) >= FCGI_HEADER_LEN) {
		p = evbuffer_pullup(in, FCGI_HEADER_LEN);
		fcgi_header_decode(p, &h);
		if (h.version != FCGI_VERSION_1) {
			conn_free(c);
			return;
		}
		need = FCGI_HEADER_LEN + h.content_length + h.padding_length;
		if (evbuffer_get_length(in) < need)
			break;
		p = evbuffer_pullup(in, need);
		rc = conn_record(c, &h, p + FCGI_HEADER_LEN);
		if (rc == 1)
			return;
		evbuffer_drain(in, need);
		if (rc == -1) {
			log_debug("malformed FastCGI input; closing");
			conn_free(c);
			return;
		}
	}
	if (c->closing && evbuffer_get_length(conn_output(c)) == 0)
		conn_free(c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_free(c);
		return;
	}
	if (c->stream != NULL)
		broker_stream_drained(c->stream);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(c);
}

static void
conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd; (void)what;
	if (c->busy || c->stream != NULL)
		return;
	if (c->req != NULL && c->req->params_done) {
		log_info("request not complete after %d s; answering 408",
		    cfg->request_timeout);
		conn_reply_error(c, ERR_TIMEOUT);
		return;
	}
	log_debug("connection idle or incomplete after %d s; closing",
	    cfg->request_timeout);
	conn_free(c);
}

/* On shutdown: closes every connection that is not waiting for a worker
 * and not a stream (the broker ends those); with all, every connection,
 * once the workers have stopped. */
void
conn_shutdown_all(int all)
{
	struct conn	*c, *next;

	for (c = TAILQ_FIRST(&conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (all) {
			c->busy = 0;
			conn_free(c);
		} else if (!c->busy && c->stream == NULL && !c->closing)
			conn_free(c);
	}
}

int
conn_busy_count(void)
{
	struct conn	*c;
	int		 n = 0;

	TAILQ_FOREACH(c, &conns, entry)
		if (c->busy || c->closing)
			n++;
	return (n);
}
