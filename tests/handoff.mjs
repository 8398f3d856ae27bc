// The list-to-stream hand-off, as a property: for random filters and
// sorts, while several clients write at random, a client that lists (page
// by page, keeping the first page's event_id) and then applies the events
// of a stream opened with the same filter from that event_id holds exactly
// the records that a later list returns.
//
// The writes go in rounds. During a round, writers create, patch, replace
// and delete records of a small pool, and listers page through filtered,
// sorted lists: each such list is a point N, its event_id E(N). After each
// round, with no write in flight, one more list of each filter is a
// quiescent point M: a snapshot of the set at E(M). For every point N and
// every quiescent M after N's round, the records of N's pages with the
// events E(N) < id <= E(M) of the stream from E(N) applied by record id
// (created, entered, updated: put; left, deleted: remove) must equal M's
// records, field for field. (A list read while writes go on is not a
// snapshot, so only quiescent points can be the M of a pair; every pair
// that has one is checked.)
//
// The streams are the npm eventsource client's. Once all rounds are
// done, a custom event "mark" is published; custom events pass every
// filter, so each stream reads until it. Started by tests/handoff.sh,
// which sets URL and TOKEN; HANDOFF_SEED picks the random choices.
// Prints "ok DESC" / "not ok DESC" lines and "# " diagnostics.

import { EventSource } from 'eventsource';

const env = process.env;
const POSTS = env.URL + '/api/realms/acme/apps/web/collections/posts';
const AUTH = { Authorization: 'Bearer ' + env.TOKEN };
const ROUNDS = 4, WRITERS = 4, WRITES = 30, LISTERS = 2, PAGE = 7;

