#!/usr/bin/env bash
# One switchboard-load scenario against a fresh release build of switchboard on free
# ports: writes the config (`switchboard-load config`), starts the server, runs the load
# with the server's pid (so its CPU and RSS are read from /proc), prints the report.
#   benches/load.sh CONFIG_ARGS -- RUN_ARGS
#   e.g. benches/load.sh --agents 200 --record -- --agents 200 --calls 2000 --rate 20 --hold 30
# Bounded: the load tool's own caps (--calls, --duration) and an outer `timeout`.
# SWITCHBOARD_BIN / SWITCHBOARD_LOAD_BIN run saved binaries instead of target/release's
# (alternated before/after runs; implies SKIP_BUILD). SWITCHBOARD_LOG sets the server's
# RUST_LOG (default `warn`; `info` is the server's own default when RUST_LOG is unset).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG_ARGS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do CONFIG_ARGS+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
SB_BIN=${SWITCHBOARD_BIN:-./target/release/switchboard}
LOAD_BIN=${SWITCHBOARD_LOAD_BIN:-./target/release/switchboard-load}
[ -n "${SKIP_BUILD:-}${SWITCHBOARD_BIN:-}${SWITCHBOARD_LOAD_BIN:-}" ] || cargo build --release -q -p switchboard -p switchboard-load
WORK=$(mktemp -d)
SB=
trap '[ -n "$SB" ] && kill $SB 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
"$LOAD_BIN" config "${CONFIG_ARGS[@]}" > "$WORK/config.toml"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
RUST_LOG=${SWITCHBOARD_LOG:-warn} "$SB_BIN" run --config "$WORK/config.toml" \
  --sip-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --data-dir "$WORK/data" > "$WORK/out" 2> "$WORK/log" &
SB=$!
for _ in $(seq 300); do grep -q READY "$WORK/out" 2>/dev/null && break; sleep 0.1; done
SIP=$(sed -n 's/.*sip=\([^ ]*\) .*/\1/p' "$WORK/out")
HTTP=$(sed -n 's/.*http=\([^ ]*\) .*/\1/p' "$WORK/out")
[ -n "$SIP" ] || { echo "switchboard did not start:"; cat "$WORK/log"; exit 1; }
echo "machine: $(nproc) cores, $(sed -n 's/model name\s*: //p' /proc/cpuinfo | head -1); loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
rc=0
timeout 3600 "$LOAD_BIN" run --server "$SIP" --server-pid "$SB" --http "$HTTP" "$@" || rc=$?
if [ -d "$WORK/data/recordings" ]; then
  echo "recordings: $(find "$WORK/data/recordings" -name '*.wav' | wc -l) files, $(du -sm "$WORK/data/recordings" | cut -f1) MiB"
fi
grep -c ' ERROR ' "$WORK/log" | sed 's/^/server log ERROR lines: /' || true
# The server's refusal and drop counters that are not zero.
curl -s -H 'Authorization: Bearer demo-admin' "http://$HTTP/metrics" 2>/dev/null \
  | grep -E '^switchboard_[a-z_]*(refused|dropped|rejected|exhausted|full)[a-z_]*(\{[^}]*\})? [1-9]' | sed 's/^/server metric: /' || true
grep -E ' WARN ' "$WORK/log" | sed -E 's/^[^ ]+ +//' | cut -c1-160 | sort | uniq -c | sort -rn | head -5 | sed 's/^/server log: /' || true
exit $rc
