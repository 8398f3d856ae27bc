// The dashboard in headless Chromium, driven with playwright-core against
// basalt behind lighttpd; started by tests/dashboard.sh, which sets URL
// (basalt A), URL2 (basalt B on the same database), TOKEN (read, write,
// admin), RTOKEN (read), BADTOKEN, COLLECTIONS, SCREENSHOT, CHROMIUM, T,
// HSKEY (the HS256 secret acme/web trusts) and OTHERKEY (one it does not).
// Prints TAP. "@ctl stop" / "@ctl start" lines ask dashboard.sh to stop or
// start basalt A, "@ctl prune" to cut the event log to its last 3 events;
// the answer comes on stdin. The records view's filter, sort and live
// hand-off are tried on a collection "tasks"; the Tokens view on the app's
// tokens; the Rules view, JWT sign-in and what users see on "todos".

import { chromium } from 'playwright-core';
import { execFile } from 'node:child_process';
import { createInterface } from 'node:readline';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const env = process.env;
const URL = env.URL;
const APP = '/api/realms/acme/apps/web';
const POSTS = URL + APP + '/collections/posts';
const POSTS2 = env.URL2 + APP + '/collections/posts';
const COMMENTS = URL + APP + '/collections/comments';
const COMMENTS2 = env.URL2 + APP + '/collections/comments';
const LIVE_MS = 1000;	// "within a second"

// ------------------------------------------------------------------ TAP

let n = 0;
let failures = 0;

function diag(text) {
	for (const line of String(text).split('\n'))
		console.log('# ' + line);
}

function ok(cond, desc, ...why) {
	n++;
	console.log((cond ? 'ok ' : 'not ok ') + n + ' - ' + desc);
	if (!cond) {
		failures++;
		for (const w of why)
			diag(typeof w === 'string' ? w : JSON.stringify(w));
	}
	return cond;
}

function is(got, want, desc) {
	const g = JSON.stringify(got), w = JSON.stringify(want);
	return ok(g === w, desc, '     got: ' + g, 'expected: ' + w);
}

// ------------------------------------------------------------------ control

const replies = [];
const waiting = [];
createInterface({ input: process.stdin }).on('line', (line) => {
	if (waiting.length > 0)
		waiting.shift()(line);
	else
		replies.push(line);
});

async function ctl(cmd) {
	console.log('@ctl ' + cmd);
	const answer = await new Promise((resolve) => {
		if (replies.length > 0)
			resolve(replies.shift());
		else
			waiting.push(resolve);
	});
	return answer === 'done 0';
}

// ------------------------------------------------------------------ curl

async function curl(method, url, token, body, extra = []) {
	const args = ['-s', '--max-time', '10', '-X', method,
	    '-H', 'Authorization: Bearer ' + token,
	    '-w', '\n%{http_code}', ...extra];
	if (body !== undefined)
		args.push('-H', 'Content-Type: application/json',
		    '--data-binary', JSON.stringify(body));
	args.push(url);
	let out;
	try {
		out = (await run('curl', args)).stdout;
	} catch (e) {
		out = (e.stdout || '') + '\n000';
	}
	const i = out.lastIndexOf('\n');
	const text = out.slice(0, i);
	let json = null;
	try {
		json = JSON.parse(text);
	} catch (e) {
		/* not JSON: the test that cares says so */
	}
	return { status: Number(out.slice(i + 1)), text, json };
}

// ------------------------------------------------------------------ page helpers

// What the test is doing, for the console check.
const phase = { name: 'start', allow: null };

function during(name, allow) {
	phase.name = name;
	phase.allow = allow || null;
}

const FAILED = (status) =>
	new RegExp('^Failed to load resource: the server responded with a ' +
	    'status of ' + status + ' ');

// Waits until fn(arg) is true in the page; returns the milliseconds it took
// or -1 when it did not happen within ms.
async function within(page, ms, fn, arg) {
	const t0 = Date.now();
	try {
		await page.waitForFunction(fn, arg, { timeout: ms, polling: 10 });
	} catch (e) {
		return -1;
	}
	return Date.now() - t0;
}

function rowIds(page) {
	return page.$$eval('#records tr', (trs) => trs.map((t) => t.dataset.id));
}

// The events panel, oldest first.
function events(page) {
	return page.$$eval('#events li', (lis) => lis.reverse().map((li) => ({
		type: li.dataset.type,
		id: li.dataset.id,
		record: li.dataset.record || null,
		text: li.querySelector('.payload').textContent,
	})));
}

function connState(page) {
	return page.$eval('#conn', (c) => c.dataset.state);
}

function hasRow(id) {
	return document.querySelector('#records tr[data-id="' + id + '"]') !==
	    null;
}

function noRow(id) {
	return document.querySelector('#records tr[data-id="' + id + '"]') ===
	    null;
}

function rowHas([id, text]) {
	const tr = document.querySelector('#records tr[data-id="' + id + '"]');
	return tr !== null && tr.querySelector('.fields').textContent
	    .includes(text);
}

function stateIs(want) {
	return document.getElementById('conn').dataset.state === want;
}

// Records every change of the connection state, for the restart test.
function watchStates() {
	window.__states = [document.getElementById('conn').dataset.state];
	const c = document.getElementById('conn');
	new MutationObserver(() => {
		const s = c.dataset.state;
		if (window.__states[window.__states.length - 1] !== s)
			window.__states.push(s);
	}).observe(c, { attributes: true, attributeFilter: ['data-state'] });
}

// ------------------------------------------------------------------ parser cases

// WHATWG event-stream cases: the input and the events it must give, as
// [type, data, lastEventId]; retries lists the retry values taken.
const SSE_CASES = [
	{ name: 'one event', input: 'data: a\n\n', events: [['message', 'a', '']] },
	{ name: 'CRLF and two data lines', input: 'data:a\r\ndata: b\r\n\r\n',
	  events: [['message', 'a\nb', '']] },
	{ name: 'CR line ends', input: 'event: x\rdata: 1\r\rdata: 2\r\r',
	  events: [['x', '1', ''], ['message', '2', '']] },
	{ name: 'mixed line ends', input: 'data: 1\r\n\ndata: 2\r\r\ndata: 3\n\r',
	  events: [['message', '1', ''], ['message', '2', ''], ['message', '3', '']] },
	{ name: 'one BOM dropped', input: '\ufeffdata: 1\n\n', events: [['message', '1', '']] },
	{ name: 'a second BOM is part of the field name', input: '\ufeff\ufeffdata: 1\n\n',
	  events: [] },
	{ name: 'comments', input: ': basalt stream\n:keepalive\ndata: c\n: mid\n\n',
	  events: [['message', 'c', '']] },
	{ name: 'id persists, NUL id ignored', input:
	  'id: 5\ndata: x\n\ndata: y\n\nid: a\0b\ndata: z\n\nid\ndata: w\n\n',
	  events: [['message', 'x', '5'], ['message', 'y', '5'], ['message', 'z', '5'],
	    ['message', 'w', '']] },
	{ name: 'retry digits only', input: 'retry: 3000\nretry: 3x\nretry:\nretry: 12\n',
	  events: [], retries: [3000, 12] },
	{ name: 'field without colon', input: 'data\n\ndata\ndata\n\n',
	  events: [['message', '', ''], ['message', '\n', '']] },
	{ name: 'only one space stripped', input: 'data:  two\n\n',
	  events: [['message', ' two', '']] },
	{ name: 'no event without data; type reset', input:
	  'event: foo\n\ndata: 1\n\nevent: bar\nid: 9\n\ndata: 2\n\n',
	  events: [['message', '1', ''], ['message', '2', '9']] },
	{ name: 'unknown fields ignored', input: 'foo: bar\ndata: 1\nDATA: 2\n\n',
	  events: [['message', '1', '']] },
	{ name: 'unfinished event dropped at the end', input: 'data: 1\n\ndata: 2\n',
	  events: [['message', '1', '']] },
	{ name: 'a basalt stream', input: ': basalt stream\nretry: 2000\n\n' +
	  'id: 42\nevent: record_created\ndata: {"id":"01J","fields":{"t":"h\u00e9"}}\n\n' +
	  ':keepalive\n\nid: 43\nevent: chat\ndata: {"text":"hi"}\n\n',
	  events: [['record_created', '{"id":"01J","fields":{"t":"h\u00e9"}}', '42'],
	    ['chat', '{"text":"hi"}', '43']], retries: [2000] },
];

