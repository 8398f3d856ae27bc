// FastCGI peers for the end-to-end tests, straight on basalt's socket:
// connections that send nothing, or send a request only in part and then
// trickle it, or send a whole GET; reports what basalt sent back on each
// and when it closed them.
//
//	node fcgi-peers.mjs MODE SOCKET COUNT SECONDS [URI [TOKEN]]
//
// MODE is one of
//	silent	connect and send nothing
//	params	BEGIN_REQUEST and part of the PARAMS, then one byte every 300 ms
//	body	a whole POST header, then part of the body, one byte every 300 ms
//	get	a whole GET of URI (with the Bearer TOKEN), as a web server sends it
//	stall	the same GET (with Last-Event-ID: $LAST_EVENT_ID if set), and
//		then never reads
//	late	the same as stall, but reads everything after a second
//		(LATE_MS milliseconds, if set)
//	flood	records of an unknown type, as fast as basalt takes them,
//		never reading the answers
//	bigparams a GET of URI whose PARAMS hold 70 KiB of headers
// SOCKET is a unix socket path or host:port. Prints "ready" once all COUNT
// connections are open, and when all are closed, after SECONDS, or at
// SIGTERM, one JSON line:
//	{"count":N,"closed":K,"close_after":[seconds, ...],"replies":["...", ...],
//	 "records":[["STDOUT","STDOUT_END","END_REQUEST"], ...],
//	 "stdout":[["text of one record", ...], ...]}
// close_after holds, for each connection basalt closed, the seconds between
// connecting and the close; replies the FCGI_STDOUT text basalt sent;
// records the types of the records basalt sent on each connection
// (STDOUT_END is the empty STDOUT record that closes the output);
// stdout the text of each non-empty STDOUT record, record by record.

import net from 'node:net';

const [mode, where, countArg, secondsArg, uri, token] = process.argv.slice(2);
const count = Number(countArg);
const seconds = Number(secondsArg);
const MODES = ['silent', 'params', 'body', 'get', 'stall', 'late', 'flood',
    'bigparams'];
if (!MODES.includes(mode) || !where || !(count > 0) || !(seconds > 0) ||
    (['get', 'stall', 'late', 'bigparams'].includes(mode) && !uri)) {
	console.error('usage: fcgi-peers.mjs ' + MODES.join('|') +
	    ' SOCKET COUNT SECONDS [URI [TOKEN]]');
	process.exit(2);
}

function record(type, content) {
	const pad = (8 - (content.length % 8)) % 8;
	const h = Buffer.alloc(8);
	h[0] = 1;		/* FCGI_VERSION_1 */
	h[1] = type;
	h.writeUInt16BE(1, 2);	/* request id */
	h.writeUInt16BE(content.length, 4);
	h[6] = pad;
	return Buffer.concat([h, content, Buffer.alloc(pad)]);
}

function pairLen(n) {
	if (n < 128)
		return Buffer.from([n]);
	const b = Buffer.alloc(4);
	b.writeUInt32BE((n | 0x80000000) >>> 0, 0);
	return b;
}

function params(obj) {
	const parts = [];
	for (const [k, v] of Object.entries(obj)) {
		const kb = Buffer.from(k), vb = Buffer.from(v);
		parts.push(pairLen(kb.length), pairLen(vb.length), kb, vb);
	}
	return Buffer.concat(parts);
}

const BEGIN = 1, PARAMS = 4, STDIN = 5, STDOUT = 6;
const begin = record(BEGIN, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0]));
const body = Buffer.from('{"title":"' + 'x'.repeat(200) + '"}');
const head = params({
	REQUEST_METHOD: 'POST',
	REQUEST_URI: '/api/realms/acme/apps/web/collections/posts/records',
	CONTENT_TYPE: 'application/json',
	CONTENT_LENGTH: String(body.length),
	SERVER_PROTOCOL: 'HTTP/1.1',
	HTTP_AUTHORIZATION: 'Bearer x',
});

