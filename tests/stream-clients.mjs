// Event-stream clients for tests/stream.sh: a strict parser of a captured
// stream, a WHATWG EventSource subscriber (the npm eventsource package),
// and a crowd of raw HTTP subscribers that also writes and times delivery.
//
//	node stream-clients.mjs parse < captured-stream
//	node stream-clients.mjs es --url U --token T --types a,b --count N
//	    [--timeout S] [--last-id ID] [--close-after N] [--until TYPE]
//	node stream-clients.mjs crowd --url U[,U2...] --write-url W[,W2...]
//	    --token T --n N --events E [--paused P] [--payload-bytes B]
//	    [--timeout S] [--health-url H] [--batch K]
//
// Every command prints JSON on stdout (one object per line) for the test
// to check with jq; none of them decides whether a test passed.

import http from 'node:http';

const [cmd, ...rest] = process.argv.slice(2);
const opt = {};
for (let i = 0; i < rest.length; i += 2)
	opt[rest[i].replace(/^--/, '')] = rest[i + 1];

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const now = () => Number(process.hrtime.bigint() / 1000n) / 1000; /* ms */

// An incremental parser of text/event-stream as basalt frames it. Calls
// onEvent({id, event, data, fields}) for every block, onComment(text) for
// every comment line.
class SSEParser {
	constructor(onEvent, onComment) {
		this.buf = '';
		this.block = [];
		this.onEvent = onEvent;
		this.onComment = onComment;
	}

	feed(text) {
		this.buf += text;
		let nl;
		while ((nl = this.buf.indexOf('\n')) >= 0) {
			const line = this.buf.slice(0, nl);
			this.buf = this.buf.slice(nl + 1);
			this.line(line);
		}
	}

	line(line) {
		if (line === '') {
			if (this.block.length) {
				const ev = { fields: this.block };
				for (const f of this.block) {
					const i = f.indexOf(':');
					const k = i < 0 ? f : f.slice(0, i);
					let v = i < 0 ? '' : f.slice(i + 1);
					if (v.startsWith(' '))
						v = v.slice(1);
					ev[k] = k === 'data' && ev.data !== undefined ?
					    ev.data + '\n' + v : v;
				}
				this.onEvent(ev);
			}
			this.block = [];
		} else if (line.startsWith(':'))
			this.onComment(line);
		else
			this.block.push(line);
	}
}

// parse: the whole captured stream on stdin.
async function parse() {
	let text = '';
	for await (const chunk of process.stdin)
		text += chunk;
	const events = [], comments = [], retries = [];
	const p = new SSEParser((ev) => {
		if (ev.fields.every((f) => f.startsWith('retry:')))
			retries.push(ev.retry);
		else
			events.push(ev);
	}, (c) => comments.push(c));
	p.feed(text);
	out({
		head: text.slice(0, 40),
		has_cr: text.includes('\r'),
		comments,
		keepalives: comments.filter((c) => c === ':keepalive').length,
		retries,
		events: events.map((e) => ({
			id: e.id, event: e.event, data: e.data,
			framing: e.fields.map((f) => f.split(':')[0]).join(','),
		})),
		trailing: p.buf,
	});
}