// Runs in the page: feeds each case whole, cut in two at every place, and
// one character at a time, to the page's own parser.
function runParserCases(cases) {
	function feed(pieces) {
		const got = [], retries = [];
		const p = new SSEParser({
			event: (e) => got.push([e.type, e.data, e.lastEventId]),
			retry: (ms) => retries.push(ms),
		});
		for (const s of pieces)
			p.push(s);
		return JSON.stringify([got, retries]);
	}
	return cases.map((c) => {
		const want = JSON.stringify([c.events, c.retries || []]);
		const bad = [];
		const whole = feed([c.input]);
		if (whole !== want)
			bad.push('whole: ' + whole);
		for (let i = 1; i < c.input.length; i++) {
			const got = feed([c.input.slice(0, i), '', c.input.slice(i)]);
			if (got !== want)
				bad.push('cut at ' + i + ': ' + got);
		}
		const chars = feed([...c.input]);
		if (chars !== want)
			bad.push('by character: ' + chars);
		return { name: c.name, want, bad: bad.slice(0, 3) };
	});
}

// ------------------------------------------------------------------ the tests

async function signInAs(page, token) {
	await page.fill('#token', token);
	await page.press('#token', 'Enter');
}

// ------------------------------------------------------------------ filter, sort, hand-off

const TASKS = URL + APP + '/collections/tasks';
const OPEN = 'fields.status = "open"';

function countShown(page) {
	return page.$eval('#page-info', (p) => p.textContent);
}

// What the pager says for n rows on the first page.
function counted(n) {
	return 'page 1 · ' + n + (n === 1 ? ' record' : ' records');
}

// The rows the table shows equal ids, in that order.
function rowsAre(ids) {
	return [...document.querySelectorAll('#records tr')]
	    .map((t) => t.dataset.id).join() === ids.join();
}

// The records the API lists for a query, all pages.
async function apiIds(query) {
	const ids = [];
	let after = null;
	for (let i = 0; i < 20; i++) {
		const q = new URLSearchParams({ limit: '100', ...query });
		if (after !== null)
			q.set('after', after);
		const r = await curl('GET', TASKS + '/records?' + q, env.TOKEN);
		if (r.status !== 200)
			return ['status ' + r.status];
		ids.push(...r.json.items.map((x) => x.id));
		after = r.json.next;
		if (after === null)
			break;
	}
	return ids;
}

// The test's own copy of the collection: id -> record, as curl got it.
const tasks = new Map();

async function write(method, id, body) {
	const r = await curl(method, TASKS + '/records' + (id ? '/' + id : ''),
	    env.TOKEN, body);
	if (r.status === 204)
		tasks.delete(id);
	else if (r.json && r.json.id)
		tasks.set(r.json.id, r.json);
	return r;
}

// The ids the filter on status selects, in the order of key (id or
// updated_at), descending if desc; id breaks ties.
function expected(status, key, desc) {
	const recs = [...tasks.values()].filter((t) =>
	    status === null || t.fields.status === status);
	recs.sort((a, b) => {
		let c = a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0;
		if (c === 0)
			c = a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
		return desc ? -c : c;
	});
	return recs.map((t) => t.id);
}

async function queryTests(newPage) {
	during('query');
	// 26 tasks, two in three open; one title is markup.
	for (let i = 0; i < 26; i++)
		await write('POST', null, { status: i % 3 === 0 ? 'done' : 'open',
		    n: i, title: i === 4 ? '<img src=x id=xss>' : 'task ' + i });
	// Updated in reverse order, so that updated_at and id order differ.
	for (const id of [...tasks.keys()].reverse())
		await write('PATCH', id, { touched: true });
	is(tasks.size, 26, '26 tasks written with curl');

	const page = await newPage({ width: 1366, height: 860 });
	const lists = [];	// the answers to the table's list requests
	const streams = [];	// the table's stream requests
	page.on('response', async (res) => {
		if (!/\/collections\/tasks\/records\?/.test(res.url()))
			return;
		lists.push({ url: res.url(), status: res.status(),
		    json: res.json().catch(() => null) });
	});
	// The last list the page read, with its answer.
	async function lastList() {
		const l = lists[lists.length - 1];
		return l && { url: new globalThis.URL(l.url), json: await l.json };
	}
	page.on('request', (q) => {
		if (/\/collections\/tasks\/events/.test(q.url()))
			streams.push({ url: new globalThis.URL(q.url()),
			    last: q.headers()['last-event-id'] });
	});
	await page.goto(URL + '/_/#/tasks');
	await signInAs(page, env.TOKEN);
	let ms = await within(page, 5000, stateIs, 'live');
	ok(ms >= 0 && await within(page, 3000, rowsAre,
	    expected(null, 'id', false).slice(0, 25)) >= 0,
	    'tasks open live with the first 25 rows in id order');
	let list = await lastList();
	let stream = streams[streams.length - 1];
	ok(list && list.json && typeof list.json.event_id === 'number' &&
	    stream &&
	    stream.last === String(list.json.event_id),
	    'the stream starts at the list\'s event_id',
	    list && list.json && list.json.event_id, stream && stream.last);

	// Typing a filter shows exactly the matching rows, and streams them.
	await page.fill('#filter', OPEN);
	await page.press('#filter', 'Enter');
	ms = await within(page, 3000, rowsAre, expected('open', 'id', false));
	ok(ms >= 0, 'typing ' + OPEN + ' shows exactly the 17 open tasks',
	    await rowIds(page));
	is(await countShown(page), counted(17), 'the pager counts 17');
	ok(await within(page, 3000, stateIs, 'live') >= 0,
	    'the page is live again');
	list = await lastList();
	stream = streams[streams.length - 1];
	is([list.url.searchParams.get('filter'),
	    stream.url.searchParams.get('filter'),
	    stream.last === String(list.json && list.json.event_id)],
	    [OPEN, OPEN, true],
	    'the list and the new stream carry the filter; the stream ' +
	    'starts at the new list\'s event_id');
	is(await apiIds({ filter: OPEN }), expected('open', 'id', false),
	    'the table shows what the API lists for the filter');
	ok(await page.$('#records img') === null && await page.evaluate(() =>
	    [...document.querySelectorAll('#records .fields')]
	    .some((f) => f.textContent.includes('<img src=x id=xss>'))),
	    'a title that is markup shows as text');

	// A bad filter shows the API's error by the box; the table stays.
	during('bad filter', FAILED(400));
	await page.fill('#filter', 'fields.status = ');
	await page.press('#filter', 'Enter');
	ms = await within(page, 3000, () =>
	    !document.getElementById('filter-error').hidden);
	const ferr = await page.textContent('#filter-error');
	ok(ms >= 0 && /^400 invalid_filter: at \d+: ./.test(ferr),
	    'a bad filter shows the 400 invalid_filter message', ferr);
	ok(await page.evaluate(rowsAre, expected('open', 'id', false)),
	    'and the table keeps the rows of the last good filter');
	await page.fill('#filter', '<img src=x id=xss2> = 1');
	await page.press('#filter', 'Enter');
	await within(page, 3000, (was) => document.getElementById(
	    'filter-error').textContent !== was, ferr);
	ok(await page.$('img') === null,
	    'a filter that is markup is never markup in the page',
	    await page.textContent('#filter-error'));
	during('sort');
	await page.fill('#filter', OPEN);
	await page.press('#filter', 'Enter');
	await within(page, 3000, () =>
	    document.getElementById('filter-error').hidden);

	// Sorting: a click on a header sorts ascending, again descending.
	const upd = '#records-table th[data-sort="updated_at"]';
	await page.click(upd + ' button');
	ms = await within(page, 3000, rowsAre, expected('open', 'updated_at',
	    false));
	let th = await page.$eval(upd, (t) => [t.getAttribute('aria-sort'),
	    t.textContent.trim()]);
	ok(ms >= 0 && th[0] === 'ascending' && th[1] === 'updated \u25b2',
	    'a click on "updated" sorts by it, oldest first, with an arrow up',
	    th, await rowIds(page));
	await page.click(upd + ' button');
	ms = await within(page, 3000, rowsAre, expected('open', 'updated_at',
	    true));
	th = await page.$eval(upd, (t) => [t.getAttribute('aria-sort'),
	    t.textContent.trim()]);
	ok(ms >= 0 && th[0] === 'descending' && th[1] === 'updated \u25bc',
	    'a second click sorts newest first, with an arrow down', th);
	list = await lastList();
	is(list.url.searchParams.get('sort'),
	    '-updated_at', 'the list asks for sort=-updated_at');
	is(await page.$eval('#records-table th[data-sort="id"]', (t) =>
	    t.getAttribute('aria-sort')), 'none', 'id no longer shows a sort');

	// Pages of a sort follow the opaque cursor.
	await page.selectOption('#page-limit', '10');
	const byUpd = expected('open', 'updated_at', true);
	ms = await within(page, 3000, rowsAre, byUpd.slice(0, 10));
	await page.click('#page-next');
	ms = Math.min(ms, await within(page, 3000, rowsAre, byUpd.slice(10)));
	list = await lastList();
	const after = list.url.searchParams.get('after');
	ok(ms >= 0 && after !== null && !tasks.has(after),
	    'in pages of 10, page 2 holds the 7 after the first 10, asked ' +
	    'for with an opaque cursor', await rowIds(page), after);
	await page.click('#page-prev');
	ok(await within(page, 3000, rowsAre, byUpd.slice(0, 10)) >= 0,
	    'Previous shows the first 10 again');
	await page.selectOption('#page-limit', '25');
	await within(page, 3000, rowsAre, byUpd);

	// Live, filtered and sorted: rows come, change, move and go as
	// records enter and leave the filter.
	during('live filter');
	const last = byUpd[byUpd.length - 1];
	await write('PATCH', last, { title: 'touched again' });
	ms = await within(page, LIVE_MS, rowsAre, expected('open', 'updated_at',
	    true));
	ok(ms >= 0 && (await rowIds(page))[0] === last,
	    'an update moves the oldest row to the top (' + ms + ' ms)');
	let r = await write('POST', null, { status: 'open', title: 'new open' });
	const created = r.json.id;
	ms = await within(page, LIVE_MS, rowsAre, expected('open', 'updated_at',
	    true));
	ok(ms >= 0 && (await rowIds(page))[0] === created,
	    'a new open task shows at the top (' + ms + ' ms)');
	is(await countShown(page), counted(18), '18 rows');
	await liveFilterTests(page, lastList, byUpd, created);

	// Clearing the filter shows every task again, 25 a page; a new one
	// is counted on the next page.
	during('clear filter');
	await page.fill('#filter', '');
	await page.press('#filter', 'Enter');
	const all = expected(null, 'id', false);
	ms = await within(page, 3000, rowsAre, all.slice(0, 25));
	ok(ms >= 0 && all.length > 25 && !(await page.isDisabled('#page-next')),
	    'an empty filter shows the first 25 of all ' + all.length +
	    ' tasks, and a next page');
	r = await write('POST', null, { status: 'done', title: 'after clear' });
	ms = await within(page, LIVE_MS, () => document.getElementById(
	    'records-more').textContent === '1 record added since, on a ' +
	    'later page.');
	ok(ms >= 0 && await page.evaluate(rowsAre, all.slice(0, 25)),
	    'a new task is counted as added on a later page (' + ms + ' ms)');
	await page.click('#page-next');
	ok(await within(page, 3000, rowsAre, expected(null, 'id', false)
	    .slice(25)) >= 0, 'where Next shows it');
	await page.screenshot({ path: env.T + '/dashboard-filter.png' });
	await page.close();
}

