# Shared helpers for basalt's end-to-end tests: TAP output, a temporary
# folder, basalt and lighttpd started on 127.0.0.1, an HTTP client, event
# stream subscribers and the load generator's results.
#
# A test is a bash script that sources this file and prints TAP:
#
#	. "$top_srcdir/tests/lib.sh"
#	need lighttpd jq
#	demo_start
#	get "$B/collections"
#	is "$STATUS" 200 "collections are listed"
#	done_testing
#
# make check sets top_srcdir, top_builddir and BASALT. By hand:
#
#	top_srcdir=$PWD BASALT=/path/to/build/basalt bash tests/api.sh
#
# Everything a test starts runs on 127.0.0.1 with files in $T, and is
# stopped at exit. BASALT_TEST_KEEP=1 keeps $T for a look afterwards.
# The other web servers have their starters in servers-lib.sh, on
# server_start. contrib/bench/run sources this file too, for $T, the
# processes it stops at exit and basalt's start; it sets BASALT first.

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${BASALT:=$top_builddir/basalt}"

T=$(mktemp -d "${TMPDIR:-/tmp}/basalt-test.XXXXXX") || exit 99

J='Content-Type: application/json'			# of a JSON body
SC=$top_srcdir/tests/stream-clients.mjs		# EventSource clients
FP=$top_srcdir/tests/fcgi-peers.mjs		# raw FastCGI peers

_tap_n=0		# tests run
_tap_failed=0		# tests failed
_bg_pids=()		# processes to stop at exit
_at_exit=()		# extra commands to run at exit

# ---------------------------------------------------------------- TAP

# diag TEXT...: a TAP comment line per line of TEXT.
diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

# ok RC DESC: one test, passed when RC is 0. Returns RC.
ok() {
	local rc=$1
	shift
	_tap_n=$((_tap_n + 1))
	if [ "$rc" -eq 0 ] 2>/dev/null; then
		echo "ok $_tap_n - $*"
		return 0
	fi
	echo "not ok $_tap_n - $*"
	_tap_failed=$((_tap_failed + 1))
	return 1
}

# is GOT WANT DESC: string equality; shows both on failure.
is() {
	local got=$1 want=$2
	shift 2
	if [ "$got" = "$want" ]; then
		ok 0 "$@"
		return 0
	fi
	ok 1 "$@"
	diag "     got: '$got'"
	diag "expected: '$want'"
	return 1
}

# isnt GOT UNWANTED DESC: string inequality.
isnt() {
	local got=$1 bad=$2
	shift 2
	if [ "$got" != "$bad" ]; then
		ok 0 "$@"
		return 0
	fi
	ok 1 "$@"
	diag "     got: '$got' (must differ)"
	return 1
}

# like GOT REGEX DESC: GOT matches the extended regular expression REGEX.
like() {
	local got=$1 re=$2
	shift 2
	if [[ $got =~ $re ]]; then
		ok 0 "$@"
		return 0
	fi
	ok 1 "$@"
	diag "     got: '$got'"
	diag " pattern: '$re'"
	return 1
}

# skip_tests N WHY: N tests reported as skipped.
skip_tests() {
	local n=$1 i
	shift
	for i in $(seq "$n"); do
		_tap_n=$((_tap_n + 1))
		echo "ok $_tap_n # SKIP $*"
	done
}

# fail_tests N WHY: N tests reported as failed (their setup failed).
fail_tests() {
	local n=$1 i
	shift
	for i in $(seq "$n"); do
		ok 1 "$*"
	done
}

# done_testing: prints the plan; exits 1 if a test failed, else 0.
done_testing() {
	echo "1..$_tap_n"
	if [ "$_tap_failed" -ne 0 ]; then
		diag "$_tap_failed of $_tap_n failed; files in $T"
		BASALT_TEST_KEEP=${BASALT_TEST_KEEP:-1}
		_dump_logs
		exit 1
	fi
	exit 0
}

# skip_all WHY: the whole script is skipped.
skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

# bail_out WHY: stops the script; the harness reports an error.
bail_out() {
	echo "Bail out! $*"
	exit 99
}

