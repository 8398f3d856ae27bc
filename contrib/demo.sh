#!/bin/sh
# Try basalt on a fresh Debian machine: installs the build dependencies and
# lighttpd, builds basalt in build-demo/, and runs it behind lighttpd on
# http://127.0.0.1:${PORT:-8080} with a demo realm, app and collection.
# Everything it writes stays in demo-data/. Ctrl-C stops it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
port=${PORT:-8080}
cd "$top"
contrib/deps.sh demo
[ -x configure ] || autoreconf -fi
mkdir -p build-demo
(cd build-demo && { [ -f Makefile ] || ../configure -q; } && make -j"$(nproc)" -s)
bin=$top/build-demo/basalt
data=$top/demo-data
mkdir -p "$data/www"
cat >"$data/basalt.conf" <<CONF
database = $data/basalt.db
listen = $data/basalt.sock
heartbeat_interval = 15
dashboard_dir = $top/dashboard
hooks_dir = $data/hooks
CONF
cat >"$data/lighttpd.conf" <<CONF
server.modules = ("mod_fastcgi")
server.bind = "127.0.0.1"
server.port = $port
server.document-root = "$data/www"
server.errorlog = "$data/lighttpd.log"
server.stream-response-body = 2
fastcgi.server = (
  "/api/" => (( "socket" => "$data/basalt.sock", "check-local" => "disable" )),
  "/_/" => (( "socket" => "$data/basalt.sock", "check-local" => "disable" ))
)
CONF
b() { "$bin" -c "$data/basalt.conf" "$@"; }
b realm list | grep -qx demo || b realm create demo
b app list demo | grep -qx web || b app create demo web
b collection list demo web | grep -qx posts || b collection create demo web posts
token=$(b token create demo web --scope read,write,admin --label demo 2>/dev/null)

b serve 2>>"$data/basalt.log" &
basalt_pid=$!
lighttpd -D -f "$data/lighttpd.conf" &
lighttpd_pid=$!
trap 'kill $lighttpd_pid $basalt_pid 2>/dev/null; wait 2>/dev/null; echo; echo stopped.' INT TERM EXIT
sleep 1
api=http://127.0.0.1:$port/api/realms/demo/apps/web/collections/posts
cat <<MSG

basalt is running behind lighttpd on http://127.0.0.1:$port (logs in $data/).

  TOKEN=$token

Create a record:
  curl -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -d '{"title":"hello"}' $api/records

Watch events (in another terminal):
  curl -N -H "Authorization: Bearer \$TOKEN" $api/events

Dashboard: http://127.0.0.1:$port/_/  (paste the token)
Ctrl-C stops basalt and lighttpd.
MSG
wait $basalt_pid
