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
 * Per-app JavaScript hooks: loads the .js files of hooks_dir/<realm>/<app>,
 * keeps one Duktape heap per (thread, app), runs record hooks and $app.
 *
 * The loaded source is shared and immutable: a reload builds new entries
 * and bumps hooks_generation under hooks_lock. Each thread owns its heaps
 * and, when it sees a new generation, drops those whose app changed; the
 * next call rebuilds them. Heaps never cross threads.
 *
 * Hooks run on worker threads only, never in the writer: a before hook's
 * publishes are kept (struct hooks_pubs) for the writer to append with the
 * write. hooks_gate_lock guards the per-app count of running calls and
 * their queues; nothing is called while it is held but list handling, and
 * worker_enqueue after it is released.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duk_basalt.h"
#include <duktape.h>

#include "basalt.h"

#define HOOKS_FILE_MAX		(1024 * 1024)	/* bytes of a hooks file */
#define HOOKS_FILES_MAX		256		/* files of one app */
#define HOOKS_HEAP_MAX		(64 * 1024 * 1024) /* bytes of a heap */
#define HOOKS_LOG_MAX		2048		/* bytes of a $app.log line */
#define HOOKS_NICE		10		/* a slow hook's CPU yields */
#define HOOKS_SLOW_MS		10		/* a call is slow after this */
#define HOOKS_GRACE		(64 * 1024)	/* bytes allowed past the
						   deadline: the error */

/* One hooks file. */
struct hooks_file {
	char		*name;		/* "validate.js": the sort key */
	char		*path;		/* what errors and logs show */
	char		*text;
	size_t		 len;
};

/* The hooks of one app as loaded: immutable once shared. */
struct hooks_app {
	int		 refs;		/* under hooks_lock */
	int		 bad;		/* a file could not be read */
	char		 realm[MAX_NAME_LEN + 1];
	char		 app[MAX_NAME_LEN + 1];
	struct hooks_file *files;
	size_t		 nfiles;
};

/* A publish made by a before hook, kept for the write's transaction. */
struct hooks_pub {
	char		*coll;
	char		*type;
	char		*data;
	struct hooks_pub *next;
};

struct hooks_pubs {
	struct hooks_pub *head;
	struct hooks_pub **tail;
};

/* What the running call is about, for the native functions. */
struct hooks_call {
	struct worker	*worker;
	int		 before;	/* publishes wait for the write */
	struct hooks_pubs *pubs;	/* where they wait (before hooks) */
};

/* Hook calls of one app running now, and the requests waiting for one. */
struct hooks_gate {
	char		 realm[MAX_NAME_LEN + 1];
	char		 app[MAX_NAME_LEN + 1];
	int		 running;
	struct hooks_wait *head, **tail;
	struct hooks_gate *next;
};

/* One thread's heap for one app. */
struct hooks_heap {
	struct hooks_app *src;		/* a reference the owner holds */
	duk_context	*ctx;
	int64_t		 deadline;	/* monotonic ms; 0: no budget */
	int64_t		 slow_at;	/* when the call counts as slow */
	int		 nice_prio;	/* to restore, or INT_MIN */
	size_t		 grace;		/* bytes left past the deadline */
	int		 timed_out;
	int		 out_of_memory;	/* HOOKS_HEAP_MAX was reached */
	size_t		 used;		/* bytes the heap holds */
	struct hooks_call *call;	/* NULL between calls */
	struct hooks_heap *next;
};

struct hooks {
	unsigned long	 generation;
	struct hooks_heap *heaps;
};

/* A thrown value, read into C. */
struct hooks_fault {
	int		 code;		/* DUK_ERR_*; DUK_ERR_NONE: no Error */
	char		 message[256];
	char		 text[512];	/* "TypeError: ..." */
	char		 file[PATH_MAX];
	long		 line;
};

