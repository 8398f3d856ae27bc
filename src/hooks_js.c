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


/*
 * What a hook's JavaScript runs in: one Duktape heap for one app's files,
 * its allocator and time budget, the native functions scripts call
 * (onRecord*, $app.log, $app.realtime.publish), and what a script threw,
 * read into C.
 *
 * Locks: none is taken here. A heap, its budget and its counters belong to
 * the thread that built it (hooks_js_heap_new): Duktape calls the
 * allocator, hooks_js_timeout_check and the natives on that thread, inside
 * hooks_js_heap_new or inside a call run by hooks.c, and the heap is
 * destroyed there (hooks_js_heap_free). The only value shared between
 * threads, hooks_nice_ok, is written once by hooks_js_init (pthread_once,
 * from hooks_new before any worker runs) and only read after.
 *
 * Threads: a heap that checks a reload's files is built and freed on the
 * reloading thread; every other heap lives on one worker. A native may
 * wait: publish in an after hook goes through writer_submit, so no hook
 * may ever run on the writer; that wait is not charged to the budget.
 * hh->call is set only while hooks.c runs a call, so a native called at
 * load time (no call) cannot publish.
 *
 * References: a heap's hh->src is a hooks_app whose reference is taken
 * and dropped by hooks_load.c; nothing here changes it. A heap that checks
 * a reload holds none: its hooks_app is not shared yet.
 */

#include <sys/types.h>
#include <sys/resource.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duk_basalt.h"
#include <duktape.h>

#include "basalt.h"

#define HOOKS_HEAP_MAX		(64 * 1024 * 1024) /* bytes of a heap */
#define HOOKS_LOG_MAX		2048		/* bytes of a $app.log line */
#define HOOKS_NICE		10		/* a slow hook's CPU yields */
#define HOOKS_SLOW_MS		10		/* a call is slow after this */
#define HOOKS_GRACE		(64 * 1024)	/* bytes allowed past the
						   deadline: the error */

/* A thrown value, read into C. */
struct hooks_fault {
	int		 code;		/* DUK_ERR_*; DUK_ERR_NONE: no Error */
	char		 message[256];
	char		 text[512];	/* "TypeError: ..." */
	char		 file[PATH_MAX];
	long		 line;
};

/* A publish from an after hook, handed to the writer. */
struct hooks_publish {
	const char	*realm;
	const char	*app;
	const char	*coll;
	const char	*type;
	const char	*data;
	int64_t		 id;
};

/* The registration functions; the index is each function's magic. */
const struct hooks_reg hooks_js_regs[HOOKS_NREGS] = {
	{ "onRecordCreate",		"create",	0 },
	{ "onRecordUpdate",		"update",	0 },
	{ "onRecordDelete",		"delete",	0 },
	{ "onRecordAfterCreate",	"create",	1 },
	{ "onRecordAfterUpdate",	"update",	1 },
	{ "onRecordAfterDelete",	"delete",	1 },
};

static pthread_once_t	 hooks_nice_once = PTHREAD_ONCE_INIT;
static int		 hooks_nice_ok;	/* set once by hooks_nice_probe */

static int64_t
hooks_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * A hook call that has run for HOOKS_SLOW_MS goes on at a lower CPU
 * priority (Linux: nice is per thread), so that a hook that burns its whole
 * budget takes the CPU from other hooks, not from the requests of other
 * apps on a busy machine; quick calls never pay for it. A thread may always
 * raise its nice value, but may lower it back only if RLIMIT_NICE allows it
 * (root does): a throw-away thread tries both once.
 */
static void *
hooks_nice_probe_main(void *arg)
{
	int	*ok = arg, prio;
	pid_t	 tid = gettid();

	errno = 0;
	prio = getpriority(PRIO_PROCESS, tid);
	if (errno == 0 && setpriority(PRIO_PROCESS, tid, prio + HOOKS_NICE) ==
	    0 && setpriority(PRIO_PROCESS, tid, prio) == 0)
		*ok = 1;
	return (NULL);
}

