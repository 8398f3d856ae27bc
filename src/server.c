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

/* The server's start-up and shutdown: the listen socket, the libevent
 * loop and its signals (SIGTERM stops, SIGHUP reloads), the retention
 * timer, and the threads started and stopped in order. */

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "basalt.h"
#include "db.h"

#define LISTEN_BACKLOG	1024
#define STOP_GRACE	10	/* seconds to finish requests in flight */

static struct event_base	*base;
static struct evconnlistener	*listener;
static struct store		*loop_store, *tail_store;
static struct event		*prune_ev, *stop_check_ev;
static struct event		*sig_term, *sig_int, *sig_hup;
static int			 stop_ticks;
static char			*unix_path;

static void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	(void)l; (void)sa; (void)len; (void)arg;
	if (conn_stopping()) {
		close(fd);
		return;
	}
	conn_new(base, fd);
}

static void
server_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	if (!conn_stopping())
		evconnlistener_enable(arg);
}

static void
server_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct timeval	 tv = { 0, 100000 };

	(void)arg;
	log_warn("accept: %s", strerror(errno));
	if (errno == EMFILE || errno == ENFILE) {
		/* Out of descriptors: pause accepting briefly. */
		evconnlistener_disable(l);
		event_base_once(base, -1, EV_TIMEOUT, server_resume_cb, l, &tv);
	}
}

/* A unix socket file left behind by a crash is removed; a live one is
 * another basalt, which is an error. */
static int
server_unlink_stale(const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 sb;
	int			 fd, rc;

	if (lstat(path, &sb) == -1)
		return (0);
	if (!S_ISSOCK(sb.st_mode)) {
		log_error("%s exists and is not a socket", path);
		return (-1);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strlcpy_b(sun.sun_path, path, sizeof sun.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	close(fd);
	if (rc == 0) {
		log_error("%s: another process is listening on it", path);
		return (-1);
	}
	log_info("removing stale socket %s", path);
	return (unlink(path));
}

static int
server_listen_unix(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		log_error("socket path too long: %s", path);
		return (-1);
	}
	if (server_unlink_stale(path) == -1)
		return (-1);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strlcpy_b(sun.sun_path, path, sizeof sun.sun_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    chmod(path, 0660) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		log_error("listen on %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	unix_path = xstrdup(path);
	return (fd);
}

static int
server_listen_tcp(const char *addr)
{
	struct addrinfo	 hints, *res;
	char		 host[256], *colon;
	int		 fd, one = 1, rc;

	strlcpy_b(host, addr, sizeof host);
	if ((colon = strrchr(host, ':')) == NULL) {
		log_error("listen: expected a socket path or host:port: %s",
		    addr);
		return (-1);
	}
	*colon = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(host[0] != '\0' ? host : NULL, colon + 1, &hints,
	    &res)) != 0) {
		log_error("listen %s: %s", addr, gai_strerror(rc));
		return (-1);
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		log_error("listen on %s: %s", addr, strerror(errno));
		if (fd != -1)
			close(fd);
		freeaddrinfo(res);
		return (-1);
	}
	freeaddrinfo(res);
	return (fd);
}

/* The socket handed over on fd 0 (a web server, spawn-fcgi, or a socket
 * unit with StandardInput=socket) or on fd 3 (LISTEN_FDS). */
static int
server_inherited(void)
{
	struct stat	 sb;
	const char	*fds = getenv("LISTEN_FDS");
	int		 fd = 0, acc = 0;
	socklen_t	 len = sizeof acc;

	if (fds != NULL && atoi(fds) >= 1)
		fd = 3;
	if (fstat(fd, &sb) == -1 || !S_ISSOCK(sb.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == -1 ||
	    !acc) {
		log_error("no --listen given and fd %d is not a listening "
		    "socket", fd);
		return (-1);
	}
	return (fd);
}

static int
server_listen(const char *addr)
{
	if (addr == NULL || *addr == '\0')
		return (server_inherited());
	if (addr[0] == '/' || addr[0] == '.')
		return (server_listen_unix(addr));
	return (server_listen_tcp(addr));
}

static void
server_stop_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval	 tv = { 0, 50000 };

	(void)fd; (void)what; (void)arg;
	conn_shutdown_all(0);
	if ((conn_busy_count() == 0 && broker_count() == 0) ||
	    ++stop_ticks > STOP_GRACE * 20) {
		event_base_loopbreak(base);
		return;
	}
	evtimer_add(stop_check_ev, &tv);
}

static void
server_stop(void)
{
	struct timeval	 tv = { 0, 0 };

	if (conn_stopping())
		return;
	conn_set_stopping();
	log_info("stopping: finishing requests and ending %d streams",
	    broker_count());
	evconnlistener_disable(listener);
	tail_drain();		/* events committed until now go out first */
	broker_end_all();
	evtimer_add(stop_check_ev, &tv);
}

/* Keys that a running server cannot change (basalt.conf(5): they need a
 * restart) keep their running values, command-line ones included. */
static void
server_keep_fixed(struct config *c)
{
	free(c->database);
	c->database = xstrdup(cfg->database);
	free(c->listen);
	c->listen = cfg->listen != NULL ? xstrdup(cfg->listen) : NULL;
	c->workers = cfg->workers;
	c->synchronous_full = cfg->synchronous_full;
	c->database_timeout_ms = cfg->database_timeout_ms;
}

/* SIGHUP: a new snapshot from the file, published whole; requests and
 * batches under way finish with the one they hold. */
static void
server_reload(void)
{
	struct config	*c;
	char		 err[1024];

	if (cfg->path == NULL) {
		log_info("SIGHUP: no config file to read; reloading hooks");
		access_reopen(base);
		hooks_reload_all();
		return;
	}
	c = config_new();
	if (config_load(c, cfg->path, 0, err, sizeof err) == -1) {
		log_error("SIGHUP: %s; keeping the running config", err);
		config_free(c);
		return;
	}
	server_keep_fixed(c);
	config_publish(c);
	log_set_level(cfg->log_level);
	access_reopen(base);
	broker_reconfigure();
	hooks_reload_all();
	writer_prune();		/* new retention values apply at once */
	log_info("SIGHUP: reloaded %s", cfg->path);
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what; (void)arg;
	if (sig == SIGHUP)
		server_reload();
	else
		server_stop();
}

static void
server_prune_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	writer_prune();
}

