#!/bin/bash
# kill -9 under load: six curl clients create, update and delete records
# through lighttpd while basalt is killed with SIGKILL and started again,
# several rounds. After each restart, what a client can read back must hold
# every write that was acknowledged (a 2xx answer), with exactly one event
# each, in id order; and the records listed must be exactly what the event
# log, replayed from id 0 through a resumed stream, says they are (a write
# that got no answer may or may not be there, but never half of it).
#
# CRASH_ROUNDS (default 4) sets the number of kills.

. "$top_srcdir/tests/lib.sh"

need lighttpd jq

ROUNDS=${CRASH_ROUNDS:-4}
CLIENTS=6

demo_start

# call METHOD URL [BODY]: one request; sets ST (000 if no answer) and RID
# (the "id" of a JSON answer, if any).
call() {
	local out
	out=$(curl -s --max-time 10 -X "$1" -H "$AUTH" ${3:+-H "$J"} \
	    ${3:+--data-binary "$3"} -w '\n%{http_code}' "$2" 2>/dev/null)
	ST=${out##*$'\n'}
	RID=
	[[ ${out%$'\n'*} =~ ^\{\"id\":\"([0-9A-Z]{26})\" ]] &&
	    RID=${BASH_REMATCH[1]}
}

# writer C: client C writes, one request at a time, until $T/stop exists:
# a create {"c":C,"k":K}; every third step a PATCH {"u":K} of its last
# acknowledged record, every fifth a DELETE of it. Each answer is a line
# "C OP K STATUS RECORD_ID" in $T/ops.C. A record whose DELETE got no
# answer is never touched again.
writer() {
	local c=$1 k=0 last=
	while [ ! -e "$T/stop" ]; do
		k=$((k + 1))
		call POST "$P/records" "{\"c\":$c,\"k\":$k}"
		echo "$c create $k ${ST:-000} $RID" >>"$T/ops.$c"
		[ "$ST" = 201 ] && last=$RID
		if [ -n "$last" ] && [ $((k % 3)) = 0 ]; then
			call PATCH "$P/records/$last" "{\"u\":$k}"
			echo "$c update $k ${ST:-000} $last" >>"$T/ops.$c"
		fi
		if [ -n "$last" ] && [ $((k % 5)) = 0 ]; then
			call DELETE "$P/records/$last"
			echo "$c delete $k ${ST:-000} $last" >>"$T/ops.$c"
			last=
		fi
	done
}

acked() { cat "$T"/ops.* 2>/dev/null | awk '$4 ~ /^2/' | wc -l; }
acked_over() { [ "$(acked)" -gt "$1" ]; }

# read_log ROUND: publishes a marker event, then reads the whole log with
# a stream resumed from 0 (Last-Event-ID: 0) up to the marker, into
# $T/events.json (one {eid, type, data} per line).
read_log() {
	local mark pid
	mark=$(curl -s -H "$AUTH" -H "$J" --max-time 10 \
	    -d "{\"type\":\"crash_marker\",\"payload\":{\"round\":$1}}" \
	    "$P/events" | jq -r '.id // empty')
	[ -n "$mark" ] || return 1
	curl -sN --max-time 60 -H "$AUTH" -H 'Last-Event-ID: 0' "$P/events" \
	    >"$T/log.sse" &
	pid=$!
	wait_until 30 grep -q "^id: $mark"$'\r*$' "$T/log.sse"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	awk -v stop="$mark" '
		{ sub(/\r$/, "") }
		/^id: / { id = substr($0, 5) }
		/^event: / { ty = substr($0, 8) }
		/^data: / { d = substr($0, 7) }
		/^$/ && id != "" {
			printf "{\"eid\":%s,\"type\":\"%s\",\"data\":%s}\n", id, ty, d
			if (id + 0 >= stop + 0)
				exit
			id = ""; ty = ""; d = ""
		}' "$T/log.sse" >"$T/events.json"
	[ "$(tail -n 1 "$T/events.json" | jq -r .eid 2>/dev/null)" = "$mark" ]
}

# read_records: every record, page by page, into $T/records.json.
read_records() {
	local after= page
	: >"$T/records.json"
	while :; do
		page=$(curl -s --max-time 10 -H "$AUTH" \
		    "$P/records?limit=100${after:+&after=$after}") || return 1
		jq -c '.items[]' <<<"$page" >>"$T/records.json" || return 1
		after=$(jq -r '.next // empty' <<<"$page")
		[ -n "$after" ] || return 0
	done
}

# The checks, over the log ($ev), the records ($recs) and the answers the
# clients got ($ops); prints one line per fault.
cat >"$T/check.jq" <<'EOF'
def key(t; id; u): "\(t) \(id) \(u // "")";
($ev | map(select(.type != "crash_marker"))) as $e
| ($e | reduce .[] as $x ({};
    .[key($x.type; $x.data.id; $x.data.fields.u)] += 1)) as $n
| ($e | map(select(.type == "record_created") | {key: .data.id,
    value: .data.fields}) | from_entries) as $created
# replay the log: the state it describes, and what cannot be
| ($e | reduce .[] as $x ({s: {}, err: []};
    $x.data.id as $id
    | if $x.type == "record_created" then
        (if .s | has($id) then .err += ["event \($x.eid): \($id) created twice"]
         else . end) | .s[$id] = $x.data.fields
      elif $x.type == "record_updated" then
        (if .s | has($id) then . else
         .err += ["event \($x.eid): update of \($id), which does not exist"]
         end) | .s[$id] = $x.data.fields
      elif $x.type == "record_deleted" then
        (if .s | has($id) then . else
         .err += ["event \($x.eid): delete of \($id), which does not exist"]
         end) | del(.s[$id])
      else .err += ["event \($x.eid): unexpected type \($x.type)"] end))
  as $replay
| ($recs | map({key: .id, value: .fields}) | from_entries) as $live
| (if [$ev[].eid] as $a | all(range(1; $a | length); $a[.] > $a[. - 1])
   then empty else "event ids do not increase along the stream" end),
  $replay.err[],
  (($live | keys) - ($replay.s | keys) | .[]
   | "record \(.) is listed, but the log does not have it"),
  (($replay.s | keys) - ($live | keys) | .[]
   | "the log has record \(.), but it is not listed"),
  ($live | to_entries[] | select($replay.s[.key] != null and
     $replay.s[.key] != .value)
   | "record \(.key) is \(.value | tojson), its last event says \($replay.s[.key] | tojson)"),
  ($n | to_entries[] | select(.value > 1)
   | "\(.value) events for one write: \(.key)"),
  ($ops[] | select(.st >= 200 and .st < 300) | . as $o
   | if .op == "create" then
       (if $n[key("record_created"; $o.id; null)] != 1
        then "acknowledged create \($o.c)/\($o.k) (\($o.id)): no record_created"
        elif $created[$o.id] != {c: $o.c, k: $o.k}
        then "acknowledged create \($o.c)/\($o.k) (\($o.id)): its event has \($created[$o.id] | tojson)"
        else empty end)
     elif .op == "update" then
       (if $n[key("record_updated"; $o.id; $o.k)] != 1
        then "acknowledged update \($o.c)/\($o.k) of \($o.id): no record_updated with u=\($o.k)"
        else empty end)
     else
       (if $n[key("record_deleted"; $o.id; null)] != 1
        then "acknowledged delete \($o.c)/\($o.k) of \($o.id): no record_deleted"
        elif $live | has($o.id) then "acknowledged delete of \($o.id): still listed"
        else empty end)
     end)
EOF

# ops_json: every answer the clients got, as a JSON array.
ops_json() {
	cat "$T"/ops.* | awk '{ printf "{\"c\":%d,\"op\":\"%s\",\"k\":%d,\"st\":%d,\"id\":\"%s\"}\n", $1, $2, $3, $4, $5 }' |
	    jq -s .
}

for r in $(seq 1 "$ROUNDS"); do
	rm -f "$T/stop"
	before=$(acked)
	pids=()
	for c in $(seq 1 $CLIENTS); do
		writer "$c" &
		pids+=($!)
		bg_track $!
	done
	# the kill falls at a different moment of the writing in every round
	wait_until 20 acked_over $((before + 30 + RANDOM % 200))
	acked_over "$before"
	ok $? "round $r: $CLIENTS clients write through lighttpd ($(($(acked) - before)) acknowledged)"
	kill -KILL "$BASALT_PID"
	wait "$BASALT_PID" 2>/dev/null
	killed_at=$(acked)
	sleep 0.$((RANDOM % 5))
	basalt_start
	ok $? "round $r: basalt starts again after kill -9"
	wait_until 30 acked_over $((killed_at + 30))
	acked_over "$killed_at"
	ok $? "round $r: acknowledged writes resume after the restart"
	touch "$T/stop"
	for p in "${pids[@]}"; do
		wait "$p"
	done

	unacked=$(cat "$T"/ops.* | awk '$4 !~ /^2/' | wc -l)
	read_log "$r"
	ok $? "round $r: a stream resumed from 0 replays the whole log ($(wc -l <"$T/events.json") events)"
	read_records
	ok $? "round $r: the list API pages through $(wc -l <"$T/records.json") records"
	ops_json >"$T/answers.json"
	jq -nr --slurpfile ev "$T/events.json" --slurpfile recs "$T/records.json" \
	    --slurpfile opsf "$T/answers.json" '$opsf[0] as $ops | '"$(cat "$T/check.jq")" \
	    >"$T/faults" 2>"$T/check.err"
	rc=$?
	[ $rc = 0 ] || diag "jq: $(head -n 5 "$T/check.err")"
	ok "$([ $rc = 0 ] && [ ! -s "$T/faults" ]; echo $?)" \
	    "round $r: every acknowledged write is there with exactly one event, the records are what the log says ($(acked) acknowledged, $unacked not)"
	[ -s "$T/faults" ] && diag "$(head -n 20 "$T/faults")"
	diag "round $r: answers so far (count status): $(cat "$T"/ops.* |
	    awk '{print $4}' | sort | uniq -c | tr -s ' \n' ' ')"
done

basalt_stop
ok "$(grep -qE 'Sanitizer|runtime error:' "$T/basalt.log"; [ $? -ne 0 ]
    echo $?)" "no sanitizer report in basalt's log"

done_testing
