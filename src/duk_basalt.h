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
 * What basalt's Duktape is built with: Duktape's own duk_config.h with the
 * execution-timeout check turned on, generated into the build directory by
 * the Makefile (duk/duk_config.h), and the check's function from hooks_js.c.
 * Include this before <duktape.h>.
 */

#ifndef DUK_BASALT_H
#define DUK_BASALT_H

#include "duk_config.h"

#if !defined(DUK_USE_EXEC_TIMEOUT_CHECK) || !defined(DUK_USE_INTERRUPT_COUNTER)
/* The stock header: the build tree's duk/ must come first in the path. */
#error "duk_config.h without the execution-timeout check"
#endif

/* Non-zero once the running hook has used up its time budget. */
duk_bool_t	 hooks_js_timeout_check(void *);

#endif