/* The arguments of one protected run of handlers. */
struct hooks_run {
	int		 reg;
	const char	*what;
	const char	*coll;
	json_object	*record;
	int		 copy_back;
	int		 found;		/* some handler ran */
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
static const struct hooks_reg {
	const char	*function;
	const char	*what;
	int		 after;
} hooks_regs[] = {
	{ "onRecordCreate",		"create",	0 },
	{ "onRecordUpdate",		"update",	0 },
	{ "onRecordDelete",		"delete",	0 },
	{ "onRecordAfterCreate",	"create",	1 },
	{ "onRecordAfterUpdate",	"update",	1 },
	{ "onRecordAfterDelete",	"delete",	1 },
};
#define HOOKS_NREGS	(sizeof hooks_regs / sizeof hooks_regs[0])

static pthread_mutex_t	 hooks_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t	 hooks_reload_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t	 hooks_once = PTHREAD_ONCE_INIT;
static struct hooks_app	**hooks_apps;	/* changed under both locks */
static size_t		 hooks_napps;
static unsigned long	 hooks_generation;
static int		 hooks_loaded;
static pthread_once_t	 hooks_nice_once = PTHREAD_ONCE_INIT;
static int		 hooks_nice_ok;	/* set once by hooks_nice_probe */
static pthread_mutex_t	 hooks_gate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hooks_gate *hooks_gates;	/* under hooks_gate_lock */

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
static void
hooks_budget_end(struct hooks_heap *hh)
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

static int	hooks_nice_enter(void);

/* Called by Duktape every 16k instructions and 64k regexp steps. */
duk_bool_t
hooks_timeout_check(void *udata)
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

static void
hooks_budget_start(struct hooks_heap *hh)
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

	reg = &hooks_regs[duk_get_current_magic(ctx)];

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

/* Whether the collection exists: 0, or -1 with err set. */
static int
hooks_coll_exists(struct store *st, const char *realm, const char *app,
    const char *coll, struct error *err)
{
	struct scope_ids	 ids;
	const char		*missing = NULL;

	switch (store_resolve(st, realm, app, coll, &ids, &missing)) {
	case STORE_OK:
		return (0);
	case STORE_NOTFOUND:
		return (error_set(err, ERR_NOT_FOUND,
		    "collection '%s' not found", coll));
	default:
		return (error_set(err, ERR_INTERNAL, "%s", store_errmsg(st)));
	}
}

/* Appends to the event log inside the running write's transaction. */
static int64_t
hooks_publish_here(struct worker *w, struct hooks_publish *p, struct error *err)
{
	int64_t			 id;

	if (hooks_coll_exists(w->store, p->realm, p->app, p->coll, err) == -1)
		return (-1);
	if ((id = store_event_append(w->store, p->realm, p->app, p->coll,
	    NULL, p->type, p->data)) == -1) {
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
	struct hooks_pubs	*pubs = hh->call->pubs;
	struct hooks_pub	*e;

	if (hooks_coll_exists(hh->call->worker->store, p->realm, p->app,
	    p->coll, err) == -1)
		return (-1);
	e = xcalloc(1, sizeof *e);
	e->coll = xstrdup(p->coll);
	e->type = xstrdup(p->type);
	e->data = xstrdup(p->data);
	*pubs->tail = e;
	pubs->tail = &e->next;
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
		duk_put_prop_string(ctx, -2, hooks_regs[i].function);
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
 * An error thrown by a native function names hooks.c: the script's line is
 * the first "(file.js:N)" frame of its stack.
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
		hooks_budget_start(hh);
		duk_call(ctx, 0);
		hooks_budget_end(hh);
		duk_pop(ctx);
	}
	return (0);
}

static void
hooks_heap_free(struct hooks_heap *hh)
{
	if (hh == NULL)
		return;
	if (hh->ctx != NULL)
		duk_destroy_heap(hh->ctx);
	free(hh);
}

/* Builds a heap for src and runs its files; NULL after logging why not. */
static struct hooks_heap *
hooks_heap_new(struct hooks_app *src)
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
	hooks_budget_end(hh);
	hooks_describe(hh->ctx, &f);
	if (hh->timed_out)
		log_error("hooks: %s:%ld: ran out of time (%d ms) loading",
		    f.file, f.line, cfg->hook_timeout_ms);
	else
		log_error("hooks: %s:%ld: %s", f.file, f.line, f.text);
	hooks_heap_free(hh);
	return (NULL);
}

