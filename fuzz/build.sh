#!/bin/sh
# Builds the libFuzzer targets (fuzz/fuzz-*.c) into fuzz/ of the build
# tree with clang, -fsanitize=fuzzer,address,undefined, apart from the
# gcc build: basalt's sources are compiled again into fuzz/obj/. Run by
# `make fuzz`, which passes what configure found:
#
#	FUZZ_CC=clang srcdir=.. sysconfdir=... localstatedir=... datadir=... \
#	    LIBCFLAGS=... LIBS=... DUKTAPE_SRC=... \
#	    sh ../fuzz/build.sh src/a.c src/b.c ...
#
# Objects and programs go to fuzz-bin/ of the build tree.
# Only what changed is compiled again. Exits 77 when clang cannot build
# a libFuzzer program (Debian: apt-get install clang libclang-rt-14-dev).
set -eu
: "${FUZZ_CC:=clang}" "${srcdir:=.}" "${LIBCFLAGS:=}" "${LIBS:=}"
: "${sysconfdir:=/etc}" "${localstatedir:=/var}" "${datadir:=/usr/share}"
: "${DUKTAPE_SRC:=/usr/share/duktape/duktape.c}"
CPPFLAGS="-include config.h -I duk -DSYSCONFDIR=\"$sysconfdir\"
 -DLOCALSTATEDIR=\"$localstatedir\" -DDATADIR=\"$datadir\""
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-g -O1 -fno-omit-frame-pointer -pthread -Wall -Wextra $san"
bin=fuzz-bin
obj=$bin/obj
mkdir -p $obj

probe=$obj/probe
printf '%s\n' '#include <stdint.h>' '#include <stddef.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
    '{ (void)d; (void)n; return 0; }' >$probe.c
if ! $FUZZ_CC -fsanitize=fuzzer,address $probe.c -o $probe 2>/dev/null; then
	echo "fuzz/build.sh: $FUZZ_CC cannot build libFuzzer targets" >&2
	exit 77
fi

# newer OUT IN...: OUT is missing or older than one of IN.
newer() {
	_out=$1
	shift
	[ -f "$_out" ] || return 0
	for _in in "$@"; do
		[ "$_in" -nt "$_out" ] && return 0
	done
	return 1
}

hdr="$srcdir/src/basalt.h config.h"
objs=""
for s in "$@"; do
	case $s in
	*.c) ;;
	*) continue ;;
	esac
	o=$obj/$(basename "$s" .c).o
	objs="$objs $o"
	if newer "$o" "$srcdir/$s" $hdr; then
		echo "  FUZZCC   $s"
		# shellcheck disable=SC2086
		$FUZZ_CC $cflags -fsanitize=fuzzer-no-link $CPPFLAGS $LIBCFLAGS \
		    -c "$srcdir/$s" -o "$o"
	fi
done
# Duktape's interpreter: sanitised but not traced (no coverage there).
o=$obj/duk_engine.o
objs="$objs $o"
if newer "$o" "$srcdir/src/duk_engine.c" duk/duk_config.h "$DUKTAPE_SRC"; then
	echo "  FUZZCC   src/duk_engine.c"
	$FUZZ_CC -g -O1 -pthread $san -I duk \
	    -DDUKTAPE_AMALGAMATION="\"$DUKTAPE_SRC\"" \
	    -c "$srcdir/src/duk_engine.c" -o "$o"
fi
for f in "$srcdir"/fuzz/fuzz-*.c; do
	t=$bin/$(basename "$f" .c)
	# shellcheck disable=SC2086
	if newer "$t" "$f" $objs; then
		echo "  FUZZLD   $t"
		$FUZZ_CC $cflags -fsanitize=fuzzer $CPPFLAGS -I"$srcdir/src" \
		    $LIBCFLAGS "$f" $objs $LIBS -o "$t"
	fi
done
