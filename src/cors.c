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

/* Cross-origin requests: origins as written and as compared, which origin
 * a request may be answered to, and the answer to a preflight. CORS is not
 * authentication: a request from an origin that is not allowed is still
 * answered, without the headers a browser needs to show it to the page. */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"

#define CORS_ALLOW_HEADERS	"Authorization, Content-Type, Last-Event-ID"
#define CORS_SEPARATORS		" \t,"

static int
cors_why(char *why, size_t len, const char *text)
{
	if (why != NULL)
		snprintf(why, len, "%s", text);
	return (-1);
}

/* The host of an origin, lower-cased into out: a name of letters, digits,
 * '-' and '_' in dot-separated labels, or an IPv6 address in brackets.
 * Returns its length, or -1. */
static int
cors_host(const char *p, char *out, size_t outlen)
{
	size_t	 i, j;
	int	 v6 = *p == '[', label = 0;

	for (i = v6; p[i] != '\0' && p[i] != (v6 ? ']' : ':'); i++) {
		if (v6 ? !isxdigit((unsigned char)p[i]) && p[i] != ':' &&
		    p[i] != '.' : !isalnum((unsigned char)p[i]) &&
		    p[i] != '-' && p[i] != '_' && p[i] != '.')
			return (-1);
		if (!v6 && p[i] == '.' && label == 0)
			return (-1);	/* an empty label */
		label = p[i] == '.' ? 0 : label + 1;
	}
	if (label == 0 || (v6 && p[i++] != ']') || i >= outlen)
		return (-1);
	for (j = 0; j < i; j++)
		out[j] = tolower((unsigned char)p[j]);
	out[i] = '\0';
	return ((int)i);
}