static void
hooks_nice_probe(void)
{
	pthread_t	 t;
	int		 ok = 0;

	if (pthread_create(&t, NULL, hooks_nice_probe_main, &ok) == 0)
		pthread_join(t, NULL);
	hooks_nice_ok = ok;
	if (!ok)
		log_info("hooks: calls run at the workers' CPU priority "
		    "(RLIMIT_NICE does not let a thread come back from nice "
		    "+%d)", HOOKS_NICE);
}

void
hooks_js_init(void)
{
	pthread_once(&hooks_nice_once, hooks_nice_probe);
}

/* Lowers this thread's priority; returns what to restore, or INT_MIN. */
static int
hooks_nice_enter(void)
{
	int	 prio;

	if (!hooks_nice_ok)
		return (INT_MIN);
	errno = 0;
	prio = getpriority(PRIO_PROCESS, gettid());
	if (errno != 0 ||
	    setpriority(PRIO_PROCESS, gettid(), prio + HOOKS_NICE) == -1)
		return (INT_MIN);
	return (prio);
}

static void
hooks_nice_leave(int prio)
{
	if (prio != INT_MIN &&
	    setpriority(PRIO_PROCESS, gettid(), prio) == -1)
		log_warn("hooks: cannot restore a worker's priority: %s",
		    strerror(errno));
}

/* The end of a budgeted run: no more deadline, the thread's priority back. */
void
hooks_js_budget_end(struct hooks_heap *hh)
{
	hh->deadline = 0;
	hh->slow_at = 0;
	hooks_nice_leave(hh->nice_prio);
	hh->nice_prio = INT_MIN;
}

/*
 * Whether an allocation of size must be refused because the running call's
 * budget is spent, by the coarse clock (a few nanoseconds to read, one tick
 * behind the fine one, so never early). A few kilobytes past the deadline
 * are still granted, so that the error that ends the call can be built and
 * tell the script's file and line.
 */
static int
hooks_overdue(struct hooks_heap *hh, size_t size)
{
	struct timespec	 ts;

	if (hh->deadline == 0)
		return (0);
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	if ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 < hh->deadline)
		return (0);
	hh->timed_out = 1;
	if (size <= hh->grace) {
		hh->grace -= size;
		return (0);
	}
	return (1);
}

/* Called by Duktape every 16k instructions and 64k regexp steps. */
duk_bool_t
hooks_js_timeout_check(void *udata)
{
	struct hooks_heap	*hh = udata;
	int64_t			 now;

	if (hh == NULL || hh->deadline == 0)
		return (0);
	now = hooks_now();
	if (hh->slow_at != 0 && now >= hh->slow_at) {
		hh->slow_at = 0;
		hh->nice_prio = hooks_nice_enter();
	}
	if (now < hh->deadline)
		return (0);
	if (!hh->timed_out)
		hh->grace = HOOKS_GRACE;	/* for the error */
	hh->timed_out = 1;
	return (1);
}

/* A budgeted run starts: hook_timeout_ms from now. */
void
hooks_js_budget_start(struct hooks_heap *hh)
{
	int	 ms;

	ms = cfg != NULL ? cfg->hook_timeout_ms : DEFAULT_HOOK_TIMEOUT_MS;

	hh->timed_out = 0;
	hh->out_of_memory = 0;
	hh->grace = HOOKS_GRACE;
	hh->nice_prio = INT_MIN;
	hh->slow_at = hooks_now() + HOOKS_SLOW_MS;
	hh->deadline = hh->slow_at - HOOKS_SLOW_MS + (ms > 0 ? ms : 1);
}

