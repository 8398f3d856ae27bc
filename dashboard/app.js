/*
 * Copyright (c) 2026 The basalt authors
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
 * The basalt dashboard: sign in with a token, browse collections and
 * records, edit records, and watch a collection's events live through an
 * event-stream reader built on fetch(), since EventSource cannot send an
 * Authorization header; with an admin token, manage the app's tokens and
 * each collection's rules. A user of an app that trusts JWTs signs in with
 * the realm, the app and a JWT, and sees what the rules let through.
 */

'use strict';

/*
 * An event-stream parser that follows the WHATWG HTML rules ("Interpreting
 * an event stream"): fields id, event, data and retry; comments; several
 * data lines joined with LF; lines ending in CR, LF or CRLF, even when a
 * CRLF is split between two chunks; one leading BOM dropped. It takes
 * decoded text in pieces of any size and calls on.event({type, data,
 * lastEventId}) for each complete event and on.retry(ms) for a valid retry
 * field. An event cut off by the end of the stream is never dispatched.
 */
class SSEParser {
	constructor(on, lastEventId) {
		this.on = on;
		this.line = '';		/* a line not yet ended */
		this.data = '';
		this.type = '';
		this.idBuffer = lastEventId || '';
		this.lastEventId = this.idBuffer;
		this.atStart = true;
		this.afterCR = false;	/* the last piece ended in CR */
	}

	push(text) {
		if (text.length === 0)
			return;
		let pos = 0;
		if (this.atStart) {
			this.atStart = false;
			if (text.charCodeAt(0) === 0xfeff)
				pos = 1;
		}
		if (this.afterCR) {
			this.afterCR = false;
			if (text.charCodeAt(pos) === 10)
				pos++;
		}
		const eol = /[\r\n]/g;
		while (pos < text.length) {
			eol.lastIndex = pos;
			const m = eol.exec(text);
			if (m === null) {
				this.line += text.slice(pos);
				return;
			}
			const line = this.line + text.slice(pos, m.index);
			this.line = '';
			pos = m.index + 1;
			if (text[m.index] === '\r') {
				if (pos === text.length)
					this.afterCR = true;
				else if (text.charCodeAt(pos) === 10)
					pos++;
			}
			this.field(line);
		}
	}

	field(line) {
		if (line === '') {
			this.dispatch();
			return;
		}
		if (line[0] === ':')
			return;
		const colon = line.indexOf(':');
		let name = line, value = '';
		if (colon !== -1) {
			name = line.slice(0, colon);
			value = line.slice(colon + 1);
			if (value[0] === ' ')
				value = value.slice(1);
		}
		switch (name) {
		case 'event':
			this.type = value;
			break;
		case 'data':
			this.data += value + '\n';
			break;
		case 'id':
			if (value.indexOf('\0') === -1)
				this.idBuffer = value;
			break;
		case 'retry':
			if (/^[0-9]+$/.test(value) && this.on.retry)
				this.on.retry(parseInt(value, 10));
			break;
		}
	}

	dispatch() {
		this.lastEventId = this.idBuffer;
		if (this.data === '') {
			this.type = '';
			return;
		}
		const ev = {
			type: this.type === '' ? 'message' : this.type,
			data: this.data.slice(0, -1),
			lastEventId: this.lastEventId,
		};
		this.data = '';
		this.type = '';
		this.on.event(ev);
	}
}

/*
 * One subscription to an event stream, read with fetch() so that it can
 * carry the token. It reconnects by itself after the retry delay the
 * server asked for (longer after repeated failures), sends Last-Event-ID
 * so that the server replays what was missed, and gives up only on a 4xx
 * answer other than 408 and 429. The handlers: state(name, detail) with
 * name one of connecting, live, reconnecting, off, error; open({resumed});
 * event(ev); fatal(ApiError) when it gives up.
 */
class EventStream {
	constructor(url, token, handlers) {
		this.url = url;
		this.token = token;
		this.h = handlers;
		this.lastEventId = '';
		this.retry = 2000;
		this.failures = 0;
		this.everLive = false;
		this.stopped = false;
		this.ctl = null;
		this.sleeper = null;
		this.idle = null;
		this.detail = '';	/* why the last connection failed */
	}

	start() {
		this.run();
	}

	stop() {
		this.stopped = true;
		clearTimeout(this.idle);
		if (this.sleeper !== null)
			this.sleeper();
		if (this.ctl !== null)
			this.ctl.abort();
		this.h.state('off', '');
	}

	async run() {
		while (!this.stopped) {
			let again;
			try {
				again = await this.connect();
			} catch (e) {
				again = true;
				this.note(String(e && e.message || e));
			}
			if (!again || this.stopped)
				return;
			this.state('reconnecting', this.detail || '');
			await this.sleep(this.delay());
		}
	}

	delay() {
		let ms = this.retry;
		if (this.failures > 3)
			ms = Math.min(ms * 2 ** (this.failures - 3), 30000);
		return ms;
	}

	sleep(ms) {
		return new Promise((resolve) => {
			const t = setTimeout(done, ms);
			const self = this;
			function done() {
				clearTimeout(t);
				self.sleeper = null;
				resolve();
			}
			this.sleeper = done;
		});
	}

	state(name, detail) {
		if (!this.stopped)
			this.h.state(name, detail);
	}

	note(detail) {
		this.detail = detail;
	}

	/* Reads one connection to its end. Returns whether to reconnect. */
	async connect() {
		const ctl = new AbortController();
		this.ctl = ctl;
		this.state(this.everLive ? 'reconnecting' : 'connecting',
		    this.detail || '');
		const headers = {
			'Authorization': 'Bearer ' + this.token,
			'Accept': 'text/event-stream',
		};
		const resumed = this.lastEventId !== '';
		if (resumed)
			headers['Last-Event-ID'] = this.lastEventId;

		let res;
		try {
			res = await fetch(this.url, {
				headers, signal: ctl.signal, cache: 'no-store',
			});
		} catch (e) {
			this.failures++;
			this.note('cannot reach the server');
			return !this.stopped;
		}
		if (res.status === 204) {
			this.state('off', 'the server ended the stream');
			return false;
		}
		if (!res.ok) {
			const err = await errorOf(res);
			if (res.status >= 500 || res.status === 408 ||
			    res.status === 429) {
				this.failures++;
				this.note(err.text());
				return true;
			}
			this.state('error', err.text());
			if (this.h.fatal)
				this.h.fatal(err);
			return false;
		}
		const type = res.headers.get('Content-Type') || '';
		if (!/^text\/event-stream/i.test(type)) {
			this.state('error', 'not an event stream: ' + type);
			ctl.abort();
			return false;
		}
		this.failures = 0;
		this.everLive = true;
		this.note('');
		this.state('live', '');
		this.h.open({ resumed });
		return this.read(res, ctl);
	}

