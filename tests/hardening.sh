#!/bin/bash
# Hostile input and wrong answers, through lighttpd and the CLI: empty path
# segments are 404 on every route before any token is looked at; a write
# blocked by another process's lock is 503 database_busy, logged once;
# config values that would lose data or listen elsewhere are refused with
# file:line; control characters never forge log lines or listing lines;
# HEAD answers as GET; a stream on a gone record; the dashboard refuses to
# be framed.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq sqlite3 node

# expect_error STATUS CODE DESC: the last reply is basalt's error STATUS/CODE.
expect_error() {
	local st=$1 code=$2
	shift 2
	is "$STATUS $(jbody .error.code)" "$st $code" "$*"
}

# ======================================================================
# Config (the CLI): refused with file:line, exit status 1
# ======================================================================

# conf_refused FILE WHAT REGEX DESC: check-config on FILE exits 1 with a
# message on stderr that matches REGEX.
conf_refused() {
	local f=$1 re=$2 out rc
	shift 2
	out=$("$BASALT" -c "$f" check-config 2>"$T/err"); rc=$?
	is "$rc" 1 "$*: check-config exits 1"
	like "$(cat "$T/err")" "$re" "$*: the message"
	is "$out" "" "$*: nothing on stdout"
}

printf 'workers = 2\ndatabase =\n' >"$T/empty-db.conf"
conf_refused "$T/empty-db.conf" "^basalt: $T/empty-db.conf:2: .*database" \
    "database = (empty)"
printf '# a\nlisten = 127.0.0.1:99999\n' >"$T/port.conf"
conf_refused "$T/port.conf" "^basalt: $T/port.conf:2: .*listen.*65535" \
    "listen = 127.0.0.1:99999"
printf 'listen = 127.0.0.1:0\n' >"$T/port0.conf"
conf_refused "$T/port0.conf" "^basalt: $T/port0.conf:1: .*listen" \
    "listen = 127.0.0.1:0"
printf 'listen = 127.0.0.1:80x\n' >"$T/portx.conf"
conf_refused "$T/portx.conf" "^basalt: $T/portx.conf:1: .*listen" \
    "listen = 127.0.0.1:80x"
printf 'listen =\n' >"$T/listen-empty.conf"
conf_refused "$T/listen-empty.conf" "^basalt: $T/listen-empty.conf:1: .*listen" \
    "listen = (empty)"
mkdir -p "$T/confdir"
conf_refused "$T/confdir" "^basalt: $T/confdir: is a directory" \
    "check-config on a directory"

# serve with such a config does not start (and listens nowhere)
out=$(timeout 10 "$BASALT" -c "$T/port.conf" serve 2>"$T/err"); rc=$?
is "$rc" 1 "serve with listen = 127.0.0.1:99999 exits 1"
like "$(cat "$T/err")" "port.conf:2:" "... naming the file and line"

printf 'database = %s\nlisten = 127.0.0.1:8080\n' "$T/ok.db" >"$T/ok.conf"
out=$("$BASALT" -c "$T/ok.conf" check-config 2>&1); rc=$?
is "$rc:$out" "0:$T/ok.conf: ok" "a good config still passes check-config"

basalt_config
out=$("$BASALT" -c "$T/basalt.conf" --db "" realm list 2>"$T/err"); rc=$?
is "$rc" 1 "--db '' exits 1"
like "$(cat "$T/err")" '^basalt: --db' "... with a message naming --db"
for bad in 127.0.0.1:99999 127.0.0.1:0 localhost "" ; do
	out=$(timeout 10 "$BASALT" -c "$T/basalt.conf" serve --listen "$bad" \
	    2>"$T/err"); rc=$?
	is "$rc" 1 "serve --listen '$bad' exits 1"
	like "$(cat "$T/err")" '^basalt: --listen' "... with a message naming --listen"
done

# ======================================================================
# Labels in the CLI (item 11)
# ======================================================================
basalt_config busy_timeout_ms=200
demo_setup
n0=$(basalt_cli token list acme web | wc -l)
for bad in $'a\tb' $'a\nb' $'a\rb' $'a\033[2Jb'; do
	out=$(basalt_cli token create acme web --scope read --label "$bad" \
	    2>"$T/err"); rc=$?
	is "$rc" 1 "token create with a control character in the label exits 1 ($(printf %q "$bad"))"
	like "$(cat "$T/err")" 'label' "... saying why"
done
is "$(basalt_cli token list acme web | wc -l)" "$n0" "... and no token was made"

# a label planted behind the CLI's back (char() is chr() on PostgreSQL)
chr=char
on_pg && chr=chr
dbsql "UPDATE tokens SET label = 'x' || $chr(9) || 'y' ||
    $chr(10) || 'fake' || $chr(9) || 'line' WHERE label = 'reader'" ||
    bail_out "could not plant a label"