// With the filter on: rows enter and leave as curl writes; writes made
// between the list and the stream are not lost.
async function liveFilterTests(page, lastList, byUpd, created) {
	let r = await curl('GET', TASKS + '/events?filter=%28', env.TOKEN,
	    undefined, ['--max-time', '2']);
	ok(r.status === 400, 'a stream refuses a bad filter= with 400 (' +
	    r.status + ')');
	let ms;
	r = await write('POST', null, { status: 'done', title: 'new done' });
	const done = r.json.id;
	await page.waitForTimeout(400);
	ok(await page.evaluate(noRow, done) &&
	    !(await events(page)).some((e) => e.record === done),
	    'a new task that is done shows neither as a row nor as an event');
	await write('PATCH', done, { status: 'open' });
	ms = await within(page, LIVE_MS, rowsAre, expected('open', 'updated_at',
	    true));
	ok(ms >= 0 && (await rowIds(page))[0] === done,
	    'when it is opened it enters: a row at the top (' + ms + ' ms)');
	is(await countShown(page), counted(19), '19 rows');
	const leaving = byUpd[3];
	await write('PATCH', leaving, { status: 'done' });
	ms = await within(page, LIVE_MS, noRow, leaving);
	ok(ms >= 0 && await page.evaluate(rowsAre, expected('open',
	    'updated_at', true)),
	    'a task that is closed leaves: its row goes (' + ms + ' ms)');
	is(await countShown(page), counted(18), '18 rows');
	const gone = byUpd[5];
	await write('DELETE', gone);
	ms = await within(page, LIVE_MS, noRow, gone);
	ok(ms >= 0 && await page.evaluate(rowsAre, expected('open',
	    'updated_at', true)), 'a deleted open task goes (' + ms + ' ms)');
	is(await countShown(page), counted(17), '17 rows');
	const evs = await events(page);
	const typeOf = (id) => evs.filter((e) => e.record === id)
	    .map((e) => e.type);
	is([typeOf(created), typeOf(done), typeOf(leaving), typeOf(gone)],
	    [['record_created'], ['record_entered'], ['record_left'],
	    ['record_deleted']],
	    'the events panel shows record_created, record_entered, ' +
	    'record_left, record_deleted');
	is(await rowIds(page), await apiIds({ filter: OPEN,
	    sort: '-updated_at' }), 'the table equals the API\'s list now');

	// The hand-off: writes made after the list was read but before the
	// stream started are not lost. The page's stream request is held
	// while curl writes.
	during('hand-off');
	const gap = {};
	await page.route(/\/collections\/tasks\/events/, async (route) => {
		if (gap.created === undefined) {
			gap.list = await lastList();
			gap.created = (await write('POST', null,
			    { status: 'open', title: 'in the gap' })).json.id;
			gap.left = expected('open', 'id', false)[0];
			await write('PATCH', gap.left, { status: 'done' });
			gap.done = true;
		}
		await route.continue();
	});
	await page.click('#records-table th[data-sort="id"] button');
	for (let i = 0; i < 100 && !gap.done; i++)
		await page.waitForTimeout(50);
	ms = await within(page, 5000, rowsAre, expected('open', 'id', false));
	await page.unroute(/\/collections\/tasks\/events/);
	ok(gap.created !== undefined && ms >= 0,
	    'sorted by id again, the table holds exactly the open tasks, ' +
	    'with the writes made between the list and the stream',
	    await rowIds(page), expected('open', 'id', false));
	ok(gap.list && gap.list.json &&
	    !gap.list.json.items.some((t) => t.id === gap.created),
	    'the list the table read did not have the record made in the gap');
	is([(await rowIds(page)).filter((id) => id === gap.created).length,
	    await page.evaluate(noRow, gap.left)], [1, true],
	    'the record made in the gap shows once; the one closed in the ' +
	    'gap is gone');
	r = await curl('GET', TASKS + '/events?filter=' +
	    encodeURIComponent(OPEN), env.TOKEN, undefined,
	    ['-N', '--max-time', '1', '-H', 'Last-Event-ID: ' +
	    (gap.list && gap.list.json ? gap.list.json.event_id : 0)]);
	ok(r.text.includes('event: record_created') &&
	    r.text.includes('event: record_left'),
	    'curl sees the gap writes after that event_id too',
	    r.text.slice(0, 300));
	is(await countShown(page), counted(expected('open', 'id', false).length),
	    'the pager counts them');
}

// ------------------------------------------------------------------ tokens

const TOKENS = URL + APP + '/tokens';
const secrets = [];	// made in the page: never in a URL

// The ids the API lists, in its order.
async function apiTokenIds() {
	const r = await curl('GET', TOKENS, env.TOKEN);
	return r.status === 200 ? r.json.items.map((t) => t.id) :
	    ['status ' + r.status];
}

function tokenRowIds(page) {
	return page.$$eval('#tokens tr[data-id]', (trs) =>
	    trs.map((t) => t.dataset.id));
}

function tokenState([id, state]) {
	const tr = document.querySelector('#tokens tr[data-id="' + id + '"]');
	return tr !== null && tr.dataset.state === state;
}