// es: one EventSource subscriber; prints a line at each open, error and
// event, then a summary with every event (up to one of type --until).
async function es() {
	const { EventSource } = await import('eventsource');
	const types = (opt.types || 'message').split(',');
	if (opt.until && !types.includes(opt.until))
		types.push(opt.until);
	const count = Number(opt.count || 1);
	const closeAfter = Number(opt['close-after'] || 0);
	let got = 0, opens = 0;
	const events = [];
	const src = new EventSource(opt.url, {
		fetch: (input, init) => {
			const headers = { ...init.headers };
			if (opt.token)
				headers.Authorization = `Bearer ${opt.token}`;
			if (opt['last-id'] && !headers['Last-Event-ID'])
				headers['Last-Event-ID'] = opt['last-id'];
			return fetch(input, { ...init, headers });
		},
	});
	const finish = (why) => {
		src.close();
		out({ done: why, opens, count: got, events });
		process.exit(0);
	};
	src.onopen = () => { opens++; out({ open: opens }); };
	src.onerror = (e) => {
		out({ error: e.code ?? null, message: e.message ?? null,
		    readyState: src.readyState });
		if (src.readyState === EventSource.CLOSED)
			finish('closed');
	};
	for (const t of types) {
		src.addEventListener(t, (e) => {
			events.push({ type: e.type, id: e.lastEventId, data: e.data });
			out({ ev: e.lastEventId, type: e.type });
			if (e.type === opt.until)
				finish('until');
			got++;
			if (got >= count)
				finish('count');
			if (closeAfter && got === closeAfter)
				finish('close-after');
		});
	}
	setTimeout(() => finish('timeout'), Number(opt.timeout || 10) * 1000);
}

// One raw HTTP subscriber of the crowd.
function subscribe(sub, token, onReady) {
	const u = new URL(sub.url);
	const req = http.get({
		host: u.hostname, port: u.port, path: u.pathname + u.search,
		agent: false,
		headers: { Authorization: `Bearer ${token}`,
		    Accept: 'text/event-stream' },
	}, (res) => {
		sub.status = res.statusCode;
		sub.res = res;
		if (res.statusCode !== 200) {
			res.resume();
			onReady(sub);
			return;
		}
		res.setEncoding('utf8');
		const p = new SSEParser((ev) => {
			const m = /"id":"([0-9A-Z]{26})"/.exec(
			    (ev.data || '').slice(0, 64));
			sub.events.push({ id: Number(ev.id), event: ev.event,
			    rec: m ? m[1] : null, t: now() });
		}, (c) => {
			if (c === ':keepalive')
				sub.keepalives++;
			else if (!sub.ready) {
				sub.ready = true;
				onReady(sub);
			}
		});
		res.on('data', (d) => {
			sub.bytes += d.length;
			p.feed(d);
		});
		res.on('end', () => { sub.ended = true; });
		res.on('close', () => { sub.closed = true; });
	});
	req.on('error', (e) => { sub.error = e.code || e.message; onReady(sub); });
	sub.req = req;
}

async function health(url) {
	try {
		const r = await fetch(url);
		return (await r.json()).streams;
	} catch {
		return null;
	}
}