/*
 * The heap's allocator: plain malloc with a size header, so that one app
 * cannot take all the memory (Duktape gets NULL and throws a RangeError).
 * Once the budget is spent it refuses every allocation: most built-ins
 * that run long in C (join, repeat, JSON, concatenation) allocate as they
 * go, and so stop there, where the interrupt counter cannot see them.
 */
union hooks_block {
	size_t		 size;
	max_align_t	 align;
};

static void *
hooks_mem_alloc(void *udata, duk_size_t size)
{
	struct hooks_heap	*hh = udata;
	union hooks_block	*b;

	if (size == 0 || hooks_overdue(hh, size))
		return (NULL);
	if (size > HOOKS_HEAP_MAX - hh->used) {
		hh->out_of_memory = 1;
		return (NULL);
	}
	if ((b = malloc(sizeof *b + size)) == NULL)
		return (NULL);
	b->size = size;
	hh->used += size;
	return (b + 1);
}

static void
hooks_mem_free(void *udata, void *ptr)
{
	struct hooks_heap	*hh = udata;
	union hooks_block	*b;

	if (ptr == NULL)
		return;
	b = (union hooks_block *)ptr - 1;
	hh->used -= b->size;
	free(b);
}

static void *
hooks_mem_realloc(void *udata, void *ptr, duk_size_t size)
{
	struct hooks_heap	*hh = udata;
	union hooks_block	*b, *nb;
	size_t			 old;

	if (ptr == NULL)
		return (hooks_mem_alloc(udata, size));
	if (size == 0) {
		hooks_mem_free(udata, ptr);
		return (NULL);
	}
	b = (union hooks_block *)ptr - 1;
	old = b->size;
	if (size > old && hooks_overdue(hh, size - old))
		return (NULL);
	if (size > old && size - old > HOOKS_HEAP_MAX - hh->used) {
		hh->out_of_memory = 1;
		return (NULL);
	}
	if ((nb = realloc(b, sizeof *nb + size)) == NULL)
		return (NULL);
	nb->size = size;
	hh->used = hh->used - old + size;
	return (nb + 1);
}

/* Only reached by a Duktape call outside a protected call: a bug. */
static void
hooks_fatal(void *udata, const char *msg)
{
	(void)udata;
	fatal("hooks: duktape: %s", msg != NULL ? msg : "fatal error");
}

static struct hooks_heap *
hooks_udata(duk_context *ctx)
{
	duk_memory_functions	 funcs;

	duk_get_memory_functions(ctx, &funcs);
	return (funcs.udata);
}

/* Copies a log text, turning control characters into spaces. */
static void
hooks_clean(char *dst, const char *src, size_t size)
{
	size_t	 i;

	for (i = 0; i + 1 < size && src[i] != '\0'; i++)
		dst[i] = ((unsigned char)src[i] < 0x20) ? ' ' : src[i];
	dst[i] = '\0';
}

/* onRecordCreate([collection,] fn) and its five siblings. */
static duk_ret_t
hooks_js_register(duk_context *ctx)
{
	const struct hooks_reg	*reg;

	reg = &hooks_js_regs[duk_get_current_magic(ctx)];

	if (duk_is_function(ctx, 0)) {
		duk_set_top(ctx, 1);
		duk_push_null(ctx);
		duk_insert(ctx, 0);
	} else if (!duk_is_string(ctx, 0) ||
	    !name_valid(duk_get_string(ctx, 0)))
		return (duk_type_error(ctx, "%s: the first argument must be "
		    "a collection name or a function", reg->function));
	if (!duk_is_function(ctx, 1))
		return (duk_type_error(ctx, "%s: the hook must be a function",
		    reg->function));

	duk_push_global_stash(ctx);
	duk_get_prop_string(ctx, -1, "handlers");
	duk_push_object(ctx);
	duk_push_int(ctx, duk_get_current_magic(ctx));
	duk_put_prop_string(ctx, -2, "reg");
	duk_dup(ctx, 0);
	duk_put_prop_string(ctx, -2, "collection");
	duk_dup(ctx, 1);
	duk_put_prop_string(ctx, -2, "fn");
	duk_put_prop_index(ctx, -2, (duk_uarridx_t)duk_get_length(ctx, -2));
	return (0);
}

