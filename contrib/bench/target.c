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

/* Addresses the bench talks to: a unix socket path or host:port. */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static int
target_unix(struct target *t, const char *path)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)&t->addr;

	if (strlen(path) >= sizeof sun->sun_path)
		return (-1);
	sun->sun_family = AF_UNIX;
	strcpy(sun->sun_path, path);
	t->addrlen = sizeof *sun;
	snprintf(t->host, sizeof t->host, "localhost");
	return (0);
}

static int
target_inet(struct target *t, const char *hostport)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&t->addr;
	char			 host[256], *colon, *end;
	long			 port;

	if (strlen(hostport) >= sizeof host)
		return (-1);
	memcpy(host, hostport, strlen(hostport) + 1);
	if ((colon = strrchr(host, ':')) == NULL)
		return (-1);
	*colon = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return (-1);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return (-1);
	t->addrlen = sizeof *sin;
	memcpy(t->host, hostport, strlen(hostport) + 1);
	return (0);
}

/* Parses "/path", "unix:/path", "host:port" or "http://host:port[/...]". */
int
target_parse(struct target *t, enum proto proto, const char *s)
{
	char	 buf[256], *slash;

	memset(t, 0, sizeof *t);
	t->proto = proto;
	if (strncmp(s, "unix:", 5) == 0)
		return (target_unix(t, s + 5));
	if (s[0] == '/')
		return (target_unix(t, s));
	if (strncmp(s, "http://", 7) == 0)
		s += 7;
	snprintf(buf, sizeof buf, "%s", s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	return (target_inet(t, buf));
}

/* A non-blocking socket already connecting to the target, or -1. */
int
target_socket(const struct target *t)
{
	int	 fd, one = 1;

	fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		return (-1);
	if (t->addr.ss_family == AF_INET)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		return (-1);
	}
	return (fd);
}
