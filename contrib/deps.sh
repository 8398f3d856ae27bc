#!/bin/sh
# Installs basalt's Debian packages: "build" for building, "demo" adds
# lighttpd, "test" adds everything the test suite drives. Run as root.
set -eu

build="libfcgi-dev libjson-c-dev libsqlite3-dev libevent-dev libsodium-dev libssl-dev
 libcurl4-openssl-dev duktape-dev libpq-dev check autoconf automake pkg-config make
 gcc"
demo="lighttpd curl"
test="lighttpd nginx apache2 caddy spawn-fcgi libnginx-mod-nchan curl
 chromium sqlite3 postgresql procps psmisc jq mandoc iproute2
 clang libclang-rt-14-dev
 prometheus"

case "${1:-build}" in
build) pkgs=$build ;;
demo) pkgs="$build $demo" ;;
test) pkgs="$build $test" ;;
*) echo "usage: $0 build|demo|test" >&2; exit 2 ;;
esac
command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
# Installing a web server must not start it on port 80.
policy=/usr/sbin/policy-rc.d
made_policy=no
if [ ! -e $policy ]; then
	printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy
	made_policy=yes
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq $missing >/dev/null
[ $made_policy = yes ] && rm -f $policy
exit 0
