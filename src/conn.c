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
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <fastcgi.h>

#include "basalt.h"

#define CONN_READ_SIZE	65536	/* bytes read from a socket at a time */
#define CONN_IOV_FRAMES	64	/* frames per writev of conn_write_frames */
/* Output a connection may hold behind the reply (or stream frame) being
 * written: management replies, replies to pipelined requests. A peer
 * that writes but does not read is closed past it (streams add their
 * stream_buffer_limit). */
#define CONN_MAX_BEHIND	(256 * 1024)

/* Output is written through: at a flush point (the end of a batch of
 * events, of a reply, of a callback) whatever is queued goes to the socket
 * at once, and only what the kernel refuses waits for EV_WRITE. Idle
 * streams hold no buffers. */
struct conn {
	int			 fd;		/* -1 once closed */
	struct event		*rev;
	struct event		*wev;		/* made on the first EAGAIN */
	struct event		*deadline;
	struct evbuffer		*in;		/* while input is partial */
	struct evbuffer		*out;		/* while output is queued */
	struct request		*req;		/* being read, or at a worker */
	int			 busy;		/* req is at a worker */
	int			 closing;	/* close once output is flushed */
	int			 aborted;	/* the web server gave up on req */
	int			 waiting;	/* wev is added */
	int			 dirty;		/* on the dirty list */
	int			 watch_drain;
	int			 paging;	/* req waits for the output to
						   drain for its next part */
	struct stream		*stream;
	uint16_t		 stream_id;
	uint64_t		 sent;		/* bytes the kernel took */
	uint64_t		 head_end;	/* sent when the head is out */
	TAILQ_ENTRY(conn)	 entry;
	TAILQ_ENTRY(conn)	 dirty_entry;
};

static TAILQ_HEAD(, conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static TAILQ_HEAD(, conn) dirty = TAILQ_HEAD_INITIALIZER(dirty);
static struct event *flush_ev;	/* flushes what no flush point did */

/* Requests the workers and the writer are done with, for the loop. */
static pthread_mutex_t	 complete_lock = PTHREAD_MUTEX_INITIALIZER;
static struct request	*complete_head, **complete_tail = &complete_head;
static struct event	*complete_ev;
static int		 stopping;	/* atomic: read by any thread */

static void	conn_read_cb(evutil_socket_t, short, void *);
static void	conn_write_cb(evutil_socket_t, short, void *);
static void	conn_deadline_cb(evutil_socket_t, short, void *);
static void	conn_flush_cb(evutil_socket_t, short, void *);
static void	conn_complete_cb(evutil_socket_t, short, void *);
static int	conn_input(struct conn *);

/* Loop thread, once, before any worker starts: makes the events that
 * flush output and take completed requests. */
void
conn_init(struct event_base *base)
{
	flush_ev = event_new(base, -1, 0, conn_flush_cb, NULL);
	complete_ev = event_new(base, -1, 0, conn_complete_cb, NULL);
}

/* Loop thread: from now on no connection is kept open after its reply
 * and no reply becomes a stream. */
void
conn_set_stopping(void)
{
	__atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
}

/* Any thread: whether conn_set_stopping was called. */
int
conn_stopping(void)
{
	return (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE));
}

static void
conn_arm_deadline(struct conn *c)
{
	struct timeval	 tv = { cfg->request_timeout, 0 };

	evtimer_add(c->deadline, &tv);
}

/* Loop thread: c owns fd from now on and closes it; never NULL. */
struct conn *
conn_new(struct event_base *base, int fd)
{
	struct conn	*c;

	/* the listener made fd non-blocking */
	c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->deadline = evtimer_new(base, conn_deadline_cb, c);
	event_add(c->rev, NULL);
	conn_arm_deadline(c);
	TAILQ_INSERT_TAIL(&conns, c, entry);
	return (c);
}

static void
conn_undirty(struct conn *c)
{
	if (!c->dirty)
		return;
	c->dirty = 0;
	TAILQ_REMOVE(&dirty, c, dirty_entry);
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
	if (c->fd != -1) {
		conn_undirty(c);
		event_free(c->rev);
		if (c->wev != NULL)
			event_free(c->wev);
		c->rev = c->wev = NULL;
		c->waiting = 0;
		close(c->fd);
		c->fd = -1;
		if (c->in != NULL)
			evbuffer_free(c->in);
		if (c->out != NULL)
			evbuffer_free(c->out);
		c->in = c->out = NULL;
	}
	if (c->busy)
		return;		/* conn_reply finishes the job */
	request_free(c->req);
	event_free(c->deadline);
	TAILQ_REMOVE(&conns, c, entry);
	free(c);
}

