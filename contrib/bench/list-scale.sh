#!/bin/bash
# Lists at scale: RECORDS records (1,000,000) in one collection, an index
# on fields.room and one on fields.score, then the latency of two lists
# over FastCGI directly, with contrib/bench's client (basalt-bench crud
# --op list, one request at a time, for SECONDS each):
#
#   filter  filter=fields.room = "r<K>"&limit=50: the 50 records of a room
#   first   sort=fields.score&limit=50: the first page
#   later   the same from after=<the cursor of the record half way>
#
# The records are written straight into the database with one SQL
# statement before basalt starts (seconds, where 1,000 batches of 1,000
# through POST .../batch take minutes); they are what the API writes:
# ULID ids, {"n":N,"room":"rK","score":S,"pad":"..."} of about 100 bytes.
# Each `basalt index create` is timed: it holds the database's write lock
# while it reads the whole collection.
#
#   contrib/bench/list-scale.sh [--basalt PATH] [--bench PATH]
#       [--records N] [-d SECONDS] [--reps N]
#
# Needs sqlite3, lighttpd (for curl to fetch a page), curl and jq.
# Measure a build without sanitizers. Uses tests/lib.sh, as
# contrib/bench/run does.

set -u

BASALT=${BASALT:-./basalt}
BENCH=./contrib/bench/basalt-bench
RECORDS=1000000
SECS=10
REPS=3
while [ $# -gt 0 ]; do
	case $1 in
	--basalt) BASALT=$2; shift ;;
	--bench) BENCH=$2; shift ;;
	--records) RECORDS=$2; shift ;;
	-d) SECS=$2; shift ;;
	--reps) REPS=$2; shift ;;
	*) echo "usage: $0 [--basalt PATH] [--bench PATH] [--records N]" \
	    "[-d SECONDS] [--reps N]" >&2; exit 64 ;;
	esac
	shift
done
command -v lighttpd >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
for c in sqlite3 lighttpd curl jq; do
	command -v $c >/dev/null 2>&1 || { echo "$0: needs $c" >&2; exit 1; }
done
for b in "$BASALT" "$BENCH"; do
	[ -x "$b" ] || { echo "$0: no $b" >&2; exit 1; }
done
BASALT=$(cd "$(dirname "$BASALT")" && pwd)/$(basename "$BASALT")
BENCH=$(cd "$(dirname "$BENCH")" && pwd)/$(basename "$BENCH")

. "$(dirname "$0")/../../tests/lib.sh"
basalt_config log_level=warn
basalt_cli realm create acme >/dev/null &&
    basalt_cli app create acme web >/dev/null &&
    basalt_cli collection create acme web posts >/dev/null &&
    TOKEN=$(basalt_cli token create acme web --scope read --label list \
    2>/dev/null) || { echo "$0: the admin CLI failed" >&2; exit 1; }
DB=$T/basalt.db
ROOMS=$((RECORDS / 50))
PAD=$(printf '%*s' 40 '' | tr ' ' x)

# now_ms: the wall clock in milliseconds.
now_ms() {
	date +%s%3N
}

t0=$(now_ms)
sqlite3 "$DB" >/dev/null <<SQL || { echo "$0: the import failed" >&2; exit 1; }
PRAGMA journal_mode = WAL;
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c
    WHERE i < $RECORDS - 1)
INSERT INTO records (collection_id, id, fields, created_at, updated_at)
SELECT (SELECT id FROM collections WHERE name = 'posts'),
    '01JA' || printf('%022d', i),
    json_object('n', i, 'room', 'r' || (i % $ROOMS),
	'score', abs(random() % 1000000), 'pad', '$PAD'),
    '2026-12-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z' FROM c;
SQL
echo "import: $RECORDS records by SQL in $(( $(now_ms) - t0 )) ms"
for f in fields.room fields.score; do
	t0=$(now_ms)
	basalt_cli index create acme web posts "$f" ||
	    { echo "$0: basalt index create $f failed" >&2; exit 1; }
	ms=$(( $(now_ms) - t0 ))
	echo "index create $f: $ms ms"
	echo "RESULT mode=index-create field=$f records=$RECORDS ms=$ms"
done

basalt_start || exit 1
lighttpd_start || exit 1
PREFIX=/api/realms/acme/apps/web/collections/posts
AUTH="Authorization: Bearer $TOKEN"

# The cursor of the record half way through the sort, as basalt writes
# it: base64url of the JSON array of its sort values.
HALF=$(sqlite3 "$DB" "SELECT json_array(json_extract(fields, '$.score'), id)
    FROM records ORDER BY json_extract(fields, '$.score'), id
    LIMIT 1 OFFSET $((RECORDS / 2))")
CURSOR=$(printf '%s' "$HALF" | base64 -w0 | tr '+/' '-_' | tr -d '=')
ROOM=r$((ROOMS / 3))
FILTER="filter=$(jq -rn --arg v "fields.room = \"$ROOM\"" '$v | @uri')&limit=50"
FIRST="sort=fields.score&limit=50"
LATER="$FIRST&after=$CURSOR"

# Each list answers what it should before it is measured.
check() {
	local what=$1 qs=$2 n
	n=$(curl -s -H "$AUTH" "$URL$PREFIX/records?$qs" | jq '.items | length')
	[ "$n" = 50 ] || { echo "$0: $what: $n items, not 50" >&2; exit 1; }
}
check filter "$FILTER"
check first "$FIRST"
check later "$LATER"

for r in $(seq "$REPS"); do
	for what in filter first later; do
		case $what in
		filter) qs=$FILTER ;;
		first) qs=$FIRST ;;
		later) qs=$LATER ;;
		esac
		echo "== $what (run $r)"
		"$BENCH" crud --op list --preload 0 -c 1 -d "$SECS" \
		    --fcgi "$T/basalt.sock" --prefix "$PREFIX" --token "$TOKEN" \
		    --query "$qs" --pid "$BASALT_PID" |
		    sed "s/^RESULT mode=crud/RESULT mode=list-$what records=$RECORDS/"
	done
done
