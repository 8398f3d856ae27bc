// A strict reader of the Prometheus text format (0.0.4) for
// tests/metrics.sh: reads a scrape on stdin and prints its samples as one
// JSON object, "name{label="v",...}" (labels sorted, the process label
// left out) to the value. Exits 1 with the reason on stderr when the text
// breaks a rule:
//   - every line is "# HELP name text", "# TYPE name type" or a sample;
//   - a family has one HELP and one TYPE, before its samples, and its
//     samples come together;
//   - names and label names are valid, label values properly escaped,
//     values numbers, no sample twice;
//   - every sample has process="PID" (PID: the first argument);
//   - a histogram has, per label set, buckets with rising le ending in
//     "+Inf", counts that never fall, and _sum and _count, _count equal to
//     the +Inf bucket;
//   - a counter's samples end in _total and are not negative.
import { readFileSync } from 'node:fs';

const proc = process.argv[2];
const text = readFileSync(0, 'utf8');
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function fail(n, why, line) {
	process.stderr.write(`line ${n}: ${why}: ${JSON.stringify(line)}\n`);
	process.exit(1);
}

// "name{a="x",b="y"} value" -> [name, {labels}, value]
function sample(n, line) {
	const m = /^([^{ ]+)(\{(.*)\})? (\S+)$/.exec(line);
	if (!m)
		fail(n, 'not a sample', line);
	const [, name, , body, value] = m;
	if (!NAME.test(name))
		fail(n, 'bad metric name', line);
	const labels = {};
	let s = body ?? '';
	while (s.length > 0) {
		const lm = /^([^=]+)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(s);
		if (!lm || !LABEL.test(lm[1]))
			fail(n, 'bad label', line);
		if (lm[1] in labels)
			fail(n, 'label twice', line);
		labels[lm[1]] = lm[2].replace(/\\(.)/g,
		    (_, c) => (c === 'n' ? '\n' : c));
		s = s.slice(lm[0].length);
		if (lm[3] === ',' && s.length === 0)
			fail(n, 'trailing comma', line);
	}
	if (!/^([+-]?Inf|NaN|[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?)$/.test(value))
		fail(n, 'bad value', line);
	return [name, labels, Number(value.replace('Inf', 'Infinity'))];
}

function key(name, labels, leave = ['process']) {
	const ks = Object.keys(labels).filter((k) => !leave.includes(k)).sort();
	return name + '{' + ks.map((k) => `${k}=${JSON.stringify(labels[k])}`)
	    .join(',') + '}';
}

const help = new Map(), type = new Map(), done = new Set();
const out = {}, hists = new Map();
let current = null;
const lines = text.split('\n');
if (lines.pop() !== '')
	fail(lines.length, 'the text does not end in a line end', '');
lines.forEach((line, i) => {
	const n = i + 1;
	let m;
	if ((m = /^# HELP (\S+) (.*)$/.exec(line))) {
		if (!NAME.test(m[1]) || help.has(m[1]))
			fail(n, 'bad or second HELP', line);
		help.set(m[1], m[2]);
		return;
	}
	if ((m = /^# TYPE (\S+) (\S+)$/.exec(line))) {
		if (!NAME.test(m[1]) || type.has(m[1]) || !TYPES.has(m[2]))
			fail(n, 'bad or second TYPE', line);
		if (!help.has(m[1]))
			fail(n, 'TYPE before its HELP', line);
		type.set(m[1], m[2]);
		if (current !== null)
			done.add(current);
		current = m[1];
		return;
	}
	if (line.startsWith('#') || line === '')
		fail(n, 'stray line', line);
	const [name, labels, value] = sample(n, line);
	let fam = name, suffix = '';
	if (type.get(current) === 'histogram') {
		const hm = /^(.*)_(bucket|sum|count)$/.exec(name);
		if (hm && hm[1] === current)
			[fam, suffix] = [hm[1], hm[2]];
	}
	if (fam !== current || done.has(fam))
		fail(n, 'sample outside its family, or before its TYPE', line);
	if (labels.process !== proc)
		fail(n, `process label is not "${proc}"`, line);
	const t = type.get(fam);
	if (t === 'histogram' && suffix === '')
		fail(n, 'a histogram sample without _bucket, _sum or _count', line);
	if (t === 'counter' && (!name.endsWith('_total') || !(value >= 0)))
		fail(n, 'a counter must end in _total and not be negative', line);
	if (t === 'histogram') {
		const hk = key(fam, labels, ['process', 'le']);
		if (!hists.has(hk))
			hists.set(hk, { les: [], counts: [], sum: null, count: null });
		const h = hists.get(hk);
		if (suffix === 'bucket') {
			if (!('le' in labels) || h.sum !== null || h.count !== null)
				fail(n, 'a bucket without le, or after _sum/_count', line);
			const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
			if (Number.isNaN(le) || (h.les.length &&
			    le <= h.les[h.les.length - 1]))
				fail(n, 'le does not rise', line);
			if (h.counts.length && value < h.counts[h.counts.length - 1])
				fail(n, 'buckets are not cumulative', line);
			h.les.push(le);
			h.counts.push(value);
		} else if (suffix === 'sum')
			h.sum = value;
		else
			h.count = value;
	}
	const k = key(name, labels);
	if (k in out)
		fail(n, 'the same sample twice', line);
	out[k] = value;
});
for (const [hk, h] of hists) {
	if (h.les[h.les.length - 1] !== Infinity)
		fail(0, 'buckets do not end in +Inf', hk);
	if (h.sum === null || h.count === null)
		fail(0, 'no _sum or _count', hk);
	if (h.count !== h.counts[h.counts.length - 1])
		fail(0, '_count is not the +Inf bucket', hk);
}
for (const name of type.keys())
	if (!help.has(name))
		fail(0, 'a family without HELP', name);
process.stdout.write(JSON.stringify(out) + '\n');