/* Loop thread: closes c at once; c is freed now, or when its request
 * comes back from a worker. The caller must not use c again. */
void
conn_close(struct conn *c)
{
	conn_free(c);
}

/* The output buffer, made when something is queued; the connection is
 * flushed at the next flush point. */
static struct evbuffer *
conn_output(struct conn *c)
{
	if (c->out == NULL)
		c->out = evbuffer_new();
	if (!c->dirty && !c->waiting) {
		c->dirty = 1;
		if (TAILQ_EMPTY(&dirty))
			event_active(flush_ev, EV_READ, 0);
		TAILQ_INSERT_TAIL(&dirty, c, dirty_entry);
	}
	return (c->out);
}

/* Loop thread: bytes queued on c that the kernel has not taken yet. */
size_t
conn_pending(struct conn *c)
{
	return (c->out != NULL ? evbuffer_get_length(c->out) : 0);
}

/* What was just queued on an empty output is the head: it may be of any
 * size; limits count only what waits behind it. */
static void
conn_set_head(struct conn *c)
{
	c->head_end = c->sent + conn_pending(c);
}

/* Loop thread: bytes queued behind the head of c's output (what was
 * queued when nothing was), which the limits count. */
size_t
conn_behind(struct conn *c)
{
	uint64_t	 left = c->head_end > c->sent ? c->head_end - c->sent : 0;
	size_t		 pending = conn_pending(c);

	return (pending > left ? pending - (size_t)left : 0);
}

/* Closes c if more than CONN_MAX_BEHIND waits behind its head once
 * flushed: its peer writes but does not read. -1: c is gone. */
static int
conn_check_behind(struct conn *c)
{
	size_t	 cap = CONN_MAX_BEHIND;

	if (c->stream != NULL)
		cap += cfg->stream_buffer_limit;
	if (conn_behind(c) <= cap)
		return (0);
	if (conn_flush(c) == -1)
		return (-1);
	if (c->fd == -1 || conn_behind(c) <= cap)
		return (0);
	log_info("closing a FastCGI connection: %zu bytes wait behind its "
	    "reply and the peer does not read them", conn_behind(c));
	conn_free(c);
	return (-1);
}

/* After a write: stop waiting once all is out, close if asked to, and
 * tell a replaying stream that its output runs low. -1: c is gone. */
static int
conn_written(struct conn *c)
{
	if (conn_pending(c) == 0) {
		if (c->waiting) {
			event_del(c->wev);
			c->waiting = 0;
		}
		if (c->out != NULL) {
			evbuffer_free(c->out);
			c->out = NULL;
		}
		if (c->closing) {
			conn_free(c);
			return (-1);
		}
	}
	if (c->watch_drain && c->stream != NULL &&
	    conn_pending(c) < STREAM_LOW_WATER)
		broker_stream_drained(c->stream);
	if (c->paging && c->req != NULL &&
	    conn_pending(c) < STREAM_LOW_WATER) {
		c->paging = 0;
		c->busy = 1;
		worker_enqueue(c->req);	/* its next part */
	}
	return (0);
}

/* The kernel took less than all: the rest goes when c is writable. */
static void
conn_wait_write(struct conn *c)
{
	conn_undirty(c);
	if (c->waiting)
		return;
	if (c->wev == NULL)
		c->wev = event_new(event_get_base(c->rev), c->fd,
		    EV_WRITE | EV_PERSIST, conn_write_cb, c);
	event_add(c->wev, NULL);
	c->waiting = 1;
}

/* Writes what the kernel takes; the rest waits for EV_WRITE. -1: c is
 * gone. */
static int
conn_send(struct conn *c)
{
	int	 n;

	while (conn_pending(c) > 0) {
		n = evbuffer_write(c->out, c->fd);
		if (n > 0) {
			c->sent += n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
			log_debug("write: %s; closing", strerror(errno));
			conn_free(c);
			return (-1);
		}
		conn_wait_write(c);
		break;
	}
	return (conn_written(c));
}

/* Loop thread, a flush point: what is queued on c goes out now, unless c
 * waits for writability already. -1: c is closed; do not use it again. */