async function tokenViewTests(newPage) {
	during('tokens');
	const page = await newPage({ width: 1366, height: 860 });
	let posts = 0;
	page.on('request', (q) => {
		if (q.method() === 'POST' && q.url() === TOKENS)
			posts++;
	});
	await page.goto(URL + '/_/');
	await signInAs(page, env.TOKEN);
	await within(page, 5000, () =>
	    !document.getElementById('whoami').hidden);
	ok(await page.isVisible('#view-tokens'),
	    'an admin token sees the Tokens view button');
	const hook = (await curl('POST', URL + APP + '/webhooks', env.TOKEN,
	    { url: 'https://hooks.example/in', types: ['record_created'] }))
	    .json;
	await page.click('#view-tokens');
	const hookMs = await within(page, 5000, (id) => document.querySelector(
	    '#webhooks tr[data-id="' + id + '"]') !== null, hook.id);
	is(hookMs >= 0 ? await page.$eval('#webhooks tr[data-id="' + hook.id +
	    '"]', (tr) => [...tr.querySelectorAll('td')].slice(1, 3)
	    .map((td) => td.textContent)) : 'no row',
	    ['https://hooks.example/in', 'all collections; record_created'],
	    'the Tokens view lists the webhooks with their URL and events');
	await curl('DELETE', URL + APP + '/webhooks/' + hook.id, env.TOKEN);
	let want = await apiTokenIds();
	let ms = await within(page, 5000, (ids) => [...document
	    .querySelectorAll('#tokens tr[data-id]')].map((t) => t.dataset.id)
	    .join() === ids.join(), want);
	ok(ms >= 0 && want.length >= 2 && page.url().endsWith('#tokens'),
	    'the Tokens view lists the tokens the API lists, in its order (' +
	    want.length + ')', await tokenRowIds(page), want);
	const admin = (await curl('GET', TOKENS, env.TOKEN)).json.items
	    .find((t) => t.label === 'test');
	is(await page.$eval('#tokens tr[data-id="' + admin.id + '"]', (tr) =>
	    [...tr.querySelectorAll('td')].slice(1, 3).concat(
	    tr.querySelector('td.state')).map((td) => td.textContent)),
	    ['read, write, admin', 'test', 'active'],
	    'a row shows scopes, label and state');
	ok(!(await page.isVisible('#app')), 'the records view is hidden');

	// Refusals: none checked is the page's, a bad duration the API's.
	await page.uncheck('#token-form input[value="read"]');
	await page.click('#token-create');
	let err = await page.textContent('#token-form-error');
	ok(/at least one scope/.test(err) && posts === 0,
	    'no scope checked: refused in the page, nothing sent', err);
	during('bad duration', FAILED(400));
	await page.check('#token-form input[value="read"]');
	await page.fill('#token-expires', '10x');
	await page.click('#token-create');
	await within(page, 3000, (e) => document.getElementById(
	    'token-form-error').textContent !== e, err);
	err = await page.textContent('#token-form-error');
	ok(/^400 invalid_parameter: .*expires_in/.test(err) && posts === 1,
	    'a bad duration shows the API\'s 400', err);
	is(await apiTokenIds(), want, 'and nothing is created');

	// Create one: the secret is shown once and works.
	during('create token');
	await page.check('#token-form input[value="write"]');
	await page.fill('#token-label', 'from the page <b id=xss3>');
	await page.fill('#token-expires', '1d');
	await page.click('#token-create');
	ms = await within(page, 5000, () =>
	    !document.getElementById('token-secret-box').hidden);
	const secret = await page.inputValue('#token-secret');
	const tid = await page.textContent('#token-secret-id');
	secrets.push(secret);
	ok(ms >= 0 && /^bas_/.test(secret) && /^[0-9a-f]{16}$/.test(tid),
	    'a new token\'s secret and id are shown', tid);
	let r = await curl('GET', URL + '/api/token', secret);
	is([r.status, r.json && r.json.scopes, r.json && r.json.label],
	    [200, ['read', 'write'], 'from the page <b id=xss3>'],
	    'the secret works: GET /api/token shows what the page asked for');
	r = await curl('GET', TOKENS, env.TOKEN);
	const made = r.json.items.find((t) => t.id === tid);
	const left = made && (Date.parse(made.expires_at) - Date.now()) / 1000;
	ok(made && left > 86400 - 60 && left <= 86400,
	    'it expires in a day', made);
	want = await apiTokenIds();
	ms = await within(page, 3000, (ids) => [...document
	    .querySelectorAll('#tokens tr[data-id]')].map((t) => t.dataset.id)
	    .join() === ids.join(), want);
	ok(ms >= 0 && want.includes(tid), 'the list shows it');
	ok(await page.$('#xss3') === null && (await page.$eval(
	    '#tokens tr[data-id="' + tid + '"] td.label', (td) =>
	    td.textContent)) === 'from the page <b id=xss3>',
	    'a label that is markup shows as text');
	is(await page.evaluate(() => [sessionStorage.length,
	    localStorage.length]), [1, 0],
	    'the secret is not kept: sessionStorage holds the sign-in alone');
	ok(!(await page.evaluate((x) => sessionStorage.getItem('basalt.token')
	    .includes(x), secret)), 'and not the new secret');
	await page.screenshot({ path: env.T + '/dashboard-tokens.png' });
	await page.click('#token-secret-done');
	is(await page.evaluate(() => [document.getElementById(
	    'token-secret-box').hidden, document.getElementById('token-secret')
	    .value]), [true, ''], 'Done hides the secret and forgets it');

	// A second page signed in with the new token watches posts live.
	during('revoke', /^Failed to load resource: the server responded with a status of 401 /);
	const other = await newPage({ width: 1024, height: 768 });
	await other.goto(URL + '/_/#/posts');
	await signInAs(other, secret);
	ms = await within(other, 5000, stateIs, 'live');
	ok(ms >= 0 && !(await other.isVisible('#view-tokens')),
	    'a page signed in with it is live on posts, without Tokens');
	// Signing out clears the events panel: keep what it showed.
	await other.evaluate(() => {
		window.__seen = [];
		new MutationObserver((ms) => {
			for (const m of ms)
				for (const li of m.addedNodes)
					window.__seen.push({ type: li.dataset.type,
					    text: li.querySelector('.payload')
					    .textContent });
		}).observe(document.getElementById('events'),
		    { childList: true });
	});

	// Revoke: the first press arms, the second revokes.
	const rv = '#tokens tr[data-id="' + tid + '"] button.revoke';
	await page.click(rv);
	await page.waitForTimeout(300);
	r = await curl('GET', URL + '/api/token', secret);
	is([r.status, await page.textContent(rv)],
	    [200, 'Press again to revoke'], 'one press on Revoke revokes nothing');
	await page.click(rv);
	ms = await within(page, 3000, tokenState, [tid, 'revoked']);
	r = await curl('GET', URL + '/api/token', secret);
	ok(ms >= 0 && r.status === 401,
	    'the second press revokes it: the row says revoked, curl gets 401',
	    'curl: ' + r.status);
	ok(await page.$(rv) === null, 'a revoked token has no Revoke button');
	ms = await within(other, 8000, () =>
	    !document.getElementById('signin').hidden);
	err = await other.textContent('#signin-error');
	ok(ms >= 0 && /token was revoked \(token_revoked\)/.test(err),
	    'the page using it is signed out within a heartbeat or two, ' +
	    'saying why (' + ms + ' ms)', err);
	const evs = await other.evaluate(() => window.__seen);
	ok(evs.some((e) => e.type === 'token_revoked' && e.text.includes(tid)),
	    'after its stream brought token_revoked', evs.map((e) => e.type));
	await other.close();

	// Back to the records.
	during('tokens back');
	await page.click('#view-records');
	ms = await within(page, 3000, () =>
	    !document.getElementById('app').hidden &&
	    document.getElementById('tokens-view').hidden);
	ok(ms >= 0, 'Records shows the records view again');
	await page.close();
}

// ------------------------------------------------------------------ end users

const TODOS = URL + APP + '/collections/todos';
const SIGN = new globalThis.URL('jwt-sign.mjs', import.meta.url).pathname;
const OWNER = 'fields.owner = @token.sub';

// A JWT of acme/web for sub, HS256 with key (default HSKEY), and more
// arguments of jwt-sign.mjs.
async function jwt(sub, more = [], key = env.HSKEY) {
	const r = await run('node', [SIGN, '--alg', 'HS256', '--key', key,
	    '--sub', sub, ...more]);
	return r.stdout.trim();
}

// Signs in with a JWT of realm/app (the form's second kind).
async function signInJwt(page, realm, app, token) {
	await page.check('#kind-jwt');
	await page.fill('#signin-realm', realm);
	await page.fill('#signin-app', app);
	await page.fill('#token', token);
	await page.press('#token', 'Enter');
}

function signedIn() {
	return !document.getElementById('whoami').hidden &&
	    document.getElementById('signin').hidden;
}

function signInError() {
	return !document.getElementById('signin-error').hidden;
}