// crowd: N subscribers (P of them stop reading after the opening), then
// E writes, then waits until every reading subscriber has every event.
async function crowd() {
	const urls = opt.url.split(','), wurls = opt['write-url'].split(',');
	const n = Number(opt.n), nev = Number(opt.events);
	const npaused = Number(opt.paused || 0);
	const pad = 'x'.repeat(Number(opt['payload-bytes'] || 0));
	const batch = Number(opt.batch || 100);
	const deadline = now() + Number(opt.timeout || 60) * 1000;
	const subs = [];
	let readyCount = 0;
	let wake = null;
	const onReady = (sub) => {
		if (sub.paused && sub.res) {
			sub.res.pause();
			sub.res.socket.pause();	/* stop reading the fd itself */
		}
		readyCount++;
		if (wake)
			wake();
	};
	const until = async (cond) => {
		while (!cond() && now() < deadline)
			await new Promise((r) => { wake = r; setTimeout(r, 50); });
		return cond();
	};

	const t0 = now();
	for (let i = 0; i < n; i++) {
		subs.push({ i, url: urls[i % urls.length], paused: i < npaused,
		    events: [], keepalives: 0, bytes: 0, ready: false });
		subscribe(subs[i], opt.token, onReady);
		if ((i + 1) % batch === 0)
			await until(() => readyCount >= i + 1);
	}
	await until(() => readyCount >= n);
	const tReady = now();
	const ok200 = subs.filter((s) => s.status === 200 && s.ready).length;
	// A stream counts once basalt has handed it to its event loop.
	let streamsOpen = null;
	if (opt['health-url']) {
		const until2 = now() + 3000;
		do {
			streamsOpen = await health(opt['health-url']);
		} while (streamsOpen !== ok200 && now() < until2 &&
		    await new Promise((r) => setTimeout(r, 50, true)));
	}

	// The writes, one after the other, spread over the write URLs.
	const writes = new Map();
	let writeErrors = 0;
	const tw0 = now();
	for (let k = 0; k < nev; k++) {
		const t = now();
		const r = await fetch(wurls[k % wurls.length], {
			method: 'POST',
			headers: { Authorization: `Bearer ${opt.token}`,
			    'Content-Type': 'application/json' },
			body: JSON.stringify({ k, pad }),
		});
		const body = await r.json().catch(() => ({}));
		if (r.status !== 201 || !body.id)
			writeErrors++;
		else
			writes.set(body.id, { k, t, t1: now() });
	}
	const tw1 = now();

	const reading = subs.filter((s) => !s.paused && s.status === 200);
	const mine = (s) => s.events.filter((e) => writes.has(e.rec));
	await until(() => reading.every((s) => mine(s).length >= writes.size));
	const tDone = now();

	// Check order and measure latency from each write's start.
	let complete = 0, inOrder = 0, maxLat = 0;
	const lats = [];
	let ref = null, sameOrder = true;
	for (const s of reading) {
		const ev = mine(s);
		const ks = ev.map((e) => writes.get(e.rec).k);
		if (ev.length === writes.size)
			complete++;
		let ord = ks.every((k, j) => k === j);
		for (let j = 1; j < ev.length; j++)
			if (!(ev[j].id > ev[j - 1].id))
				ord = false;
		if (ord)
			inOrder++;
		const seq = ev.map((e) => e.id).join(',');
		if (ref === null)
			ref = seq;
		else if (seq !== ref)
			sameOrder = false;
		for (const e of ev) {
			const l = Math.max(0, e.t - writes.get(e.rec).t);
			lats.push(l);
			if (l > maxLat)
				maxLat = l;
		}
	}
	lats.sort((a, b) => a - b);
	const pct = (q) => lats.length ?
	    Math.round(lats[Math.min(lats.length - 1,
	    Math.floor(q * lats.length))] * 10) / 10 : null;

	// The paused ones read again: what did they keep, were they closed?
	const streamsAfter = opt['health-url'] ? await health(opt['health-url']) : null;
	const paused = subs.filter((s) => s.paused);
	for (const s of paused)
		if (s.res) {
			s.res.socket.resume();
			s.res.resume();
		}
	const pdl = now() + 5000;
	while (now() < pdl && !paused.every((s) => s.ended || s.closed ||
	    mine(s).length >= writes.size))
		await new Promise((r) => setTimeout(r, 50));

	out({
		n, ready: readyCount, status200: ok200,
		statuses: [...new Set(subs.map((s) => s.status ?? s.error))],
		connect_ms: Math.round(tReady - t0),
		streams_open: streamsOpen,
		writes: writes.size, write_errors: writeErrors,
		write_ms: Math.round(tw1 - tw0),
		reading: reading.length, complete, in_order: inOrder,
		same_order: sameOrder,
		all_done_after_last_write_ms: Math.round(tDone - tw1),
		latency_ms: { p50: pct(0.5), p99: pct(0.99), max: Math.round(maxLat) },
		keepalives_min: Math.min(...reading.map((s) => s.keepalives)),
		streams_after_writes: streamsAfter,
		paused: paused.map((s) => ({ got: mine(s).length,
		    ended: Boolean(s.ended || s.closed), bytes: s.bytes,
		    last_id: s.events.length ? s.events[s.events.length - 1].id : null })),
		first_ids: reading.length ? mine(reading[0]).map((e) => e.id) : [],
	});
	for (const s of subs)
		s.req.destroy();
	process.exit(0);
}

const cmds = { parse, es, crowd };
if (!cmds[cmd]) {
	console.error('usage: stream-clients.mjs parse|es|crowd ...');
	process.exit(2);
}
cmds[cmd]().catch((e) => { console.error(e); process.exit(1); });