/* Whether the handler at idx is registered for reg and coll. */
static int
hooks_matches(duk_context *ctx, duk_idx_t idx, int reg, const char *coll)
{
	int	 match;

	idx = duk_normalize_index(ctx, idx);
	duk_get_prop_string(ctx, idx, "reg");
	match = duk_get_int(ctx, -1) == reg;
	duk_pop(ctx);
	if (!match)
		return (0);
	duk_get_prop_string(ctx, idx, "collection");
	match = duk_is_null(ctx, -1) ||
	    strcmp(duk_get_string(ctx, -1), coll) == 0;
	duk_pop(ctx);
	return (match);
}

/* Pushes e = {action, collection, record} and returns its index. */
static duk_idx_t
hooks_push_event(duk_context *ctx, struct hooks_run *r)
{
	duk_push_object(ctx);
	duk_push_string(ctx, r->what);
	duk_put_prop_string(ctx, -2, "action");
	duk_push_string(ctx, r->coll);
	duk_put_prop_string(ctx, -2, "collection");
	duk_push_string(ctx, json_object_to_json_string_ext(r->record,
	    JSON_C_TO_STRING_PLAIN));
	duk_json_decode(ctx, -1);
	duk_put_prop_string(ctx, -2, "record");
	return (duk_get_top_index(ctx));
}

/* Pushes JSON.stringify(e.record.fields), which must be an object. */
static void
hooks_push_fields(duk_context *ctx, duk_idx_t e)
{
	duk_get_prop_string(ctx, e, "record");
	duk_get_prop_string(ctx, -1, "fields");
	if (!duk_is_object(ctx, -1) || duk_is_array(ctx, -1) ||
	    duk_is_function(ctx, -1))
		(void)duk_type_error(ctx, "e.record.fields must be an object");
	duk_json_encode(ctx, -1);
	duk_remove(ctx, -2);
}

/*
 * Runs the matching handlers in the order they were registered. Returns
 * the new fields as JSON when a before hook changed them, else undefined.
 */
static duk_ret_t
hooks_run_safe(duk_context *ctx, void *udata)
{
	struct hooks_run	*r = udata;
	duk_idx_t		 handlers, e, fields;
	duk_size_t		 i, n, found = 0;

	duk_push_global_stash(ctx);
	duk_get_prop_string(ctx, -1, "handlers");
	handlers = duk_get_top_index(ctx);
	n = duk_get_length(ctx, handlers);
	for (i = 0; i < n; i++) {
		duk_get_prop_index(ctx, handlers, (duk_uarridx_t)i);
		found += hooks_matches(ctx, -1, r->reg, r->coll);
		duk_pop(ctx);
	}
	r->found = found > 0;
	if (found == 0) {
		duk_push_undefined(ctx);
		return (1);
	}

	e = hooks_push_event(ctx, r);
	if (r->copy_back)
		hooks_push_fields(ctx, e);
	else
		duk_push_undefined(ctx);
	fields = duk_get_top_index(ctx);
	for (i = 0; i < n; i++) {
		duk_get_prop_index(ctx, handlers, (duk_uarridx_t)i);
		if (hooks_matches(ctx, -1, r->reg, r->coll)) {
			duk_get_prop_string(ctx, -1, "fn");
			duk_dup(ctx, e);
			duk_call(ctx, 1);
			duk_pop(ctx);
		}
		duk_pop(ctx);
	}

	if (!r->copy_back) {
		duk_push_undefined(ctx);
		return (1);
	}
	hooks_push_fields(ctx, e);
	if (strcmp(duk_get_string(ctx, -1), duk_get_string(ctx, fields)) == 0)
		duk_push_undefined(ctx);
	return (1);
}

/* Turns what a hook threw into the request's error and a log line. */
static int
hooks_fault(struct hooks_heap *hh, int reg, const char *coll,
    struct hooks_fault *f, struct error *err)
{
	const char	*realm = hh->src->realm, *app = hh->src->app;
	const char	*fn = hooks_regs[reg].function;

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

/* Puts the fields a before hook made into the record. */
static int
hooks_copy_back(struct hooks_heap *hh, json_object *record,
    struct error *err)
{
	const char	*text;
	char		*copy;
	duk_size_t	 len;
	json_object	*fields;

