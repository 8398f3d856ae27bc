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

/* Responses in the CGI form the web server expects, and the one table
 * that maps every cause of failure to its status, code and JSON body. */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "basalt.h"

static const struct {
	int		 status;
	const char	*code;
	const char	*message;
} errors[ERR__COUNT] = {
	[ERR_NONE] = { 500, "internal_error", "no error" },
	[ERR_INVALID_JSON] = { 400, "invalid_json", "the body is not valid JSON" },
	[ERR_NOT_OBJECT] = { 400, "not_an_object", "the body must be a JSON object" },
	[ERR_INVALID_NAME] = { 400, "invalid_name", "invalid name" },
	[ERR_INVALID_ID] = { 400, "invalid_id", "invalid id" },
	[ERR_INVALID_PARAMETER] = { 400, "invalid_parameter", "invalid parameter" },
	[ERR_INVALID_EVENT] = { 400, "invalid_event", "invalid event" },
	[ERR_INVALID_FILTER] = { 400, "invalid_filter", "invalid filter" },
	[ERR_UNAUTHORIZED] = { 401, "unauthorized", "a valid token is required" },
	[ERR_FORBIDDEN] = { 403, "forbidden", "the token does not allow this" },
	[ERR_NOT_FOUND] = { 404, "not_found", "not found" },
	[ERR_METHOD] = { 405, "method_not_allowed", "method not allowed" },
	[ERR_TIMEOUT] = { 408, "request_timeout", "the request took too long to arrive" },
	[ERR_CONFLICT] = { 409, "conflict", "it exists already" },
	[ERR_TOO_LARGE] = { 413, "payload_too_large", "the body is too large" },
	[ERR_INVALID_BATCH] = { 400, "invalid_batch", "invalid batch" },
	[ERR_BATCH_TOO_LARGE] = { 413, "batch_too_large",
	    "a batch holds too many requests" },
	[ERR_HEADERS_TOO_LARGE] = { 431, "request_header_fields_too_large",
	    "the request's headers are too large" },
	[ERR_MEDIA_TYPE] = { 415, "unsupported_media_type",
	    "the body must be sent with Content-Type: application/json" },
	[ERR_HOOK_REJECTED] = { 422, "hook_rejected", "a hook refused the write" },
	[ERR_HOOK_FAILED] = { 500, "hook_failed", "a hook failed" },
	[ERR_INTERNAL] = { 500, "internal_error", "internal error" },
	[ERR_BUSY] = { 503, "database_busy", "the database is busy; try again" },
	[ERR_UNAVAILABLE] = { 503, "database_unavailable",
	    "the database is unavailable; try again" },
	[ERR_INVALID_TOKEN] = { 401, "unauthorized", "the token is not valid" },
	[ERR_INSUFFICIENT_SCOPE] = { 403, "insufficient_scope",
	    "the token does not have the scope this needs" },
	[ERR_EVENTS_PRUNED] = { 410, "events_pruned",
	    "the log no longer holds these events" },
};

