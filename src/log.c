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

/* Levelled logging to stderr, which is the web server's error log when it
 * spawns basalt. Lines are written whole so threads do not interleave. */

#include <sys/time.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "basalt.h"

__thread const char *log_rid;

static int log_level = LOG_LEVEL_INFO;
static const char *level_names[] = { "error", "warn", "info", "debug" };

void
log_init(int level)
{
	log_level = level;
}

void
log_set_level(int level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

int
log_level_parse(const char *s)
{
	int	 i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return (i);
	return (-1);
}

/* Copies inlen bytes of in to out (outlen bytes, NUL-terminated), with
 * control characters written as \n, \r, \t or \xNN; cut where out is
 * full. Returns the length written. */
size_t
log_escape(char *out, size_t outlen, const char *in, size_t inlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 c;
	size_t		 i, o = 0, need;
	char		 e[4];

	if (outlen == 0)
		return (0);
	for (i = 0; i < inlen; i++) {
		c = (unsigned char)in[i];
		if (c >= 0x20 && c != 0x7f) {
			if (o + 1 >= outlen)
				break;
			out[o++] = (char)c;
			continue;
		}
		e[0] = '\\';
		if (c == '\n' || c == '\r' || c == '\t') {
			e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			need = 2;
		} else {
			e[1] = 'x';
			e[2] = hex[c >> 4];
			e[3] = hex[c & 0xf];
			need = 4;
		}
		if (o + need >= outlen)
			break;
		memcpy(out + o, e, need);
		o += need;
	}
	out[o] = '\0';
	return (o);
}

static void
log_vwrite(int level, const char *fmt, va_list ap)
{
	char		 line[2048], msg[2048];
	struct timeval	 tv;
	struct tm	 tm;
	int		 n, m;

	if (level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof line,
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ basalt[%d] %s: %s%s%s",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), (int)getpid(),
	    level_names[level], log_rid != NULL ? "request " : "",
	    log_rid != NULL ? log_rid : "", log_rid != NULL ? ": " : "");
	m = vsnprintf(msg, sizeof msg, fmt, ap);
	if (m < 0)
		m = 0;
	if (m > (int)sizeof msg - 1)
		m = sizeof msg - 1;
	/* Whatever the message holds (a name, a hook's text), it stays on
	 * one line of its own. */
	n += log_escape(line + n, sizeof line - n - 1, msg, m);
	line[n++] = '\n';
	(void)write(STDERR_FILENO, line, n);
}

#define LOG_FN(name, level)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list	 ap;					\
							\
	va_start(ap, fmt);				\
	log_vwrite(level, fmt, ap);			\
	va_end(ap);					\
}

LOG_FN(log_error, LOG_LEVEL_ERROR)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
