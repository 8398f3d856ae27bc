# Starters for the web servers of tests/servers.sh: each one writes a
# configuration into $T around the snippet shipped in contrib/, with only
# the backend address changed, and runs the server in the foreground on a
# free port of 127.0.0.1. Source it after tests/lib.sh.
#
# A starter takes the backend, a unix socket path (default $T/basalt.sock)
# or 127.0.0.1:PORT, sets PORT, URL and SERVER_PID, and returns 1 when the
# server did not come up (its error log is then shown as TAP diagnostics).
#
# Settings outside the snippets, for benchmarks that need more open
# streams than a test: LIGHTTPD_EXTRA (global lines of lighttpd's config),
# NGINX_MAIN (nginx's main context, default "worker_processes 1;"),
# NGINX_EVENTS (its events block, default "worker_connections 256;"),
# APACHE_EXTRA (lines of httpd.conf) and CADDY_GLOBAL (lines of the
# Caddyfile's global options).

PATH=$PATH:/usr/sbin:/sbin
CONTRIB=$top_srcdir/contrib
APACHE_MODULES=${APACHE_MODULES:-/usr/lib/apache2/modules}

# have_server NAME: the server NAME (lighttpd, nginx, apache, caddy,
# spawn-fcgi) is installed; if not, WHY_MISSING says what is missing.
have_server() {
	local m
	WHY_MISSING=
	case $1 in
	apache)
		command -v apache2 >/dev/null 2>&1 ||
		    { WHY_MISSING="apache2 not installed"; return 1; }
		for m in mpm_event proxy proxy_fcgi authz_core; do
			[ -f "$APACHE_MODULES/mod_$m.so" ] || {
				WHY_MISSING="no $APACHE_MODULES/mod_$m.so"
				return 1
			}
		done
		;;
	*)
		command -v "$1" >/dev/null 2>&1 ||
		    { WHY_MISSING="$1 not installed"; return 1; }
		;;
	esac
}

