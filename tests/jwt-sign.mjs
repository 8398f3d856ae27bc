// Makes JWTs and keys for the tests, with node's own crypto.
//
//   node jwt-sign.mjs --alg HS256|EdDSA|RS256|ES256|none --key FILE
//       [--kid K] [--sub S] [--ttl SECONDS] [--exp UNIX] [--nbf UNIX]
//       [--iat UNIX] [--no-exp] [--iss I] [--aud A] [--scope "read write"]
//       [--claims JSON] [--header JSON]
//     prints a JWT. FILE holds the HS256 secret (its bytes as they are)
//     or a private key in PEM. --claims adds to (and overrides) the
//     payload, --header to the header.
//
//   node jwt-sign.mjs --genkey EdDSA|RS256|ES256 --out PREFIX [--kid K]
//     writes PREFIX.key (private PEM), PREFIX.pub (public PEM),
//     PREFIX.jwks (a key set of the public key) and, for EdDSA,
//     PREFIX.raw (the raw public key, base64url).
import crypto from 'node:crypto';
import fs from 'node:fs';

const args = process.argv.slice(2);
const opt = {};
for (let i = 0; i < args.length; i++) {
	const a = args[i];
	if (!a.startsWith('--')) throw new Error(`unexpected ${a}`);
	const k = a.slice(2);
	if (k === 'no-exp') { opt[k] = true; continue; }
	opt[k] = args[++i];
}
const b64u = (b) => Buffer.from(b).toString('base64url');

if (opt.genkey) {
	const alg = opt.genkey, out = opt.out;
	let pair;
	if (alg === 'EdDSA') pair = crypto.generateKeyPairSync('ed25519');
	else if (alg === 'RS256')
		pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
	else if (alg === 'ES256')
		pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
	else throw new Error(`no key type for ${alg}`);
	fs.writeFileSync(`${out}.key`,
	    pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
	fs.writeFileSync(`${out}.pub`,
	    pair.publicKey.export({ type: 'spki', format: 'pem' }));
	const jwk = pair.publicKey.export({ format: 'jwk' });
	if (opt.kid) jwk.kid = opt.kid;
	jwk.alg = alg;
	jwk.use = 'sig';
	fs.writeFileSync(`${out}.jwks`, JSON.stringify({ keys: [jwk] }));
	if (alg === 'EdDSA') fs.writeFileSync(`${out}.raw`, jwk.x);
	process.exit(0);
}

const alg = opt.alg || 'HS256';
const now = Math.floor(Date.now() / 1000);
const header = { alg, typ: 'JWT' };
if (opt.kid) header.kid = opt.kid;
Object.assign(header, opt.header ? JSON.parse(opt.header) : {});
const claims = {};
if (opt.sub) claims.sub = opt.sub;
claims.iat = opt.iat !== undefined ? Number(opt.iat) : now;
if (!opt['no-exp'])
	claims.exp = opt.exp !== undefined ? Number(opt.exp) :
	    now + Number(opt.ttl || 3600);
if (opt.nbf !== undefined) claims.nbf = Number(opt.nbf);
if (opt.iss) claims.iss = opt.iss;
if (opt.aud) claims.aud = opt.aud;
if (opt.scope !== undefined) claims.scope = opt.scope;
Object.assign(claims, opt.claims ? JSON.parse(opt.claims) : {});

const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
let sig = Buffer.alloc(0);
if (alg === 'none') {
	// unsigned
} else if (alg === 'HS256') {
	sig = crypto.createHmac('sha256', fs.readFileSync(opt.key))
	    .update(input).digest();
} else {
	const key = crypto.createPrivateKey(fs.readFileSync(opt.key));
	if (alg === 'EdDSA') sig = crypto.sign(null, Buffer.from(input), key);
	else if (alg === 'RS256')
		sig = crypto.sign('sha256', Buffer.from(input), key);
	else if (alg === 'ES256')
		sig = crypto.sign('sha256', Buffer.from(input),
		    { key, dsaEncoding: 'ieee-p1363' });
	else throw new Error(`cannot sign ${alg}`);
}
process.stdout.write(`${input}.${b64u(sig)}\n`);