int
cors_origin_parse(const char *in, char out[MAX_ORIGIN_LEN + 1], char *why,
    size_t whylen)
{
	char		 scheme[32], host[MAX_ORIGIN_LEN + 1], *end;
	char		 buf[sizeof scheme + sizeof host + 32];
	const char	*p;
	size_t		 n;
	long		 port = 0;
	int		 h;

	if (strcmp(in, "*") == 0)
		return (cors_why(why, whylen, "* (every origin) is only for "
		    "cors_origins in basalt.conf"));
	if (strcmp(in, "null") == 0)
		return (cors_why(why, whylen, "the null origin cannot be "
		    "allowed: every sandboxed page and local file sends it"));
	if (strlen(in) > MAX_ORIGIN_LEN) {
		if (why != NULL)
			snprintf(why, whylen, "an origin is at most %d bytes",
			    MAX_ORIGIN_LEN);
		return (-1);
	}
	n = strspn(in, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
	if (n == 0 || n >= sizeof scheme || !isalpha((unsigned char)in[0]) ||
	    strncmp(in + n, "://", 3) != 0)
		return (cors_why(why, whylen, "an origin is written "
		    "scheme://host[:port], as https://app.example.com"));
	for (h = 0; h < (int)n; h++)
		scheme[h] = tolower((unsigned char)in[h]);
	scheme[n] = '\0';
	p = in + n + 3;
	if (p[strcspn(p, "/?#")] != '\0')
		return (cors_why(why, whylen, "an origin has no path (not even "
		    "a trailing /), query or fragment"));
	if ((h = cors_host(p, host, sizeof host)) == -1)
		return (cors_why(why, whylen, "the host must be a name of "
		    "letters, digits, '-' and '.' (punycode for others) or an "
		    "address"));
	p += h;
	if (*p == ':') {
		if (!isdigit((unsigned char)p[1]) || strlen(p + 1) > 5 ||
		    (port = strtol(p + 1, &end, 10)) < 1 || port > 65535 ||
		    *end != '\0')
			return (cors_why(why, whylen, "the port must be a "
			    "number from 1 to 65535"));
	} else if (*p != '\0')
		return (cors_why(why, whylen, "an origin is written "
		    "scheme://host[:port], as https://app.example.com"));
	/* A browser leaves the scheme's default port out of Origin. */
	if ((port == 80 && strcmp(scheme, "http") == 0) ||
	    (port == 443 && strcmp(scheme, "https") == 0))
		port = 0;
	if (port != 0)
		snprintf(buf, sizeof buf, "%s://%s:%ld", scheme, host, port);
	else
		snprintf(buf, sizeof buf, "%s://%s", scheme, host);
	/* never longer than the input, which fits */
	strlcpy_b(out, buf, MAX_ORIGIN_LEN + 1);
	return (0);
}

int
cors_list_parse(const char *v, char **out, char *why, size_t whylen)
{
	char	*copy, *w, *save = NULL, origin[MAX_ORIGIN_LEN + 1], bad[300];
	char	*list = NULL, *more;
	int	 any = 0;

	copy = xstrdup(v);
	for (w = strtok_r(copy, CORS_SEPARATORS, &save); w != NULL;
	    w = strtok_r(NULL, CORS_SEPARATORS, &save)) {
		if (strcmp(w, "*") == 0) {
			any = 1;
			continue;
		}
		if (cors_origin_parse(w, origin, bad, sizeof bad) == -1) {
			if (why != NULL)
				snprintf(why, whylen, "%.80s: %s", w, bad);
			free(list);
			free(copy);
			return (-1);
		}
		xasprintf(&more, "%s%s%s", list != NULL ? list : "",
		    list != NULL ? " " : "", origin);
		free(list);
		list = more;
	}
	free(copy);
	if (any && list != NULL) {
		free(list);
		return (cors_why(why, whylen,
		    "* stands alone: it allows every origin"));
	}
	*out = any ? xstrdup("*") : list;
	return (0);
}

/* Whether the space-separated list holds origin. */
static int
cors_list_has(const char *list, const char *origin)
{
	size_t	 n, len = strlen(origin);

	while (*list != '\0') {
		n = strcspn(list, " ");
		if (n == len && strncmp(list, origin, n) == 0)
			return (1);
		list += n;
		list += strspn(list, " ");
	}
	return (0);
}

void
cors_check(struct store *st, struct request *req, const char *realm,
    const char *app)
{
	const char	*h = request_param(req, "HTTP_ORIGIN");
	const char	*list = cfg->cors_origins;
	char		 origin[MAX_ORIGIN_LEN + 1];

	req->cors = 1;
	req->cors_origin[0] = '\0';
	if (h == NULL || cors_origin_parse(h, origin, NULL, 0) == -1)
		return;
	if ((list != NULL && (strcmp(list, "*") == 0 ||
	    cors_list_has(list, origin))) || (realm != NULL &&
	    store_cors_allowed(st, realm, app, origin) == STORE_OK))
		strlcpy_b(req->cors_origin, origin, sizeof req->cors_origin);
}

/*
 * OPTIONS: 204 with the methods of the path. A preflight (OPTIONS with an
 * Origin) from an origin that is not allowed gets 403: the browser would
 * refuse the answer anyway, and whoever looks at it with curl learns why.
 */
void
cors_preflight(struct request *req, const char *allow)
{
	const char	*h = request_param(req, "HTTP_ORIGIN");
	char		 age[16];

	if (req->cors && h != NULL && req->cors_origin[0] == '\0') {
		error_set(&req->err, ERR_FORBIDDEN, "the origin %.*s is not "
		    "allowed here", MAX_ORIGIN_LEN, h);
		reply_error(req);
		return;
	}
	reply_header(req, "Allow", allow);
	if (req->cors_origin[0] != '\0') {
		snprintf(age, sizeof age, "%d", CORS_MAX_AGE);
		reply_header(req, "Access-Control-Allow-Methods", allow);
		reply_header(req, "Access-Control-Allow-Headers",
		    CORS_ALLOW_HEADERS);
		reply_header(req, "Access-Control-Max-Age", age);
	}
	reply_empty(req, 204);
}
