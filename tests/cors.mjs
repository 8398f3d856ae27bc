// CORS in headless Chromium: a page served by a server of its own (node's
// http module on PAGE_PORT) calls basalt behind lighttpd (URL) with fetch
// and a token, and with an EventSource and access_token. The app allows
// http://127.0.0.1:PAGE_PORT; http://page.test:PAGE_PORT (the browser
// resolves page.test to 127.0.0.1) is the same page on an origin that is
// not allowed. Started by tests/cors.sh, which sets
// URL, TOKEN, PAGE_PORT and CHROMIUM; prints "ok DESC" and "not ok DESC"
// lines (cors.sh numbers them) and "# " diagnostics.

import { chromium } from 'playwright-core';
import { createServer } from 'node:http';

const env = process.env;
const POSTS = env.URL + '/api/realms/acme/apps/web/collections/posts';

function ok(cond, desc, why) {
	console.log((cond ? 'ok ' : 'not ok ') + desc);
	if (!cond && why !== undefined)
		console.log('# got: ' + JSON.stringify(why));
	return cond;
}

// In the page: a list with a token, an error answer, a write (preflighted:
// it has a token and a JSON body), and a stream that
// gets the record the page writes once it is open. Each result is what
// the page could see, or the name of the error the browser gave it.
async function probe([posts, token, title]) {
	const out = {};
	const auth = { Authorization: 'Bearer ' + token };

	try {
		const r = await fetch(posts + '/records?limit=1', { headers: auth });
		out.rid = /^[0-9a-f]{16}$/.test(r.headers.get('X-Request-Id')) ?
		    'readable' : 'hidden';
		out.list = r.status + ' ' + Array.isArray((await r.json()).items);
	} catch (e) {
		out.list = out.rid = e.name;
	}
	try {
		const r = await fetch(posts + '/records', {
			headers: { Authorization: 'Bearer bas_wrong' } });
		out.error = r.status + ' ' + (await r.json()).error.code;
	} catch (e) {
		out.error = e.name;
	}
	try {
		const r = await fetch(posts + '/records', { method: 'POST',
		    headers: { ...auth, 'Content-Type': 'application/json' },
		    body: JSON.stringify({ title: title + ' direct' }) });
		out.write = String(r.status);
	} catch (e) {
		out.write = e.name;
	}
	out.stream = await new Promise((resolve) => {
		const es = new EventSource(posts + '/events?access_token=' +
		    encodeURIComponent(token));
		const end = (what) => {
			clearTimeout(timer);
			es.close();
			resolve(what);
		};
		const timer = setTimeout(() => end('timeout'), 5000);
		es.onopen = () => {
			fetch(posts + '/records', { method: 'POST',
			    headers: { ...auth, 'Content-Type': 'application/json' },
			    body: JSON.stringify({ title }) }).catch(() => {});
		};
		es.addEventListener('record_created', (e) => {
			const rec = JSON.parse(e.data);
			if (rec.fields.title === title)
				end('record_created ' + title);
		});
		es.onerror = () => {
			if (es.readyState === EventSource.CLOSED)
				end('error');
		};
	});
	return out;
}

// What the page tries, by the name probe gives its result.
const CHECKS = {
	list: 'fetch with a token',
	rid: 'reading the answer\'s X-Request-Id',
	error: 'reading an error answer (401)',
	write: 'a POST with a JSON body (preflighted)',
	stream: 'an EventSource with access_token, getting the page\'s write',
};

async function main() {
	const page = createServer((req, res) => {
		res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
		res.end('<!doctype html><title>another origin</title>');
	});
	await new Promise((resolve) => page.listen(Number(env.PAGE_PORT),
	    '127.0.0.1', resolve));
	const browser = await chromium.launch({
		executablePath: env.CHROMIUM || '/usr/bin/chromium',
		args: ['--headless', '--no-sandbox', '--disable-gpu',
		    '--disable-background-networking',
		    '--disable-component-update', '--disable-sync',
		    '--no-first-run', '--disable-quic',
		    '--host-resolver-rules=MAP page.test 127.0.0.1'],
	});
	try {
		for (const [host, allowed] of [['127.0.0.1', true],
		    ['page.test', false]]) {
			const origin = 'http://' + host + ':' + env.PAGE_PORT;
			const ctx = await browser.newContext();
			const tab = await ctx.newPage();
			await tab.goto(origin + '/');
			const title = 'from ' + host;
			const r = await tab.evaluate(probe,
			    [POSTS, env.TOKEN, title]);
			await ctx.close();
			const want = allowed ? { list: '200 true',
			    rid: 'readable', error: '401 unauthorized',
			    write: '201', stream: 'record_created ' + title } :
			    { list: 'TypeError', rid: 'TypeError',
			    error: 'TypeError', write: 'TypeError',
			    stream: 'error' };
			for (const [k, what] of Object.entries(CHECKS))
				ok(r[k] === want[k], origin + (allowed ?
				    ' (allowed): ' + what + ' works' :
				    ' (not allowed): ' + what + ' fails'), r);
		}
		// The POST from the other origin never got past its
		// preflight: no record of its title exists.
		const r = await fetch(POSTS + '/records?limit=500',
		    { headers: { Authorization: 'Bearer ' + env.TOKEN } });
		const titles = (await r.json()).items.map((i) => i.fields.title);
		ok(titles.includes('from 127.0.0.1 direct') &&
		    !titles.includes('from page.test direct'), 'the POST was ' +
		    'stored from the allowed origin only', titles);
	} finally {
		await browser.close();
		page.close();
	}
}

await main();