basalt_cli token list acme web >"$T/list.txt"
is "$(wc -l <"$T/list.txt")" "$n0" "token list: one line per token"
is "$(awk -F'\t' 'NF != 6' "$T/list.txt" | wc -l)" 0 \
    "token list: six columns on every line"
ok "$(grep -qF 'x\ty\nfake\tline' "$T/list.txt"; echo $?)" \
    "token list: the planted label is shown escaped"

# ======================================================================
# Through lighttpd
# ======================================================================
mkdir -p "$T/hooks/acme/hk"
cat >"$T/hooks/acme/hk/10-throw.js" <<'EOF'
onRecordCreate("posts", function (e) {
	if (e.record.fields.evil)
		throw new Error("a\nfake line");
});
EOF
basalt_cli realm create other && basalt_cli app create other app2 &&
    basalt_cli app create acme hk && basalt_cli collection create acme hk posts ||
    bail_out "setup failed"
OTOKEN=$(basalt_cli token create other app2 --scope read,write,admin) &&
HTOKEN=$(basalt_cli token create acme hk --scope read,write,admin) ||
    bail_out "token create failed"
basalt_start || bail_out "basalt did not start"
lighttpd_start || bail_out "lighttpd did not start"
B=$URL/api/realms/acme/apps/web
P=$B/collections/posts

send POST "$P/records" '{"title":"one"}'
is "$STATUS" 201 "a record to work with"
R1=$(jbody .id)

# --- item 3: an empty captured segment is 404 on every route, whoever asks
# route METHOD PATTERN: one row of the route table.
ROUTES=(
	"GET /api/realms/:realm/apps/:app/cors"
	"PUT /api/realms/:realm/apps/:app/cors"
	"GET /api/realms/:realm/apps/:app/collections"
	"POST /api/realms/:realm/apps/:app/collections"
	"GET /api/realms/:realm/apps/:app/collections/:coll"
	"DELETE /api/realms/:realm/apps/:app/collections/:coll"
	"GET /api/realms/:realm/apps/:app/collections/:coll/records"
	"POST /api/realms/:realm/apps/:app/collections/:coll/records"
	"GET /api/realms/:realm/apps/:app/collections/:coll/records/:id"
	"PATCH /api/realms/:realm/apps/:app/collections/:coll/records/:id"
	"PUT /api/realms/:realm/apps/:app/collections/:coll/records/:id"
	"DELETE /api/realms/:realm/apps/:app/collections/:coll/records/:id"
	"GET /api/realms/:realm/apps/:app/collections/:coll/events"
	"POST /api/realms/:realm/apps/:app/collections/:coll/events"
	"GET /api/realms/:realm/apps/:app/collections/:coll/records/:id/events"
)
declare -A FILL=([:realm]=acme [:app]=web [:coll]=posts [:id]=$R1
    [:file]=index.html)