// JWT sign-in: who it shows, what the page refuses, what it keeps.
async function jwtSignInTests(newPage) {
	during('jwt sign-in');
	const page = await newPage({ width: 1366, height: 860 });
	let sent = 0;
	page.on('request', (q) => {
		if (q.url().startsWith(URL + '/api/'))
			sent++;
	});
	await page.goto(URL + '/_/');
	await page.check('#kind-jwt');
	ok(await page.isVisible('#signin-realm') &&
	    await page.isVisible('#signin-app') &&
	    await page.textContent('#signin-token-label') === 'JWT',
	    'a user\'s JWT: the form asks for realm, app and JWT');
	const alice = await jwt('alice', ['--ttl', '600']);
	await signInJwt(page, 'acme', 'Web!', alice);
	let err = await page.textContent('#signin-error');
	ok(/realm and the app/.test(err) && sent === 0,
	    'a malformed app name is refused in the page, nothing sent', err);

	during('bad jwts', FAILED(401));
	for (const [what, token] of [
	    ['a JWT signed with another key', await jwt('alice',
		['--ttl', '600'], env.OTHERKEY)],
	    ['an expired JWT', await jwt('alice', ['--iat',
		String(Math.floor(Date.now() / 1000) - 900), '--exp',
		String(Math.floor(Date.now() / 1000) - 300)])],
	    ['alg none', await run('node', [SIGN, '--alg', 'none', '--key',
		env.HSKEY, '--sub', 'alice', '--ttl', '600']).then((r) =>
		r.stdout.trim())],
	]) {
		await signInJwt(page, 'acme', 'web', token);
		const ms = await within(page, 5000, signInError);
		err = await page.textContent('#signin-error');
		ok(ms >= 0 && /^Sign-in failed: 401 unauthorized: /.test(err) &&
		    !(await page.isVisible('#app')),
		    what + ': the sign-in form shows the 401', err);
	}
	is(await page.evaluate(() => sessionStorage.length), 0,
	    'a refused JWT is not kept');

	during('jwt sign-in');
	await signInJwt(page, 'acme', 'web', alice);
	let ms = await within(page, 5000, () => !document.getElementById(
	    'whoami').hidden && document.querySelectorAll(
	    '#collections button').length > 0);
	is([ms >= 0, ...await page.evaluate(() => ['realm', 'app', 'scopes',
	    'label-k', 'label'].map((k) => document.getElementById('who-' + k)
	    .textContent))],
	    [true, 'acme', 'web', 'read, write', 'user', 'alice'],
	    'signed in with alice\'s JWT: realm, app, scopes and user shown');
	ok(!(await page.isVisible('#view-tokens')),
	    'a JWT never sees the Tokens view');
	is(await page.$$eval('#collections button', (bs) =>
	    bs.map((b) => b.textContent).sort().join(' ') + ' '),
	    env.COLLECTIONS, 'it lists the app\'s collections');
	is(await page.evaluate(() => [sessionStorage.getItem('basalt.token'),
	    sessionStorage.getItem('basalt.app')]),
	    [alice, '{"realm":"acme","app":"web"}'],
	    'the JWT and its realm and app are kept in sessionStorage');
	await page.reload();
	ms = await within(page, 5000, () => !document.getElementById(
	    'whoami').hidden);
	is([ms >= 0, await page.textContent('#who-label')], [true, 'alice'],
	    'after a reload the page is signed in with the JWT again');
	await page.click('#signout');
	is(await page.evaluate(() => sessionStorage.length), 0,
	    'signing out forgets the JWT');
	await page.close();
}

// The rule of verb as curl gets it, null when unset.
async function ruleOf(verb) {
	const r = await curl('GET', TODOS, env.TOKEN);
	return r.json && r.json.rules ? r.json.rules[verb] : 'status ' + r.status;
}

// The Rules view of todos: a malformed rule is refused with its place,
// good ones are stored as the page shows them.
async function rulesViewTests(newPage) {
	during('rules view');
	const page = await newPage({ width: 1366, height: 860 });
	await page.goto(URL + '/_/#/todos');
	await signInAs(page, env.TOKEN);
	await within(page, 5000, stateIs, 'live');
	ok(await page.isVisible('#rules-open'), 'an admin sees Rules on todos');
	await page.click('#rules-open');
	let ms = await within(page, 3000, () =>
	    !document.getElementById('rules').hidden);
	is([ms >= 0, ...await page.evaluate(() => [...document.querySelectorAll(
	    '#rules-rows tr')].map((tr) => tr.dataset.verb + ':' +
	    tr.querySelector('select').value))],
	    [true, 'list:unset', 'view:unset', 'create:unset', 'update:unset',
	    'delete:unset', 'publish:unset', 'subscribe:unset'],
	    'the Rules view shows the seven rules, all unset');

	during('bad rule', FAILED(400));
	await page.selectOption('#rule-mode-list', 'expr');
	await page.fill('#rule-list', 'fields.owner = ');
	await page.click('#rules-save');
	ms = await within(page, 3000, () =>
	    !document.getElementById('rules-error').hidden);
	const err = await page.textContent('#rules-error');
	ok(ms >= 0 && /^400 invalid_filter: rules\.list: at \d+: ./.test(err),
	    'a malformed list rule shows the API\'s 400 with its position', err);
	is(await page.evaluate(() => [document.getElementById('rule-list')
	    .getAttribute('aria-invalid'), document.activeElement.id]),
	    ['true', 'rule-list'], 'the list rule is marked and focused');
	is(await ruleOf('list'), null, 'nothing is stored');

	during('rules');
	for (const v of ['list', 'view', 'create', 'update', 'delete']) {
		await page.selectOption('#rule-mode-' + v, 'expr');
		await page.fill('#rule-' + v, OWNER);
	}
	await page.selectOption('#rule-mode-subscribe', 'any');
	await page.click('#rules-save');
	ms = await within(page, 3000, () => document.getElementById(
	    'rules-note').textContent === 'Saved.');
	const r = await curl('GET', TODOS, env.TOKEN);
	const stored = r.json && r.json.rules;
	ok(ms >= 0 && stored && ['list', 'view', 'create', 'update', 'delete']
	    .every((v) => typeof stored[v] === 'string' &&
	    stored[v].includes('@token.sub')) && stored.publish === null &&
	    stored.subscribe === '',
	    'saved: curl sees the owner rules, publish unset, subscribe ""',
	    stored);
	is(await page.evaluate(() => ['list', 'subscribe', 'publish'].map((v) =>
	    [document.getElementById('rule-mode-' + v).value,
	    document.getElementById('rule-' + v).value])),
	    [['expr', stored && stored.list], ['any', ''], ['unset', '']],
	    'the view shows the rules as stored');
	await page.selectOption('#rule-mode-subscribe', 'unset');
	await page.click('#rules-save');
	await within(page, 3000, () => document.getElementById(
	    'rules-note').textContent === 'Saved.');
	is(await ruleOf('subscribe'), null, 'unset again: curl sees null');
	await page.screenshot({ path: env.T + '/dashboard-rules.png' });
	await page.close();
}