	async read(res, ctl) {
		const parser = new SSEParser({
			event: (ev) => this.deliver(ev),
			retry: (ms) => { this.retry = ms; },
		}, this.lastEventId);
		const reader = res.body.getReader();
		const dec = new TextDecoder('utf-8', { ignoreBOM: true });
		this.watch(ctl);
		try {
			for (;;) {
				const { value, done } = await reader.read();
				if (done)
					break;
				this.watch(ctl);
				parser.push(dec.decode(value, { stream: true }));
				this.lastEventId = parser.lastEventId;
			}
			this.note('the stream ended');
		} catch (e) {
			this.note(ctl.signal.aborted && !this.stopped ?
			    'no data for too long' : 'the stream broke');
		} finally {
			clearTimeout(this.idle);
		}
		return !this.stopped;
	}

	deliver(ev) {
		this.lastEventId = ev.lastEventId;
		try {
			this.h.event(ev);
		} catch (e) {
			showAlert('could not show event ' + ev.lastEventId + ': ' +
			    e.message);
		}
	}

	/*
	 * The server sends a comment at least every heartbeat_interval; a
	 * connection silent for much longer is dead even if TCP has not said
	 * so yet.
	 */
	watch(ctl) {
		clearTimeout(this.idle);
		this.idle = setTimeout(() => ctl.abort(),
		    Math.max(45000, 3 * this.retry));
	}
}

/* An error answer from the API, or a failure to reach it. */
class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.status = status;
		this.code = code;
	}

	text() {
		if (this.status === 0)
			return this.message;
		return this.status + ' ' + this.code + ': ' + this.message;
	}
}

async function errorOf(res) {
	let text = '';
	try {
		text = await res.text();
	} catch (e) {
		/* the body is not needed to report the status */
	}
	try {
		const e = JSON.parse(text).error;
		if (e && typeof e.message === 'string')
			return new ApiError(e.status || res.status,
			    e.code || 'error', e.message);
	} catch (e) {
		/* not the API's error shape: a web server's page */
	}
	return new ApiError(res.status, 'http_error',
	    (res.statusText || 'error') + ' (not an answer from basalt)');
}

const TOKEN_KEY = 'basalt.token';
const APP_KEY = 'basalt.app';	/* {realm, app} of a JWT's sign-in */
const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const RULE_VERBS = [
	['list', 'which records lists and streams show'],
	['view', 'which records may be read one by one'],
	['create', 'which records may be created (the record as stored)'],
	['update', 'which records may be changed (before and after)'],
	['delete', 'which records may be deleted'],
	['publish', 'who may publish custom events'],
	['subscribe', 'which custom events streams carry'],
];
const MAX_EVENTS = 500;

const S = {
	token: null,
	grant: null,
	base: '',
	collection: null,
	query: null,		/* {filter, sort: {key, desc}} of the table */
	cursors: [null],	/* the "after" of each page seen */
	bounds: [null],		/* the record each cursor is after, as it was */
	page: 0,
	limit: 25,
	items: [],
	next: null,
	upper: null,		/* the page's last record if a page follows */
	eventId: null,		/* the event the list reflects, from the API */
	later: 0,		/* records added past the page shown */
	seq: 0,			/* counts page loads */
	loading: 0,		/* the seq of the load in flight, or 0 */
	pending: [],		/* events that came during a load */
	live: true,
	stream: null,
	editor: null,		/* {mode: 'new'|'edit', id, record} */
	deleteArmed: null,
	view: 'records',	/* or 'tokens' */
	tokenSeq: 0,		/* counts token list loads */
	webhookSeq: 0,		/* counts webhook list loads */
	revokeArmed: null,	/* {id, timer} of a first press on Revoke */
};

function $(id) {
	return document.getElementById(id);
}

function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls)
		e.className = cls;
	if (text !== undefined)
		e.textContent = text;
	return e;
}

function can(scope) {
	return S.grant !== null && Array.isArray(S.grant.scopes) &&
	    S.grant.scopes.includes(scope);
}

async function api(method, path, body) {
	const init = {
		method,
		headers: {
			'Authorization': 'Bearer ' + S.token,
			'Accept': 'application/json',
		},
		cache: 'no-store',
	};
	if (body !== undefined) {
		init.headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body);
	}
	let res;
	try {
		res = await fetch(path, init);
	} catch (e) {
		throw new ApiError(0, 'network', 'cannot reach the server');
	}
	if (!res.ok)
		throw await errorOf(res);
	if (res.status === 204)
		return null;
	const text = await res.text();
	try {
		return JSON.parse(text);
	} catch (e) {
		throw new ApiError(res.status, 'bad_answer',
		    'the answer is not JSON');
	}
}

function enc(name) {
	return encodeURIComponent(name);
}

function collectionPath(name) {
	return S.base + '/collections/' + enc(name);
}

function showAlert(text) {
	$('alert-text').textContent = text;
	$('alert').hidden = false;
}

function hideAlert() {
	$('alert').hidden = true;
}

/*
 * Shows an API failure. A 401 means the token no longer works, so the page
 * goes back to the sign-in form.
 */
function failed(err, where) {
	const text = err instanceof ApiError ? err.text() : String(err);
	if (err instanceof ApiError && err.status === 401) {
		signOut(text);
		return;
	}
	if (where) {
		where.textContent = text;
		where.hidden = false;
	} else
		showAlert(text);
}

/* Sign-in. */

function showSignIn(error) {
	$('app').hidden = true;
	$('tokens-view').hidden = true;
	$('views').hidden = true;
	$('whoami').hidden = true;
	$('signin').hidden = false;
	const e = $('signin-error');
	e.textContent = error || '';
	e.hidden = !error;
	$('token').value = '';
	$('token').focus();
}

/* The sign-in form asks for a realm and an app with a JWT. */
function signInKind() {
	const jwt = $('kind-jwt').checked;
	for (const e of document.querySelectorAll('.jwt-only'))
		e.hidden = !jwt;
	$('signin-token-label').textContent = jwt ? 'JWT' : 'Token';
}

/*
 * Signs in with a service token (GET /api/token says its realm and app)
 * or, given where = {realm, app}, with a user's JWT, which that app's
 * keys check (GET .../apps/{app}/token).
 */