	if (!duk_is_string(hh->ctx, -1))
		return (0);
	text = duk_get_lstring(hh->ctx, -1, &len);
	/* What a hook hands back obeys the limit a body does. */
	if (cfg != NULL && len > cfg->max_body_size) {
		log_error("hook %s/%s: the fields a hook made are %zu bytes, "
		    "over max_body_size (%zu)", hh->src->realm, hh->src->app,
		    (size_t)len, cfg->max_body_size);
		error_set(err, ERR_HOOK_FAILED, "a hook made the record "
		    "larger than max_body_size (%zu bytes)", cfg->max_body_size);
		return (error_logged(err));
	}
	/* Duktape's text is CESU-8: a character beyond U+FFFF becomes UTF-8. */
	copy = xstrndup(text, len);
	len = jsonutil_from_cesu8(copy, len);
	fields = jsonutil_parse(copy, len);
	free(copy);
	if (fields == NULL || !json_object_is_type(fields, json_type_object)) {
		json_object_put(fields);
		log_error("hook %s/%s: the fields a hook made cannot be "
		    "stored (nested too deep)", hh->src->realm, hh->src->app);
		error_set(err, ERR_HOOK_FAILED, "a hook failed");
		return (error_logged(err));
	}
	json_object_object_add(record, "fields", fields);
	return (0);
}

/*
 * Runs the handlers of reg on record: 0, or -1 with err set (if given).
 * *found tells whether any handler ran; a before hook's publishes go to
 * pubs.
 */
static int
hooks_call(struct hooks_heap *hh, struct worker *w, int reg,
    const char *coll, json_object *record, struct hooks_pubs *pubs,
    int *found, struct error *err)
{
	struct hooks_call	 call;
	struct hooks_run	 r;
	struct hooks_fault	 f;
	int			 rc;

	call.worker = w;
	call.before = !hooks_regs[reg].after;
	call.pubs = pubs;
	memset(&r, 0, sizeof r);
	r.reg = reg;
	r.what = hooks_regs[reg].what;
	r.coll = coll;
	r.record = record;
	r.copy_back = call.before && strcmp(r.what, "delete") != 0;
	*found = 1;

	hh->call = &call;
	hooks_budget_start(hh);
	rc = duk_safe_call(hh->ctx, hooks_run_safe, &r, 0, 1);
	hooks_budget_end(hh);
	hh->call = NULL;
	if (rc == DUK_EXEC_SUCCESS)
		*found = r.found;
	if (rc != DUK_EXEC_SUCCESS) {
		hooks_describe(hh->ctx, &f);
		return (hooks_fault(hh, reg, coll, &f, err));
	}
	if (hh->timed_out) {
		/* The script caught the timeout and went on. */
		duk_pop(hh->ctx);
		memset(&f, 0, sizeof f);
		strlcpy_b(f.file, "?", sizeof f.file);
		return (hooks_fault(hh, reg, coll, &f, err));
	}
	rc = call.before ? hooks_copy_back(hh, record, err) : 0;
	duk_pop(hh->ctx);
	return (rc);
}

static struct hooks_app *
hooks_find(struct hooks_app **list, size_t n, const char *realm,
    const char *app)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (strcmp(list[i]->realm, realm) == 0 &&
		    strcmp(list[i]->app, app) == 0)
			return (list[i]);
	}
	return (NULL);
}

static void
hooks_app_free(struct hooks_app *a)
{
	size_t	 i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nfiles; i++) {
		free(a->files[i].name);
		free(a->files[i].path);
		free(a->files[i].text);
	}
	free(a->files);
	free(a);
}

static void
hooks_app_ref(struct hooks_app *a)
{
	pthread_mutex_lock(&hooks_lock);
	a->refs++;
	pthread_mutex_unlock(&hooks_lock);
}

static void
hooks_app_unref(struct hooks_app *a)
{
	int	 refs;

	if (a == NULL)
		return;
	pthread_mutex_lock(&hooks_lock);
	refs = --a->refs;
	pthread_mutex_unlock(&hooks_lock);
	if (refs == 0)
		hooks_app_free(a);
}