// What user A sees, live: only A's todos, through create, update into and
// out of A's view, and delete; then the JWT's expiry ends the session.
async function endUserTests(newPage) {
	during('end users');
	const mine = [], theirs = [];
	async function todo(owner, title) {
		const r = await curl('POST', TODOS + '/records', env.TOKEN,
		    { owner, title });
		(owner === 'alice' ? mine : theirs).push(r.json && r.json.id);
		return r;
	}
	for (let i = 0; i < 3; i++) {
		await todo('alice', 'alice-todo-' + i);
		await todo('bob', 'bob-todo-' + i);
	}
	const page = await newPage({ width: 1366, height: 860 });
	await page.goto(URL + '/_/#/todos');
	await signInJwt(page, 'acme', 'web', await jwt('alice',
	    ['--ttl', '600']));
	let ms = await within(page, 5000, stateIs, 'live');
	ok(ms >= 0 && await within(page, 3000, rowsAre, mine) >= 0,
	    'alice\'s page opens todos live with her 3 todos alone',
	    await rowIds(page));
	await page.evaluate(() => {
		window.__seen = [];
		new MutationObserver((ms) => {
			for (const m of ms)
				for (const li of m.addedNodes)
					window.__seen.push(li.dataset.type + ' ' +
					    li.querySelector('.payload').textContent);
		}).observe(document.getElementById('events'),
		    { childList: true });
	});

	// Bob's write first, then hers: when hers shows, his had its turn.
	await todo('bob', 'bob-todo-live');
	let r = await todo('alice', 'alice-todo-live');
	ms = await within(page, LIVE_MS, hasRow, r.json && r.json.id);
	ok(ms >= 0 && await page.evaluate(rowsAre, mine),
	    'her new todo shows within a second, bob\'s never (' + ms + ' ms)',
	    await rowIds(page));

	// Bob's todo updated into her view (then it is hers to see) and out
	// again.
	const moved = theirs[0];
	r = await curl('PATCH', TODOS + '/records/' + moved, env.TOKEN,
	    { owner: 'alice' });
	ms = await within(page, LIVE_MS, hasRow, moved);
	ok(r.status === 200 && ms >= 0,
	    'a todo given to alice enters her table (' + ms + ' ms)');
	r = await curl('PATCH', TODOS + '/records/' + moved, env.TOKEN,
	    { owner: 'bob', title: 'secret of bob' });
	ms = await within(page, LIVE_MS, noRow, moved);
	ok(r.status === 200 && ms >= 0,
	    'given back to bob, it leaves her table (' + ms + ' ms)');

	// Deletes: hers goes, his is no event of hers.
	await curl('DELETE', TODOS + '/records/' + theirs[1], env.TOKEN);
	r = await curl('DELETE', TODOS + '/records/' + mine[0], env.TOKEN);
	ms = await within(page, LIVE_MS, noRow, mine[0]);
	ok(r.status === 204 && ms >= 0,
	    'her deleted todo leaves her table (' + ms + ' ms)');
	const seen = await page.evaluate(() => window.__seen);
	is(seen.map((e) => e.split(' ')[0]), ['record_created',
	    'record_entered', 'record_left', 'record_deleted'],
	    'her events: created, entered, left, deleted; nothing of bob\'s');
	const leaked = theirs.filter((id) => id !== moved).concat(
	    ['bob-todo-1', 'bob-todo-2', 'bob-todo-live', 'secret of bob'])
	    .filter((x) => seen.some((e) => e.includes(x)));
	is(leaked, [], 'no id or title of bob\'s in any event she got');
	ok(!seen.some((e) => e.startsWith('record_left') &&
	    e.includes('secret of bob')),
	    'the record_left event does not carry bob\'s new fields');

	// The list rule changes while her page is open: the stream says
	// reset (rules_changed) and the page reads its list again.
	r = await curl('POST', TODOS + '/records', env.TOKEN,
	    { owner: 'bob', title: 'bob-public', public: true });
	const pub = r.json && r.json.id;
	r = await curl('PATCH', TODOS, env.TOKEN,
	    { rules: { list: OWNER + ' || fields.public = true' } });
	ms = await within(page, 3000, hasRow, pub);
	const reset = (await page.evaluate(() => window.__seen))
	    .find((e) => e.startsWith('reset '));
	ok(r.status === 200 && ms >= 0 && reset !== undefined &&
	    reset.includes('rules_changed'), 'a new list rule: reset ' +
	    '(rules_changed), and the table shows what it lets through (' +
	    ms + ' ms)', reset);
	r = await curl('PATCH', TODOS, env.TOKEN, { rules: { list: OWNER } });
	ms = await within(page, 3000, noRow, pub);
	ok(r.status === 200 && ms >= 0,
	    'the old rule again: the public todo leaves her table');

	// Her page's own writes go through the rules.
	during('end user writes', FAILED(403));
	await page.click('#record-new');
	await page.fill('#editor-text', '{"owner": "bob", "title": "x"}');
	await page.click('#editor-save');
	await within(page, 3000, () =>
	    !document.getElementById('editor-error').hidden);
	const werr = await page.textContent('#editor-error');
	ok(/^403 forbidden: /.test(werr),
	    'creating a todo for bob in her page is refused (403)', werr);
	during('end user writes');
	await page.fill('#editor-text', '{"owner": "alice", "title": "mine"}');
	await page.click('#editor-save');
	ms = await within(page, 3000, () => document.getElementById(
	    'editor-notice').textContent === 'Created.');
	ok(ms >= 0, 'creating one for herself works');
	await page.screenshot({ path: env.T + '/dashboard-user.png' });
	await page.close();

	// A JWT that expires while the page is open signs it out.
	during('jwt expiry', FAILED(401));
	const short = await newPage({ width: 1024, height: 768 });
	await short.goto(URL + '/_/#/todos');
	await signInJwt(short, 'acme', 'web', await jwt('alice',
	    ['--ttl', '3']));
	ms = await within(short, 5000, stateIs, 'live');
	ok(ms >= 0, 'a page with a JWT of 3 seconds is live');
	ms = await within(short, 8000, () =>
	    !document.getElementById('signin').hidden);
	const xerr = await short.textContent('#signin-error');
	ok(ms >= 0 && /expired \(token_expired\)/.test(xerr),
	    'at its expiry the page is signed out, saying why (' + ms +
	    ' ms)', xerr);
	await short.close();
}

async function main() {
	const browser = await chromium.launch({
		executablePath: env.CHROMIUM || '/usr/bin/chromium',
		args: ['--headless', '--no-sandbox', '--disable-gpu',
		    '--disable-background-networking',
		    '--disable-component-update', '--disable-sync',
		    '--no-first-run', '--disable-quic'],
	});
	// Console errors and uncaught exceptions. Chromium itself logs
	// "Failed to load resource" for every answer >= 400 and every broken
	// response; those are let through only in the phase that causes them
	// on purpose (phase.allow), and counted.
	const problems = [];
	const expected = [];
	const requests = [];	// every URL the pages asked for
	async function newPage(viewport) {
		const ctx = await browser.newContext({ viewport });
		const page = await ctx.newPage();
		page.on('console', (m) => {
			if (m.type() !== 'error' && m.type() !== 'warning')
				return;
			const text = m.type() + ': ' + m.text();
			if (phase.allow !== null && phase.allow.test(m.text()))
				expected.push(phase.name + ': ' + text);
			else
				problems.push(phase.name + ': ' + text);
		});
		page.on('pageerror', (e) => problems.push('exception: ' + e.message));
		page.on('request', (r) => requests.push(r.method() + ' ' + r.url()));
		return page;
	}
	try {
		await tests(newPage);
		await tokenViewTests(newPage);
		await jwtSignInTests(newPage);
		await rulesViewTests(newPage);
		await endUserTests(newPage);
		await queryTests(newPage);
	} finally {
		await browser.close();
	}
	is(problems, [], 'no console errors or warnings, no uncaught exceptions');
	diag('browser network errors caused on purpose: ' + expected.length);
	for (const e of expected)
		diag('  ' + e);
	const outside = requests.filter((r) => !r.split(' ')[1]
	    .startsWith(URL + '/') && !r.split(' ')[1].startsWith('data:'));
	is(outside, [], 'the pages fetched nothing from another origin');
	const leaks = requests.filter((r) => r.includes(env.TOKEN) ||
	    r.includes(env.RTOKEN) || secrets.some((x) => r.includes(x)));
	is(leaks, [], 'no token in any URL the pages asked for');
}