/* $app.log(...): the arguments, objects as JSON, joined by spaces. */
static duk_ret_t
hooks_js_log(duk_context *ctx)
{
	struct hooks_heap	*hh = hooks_udata(ctx);
	duk_idx_t		 i, n = duk_get_top(ctx);
	char			 line[HOOKS_LOG_MAX];

	for (i = 0; i < n; i++) {
		if (duk_is_object(ctx, i) && !duk_is_function(ctx, i) &&
		    !duk_is_error(ctx, i))
			duk_json_encode(ctx, i);
		else
			duk_to_string(ctx, i);
	}
	duk_push_string(ctx, " ");
	duk_insert(ctx, 0);
	duk_join(ctx, n);
	hooks_clean(line, duk_get_string(ctx, -1), sizeof line);
	log_info("hook %s/%s: %s", hh->src->realm, hh->src->app, line);
	return (0);
}

/* Appends to the event log inside the running write's transaction. */
static int64_t
hooks_publish_here(struct worker *w, struct hooks_publish *p, struct error *err)
{
	int64_t			 id;

	if (hooks_coll_exists(w->store, p->realm, p->app, p->coll, err) == -1)
		return (-1);
	if ((id = store_event_append(w->store, p->realm, p->app, p->coll,
	    NULL, p->type, p->data, NULL)) == -1) {
		error_set(err, ERR_INTERNAL, "%s", store_errmsg(w->store));
		return (-1);
	}
	return (id);
}

static int
hooks_publish_apply(struct worker *w, struct write_op *op)
{
	struct hooks_publish	*p = op->arg;

	p->id = hooks_publish_here(w, p, op->err);
	return (p->id == -1 ? -1 : 0);
}

/* After commit: the event goes through the writer like any other write. */
static int64_t
hooks_publish_writer(struct hooks_heap *hh, struct hooks_publish *p,
    struct error *err)
{
	struct write_op	 op;
	int64_t		 start = hooks_now();

	memset(&op, 0, sizeof op);
	op.apply = hooks_publish_apply;
	op.arg = p;
	op.err = err;
	p->id = -1;
	if (writer_submit(&op) != 0 || op.rc != 0) {
		if (err->code == ERR_NONE)
			error_set(err, ERR_INTERNAL, "the event is not stored");
		p->id = -1;
	}
	/* Waiting for the writer is not the hook's time. */
	if (hh->deadline != 0)
		hh->deadline += hooks_now() - start;
	return (p->id);
}

/*
 * A before hook's publish: the collection is checked now (on the worker's
 * read view), the event is appended by the writer with the record's change,
 * in the same savepoint (hooks_pubs_apply).
 */
static int64_t
hooks_publish_later(struct hooks_heap *hh, struct hooks_publish *p,
    struct error *err)
{
	if (hooks_coll_exists(hh->call->worker->store, p->realm, p->app,
	    p->coll, err) == -1)
		return (-1);
	hooks_pubs_add(hh->call->pubs, p->coll, p->type, p->data);
	return (0);
}