# need CMD...: skips the whole script unless every CMD is installed
# (lighttpd may be in /usr/sbin, outside a user's PATH).
need() {
	local c
	for c in "$@"; do
		if [ "$c" = lighttpd ]; then
			command -v lighttpd >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
		fi
		command -v "$c" >/dev/null 2>&1 && continue
		case $c in
		node)	skip_all "node is not installed (Debian: apt-get install nodejs)" ;;
		*)	skip_all "$c is not installed (Debian: apt-get install $c)" ;;
		esac
	done
}

# need_npm PKG: skips the whole script unless the npm package PKG is
# installed in tests/node_modules.
need_npm() {
	[ -d "$top_srcdir/tests/node_modules/$1" ] ||
	    skip_all "no $1 package: cd tests && npm install"
}

# need_files N WHY: raises the open-file limit to the hard limit; skips the
# whole script, saying WHY, when that is below N.
need_files() {
	ulimit -n "$(ulimit -Hn)" 2>/dev/null
	[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$1" ] ||
	    skip_all "$2, the limit is $(ulimit -n)"
}

# ---------------------------------------------------------------- processes

# bg_track PID: PID is stopped (SIGTERM, then SIGKILL) at exit.
bg_track() {
	_bg_pids+=("$1")
}

# at_exit CMD: CMD (a string for eval) runs at exit, before processes stop.
at_exit() {
	_at_exit+=("$1")
}

# stop_pid PID [SECONDS]: SIGTERM, wait up to SECONDS (default 10), then
# SIGKILL. Returns the exit status when PID is a child of this shell.
# PID is no longer stopped at exit: its number may be another process's
# by then.
stop_pid() {
	local pid=$1 secs=${2:-10} i=0 rc
	_bg_untrack "$pid"
	kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return $?; }
	while kill -0 "$pid" 2>/dev/null; do
		# a zombie child counts as gone: wait reaps it below
		if [ "$(ps -o stat= -p "$pid" 2>/dev/null)" = Z ]; then
			break
		fi
		if [ "$i" -ge $((secs * 10)) ]; then
			diag "pid $pid did not stop in ${secs}s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
	wait "$pid" 2>/dev/null
	rc=$?
	return $rc
}

_bg_untrack() {
	local i
	for i in "${!_bg_pids[@]}"; do
		[ "${_bg_pids[$i]}" = "$1" ] && unset "_bg_pids[$i]"
	done
}

_dump_logs() {
	local f
	for f in "$T"/basalt*.log "$T"/lighttpd*.err; do
		[ -s "$f" ] || continue
		diag "--- last lines of $f"
		diag "$(tail -n 30 "$f")"
	done
}

