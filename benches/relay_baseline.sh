#!/usr/bin/env bash
# Switchboard's CPU per relayed RTP packet next to two baselines measured in the same run
# on the same calls (count, rate, hold, a PCMU tone each way at 20 ms):
#   1. switchboard: the `queue` scenario (SIP, IVR digit, queue, agent answer, bridge;
#      add RECORD=1 to record both legs) through benches/load.sh;
#   2. the minimal relay: `switchboard-load relay` (two sockets per call, recv -> send,
#      no parsing) driven by `switchboard-load media --via minimal:PORT`;
#   3. rtpengine userspace forwarding (`--table=-1`, no kernel module), each call set up
#      over its ng protocol by `switchboard-load media --via rtpengine:IP:PORT`; skipped
#      with a note when `rtpengine` is not installed (Debian: apt-get install rtpengine-daemon).
#   benches/relay_baseline.sh [CALLS] [HOLD_S] [RATE]     (default 300 20 25)
# RELAY_SHAPE=worker runs the minimal relay as relay threads draining many calls' sockets
# from one epoll set instead of a tokio task per call (decision 0050); SWITCHBOARD_LOG sets
# the server's log filter (benches/load.sh).
# Every process is bounded (the tools' own caps and `timeout`); loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-300}
HOLD=${2:-20}
RATE=${3:-25}
# SWITCHBOARD_BIN / SWITCHBOARD_LOAD_BIN: saved binaries instead of target/release's.
[ -n "${SKIP_BUILD:-}${SWITCHBOARD_BIN:-}${SWITCHBOARD_LOAD_BIN:-}" ] || cargo build --release -q -p switchboard -p switchboard-load
LOAD=${SWITCHBOARD_LOAD_BIN:-./target/release/switchboard-load}
OUT=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
SPAN=$(python3 -c "print(int($CALLS / $RATE + $HOLD + 60))")
result() { sed -n 's/^RESULT //p' "$1" | tail -1; }

echo "== switchboard ($CALLS calls, ${HOLD} s, $RATE/s${RECORD:+, recorded})" >&2
REC=()
[ -n "${RECORD:-}" ] && REC=(--record)
SKIP_BUILD=1 benches/load.sh --agents "$CALLS" "${REC[@]}" -- --agents "$CALLS" --calls "$CALLS" \
  --rate "$RATE" --hold "$HOLD" --duration "$SPAN" --max-wait 60 --progress 1 > "$OUT/switchboard.txt" 2> "$OUT/switchboard.err" || true
grep -v '^RESULT' "$OUT/switchboard.txt" >&2 || true

echo "== minimal relay" >&2
# Above the kernel's ephemeral range (32768-60999 here): a port in it can be taken by any
# socket bound to port 0 meanwhile (one run lost 41080 that way). 2 ports per call.
PORT=${RELAY_FIRST_PORT:-61000}
if [ $((PORT + 2 * CALLS)) -gt 65535 ]; then PORT=$((65535 - 2 * CALLS)); fi
timeout $((SPAN + 60)) "$LOAD" relay --shape "${RELAY_SHAPE:-task}" --calls "$CALLS" --first-port "$PORT" --duration $((SPAN + 30)) \
  > "$OUT/relay.out" 2> "$OUT/relay.err" &
RELAY=$!
PIDS+=("$RELAY")
for _ in $(seq 100); do grep -q READY "$OUT/relay.out" 2>/dev/null && break; sleep 0.1; done
grep -q READY "$OUT/relay.out" || { echo "the minimal relay did not start:"; cat "$OUT/relay.err"; exit 1; }
# `timeout` is the relay's parent: its CPU is the relay's own.
RPID=$(pgrep -P "$RELAY" -n || echo "$RELAY")
timeout $((SPAN + 60)) "$LOAD" media --via "minimal:$PORT" --relay-pid "$RPID" --calls "$CALLS" \
  --rate "$RATE" --hold "$HOLD" > "$OUT/minimal.txt" 2> "$OUT/minimal.err" || true
