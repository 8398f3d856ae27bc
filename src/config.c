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

/* basalt.conf: "key = value" lines, defaults, and value parsing; and the
 * running configuration, an immutable snapshot that SIGHUP replaces. */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "basalt.h"
#include "db.h"

#define METRICS_TOKEN_MAX	1024

__thread struct config	*cfg;

static pthread_mutex_t	 snapshot_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config	*current;	/* the published snapshot */

enum kind { K_PATH, K_LISTEN, K_INT, K_LONG, K_SIZE, K_LEVEL, K_SYNC,
    K_ORIGINS, K_PATH_OFF, K_METRICS, K_BOOL };

/* Every key, its kind, where it goes and its bounds. */
static const struct key {
	const char	*name;
	enum kind	 kind;
	size_t		 offset;
	long		 min;
	long		 max;
} keys[] = {
#define O(f) offsetof(struct config, f)
	{ "database", K_PATH, O(database), 0, 0 },
	{ "listen", K_LISTEN, O(listen), 0, 0 },
	{ "workers", K_INT, O(workers), 1, MAX_WORKERS },
	{ "request_timeout", K_INT, O(request_timeout), 1, 3600 },
	{ "max_body_size", K_SIZE, O(max_body_size), 1, 1L << 30 },
	{ "max_batch_size", K_SIZE, O(max_batch_size), 1, 1L << 30 },
	{ "heartbeat_interval", K_INT, O(heartbeat_interval), 1, 3600 },
	{ "stream_buffer_limit", K_SIZE, O(stream_buffer_limit), 4096, 1L << 30 },
	{ "retry_ms", K_INT, O(retry_ms), 0, 3600000 },
	{ "event_retention_seconds", K_LONG, O(retention_seconds), 1, LONG_MAX },
	{ "event_retention_count", K_LONG, O(retention_count), 1, LONG_MAX },
	{ "synchronous", K_SYNC, O(synchronous_full), 0, 0 },
	{ "busy_timeout_ms", K_INT, O(busy_timeout_ms), 0, 600000 },
	{ "database_timeout_ms", K_INT, O(database_timeout_ms), 10, 600000 },
	{ "hooks_dir", K_PATH, O(hooks_dir), 0, 0 },
	{ "hook_timeout_ms", K_INT, O(hook_timeout_ms), 1, 600000 },
	{ "hook_calls_per_app", K_INT, O(hook_calls_per_app), 0, MAX_WORKERS },
	{ "log_level", K_LEVEL, O(log_level), 0, 0 },
	{ "dashboard_dir", K_PATH, O(dashboard_dir), 0, 0 },
	{ "cors_origins", K_ORIGINS, O(cors_origins), 0, 0 },
	{ "access_log", K_PATH_OFF, O(access_log), 0, 0 },
	{ "metrics", K_METRICS, O(metrics), 0, 0 },
	{ "metrics_token_file", K_PATH, O(metrics_token_file), 0, 0 },
	{ "webhook_timeout_ms", K_INT, O(webhook_timeout_ms), 100, 600000 },
	{ "webhook_max_failures", K_INT, O(webhook_max_failures), 1, 1000000 },
	{ "webhook_allow_private", K_BOOL, O(webhook_allow_private), 0, 0 },
#undef O
};

const char *
config_default_path(void)
{
	return (SYSCONFDIR "/basalt.conf");
}

/* The time limit the server's stores are opened with: SQLite's busy
 * timeout, or on PostgreSQL the limit of every call to the server. */
int
config_db_timeout(const struct config *c)
{
	if (db_target_is_pg(c->database))
		return (c->database_timeout_ms);
	return (c->busy_timeout_ms);
}