/* Drops this thread's heaps whose app was reloaded or removed. */
static void
hooks_sync(struct hooks *h)
{
	struct hooks_heap	*hh, **pp, *gone = NULL;
	struct hooks_app	*src;

	pthread_mutex_lock(&hooks_lock);
	if (h->generation == hooks_generation) {
		pthread_mutex_unlock(&hooks_lock);
		return;
	}
	pp = &h->heaps;
	while ((hh = *pp) != NULL) {
		src = hooks_find(hooks_apps, hooks_napps, hh->src->realm,
		    hh->src->app);
		if (src == hh->src) {
			pp = &hh->next;
			continue;
		}
		*pp = hh->next;
		hh->next = gone;
		gone = hh;
	}
	h->generation = hooks_generation;
	pthread_mutex_unlock(&hooks_lock);

	while ((hh = gone) != NULL) {
		gone = hh->next;
		src = hh->src;
		hooks_heap_free(hh);
		hooks_app_unref(src);
	}
}

static void
hooks_first_load(void)
{
	int	 loaded;

	pthread_mutex_lock(&hooks_lock);
	loaded = hooks_loaded;
	pthread_mutex_unlock(&hooks_lock);
	if (!loaded)
		hooks_reload_all();
}

enum { HOOKS_NONE, HOOKS_READY, HOOKS_BROKEN };

/* This thread's heap for realm/app, built on first use. */
static int
hooks_heap_get(struct hooks *h, const char *realm, const char *app,
    struct hooks_heap **out)
{
	struct hooks_heap	*hh;
	struct hooks_app	*src;

	pthread_once(&hooks_once, hooks_first_load);
	hooks_sync(h);
	for (hh = h->heaps; hh != NULL; hh = hh->next) {
		if (strcmp(hh->src->realm, realm) == 0 &&
		    strcmp(hh->src->app, app) == 0) {
			*out = hh;
			return (HOOKS_READY);
		}
	}

	pthread_mutex_lock(&hooks_lock);
	if ((src = hooks_find(hooks_apps, hooks_napps, realm, app)) != NULL)
		src->refs++;
	pthread_mutex_unlock(&hooks_lock);
	if (src == NULL)
		return (HOOKS_NONE);
	if ((hh = hooks_heap_new(src)) == NULL) {
		hooks_app_unref(src);
		return (HOOKS_BROKEN);
	}
	hh->next = h->heaps;
	h->heaps = hh;
	*out = hh;
	return (HOOKS_READY);
}

static int
hooks_str_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

static int
hooks_file_cmp(const void *a, const void *b)
{
	const struct hooks_file	*fa = a, *fb = b;

	return (strcmp(fa->name, fb->name));
}

/* The subdirectories of dir that are valid names, sorted. */
static size_t
hooks_subdirs(const char *dir, char ***out)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		*path, **names = NULL;
	size_t		 n = 0;

	*out = NULL;
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			log_debug("hooks: no directory %s", dir);
		else
			log_warn("hooks: %s: %s", dir, strerror(errno));
		return (0);
	}
	while ((de = readdir(d)) != NULL) {
		if (!name_valid(de->d_name))
			continue;
		xasprintf(&path, "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			names = xrealloc(names, (n + 1) * sizeof *names);
			names[n++] = xstrdup(de->d_name);
		}
		free(path);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, hooks_str_cmp);
	*out = names;
	return (n);
}

/* Reads one hooks file; -1 after logging why not. */
static int
hooks_read_file(struct hooks_file *f)
{
	FILE		*fp;
	struct stat	 st;

	if ((fp = fopen(f->path, "r")) == NULL) {
		log_error("hooks: %s: %s", f->path, strerror(errno));
		return (-1);
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > HOOKS_FILE_MAX) {
		log_error("hooks: %s: not a regular file of at most %d bytes",
		    f->path, HOOKS_FILE_MAX);
		fclose(fp);
		return (-1);
	}
	f->text = xmalloc((size_t)st.st_size + 1);
	f->len = fread(f->text, 1, (size_t)st.st_size, fp);
	f->text[f->len] = '\0';
	if (ferror(fp)) {
		log_error("hooks: %s: read error", f->path);
		fclose(fp);
		return (-1);
	}
	fclose(fp);
	return (0);
}

