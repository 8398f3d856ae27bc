// For tests/bench-floor.sh: a stream on basalt-floor's socket that reads
// nothing while events fill its output, then asks FCGI_GET_VALUES twice
// on that connection, then gets one more event and reads it all. Prints
// one JSON line: whether every record basalt-floor sent parsed (version
// 1, within the bytes), the records' types, and the ids of the events.
//
//	node floor-tail.mjs SOCKET

import net from 'node:net';

const sock = process.argv[2];
const STDOUT = 6, GET_VALUES = 9;

function record(type, id, content) {
	const h = Buffer.alloc(8);
	h[0] = 1;
	h[1] = type;
	h.writeUInt16BE(id, 2);
	h.writeUInt16BE(content.length, 4);
	return Buffer.concat([h, content]);
}

function params(p) {
	const out = [];
	for (const [k, v] of Object.entries(p)) {
		const kb = Buffer.from(k), vb = Buffer.from(v);
		out.push(Buffer.from([kb.length, vb.length]), kb, vb);
	}
	return Buffer.concat(out);
}

function request(method, uri, body, keep) {
	const begin = Buffer.from([0, 1, keep ? 1 : 0, 0, 0, 0, 0, 0]);
	return Buffer.concat([record(1, 1, begin),
	    record(4, 1, params({ REQUEST_METHOD: method, REQUEST_URI: uri,
	    CONTENT_LENGTH: String(body.length) })), record(4, 1, Buffer.alloc(0)),
	    ...(body.length ? [record(5, 1, body)] : []),
	    record(5, 1, Buffer.alloc(0))]);
}

// One custom event through a connection of its own: its id.
function publish(payload) {
	return new Promise((resolve) => {
		const body = Buffer.concat([Buffer.from('{"type":"t","payload":'),
		    payload, Buffer.from('}')]);
		const c = net.connect(sock);
		let got = Buffer.alloc(0);
		c.on('data', (d) => { got = Buffer.concat([got, d]); });
		c.on('close', () => {
			const m = /"id":(\d+)/.exec(got.toString('latin1'));
			resolve(m ? Number(m[1]) : -1);
		});
		c.write(request('POST', '/x/events', body, false));
	});
}

const s = net.connect(sock);
s.pause();
s.write(request('GET', '/x/events', Buffer.alloc(0), true));
await new Promise((r) => s.on('connect', r));
await new Promise((r) => setTimeout(r, 200));

// 3 MB of events: more than the socket buffers hold.
const big = Buffer.from('"' + 'b'.repeat(30000) + '"');
let id = 0;
for (let i = 0; i < 100; i++)
	id = await publish(big);
// The last one queued: its bytes 44 to 49 after the record's header look
// like a STDOUT header of 257 bytes (40 kB: it starts a record of its
// own), where the two GET_VALUES answers
// (26 bytes each) would put the start of the last record.
const data = Buffer.alloc(40000, 'a');
data[0] = data[data.length - 1] = 0x22;
const k = 44 - ('id: ' + (id + 1) + '\nevent: t\ndata: ').length;
data[k + 1] = STDOUT;
data[k + 4] = 1;
data[k + 5] = 1;
await publish(data);
const gv = Buffer.concat([Buffer.from([15, 0]), Buffer.from('FCGI_MPXS_CONNS')]);
s.write(Buffer.concat([record(GET_VALUES, 0, gv), record(GET_VALUES, 0, gv)]));
await new Promise((r) => setTimeout(r, 200));
await publish(Buffer.from('{"last":true}'));


let got = Buffer.alloc(0);
s.on('data', (d) => { got = Buffer.concat([got, d]); });
s.resume();
await new Promise((r) => setTimeout(r, 1500));
s.destroy();

let off = 0, parsed = true, text = '';
const types = [];
while (off + 8 <= got.length) {
	const len = got.readUInt16BE(off + 4);
	if (got[off] !== 1 || off + 8 + len + got[off + 6] > got.length) {
		parsed = false;
		break;
	}
	types.push(got[off + 1]);
	if (got[off + 1] === STDOUT)
		text += got.subarray(off + 8, off + 8 + len).toString('latin1');
	off += 8 + len + got[off + 6];
}
const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
console.log(JSON.stringify({ parsed: parsed && off === got.length,
    types: [...new Set(types)], events: ids.length, first: ids[0],
    last: ids[ids.length - 1], last_whole: /data: \{"last":true\}\n\n/.test(text) }));
