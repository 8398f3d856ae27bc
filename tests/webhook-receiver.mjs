// A webhook receiver for tests/webhooks.sh: node's http server on a free
// port of 127.0.0.1 (printed on stdout once it listens). It checks each
// request's Basalt-Signature with the three lines of the README's
// "Webhooks" (README is argv[2], the secret file argv[3]) and appends one
// JSON line per request to argv[4]: the status it answered, whether the
// signature held, the webhook id, the Basalt-Event-Ids header, the ids
// of the body, the path, and when the request arrived (t0) and was
// answered (t1), in milliseconds since the epoch; a line with "start"
// and t0 is written as each request arrives. POST
// /control?fail=N&delay=MS makes it answer 500 to the next N requests
// and wait MS before answering each; slow=MS is the wait on paths that
// start with /slow. Paths that start with /redirect are answered 302 to
// /target on the same server.

import { createServer } from 'node:http';
import { appendFileSync, readFileSync } from 'node:fs';
import crypto from 'node:crypto';

const [readme, secretFile, logFile] = process.argv.slice(2);
const secret = readFileSync(secretFile, 'utf8').split('\n')[0];

// The README's three lines, as they are written there.
const text = readFileSync(readme, 'utf8');
const lines = text.split('\n');
const at = lines.findIndex((l) => l.includes('req.headers["basalt-signature"]'));
if (at < 0)
	throw new Error('no verification code in the README');
const code = lines.slice(at, at + 3).map((l) => l.trim()).join('\n');
const verify = new Function('req', 'body', 'secret', 'crypto',
    code + '\nreturn ok;');

let fail = 0, delay = 0, slow = 0;

createServer((req, res) => {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		const body = Buffer.concat(chunks).toString('utf8');
		const url = new URL(req.url, 'http://x');
		if (url.pathname === '/control') {
			fail = Number(url.searchParams.get('fail') ?? fail);
			delay = Number(url.searchParams.get('delay') ?? delay);
			slow = Number(url.searchParams.get('slow') ?? slow);
			res.end('ok\n');
			return;
		}
		const t0 = Date.now();
		let sig = false, ids = null;
		try {
			sig = verify(req, body, secret, crypto);
		} catch (e) {
			sig = false;
		}
		try {
			ids = JSON.parse(body).map((e) => e.id);
		} catch (e) {
			ids = null;
		}
		const redirect = url.pathname.startsWith('/redirect');
		const status = redirect ? 302 : fail > 0 ? 500 : 200;
		if (fail > 0 && !redirect)
			fail--;
		const rec = { status, sig, ids, webhook: req.headers['basalt-webhook-id'],
		    header_ids: req.headers['basalt-event-ids'],
		    type: req.headers["content-type"], body: ids !== null ? JSON.parse(body) : body,
		    path: url.pathname, t0 };
		appendFileSync(logFile, JSON.stringify({ start: true, ids,
		    webhook: req.headers['basalt-webhook-id'], path: url.pathname,
		    t0 }) + '\n');
		setTimeout(() => {
			rec.t1 = Date.now();
			appendFileSync(logFile, JSON.stringify(rec) + '\n');
			res.statusCode = status;
			if (redirect)
				res.setHeader('Location', 'http://' +
				    req.headers.host + '/target');
			res.end(status === 200 ? 'thanks\n' : 'no\n');
		}, url.pathname.startsWith('/slow') ? slow : redirect ? 0 : delay);
	});
}).listen(0, '127.0.0.1', function () {
	console.log(this.address().port);
});