static const struct {
	int		 status;
	const char	*text;
} statuses[] = {
	{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
	{ 204, "No Content" }, { 301, "Moved Permanently" }, { 400, "Bad Request" },
	{ 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
	{ 405, "Method Not Allowed" }, { 408, "Request Timeout" },
	{ 409, "Conflict" }, { 410, "Gone" }, { 413, "Payload Too Large" },
	{ 415, "Unsupported Media Type" }, { 422, "Unprocessable Entity" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" }, { 503, "Service Unavailable" },
};

static const char *
status_text(int status)
{
	size_t	 i;

	for (i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
		if (statuses[i].status == status)
			return (statuses[i].text);
	return ("Unknown");
}

int
error_status(enum err e)
{
	return (errors[e].status);
}

const char *
error_code(enum err e)
{
	return (errors[e].code);
}

/* Sets the cause (message NULL: the table's) and returns -1 for the
 * caller to return. Control characters in the message (from input such
 * as a hook's text) are escaped: a cause is one line wherever it goes. */
int
error_set(struct error *err, enum err code, const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[sizeof err->message];
	int	 n;

	err->code = code;
	err->logged = 0;
	if (fmt == NULL) {
		strlcpy_b(err->message, errors[code].message,
		    sizeof err->message);
		return (-1);
	}
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof buf - 1)
		n = sizeof buf - 1;
	log_escape(err->message, sizeof err->message, buf, n);
	return (-1);
}

/* The cause is in the log already, in more detail than reply_error's
 * line would give: reply_error does not log it again. Returns -1. */
int
error_logged(struct error *err)
{
	err->logged = 1;
	return (-1);
}

/* The one mapping of a store result to a cause; what names the object
 * for 404 and 409 ("record", "realm 'acme'"; NULL: "it"). */
int
error_store(struct error *err, int rc, const char *what)
{
	if (what == NULL)
		what = "it";
	switch (rc) {
	case STORE_BUSY:
		return (error_set(err, ERR_BUSY, NULL));
	case STORE_UNAVAILABLE:
		return (error_set(err, ERR_UNAVAILABLE, NULL));
	case STORE_NOTFOUND:
		return (error_set(err, ERR_NOT_FOUND, "%s not found", what));
	case STORE_EXISTS:
		return (error_set(err, ERR_CONFLICT, "%s exists already", what));
	default:
		return (error_set(err, ERR_INTERNAL, "database error"));
	}
}

void
reply_header(struct request *req, const char *name, const char *value)
{
	evbuffer_add_printf(req->out, "%s: %s\r\n", name, value);
}

/* A HEAD request: answered as GET, without the body. */
static int
reply_is_head(struct request *req)
{
	const char	*m = request_param(req, "REQUEST_METHOD");

	return (m != NULL && strcmp(m, "HEAD") == 0);
}

/* What cors_check decided: Vary on every answer where an Origin could
 * change it, and the origin a browser may show the answer to. */
static void
reply_cors(struct request *req)
{
	if (!req->cors)
		return;
	reply_header(req, "Vary", "Origin");
	if (req->cors_origin[0] == '\0')
		return;
	reply_header(req, "Access-Control-Allow-Origin", req->cors_origin);
	reply_header(req, "Access-Control-Expose-Headers",
	    "Location, X-Request-Id");
}

/* Puts the status line before the headers and ends them. */
static void
reply_finish(struct request *req, int status, const char *type,
    const char *body, size_t len)
{
	char	 line[64];

	req->status = status;
	snprintf(line, sizeof line, "Status: %d %s\r\n", status,
	    status_text(status));
	evbuffer_prepend(req->out, line, strlen(line));
	reply_header(req, "X-Request-Id", req->rid);
	reply_cors(req);
	if (type != NULL)
		evbuffer_add_printf(req->out, "Content-Type: %s\r\n", type);
	evbuffer_add_printf(req->out, "Content-Length: %zu\r\n\r\n", len);
	if (!reply_is_head(req))
		evbuffer_add(req->out, body, len);
}

void
reply_raw_json(struct request *req, int status, const char *body, size_t len)
{
	reply_finish(req, status, "application/json", body, len);
}

void
reply_json(struct request *req, int status, json_object *o)
{
	size_t		 len;
	const char	*s;

	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	reply_raw_json(req, status, s, len);
}

void
reply_empty(struct request *req, int status)
{
	reply_finish(req, status, NULL, "", 0);
}

void
reply_file(struct request *req, const char *type, const char *body, size_t len)
{
	reply_header(req, "Cache-Control", "no-cache");
	reply_finish(req, 200, type, body, len);
}

/* The headers of an event stream; a HEAD request gets them alone. */
void
reply_stream(struct request *req)
{
	req->status = 200;
	evbuffer_add_printf(req->out, "Status: 200 OK\r\n"
	    "Content-Type: text/event-stream\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "X-Request-Id: %s\r\n", req->rid);
	reply_cors(req);
	evbuffer_add(req->out, "\r\n", 2);
	if (reply_is_head(req))
		return;
	req->stream = 1;
	evbuffer_add_printf(req->out, ": basalt stream\nretry: %d\n\n",
	    cfg->retry_ms);
}

/* The headers of a change feed as NDJSON; its lines follow in req->out,
 * or in parts (req->more). */
void
reply_ndjson(struct request *req)
{
	req->status = 200;
	evbuffer_add_printf(req->out, "Status: 200 OK\r\n"
	    "Content-Type: application/x-ndjson\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "X-Request-Id: %s\r\n", req->rid);
	reply_cors(req);
	evbuffer_add(req->out, "\r\n", 2);
}

/* Every 5xx goes into the log once, with its cause and the path (never
 * the query, which may hold an access_token). */
static void
reply_log(struct request *req, enum err code)
{
	const char	*m = request_param(req, "REQUEST_METHOD");
	const char	*uri = request_param(req, "REQUEST_URI");
	const char	*rid = log_rid;
	int		 status = errors[code].status;

	if (status < 500 || req->err.logged)
		return;
	req->err.logged = 1;
	if (uri == NULL)
		uri = "-";
	/* the writer answers for the requests of its batch */
	if (req->rid[0] != '\0')
		log_rid = req->rid;
	if (status == 503)
		log_warn("%s %.*s: %d %s: %s", m != NULL ? m : "-",
		    (int)strcspn(uri, "?#"), uri, status, errors[code].code,
		    req->err.message);
	else
		log_error("%s %.*s: %d %s: %s", m != NULL ? m : "-",
		    (int)strcspn(uri, "?#"), uri, status, errors[code].code,
		    req->err.message);
	log_rid = rid;
}

/* The one place a cause becomes a response. */
void
reply_error(struct request *req)
{
	json_object	*o, *e;
	enum err	 code = req->err.code;

	if (code <= ERR_NONE || code >= ERR__COUNT)
		code = ERR_INTERNAL;
	if (req->err.message[0] == '\0')
		strlcpy_b(req->err.message, errors[code].message,
		    sizeof req->err.message);
	reply_log(req, code);
	evbuffer_drain(req->out, evbuffer_get_length(req->out));
	if (code == ERR_UNAUTHORIZED)
		reply_header(req, "WWW-Authenticate", "Bearer");
	if (code == ERR_INVALID_TOKEN)
		reply_header(req, "WWW-Authenticate",
		    "Bearer error=\"invalid_token\"");
	if (code == ERR_INSUFFICIENT_SCOPE)
		reply_header(req, "WWW-Authenticate",
		    "Bearer error=\"insufficient_scope\"");
	/* the database is locked or unreachable for now: ask again soon */
	if (errors[code].status == 503)
		reply_header(req, "Retry-After", "1");
	if (code == ERR_METHOD && req->err.allow[0] != '\0')
		reply_header(req, "Allow", req->err.allow);
	e = json_object_new_object();
	json_object_object_add(e, "status",
	    json_object_new_int(errors[code].status));
	json_object_object_add(e, "code",
	    json_object_new_string(errors[code].code));
	json_object_object_add(e, "message",
	    json_object_new_string(req->err.message));
	o = json_object_new_object();
	json_object_object_add(o, "error", e);
	if (code == ERR_EVENTS_PRUNED)
		json_object_object_add(e, "oldest_id",
		    json_object_new_int64(req->err.oldest_id));
	if (req->err.batch_index > 0)
		json_object_object_add(o, "index",
		    json_object_new_int(req->err.batch_index - 1));
	reply_json(req, errors[code].status, o);
	json_object_put(o);
}