int
conn_flush(struct conn *c)
{
	conn_undirty(c);
	if (c->fd == -1 || c->waiting)
		return (0);
	return (conn_send(c));
}

/* Loop thread, a flush point for every connection with output queued;
 * any of them may be closed. */
void
conn_flush_all(void)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&dirty)) != NULL)
		conn_flush(c);
}

static void
conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	conn_flush_all();
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd; (void)what;
	conn_send(c);
}

/* Sends END_REQUEST and closes when the output has gone. */
static void
conn_finish(struct conn *c, uint16_t id, uint8_t protostatus)
{
	fcgi_end_request(conn_output(c), id, 0, protostatus);
	c->closing = 1;
}

/* Loop thread: queues one frame, copied (it goes out at the next flush
 * point); never closes c, so it is safe inside a store callback. -1: c
 * is closing or closed, nothing queued. */
int
conn_write(struct conn *c, const void *data, size_t len)
{
	int	 head;

	if (c->fd == -1 || c->closing)
		return (-1);
	head = conn_pending(c) == 0;
	fcgi_stdout(conn_output(c), c->stream_id, data, len);
	if (head)
		conn_set_head(c);
	return (0);
}

/*
 * Frames go out in as few STDOUT records as they fit in: frames next to
 * each other share a record while their sum stays within FCGI_MAX_LENGTH.
 * A web server pays per record (Apache httpd and Caddy read each header
 * and each content apart, and Apache flushes each record to the client),
 * so a stream that has fallen behind gets its backlog in one record, not
 * one per event. Clients see the same bytes.
 */

/* How many of the n frames go in one record, and their length: 0 when
 * the first one cannot share a record (empty, or too long for one). */
static int
conn_group(const struct iovec *frames, int n, size_t *len)
{
	int	 i;

	*len = 0;
	for (i = 0; i < n; i++) {
		if (frames[i].iov_len == 0 ||
		    *len + frames[i].iov_len > FCGI_MAX_LENGTH)
			break;
		*len += frames[i].iov_len;
	}
	return (i);
}

/* Queues n frames, copied, in as few records as they fit in. */
static void
conn_queue_frames(struct conn *c, const struct iovec *frames, int n)
{
	struct evbuffer	*out = conn_output(c);
	uint8_t		 hdr[FCGI_HEADER_LEN];
	size_t		 len;
	int		 i, k;

	while (n > 0) {
		if ((k = conn_group(frames, n, &len)) == 0) {
			fcgi_stdout(out, c->stream_id, frames[0].iov_base,
			    frames[0].iov_len);
			frames++;
			n--;
			continue;
		}
		fcgi_header_encode(hdr, FCGI_STDOUT, c->stream_id, len);
		evbuffer_add(out, hdr, sizeof hdr);
		for (i = 0; i < k; i++)
			evbuffer_add(out, frames[i].iov_base,
			    frames[i].iov_len);
		frames += k;
		n -= k;
	}
}

/* Queues what writev left of iov (after done bytes) and of frames. */
static void
conn_write_rest(struct conn *c, const struct iovec *iov, int niov,
    size_t done, const struct iovec *frames, int nframes)
{
	struct evbuffer	*out = conn_output(c);
	int		 i;

	for (i = 0; i < niov; i++) {
		if (done >= iov[i].iov_len) {
			done -= iov[i].iov_len;
			continue;
		}
		evbuffer_add(out, (const uint8_t *)iov[i].iov_base + done,
		    iov[i].iov_len - done);
		done = 0;
	}
	conn_queue_frames(c, frames, nframes);
}

/* Loop thread: writes frames to a stream straight from the caller's
 * memory when nothing is queued before them; what the kernel does not
 * take is copied and queued. -1: not written, c is closing, or closed
 * now because the write failed. */
