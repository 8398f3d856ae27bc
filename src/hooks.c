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
 * The calls into hooks: runs an app's handlers on a record before its
 * write (they may change or refuse it) and after its commit, keeps the
 * events a before hook publishes for the writer, and caps the hook calls
 * one app runs at once.
 *
 * Threads: hooks_before and hooks_after run on a worker, with that
 * worker's struct hooks and store, never on the writer (an after hook's
 * publish waits for the writer). hooks_before runs outside the writer's
 * transaction, on the worker's read view: for an update or a delete the
 * writer then checks that the record is still the one the hooks saw, or
 * the write is a 409 (api.c). hooks_pubs_apply runs on the writer,
 * inside the write's savepoint, on the hooks_pubs a worker filled: the
 * writer's queue hands it over, and one thread holds it at a time.
 * hooks_gate_enter and hooks_gate_leave may be called from any thread.
 *
 * Locks: hooks_gate_lock guards hooks_gates, each gate's count of running
 * calls and its queue of waiting requests. Only list handling is done
 * under it; worker_enqueue is called after it is released. A waiter's
 * granted is set under it by hooks_gate_leave and read, without it, by
 * the thread worker_enqueue hands the request to; the worker queue's lock
 * orders the two. No lock is held while a hook runs.
 *
 * References: a call uses this thread's heap from hooks_load_heap, and
 * the heap's reference to its hooks_app is the heap's own: a call takes
 * and drops none. A heap that ran out of time or memory is given back
 * with hooks_load_drop, which drops it.
 */

#include <sys/types.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duk_basalt.h"
#include <duktape.h>

#include "basalt.h"

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

/* Hook calls of one app running now, and the requests waiting for one. */
struct hooks_gate {
	char		 realm[MAX_NAME_LEN + 1];
	char		 app[MAX_NAME_LEN + 1];
	int		 running;
	struct hooks_wait *head, **tail;
	struct hooks_gate *next;
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

static pthread_mutex_t	 hooks_gate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hooks_gate *hooks_gates;	/* under hooks_gate_lock */

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
	int			 rc;

	call.worker = w;
	call.before = !hooks_js_regs[reg].after;
	call.pubs = pubs;
	memset(&r, 0, sizeof r);
	r.reg = reg;
	r.what = hooks_js_regs[reg].what;
	r.coll = coll;
	r.record = record;
	r.copy_back = call.before && strcmp(r.what, "delete") != 0;
	*found = 1;

	hh->call = &call;
	hooks_js_budget_start(hh);
	rc = duk_safe_call(hh->ctx, hooks_run_safe, &r, 0, 1);
	hooks_js_budget_end(hh);
	hh->call = NULL;
	if (rc == DUK_EXEC_SUCCESS)
		*found = r.found;
	if (rc != DUK_EXEC_SUCCESS || hh->timed_out) {
		/* A timeout the script caught and went on from is one too. */
		metrics_hook(-1, hh->timed_out);
		return (hooks_js_fault(hh, reg, coll,
		    rc != DUK_EXEC_SUCCESS, err));
	}
	rc = call.before ? hooks_copy_back(hh, record, err) : 0;
	if (*found)
		metrics_hook(rc, 0);
	duk_pop(hh->ctx);
	return (rc);
}

static int
hooks_reg_index(const char *what, int after)
{
	size_t	 i;

	for (i = 0; i < HOOKS_NREGS; i++) {
		if (hooks_js_regs[i].after == after &&
		    strcmp(hooks_js_regs[i].what, what) == 0)
			return ((int)i);
	}
	return (-1);
}

/*
 * A heap whose call ran out of time or memory may hold half-done state
 * (and all the memory it may have): the next call builds a fresh one.
 */
static void
hooks_heap_settle(struct hooks *h, struct hooks_heap *hh)
{
	if (hh->timed_out || hh->out_of_memory)
		hooks_load_drop(h, hh);
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
	switch (hooks_load_heap(w->hooks, realm, app, &hh)) {
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
	if (hooks_load_heap(w->hooks, realm, app, &hh) != HOOKS_READY)
		return;
	(void)hooks_call(hh, w, reg, coll, record, NULL, &found, NULL);
	hooks_heap_settle(w->hooks, hh);
}

/* Whether the collection exists: 0, or -1 with err set. */
int
hooks_coll_exists(struct store *st, const char *realm, const char *app,
    const char *coll, struct error *err)
{
	struct scope_ids	 ids;
	const char		*missing = NULL;
	char			 what[sizeof "collection ''" + MAX_NAME_LEN];
	int			 rc;

	rc = store_resolve(st, realm, app, coll, &ids, &missing);
	if (rc == STORE_OK)
		return (0);
	snprintf(what, sizeof what, "collection '%s'", coll);
	return (error_store(err, rc, what));
}

void
hooks_pubs_add(struct hooks_pubs *p, const char *coll, const char *type,
    const char *data)
{
	struct hooks_pub	*e;

	e = xcalloc(1, sizeof *e);
	e->coll = xstrdup(coll);
	e->type = xstrdup(type);
	e->data = xstrdup(data);
	*p->tail = e;
	p->tail = &e->next;
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
		    e->data, NULL) == -1)
			return (error_store(err, store_event_append_rc(st),
			    NULL));
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
