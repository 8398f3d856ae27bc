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
 * Which hooks each app has: reads the *.js files of
 * hooks_dir/<realm>/<app> at first use and again on each
 * hooks_reload_all (SIGHUP), and keeps each thread's heaps in step with
 * what is loaded.
 *
 * Locks: hooks_lock guards hooks_apps, hooks_napps, hooks_generation,
 * hooks_loaded and the refs of every hooks_app; it is held for lookups
 * and counts only, never while a file is read or a script runs.
 * hooks_reload_lock lets one reload run at a time; hooks_apps and
 * hooks_napps change only under both locks, so a reload reads them under
 * hooks_reload_lock alone. A hooks_app is immutable once it is in
 * hooks_apps: its names and files are read without a lock.
 *
 * Threads: hooks_reload_all and hooks_app_has may be called from any
 * thread. A reload reads the files and runs each changed app's in a
 * throw-away heap on the calling thread: the loop, on SIGHUP, or the
 * first thread to need the hooks (hooks_once). A struct hooks and its
 * heaps belong to one worker: hooks_new and hooks_free run on the thread
 * that makes or frees the worker while the worker's thread is not running,
 * hooks_load_heap and hooks_load_drop on the worker's thread only.
 *
 * References: hooks_apps holds one reference to each of its hooks_apps,
 * and each heap one to its own (hh->src). hooks_load_heap takes the
 * heap's under hooks_lock before building it; it is dropped when the heap
 * is freed (hooks_sync when its app was reloaded or removed,
 * hooks_load_drop, hooks_free). A reload takes one for the new list on
 * every entry it keeps and drops the old list's once the new one is
 * published. The last hooks_app_unref frees the hooks_app, outside the
 * lock: no list and no heap can reach it any more. The heap that checks a
 * new hooks_app takes none, as the hooks_app is not shared yet.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basalt.h"

#define HOOKS_FILE_MAX		(1024 * 1024)	/* bytes of a hooks file */
#define HOOKS_FILES_MAX		256		/* files of one app */

/* One thread's heaps, one per app it has run hooks of. */
struct hooks {
	unsigned long	 generation;
	struct hooks_heap *heaps;
};

static pthread_mutex_t	 hooks_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t	 hooks_reload_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t	 hooks_once = PTHREAD_ONCE_INIT;
static struct hooks_app	**hooks_apps;	/* changed under both locks */
static size_t		 hooks_napps;
static unsigned long	 hooks_generation;
static int		 hooks_loaded;

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

/* Frees a heap and drops its reference. */
static void
hooks_heap_release(struct hooks_heap *hh)
{
	struct hooks_app	*src = hh->src;

	hooks_js_heap_free(hh);
	hooks_app_unref(src);
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
		hooks_heap_release(hh);
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

/* This thread's heap for realm/app, built on first use. */
int
hooks_load_heap(struct hooks *h, const char *realm, const char *app,
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
	if ((hh = hooks_js_heap_new(src)) == NULL) {
		hooks_app_unref(src);
		return (HOOKS_BROKEN);
	}
	hh->next = h->heaps;
	h->heaps = hh;
	*out = hh;
	return (HOOKS_READY);
}

/* Takes hh out of this thread's heaps and frees it. */
void
hooks_load_drop(struct hooks *h, struct hooks_heap *hh)
{
	struct hooks_heap	**pp;

	for (pp = &h->heaps; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == hh) {
			*pp = hh->next;
			break;
		}
	}
	hooks_heap_release(hh);
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

	if (a->bad || (hh = hooks_js_heap_new(a)) == NULL)
		return (-1);
	hooks_js_heap_free(hh);
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

struct hooks *
hooks_new(void)
{
	hooks_js_init();
	pthread_once(&hooks_once, hooks_first_load);
	return (xcalloc(1, sizeof(struct hooks)));
}

void
hooks_free(struct hooks *h)
{
	struct hooks_heap	*hh;

	if (h == NULL)
		return;
	while ((hh = h->heaps) != NULL) {
		h->heaps = hh->next;
		hooks_heap_release(hh);
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