async function signIn(token, where) {
	token = token.trim().replace(/^Bearer\s+/i, '');
	if (token === '') {
		showSignIn(where ? 'Paste a JWT first.' : 'Paste a token first.');
		return;
	}
	if (where && !(NAME_RE.test(where.realm) && NAME_RE.test(where.app))) {
		showSignIn('Give the realm and the app: names of a-z, 0-9, _ ' +
		    'and -.');
		return;
	}
	S.token = token;
	$('signin-submit').disabled = true;
	$('signin-error').hidden = true;	/* the last attempt's */
	let grant;
	try {
		grant = await api('GET', where ? '/api/realms/' +
		    enc(where.realm) + '/apps/' + enc(where.app) + '/token' :
		    '/api/token');
	} catch (err) {
		S.token = null;
		/* Forget a token the API refused, not one it could not check. */
		if (!(err instanceof ApiError) || err.status !== 0) {
			sessionStorage.removeItem(TOKEN_KEY);
			sessionStorage.removeItem(APP_KEY);
		}
		showSignIn('Sign-in failed: ' + (err instanceof ApiError ?
		    err.text() : String(err)));
		return;
	} finally {
		$('signin-submit').disabled = false;
	}
	sessionStorage.setItem(TOKEN_KEY, token);
	if (where)
		sessionStorage.setItem(APP_KEY, JSON.stringify(where));
	else
		sessionStorage.removeItem(APP_KEY);
	S.grant = grant;
	S.base = '/api/realms/' + enc(grant.realm) + '/apps/' + enc(grant.app);
	showGrant(grant);
	$('signin').hidden = true;
	$('views').hidden = false;
	$('view-tokens').hidden = !can('admin');
	showView(location.hash === '#tokens' ? 'tokens' : 'records');
	hideAlert();
	await loadCollections();
}

function showGrant(g) {
	$('who-realm').textContent = g.realm;
	$('who-app').textContent = g.app;
	$('who-scopes').textContent = (g.scopes || []).join(', ') || 'none';
	if (g.kind === 'jwt') {
		$('who-label-k').textContent = 'user';
		$('who-label').textContent = g.sub;
	} else {
		$('who-label-k').textContent = 'token';
		$('who-label').textContent = g.label || '(no label)';
	}
	let exp = 'never';
	if (typeof g.expires_at === 'number')
		exp = new Date(g.expires_at * 1000).toISOString();
	else if (typeof g.expires_at === 'string' && g.expires_at !== '')
		exp = g.expires_at;
	$('who-expires').textContent = exp;
	$('whoami').hidden = false;
	const w = can('write');
	$('publish-fields').disabled = !w || S.collection === null;
	$('publish-note').textContent = w ? '' : 'needs the write scope';
	document.title = 'basalt · ' + g.realm + '/' + g.app;
}

function signOut(why) {
	stopStream();
	sessionStorage.removeItem(TOKEN_KEY);
	sessionStorage.removeItem(APP_KEY);
	S.token = null;
	S.grant = null;
	S.collection = null;
	S.query = null;
	$('query').hidden = true;
	closeEditor();
	closeRules();
	clearEvents();
	hideSecret();
	disarmRevoke();
	S.view = 'records';
	$('rules-open').hidden = true;
	$('records').replaceChildren();
	$('collections').replaceChildren();
	$('tokens').replaceChildren();
	hideAlert();
	document.title = 'basalt dashboard';
	showSignIn(why);
}

/* Views: the records of the collections, or (admin) the app's tokens at
 * #tokens. The records view keeps its stream while the other is shown. */

function showView(name) {
	if (name === 'tokens' && !can('admin'))
		name = 'records';
	S.view = name;
	$('app').hidden = name !== 'records';
	$('tokens-view').hidden = name !== 'tokens';
	for (const [id, v] of [['view-records', 'records'],
	    ['view-tokens', 'tokens']]) {
		if (v === name)
			$(id).setAttribute('aria-current', 'page');
		else
			$(id).removeAttribute('aria-current');
	}
	if (name === 'tokens') {
		loadTokens();
		loadWebhooks();
	}
	else
		hideSecret();
}

/* Collections. */

async function loadCollections() {
	let res;
	try {
		res = await api('GET', S.base + '/collections');
	} catch (err) {
		failed(err);
		return;
	}
	const ul = $('collections');
	ul.replaceChildren();
	for (const c of res.items) {
		const li = el('li');
		const b = el('button', 'collection', c.name);
		b.type = 'button';
		b.dataset.name = c.name;
		if (c.created_at)
			b.title = 'created ' + c.created_at;
		b.addEventListener('click', () => {
			location.hash = '#/' + enc(c.name);
		});
		li.append(b);
		ul.append(li);
	}
	$('collections-empty').hidden = res.items.length > 0;
	const want = wantedCollection();
	if (want !== null && res.items.some((c) => c.name === want))
		openCollection(want);
	else
		markCollection();
}

function wantedCollection() {
	const m = /^#\/([^/]+)$/.exec(location.hash);
	if (m === null)
		return null;
	try {
		return decodeURIComponent(m[1]);
	} catch (e) {
		return null;
	}
}

function markCollection() {
	for (const b of $('collections').querySelectorAll('button')) {
		if (b.dataset.name === S.collection)
			b.setAttribute('aria-current', 'true');
		else
			b.removeAttribute('aria-current');
	}
}

function openCollection(name) {
	if (name === S.collection)
		return;
	stopStream();
	closeEditor();
	closeRules();
	clearEvents();
	S.collection = name;
	S.query = { filter: '', sort: { key: 'id', desc: false } };
	S.cursors = [null];
	S.bounds = [null];
	S.page = 0;
	S.items = [];
	S.next = null;
	S.upper = null;
	S.eventId = null;
	S.later = 0;
	markCollection();
	$('records-title').textContent = name;
	$('record-new').disabled = !can('write');
	$('rules-open').hidden = !can('admin');
	$('live-toggle').disabled = false;
	$('publish-fields').disabled = !can('write');
	$('filter').value = '';
	$('filter-error').hidden = true;
	$('query').hidden = false;
	if (!S.live)
		showState('off', '');
	renderSort();
	loadPage(0, S.query);
}

/*
 * Records: the table and its pages.
 *
 * The table shows one page of the list the filter selects, in the order of
 * the sort, and the live stream (with the same filter) keeps it so: the
 * stream starts at the list's event_id, so that it carries exactly what
 * changed after the list was read, and each event is applied by record id.
 * A page is a stretch of the sorted list, after the record its cursor
 * carries and up to its last record when a page follows; a record that
 * sorts into that stretch is shown in its place, one that sorts past it
 * is counted as added on a later page.
 */

/* The list's sort parameter; null for the API's default, id order. */
function sortParam(sort) {
	if (sort.key === 'id' && !sort.desc)
		return null;
	return (sort.desc ? '-' : '') + sort.key;
}

/*
 * Loads page n of the table's list, or, given a query, the first page of
 * that query's list. The table and the stream change only once the API
 * took the query: one it refuses leaves both as they were, and its error
 * is shown by the filter box. After a new query the stream starts again,
 * with the new filter, from the new list's event_id.
 */
