// Posts every file of tests/json to basalt (through the web server) and
// checks what comes back; prints one "ok NAME" or "not-ok NAME: why" line
// per file for tests/json.sh.
//
// node json-check.mjs URL TOKEN DIR
//
// y_ and i_accept_ files: the document alone is stored when it is an
// object (else 400 not_an_object), and {"v": DOC} is stored; both are read
// back equal: the same values, strings decoded, numbers with exactly the
// text they were sent with, duplicate keys the last one winning, and the
// reply itself valid UTF-8 and JSON. n_ and i_refuse_ files: 400
// invalid_json alone and as {"v": DOC}.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const [url, token, dir] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const base = new URL(url);

function request(method, p, body) {
	return new Promise((resolve, reject) => {
		const req = http.request({
			agent, host: base.hostname, port: base.port, method,
			path: base.pathname + p,
			headers: {
				Authorization: `Bearer ${token}`,
				...(body ? { 'Content-Type': 'application/json',
				    'Content-Length': body.length } : {}),
			},
		}, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode,
			    body: Buffer.concat(chunks) }));
		});
		req.on('error', reject);
		req.end(body);
	});
}

// A reader for valid JSON that keeps numbers as their text.
function read(s) {
	let i = 0;
	const ws = () => { while (' \t\r\n'.includes(s[i]) && i < s.length) i++; };
	function value() {
		ws();
		const c = s[i];
		if (c === '{') {
			i++; ws();
			const o = new Map();
			if (s[i] === '}') { i++; return o; }
			for (;;) {
				ws();
				const k = str(); ws();
				if (s[i++] !== ':') throw new Error('colon');
				o.delete(k);	// the last one wins
				o.set(k, value()); ws();
				if (s[i] === ',') { i++; continue; }
				if (s[i++] !== '}') throw new Error('object');
				return o;
			}
		}
		if (c === '[') {
			i++; ws();
			const a = [];
			if (s[i] === ']') { i++; return a; }
			for (;;) {
				a.push(value()); ws();
				if (s[i] === ',') { i++; continue; }
				if (s[i++] !== ']') throw new Error('array');
				return a;
			}
		}
		if (c === '"') return str();
		for (const w of ['true', 'false', 'null'])
			if (s.startsWith(w, i)) { i += w.length; return w; }
		const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(s.slice(i, i + 100000));
		if (!m) throw new Error(`value at ${i}`);
		i += m[0].length;
		return { num: m[0] };
	}
	function str() {
		const start = i++;
		while (s[i] !== '"') { if (s[i] === '\\') i++; i++; if (i > s.length) throw new Error('string'); }
		i++;
		return JSON.parse(s.slice(start, i));
	}
	const v = value(); ws();
	if (i !== s.length) throw new Error('trailing');
	return v;
}

function equal(a, b) {
	if (a instanceof Map) {
		if (!(b instanceof Map) || a.size !== b.size) return false;
		for (const [k, v] of a) if (!b.has(k) || !equal(v, b.get(k))) return false;
		return true;
	}
	if (Array.isArray(a))
		return Array.isArray(b) && a.length === b.length && a.every((v, j) => equal(v, b[j]));
	if (a && typeof a === 'object') return b && typeof b === 'object' && a.num === b.num;
	return a === b;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const coll = '/collections/json/records';

// The stored record: the 201 reply and a GET both hold fields equal to want.
async function stored(res, want, what) {
	if (res.status !== 201) return `${what}: status ${res.status} ${res.body}`;
	let text = utf8.decode(res.body);
	JSON.parse(text);
	const id = JSON.parse(text).id;
	const got = await request('GET', `${coll}/${id}`);
	if (got.status !== 200) return `${what}: GET ${got.status}`;
	for (const t of [text, utf8.decode(got.body)]) {
		JSON.parse(t);	// valid JSON, or this throws
		const fields = read(t).get('fields');
		if (!equal(fields, want)) return `${what}: read back ${t}`;
	}
	return null;
}

function refused(res, code, what) {
	if (res.status !== 400) return `${what}: status ${res.status}, not 400`;
	const e = JSON.parse(res.body.toString()).error;
	return e.code === code ? null : `${what}: code ${e.code}, not ${code}`;
}

async function check(name) {
	const doc = fs.readFileSync(path.join(dir, name));
	const accept = name.startsWith('y_') || name.startsWith('i_accept_');
	const nested = Buffer.concat([Buffer.from('{"v":'), doc, Buffer.from('}')]);
	const [alone, inside] = await Promise.all([request('POST', coll, doc),
	    request('POST', coll, nested)]);
	if (!accept)
		return refused(alone, 'invalid_json', 'alone') ??
		    refused(inside, 'invalid_json', 'as {"v": DOC}');
	const want = read(utf8.decode(doc));
	const v = new Map([['v', want]]);
	return (want instanceof Map ? await stored(alone, want, 'alone') :
	    refused(alone, 'not_an_object', 'alone')) ??
	    await stored(inside, v, 'as {"v": DOC}');
}

const names = fs.readdirSync(dir).filter((f) => /^(y|n|i_accept|i_refuse)_.*\.json$/.test(f)).sort();
let next = 0;
async function run() {
	while (next < names.length) {
		const name = names[next++];
		let why;
		try { why = await check(name); } catch (e) { why = String(e); }
		console.log(why == null ? `ok ${name}` : `not-ok ${name}: ${why}`.replace(/\n/g, '\\n'));
	}
}
await Promise.all([run(), run(), run(), run()]);
agent.destroy();