struct config *
config_new(void)
{
	struct config	*c;

	c = xcalloc(1, sizeof *c);
	c->database = xstrdup(LOCALSTATEDIR "/lib/basalt/basalt.db");
	c->workers = DEFAULT_WORKERS;
	c->request_timeout = DEFAULT_REQUEST_TIMEOUT;
	c->max_body_size = DEFAULT_MAX_BODY_SIZE;
	c->max_batch_size = DEFAULT_MAX_BATCH_SIZE;
	c->heartbeat_interval = DEFAULT_HEARTBEAT_INTERVAL;
	c->stream_buffer_limit = DEFAULT_STREAM_BUFFER_LIMIT;
	c->retry_ms = DEFAULT_RETRY_MS;
	c->retention_seconds = DEFAULT_RETENTION_SECONDS;
	c->retention_count = DEFAULT_RETENTION_COUNT;
	c->busy_timeout_ms = DEFAULT_BUSY_TIMEOUT_MS;
	c->database_timeout_ms = DEFAULT_DATABASE_TIMEOUT_MS;
	c->hooks_dir = xstrdup(SYSCONFDIR "/basalt/hooks");
	c->hook_timeout_ms = DEFAULT_HOOK_TIMEOUT_MS;
	c->log_level = LOG_LEVEL_INFO;
	c->webhook_timeout_ms = DEFAULT_WEBHOOK_TIMEOUT_MS;
	c->webhook_max_failures = DEFAULT_WEBHOOK_MAX_FAILURES;
	c->dashboard_dir = xstrdup(DATADIR "/basalt/dashboard");
	return (c);
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->database);
	free(c->listen);
	free(c->hooks_dir);
	free(c->dashboard_dir);
	free(c->cors_origins);
	free(c->access_log);
	free(c->metrics_token_file);
	if (c->metrics_token != NULL) {
		sodium_memzero(c->metrics_token, strlen(c->metrics_token));
		free(c->metrics_token);
	}
	free(c);
}

/* A size: digits with an optional k, m or g. */
int
config_parse_size(const char *s, size_t *out)
{
	char		*end;
	unsigned long long v;
	int		 shift = 0;

	if (!isdigit((unsigned char)*s))
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return (-1);
	switch (tolower((unsigned char)*end)) {
	case 'k': shift = 10; end++; break;
	case 'm': shift = 20; end++; break;
	case 'g': shift = 30; end++; break;
	}
	if (*end != '\0' || v > (SIZE_MAX >> shift))
		return (-1);
	*out = (size_t)(v << shift);
	return (0);
}

/* A duration: digits with an optional s, m, h or d; seconds out. */
int
config_parse_duration(const char *s, int64_t *out)
{
	char		*end;
	long long	 v, mul = 1;

	if (!isdigit((unsigned char)*s))
		return (-1);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return (-1);
	switch (*end) {
	case 's': end++; break;
	case 'm': mul = 60; end++; break;
	case 'h': mul = 3600; end++; break;
	case 'd': mul = 86400; end++; break;
	}
	if (*end != '\0' || v <= 0 || v > INT64_MAX / mul / 1000)
		return (-1);
	*out = v * mul;
	return (0);
}

static int
parse_long(const char *s, long *out)
{
	char	*end;

	if (*s == '\0')
		return (-1);
	errno = 0;
	*out = strtol(s, &end, 10);
	return (errno != 0 || *end != '\0' ? -1 : 0);
}

/* A listen address: a unix socket path (starting with / or .) that fits
 * a sockaddr_un, or host:port with a port from 1 to 65535. 0 if good,
 * else -1 with the reason in why. */
int
config_check_listen(const char *v, char *why, size_t whylen)
{
	const char	*port;
	char		*end;
	long		 p;

	if (*v == '\0')
		return (snprintf(why, whylen, "empty; leave listen out to take "
		    "the socket on fd 0"), -1);
	if (v[0] == '/' || v[0] == '.') {
		if (strlen(v) >= sizeof ((struct sockaddr_un *)0)->sun_path)
			return (snprintf(why, whylen, "socket path too long"),
			    -1);
		return (0);
	}
	if ((port = strrchr(v, ':')) == NULL)
		return (snprintf(why, whylen, "expected a socket path or "
		    "host:port"), -1);
	port++;
	errno = 0;
	p = isdigit((unsigned char)*port) ? strtol(port, &end, 10) : -1;
	if (p < 1 || p > 65535 || errno != 0 || *end != '\0')
		return (snprintf(why, whylen, "the port must be a number from "
		    "1 to 65535"), -1);
	return (0);
}

