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

/* libFuzzer target: the configuration parser. The input is the file
 * config_load reads (through a memfd); what it accepts must hold values
 * inside their bounds, and an error must name file:line. The size,
 * duration and CORS origin parsers get the input's first line too. */

#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basalt.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*c;
	char		 path[64], err[1024], *line;
	char		 origin[MAX_ORIGIN_LEN + 1], again[MAX_ORIGIN_LEN + 1];
	size_t		 sz;
	int64_t		 d;
	int		 fd;

	line = xstrndup((const char *)data, size);
	line[strcspn(line, "\n")] = '\0';
	if (config_parse_size(line, &sz) == 0 && line[0] == '-')
		abort();
	if (config_parse_duration(line, &d) == 0 && d <= 0)
		abort();
	/* An origin taken is normalised: parsed again, it stays the same. */
	if (cors_origin_parse(line, origin, NULL, 0) == 0 &&
	    (cors_origin_parse(origin, again, NULL, 0) != 0 ||
	    strcmp(origin, again) != 0 ||
	    strpbrk(strstr(origin, "://") + 3, "/?#@ ") != NULL))
		abort();
	free(line);

	if ((fd = memfd_create("basalt.conf", 0)) == -1)
		return (0);
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return (0);
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	c = config_new();
	if (config_load(c, path, 0, err, sizeof err) == 0) {
		if (c->workers < 1 || c->workers > MAX_WORKERS ||
		    c->request_timeout < 1 || c->max_body_size < 1 ||
		    c->stream_buffer_limit < 4096 ||
		    c->retention_seconds < 1 || c->retention_count < 1 ||
		    c->hook_timeout_ms < 1 || c->database == NULL ||
		    c->path == NULL || strcmp(c->path, path) != 0)
			abort();
	} else if (strncmp(err, path, strlen(path)) != 0 ||
	    strlen(err) >= sizeof err)
		abort();
	config_free(c);
	close(fd);
	return (0);
}