// What the connection sends at once, and what it then trickles.
function plan() {
	if (['get', 'stall', 'late', 'bigparams'].includes(mode)) {
		const p = { REQUEST_METHOD: 'GET', REQUEST_URI: uri,
		    SERVER_PROTOCOL: 'HTTP/1.1', CONTENT_LENGTH: '0' };
		if (token)
			p.HTTP_AUTHORIZATION = `Bearer ${token}`;
		if (process.env.LAST_EVENT_ID)
			p.HTTP_LAST_EVENT_ID = process.env.LAST_EVENT_ID;
		const recs = [];
		if (mode === 'bigparams') {
			/* 70 KiB in headers of 7 KiB, in records under 64 KiB */
			for (let i = 0; i < 10; i++)
				p[`HTTP_X_BIG_${i}`] = 'b'.repeat(7 * 1024);
			const all = params(p);
			for (let off = 0; off < all.length; off += 32768)
				recs.push(record(PARAMS, all.subarray(off, off + 32768)));
		} else
			recs.push(record(PARAMS, params(p)));
		return [Buffer.concat([begin, ...recs,
		    record(PARAMS, Buffer.alloc(0)), record(STDIN, Buffer.alloc(0))]),
		    Buffer.alloc(0)];
	}
	if (mode === 'params') {
		const all = record(PARAMS, head);
		return [Buffer.concat([begin, all.subarray(0, 20)]),
		    Buffer.concat([all.subarray(20), record(PARAMS, Buffer.alloc(0)),
		    record(STDIN, body), record(STDIN, Buffer.alloc(0))])];
	}
	if (mode === 'body') {
		const all = record(STDIN, body);
		return [Buffer.concat([begin, record(PARAMS, head),
		    record(PARAMS, Buffer.alloc(0)), all.subarray(0, 30)]),
		    Buffer.concat([all.subarray(30), record(STDIN, Buffer.alloc(0))])];
	}
	return [Buffer.alloc(0), Buffer.alloc(0)];
}

const conns = [];
let opened = 0;

const NAMES = { 3: 'END_REQUEST', 6: 'STDOUT', 7: 'STDERR' };
function recordTypes(buf) {
	const types = [];
	let off = 0;
	while (off + 8 <= buf.length) {
		const type = buf[off + 1], len = buf.readUInt16BE(off + 4);
		types.push(type === STDOUT && len === 0 ? 'STDOUT_END' :
		    NAMES[type] || String(type));
		off += 8 + len + buf[off + 6];
	}
	if (off !== buf.length)
		types.push('TRUNCATED');
	return types;
}

function stdoutRecords(buf) {
	const out = [];
	let off = 0;
	while (off + 8 <= buf.length) {
		const type = buf[off + 1], len = buf.readUInt16BE(off + 4);
		const pad = buf[off + 6];
		if (type === STDOUT && len > 0)
			out.push(buf.subarray(off + 8, off + 8 + len));
		off += 8 + len + pad;
	}
	return out;
}

function stdoutText(buf) {
	return Buffer.concat(stdoutRecords(buf)).toString();
}

for (let i = 0; i < count; i++) {
	const c = { t0: 0, closedAfter: null, got: Buffer.alloc(0), timer: null,
	    written: 0 };
	const [first, rest] = plan();
	let pos = 0;
	const opts = where.startsWith('/') ? { path: where } :
	    { host: where.split(':')[0], port: Number(where.split(':')[1]) };
	c.sock = net.connect(opts, () => {
		c.t0 = Date.now();
		if (first.length)
			c.sock.write(first);
		if (mode === 'flood') {
			/* unknown type 20, no content: 8 bytes in, 16 out */
			const h = Buffer.from([1, 20, 0, 1, 0, 0, 0, 0]);
			const chunk = Buffer.concat(Array(8192).fill(h));
			const pump = () => {
				while (!c.sock.destroyed && c.closedAfter === null) {
					c.written += chunk.length;
					if (!c.sock.write(chunk)) {
						c.sock.once('drain', pump);
						return;
					}
				}
			};
			pump();
		}
		if (rest.length) {
			c.timer = setInterval(() => {
				if (pos < rest.length - 1)
					c.sock.write(rest.subarray(pos, ++pos));
			}, 300);
		}
		if (++opened === count)
			console.log('ready');
	});
	/* stall and flood never read: the kernel's buffers fill */
	const take = (d) => { c.got = Buffer.concat([c.got, d]); };
	if (mode === 'late')
		setTimeout(() => c.sock.on('data', take),
		    Number(process.env.LATE_MS || 1000));
	else if (mode !== 'stall' && mode !== 'flood')
		c.sock.on('data', take);
	c.sock.on('error', () => {});
	c.sock.on('close', () => {
		if (c.timer)
			clearInterval(c.timer);
		if (c.closedAfter === null && c.t0)
			c.closedAfter = (Date.now() - c.t0) / 1000;
		if (conns.length === count &&
		    conns.every((x) => x.closedAfter !== null))
			report();
	});
	conns.push(c);
}

let reported = false;
function report() {
	if (reported)
		return;
	reported = true;
	const closed = conns.filter((c) => c.closedAfter !== null);
	const line = JSON.stringify({
		count,
		opened,
		closed: closed.length,
		close_after: closed.map((c) => c.closedAfter),
		replies: conns.map((c) => stdoutText(c.got)).filter((s) => s),
		records: conns.map((c) => recordTypes(c.got)),
		stdout: conns.map((c) => stdoutRecords(c.got).map((b) =>
		    b.toString())),
		written: conns.map((c) => c.written),
	});
	for (const c of conns)
		c.sock.destroy();
	/* a pipe takes the line asynchronously: exit once it has */
	process.stdout.write(line + '\n', () => process.exit(0));
}

setTimeout(report, seconds * 1000);
process.on('SIGTERM', report);