static int
config_set(struct config *c, const struct key *k, const char *v, char *why,
    size_t whylen)
{
	char	*field = (char *)c + k->offset, *list;
	long	 l;
	size_t	 sz;
	int	 level;

	switch (k->kind) {
	case K_PATH_OFF:
		if (*v == '\0') {
			snprintf(why, whylen, "a path or off is required");
			return (-1);
		}
		free(*(char **)field);
		*(char **)field = strcmp(v, "off") == 0 ? NULL : xstrdup(v);
		return (0);
	case K_LISTEN:
		if (config_check_listen(v, why, whylen) == -1)
			return (-1);
		/* FALLTHROUGH */
	case K_PATH:
		/* An empty database would be SQLite's temporary one, lost
		 * at exit. */
		if (*v == '\0') {
			snprintf(why, whylen, "a path is required");
			return (-1);
		}
		free(*(char **)field);
		*(char **)field = xstrdup(v);
		return (0);
	case K_INT:
	case K_LONG:
		if (parse_long(v, &l) == -1 || l < k->min || l > k->max)
			return (-1);
		if (k->kind == K_INT)
			*(int *)field = (int)l;
		else
			*(long *)field = l;
		return (0);
	case K_SIZE:
		if (config_parse_size(v, &sz) == -1 || sz < (size_t)k->min ||
		    sz > (size_t)k->max)
			return (-1);
		*(size_t *)field = sz;
		return (0);
	case K_LEVEL:
		if ((level = log_level_parse(v)) == -1)
			return (-1);
		*(int *)field = level;
		return (0);
	case K_SYNC:
		if (strcmp(v, "normal") == 0)
			*(int *)field = 0;
		else if (strcmp(v, "full") == 0)
			*(int *)field = 1;
		else
			return (-1);
		return (0);
	case K_METRICS:
		if (strcmp(v, "off") == 0)
			*(int *)field = METRICS_OFF;
		else if (strcmp(v, "open") == 0)
			*(int *)field = METRICS_OPEN;
		else if (strcmp(v, "token") == 0)
			*(int *)field = METRICS_TOKEN;
		else
			return (-1);
		return (0);
	case K_BOOL:
		if (strcmp(v, "no") == 0)
			*(int *)field = 0;
		else if (strcmp(v, "yes") == 0)
			*(int *)field = 1;
		else
			return (-1);
		return (0);
	case K_ORIGINS:
		if (cors_list_parse(v, &list, why, whylen) == -1)
			return (-1);
		free(*(char **)field);
		*(char **)field = list;
		return (0);
	}
	return (-1);
}

static char *
trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return (s);
}

static int
config_line(struct config *c, char *line, char *why, size_t whylen)
{
	char	*eq, *key, *value, *hash, reason[128];
	size_t	 i;

	if ((hash = strchr(line, '#')) != NULL)
		*hash = '\0';
	line = trim(line);
	if (*line == '\0')
		return (0);
	if ((eq = strchr(line, '=')) == NULL) {
		snprintf(why, whylen, "expected \"key = value\"");
		return (-1);
	}
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (strcmp(keys[i].name, key) != 0)
			continue;
		reason[0] = '\0';
		if (config_set(c, &keys[i], value, reason, sizeof reason) ==
		    -1) {
			snprintf(why, whylen, "bad value for %s: \"%s\"%s%s",
			    key, value, reason[0] != '\0' ? ": " : "", reason);
			return (-1);
		}
		return (0);
	}
	snprintf(why, whylen, "unknown key \"%s\"", key);
	return (-1);
}