let seed = Number(env.HANDOFF_SEED || Date.now() % 1000000);
console.log('# HANDOFF_SEED=' + seed);
function rand() {		// mulberry32
	seed = (seed + 0x6d2b79f5) | 0;
	let t = seed;
	t = Math.imul(t ^ (t >>> 15), t | 1);
	t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
	return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const int = (n) => Math.floor(rand() * n);

function ok(cond, desc, why) {
	console.log((cond ? 'ok ' : 'not ok ') + desc);
	if (!cond && why !== undefined)
		console.log('# ' + JSON.stringify(why).slice(0, 2000));
	return cond;
}

// Fields of every JSON type, some missing, so that filters and sorts meet
// nulls, mixed types and arrays.
function randomFields() {
	const f = {};
	if (rand() < 0.9)
		f.room = pick(['r0', 'r1', 'r2', 'r3']);
	if (rand() < 0.8)
		f.n = pick([int(10), int(10), int(10) + 0.5, String(int(10)),
		    null, true]);
	if (rand() < 0.7)
		f.flag = rand() < 0.5;
	if (rand() < 0.6)
		f.tags = [pick(['a', 'b', 'c']), pick(['a', 'b', 'c'])];
	if (rand() < 0.5)
		f.title = pick(['Apple pie', 'apple', 'Banana', 'cherry',
		    'PINEAPPLE']);
	return f;
}

const FILTERS = [
	'fields.room = "r1"',
	'fields.room = "r2" || fields.flag = true',
	'fields.n >= 3 && fields.n < 8',
	'fields.tags ?= "a" && !(fields.room in ("r0", "r3"))',
	'fields.title ~ "apple" || fields.n = null',
	'fields.flag != true && fields.room != "r3"',
	'fields.n > 4.5',
	'created_at > "2000" && fields.room in ("r0", "r1", "r2")',
];
const SORTS = ['', 'fields.n', '-fields.n,fields.room', '-updated_at',
    'fields.title,-fields.flag', 'fields.tags'];

async function call(method, url, body) {
	const opts = { method, headers: { ...AUTH } };
	if (body !== undefined) {
		opts.headers['Content-Type'] = 'application/json';
		opts.body = JSON.stringify(body);
	}
	const r = await fetch(url, opts);
	const text = await r.text();
	let json = null;
	try {
		json = JSON.parse(text);
	} catch (e) {
		/* 204 */
	}
	return { status: r.status, json };
}

// The pool of record ids the writers act on; a write on a record that
// another writer deleted meanwhile is a 404, which is fine.
const ids = [];
const writeStatus = {};

async function writer(n) {
	for (let i = 0; i < n; i++) {
		const op = ids.length < 6 ? 'create' :
		    pick(['create', 'patch', 'patch', 'put', 'delete']);
		let r;
		if (op === 'create') {
			r = await call('POST', POSTS + '/records', randomFields());
			if (r.status === 201)
				ids.push(r.json.id);
		} else {
			const id = pick(ids);
			const url = POSTS + '/records/' + id;
			if (op === 'patch') {
				const f = randomFields();
				for (const k of Object.keys(f))
					if (rand() < 0.4)
						delete f[k];
				if (rand() < 0.3)
					f.n = null;	// a merge patch removes it
				r = await call('PATCH', url, f);
			} else if (op === 'put')
				r = await call('PUT', url, randomFields());
			else {
				r = await call('DELETE', url);
				if (r.status === 204 && ids.indexOf(id) >= 0)
					ids.splice(ids.indexOf(id), 1);
			}
		}
		const k = op + ' ' + r.status;
		writeStatus[k] = (writeStatus[k] || 0) + 1;
	}
}

// A list of one filter and sort, page by page: its records by id, the
// first page's event_id, and whether its pages came in sort order.
async function list(q) {
	const map = new Map();
	let url = POSTS + '/records?limit=' + PAGE + '&filter=' +
	    encodeURIComponent(q.filter) +
	    (q.sort ? '&sort=' + encodeURIComponent(q.sort) : '');
	let eventId = null, after = null, pages = 0, order = [];
	for (;;) {
		const r = await call('GET', url + (after === null ? '' :
		    '&after=' + encodeURIComponent(after)));
		if (r.status !== 200)
			throw new Error('list ' + r.status + ' ' +
			    JSON.stringify(r.json));
		if (eventId === null)
			eventId = r.json.event_id;
		for (const rec of r.json.items) {
			map.set(rec.id, rec);
			order.push(rec.id);
		}
		pages++;
		if (r.json.next === null)
			break;
		after = r.json.next;
	}
	return { map, eventId, pages, order };
}

// The events of a filtered stream after from, up to the mark.
function stream(q, from, markId) {
	return new Promise((resolve, reject) => {
		const url = POSTS + '/events?filter=' +
		    encodeURIComponent(q.filter) + '&last_event_id=' + from +
		    '&access_token=' + encodeURIComponent(env.TOKEN);
		const es = new EventSource(url);
		const got = [];
		const timer = setTimeout(() => {
			es.close();
			reject(new Error('no mark after 30 s from ' + from +
			    ' (' + got.length + ' events)'));
		}, 30000);
		const on = (e) => {
			const id = Number(e.lastEventId);
			if (e.type === 'mark' && id >= markId) {
				clearTimeout(timer);
				es.close();
				resolve(got);
				return;
			}
			got.push({ id, type: e.type, data: JSON.parse(e.data) });
		};
		for (const t of ['record_created', 'record_updated',
		    'record_entered', 'record_left', 'record_deleted', 'mark',
		    'message'])
			es.addEventListener(t, on);
		es.onerror = () => {};	// it reconnects by itself
	});
}

function apply(map, events, upto) {
	const m = new Map(map);
	for (const e of events) {
		if (e.id > upto)
			break;
		switch (e.type) {
		case 'record_created':
		case 'record_entered':
		case 'record_updated':
			m.set(e.data.id, e.data);
			break;
		case 'record_left':
		case 'record_deleted':
			m.delete(e.data.id);
			break;
		}
	}
	return m;
}

function diff(a, b) {
	const out = [];
	for (const [id, r] of a)
		if (!b.has(id))
			out.push('only in the hand-off: ' + id);
		else if (JSON.stringify(r) !== JSON.stringify(b.get(id)))
			out.push('differs: ' + JSON.stringify(r) + ' vs ' +
			    JSON.stringify(b.get(id)));
	for (const id of b.keys())
		if (!a.has(id))
			out.push('only in the later list: ' + id);
	return out;
}

async function main() {
	const queries = [];
	for (const f of FILTERS)
		queries.push({ filter: f, sort: pick(SORTS) });
	const points = [];	// { q, round, quiescent, list }
	for (let round = 0; round < ROUNDS; round++) {
		const work = [];
		for (let w = 0; w < WRITERS; w++)
			work.push(writer(WRITES));
		for (let l = 0; l < LISTERS; l++)
			work.push((async () => {
				for (const q of queries)
					points.push({ q, round, quiescent: false,
					    list: await list(q) });
			})());
		await Promise.all(work);
		for (const q of queries)
			points.push({ q, round, quiescent: true,
			    list: await list(q) });
	}
	console.log('# writes: ' + JSON.stringify(writeStatus));
	const mark = await call('POST', POSTS + '/events',
	    { type: 'mark', payload: {} });
	if (!ok(mark.status === 201 || mark.status === 202 ||
	    mark.status === 200, 'the mark event is published', mark))
		return;
	const markId = mark.json.id;

	let pairs = 0, bad = 0, paged = 0, empty = 0, events = 0;
	const kinds = {};
	for (const q of queries) {
		const mine = points.filter((p) => p.q === q);
		for (const n of mine) {
			if (n.list.pages > 1)
				paged++;
			const evs = await stream(q, n.list.eventId, markId);
			events += evs.length;
			let last = n.list.eventId, dup = false;
			for (const e of evs) {
				kinds[e.type] = (kinds[e.type] || 0) + 1;
				if (e.id <= last)
					dup = true;
				last = e.id;
			}
			if (dup)
				ok(false, 'stream from ' + n.list.eventId +
				    ' of ' + q.filter + ': ids ascend');
			for (const m of mine) {
				if (!m.quiescent || m.round < n.round ||
				    m === n || m.list.eventId < n.list.eventId)
					continue;
				pairs++;
				if (m.list.map.size === 0)
					empty++;
				const d = diff(apply(n.list.map, evs,
				    m.list.eventId), m.list.map);
				if (d.length > 0) {
					bad++;
					if (bad <= 5)
						console.log('# ' + q.filter + ' sort ' +
						    q.sort + ': N at ' +
						    n.list.eventId + ', M at ' +
						    m.list.eventId + ': ' +
						    d.slice(0, 3).join('; '));
				}
			}
		}
	}
	console.log('# event types seen: ' + JSON.stringify(kinds));
	ok(pairs >= FILTERS.length * ROUNDS * 2,
	    'pairs of points checked: ' + pairs);
	ok(bad === 0, 'list at N + stream from N = list at M, for every pair (' +
	    bad + ' of ' + pairs + ' differ)');
	ok(paged > 0, 'some lists took more than one page (' + paged + ')');
	ok(empty < pairs, 'the later lists are not all empty (' + empty +
	    ' of ' + pairs + ')');
	ok(kinds.record_entered > 0 && kinds.record_left > 0,
	    'the streams carried record_entered and record_left', kinds);
	ok(events > 0, 'the streams carried events (' + events + ')');
}

main().then(() => process.exit(0), (e) => {
	console.log('not ok the hand-off test ran to its end: ' + e.message);
	process.exit(1);
});
