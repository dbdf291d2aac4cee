#!/usr/bin/env bash
# Switchboard next to rustpbx (issue 16 item 5) on the same calls, one after the other in
# one run: the load tool's `direct` scenario (caller k dials agent 1001 + k mod CALLS, the
# agent answers after 200 ms, a PCMU tone each way at 20 ms for HOLD seconds, every 10th
# call audio-checked), through
#   1. switchboard: the trunk call runs crates/load/dialplans/load.ivr's `transfer agent
#      dialled` and is bridged to the agent's registered phone (not recorded);
#   2. rustpbx 0.5 as a B2BUA with `media_proxy = "all"` (every RTP packet through it),
#      the agents registered with digest in its memory user backend, callers let in as
#      guest calls (`allow_guest_calls`), no recording.
# rustpbx is never a dependency of this repository: build it outside, at measurement time:
#   cargo install rustpbx --version '^0.5' --locked --root /tmp/rustpbx   (--locked: 0.5.0 does
#   not build against the newest rsipstack)
#   RUSTPBX=/tmp/rustpbx/bin/rustpbx benches/rustpbx_compare.sh [CALLS] [HOLD_S] [RATE]
# (default 200 20 10). Without RUSTPBX (or `rustpbx` on PATH) only switchboard runs.
# Every process is bounded (the tool's caps and `timeout`); loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-200}
HOLD=${2:-20}
RATE=${3:-10}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p switchboard -p switchboard-load
LOAD=./target/release/switchboard-load
RUSTPBX=${RUSTPBX:-$(command -v rustpbx || true)}
OUT=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
SPAN=$(python3 -c "print(int($CALLS / $RATE + $HOLD + 30))")
RUN_ARGS=(--scenario direct --agents "$CALLS" --calls "$CALLS" --rate "$RATE" --hold "$HOLD"
  --duration "$SPAN" --max-wait 30)

echo "== switchboard ($CALLS direct calls, ${HOLD} s, $RATE/s, not recorded)" >&2
SKIP_BUILD=1 benches/load.sh --agents "$CALLS" -- "${RUN_ARGS[@]}" \
  > "$OUT/switchboard.txt" 2> "$OUT/switchboard.err" || true
grep -v '^RESULT' "$OUT/switchboard.txt" >&2 || true

if [ -n "$RUSTPBX" ] && [ -x "$RUSTPBX" ]; then
  echo "== rustpbx ($("$RUSTPBX" --version 2>&1 | head -1))" >&2
  SIP_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$OUT/rustpbx/config"
  python3 - "$OUT/rustpbx" "$SIP_PORT" "$HTTP_PORT" "$CALLS" <<'PY'
import sys, pathlib
d, sip, http, n = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
# The load tool's agents are users 1001.. with password load-<user> (crates/load).
users = ",\n".join(
    f'  {{ username = "{1001 + i}", password = "load-{1001 + i}", allow_guest_calls = true }}'
    for i in range(n))
(d / "config.toml").write_text(f'''http_addr = "127.0.0.1:{http}"
log_level = "warn"
database_url = "sqlite://{d}/rustpbx.sqlite3"
external_ip = "127.0.0.1"
rtp_start_port = 42000
rtp_end_port = 52000

[console]
base_path = "/console"

[proxy]
addr = "127.0.0.1"
udp_port = {sip}
modules = ["auth", "registrar", "call"]
registrar_expires = 3600
media_proxy = "all"
ensure_user = false
generated_dir = "{d}/config"
routes_files = []
trunks_files = []
acl_rules = ["allow all"]
addons = []

[[proxy.user_backends]]
type = "memory"
users = [
{users}
]
''')
PY
  (cd "$OUT/rustpbx" && exec timeout $((SPAN + 120)) "$RUSTPBX" --conf "$OUT/rustpbx/config.toml") \
    > "$OUT/rustpbx.out" 2> "$OUT/rustpbx.err" &
  RP=$!
  PIDS+=("$RP")
  for _ in $(seq 300); do ss -lun | grep -q "127.0.0.1:${SIP_PORT} " && break; sleep 0.1; done
  if ss -lun | grep -q "127.0.0.1:${SIP_PORT} "; then
    # `timeout` is rustpbx's parent: the CPU and RSS read are rustpbx's own.
    RPID=$(pgrep -P "$RP" -n || echo "$RP")
    RPID=$(pgrep -P "$RPID" -n || echo "$RPID")
    timeout $((SPAN + 60)) "$LOAD" run --server "127.0.0.1:$SIP_PORT" --server-pid "$RPID" "${RUN_ARGS[@]}" \
      > "$OUT/rustpbx.txt" 2> "$OUT/rustpbx.err2" || true
    grep -v '^RESULT' "$OUT/rustpbx.txt" >&2 || true
  else
    echo "rustpbx did not listen on 127.0.0.1:$SIP_PORT:" >&2
    tail -20 "$OUT/rustpbx.err" "$OUT/rustpbx.out" >&2 || true
  fi
  kill "$RP" 2>/dev/null || true
else
  echo "== rustpbx: not found (set RUSTPBX=path; see the top of this script); skipped" >&2
fi

python3 - "$OUT" <<'PY'
import json, sys, pathlib
d = pathlib.Path(sys.argv[1])
def res(name):
    f = d / f"{name}.txt"
    if not f.exists():
        return None
    return next((json.loads(l[7:]) for l in f.read_text().splitlines() if l.startswith("RESULT ")), None)
rows = [(n, r) for n, r in (("switchboard", res("switchboard")), ("rustpbx", res("rustpbx"))) if r]
print(f"{'B2BUA':12} {'us/pkt delivered':>17} {'steady us/pkt':>14} {'ms CPU/call':>12} {'KiB/call':>9} {'loss %':>7} {'ok/failed':>10} {'a2a p99 ms':>11}  loadavg")
for name, r in rows:
    def f(k, w, p):
        v = r.get(k)
        return f"{v:{w}.{p}f}" if isinstance(v, (int, float)) else f"{'?':>{w}}"
    loss = max(r.get("loss_to_caller_pct", 0), r.get("loss_to_agent_pct", 0))
    a2a = r.get("answer_to_audio_p99_ms")
    a2a_s = f"{a2a:11.1f}" if isinstance(a2a, (int, float)) else f"{'?':>11}"
    print(f"{name:12} {f('server_us_per_packet_delivered', 17, 2)} {f('server_us_per_packet_steady', 14, 2)} {f('server_ms_per_call', 12, 1)} "
          f"{f('server_kib_per_call', 9, 0)} {loss:7.3f} {r['completed']:>5}/{r['failed']:<4} {a2a_s}  {r['loadavg']}")
got = dict(rows)
s, p = got.get("switchboard"), got.get("rustpbx")
if s and p and s.get("server_us_per_packet_delivered") and p.get("server_us_per_packet_delivered"):
    print(f"switchboard / rustpbx: {s['server_us_per_packet_delivered'] / p['server_us_per_packet_delivered']:.2f}x CPU per packet delivered")
    if s.get("server_us_per_packet_steady") and p.get("server_us_per_packet_steady"):
        print(f"switchboard / rustpbx, steady bridged state: {s['server_us_per_packet_steady'] / p['server_us_per_packet_steady']:.2f}x")
PY