_cleanup() {
	local c pid
	for c in "${_at_exit[@]}"; do
		eval "$c"
	done
	for pid in "${_bg_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${_bg_pids[@]}"; do
		stop_pid "$pid" 5 >/dev/null 2>&1
	done
	# PostgreSQL last: basalt reads the log once more as it stops
	[ -z "${_pg_atexit:-}" ] || pg_stop
	if [ -n "${BASALT_TEST_KEEP:-}" ] && [ "${BASALT_TEST_KEEP}" != 0 ]; then
		echo "# kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_until SECONDS CMD...: runs CMD every 0.1 s until it succeeds;
# returns 1 if it never did within SECONDS.
wait_until() {
	local secs=$1 i=0
	shift
	while ! "$@"; do
		[ "$i" -ge $((secs * 10)) ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

# ---------------------------------------------------------------- ports

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	if command -v node >/dev/null 2>&1; then
		node -e 'const s = require("net").createServer();
		    s.listen(0, "127.0.0.1", () => {
			console.log(s.address().port); s.close(); });'
		return
	fi
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# port_open PORT: something accepts connections on 127.0.0.1:PORT.
port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# unix_open PATH: something accepts connections on the unix socket PATH
# (without node: the socket file exists).
unix_open() {
	[ -S "$1" ] || return 1
	command -v node >/dev/null 2>&1 || return 0
	node -e 'const c = require("net").connect(process.argv[1]);
	    c.on("connect", () => { c.destroy(); process.exit(0); });
	    c.on("error", () => process.exit(1));' "$1" 2>/dev/null
}

# ---------------------------------------------------------------- basalt

# basalt_config [KEY=VALUE...]: (re)writes $T/basalt.conf from the test
# defaults below plus the given keys (a given key replaces a default).
# Each call starts again from the defaults.
#
# BASALT_TEST_DB=pg (the PostgreSQL leg of make check, tests/pg/*.sh):
# the database is a PostgreSQL server of the test's own (pg_start), not
# $T/basalt.db.
basalt_config() {
	local kv key seen arg db=$T/basalt.db
	mkdir -p "$T/hooks"
	if [ "${BASALT_TEST_DB:-}" = pg ]; then
		[ -n "${PG_URL:-}" ] || pg_start ||
		    bail_out "no PostgreSQL server for the test"
		db=$PG_URL
	fi
	{
		echo "# written by tests/lib.sh"
		for kv in "database=$db" "listen=$T/basalt.sock" \
		    heartbeat_interval=1 log_level=debug "hooks_dir=$T/hooks" \
		    "dashboard_dir=$top_srcdir/dashboard"; do
			key=${kv%%=*}
			seen=
			for arg in "$@"; do
				[ "${arg%%=*}" = "$key" ] && seen=1
			done
			[ -n "$seen" ] || echo "$key = ${kv#*=}"
		done
		for kv in "$@"; do
			echo "${kv%%=*} = ${kv#*=}"
		done
	} >"$T/basalt.conf"
}

# dbsql SQL: runs SQL on the test's database (sqlite3 on $T/basalt.db, or
# psql on the PostgreSQL leg's), prints rows as a|b lines.
dbsql() {
	if [ "${BASALT_TEST_DB:-}" = pg ]; then
		psql -X -q -At -v ON_ERROR_STOP=1 "$PG_URL" -c "$1"
	else
		sqlite3 -cmd '.timeout 5000' "$T/basalt.db" "$1"
	fi
}

# on_pg: true on the PostgreSQL leg.
on_pg() {
	[ "${BASALT_TEST_DB:-}" = pg ]
}

# basalt_cli ARGS...: the admin CLI on the test's configuration.
basalt_cli() {
	[ -f "$T/basalt.conf" ] || basalt_config
	"$BASALT" -c "$T/basalt.conf" "$@"
}

# basalt_start [ARGS...]: starts `basalt serve ARGS` in the background,
# stderr appended to $T/basalt.log, and waits up to 10 s until its socket
# (the --listen argument, else $T/basalt.sock) accepts connections.
# Sets BASALT_PID and BASALT_SOCK. Returns 1 if basalt did not come up.
basalt_start() {
	local sock="$T/basalt.sock" prev= a
	[ -f "$T/basalt.conf" ] || basalt_config
	for a in "$@"; do
		[ "$prev" = --listen ] && sock=$a
		prev=$a
	done
	"$BASALT" -c "$T/basalt.conf" serve "$@" 2>>"$T/basalt.log" &
	BASALT_PID=$!
	BASALT_SOCK=$sock
	bg_track "$BASALT_PID"
	if [[ $sock == /* ]]; then
		wait_until 10 _basalt_up unix_open "$sock"
	else
		wait_until 10 _basalt_up port_open "${sock##*:}"
	fi || {
		diag "basalt did not start (pid $BASALT_PID); $T/basalt.log:"
		diag "$(tail -n 20 "$T/basalt.log")"
		return 1
	}
}

_basalt_up() {
	kill -0 "$BASALT_PID" 2>/dev/null || return 2
	"$@"
}

# basalt_stop [PID]: SIGTERM to basalt (default $BASALT_PID), waits for it;
# returns its exit status.
basalt_stop() {
	stop_pid "${1:-$BASALT_PID}" 10
}

# ---------------------------------------------------------------- postgresql

# pg_available: PostgreSQL's server programs are installed, in PATH or
# under /usr/lib/postgresql/*/bin (Debian's postgresql package); sets
# PG_BIN to their folder.
pg_available() {
	local d
	d=$(command -v pg_ctl 2>/dev/null)
	if [ -n "$d" ] && [ -x "$(dirname "$d")/initdb" ]; then
		PG_BIN=$(dirname "$(readlink -f "$d")")
		return 0
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
		if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then
			PG_BIN=$d
			return 0
		fi
	done
	return 1
}

# pg_start: a PostgreSQL server of the test's own, its data in $T/pg
# (made by initdb the first time, kept when started again after
# pg_stop), with fsync on and the default synchronous_commit. It listens
# on a socket in $T/pg and on 127.0.0.1:PGPORT (a free port, the same
# one again on a restart), trusts local connections, and holds an empty
# database basalt owned by user basalt. initdb refuses to run as root:
# then the server runs as $SUDO_USER, else as nobody. Sets PGPORT
# (exported), PG_URL (the socket), PG_TCP_URL (the port), PG_DATA and
# PG_PID (the postmaster); pg_stop runs at exit. Returns 1 if the server
# did not start (the end of its log, $T/pg.log, is shown).
pg_start() {
	local dir=$T/pg try
	pg_available || { diag "pg_start: PostgreSQL is not installed"; return 1; }
	PG_DATA=$dir/data
	_pg_user=
	if [ "$(id -u)" = 0 ]; then
		_pg_user=${SUDO_USER:-nobody}
		[ "$_pg_user" = root ] && _pg_user=nobody
		chmod o+x "$T"
	fi
	if [ ! -d "$PG_DATA" ]; then
		mkdir -p "$dir" && : >"$T/pg.log" || return 1
		[ -z "$_pg_user" ] || chown "$_pg_user" "$dir" "$T/pg.log"
		_pg_as "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U basalt \
		    -E UTF8 --locale=C.UTF-8 >>"$T/pg.log" 2>&1 || {
			diag "pg_start: initdb failed:"
			diag "$(tail -n 15 "$T/pg.log")"
			return 1
		}
		PGPORT=
	fi
	for try in 1 2 3; do
		[ -n "${PGPORT:-}" ] || PGPORT=$(free_port)
		_pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$T/pg.log" -w -t 30 \
		    -o "-p $PGPORT -k $dir -c listen_addresses=127.0.0.1 -c fsync=on" \
		    start >/dev/null 2>&1 && break
		diag "pg_start: no server on port $PGPORT (try $try):"
		diag "$(tail -n 5 "$T/pg.log")"
		PGPORT=
	done
	[ -n "${PGPORT:-}" ] || return 1
	export PGPORT
	PG_PID=$(head -n 1 "$PG_DATA/postmaster.pid")
	PG_URL="postgresql://basalt@/basalt?host=$dir"
	PG_TCP_URL="postgresql://basalt@127.0.0.1:$PGPORT/basalt"
	_pg_atexit=1	# _cleanup stops it after the test's processes
	if [ ! -f "$dir/created" ]; then
		_pg_as "$PG_BIN/createdb" -h "$dir" -p "$PGPORT" -U basalt \
		    -O basalt basalt >>"$T/pg.log" 2>&1 || {
			diag "pg_start: createdb failed:"
			diag "$(tail -n 5 "$T/pg.log")"
			return 1
		}
		: >"$dir/created"
	fi
}

# pg_stop: stops pg_start's server (fast: open sessions are ended), if it
# runs; its data stays for another pg_start.
pg_stop() {
	[ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ] || return 0
	_pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop \
	    >/dev/null 2>&1
}

# _pg_as CMD...: CMD as the server's user (see pg_start).
_pg_as() {
	if [ -n "${_pg_user:-}" ]; then
		runuser -u "$_pg_user" -- "$@"
	else
		"$@"
	fi
}

# ---------------------------------------------------------------- web servers

# server_start NAME: a web server on a free port of 127.0.0.1, tried up to
# three times (a port may be taken between the probe and the bind):
# NAME_conf writes the configuration for PORT and sets SERVER_LOG, then
# NAME_run runs the server in the foreground with exec, so that the
# process started here is the server, its output appended to SERVER_LOG.
# Sets PORT, URL and SERVER_PID; returns 1 if the server never accepted
# connections (the end of its log is then shown).
server_start() {
	local try
	for try in 1 2 3; do
		PORT=$(free_port)
		"$1_conf" || return 1
		"$1_run" >>"$SERVER_LOG" 2>&1 &
		SERVER_PID=$!
		bg_track "$SERVER_PID"
		URL=http://127.0.0.1:$PORT
		_server_wait && return 0
	done
	return 1
}

# _server_wait: waits up to 10 s until SERVER_PID accepts on PORT; if it
# does not, stops it and shows its log.
_server_wait() {
	local i
	for i in $(seq 100); do
		port_open "$PORT" && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	stop_pid "$SERVER_PID" 3 2>/dev/null
	diag "no server on port $PORT; last lines of $SERVER_LOG:"
	diag "$(tail -n 15 "$SERVER_LOG" 2>/dev/null)"
	return 1
}

# lighttpd_start [SOCKET]: starts lighttpd on a free port of 127.0.0.1
# passing /api/ and /_/ to basalt's FastCGI socket (default $T/basalt.sock),
# with response streaming on. Sets PORT, URL and SERVER_PID; the config
# is $T/lighttpd-PORT.conf, the error log $T/lighttpd-PORT.err.
# LIGHTTPD_EXTRA, if set, is appended to the config (e.g. server.max-fds).
lighttpd_start() {
	local sock=${1:-$T/basalt.sock}
	command -v lighttpd >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
	mkdir -p "$T/www"
	server_start _lighttpd
}

_lighttpd_conf() {
	SERVER_LOG=$T/lighttpd-$PORT.err
	cat >"$T/lighttpd-$PORT.conf" <<EOF
server.modules = ( "mod_fastcgi" )
server.document-root = "$T/www"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$SERVER_LOG"
server.stream-response-body = 2
fastcgi.server = (
	"/api/" => (( "socket" => "$sock", "check-local" => "disable" )),
	"/_/" => (( "socket" => "$sock", "check-local" => "disable" ))
)
${LIGHTTPD_EXTRA:-}
EOF
}

_lighttpd_run() {
	exec lighttpd -D -f "$T/lighttpd-$PORT.conf"
}

# receiver_start: tests/webhook-receiver.mjs on a free port, checking
# signatures with the secret in $T/hook.secret (made here) and appending
# what it receives to LOG ($T/received.ndjson); sets RPORT and RURL.
receiver_start() {
	LOG=$T/received.ndjson
	: >"$LOG"
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/hook.secret"
	echo >>"$T/hook.secret"
	node "$top_srcdir/tests/webhook-receiver.mjs" "$top_srcdir/README" \
	    "$T/hook.secret" "$LOG" >"$T/receiver.port" 2>"$T/receiver.err" &
	bg_track $!
	wait_until 10 test -s "$T/receiver.port" ||
	    bail_out "the receiver did not start"
	RPORT=$(cat "$T/receiver.port")
	RURL=http://127.0.0.1:$RPORT
}

# ---------------------------------------------------------------- fixtures

# demo_setup: realm acme, app web, collection posts; TOKEN has read, write
# and admin, RTOKEN read only; B is the app's base URL and P the
# collection's (call it after lighttpd_start), PREFIX is P's path alone
# and AUTH the Authorization header with TOKEN.
demo_setup() {
	basalt_cli realm create acme &&
	basalt_cli app create acme web &&
	basalt_cli collection create acme web posts &&
	TOKEN=$(basalt_cli token create acme web --scope read,write,admin \
	    --label test) &&
	RTOKEN=$(basalt_cli token create acme web --scope read \
	    --label reader) || bail_out "demo_setup: the admin CLI failed"
	PREFIX=/api/realms/acme/apps/web/collections/posts
	B=${URL:-}/api/realms/acme/apps/web
	P=${URL:-}$PREFIX
	AUTH="Authorization: Bearer $TOKEN"
}

# demo_start [KEY=VALUE...]: basalt_config with the keys, basalt and
# lighttpd started, then demo_setup; bails out if one of them fails.
demo_start() {
	basalt_config "$@"
	basalt_start || bail_out "basalt serve did not start"
	lighttpd_start || bail_out "lighttpd did not start"
	demo_setup
}

# ---------------------------------------------------------------- HTTP

# http METHOD URL [CURL ARGS...]: one request with curl (HTTP_MAX_TIME, 10 s
# by default, at most; a later --max-time wins).
# Sets STATUS (000 if no answer), BODY (the text) and HDRS (a file with the
# response headers, CRLF line ends kept).
http() {
	local method=$1 url=$2
	shift 2
	HDRS=$T/.http-headers
	: >"$HDRS"
	if [ "$method" = HEAD ]; then
		set -- -I "$@"
	else
		set -- -X "$method" "$@"
	fi
	STATUS=$(curl -s --max-time "${HTTP_MAX_TIME:-10}" -o "$T/.http-body" -D "$HDRS" \
	    -w '%{http_code}' "$@" "$url")
	BODY=$(cat "$T/.http-body" 2>/dev/null)
}

# header NAME: the value of response header NAME (any case) from the last
# http call, without the CR; the last one if it came twice.
header() {
	tr -d '\r' <"$HDRS" | awk -v n="$1" '
	    BEGIN { n = tolower(n) }
	    { i = index($0, ":") }
	    i > 0 && tolower(substr($0, 1, i - 1)) == n {
		v = substr($0, i + 1); sub(/^[ \t]+/, "", v); last = v }
	    END { print last }'
}

# jbody FILTER: jq -r FILTER on the last BODY ("" when BODY is not JSON).
jbody() {
	jq -r "$1" <<<"$BODY" 2>/dev/null
}

# get URL [CURL ARGS...]: GET with $AUTH.
get() {
	http GET "$1" -H "$AUTH" "${@:2}"
}

# send METHOD URL JSON [CURL ARGS...]: a write with $AUTH and a JSON body.
send() {
	http "$1" "$2" -H "$AUTH" -H "$J" --data-binary "$3" "${@:4}"
}

# jnorm JSON: JSON with sorted keys on one line, for comparisons.
jnorm() {
	jq -S -c . <<<"$1" 2>/dev/null
}

# health_ok: /api/health answers 200.
health_ok() {
	http GET "$URL/api/health"
	[ "$STATUS" = 200 ]
}

# health_streams: the open streams /api/health counts.
health_streams() {
	http GET "$URL/api/health"
	jbody .streams
}

# streams_are N: /api/health counts N open streams (BODY is its answer).
streams_are() {
	http GET "$URL/api/health"
	[ "$(jbody .streams)" = "$1" ]
}

# ---------------------------------------------------------------- streams

# sub NAME URL [CURL ARGS...]: a curl -N subscriber in the background; the
# stream goes to $T/NAME.out, the headers to $T/NAME.h, its pid to SUB_NAME.
sub() {
	local name=$1 url=$2
	shift 2
	curl -sN -D "$T/$name.h" "$@" "$url" >"$T/$name.out" 2>"$T/$name.err" &
	eval "SUB_$name=$!"
	bg_track $!
}

# subs NAME URL [NAME URL...]: subscribers with $AUTH, as sub; returns
# once each has the stream's opening, 1 if one has not within 5 s.
subs() {
	local names= n
	while [ $# -ge 2 ]; do
		sub "$1" "$2" -H "$AUTH"
		names="$names $1"
		shift 2
	done
	for n in $names; do
		wait_sub "$n" || return 1
	done
}

# nevents NAME: the number of events NAME got so far.
nevents() {
	cat "$T/$1.out" 2>/dev/null | grep -c '^id: '
}

# has_events NAME N: NAME got N events or more.
has_events() {
	[ "$(nevents "$1")" -ge "$2" ]
}

# has_opening NAME: NAME got the stream's opening.
has_opening() {
	grep -q '^retry: ' "$T/$1.out" 2>/dev/null
}

# wait_sub NAME: waits for NAME's opening.
wait_sub() {
	wait_until 5 has_opening "$1"
}

# wait_events NAME N [SECONDS]: waits until NAME has N events.
wait_events() {
	wait_until "${3:-5}" has_events "$1" "$2"
}

# ended NAME: the curl of NAME has exited (basalt ended its stream).
ended() {
	local pid
	eval "pid=\$SUB_$1"
	! kill -0 "$pid" 2>/dev/null
}

# unsub NAME: stops NAME and parses its stream into $T/NAME.json.
unsub() {
	local pid
	eval "pid=\$SUB_$1"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	node "$SC" parse <"$T/$1.out" >"$T/$1.json"
}

# q NAME FILTER: jq -r FILTER on NAME's parsed stream.
q() {
	jq -r "$2" "$T/$1.json"
}

# sheader NAME HEADER: a response header of subscriber NAME.
sheader() {
	HDRS=$T/$1.h header "$2"
}

# ---------------------------------------------------------------- bench

# need_bench: BENCH is contrib/bench's load generator; skips the whole
# script when it is not built.
need_bench() {
	BENCH=$top_builddir/contrib/bench/basalt-bench
	[ -x "$BENCH" ] || skip_all "contrib/bench/basalt-bench is not built"
}

# bench_result LOG KEY: the value of KEY in LOG's RESULT line.
bench_result() {
	grep '^RESULT' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'
}

if [ ! -x "$BASALT" ]; then
	bail_out "no basalt binary at $BASALT"
fi