/* The *.js files of one app's directory in name order; NULL if none. */
static struct hooks_app *
hooks_read_app(const char *realm, const char *app, const char *dir)
{
	DIR			*d;
	struct dirent		*de;
	struct hooks_app	*a;
	struct hooks_file	*f;
	size_t			 len, i;

	a = xcalloc(1, sizeof *a);
	strlcpy_b(a->realm, realm, sizeof a->realm);
	strlcpy_b(a->app, app, sizeof a->app);
	if ((d = opendir(dir)) == NULL) {
		log_error("hooks: %s: %s", dir, strerror(errno));
		a->bad = 1;
		return (a);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 4 ||
		    strcmp(de->d_name + len - 3, ".js") != 0)
			continue;
		if (a->nfiles == HOOKS_FILES_MAX) {
			log_error("hooks: %s: more than %d files", dir,
			    HOOKS_FILES_MAX);
			a->bad = 1;
			break;
		}
		a->files = xrealloc(a->files, (a->nfiles + 1) * sizeof *f);
		f = &a->files[a->nfiles++];
		memset(f, 0, sizeof *f);
		f->name = xstrdup(de->d_name);
		xasprintf(&f->path, "%s/%s", dir, de->d_name);
	}
	closedir(d);
	if (a->nfiles == 0 && !a->bad) {
		hooks_app_free(a);
		return (NULL);
	}
	qsort(a->files, a->nfiles, sizeof *a->files, hooks_file_cmp);
	for (i = 0; i < a->nfiles && !a->bad; i++) {
		if (hooks_read_file(&a->files[i]) == -1)
			a->bad = 1;
	}
	return (a);
}

/* Every app directory under hooks_dir that holds *.js files. */
static size_t
hooks_scan(struct hooks_app ***out)
{
	struct hooks_app	**list = NULL, *a;
	char			**realms, **apps, *rdir, *adir;
	size_t			 nrealms, napps, i, j, n = 0;

	*out = NULL;
	if (cfg == NULL || cfg->hooks_dir == NULL)
		return (0);
	nrealms = hooks_subdirs(cfg->hooks_dir, &realms);
	for (i = 0; i < nrealms; i++) {
		xasprintf(&rdir, "%s/%s", cfg->hooks_dir, realms[i]);
		napps = hooks_subdirs(rdir, &apps);
		for (j = 0; j < napps; j++) {
			xasprintf(&adir, "%s/%s", rdir, apps[j]);
			if ((a = hooks_read_app(realms[i], apps[j], adir)) !=
			    NULL) {
				list = xrealloc(list, (n + 1) * sizeof *list);
				list[n++] = a;
			}
			free(adir);
			free(apps[j]);
		}
		free(apps);
		free(rdir);
		free(realms[i]);
	}
	free(realms);
	*out = list;
	return (n);
}

static int
hooks_same(const struct hooks_app *a, const struct hooks_app *b)
{
	size_t	 i;

	if (a->nfiles != b->nfiles)
		return (0);
	for (i = 0; i < a->nfiles; i++) {
		if (strcmp(a->files[i].name, b->files[i].name) != 0 ||
		    a->files[i].len != b->files[i].len ||
		    memcmp(a->files[i].text, b->files[i].text,
		    a->files[i].len) != 0)
			return (0);
	}
	return (1);
}

/* Loads a's files into a throw-away heap: 0 if they all run. */
static int
hooks_check(struct hooks_app *a)
{
	struct hooks_heap	*hh;

	if (a->bad || (hh = hooks_heap_new(a)) == NULL)
		return (-1);
	hooks_heap_free(hh);
	return (0);
}

/*
 * Decides what one app directory found by a reload becomes: the new files
 * if they load, else what was loaded before. Returns the entry to keep
 * (with a reference for the new list) or NULL; *changed is set if it is new.
 */
static struct hooks_app *
hooks_adopt(struct hooks_app *a, int *changed)
{
	struct hooks_app	*prev;

	prev = hooks_find(hooks_apps, hooks_napps, a->realm, a->app);
	if (prev != NULL && !a->bad && hooks_same(prev, a)) {
		hooks_app_free(a);
		hooks_app_ref(prev);
		return (prev);
	}
	if (hooks_check(a) == 0) {
		log_info("hooks %s/%s: %zu file%s loaded", a->realm, a->app,
		    a->nfiles, a->nfiles == 1 ? "" : "s");
		a->refs = 1;
		*changed = 1;
		return (a);
	}
	if (prev != NULL) {
		log_warn("hooks %s/%s: the hooks loaded before stay in use",
		    a->realm, a->app);
		hooks_app_ref(prev);
	} else
		log_warn("hooks %s/%s: no hooks until the error is fixed",
		    a->realm, a->app);
	hooks_app_free(a);
	return (prev);
}