async function loadPage(n, query) {
	const fresh = query !== undefined;
	if (!fresh)
		query = S.query;
	const seq = ++S.seq;
	const name = S.collection;
	S.loading = seq;
	const q = new URLSearchParams({ limit: String(S.limit) });
	if (query.filter !== '')
		q.set('filter', query.filter);
	const sort = sortParam(query.sort);
	if (sort !== null)
		q.set('sort', sort);
	if (!fresh && S.cursors[n])
		q.set('after', S.cursors[n]);
	let res;
	try {
		res = await api('GET', collectionPath(name) + '/records?' + q);
	} catch (err) {
		if (seq === S.loading) {
			S.loading = 0;
			if (fresh && err instanceof ApiError && err.status === 400)
				failed(err, $('filter-error'));
			else
				failed(err);
			applyPending();
		}
		return;
	}
	if (seq !== S.loading || name !== S.collection)
		return;
	S.loading = 0;
	if (fresh) {
		/* What came meanwhile came for the old query. */
		S.pending = [];
		stopStream(true);
		S.query = query;
		S.cursors = [null];
		S.bounds = [null];
		$('filter-error').hidden = true;
		renderSort();
	}
	S.page = n;
	S.items = res.items;
	S.next = res.next;
	S.later = 0;
	S.eventId = typeof res.event_id === 'number' ? res.event_id : null;
	S.cursors.length = n + 1;
	S.bounds.length = n + 1;
	S.upper = null;
	if (res.next !== null && res.items.length > 0) {
		S.upper = res.items[res.items.length - 1];
		S.cursors.push(res.next);
		S.bounds.push(S.upper);
	}
	renderTable();
	applyPending();
	if (S.live && S.stream === null)
		startStream();
}

/* Applies the events that came while a page was loading. */
function applyPending() {
	const pending = S.pending;
	S.pending = [];
	for (const ev of pending)
		applyEvent(ev);
}

function renderSort() {
	const sort = S.query.sort;
	for (const th of document.querySelectorAll('#records-table th[data-sort]')) {
		const on = th.dataset.sort === sort.key;
		th.setAttribute('aria-sort', !on ? 'none' :
		    sort.desc ? 'descending' : 'ascending');
		th.querySelector('.arrow').textContent = !on ? '' :
		    sort.desc ? ' \u25bc' : ' \u25b2';
	}
}

/* A click on a column: sort by it, ascending, or descending if it already
 * sorts ascending. */
function sortBy(key) {
	if (S.collection === null)
		return;
	const cur = S.query.sort;
	loadPage(0, { filter: S.query.filter,
	    sort: { key, desc: cur.key === key && !cur.desc } });
}

function applyFilter(e) {
	e.preventDefault();
	if (S.collection === null)
		return;
	loadPage(0, { filter: $('filter').value.trim(), sort: S.query.sort });
}

/* The rank of a JSON value's type in the order of sort keys. */
function typeRank(v) {
	if (v === undefined || v === null)
		return 0;
	if (typeof v === 'boolean')
		return v ? 2 : 1;
	if (typeof v === 'number')
		return 3;
	if (typeof v === 'string')
		return 4;
	return 5;
}