for row in "${ROUTES[@]}"; do
	method=${row%% *}
	pattern=${row#* }
	IFS=/ read -ra parts <<<"${pattern#/}"
	for ((k = 0; k < ${#parts[@]}; k++)); do
		[[ ${parts[k]} == :* ]] || continue
		path=
		for ((m = 0; m < ${#parts[@]}; m++)); do
			seg=${parts[m]}
			if [[ $seg == :* ]]; then
				[ "$m" -eq "$k" ] && seg= || seg=${FILL[$seg]}
			fi
			path=$path/$seg
		done
		bad=
		for who in none other admin; do
			case $who in
			none) h="X-No-Token: 1" ;;
			other) h="Authorization: Bearer $OTOKEN" ;;
			admin) h="Authorization: Bearer $TOKEN" ;;
			esac
			body=()
			[[ $method == P* ]] && body=(-H "$J"
			    -d '{"name":"x","type":"x","payload":1}')
			HTTP_MAX_TIME=3 http "$method" "$URL$path" -H "$h" \
			    "${body[@]}"
			[ "$STATUS $(jbody .error.code)" = "404 not_found" ] ||
			    bad="$bad $who:$STATUS"
		done
		is "$bad" "" "$method $path: 404 with no token, another realm's, an admin's"
	done
done
# GET /_/:file: /_/ is the dashboard's index; an empty name inside is 404
for path in /_// /_//index.html /_/index.html/; do
	http GET "$URL$path"
	expect_error 404 not_found "GET $path"
done
# nothing was published to the empty names on the way
is "$(dbsql "SELECT count(*) FROM events WHERE realm = '' OR
    app = '' OR collection = ''")" 0 "no event with an empty name in the log"

# --- item 11: a hook's thrown text is one log line, and the error has no
# raw control character
lines0=$(wc -l <"$T/basalt.log")
http POST "$URL/api/realms/acme/apps/hk/collections/posts/records" \
    -H "Authorization: Bearer $HTOKEN" -H "$J" -d '{"evil":true}'
expect_error 422 hook_rejected "a hook that throws 'a\\nfake line' refuses the write"
msg=$(jbody .error.message)
is "$(printf '%s' "$msg" | tr -d -c '\000-\037' | wc -c)" 0 \
    "... its message holds no control character (got '$msg')"
wait_until 5 grep -q 'fake line' "$T/basalt.log"
tail -n +"$((lines0 + 1))" "$T/basalt.log" >"$T/hooklog.txt"
is "$(grep -c 'fake line' "$T/hooklog.txt")" 1 "the thrown text is in one log line"
is "$(grep -c '^fake line' "$T/hooklog.txt")" 0 "... and starts no line of its own"

# --- item 12: HEAD answers as GET without a body
# same_as_get URL DESC [CURL ARGS]
same_as_get() {
	local url=$1 desc=$2 gs gt glen
	shift 2
	http GET "$url" "$@"
	gs=$STATUS gt=$(header Content-Type) glen=$(wc -c <"$T/.http-body")
	http HEAD "$url" "$@"
	is "$STATUS $(header Content-Type)" "$gs $gt" "HEAD $desc: GET's status and type"
	is "$(header Content-Length)" "$glen" "HEAD $desc: Content-Length of GET's body"
	# curl -I writes the headers where the body would go
	ok "$(cmp -s "$T/.http-body" "$HDRS"; echo $?)" "HEAD $desc: no body"
}
same_as_get "$URL/api/health" "health"
same_as_get "$P/records/$R1" "a record" -H "$AUTH"
same_as_get "$P/records" "a list" -H "$AUTH"
same_as_get "$P/records/01ARZ3NDEKTSV4RRFFQ69G5FAV" "a missing record" -H "$AUTH"
same_as_get "$URL/_/" "the dashboard"
http HEAD "$B/collections"
is "$STATUS" 401 "HEAD without a token: 401 as GET"
t0=$(date +%s%N)
http HEAD "$P/events" -H "$AUTH"
t1=$(date +%s%N)
is "$STATUS $(header Content-Type)" "200 text/event-stream" \
    "HEAD on an event stream: the stream's headers"
ok "$([ $(((t1 - t0) / 1000000)) -lt 2000 ]; echo $?)" \
    "... and it ends at once ($(((t1 - t0) / 1000000)) ms)"
http POST "$URL/api/health" -H "$J" -d '{}'
like "$(header Allow)" 'HEAD' "405 names HEAD in Allow where GET is allowed"

# The web server drops a HEAD reply's body itself: ask basalt directly that
# it sends none. fcgi_req METHOD URI [TOKEN]: basalt's STDOUT for a request
# straight on its socket, as a JSON string, then "END" if the request was
# ended.
fcgi_req() {
	node - "$BASALT_SOCK" "$@" <<'JS'
const net = require('net');
const [sock, method, uri, token] = process.argv.slice(2);
function rec(type, content) {
	const h = Buffer.alloc(8), pad = (8 - content.length % 8) % 8;
	h[0] = 1; h[1] = type; h.writeUInt16BE(1, 2);
	h.writeUInt16BE(content.length, 4); h[6] = pad;
	return Buffer.concat([h, content, Buffer.alloc(pad)]);
}
const kv = { REQUEST_METHOD: method, REQUEST_URI: uri, SERVER_PROTOCOL: 'HTTP/1.1' };
if (token) kv.HTTP_AUTHORIZATION = 'Bearer ' + token;
const p = Buffer.concat(Object.entries(kv).flatMap(([k, v]) =>
    [Buffer.from([k.length, v.length]), Buffer.from(k), Buffer.from(v)]));
const c = net.connect(sock);
let got = Buffer.alloc(0);
c.on('connect', () => c.write(Buffer.concat([
    rec(1, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0])),
    rec(4, p), rec(4, Buffer.alloc(0)), rec(5, Buffer.alloc(0))])));
c.on('data', d => { got = Buffer.concat([got, d]); });
const done = () => {
	let out = '', off = 0, end = false;
	while (off + 8 <= got.length) {
		const t = got[off + 1], n = got.readUInt16BE(off + 4);
		if (t === 6) out += got.subarray(off + 8, off + 8 + n).toString();
		if (t === 3) end = true;
		off += 8 + n + got[off + 6];
	}
	process.stdout.write(JSON.stringify(out) + (end ? ' END' : '') + '\n');
	process.exit(0);
};
c.on('end', done);
setTimeout(done, 2000);
JS
}
out=$(fcgi_req HEAD /api/health)
like "$out" '^"Status: 200 OK\\r\\n.*Content-Length: [1-9][0-9]*\\r\\n\\r\\n" END$' \
    "HEAD straight to basalt: the headers, no body, the request ended"
out=$(fcgi_req HEAD /api/realms/acme/apps/web/collections/posts/events "$TOKEN")
like "$out" '^"Status: 200 OK\\r\\nContent-Type: text/event-stream\\r\\n.*\\r\\n\\r\\n" END$' \
    "HEAD of a stream straight to basalt: its headers, no event, ended"

# A name with control characters in the path (lighttpd refuses such paths,
# other servers may not) is echoed in the error without them.
out=$(fcgi_req GET "/api/realms/a%0Afake%1B/apps/web/collections" "$TOKEN")
msg=$(jq -r . <<<"${out% END}" | tr -d '\r' | sed '1,/^$/d' |
    jq -r .error.message)
like "$msg" "^invalid name 'a" "a name with LF and ESC in the path: 400 invalid_name"
is "$(printf '%s' "$msg" | tr -d -c '\000-\037\177' | wc -c)" 0 \
    "... echoed without control characters (got '$msg')"

# --- item 12: a stream on a record that does not exist
send POST "$P/records" '{"title":"gone"}'
R2=$(jbody .id)
before=$(dbsql "SELECT max(id) FROM events")
http DELETE "$P/records/$R2" -H "$AUTH"
is "$STATUS" 204 "a record is deleted"
after=$(dbsql "SELECT max(id) FROM events")
HTTP_MAX_TIME=3 http GET "$P/records/$R2/events" -H "$AUTH"
expect_error 404 not_found "a stream on a deleted record without Last-Event-ID"
HTTP_MAX_TIME=3 http GET "$P/records/$R2/events" -H "$AUTH" \
    -H "Last-Event-ID: $after"
expect_error 404 not_found "... with a Last-Event-ID after its last event"
HTTP_MAX_TIME=3 http GET "$P/records/01ARZ3NDEKTSV4RRFFQ69G5FAV/events" \
    -H "$AUTH" -H "Last-Event-ID: 0"
expect_error 404 not_found "a stream on a record that never was, with Last-Event-ID: 0"
curl -s -N --max-time 2 -H "$AUTH" -H "Last-Event-ID: $before" \
    "$P/records/$R2/events" >"$T/resume.txt"
ok "$(grep -q '^event: record_deleted' "$T/resume.txt"; echo $?)" \
    "a client resuming before the delete gets its record_deleted"

# --- item 12: the dashboard cannot be framed
for u in "$URL/_/" "$URL/_/app.js"; do
	http GET "$u"
	is "$(header Content-Security-Policy)" "frame-ancestors 'none'" \
	    "GET ${u#$URL}: Content-Security-Policy: frame-ancestors 'none'"
done

# --- item 6: a write while another process holds the lock (SQLite's
# write lock; on PostgreSQL log_head's row, which every write transaction
# locks first)
lines0=$(wc -l <"$T/basalt.log")
if on_pg; then
	dbsql "BEGIN; SELECT 1 FROM log_head FOR UPDATE; SELECT pg_sleep(3);
	    COMMIT;" >/dev/null 2>&1 &
	HOLDER=$!
	locked() { ! dbsql 'SELECT 1 FROM log_head FOR UPDATE NOWAIT' \
	    >/dev/null 2>&1; }
else
	printf '.timeout 5000\nBEGIN IMMEDIATE;\n.shell sleep 3\nCOMMIT;\n' |
	    sqlite3 "$T/basalt.db" >/dev/null 2>&1 &
	HOLDER=$!
	locked() { ! sqlite3 -cmd '.timeout 0' "$T/basalt.db" \
	    'BEGIN IMMEDIATE; ROLLBACK;' >/dev/null 2>&1; }
fi
bg_track "$HOLDER"
wait_until 5 locked || diag "the lock was not seen taken"
send POST "$P/records" '{"title":"blocked"}'
expect_error 503 database_busy "a write past busy_timeout_ms while another process holds the lock"
wait "$HOLDER"
sleep 0.3
tail -n +"$((lines0 + 1))" "$T/basalt.log" >"$T/busylog.txt"
is "$(grep -c '503' "$T/busylog.txt")" 1 "the 503 is in the log once"
like "$(grep '503' "$T/busylog.txt")" 'POST /api/realms/acme/apps/web/collections/posts/records: 503 database_busy' \
    "... with the request and its cause"
send POST "$P/records" '{"title":"after"}'
is "$STATUS" 201 "the write succeeds once the lock is gone"

basalt_stop
is "$?" 0 "basalt stops cleanly"
done_testing