static int
hooks_reg_index(const char *what, int after)
{
	size_t	 i;

	for (i = 0; i < HOOKS_NREGS; i++) {
		if (hooks_regs[i].after == after &&
		    strcmp(hooks_regs[i].what, what) == 0)
			return ((int)i);
	}
	return (-1);
}

struct hooks *
hooks_new(void)
{
	pthread_once(&hooks_nice_once, hooks_nice_probe);
	pthread_once(&hooks_once, hooks_first_load);
	return (xcalloc(1, sizeof(struct hooks)));
}

void
hooks_free(struct hooks *h)
{
	struct hooks_heap	*hh;
	struct hooks_app	*src;

	if (h == NULL)
		return;
	while ((hh = h->heaps) != NULL) {
		h->heaps = hh->next;
		src = hh->src;
		hooks_heap_free(hh);
		hooks_app_unref(src);
	}
	free(h);
}

void
hooks_reload_all(void)
{
	struct hooks_app	**found, **next, **old, *a;
	size_t			 nfound, nold, n = 0, i;
	int			 changed = 0;

	pthread_mutex_lock(&hooks_reload_lock);
	nfound = hooks_scan(&found);
	next = xcalloc(nfound + 1, sizeof *next);
	for (i = 0; i < nfound; i++) {
		if ((a = hooks_adopt(found[i], &changed)) != NULL)
			next[n++] = a;
	}
	free(found);
	for (i = 0; i < hooks_napps; i++) {
		a = hooks_apps[i];
		if (hooks_find(next, n, a->realm, a->app) == NULL) {
			log_info("hooks %s/%s: unloaded", a->realm, a->app);
			changed = 1;
		}
	}

	pthread_mutex_lock(&hooks_lock);
	old = hooks_apps;
	nold = hooks_napps;
	hooks_apps = next;
	hooks_napps = n;
	if (changed)
		hooks_generation++;
	hooks_loaded = 1;
	pthread_mutex_unlock(&hooks_lock);

	for (i = 0; i < nold; i++)
		hooks_app_unref(old[i]);
	free(old);
	pthread_mutex_unlock(&hooks_reload_lock);
}

/* Whether the app has hooks loaded; lets writes skip building a record
 * object for nobody. */
int
hooks_app_has(const char *realm, const char *app)
{
	int	 has;

	pthread_once(&hooks_once, hooks_first_load);
	pthread_mutex_lock(&hooks_lock);
	has = hooks_find(hooks_apps, hooks_napps, realm, app) != NULL;
	pthread_mutex_unlock(&hooks_lock);
	return (has);
}

/*
 * A heap whose call ran out of time or memory may hold half-done state
 * (and up to HOOKS_HEAP_MAX bytes): the next call builds a fresh one.
 */
static void
hooks_heap_settle(struct hooks *h, struct hooks_heap *hh)
{
	struct hooks_heap	**pp;
	struct hooks_app	*src;

	if (!hh->timed_out && !hh->out_of_memory)
		return;
	for (pp = &h->heaps; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == hh) {
			*pp = hh->next;
			break;
		}
	}
	src = hh->src;
	hooks_heap_free(hh);
	hooks_app_unref(src);
}

int
hooks_before(struct worker *w, const char *what, const char *realm,
    const char *app, const char *coll, json_object *record,
    struct hooks_pubs **pubs, int *ran, struct error *err)
{
	struct hooks_heap	*hh;
	struct hooks_pubs	*p;
	int			 reg, rc;

	*pubs = NULL;
	*ran = 0;
	if (w->hooks == NULL || (reg = hooks_reg_index(what, 0)) == -1)
		return (0);
	switch (hooks_heap_get(w->hooks, realm, app, &hh)) {
	case HOOKS_NONE:
		return (0);
	case HOOKS_BROKEN:
		error_set(err, ERR_HOOK_FAILED, "the app's hooks did not load");
		return (-1);
	}
	p = xcalloc(1, sizeof *p);
	p->tail = &p->head;
	rc = hooks_call(hh, w, reg, coll, record, p, ran, err);
	hooks_heap_settle(w->hooks, hh);
	if (rc == -1 || p->head == NULL) {
		hooks_pubs_free(p);
		return (rc);
	}
	*pubs = p;
	return (0);
}