int
conn_write_frames(struct conn *c, const struct iovec *frames, int n)
{
	struct iovec	 iov[2 * CONN_IOV_FRAMES];
	uint8_t		 hdr[CONN_IOV_FRAMES][FCGI_HEADER_LEN];
	size_t		 len, total;
	ssize_t		 w;
	int		 g, i, k, m, r;

	if (c->fd == -1 || c->closing)
		return (-1);
	for (i = 0; i < n; i++)
		if (frames[i].iov_len == 0 ||
		    frames[i].iov_len > FCGI_MAX_LENGTH)
			break;
	if (i < n || conn_pending(c) > 0 || c->waiting) {
		if (conn_pending(c) == 0) {
			conn_write_rest(c, NULL, 0, 0, frames, 1);
			conn_set_head(c);
			frames++;
			n--;
		}
		conn_write_rest(c, NULL, 0, 0, frames, n);
		return (0);
	}
	/* the first frame is the head */
	c->head_end = c->sent + FCGI_HEADER_LEN + frames[0].iov_len;
	while (n > 0) {
		m = n < CONN_IOV_FRAMES ? n : CONN_IOV_FRAMES;
		total = 0;
		for (i = k = r = 0; i < m; r++) {
			g = conn_group(frames + i, m - i, &len);
			fcgi_header_encode(hdr[r], FCGI_STDOUT, c->stream_id,
			    len);
			iov[k].iov_base = hdr[r];
			iov[k++].iov_len = FCGI_HEADER_LEN;
			while (g-- > 0)
				iov[k++] = frames[i++];
			total += FCGI_HEADER_LEN + len;
		}
		w = writev(c->fd, iov, k);
		if (w == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			log_debug("write: %s; closing", strerror(errno));
			conn_free(c);
			return (-1);
		}
		if (w == -1)
			w = 0;
		c->sent += w;
		if ((size_t)w < total) {
			conn_write_rest(c, iov, k, w, frames + i, n - i);
			conn_wait_write(c);
			return (0);
		}
		frames += i;
		n -= i;
	}
	return (0);
}

/* Loop thread: starts loading the fields a write to c reads into the
 * cache, while the caller does something else. A pass over thousands of
 * streams finds every connection cold. */
void
conn_prefetch(const struct conn *c)
{
	__builtin_prefetch(c);
	__builtin_prefetch((const char *)c + 64);
}

/* Loop thread: ends c's request (its stream, if any, is closed first)
 * and closes c once the output is out. The caller must not use c again. */
void
conn_end(struct conn *c)
{
	if (c->fd == -1 || c->closing)
		return;
	if (c->stream != NULL) {
		broker_stream_closed(c->stream);
		c->stream = NULL;
	}
	fcgi_stdout(conn_output(c), c->stream_id, NULL, 0);
	conn_finish(c, c->stream_id, FCGI_REQUEST_COMPLETE);
	conn_flush(c);
}

/* Loop thread: s is the broker's; c calls broker_stream_closed(s) when
 * it goes, and never frees s. */
void
conn_set_stream(struct conn *c, struct stream *s)
{
	c->stream = s;
}

/* Loop thread: with on, c calls broker_stream_drained once its output
 * runs below STREAM_LOW_WATER. */
void
conn_watch_drain(struct conn *c, int on)
{
	c->watch_drain = on;
}

/* The access log's line of a reply: its bytes are those of the body
 * (for a stream, of its opening). */
static void
conn_log(struct request *req, const uint8_t *out, size_t len)
{
	const uint8_t	*p = memmem(out, len, "\r\n\r\n", 4);

	access_log(req, p != NULL ? len - (size_t)(p + 4 - out) : 0);
}

/* The worker is done: send the reply, or start the stream. */
static void
conn_reply(struct request *req)
{
	struct conn	*c = req->conn;
	const uint8_t	*out;
	size_t		 len;
	int		 head;

	c->busy = 0;
	if (c->fd == -1 || c->aborted) {
		if (!req->logged)
			access_log(req, 0);	/* nobody to send it to */
		if (c->fd != -1) {
			conn_finish(c, req->id, FCGI_REQUEST_COMPLETE);
			request_free(req);
			c->req = NULL;
			conn_flush(c);
			return;
		}
		conn_free(c);
		return;
	}
	head = conn_pending(c) == 0;
	len = evbuffer_get_length(req->out);
	out = evbuffer_pullup(req->out, len);
	if (!req->logged)
		conn_log(req, out, len);
	fcgi_stdout(conn_output(c), req->id, out, len);
	if (req->more) {
		/* a part: the next when the client has taken most of it */
		req->logged = 1;
		evbuffer_drain(req->out, len);
		c->paging = 1;
		conn_flush(c);
		return;
	}
	c->req = NULL;
	if (req->stream && !conn_stopping()) {
		c->stream_id = req->id;
		if (head)
			conn_set_head(c);
		broker_subscribe(c, &req->spec);
		request_free(req);
		conn_flush(c);
		return;
	}
	fcgi_stdout(conn_output(c), req->id, NULL, 0);
	if (req->keep_conn && !req->stream && !conn_stopping()) {
		fcgi_end_request(conn_output(c), req->id, 0,
		    FCGI_REQUEST_COMPLETE);
		if (head)
			conn_set_head(c);
		conn_arm_deadline(c);
		request_free(req);
		/* a reply to a request sent before this one was read */
		if (conn_check_behind(c) == -1)
			return;
		/* the next request may be waiting in the input already */
		if (conn_input(c) == -1)
			return;
		conn_flush(c);
		return;
	}
	request_free(req);
	conn_finish(c, c->stream_id, FCGI_REQUEST_COMPLETE);
	conn_flush(c);
}

