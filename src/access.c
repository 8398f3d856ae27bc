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

/* The access log (access_log in basalt.conf): one line per answer,
 * written by the loop thread alone into a buffer that goes to the file
 * when it fills or once a second, so no request waits for a write or a
 * lock. SIGHUP opens the file again (logrotate moves it away). */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <sodium.h>

#include "basalt.h"

#define ACCESS_FLUSH_SIZE	(64 * 1024)	/* written once this is queued */
#define ACCESS_FLUSH_MS		1000		/* or this long after a line */

static int		 access_fd = -1;
static char		*access_path;
static struct evbuffer	*access_buf;
static struct event	*access_ev;

/* Opens path for appending; -1 with errno set. */
int
access_open_file(const char *path)
{
	return (open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
}

/* Loop thread: writes what is queued. */
void
access_flush(void)
{
	if (access_buf == NULL || evbuffer_get_length(access_buf) == 0)
		return;
	if (access_fd == -1) {
		evbuffer_drain(access_buf, evbuffer_get_length(access_buf));
		return;
	}
	while (evbuffer_get_length(access_buf) > 0)
		if (evbuffer_write(access_buf, access_fd) == -1 &&
		    errno != EINTR) {
			log_warn("access log %s: %s; %zu bytes lost",
			    access_path, strerror(errno),
			    evbuffer_get_length(access_buf));
			evbuffer_drain(access_buf,
			    evbuffer_get_length(access_buf));
		}
}

static void
access_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	access_flush();
}

/* Loop thread, at start and on SIGHUP: (re)opens cfg->access_log, or
 * stops logging if it is NULL. On a failure the file open so far stays
 * in use. 0, or -1 after logging why. */
int
access_reopen(struct event_base *base)
{
	int	 fd = -1;

	if (access_buf == NULL) {
		access_buf = evbuffer_new();
		access_ev = evtimer_new(base, access_timer_cb, NULL);
	}
	access_flush();
	if (cfg->access_log != NULL &&
	    (fd = access_open_file(cfg->access_log)) == -1) {
		log_error("access log %s: %s", cfg->access_log,
		    strerror(errno));
		return (-1);
	}
	if (access_fd != -1)
		close(access_fd);
	free(access_path);
	access_fd = fd;
	access_path = fd != -1 ? xstrdup(cfg->access_log) : NULL;
	return (0);
}

/* Loop thread, at exit. */
void
access_close(void)
{
	access_flush();
	if (access_fd != -1)
		close(access_fd);
	access_fd = -1;
	free(access_path);
	access_path = NULL;
	if (access_ev != NULL)
		event_free(access_ev);
	if (access_buf != NULL)
		evbuffer_free(access_buf);
	access_ev = NULL;
	access_buf = NULL;
}

/* A method as the web server sent it, if it looks like one. */
static const char *
access_method(const char *m)
{
	size_t	 n;

	if (m == NULL || (n = strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")) == 0 ||
	    n > 16 || m[n] != '\0')
		return ("-");
	return (m);
}

/* Loop thread: the line of an answer whose body is bytes long: time,
 * request id, realm/app, method, route pattern, status, bytes and the
 * milliseconds since the request began. */
void
access_log(struct request *req, size_t bytes)
{
	static char	 when[TIMESTAMP_LEN + 1];
	static int64_t	 when_ms = -1;
	struct timeval	 tv = { 0, ACCESS_FLUSH_MS * 1000 };
	int64_t		 ms, us;

	metrics_request(req);
	if (access_fd == -1)
		return;
	/* many lines share a millisecond under load */
	if ((ms = time_now_ms()) != when_ms) {
		time_iso(ms, when);
		when_ms = ms;
	}
	us = time_mono_us() - req->started_us;
	if (us < 0)
		us = 0;
	evbuffer_add_printf(access_buf, "%s %s %s %s %s %d %zu %lld.%03d\n",
	    when, req->rid, req->log_scope[0] != '\0' ? req->log_scope : "-",
	    access_method(request_param(req, "REQUEST_METHOD")),
	    req->route != NULL ? req->route : "-", req->status, bytes,
	    (long long)(us / 1000), (int)(us % 1000));
	if (evbuffer_get_length(access_buf) >= ACCESS_FLUSH_SIZE)
		access_flush();
	else if (!evtimer_pending(access_ev, NULL))
		evtimer_add(access_ev, &tv);
}

/* A request id the web server may send (X-Request-Id): 1 to
 * REQUEST_ID_MAX of [A-Za-z0-9._-]. */
static int
access_rid_valid(const char *s)
{
	size_t	 n;

	if (s == NULL)
		return (0);
	n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-");
	return (n > 0 && n <= REQUEST_ID_MAX && s[n] == '\0');
}

/* Any thread: gives req its id, the web server's if it sent a valid one
 * (HTTP_X_REQUEST_ID), else 16 random hex digits, from a pool that
 * libsodium fills 64 ids at a time. */
void
access_rid_set(struct request *req)
{
	static __thread unsigned char	 pool[8 * 64];
	static __thread size_t		 used = sizeof pool;
	const char			*s;

	s = request_param(req, "HTTP_X_REQUEST_ID");
	if (access_rid_valid(s)) {
		strlcpy_b(req->rid, s, sizeof req->rid);
		return;
	}
	if (used == sizeof pool) {
		randombytes_buf(pool, sizeof pool);
		used = 0;
	}
	sodium_bin2hex(req->rid, sizeof req->rid, pool + used, 8);
	used += 8;
}