void
hooks_after(struct worker *w, const char *what, const char *realm,
    const char *app, const char *coll, json_object *record)
{
	struct hooks_heap	*hh;
	int			 reg, found;

	if (w->hooks == NULL || (reg = hooks_reg_index(what, 1)) == -1)
		return;
	if (hooks_heap_get(w->hooks, realm, app, &hh) != HOOKS_READY)
		return;
	(void)hooks_call(hh, w, reg, coll, record, NULL, &found, NULL);
	hooks_heap_settle(w->hooks, hh);
}

void
hooks_pubs_free(struct hooks_pubs *p)
{
	struct hooks_pub	*e;

	if (p == NULL)
		return;
	while ((e = p->head) != NULL) {
		p->head = e->next;
		free(e->coll);
		free(e->type);
		free(e->data);
		free(e);
	}
	free(p);
}

int
hooks_pubs_apply(struct store *st, const char *realm, const char *app,
    const struct hooks_pubs *p, struct error *err)
{
	struct hooks_pub	*e;

	for (e = p != NULL ? p->head : NULL; e != NULL; e = e->next) {
		/* The collection may have gone while the hook ran. */
		if (hooks_coll_exists(st, realm, app, e->coll, err) == -1)
			return (-1);
		if (store_event_append(st, realm, app, e->coll, NULL, e->type,
		    e->data) == -1)
			return (error_set(err, ERR_INTERNAL,
			    "cannot append the event"));
	}
	return (0);
}

/* Hook calls one app may run at once: hook_calls_per_app, or half the
 * workers. */
static int
hooks_gate_cap(void)
{
	int	 n;

	if (cfg == NULL)
		return (1);
	if (cfg->hook_calls_per_app > 0)
		return (cfg->hook_calls_per_app);
	n = cfg->workers / 2;
	return (n > 0 ? n : 1);
}

static struct hooks_gate *
hooks_gate_find(const char *realm, const char *app, int create)
{
	struct hooks_gate	*g;

	for (g = hooks_gates; g != NULL; g = g->next) {
		if (strcmp(g->realm, realm) == 0 && strcmp(g->app, app) == 0)
			return (g);
	}
	if (!create)
		return (NULL);
	g = xcalloc(1, sizeof *g);
	strlcpy_b(g->realm, realm, sizeof g->realm);
	strlcpy_b(g->app, app, sizeof g->app);
	g->tail = &g->head;
	g->next = hooks_gates;
	hooks_gates = g;
	return (g);
}

int
hooks_gate_enter(const char *realm, const char *app, struct hooks_wait *wt)
{
	struct hooks_gate	*g;
	int			 now = 1;

	if (wt->granted)
		return (1);
	pthread_mutex_lock(&hooks_gate_lock);
	g = hooks_gate_find(realm, app, 1);
	if (g->running < hooks_gate_cap()) {
		g->running++;
		wt->granted = 1;
	} else {
		wt->next = NULL;
		*g->tail = wt;
		g->tail = &wt->next;
		now = 0;
	}
	pthread_mutex_unlock(&hooks_gate_lock);
	return (now);
}

void
hooks_gate_leave(const char *realm, const char *app, struct hooks_wait *wt)
{
	struct hooks_gate	*g, **pp;
	struct hooks_wait	*next = NULL;

	if (!wt->granted)
		return;
	wt->granted = 0;
	pthread_mutex_lock(&hooks_gate_lock);
	g = hooks_gate_find(realm, app, 0);
	if (g != NULL && (next = g->head) != NULL) {
		/* The slot passes to the first waiter. */
		if ((g->head = next->next) == NULL)
			g->tail = &g->head;
		next->granted = 1;
	} else if (g != NULL && --g->running == 0) {
		for (pp = &hooks_gates; *pp != g; pp = &(*pp)->next)
			continue;
		*pp = g->next;
		free(g);
	}
	pthread_mutex_unlock(&hooks_gate_lock);
	if (next != NULL)
		worker_enqueue(next->req);
}