async function tests(newPage) {
	const page = await newPage({ width: 1366, height: 860 });

	// Served by basalt behind lighttpd, same origin as the API.
	let r = await curl('GET', URL + '/_/', '', undefined, ['-D', '-']);
	ok(r.status === 200 && /content-type: text\/html/i.test(r.text),
	    'GET /_/ is the page (200 text/html)', r.text.slice(0, 300));
	r = await curl('GET', URL + '/_/app.js', '', undefined, ['-D', '-']);
	ok(r.status === 200 && /content-type: (text|application)\/javascript/i
	    .test(r.text), 'GET /_/app.js is JavaScript', r.text.slice(0, 300));

	const res = await page.goto(URL + '/_/');
	is(res.status(), 200, 'the browser opens /_/');
	ok(await page.isVisible('#token'), 'the sign-in form is shown');

	// The page's own event-stream parser against the WHATWG rules.
	const cases = await page.evaluate(runParserCases, SSE_CASES);
	for (const c of cases)
		ok(c.bad.length === 0, 'stream parser: ' + c.name,
		    'expected ' + c.want, ...c.bad);

	// A wrong token: an error on the sign-in form, not a blank page.
	during('wrong token', FAILED(401));
	await signInAs(page, env.BADTOKEN);
	let ms = await within(page, 5000, () =>
	    !document.getElementById('signin-error').hidden);
	const err = await page.textContent('#signin-error');
	ok(ms >= 0 && /401/.test(err) && /unauthorized/.test(err),
	    'a wrong token shows the API error', 'shown: ' + err);
	ok(await page.isVisible('#token') && !(await page.isVisible('#app')),
	    'after a wrong token the sign-in form stays');
	is(await page.evaluate(() => sessionStorage.length), 0,
	    'a wrong token is not kept');

	// The right token: what it grants is shown.
	during('sign in');
	await signInAs(page, env.TOKEN);
	ms = await within(page, 5000, () =>
	    !document.getElementById('whoami').hidden &&
	    document.querySelectorAll('#collections button').length > 0);
	ok(ms >= 0, 'signed in with the token');
	is(await page.evaluate(() => ['realm', 'app', 'scopes', 'label']
	    .map((k) => document.getElementById('who-' + k).textContent)),
	    ['acme', 'web', 'read, write, admin', 'test'],
	    'realm, app, scopes and label of the token are shown');
	is(await page.evaluate((k) => sessionStorage.getItem(k), 'basalt.token'),
	    env.TOKEN, 'the token is kept in sessionStorage');
	ok(!page.url().includes(env.TOKEN), 'the token is not in the URL');
	is(await page.$$eval('#collections button', (bs) =>
	    bs.map((b) => b.textContent).sort().join(' ') + ' '),
	    env.COLLECTIONS, 'the collections are those the CLI lists');

	// Open a collection: it goes live.
	await page.click('#collections button[data-name="posts"]');
	ms = await within(page, 5000, stateIs, 'live');
	ok(ms >= 0, 'opening posts shows the stream live',
	    'state: ' + await connState(page));
	ok(page.url().endsWith('#/posts'), 'the collection is in the URL hash');
	await page.evaluate(watchStates);

	// Create a record in the page; the JSON editor refuses bad JSON.
	let posts = 0;
	page.on('request', (q) => {
		if (q.method() !== 'GET' && q.url().endsWith('/posts/records'))
			posts++;
	});
	await page.click('#record-new');
	await page.fill('#editor-text', '{"title": "x",}');
	const bad = await page.evaluate(() => [
	    document.getElementById('editor-error').hidden,
	    document.getElementById('editor-error').textContent,
	    document.getElementById('editor-save').disabled]);
	ok(!bad[0] && /not valid JSON/i.test(bad[1]) && bad[2],
	    'invalid JSON is refused with a message', bad);
	await page.press('#editor-text', 'Control+Enter');
	await page.fill('#editor-text', '[1, 2]');
	const arr = await page.textContent('#editor-error');
	ok(/object/.test(arr), 'a JSON array is refused: fields are an object',
	    arr);
	await page.press('#editor-text', 'Control+Enter');
	await page.waitForTimeout(200);
	is(posts, 0, 'nothing is sent while the JSON is refused');
	await page.fill('#editor-text', '{"title": "from the page", "n": 1}');
	await page.click('#editor-save');
	ms = await within(page, 5000, () =>
	    /^Record /.test(document.getElementById('editor-title').textContent));
	const pageId = (await page.textContent('#editor-title'))
	    .replace('Record ', '');
	ok(ms >= 0 && /^[0-9A-HJKMNP-TV-Z]{26}$/.test(pageId),
	    'the page created a record', 'editor: ' + pageId);
	ok(await within(page, 2000, hasRow, pageId) >= 0,
	    'the record the page created is in the table');
	r = await curl('GET', POSTS + '/records/' + pageId, env.TOKEN);
	is([r.status, r.json && r.json.fields],
	    [200, { title: 'from the page', n: 1 }], 'curl sees it');
	await page.click('#editor-close');

	// Changes made with curl show live, within a second, in order.
	during('live');
	r = await curl('POST', POSTS + '/records', env.TOKEN, { title: 'by curl' });
	const cid = r.json && r.json.id;
	ms = await within(page, LIVE_MS, hasRow, cid);
	ok(r.status === 201 && ms >= 0,
	    'a record created with curl shows within a second (' + ms + ' ms)');
	r = await curl('PATCH', POSTS + '/records/' + cid, env.TOKEN,
	    { title: 'changed by curl' });
	ms = await within(page, LIVE_MS, rowHas, [cid, 'changed by curl']);
	ok(r.status === 200 && ms >= 0,
	    'its update shows within a second (' + ms + ' ms)');
	r = await curl('DELETE', POSTS + '/records/' + cid, env.TOKEN);
	ms = await within(page, LIVE_MS, noRow, cid);
	ok(r.status === 204 && ms >= 0,
	    'its deletion shows within a second (' + ms + ' ms)');
	let evs = (await events(page)).filter((e) => e.record === cid);
	is(evs.map((e) => e.type),
	    ['record_created', 'record_updated', 'record_deleted'],
	    'the events panel shows created, updated, deleted in order');
	ok(evs.length === 3 && Number(evs[0].id) < Number(evs[1].id) &&
	    Number(evs[1].id) < Number(evs[2].id),
	    'with increasing event ids', evs);

	// A burst: every record, in creation order, within a second.
	const burst = [];
	for (let i = 0; i < 12; i++) {
		r = await curl('POST', POSTS + '/records', env.TOKEN, { burst: i });
		burst.push(r.json && r.json.id);
	}
	ms = await within(page, LIVE_MS, (ids) => {
		const shown = [...document.querySelectorAll('#records tr')]
		    .map((t) => t.dataset.id);
		return ids.every((id) => shown.includes(id));
	}, burst);
	ok(ms >= 0, '12 records created in a burst all show within a second (' +
	    ms + ' ms after the last)');
	const shown = await rowIds(page);
	is(shown.filter((id) => burst.includes(id)), burst,
	    'the table lists them in id order');
	evs = (await events(page)).filter((e) => burst.includes(e.record));
	ok(evs.length === 12 && evs.every((e, i) => e.record === burst[i] &&
	    (i === 0 || Number(e.id) > Number(evs[i - 1].id))),
	    'the events panel lists their events in order', evs.map((e) => e.id));

	// Paging follows the API's cursors.
	await page.selectOption('#page-limit', '10');
	await within(page, 3000, () => /page 1 · 10 records/
	    .test(document.getElementById('page-info').textContent));
	let want = [];
	for (let after = null, i = 0; i < 10; i++) {
		r = await curl('GET', POSTS + '/records?limit=10' +
		    (after ? '&after=' + after : ''), env.TOKEN);
		want.push(r.json.items.map((x) => x.id));
		after = r.json.next;
		if (after === null)
			break;
	}
	const pages = [await rowIds(page)];
	while (!(await page.isDisabled('#page-next'))) {
		const before = pages[pages.length - 1].join();
		await page.click('#page-next');
		await within(page, 3000, (b) => [...document.querySelectorAll(
		    '#records tr')].map((t) => t.dataset.id).join() !== b, before);
		pages.push(await rowIds(page));
		if (pages.length > 10)
			break;
	}
	is(pages, want, 'page by page, the table shows what the API pages give');
	await page.click('#page-prev');
	await within(page, 3000, (w) => [...document.querySelectorAll(
	    '#records tr')].map((t) => t.dataset.id).join() === w,
	    want[want.length - 2].join());
	is(await rowIds(page), want[want.length - 2], 'Previous goes back a page');
	await page.selectOption('#page-limit', '25');
	await within(page, 3000, () => /page 1 /
	    .test(document.getElementById('page-info').textContent));

	// Edit a record in the page.
	await page.click('#records tr[data-id="' + burst[0] + '"] button');
	await within(page, 3000, (id) => document.getElementById('editor-title')
	    .textContent === 'Record ' + id, burst[0]);
	await page.fill('#editor-text', '{"title": "edited in the page"}');
	await page.click('#editor-save');
	ms = await within(page, 3000, () => document.getElementById(
	    'editor-notice').textContent === 'Saved.');
	r = await curl('GET', POSTS + '/records/' + burst[0], env.TOKEN);
	is([ms >= 0, r.json && r.json.fields],
	    [true, { title: 'edited in the page' }],
	    'a record edited in the page is saved (curl sees it)');
	ok(await within(page, 1000, rowHas, [burst[0], 'edited in the page']) >= 0,
	    'and the table shows the edit');

	// Delete it in the page: two presses.
	await page.click('#editor-delete');
	await page.waitForTimeout(300);
	r = await curl('GET', POSTS + '/records/' + burst[0], env.TOKEN);
	is(r.status, 200, 'one press on Delete deletes nothing');
	await page.click('#editor-delete');
	ms = await within(page, 3000, noRow, burst[0]);
	r = await curl('GET', POSTS + '/records/' + burst[0], env.TOKEN);
	ok(ms >= 0 && r.status === 404,
	    'the second press deletes it: gone from the table, curl gets 404',
	    'curl: ' + r.status);

	// Publish a custom event; an error from the API is shown as it came.
	during('refused event', FAILED(400));
	await page.fill('#publish-type', 'reset');
	await page.fill('#publish-payload', '{}');
	await page.click('#publish-submit');
	await within(page, 3000, () =>
	    !document.getElementById('publish-error').hidden);
	const perr = await page.textContent('#publish-error');
	ok(/^400 invalid_event: ./.test(perr),
	    'a refused event type shows the API error', perr);
	during('custom event');
	await page.fill('#publish-type', 'chat');
	await page.fill('#publish-payload', '{"text": "hi from the page"}');
	await page.click('#publish-submit');
	// The event may come on the stream before the answer to the POST,
	// which writes the note: wait for both.
	ms = await within(page, 3000, () =>
	    document.querySelector('#events li[data-type="chat"]') !== null &&
	    /#\d+/.test(document.getElementById('publish-note').textContent));
	const note = await page.textContent('#publish-note');
	const chatId = (/#(\d+)/.exec(note) || [])[1];
	const chat = (await events(page)).find((e) => e.type === 'chat');
	ok(ms >= 0 && chat && chat.id === chatId &&
	    chat.text.includes('hi from the page'),
	    'a custom event published in the page comes back on the stream',
	    note, chat);
	r = await curl('GET', POSTS + '/events', env.TOKEN, undefined,
	    ['-N', '--max-time', '2', '-H', 'Last-Event-ID: ' + (chatId - 1)]);
	ok(r.text.includes('id: ' + chatId + '\nevent: chat\ndata: ') &&
	    r.text.includes('hi from the page'), 'curl sees the custom event',
	    r.text.slice(0, 400));

	// Restart basalt while the page is open; writes made meanwhile through
	// a second basalt process arrive when the page resumes.
	during('restart', new RegExp('^Failed to load resource: ' +
	    '(net::ERR_|the server responded with a status of 50[23] )'));
	ok(await ctl('stop'), 'basalt stopped while the page is open');
	ms = await within(page, 10000, stateIs, 'reconnecting');
	ok(ms >= 0, 'the page shows reconnecting (' + ms + ' ms)',
	    'state: ' + await connState(page));
	const down = [];
	for (let i = 0; i < 3; i++) {
		r = await curl('POST', POSTS2 + '/records', env.TOKEN,
		    { written: 'while down', i });
		down.push(r.status === 201 ? r.json.id : 'status ' + r.status);
	}
	ok(down.every((id) => /^[0-9A-Z]{26}$/.test(id)),
	    '3 records written through a second basalt meanwhile', down);
	await page.waitForTimeout(500);
	is(await page.evaluate((ids) => ids.filter((id) => document
	    .querySelector('#records tr[data-id="' + id + '"]')), down), [],
	    'the page does not have them while basalt is down');
	is(await connState(page), 'reconnecting', 'and still shows reconnecting');
	ok(await ctl('start'), 'basalt started again');
	ms = await within(page, 15000, stateIs, 'live');
	ok(ms >= 0, 'the page is live again (' + ms + ' ms)',
	    'state: ' + await connState(page));
	ms = await within(page, 3000, (ids) => ids.every((id) => document
	    .querySelector('#records tr[data-id="' + id + '"]')), down);
	ok(ms >= 0, 'the records written while it was down appear');
	evs = (await events(page)).filter((e) => down.includes(e.record));
	is(evs.map((e) => e.record), down,
	    'their events come once each, in order');
	const states = await page.evaluate(() => window.__states);
	is(states.slice(0, 3), ['live', 'reconnecting', 'live'],
	    'the states seen: live, reconnecting, live', states);
	during('after the restart');
	r = await curl('POST', POSTS + '/records', env.TOKEN, { after: 'restart' });
	ms = await within(page, LIVE_MS, hasRow, r.json && r.json.id);
	ok(ms >= 0, 'a record created after the restart shows within a second (' +
	    ms + ' ms)');

	await page.screenshot({ path: env.SCREENSHOT });
	let size = 0;
	try {
		size = statSync(env.SCREENSHOT).size;
	} catch (e) {
		/* reported below */
	}
	ok(size > 10000, 'a screenshot of the live view is saved: ' +
	    env.SCREENSHOT + ' (' + size + ' bytes)');

	// Events pruned while the page was away: the stream says reset and the
	// page reloads the table. On comments, which fit on one page.
	during('reset');
	await page.click('#collections button[data-name="comments"]');
	ms = await within(page, 5000, stateIs, 'live');
	r = await curl('POST', COMMENTS + '/records', env.TOKEN, { n: 0 });
	const before = [r.json && r.json.id];
	ok(ms >= 0 && await within(page, LIVE_MS, hasRow, before[0]) >= 0,
	    'comments open live; a new comment shows');
	during('reset', new RegExp('^Failed to load resource: ' +
	    '(net::ERR_|the server responded with a status of 50[23] )'));
	ok(await ctl('stop'), 'basalt stopped again');
	await within(page, 10000, stateIs, 'reconnecting');
	const gone = [];
	for (let i = 1; i <= 6; i++) {
		r = await curl('POST', COMMENTS2 + '/records', env.TOKEN, { n: i });
		gone.push(r.json && r.json.id);
	}
	ok(await ctl('prune'), 'meanwhile 6 comments written and the event ' +
	    'log cut to its last 3 events');
	ok(await ctl('start'), 'basalt started again');
	ms = await within(page, 15000, () =>
	    document.querySelector('#events li[data-type="reset"]') !== null);
	const reset = (await events(page)).find((e) => e.type === 'reset');
	ok(ms >= 0 && /events_pruned/.test(reset && reset.text),
	    'the page shows the reset event', reset);
	ms = await within(page, 3000, (ids) => ids.every((id) => document
	    .querySelector('#records tr[data-id="' + id + '"]')),
	    before.concat(gone));
	is([ms >= 0, await connState(page)], [true, 'live'],
	    'and reloads the table: all 7 comments are there, live');
	during('after reset');
	await page.click('#collections button[data-name="posts"]');

	// A reload keeps the session and the collection.
	await page.reload();
	ms = await within(page, 5000, stateIs, 'live');
	ok(ms >= 0 && await page.isVisible('#whoami'),
	    'after a reload the page is signed in and live again');

	// On a phone.
	await page.setViewportSize({ width: 390, height: 844 });
	await page.waitForTimeout(200);
	const phone = await page.evaluate(() => ({
		width: document.documentElement.scrollWidth,
		table: document.getElementById('records-table')
		    .getBoundingClientRect().width > 0,
		events: document.getElementById('events')
		    .getBoundingClientRect().width <= 390,
	}));
	ok(phone.width <= 390 && phone.table && phone.events,
	    'on a 390 px wide phone nothing overflows sideways', phone);
	await page.screenshot({ path: env.T + '/dashboard-phone.png',
	    fullPage: true });

	// Sign out: back to the form, the token forgotten.
	await page.setViewportSize({ width: 1366, height: 860 });
	await page.click('#signout');
	ok(await page.isVisible('#token') &&
	    await page.evaluate(() => sessionStorage.length) === 0,
	    'signing out forgets the token');

	// Keyboard only, with a read-only token, in a fresh tab.
	const kb = await newPage({ width: 1024, height: 768 });
	await kb.goto(URL + '/_/');
	await kb.waitForSelector('#token:focus');
	await kb.keyboard.type(env.RTOKEN);
	await kb.keyboard.press('Enter');
	await within(kb, 5000, () =>
	    document.querySelectorAll('#collections button').length > 0);
	let reached = false;
	for (let i = 0; i < 30 && !reached; i++) {
		await kb.keyboard.press('Tab');
		reached = await kb.evaluate(() =>
		    document.activeElement.dataset.name === 'posts');
	}
	await kb.keyboard.press('Enter');
	ms = await within(kb, 5000, stateIs, 'live');
	ok(reached && ms >= 0,
	    'with the keyboard alone: sign in, tab to posts, open it live');
	is(await kb.evaluate(() => [
	    document.getElementById('who-scopes').textContent,
	    document.getElementById('record-new').disabled,
	    document.getElementById('publish-fields').disabled,
	    document.getElementById('view-tokens').hidden]),
	    ['read', true, true, true],
	    'a read-only token can watch but not create, publish or see tokens');
	r = await curl('POST', POSTS + '/records', env.TOKEN, { seen: 'by reader' });
	ok(await within(kb, LIVE_MS, hasRow, r.json && r.json.id) >= 0,
	    'the read-only page sees a new record live');
}

main().catch((e) => {
	ok(false, 'the browser test ran to the end', String(e.stack || e));
}).finally(() => {
	console.log('1..' + n);
	process.exit(failures === 0 ? 0 : 1);
});