/* Any thread: req is done (req->out holds its reply); queues it for the
 * loop, which replies and frees it. The caller lets go of req. */
void
conn_complete(struct request *req)
{
	pthread_mutex_lock(&complete_lock);
	req->next = NULL;
	*complete_tail = req;
	complete_tail = &req->next;
	pthread_mutex_unlock(&complete_lock);
	event_active(complete_ev, EV_READ, 0);
}

/* Loop thread: replies to every request completed until now (the queue's
 * callback, and at shutdown once the workers and the writer stopped). */
void
conn_reply_completed(void)
{
	struct request	*req, *next;

	pthread_mutex_lock(&complete_lock);
	req = complete_head;
	complete_head = NULL;
	complete_tail = &complete_head;
	pthread_mutex_unlock(&complete_lock);
	for (; req != NULL; req = next) {
		next = req->next;
		conn_reply(req);
	}
}

static void
conn_complete_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	conn_reply_completed();
}

/* The parameters go into one allocation: the array of name/value
 * pointers, then the strings they point to, each ending in a NUL. A
 * first pass over the pairs sizes it, a second fills it. */
struct params_fill {
	struct request	*req;
	size_t		 n;		/* pairs */
	size_t		 bytes;		/* strings, with their NULs */
	char		*p;		/* where the next string goes */
};

/* A value stops at a NUL inside it, as a C string would. */
static size_t
conn_param_vlen(const char *v, size_t vlen)
{
	const char	*nul;

	if ((nul = memchr(v, '\0', vlen)) != NULL)
		return ((size_t)(nul - v));
	return (vlen);
}

static int
conn_param_size_cb(void *arg, const char *n, size_t nlen, const char *v,
    size_t vlen)
{
	struct params_fill	*pf = arg;

	if (memchr(n, '\0', nlen) != NULL)
		return (-1);
	pf->n++;
	pf->bytes += nlen + 1 + conn_param_vlen(v, vlen) + 1;
	return (0);
}

static int
conn_param_cb(void *arg, const char *n, size_t nlen, const char *v,
    size_t vlen)
{
	struct params_fill	*pf = arg;
	struct param		*prm = &pf->req->params[pf->req->nparams++];

	vlen = conn_param_vlen(v, vlen);
	prm->name = pf->p;
	memcpy(pf->p, n, nlen);
	pf->p[nlen] = '\0';
	pf->p += nlen + 1;
	prm->value = pf->p;
	memcpy(pf->p, v, vlen);
	pf->p[vlen] = '\0';
	pf->p += vlen + 1;
	return (0);
}

/* Decodes the PARAMS stream into req->params; -1 if malformed. */
static int
conn_params_decode(struct request *req, const uint8_t *buf, size_t len)
{
	struct params_fill	 pf;

	memset(&pf, 0, sizeof pf);
	pf.req = req;
	if (fcgi_params_decode(buf, len, conn_param_size_cb, &pf) == -1)
		return (-1);
	if (pf.n == 0)
		return (0);
	req->params = xmalloc(pf.n * sizeof *req->params + pf.bytes);
	pf.p = (char *)(req->params + pf.n);
	return (fcgi_params_decode(buf, len, conn_param_cb, &pf));
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
	if (req->rid[0] == '\0')
		access_rid_set(req);
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
	req->started_us = time_mono_us();
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
		if (req->params_size > MAX_PARAMS_SIZE) {
			/* discarded; answered 431 once the request is in */
			evbuffer_drain(req->params_raw,
			    evbuffer_get_length(req->params_raw));
			return (0);
		}
		evbuffer_add(req->params_raw, body, h->content_length);
		return (0);
	}
	req->params_done = 1;
	if (req->params_size > MAX_PARAMS_SIZE)
		return (0);
	len = evbuffer_get_length(req->params_raw);
	if (conn_params_decode(req, evbuffer_pullup(req->params_raw, len),
	    len) == -1)
		return (-1);
	evbuffer_free(req->params_raw);
	req->params_raw = NULL;
	access_rid_set(req);
	req->max_body = route_max_body(request_param(req, "REQUEST_METHOD"),
	    request_param(req, "REQUEST_URI"));
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
	if (h->content_length > 0 && (req->too_large ||
	    req->params_size > MAX_PARAMS_SIZE))
		return (0);
	if (h->content_length == 0 && req->params_size > MAX_PARAMS_SIZE) {
		log_info("request headers over %d bytes; answering 431",
		    MAX_PARAMS_SIZE);
		conn_reply_error(c, ERR_HEADERS_TOO_LARGE);
		return (1);	/* closing, and maybe gone */
	}
	if (h->content_length == 0) {
		conn_dispatch(c);
		return (0);
	}
	if (req->body == NULL)
		req->body = evbuffer_new();
	if (evbuffer_get_length(req->body) + h->content_length >
	    req->max_body) {
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
	c->paging = 0;
	c->closing = 1;
	return (0);
}