/* $app.realtime.publish(collection, {type, payload}). */
static duk_ret_t
hooks_js_publish(duk_context *ctx)
{
	struct hooks_heap	*hh = hooks_udata(ctx);
	struct hooks_publish	 p;
	struct error		 err, terr;
	const char		*text;
	char			*data;
	duk_size_t		 len;
	int64_t			 id;

	if (hh->call == NULL)
		return (duk_type_error(ctx, "publish: only inside a hook"));
	if (!duk_is_string(ctx, 0) || !name_valid(duk_get_string(ctx, 0)))
		return (duk_type_error(ctx, "publish: the first argument must "
		    "be a collection name"));
	if (!duk_is_object(ctx, 1) || duk_is_array(ctx, 1) ||
	    duk_is_function(ctx, 1))
		return (duk_type_error(ctx, "publish: the second argument must "
		    "be {type, payload}"));
	memset(&p, 0, sizeof p);
	p.realm = hh->src->realm;
	p.app = hh->src->app;
	p.coll = duk_get_string(ctx, 0);

	duk_get_prop_string(ctx, 1, "type");
	memset(&terr, 0, sizeof terr);
	if (duk_is_undefined(ctx, -1) || duk_is_null(ctx, -1))
		p.type = "custom";
	else if (!duk_is_string(ctx, -1))
		return (duk_type_error(ctx, "publish: the type must be a "
		    "string"));
	else if (event_type_valid(duk_get_string(ctx, -1), &terr) == -1)
		return (duk_type_error(ctx, "publish: %s", terr.message));
	else
		p.type = duk_get_string(ctx, -1);

	duk_get_prop_string(ctx, 1, "payload");
	if (duk_is_undefined(ctx, -1)) {
		duk_pop(ctx);
		duk_push_null(ctx);
	}
	if (duk_json_encode(ctx, -1) == NULL)
		return (duk_type_error(ctx, "publish: no JSON payload"));
	text = duk_get_lstring(ctx, -1, &len);
	if (cfg != NULL && len > cfg->max_body_size)
		return (duk_range_error(ctx, "publish: the payload is over "
		    "max_body_size"));
	/* Duktape's text is CESU-8; the log holds UTF-8. Freed before any
	 * throw below, which would not come back here. */
	data = xstrndup(text, len);
	data[jsonutil_from_cesu8(data, len)] = '\0';
	p.data = data;

	memset(&err, 0, sizeof err);
	if (hh->call->before)
		id = hooks_publish_later(hh, &p, &err);
	else
		id = hooks_publish_writer(hh, &p, &err);
	free(data);
	if (id == -1)
		return (duk_error(ctx, err.code == ERR_NOT_FOUND ?
		    DUK_ERR_TYPE_ERROR : DUK_ERR_RANGE_ERROR, "publish: %s",
		    err.message));
	/* A before hook's event has no id until the write commits. */
	if (hh->call->before)
		duk_push_null(ctx);
	else
		duk_push_number(ctx, (double)id);
	return (1);
}

/* Sets up the globals every hooks file sees. */
static void
hooks_globals(duk_context *ctx, struct hooks_app *src)
{
	size_t	 i;

	duk_push_global_stash(ctx);
	duk_push_array(ctx);
	duk_put_prop_string(ctx, -2, "handlers");
	duk_pop(ctx);

	duk_push_global_object(ctx);
	for (i = 0; i < HOOKS_NREGS; i++) {
		duk_push_c_function(ctx, hooks_js_register, 2);
		duk_set_magic(ctx, -1, (duk_int_t)i);
		duk_put_prop_string(ctx, -2, hooks_js_regs[i].function);
	}
	duk_push_object(ctx);
	duk_push_string(ctx, src->realm);
	duk_put_prop_string(ctx, -2, "realm");
	duk_push_string(ctx, src->app);
	duk_put_prop_string(ctx, -2, "name");
	duk_push_c_function(ctx, hooks_js_log, DUK_VARARGS);
	duk_put_prop_string(ctx, -2, "log");
	duk_push_object(ctx);
	duk_push_c_function(ctx, hooks_js_publish, 2);
	duk_put_prop_string(ctx, -2, "publish");
	duk_put_prop_string(ctx, -2, "realtime");
	duk_put_prop_string(ctx, -2, "$app");
	duk_pop(ctx);
}

/*
 * An error thrown by a native function names this C file: the script's
 * line is the first "(file.js:N)" frame of its stack.
 */