static void
server_log_cb(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_ERR)
		log_error("libevent: %s", msg);
	else if (severity == EVENT_LOG_WARN)
		log_warn("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

static int
server_setup(int fd)
{
	struct timeval	 tv = { PRUNE_INTERVAL, 0 };
	char		 err[512];
	int		 limit;

	config_publish(cfg);	/* from now on, snapshots only */
	/* On PostgreSQL the schema is made or upgraded first, with the
	 * longer of the two limits: that may take longer than a request
	 * may wait for one call. */
	if (db_target_is_pg(cfg->database)) {
		limit = cfg->busy_timeout_ms > cfg->database_timeout_ms ?
		    cfg->busy_timeout_ms : cfg->database_timeout_ms;
		if ((loop_store = store_open(cfg->database, limit,
		    cfg->synchronous_full, err, sizeof err)) == NULL) {
			log_error("%s", err);
			return (-1);
		}
		store_close(loop_store);
	}
	/* loop_store is the broker's reader's (replay steps, revoked
	 * tokens, rules), on a thread of its own: the loop never waits on
	 * it, so it has the limit of every other call. */
	if ((loop_store = store_open(cfg->database, config_db_timeout(cfg),
	    cfg->synchronous_full, err, sizeof err)) == NULL ||
	    (tail_store = store_open(cfg->database, config_db_timeout(cfg),
	    cfg->synchronous_full, err, sizeof err)) == NULL) {
		log_error("%s", err);
		return (-1);
	}
	evutil_make_socket_nonblocking(fd);
	/* Backlog 0: the socket listens already, with LISTEN_BACKLOG or the
	 * spawner's; -1 would make libevent listen again with 128. */
	listener = evconnlistener_new(base, server_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (listener == NULL) {
		log_error("cannot listen on fd %d", fd);
		return (-1);
	}
	evconnlistener_set_error_cb(listener, server_accept_error_cb);
	if (access_reopen(base) == -1)
		return (-1);
	conn_init(base);
	stop_check_ev = evtimer_new(base, server_stop_check_cb, NULL);
	prune_ev = event_new(base, -1, EV_PERSIST, server_prune_cb, NULL);
	evtimer_add(prune_ev, &tv);
	sig_term = evsignal_new(base, SIGTERM, server_signal_cb, NULL);
	sig_int = evsignal_new(base, SIGINT, server_signal_cb, NULL);
	sig_hup = evsignal_new(base, SIGHUP, server_signal_cb, NULL);
	evsignal_add(sig_term, NULL);
	evsignal_add(sig_int, NULL);
	evsignal_add(sig_hup, NULL);
	if (broker_init(base, loop_store) == -1 ||	/* its reader's */
	    tail_init(base, tail_store) == -1)
		return (-1);
	if (webhook_start() == -1)
		return (-1);
	if (writer_start() == -1 || worker_start(cfg->workers) == -1)
		return (-1);
	writer_prune();	/* apply retention at start, too */
	return (0);
}

/* An event that server_setup may not have made, if it failed before. */
static void
server_event_free(struct event *ev)
{
	if (ev != NULL)
		event_free(ev);
}

static void
server_teardown(void)
{
	worker_stop();
	conn_reply_completed();		/* replies of the last requests */
	writer_stop();
	conn_reply_completed();		/* and of the last writes */
	webhook_stop();
	conn_shutdown_all(1);
	access_close();
	tail_free();
	broker_free();
	if (listener != NULL)
		evconnlistener_free(listener);
	server_event_free(stop_check_ev);
	server_event_free(prune_ev);
	server_event_free(sig_term);
	server_event_free(sig_int);
	server_event_free(sig_hup);
	store_close(tail_store);	/* its thread has ended in tail_free */
	store_close(loop_store);
	if (unix_path != NULL) {
		unlink(unix_path);
		free(unix_path);
	}
	event_base_free(base);
}

/* Each stream holds a descriptor: the soft open-file limit goes up to the
 * hard one (service managers and shells start most processes at 1,024).
 * Returns the limit in force. */
static long long
server_raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (-1);
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1 &&
		    getrlimit(RLIMIT_NOFILE, &rl) == -1)
			return (-1);
	}
	return (rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur);
}

int
server_run(const char *addr)
{
	long long	 nofile;
	int		 fd, rc = 0;

	signal(SIGPIPE, SIG_IGN);
	nofile = server_raise_nofile();
	event_set_log_callback(server_log_cb);
	if (evthread_use_pthreads() == -1)
		fatal("libevent has no pthreads support");
	if ((base = event_base_new()) == NULL)
		fatal("cannot create the event loop");
	if ((fd = server_listen(addr)) == -1)
		return (1);
	if (server_setup(fd) == -1)
		rc = 1;
	else {
		log_info("basalt %s serving on %s with %d workers, open-file "
		    "limit %lld", VERSION, addr != NULL && *addr != '\0' ?
		    addr : "the inherited socket", cfg->workers, nofile);
		event_base_dispatch(base);
		log_info("stopped");
	}
	server_teardown();
	return (rc);
}
