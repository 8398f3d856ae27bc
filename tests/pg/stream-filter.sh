#!/bin/sh
# The PostgreSQL leg of make check: tests/stream-filter.sh with its basalt on a
# PostgreSQL server of the test's own (BASALT_TEST_DB=pg in tests/lib.sh).
BASALT_TEST_DB=pg exec bash "$top_srcdir/tests/${0##*/}"
