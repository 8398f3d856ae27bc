#!/bin/bash
# The dashboard in a real browser: headless Chromium, driven by
# tests/dashboard.mjs (playwright-core), against basalt behind lighttpd.
#
# The node script prints the TAP lines. When it needs basalt stopped or
# started while the page stays open, it prints "@ctl stop" or "@ctl start"
# and this script does it and answers "done RC" on the script's stdin.
#
# playwright-core is pinned (tests/package.json) to the last release that
# runs on Node.js 18, Debian 12's nodejs; the last test here checks that
# every package of the lock file does. It drives Debian's own chromium.
#
# A second basalt process on the same database, behind its own lighttpd
# ($URL2), takes writes while the first one is down, so the page has to
# resume with Last-Event-ID to see them.

. "$top_srcdir/tests/lib.sh"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] ||
	skip_all "no $CHROMIUM (Debian: apt-get install chromium)"
need node lighttpd
need_npm playwright-core

demo_start
basalt_cli collection create acme web comments &&
	basalt_cli collection create acme web tasks &&
	basalt_cli collection create acme web todos ||
	bail_out "collection create failed"
# The app trusts JWTs signed with an HS256 secret (HSKEY); OTHERKEY signs
# JWTs it must refuse. tests/jwt-sign.mjs makes them.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/hs.key" &&
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/other.key" &&
	basalt_cli app jwt acme web --hs256-secret-file "$T/hs.key" >/dev/null ||
	bail_out "app jwt failed"
HSKEY=$T/hs.key
OTHERKEY=$T/other.key
# A wrong token: a real one with its last character changed.
case $TOKEN in
*x)	BADTOKEN=${TOKEN%?}y ;;
*)	BADTOKEN=${TOKEN%?}x ;;
esac

A_PID=$BASALT_PID
basalt_start --listen "$T/b2.sock" || bail_out "second basalt did not start"
BASALT_PID=$A_PID
URL1=$URL
lighttpd_start "$T/b2.sock" || bail_out "second lighttpd did not start"
URL2=$URL
URL=$URL1

mkdir -p "$top_builddir/tests"
mkfifo "$T/ctl"
exec 5<>"$T/ctl"

# prune: cuts the event log to its last 3 events, with a basalt started
# for that on a side socket, and waits until the second basalt answers an
# old Last-Event-ID with reset, so that basalt A starts on a pruned log.
prune() {
	local a=$BASALT_PID rc
	basalt_config event_retention_count=3
	basalt_start --listen "$T/prune.sock" || return 1
	wait_until 10 _pruned
	rc=$?
	basalt_stop "$BASALT_PID"
	BASALT_PID=$a
	basalt_config
	return $rc
}

_pruned() {
	curl -s -N --max-time 1 -H "$AUTH" -H 'Last-Event-ID: 1' \
	    "$URL2/api/realms/acme/apps/web/collections/comments/events" |
	    grep -q '^event: reset'
}

# ctl CMD: runs a command asked for by the node script; prints its status.
ctl() {
	case $1 in
	stop)	basalt_stop "$BASALT_PID" ;;
	start)	basalt_start ;;
	prune)	prune ;;
	*)	diag "unknown control command '$1'"; return 1 ;;
	esac
}

# node_too_new: the packages of the lock file whose "engines" field rules
# out Node.js 18, one line each; nothing when all of them allow it.
node_too_new() {
	node -e '
	const lock = require(process.argv[1]);
	// one of the alternatives is >=N with N <= 18, ^18, 18.x or *
	const ok = (r) => r.split("||").some((a) =>
	    /^\s*(>=\s*v?(1[0-8]|[0-9])(\D|$)|\^18(\D|$)|18(\.|\s*$)|\*\s*$)/.test(a));
	for (const [k, p] of Object.entries(lock.packages || {}))
		if (k !== "" && p.engines && p.engines.node && !ok(p.engines.node))
			console.log(k.replace(/^node_modules\//, "") + " " +
			    p.version + " needs Node.js " + p.engines.node);
	' "$top_srcdir/tests/package-lock.json"
}

export URL URL2 TOKEN RTOKEN BADTOKEN T CHROMIUM HSKEY OTHERKEY
export COLLECTIONS="$(basalt_cli collection list acme web | sort | tr '\n' ' ')"
export SCREENSHOT="$top_builddir/tests/dashboard-live.png"

last=0
planned=
node_rc=
while IFS= read -r line; do
	case $line in
	'@exit '*)
		node_rc=${line#@exit }
		;;
	'1..'*)
		planned=1	# printed below, after the last test of this script
		;;
	'@ctl '*)
		ctl "${line#@ctl }" >&2
		echo "done $?" >&5
		;;
	*)
		printf '%s\n' "$line"
		[[ $line =~ ^(not\ )?ok\ ([0-9]+) ]] && last=${BASH_REMATCH[2]}
		;;
	esac
done < <(cd "$top_srcdir/tests" && node dashboard.mjs <"$T/ctl" 2>"$T/node.err"; echo "@exit $?")

# The node script ends with its plan; if it died first, say so.
if [ -z "$planned" ]; then
	echo "not ok $((last + 1)) - dashboard.mjs ended early"
	diag "$(tail -n 30 "$T/node.err")"
	echo "1..$((last + 1))"
	_dump_logs
	exit 1
fi
# Debian 12's nodejs is 18: every npm package the tests install must run
# on it, even where a newer node runs the tests (as "npm install" only
# warns about a package's "engines").
too_new=$(node_too_new)
last=$((last + 1))
if [ -z "$too_new" ]; then
	echo "ok $last - every package in tests/package-lock.json runs on Node.js 18"
else
	echo "not ok $last - every package in tests/package-lock.json runs on Node.js 18"
	diag "$too_new"
	node_rc=1
fi
echo "1..$last"
if [ -s "$T/node.err" ]; then
	diag "$(tail -n 30 "$T/node.err")"
fi
if [ "$node_rc" != 0 ]; then
	BASALT_TEST_KEEP=${BASALT_TEST_KEEP:-1}
	_dump_logs
	exit 1
fi
exit 0