/* Compares strings by code point, as the API compares their UTF-8. */
function textOrder(a, b) {
	for (let i = 0, j = 0; i < a.length && j < b.length;) {
		const x = a.codePointAt(i), y = b.codePointAt(j);
		if (x !== y)
			return x < y ? -1 : 1;
		i += x > 0xffff ? 2 : 1;
		j += y > 0xffff ? 2 : 1;
	}
	return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/* The order of two values of a sort key (README "Querying"). */
function valueOrder(a, b) {
	const ra = typeRank(a), rb = typeRank(b);
	if (ra !== rb)
		return ra < rb ? -1 : 1;
	if (ra === 3)
		return a < b ? -1 : a > b ? 1 : 0;
	if (ra === 4)
		return textOrder(a, b);
	if (ra === 5)
		return textOrder(JSON.stringify(a), JSON.stringify(b));
	return 0;
}

function keyValue(rec, key) {
	if (!key.startsWith('fields.'))
		return rec[key];
	let v = rec.fields;
	for (const k of key.slice(7).split('.')) {
		if (v === null || typeof v !== 'object' || Array.isArray(v))
			return undefined;
		v = v[k];
	}
	return v;
}

/* <0, 0 or >0 as record a comes before, with or after b in the table's
 * sort; id is the last key. */
function recordOrder(a, b) {
	const sort = S.query.sort;
	let c = valueOrder(keyValue(a, sort.key), keyValue(b, sort.key));
	if (c === 0 && sort.key !== 'id')
		c = textOrder(a.id, b.id);
	return sort.desc ? -c : c;
}

function renderTable() {
	const body = $('records');
	body.replaceChildren(...S.items.map(row));
	$('records-table').hidden = false;
	$('records-hint').hidden = S.items.length > 0;
	$('records-hint').textContent = S.page === 0 ?
	    'No records in this collection yet.' : 'No records on this page.';
	renderPager();
}

function renderPager() {
	$('pager').hidden = false;
	$('page-first').disabled = S.page === 0;
	$('page-prev').disabled = S.page === 0;
	$('page-next').disabled = S.next === null;
	const n = S.items.length;
	$('page-info').textContent = 'page ' + (S.page + 1) + ' · ' + n +
	    (n === 1 ? ' record' : ' records');
	const more = $('records-more');
	more.hidden = S.later === 0;
	more.textContent = S.later + (S.later === 1 ? ' record' : ' records') +
	    ' added since, on a later page.';
}

function preview(fields) {
	const s = JSON.stringify(fields);
	return s.length > 200 ? s.slice(0, 199) + '…' : s;
}

function row(rec) {
	const tr = el('tr');
	tr.dataset.id = rec.id;
	fillRow(tr, rec);
	return tr;
}

function fillRow(tr, rec) {
	const idCell = el('td', 'id');
	const b = el('button', 'link', rec.id);
	b.type = 'button';
	b.title = 'Open record ' + rec.id;
	b.addEventListener('click', () => openRecord(rec.id));
	idCell.append(b);
	const f = el('td', 'fields');
	const text = preview(rec.fields);
	f.append(el('div', 'clamp', text));
	f.title = text;
	const w = el('td', 'when', shortTime(rec.updated_at));
	w.title = 'created ' + rec.created_at + '\nupdated ' + rec.updated_at;
	tr.replaceChildren(idCell, f, w);
}

function shortTime(iso) {
	if (typeof iso !== 'string')
		return '';
	return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

function rowOf(id) {
	for (const tr of $('records').children)
		if (tr.dataset.id === id)
			return tr;
	return null;
}

function flash(tr, cls) {
	tr.classList.remove('added', 'changed');
	void tr.offsetWidth;	/* restart the animation */
	tr.classList.add(cls);
}

/*
 * Puts a record from an event or an answer into the table, in its place
 * in the sort if that is on the page shown, or takes it off the page if
 * it moved elsewhere. added says that it is new to the list (created, or
 * updated into the filter), so that one past the page is counted. In id
 * order, the last page, once full, ends where it is: new records go to a
 * next page that starts after its last id.
 */
function putRecord(rec, added) {
	const i = S.items.findIndex((r) => r.id === rec.id);
	let tr = null;
	if (i !== -1) {
		S.items.splice(i, 1);
		tr = rowOf(rec.id);
		if (tr !== null)
			tr.remove();
	}
	const last = S.items[S.items.length - 1];
	if (S.upper === null && S.items.length >= S.limit &&
	    sortParam(S.query.sort) === null && recordOrder(rec, last) > 0) {
		S.upper = last;
		S.next = last.id;
		S.cursors.length = S.page + 1;
		S.cursors.push(S.next);
		S.bounds.length = S.page + 1;
		S.bounds.push(last);
	}
	const lower = S.bounds[S.page];
	if ((lower && recordOrder(rec, lower) <= 0) ||
	    (S.upper !== null && recordOrder(rec, S.upper) > 0)) {
		if (added && i === -1 && S.upper !== null &&
		    recordOrder(rec, S.upper) > 0)
			S.later++;
		$('records-hint').hidden = S.items.length > 0;
		renderPager();
		return;
	}
	let at = S.items.findIndex((r) => recordOrder(rec, r) < 0);
	if (at === -1)
		at = S.items.length;
	S.items.splice(at, 0, rec);
	if (tr === null)
		tr = row(rec);
	else
		fillRow(tr, rec);
	$('records').insertBefore(tr, $('records').children[at] || null);
	flash(tr, i === -1 ? 'added' : 'changed');
	$('records-hint').hidden = true;
	renderPager();
}

function dropRecord(id) {
	const i = S.items.findIndex((r) => r.id === id);
	if (i === -1)
		return;
	S.items.splice(i, 1);
	const tr = rowOf(id);
	if (tr !== null)
		tr.remove();
	$('records-hint').hidden = S.items.length > 0;
	renderPager();
}

/* The record editor. */

async function openRecord(id) {
	let rec;
	try {
		rec = await api('GET', collectionPath(S.collection) + '/records/' +
		    enc(id));
	} catch (err) {
		failed(err);
		return;
	}
	showEditor('edit', rec);
}

function showEditor(mode, rec) {
	closeRules();
	S.editor = { mode, id: rec ? rec.id : null, record: rec, dirty: false };
	disarmDelete();
	$('editor').hidden = false;
	$('editor-title').textContent = mode === 'new' ? 'New record' :
	    'Record ' + rec.id;
	$('editor-meta').textContent = mode === 'new' ?
	    'in ' + S.collection :
	    'created ' + rec.created_at + ' · updated ' + rec.updated_at;
	$('editor-notice').hidden = true;
	$('editor-text').value = mode === 'new' ? '{\n  \n}' :
	    JSON.stringify(rec.fields, null, 2);
	$('editor-text').readOnly = !can('write');
	$('editor-save').textContent = mode === 'new' ? 'Create' : 'Save';
	$('editor-delete').hidden = mode === 'new';
	$('editor-save').disabled = !can('write');
	$('editor-delete').disabled = !can('write');
	$('editor-error').hidden = true;
	validate();
	const t = $('editor-text');
	t.focus();
	if (mode === 'new')
		t.setSelectionRange(4, 4);
	$('editor').scrollIntoView({ block: 'nearest' });
}

function closeEditor() {
	S.editor = null;
	disarmDelete();
	$('editor').hidden = true;
}

function editorNotice(text) {
	$('editor-notice').textContent = text;
	$('editor-notice').hidden = false;
}

/* Parses the editor's text; returns the object or null with the reason shown. */
function validate() {
	const err = $('editor-error');
	let v;
	try {
		v = JSON.parse($('editor-text').value);
	} catch (e) {
		err.textContent = 'Not valid JSON: ' + e.message;
		err.hidden = false;
		$('editor-save').disabled = true;
		return null;
	}
	if (v === null || typeof v !== 'object' || Array.isArray(v)) {
		err.textContent = 'The fields must be a JSON object: { ... }';
		err.hidden = false;
		$('editor-save').disabled = true;
		return null;
	}
	err.hidden = true;
	$('editor-save').disabled = !can('write') || (S.editor !== null &&
	    S.editor.gone === true);
	return v;
}

async function saveEditor() {
	const ed = S.editor;
	if (ed === null || !can('write'))
		return;
	const fields = validate();
	if (fields === null)
		return;
	const base = collectionPath(S.collection) + '/records';
	$('editor-save').disabled = true;
	let rec;
	try {
		if (ed.mode === 'new')
			rec = await api('POST', base, fields);
		else
			rec = await api('PUT', base + '/' + enc(ed.id), fields);
	} catch (err) {
		validate();
		failed(err, $('editor-error'));
		return;
	}
	if (S.editor !== ed)
		return;
	/* Whether a record matches the filter is the API's to say: with a
	 * filter, the stream adds it; the table only follows an edit. */
	if (ed.mode === 'new' ? S.query.filter === '' :
	    S.items.some((r) => r.id === rec.id))
		putRecord(rec, ed.mode === 'new');
	showEditor('edit', rec);
	editorNotice(ed.mode === 'new' ? 'Created.' : 'Saved.');
}

function disarmDelete() {
	clearTimeout(S.deleteArmed);
	S.deleteArmed = null;
	$('editor-delete').textContent = 'Delete';
}

/* Deleting takes two presses, so that a stray key press deletes nothing. */
async function deleteRecord() {
	const ed = S.editor;
	if (ed === null || ed.mode !== 'edit')
		return;
	if (S.deleteArmed === null) {
		$('editor-delete').textContent = 'Press again to delete';
		S.deleteArmed = setTimeout(disarmDelete, 5000);
		return;
	}
	disarmDelete();
	try {
		await api('DELETE', collectionPath(S.collection) + '/records/' +
		    enc(ed.id));
	} catch (err) {
		failed(err, $('editor-error'));
		return;
	}
	dropRecord(ed.id);
	closeEditor();
	$('record-new').focus();
}

/* The editor follows changes made elsewhere to the record it shows. */
function editorSees(type, rec) {
	const ed = S.editor;
	/* A record that left the filter is still there. */
	if (ed === null || ed.mode !== 'edit' || ed.id !== rec.id ||
	    type === 'record_left')
		return;
	if (type === 'record_deleted') {
		ed.gone = true;
		editorNotice('This record was deleted.');
		$('editor-save').disabled = true;
		$('editor-delete').disabled = true;
		return;
	}
	if (ed.dirty) {
		editorNotice('This record changed on the server (updated ' +
		    rec.updated_at + '); saving replaces that change.');
		return;
	}
	ed.record = rec;
	$('editor-text').value = JSON.stringify(rec.fields, null, 2);
	$('editor-meta').textContent = 'created ' + rec.created_at +
	    ' · updated ' + rec.updated_at;
}

/* Live events. */

/* Opens the stream of the table's filter, from the list's event_id. */
function startStream() {
	let url = collectionPath(S.collection) + '/events';
	if (S.query.filter !== '')
		url += '?' + new URLSearchParams({ filter: S.query.filter });
	const s = new EventStream(url, S.token, {
		state: (name, detail) => { if (S.stream === s) showState(name, detail); },
		open: (o) => {
			/* Without a resume point the stream cannot replay what
			 * happened before it: read the page again. */
			if (S.stream === s && !o.resumed)
				loadPage(S.page);
		},
		event: (ev) => { if (S.stream === s) onEvent(ev); },
		fatal: (err) => { if (S.stream === s) failed(err); },
	});
	if (S.eventId !== null)
		s.lastEventId = String(S.eventId);
	S.stream = s;
	$('live-toggle').textContent = 'Stop live';
	s.start();
}

/* Closes the stream; again says that another one opens right away. */
function stopStream(again) {
	const s = S.stream;
	S.stream = null;
	if (s !== null)
		s.stop();
	if (again)
		return;
	showState('off', '');
	$('live-toggle').textContent = 'Watch live';
}

function showState(name, detail) {
	const c = $('conn');
	c.dataset.state = name;
	c.textContent = name;
	c.title = detail || '';
}

function onEvent(ev) {
	let payload = ev.data;
	let json = true;
	try {
		payload = JSON.parse(ev.data);
	} catch (e) {
		json = false;
	}
	addEvent(ev, payload, json);
	/* The token no longer holds: the stream ended for good (a JWT that
	 * expired needs a new one, not a reconnection). */
	if (ev.type === 'token_expired' || ev.type === 'token_revoked') {
		signOut('Signed out: ' + (ev.type === 'token_expired' ?
		    'the token has expired' : 'the token was revoked') +
		    ' (' + ev.type + ').');
		return;
	}
	const e = { type: ev.type, id: ev.lastEventId, payload };
	if (S.loading !== 0)
		S.pending.push(e);
	else
		applyEvent(e);
}

function applyEvent(ev) {
	const p = ev.payload;
	if (ev.type === 'reset') {
		/* Events were lost: the table is stale. */
		loadPage(S.page);
		return;
	}
	/* The list read after this event already shows it. */
	if (S.eventId !== null && /^[0-9]+$/.test(ev.id) &&
	    Number(ev.id) <= S.eventId)
		return;
	switch (ev.type) {
	case 'record_created':
	case 'record_entered':
	case 'record_updated':
		if (p && typeof p.id === 'string' && p.fields) {
			putRecord(p, ev.type !== 'record_updated');
			editorSees(ev.type, p);
		}
		break;
	case 'record_left':
	case 'record_deleted':
		if (p && typeof p.id === 'string') {
			dropRecord(p.id);
			editorSees(ev.type, p);
		}
		break;
	}
}

function clock(d) {
	const p = (n, w) => String(n).padStart(w, '0');
	return p(d.getHours(), 2) + ':' + p(d.getMinutes(), 2) + ':' +
	    p(d.getSeconds(), 2) + '.' + p(d.getMilliseconds(), 3);
}

function addEvent(ev, payload, json) {
	/* A stream opened for a new filter may replay an event shown. */
	if (ev.lastEventId !== '' && $('events').querySelector(
	    'li[data-id="' + CSS.escape(ev.lastEventId) + '"]') !== null)
		return;
	const now = new Date();
	const li = el('li', 'event');
	li.dataset.type = ev.type;
	li.dataset.id = ev.lastEventId;
	li.dataset.received = String(now.getTime());
	if (json && payload !== null && typeof payload === 'object' &&
	    typeof payload.id === 'string' && ev.type.startsWith('record_'))
		li.dataset.record = payload.id;
	if (ev.type.startsWith('record_'))
		li.classList.add(ev.type);
	else if (ev.type === 'reset')
		li.classList.add('reset');
	else
		li.classList.add('custom');
	const head = el('div', 'head');
	head.append(el('span', 'type', ev.type),
	    el('span', 'eid', ev.lastEventId ? '#' + ev.lastEventId : ''),
	    el('time', 'at', clock(now)));
	head.lastChild.dateTime = now.toISOString();
	const pre = el('pre', 'payload', json ?
	    JSON.stringify(payload, null, 1).replace(/\n\s*/g, ' ') : payload);
	li.append(head, pre);
	const list = $('events');
	list.prepend(li);
	while (list.children.length > MAX_EVENTS)
		list.lastChild.remove();
	$('events-empty').hidden = true;
}

function clearEvents() {
	$('events').replaceChildren();
	$('events-empty').hidden = false;
}

async function publish(e) {
	e.preventDefault();
	const err = $('publish-error');
	err.hidden = true;
	const type = $('publish-type').value.trim();
	if (type === '') {
		err.textContent = 'Give the event a type.';
		err.hidden = false;
		return;
	}
	let payload;
	try {
		payload = JSON.parse($('publish-payload').value);
	} catch (x) {
		err.textContent = 'The payload is not valid JSON: ' + x.message;
		err.hidden = false;
		return;
	}
	let res;
	try {
		res = await api('POST', collectionPath(S.collection) + '/events',
		    { type, payload });
	} catch (x) {
		failed(x, err);
		return;
	}
	$('publish-note').textContent = 'published as #' + res.id;
}

/*
 * Rules (admin): the seven rules of the open collection, as GET
 * .../collections/{c} shows them, each unset (service tokens only), ""
 * (any user with a valid JWT) or a condition; saved all at once with PATCH,
 * which refuses a malformed one with its position ("rules.list: at 9: ...").
 */

function rulesRows() {
	const rows = RULE_VERBS.map(([verb, help]) => {
		const tr = el('tr');
		tr.dataset.verb = verb;
		const th = el('th');
		th.scope = 'row';
		th.append(el('code', 'verb', verb));
		th.append(el('span', 'help', help));
		const sel = el('select');
		sel.id = 'rule-mode-' + verb;
		sel.setAttribute('aria-label', verb + ': who');
		for (const [v, text] of [['unset', 'service tokens only'],
		    ['any', 'any signed-in user'], ['expr', 'users, when']]) {
			const o = el('option', null, text);
			o.value = v;
			sel.append(o);
		}
		const input = el('input');
		input.id = 'rule-' + verb;
		input.spellcheck = false;
		input.setAttribute('aria-label', verb + ': condition');
		sel.addEventListener('change', () => {
			input.disabled = sel.value !== 'expr';
			if (sel.value === 'expr')
				input.focus();
		});
		input.addEventListener('input', () =>
		    input.removeAttribute('aria-invalid'));
		const who = el('td');
		who.append(sel);
		const cond = el('td', 'cond');
		cond.append(input);
		tr.append(th, who, cond);
		return tr;
	});
	$('rules-rows').replaceChildren(...rows);
}

function fillRules(rules) {
	for (const [verb] of RULE_VERBS) {
		const r = rules[verb];
		const sel = $('rule-mode-' + verb), input = $('rule-' + verb);
		sel.value = typeof r !== 'string' ? 'unset' : r === '' ? 'any' :
		    'expr';
		input.value = typeof r === 'string' ? r : '';
		input.disabled = sel.value !== 'expr';
		input.removeAttribute('aria-invalid');
	}
}

async function openRules() {
	if (S.collection === null || !can('admin'))
		return;
	closeEditor();
	const name = S.collection;
	let res;
	try {
		res = await api('GET', collectionPath(name));
	} catch (err) {
		failed(err);
		return;
	}
	if (name !== S.collection)
		return;
	if (res === null || typeof res.rules !== 'object' || res.rules === null) {
		showAlert('This server shows no rules for ' + name + '.');
		return;
	}
	if ($('rules-rows').children.length === 0)
		rulesRows();
	fillRules(res.rules);
	$('rules-title').textContent = 'Rules of ' + name;
	$('rules-error').hidden = true;
	$('rules-note').textContent = '';
	$('rules').hidden = false;
	$('rule-mode-list').focus();
	$('rules').scrollIntoView({ block: 'nearest' });
}

function closeRules() {
	$('rules').hidden = true;
}

async function saveRules() {
	const name = S.collection;
	const rules = {};
	for (const [verb] of RULE_VERBS) {
		const mode = $('rule-mode-' + verb).value;
		rules[verb] = mode === 'unset' ? null : mode === 'any' ? '' :
		    $('rule-' + verb).value.trim();
	}
	const err = $('rules-error');
	err.hidden = true;
	$('rules-note').textContent = '';
	$('rules-save').disabled = true;
	let res;
	try {
		res = await api('PATCH', collectionPath(name), { rules });
		if (res === null || typeof res.rules !== 'object')
			res = await api('GET', collectionPath(name));
	} catch (x) {
		failed(x, err);
		/* The rule refused: "rules.list: at 9: ..." */
		const m = /^rules\.([a-z]+):/.exec(x.message || '');
		if (m !== null && $('rule-' + m[1]) !== null) {
			$('rule-' + m[1]).setAttribute('aria-invalid', 'true');
			$('rule-' + m[1]).focus();
		}
		return;
	} finally {
		$('rules-save').disabled = false;
	}
	if (name !== S.collection)
		return;
	fillRules(res.rules);
	$('rules-note').textContent = 'Saved.';
}

/*
 * Tokens (admin): the app's service tokens, as GET .../tokens lists them;
 * a new one's secret is shown once, in the page only (never kept); a
 * revocation takes two presses.
 */

async function loadTokens() {
	const seq = ++S.tokenSeq;
	let res;
	try {
		res = await api('GET', S.base + '/tokens');
	} catch (err) {
		if (seq === S.tokenSeq)
			failed(err, $('tokens-error'));
		return;
	}
	if (seq !== S.tokenSeq || S.grant === null)
		return;
	$('tokens-error').hidden = true;
	disarmRevoke();
	$('tokens').replaceChildren(...res.items.map(tokenRow));
	if (res.items.length === 0) {
		const td = el('td', 'muted', 'No tokens.');
		td.colSpan = 7;
		$('tokens').append(el('tr'));
		$('tokens').lastChild.append(td);
	}
}

/* Webhooks (admin): the app's webhooks with their state, as
 * GET .../webhooks lists them; read only. */

async function loadWebhooks() {
	const seq = ++S.webhookSeq;
	let res;
	try {
		res = await api('GET', S.base + '/webhooks');
	} catch (err) {
		if (seq === S.webhookSeq)
			failed(err, $('webhooks-error'));
		return;
	}
	if (seq !== S.webhookSeq || S.grant === null)
		return;
	$('webhooks-error').hidden = true;
	$('webhooks').replaceChildren(...res.items.map(webhookRow));
	if (res.items.length === 0) {
		const td = el('td', 'muted', 'No webhooks.');
		td.colSpan = 6;
		$('webhooks').append(el('tr'));
		$('webhooks').lastChild.append(td);
	}
}

function webhookRow(w) {
	const tr = el('tr');
	tr.dataset.id = w.id;
	tr.dataset.state = w.state;
	const events = [w.collections === null ? 'all collections' :
	    w.collections.join(', '), w.types === null ? 'all types' :
	    w.types.join(', ')].join('; ');
	const state = el('td', 'state', w.state +
	    (w.failures > 0 ? ' (' + w.failures + ')' : ''));
	state.dataset.state = w.state;
	tr.append(el('td', 'id', w.id), el('td', 'url', w.url),
	    el('td', 'events', events), state,
	    el('td', 'cursor', String(w.cursor)),
	    el('td', 'error', w.last_error === null ? '' : w.last_error));
	return tr;
}

function tokenRow(t) {
	const tr = el('tr');
	tr.dataset.id = t.id;
	tr.dataset.state = t.state;
	const state = el('td', 'state', t.state);
	state.dataset.state = t.state;
	const label = el('td', 'label', t.label);
	if (t.label === '') {
		label.textContent = '(no label)';
		label.classList.add('muted');
	}
	const exp = t.expires_at === null ? 'never' : shortTime(t.expires_at);
	const act = el('td', 'act');
	if (t.state === 'active') {
		const b = el('button', 'danger revoke', 'Revoke');
		b.type = 'button';
		b.title = 'Revoke token ' + t.id;
		b.addEventListener('click', () => revokeToken(t.id, b));
		act.append(b);
	}
	tr.append(el('td', 'id', t.id), el('td', 'scopes', t.scopes.join(', ')),
	    label, el('td', 'when', shortTime(t.created_at)),
	    el('td', 'when', exp), state, act);
	if (t.revoked_at !== null)
		state.title = 'revoked ' + t.revoked_at;
	return tr;
}

function disarmRevoke() {
	const a = S.revokeArmed;
	S.revokeArmed = null;
	if (a === null)
		return;
	clearTimeout(a.timer);
	a.button.textContent = 'Revoke';
}

async function revokeToken(id, b) {
	if (S.revokeArmed === null || S.revokeArmed.id !== id) {
		disarmRevoke();
		b.textContent = 'Press again to revoke';
		S.revokeArmed = { id, button: b,
		    timer: setTimeout(disarmRevoke, 5000) };
		return;
	}
	disarmRevoke();
	b.disabled = true;
	try {
		await api('DELETE', S.base + '/tokens/' + enc(id));
	} catch (err) {
		b.disabled = false;
		failed(err, $('tokens-error'));
		return;
	}
	/* Revoking the page's own token signs it out here. */
	await loadTokens();
}

async function createToken(e) {
	e.preventDefault();
	const err = $('token-form-error');
	err.hidden = true;
	const scopes = [...document.querySelectorAll(
	    '#token-form input[name="scope"]:checked')].map((c) => c.value);
	if (scopes.length === 0) {
		err.textContent = 'Choose at least one scope.';
		err.hidden = false;
		return;
	}
	const body = { scopes };
	if ($('token-label').value !== '')
		body.label = $('token-label').value;
	const exp = $('token-expires').value.trim();
	if (exp !== '')
		body.expires_in = exp;
	$('token-create').disabled = true;
	let t;
	try {
		t = await api('POST', S.base + '/tokens', body);
	} catch (x) {
		failed(x, err);
		return;
	} finally {
		$('token-create').disabled = false;
	}
	$('token-label').value = '';
	$('token-expires').value = '';
	showSecret(t);
	await loadTokens();
}

function showSecret(t) {
	$('token-secret-id').textContent = t.id;
	$('token-secret').value = t.secret;
	$('token-copy').textContent = 'Copy';
	$('token-secret-box').hidden = false;
	$('token-secret').focus();
	$('token-secret').select();
}

function hideSecret() {
	$('token-secret').value = '';
	$('token-secret-id').textContent = '';
	$('token-secret-box').hidden = true;
}

async function copySecret() {
	const input = $('token-secret');
	try {
		await navigator.clipboard.writeText(input.value);
	} catch (e) {
		input.select();
		document.execCommand('copy');
	}
	$('token-copy').textContent = 'Copied';
}

/* Wiring. */

function wire() {
	$('signin-form').addEventListener('submit', (e) => {
		e.preventDefault();
		signIn($('token').value, $('kind-jwt').checked ? {
			realm: $('signin-realm').value.trim(),
			app: $('signin-app').value.trim(),
		} : null);
	});
	$('kind-service').addEventListener('change', signInKind);
	$('kind-jwt').addEventListener('change', signInKind);
	$('rules-open').addEventListener('click', openRules);
	$('rules-close').addEventListener('click', closeRules);
	$('rules-save').addEventListener('click', saveRules);
	$('rules').addEventListener('keydown', (e) => {
		if (e.key === 'Escape') {
			closeRules();
			$('rules-open').focus();
		}
	});
	$('signout').addEventListener('click', () => signOut(''));
	$('alert-close').addEventListener('click', hideAlert);
	$('collections-reload').addEventListener('click', loadCollections);
	$('live-toggle').addEventListener('click', () => {
		S.live = S.stream === null;
		/* Read the page again, then stream from there. */
		if (S.live)
			loadPage(S.page);
		else
			stopStream();
	});
	$('query').addEventListener('submit', applyFilter);
	for (const th of document.querySelectorAll('#records-table th[data-sort]'))
		th.querySelector('button').addEventListener('click', () =>
		    sortBy(th.dataset.sort));
	$('record-new').addEventListener('click', () => showEditor('new', null));
	$('page-first').addEventListener('click', () => loadPage(0));
	$('page-prev').addEventListener('click', () =>
	    loadPage(Math.max(0, S.page - 1)));
	$('page-next').addEventListener('click', () => {
		if (S.next !== null)
			loadPage(S.page + 1);
	});
	$('page-limit').addEventListener('change', (e) => {
		S.limit = parseInt(e.target.value, 10);
		S.cursors = [null];
		S.bounds = [null];
		loadPage(0);
	});
	$('editor-text').addEventListener('input', () => {
		if (S.editor !== null)
			S.editor.dirty = true;
		validate();
	});
	$('editor-save').addEventListener('click', saveEditor);
	$('editor-delete').addEventListener('click', deleteRecord);
	$('editor-close').addEventListener('click', () => {
		closeEditor();
		$('record-new').focus();
	});
	$('editor').addEventListener('keydown', (e) => {
		if (e.key === 'Escape') {
			if (S.editor !== null && S.editor.dirty &&
			    !S.editor.escaped) {
				S.editor.escaped = true;
				editorNotice('Unsaved changes: press Esc again ' +
				    'to discard them.');
				return;
			}
			closeEditor();
			$('record-new').focus();
		} else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
			e.preventDefault();
			saveEditor();
		}
	});
	$('events-clear').addEventListener('click', clearEvents);
	$('publish').addEventListener('submit', publish);
	$('view-records').addEventListener('click', () => {
		location.hash = S.collection !== null ?
		    '#/' + enc(S.collection) : '#/';
	});
	$('view-tokens').addEventListener('click', () => {
		location.hash = '#tokens';
	});
	$('tokens-reload').addEventListener('click', loadTokens);
	$('tokens-reload').addEventListener('click', loadWebhooks);
	$('token-form').addEventListener('submit', createToken);
	$('token-copy').addEventListener('click', copySecret);
	$('token-secret-done').addEventListener('click', () => {
		hideSecret();
		$('token-label').focus();
	});
	window.addEventListener('hashchange', () => {
		if (S.grant === null)
			return;
		if (location.hash === '#tokens') {
			showView('tokens');
			return;
		}
		if (S.view !== 'records')
			showView('records');
		const want = wantedCollection();
		if (want !== null)
			openCollection(want);
	});
}

function main() {
	wire();
	const saved = sessionStorage.getItem(TOKEN_KEY);
	let where = null;
	try {
		where = JSON.parse(sessionStorage.getItem(APP_KEY));
	} catch (e) {
		/* none, or not ours: a service token */
	}
	if (where !== null && typeof where === 'object') {
		$('kind-jwt').checked = true;
		$('signin-realm').value = where.realm;
		$('signin-app').value = where.app;
	} else
		where = null;
	signInKind();
	if (saved)
		signIn(saved, where);
	else
		showSignIn('');
}

if (typeof document !== 'undefined')
	document.addEventListener('DOMContentLoaded', main);