static void
hooks_blame(struct hooks_fault *f, const char *stack)
{
	const char	*open, *close, *colon;
	size_t		 len;

	while ((open = strchr(stack, '(')) != NULL) {
		if ((close = strchr(open, ')')) == NULL)
			return;
		for (colon = close; colon > open && *colon != ':'; colon--)
			continue;
		len = colon - open - 1;
		if (colon > open && len > 3 && len < sizeof f->file &&
		    strncmp(colon - 3, ".js", 3) == 0) {
			memcpy(f->file, open + 1, len);
			f->file[len] = '\0';
			f->line = strtol(colon + 1, NULL, 10);
			return;
		}
		stack = close;
	}
}

/* Reads the thrown value on the stack top into a hooks_fault. */
static duk_ret_t
hooks_describe_safe(duk_context *ctx, void *udata)
{
	struct hooks_fault	*f = udata;

	if (duk_is_error(ctx, -1))
		f->code = duk_get_error_code(ctx, -1);
	if (duk_is_object(ctx, -1)) {
		duk_get_prop_string(ctx, -1, "fileName");
		if (duk_is_string(ctx, -1))
			strlcpy_b(f->file, duk_get_string(ctx, -1),
			    sizeof f->file);
		duk_pop(ctx);
		duk_get_prop_string(ctx, -1, "lineNumber");
		if (duk_is_number(ctx, -1))
			f->line = (long)duk_get_number(ctx, -1);
		duk_pop(ctx);
		duk_get_prop_string(ctx, -1, "message");
		if (duk_is_string(ctx, -1))
			strlcpy_b(f->message, duk_get_string(ctx, -1),
			    sizeof f->message);
		duk_pop(ctx);
		duk_get_prop_string(ctx, -1, "stack");
		if (duk_is_string(ctx, -1) && (strlen(f->file) < 3 ||
		    strcmp(f->file + strlen(f->file) - 3, ".js") != 0))
			hooks_blame(f, duk_get_string(ctx, -1));
		duk_pop(ctx);
	}
	duk_dup(ctx, -1);
	strlcpy_b(f->text, duk_safe_to_string(ctx, -1), sizeof f->text);
	if (f->message[0] == '\0' && f->code == DUK_ERR_NONE)
		strlcpy_b(f->message, f->text, sizeof f->message);
	return (0);
}

/* Pops the thrown value and describes it. */
static void
hooks_describe(duk_context *ctx, struct hooks_fault *f)
{
	memset(f, 0, sizeof *f);
	f->code = DUK_ERR_NONE;
	if (duk_safe_call(ctx, hooks_describe_safe, f, 1, 0) !=
	    DUK_EXEC_SUCCESS) {
		f->code = DUK_ERR_ERROR;
		strlcpy_b(f->text, "an error that cannot be shown",
		    sizeof f->text);
	}
	if (f->file[0] == '\0')
		strlcpy_b(f->file, "?", sizeof f->file);
}

/* Evaluates the files in order; the error is left on the stack. */
static duk_ret_t
hooks_load_safe(duk_context *ctx, void *udata)
{
	struct hooks_heap	*hh = udata;
	size_t			 i;

	hooks_globals(ctx, hh->src);
	for (i = 0; i < hh->src->nfiles; i++) {
		struct hooks_file	*f = &hh->src->files[i];

		duk_push_string(ctx, f->path);
		duk_compile_lstring_filename(ctx, 0, f->text, f->len);
		hooks_js_budget_start(hh);
		duk_call(ctx, 0);
		hooks_js_budget_end(hh);
		duk_pop(ctx);
	}
	return (0);
}

void
hooks_js_heap_free(struct hooks_heap *hh)
{
	if (hh == NULL)
		return;
	if (hh->ctx != NULL)
		duk_destroy_heap(hh->ctx);
	free(hh);
}