# _is_tcp BACKEND: BACKEND is host:port, not a socket path.
_is_tcp() {
	[[ $1 != /* ]]
}

# _snippet FILE OUT BACKEND TCP_SED: contrib/FILE into OUT with the socket
# path replaced by BACKEND, or edited by the sed command TCP_SED when
# BACKEND is host:port.
_snippet() {
	if _is_tcp "$3"; then
		sed "$4" "$CONTRIB/$1" >"$2"
	else
		sed "s|/run/basalt/basalt.sock|$3|" "$CONTRIB/$1" >"$2"
	fi
}

# ---------------------------------------------------------------- lighttpd

# lighttpd_conf_start SNIPPET: lighttpd -D around SNIPPET (a file already
# written into $T). Sets PORT, URL, SERVER_PID.
lighttpd_conf_start() {
	local snippet=$1 dir=$T/lighttpd
	mkdir -p "$dir/htdocs"
	server_start _lighttpd_snippet
}

_lighttpd_snippet_conf() {
	SERVER_LOG=$dir/error-$PORT.log
	cat >"$dir/lighttpd-$PORT.conf" <<EOF
server.document-root = "$dir/htdocs"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$SERVER_LOG"
${LIGHTTPD_EXTRA:-}
include "$snippet"
EOF
}

_lighttpd_snippet_run() {
	exec lighttpd -D -f "$dir/lighttpd-$PORT.conf"
}

# lighttpd_contrib_start [BACKEND]: lighttpd with
# contrib/lighttpd/basalt.conf.
lighttpd_contrib_start() {
	local be=${1:-$T/basalt.sock} s=$T/lighttpd/basalt.conf
	mkdir -p "$T/lighttpd"
	_snippet lighttpd/basalt.conf "$s" "$be" \
	    "s|\"socket\" => \"/run/basalt/basalt.sock\"|\"host\" => \"${be%:*}\", \"port\" => ${be##*:}|"
	lighttpd_conf_start "$s"
}

# lighttpd_spawn_start CONF: lighttpd with
# contrib/lighttpd/basalt-spawn.conf.in, spawning "$BASALT -c CONF serve"
# (max-procs 2) on sockets $T/spawn.sock-0 and -1. Sets SPAWNED to the
# pids of the basalt processes it started.
lighttpd_spawn_start() {
	local conf=$1 s=$T/lighttpd/basalt-spawn.conf i
	mkdir -p "$T/lighttpd"
	sed -e "s|@bindir@/basalt|$BASALT|" \
	    -e "s|@sysconfdir@/basalt.conf|$conf|" \
	    -e "s|@pkgdatadir@|$CONTRIB|" \
	    -e "s|/run/basalt/basalt.sock|$T/spawn.sock|" \
	    "$CONTRIB/lighttpd/basalt-spawn.conf.in" >"$s"
	lighttpd_conf_start "$s" || return 1
	# lighttpd starts its backends before it listens; give them a moment
	# to open the database
	for i in $(seq 50); do
		SPAWNED=$(pgrep -P "$SERVER_PID" | tr '\n' ' ')
		[ "$(echo $SPAWNED | wc -w)" -ge 2 ] && break
		sleep 0.1
	done
	for i in $SPAWNED; do
		bg_track "$i"
	done
}

# ---------------------------------------------------------------- nginx

# nginx_start [BACKEND]: nginx with contrib/nginx/basalt.conf inside a
# server block. BACKEND may also name an upstream block given in
# NGINX_HTTP (written into the http block). Sets PORT, URL, SERVER_PID.
nginx_start() {
	local be=${1:-$T/basalt.sock} dir=$T/nginx user=
	mkdir -p "$dir/tmp" "$dir/logs"
	_snippet nginx/basalt.conf "$dir/basalt.conf" "$be" \
	    "s|unix:/run/basalt/basalt.sock|$be|"
	# the snippet includes fastcgi_params from nginx's own folder
	cp /etc/nginx/fastcgi_params "$dir/" || return 1
	# as root, workers would run as nobody and could not open the socket
	[ "$(id -u)" -eq 0 ] && user="user root;"
	server_start _nginx
}

_nginx_conf() {
	SERVER_LOG=$dir/logs/error.log
	cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
${NGINX_MAIN:-worker_processes 1;}
$user
pid $dir/nginx.pid;
error_log $SERVER_LOG info;
events { ${NGINX_EVENTS:-worker_connections 256;} }
http {
	${NGINX_HTTP:-}
	access_log $dir/logs/access.log;
	client_body_temp_path $dir/tmp/body;
	fastcgi_temp_path $dir/tmp/fastcgi;
	proxy_temp_path $dir/tmp/proxy;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	server {
		listen 127.0.0.1:$PORT;
		include $dir/basalt.conf;
	}
}
EOF
}

_nginx_run() {
	exec nginx -p "$dir" -e "$SERVER_LOG" -c "$dir/nginx.conf"
}

# ---------------------------------------------------------------- Apache

# apache_start [BACKEND]: apache2 -DFOREGROUND with
# contrib/apache/basalt.conf, the Debian module paths and everything else
# in $T. As root its children run as www-data, so a socket backend is
# given to that group. Sets PORT, URL, SERVER_PID.
apache_start() {
	local be=${1:-$T/basalt.sock} dir=$T/apache user= m mods=
	mkdir -p "$dir/htdocs" "$dir/run"
	_snippet apache/basalt.conf "$dir/basalt.conf" "$be" \
	    "s#unix:/run/basalt/basalt.sock|fcgi://basalt#fcgi://$be#"
	if [ "$(id -u)" -eq 0 ]; then
		user="User www-data
Group www-data"
		if ! _is_tcp "$be"; then
			# what a deployment does with SocketGroup=www-data
			chgrp www-data "$be" && chmod 0660 "$be" &&
			    chmod o+x "$T" "$(dirname "$be")" || return 1
		fi
	fi
	for m in mpm_event authz_core proxy proxy_fcgi; do
		mods="${mods}LoadModule ${m}_module $APACHE_MODULES/mod_$m.so
"
	done
	server_start _apache
}

_apache_conf() {
	SERVER_LOG=$dir/error.log
	cat >"$dir/httpd.conf" <<EOF
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
$mods
$user
PidFile "$dir/run/httpd.pid"
DefaultRuntimeDir "$dir/run"
Mutex file:$dir/run default
ErrorLog "$SERVER_LOG"
LogLevel info
DocumentRoot "$dir/htdocs"
${APACHE_EXTRA:-}
Include "$dir/basalt.conf"
EOF
}

_apache_run() {
	exec apache2 -d "$dir" -f "$dir/httpd.conf" -DFOREGROUND
}

# ---------------------------------------------------------------- Caddy

# caddy_start [BACKEND]: caddy run with contrib/caddy/basalt.caddy
# imported in a plain-HTTP site, the admin endpoint off and HOME and the
# XDG folders in $T so that it writes nothing elsewhere. Sets PORT, URL,
# SERVER_PID.
caddy_start() {
	local be=${1:-$T/basalt.sock} dir=$T/caddy
	mkdir -p "$dir/home" "$dir/data" "$dir/config"
	_snippet caddy/basalt.caddy "$dir/basalt.caddy" "$be" \
	    "s|unix//run/basalt/basalt.sock|$be|"
	server_start _caddy
}

_caddy_conf() {
	SERVER_LOG=$dir/caddy.log
	cat >"$dir/Caddyfile" <<EOF
{
	admin off
	auto_https off
	storage file_system $dir/data
	${CADDY_GLOBAL:-}
}
http://127.0.0.1:$PORT {
	import $dir/basalt.caddy
}
EOF
}

_caddy_run() {
	HOME=$dir/home XDG_DATA_HOME=$dir/data XDG_CONFIG_HOME=$dir/config \
	    exec caddy run --config "$dir/Caddyfile" --adapter caddyfile
}

# ---------------------------------------------------------------- spawn-fcgi

# spawnfcgi_start CONF SOCKET: spawn-fcgi -n execs "$BASALT -c CONF serve"
# with SOCKET on fd 0, as a service manager would. Sets SPAWNFCGI_PID (the
# basalt process itself).
spawnfcgi_start() {
	local conf=$1 sock=$2
	spawn-fcgi -s "$sock" -M 0660 -n -- "$BASALT" -c "$conf" serve \
	    2>>"$T/basalt-spawnfcgi.log" &
	SPAWNFCGI_PID=$!
	bg_track "$SPAWNFCGI_PID"
	wait_until 10 _server_up_unix "$SPAWNFCGI_PID" "$sock" || {
		diag "spawn-fcgi: $(tail -n 10 "$T/basalt-spawnfcgi.log")"
		return 1
	}
}

_server_up_unix() {
	kill -0 "$1" 2>/dev/null || return 2
	unix_open "$2"
}