/* Handles one record; -1 drops the connection, 1 means it is gone. */
static int
conn_record(struct conn *c, const struct fcgi_header *h, const uint8_t *body)
{
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
		fcgi_unknown_type(conn_output(c), h->type);
		return (0);
	}
}

/* Handles the complete records in the input. -1: c is gone (or closing
 * with nothing more to do here). */
static int
conn_input(struct conn *c)
{
	struct fcgi_header	 h;
	uint8_t			*p;
	size_t			 need;
	int			 rc;

	while (c->in != NULL && !c->closing &&
	    evbuffer_get_length(c->in) >= FCGI_HEADER_LEN) {
		p = evbuffer_pullup(c->in, FCGI_HEADER_LEN);
		fcgi_header_decode(p, &h);
		if (h.version != FCGI_VERSION_1) {
			conn_free(c);
			return (-1);
		}
		need = FCGI_HEADER_LEN + h.content_length + h.padding_length;
		if (evbuffer_get_length(c->in) < need)
			break;
		p = evbuffer_pullup(c->in, need);
		rc = conn_record(c, &h, p + FCGI_HEADER_LEN);
		if (rc == 1)
			return (-1);
		evbuffer_drain(c->in, need);
		if (rc == -1) {
			log_debug("malformed FastCGI input; closing");
			conn_free(c);
			return (-1);
		}
		if (conn_check_behind(c) == -1)
			return (-1);
	}
	if (c->in != NULL && evbuffer_get_length(c->in) == 0) {
		evbuffer_free(c->in);
		c->in = NULL;
	}
	return (0);
}

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static uint8_t	 buf[CONN_READ_SIZE];	/* the loop thread's only */
	struct conn	*c = arg;
	ssize_t		 n;

	(void)what;
	n = read(fd, buf, sizeof buf);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c);	/* the web server closed it, or an error */
		return;
	}
	if (c->closing)
		return;
	if (c->in == NULL)
		c->in = evbuffer_new();
	evbuffer_add(c->in, buf, n);
	if (conn_input(c) == 0)
		conn_flush(c);
}

static void
conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	enum err	 code;

	(void)fd; (void)what;
	if (c->busy || c->stream != NULL)
		return;
	if (c->req != NULL && c->req->params_done) {
		/* headers over the limit are the answer, even when late */
		code = c->req->params_size > MAX_PARAMS_SIZE ?
		    ERR_HEADERS_TOO_LARGE : ERR_TIMEOUT;
		log_rid = c->req->rid;
		log_info("request not complete after %d s; answering %d",
		    cfg->request_timeout, error_status(code));
		log_rid = NULL;
		conn_reply_error(c, code);
		return;
	}
	log_debug("connection idle or incomplete after %d s; closing",
	    cfg->request_timeout);
	conn_free(c);
}

/* Loop thread, at shutdown: closes every connection that is not waiting
 * for a worker and not a stream (the broker ends those); with all, every
 * connection and conn_init's events, once the workers and the writer
 * have stopped. */
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
	if (all && flush_ev != NULL) {
		event_free(flush_ev);
		flush_ev = NULL;
	}
	if (all && complete_ev != NULL) {
		event_free(complete_ev);
		complete_ev = NULL;
	}
}

/* Loop thread: connections with a request at a worker or a last reply
 * still going out; shutdown waits for them. */
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