/* metrics = token: the secret from metrics_token_file, its first line
 * without the line end. 0, or -1 with the reason in err. */
static int
config_metrics_token(struct config *c, char *err, size_t errlen)
{
	FILE	*f;
	char	 buf[METRICS_TOKEN_MAX + 2];
	size_t	 n;

	if (c->metrics != METRICS_TOKEN)
		return (0);
	if (c->metrics_token_file == NULL) {
		snprintf(err, errlen, "%s: metrics = token needs "
		    "metrics_token_file", c->path);
		return (-1);
	}
	if ((f = fopen(c->metrics_token_file, "r")) == NULL) {
		snprintf(err, errlen, "metrics_token_file %s: %s",
		    c->metrics_token_file, strerror(errno));
		return (-1);
	}
	if (fgets(buf, sizeof buf, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n == 0 || n > METRICS_TOKEN_MAX) {
		snprintf(err, errlen, "metrics_token_file %s: expected a "
		    "secret of 1 to %d bytes on its first line",
		    c->metrics_token_file, METRICS_TOKEN_MAX);
		sodium_memzero(buf, sizeof buf);
		return (-1);
	}
	c->metrics_token = xstrdup(buf);
	sodium_memzero(buf, sizeof buf);
	return (0);
}

int
config_load(struct config *c, const char *path, int optional, char *err,
    size_t errlen)
{
	struct stat	 sb;
	FILE		*f;
	char		 line[4096], why[512];
	int		 lineno = 0;

	if ((f = fopen(path, "r")) == NULL) {
		if (optional && errno == ENOENT)
			return (0);
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	/* A folder opens and reads as empty: it would pass as a file that
	 * sets nothing. */
	if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: is a directory", path);
		fclose(f);
		return (-1);
	}
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path,
			    lineno);
			fclose(f);
			return (-1);
		}
		if (config_line(c, line, why, sizeof why) == -1) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			fclose(f);
			return (-1);
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		fclose(f);
		return (-1);
	}
	fclose(f);
	free(c->path);
	c->path = xstrdup(path);
	return (config_metrics_token(c, err, errlen));
}

/*
 * Snapshots. A published config is never written again. refs counts the
 * threads holding it, plus one while it is the current one; the last to
 * let go frees it. A thread's cfg is the snapshot it holds, so the snapshots
 * alive are at most the current one and one per thread.
 */

static void
config_unref(struct config *c)
{
	if (--c->refs == 0)
		config_free(c);
}

/* Loop thread: c becomes the current snapshot and this thread's cfg. The
 * caller's previous cfg was the current snapshot, or c itself unpublished
 * (at start-up). c must not be changed afterwards. */
void
config_publish(struct config *c)
{
	struct config	*old, *mine = cfg;

	pthread_mutex_lock(&snapshot_lock);
	c->refs = 2;	/* current, and held by this thread */
	old = current;
	__atomic_store_n(&current, c, __ATOMIC_RELEASE);
	if (old != NULL)
		config_unref(old);	/* no longer current */
	if (mine != NULL && mine != c && mine == old)
		config_unref(mine);	/* no longer held by this thread */
	pthread_mutex_unlock(&snapshot_lock);
	cfg = c;
}

/* Any thread: cfg becomes the current snapshot. Cheap when it is already:
 * one atomic load. */
void
config_refresh(void)
{
	struct config	*c = __atomic_load_n(&current, __ATOMIC_ACQUIRE);

	if (c == cfg || c == NULL)
		return;
	pthread_mutex_lock(&snapshot_lock);
	c = current;
	c->refs++;
	if (cfg != NULL)
		config_unref(cfg);
	pthread_mutex_unlock(&snapshot_lock);
	cfg = c;
}

/* A thread that ends lets go of its snapshot. */
void
config_unhold(void)
{
	if (cfg == NULL)
		return;
	pthread_mutex_lock(&snapshot_lock);
	config_unref(cfg);
	pthread_mutex_unlock(&snapshot_lock);
	cfg = NULL;
}