grep -v '^RESULT' "$OUT/minimal.txt" >&2 || true
kill "$RELAY" 2>/dev/null || true

if command -v rtpengine > /dev/null; then
  echo "== rtpengine $(rtpengine --version 2>&1 | sed -n 's/Version: //p') (userspace)" >&2
  NG=${RTPENGINE_NG:-127.0.0.1:22230}
  timeout $((SPAN + 60)) rtpengine --config-file=none --foreground --log-stderr --log-level=4 \
    --table=-1 --interface=127.0.0.1 --listen-ng="$NG" --port-min=42000 --port-max=49999 \
    --num-threads=2 --timeout=60 > "$OUT/rtpengine.out" 2> "$OUT/rtpengine.err" &
  RTE=$!
  PIDS+=("$RTE")
  # Ready when its ng socket is bound.
  for _ in $(seq 100); do ss -lun | grep -q "${NG} " && break; sleep 0.1; done
  EPID=$(pgrep -P "$RTE" -n || echo "$RTE")
  timeout $((SPAN + 60)) "$LOAD" media --via "rtpengine:$NG" --relay-pid "$EPID" --calls "$CALLS" \
    --rate "$RATE" --hold "$HOLD" > "$OUT/rtpengine.txt" 2> "$OUT/rtpengine.err2" || true
  grep -v '^RESULT' "$OUT/rtpengine.txt" >&2 || true
  kill "$RTE" 2>/dev/null || true
else
  echo "== rtpengine: not installed (apt-get install rtpengine-daemon); skipped" >&2
fi

python3 - "$OUT" <<'PY'
import json, sys, pathlib
d = pathlib.Path(sys.argv[1])
def res(name):
    f = d / f"{name}.txt"
    if not f.exists():
        return None
    return next((json.loads(l[7:]) for l in f.read_text().splitlines() if l.startswith("RESULT ")), None)
sb, mn, rt = res("switchboard"), res("minimal"), res("rtpengine")
rows = []
if sb:
    rows.append(("switchboard", sb.get("server_us_per_packet_delivered"), sb.get("server_kib_per_call"),
                 max(sb.get("loss_to_caller_pct", 0), sb.get("loss_to_agent_pct", 0)), sb["completed"], sb["failed"], sb["loadavg"]))
    if sb.get("server_us_per_packet_steady") is not None:
        # Only the intervals with every call bridged and none coming or going (the relay alone).
        rows.append(("  steady", sb["server_us_per_packet_steady"], None, 0.0, sb["completed"], sb["failed"], sb["loadavg"]))
for name, r in (("minimal relay", mn), ("rtpengine", rt)):
    if r:
        rows.append((name, r.get("relay_us_per_packet_delivered"), r.get("relay_kib_per_call"),
                     max(r["loss_to_caller_pct"], r["loss_to_agent_pct"]), r["completed"], r["failed"], r["loadavg"]))
print(f"{'relay':14} {'us/pkt delivered':>17} {'KiB/call':>9} {'loss %':>7} {'ok/failed':>10}  loadavg")
for name, us, kib, loss, ok, failed, la in rows:
    us_s = f"{us:17.2f}" if us is not None else f"{'?':>17}"
    kib_s = f"{kib:9.0f}" if kib is not None else f"{'?':>9}"
    print(f"{name:14} {us_s} {kib_s} {loss:7.3f} {ok:>5}/{failed:<4}  {la}")
s = sb and sb.get("server_us_per_packet_delivered")
st = sb and sb.get("server_us_per_packet_steady")
for name, r in (("minimal relay", mn), ("rtpengine", rt)):
    b = r and r.get("relay_us_per_packet_delivered")
    if s and b:
        print(f"switchboard / {name}: {s / b:.2f}x CPU per packet delivered")
    if st and b:
        print(f"switchboard steady bridged state / {name}: {st / b:.2f}x CPU per packet delivered")
PY