/* Builds a heap for src and runs its files; NULL after logging why not. */
struct hooks_heap *
hooks_js_heap_new(struct hooks_app *src)
{
	struct hooks_heap	*hh;
	struct hooks_fault	 f;

	hh = xcalloc(1, sizeof *hh);
	hh->src = src;
	hh->ctx = duk_create_heap(hooks_mem_alloc, hooks_mem_realloc,
	    hooks_mem_free, hh, hooks_fatal);
	if (hh->ctx == NULL) {
		log_error("hooks %s/%s: cannot create a JavaScript heap",
		    src->realm, src->app);
		free(hh);
		return (NULL);
	}
	if (duk_safe_call(hh->ctx, hooks_load_safe, hh, 0, 1) ==
	    DUK_EXEC_SUCCESS) {
		duk_pop(hh->ctx);
		return (hh);
	}
	hooks_js_budget_end(hh);
	hooks_describe(hh->ctx, &f);
	if (hh->timed_out)
		log_error("hooks: %s:%ld: ran out of time (%d ms) loading",
		    f.file, f.line, cfg->hook_timeout_ms);
	else
		log_error("hooks: %s:%ld: %s", f.file, f.line, f.text);
	hooks_js_heap_free(hh);
	return (NULL);
}

/* Turns what a hook threw into the request's error and a log line. */
static int
hooks_fault(struct hooks_heap *hh, int reg, const char *coll,
    struct hooks_fault *f, struct error *err)
{
	const char	*realm = hh->src->realm, *app = hh->src->app;
	const char	*fn = hooks_js_regs[reg].function;

	if (hh->timed_out) {
		log_error("hook %s/%s: %s:%ld: %s on '%s' ran out of time "
		    "(%d ms)", realm, app, f->file, f->line, fn, coll,
		    cfg->hook_timeout_ms);
		if (err != NULL) {
			error_set(err, ERR_HOOK_FAILED,
			    "a hook ran out of time");
			error_logged(err);
		}
		return (-1);
	}
	if (hh->out_of_memory) {
		log_error("hook %s/%s: %s:%ld: %s on '%s' ran out of memory "
		    "(%d MB)", realm, app, f->file, f->line, fn, coll,
		    HOOKS_HEAP_MAX / (1024 * 1024));
		if (err != NULL) {
			error_set(err, ERR_HOOK_FAILED,
			    "a hook ran out of memory");
			error_logged(err);
		}
		return (-1);
	}
	if (f->code != DUK_ERR_ERROR && f->code != DUK_ERR_NONE) {
		log_error("hook %s/%s: %s:%ld: %s", realm, app, f->file,
		    f->line, f->text);
		if (err != NULL) {
			error_set(err, ERR_HOOK_FAILED, "a hook failed");
			error_logged(err);
		}
		return (-1);
	}
	if (f->message[0] == '\0')
		strlcpy_b(f->message, "refused by a hook", sizeof f->message);
	if (err == NULL) {
		log_warn("hook %s/%s: %s:%ld: %s on '%s' threw after the "
		    "commit, the write stands: %s", realm, app, f->file,
		    f->line, fn, coll, f->message);
		return (-1);
	}
	log_info("hook %s/%s: %s on '%s' refused the write: %s", realm, app,
	    fn, coll, f->message);
	error_set(err, ERR_HOOK_REJECTED, "%s", f->message);
	return (-1);
}

/*
 * Why a call stopped, from the value it left on the stack top (popped):
 * what it threw, or (threw 0) nothing, the script having caught the
 * timeout and gone on.
 */
int
hooks_js_fault(struct hooks_heap *hh, int reg, const char *coll, int threw,
    struct error *err)
{
	struct hooks_fault	 f;

	if (threw)
		hooks_describe(hh->ctx, &f);
	else {
		duk_pop(hh->ctx);
		memset(&f, 0, sizeof f);
		strlcpy_b(f.file, "?", sizeof f.file);
	}
	return (hooks_fault(hh, reg, coll, &f, err));
}
