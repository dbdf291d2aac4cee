#!/usr/bin/env bash
# Short switchboard-load scenarios, one after another, each against a fresh release
# server (benches/load.sh), and the per-call / per-packet ratios side by side, so a
# regression shows as a changed ratio. Ratios, not absolute times: the machine is shared.
# Mixed codecs: the same 150 unrecorded bridged calls with PCMU agents and PCMU, PCMA or
# G.722 callers; the transcoded runs' server CPU per packet over the PCMU one's.
# Last, switchboard's CPU per relayed packet over the minimal relay's and rtpengine's
# (benches/relay_baseline.sh, 200 unrecorded calls of 20 s; rtpengine only if installed).
#   benches/compare.sh            (about 7 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p switchboard -p switchboard-load
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
run() {
  local name=$1; shift
  echo "== $name" >&2
  SKIP_BUILD=1 benches/load.sh "$@" > "$OUT/$name.txt" 2> "$OUT/$name.err" || true
  grep -v '^RESULT' "$OUT/$name.txt" >&2 || true
}
# (a, short) bridged, recorded G.711 calls: 200 agents, ~200 up at once for 20 s.
run bridged --agents 200 --record -- --agents 200 --calls 400 --rate 10 --hold 20 --duration 40
# (c, short) IVR-only calls at 200 calls/s, 2 s each.
run ivr -- --scenario ivr --agents 0 --calls 2000 --rate 200 --hold 2 --duration 20
# (e, short) mixed codecs: 150 unrecorded bridged calls of 20 s, agents PCMU.
for c in pcmu pcma g722; do
  run "codec_${c}_pcmu" --agents 150 -- --agents 150 --calls 150 --rate 10 --hold 20 --duration 20 --caller-codec "$c" --agent-codec pcmu
done
python3 - "$OUT" <<'PY'
import json, sys, pathlib
rows = []
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.txt")):
    r = next((json.loads(l[7:]) for l in f.read_text().splitlines() if l.startswith("RESULT ")), None)
    if r is None:
        print(f"{f.stem}: no result (see the log above)"); continue
    rows.append((f.stem, r))
print(f"{'scenario':10} {'calls ok/failed':>16} {'cps':>7} {'peak up':>8} {'srv ms/call':>12} {'srv us/pkt':>11} {'KiB/call':>9} {'srv/load cpu':>13} {'loss %':>7} loadavg")
for name, r in rows:
    loss = max(r.get("loss_to_caller_pct", 0), r.get("loss_to_agent_pct", 0))
    print(f"{name:10} {r['completed']:>8}/{r['failed']:<7} {r['cps']:>7.1f} {r['peak_active']:>8} "
          f"{r.get('server_ms_per_call', float('nan')):>12.3f} {r.get('server_us_per_packet', float('nan')):>11.2f} "
          f"{r.get('server_kib_per_call', float('nan')):>9.0f} {r.get('server_cpu_s', 0)/max(r['load_cpu_s'],1e-6):>13.2f} {loss:>7.3f} {r['loadavg']}")
by = dict(rows)
base = by.get("codec_pcmu_pcmu", {}).get("server_us_per_packet")
for c in ("pcma", "g722"):
    r = by.get(f"codec_{c}_pcmu", {})
    if base and r.get("server_us_per_packet"):
        sampled = r["sampled_to_caller"] + r["sampled_to_agent"]
        bad = r["sampled_to_caller_failed"] + r["sampled_to_agent_failed"]
        print(f"{c.upper()}<->PCMU / PCMU<->PCMU: {r['server_us_per_packet'] / base:.2f}x server CPU per RTP packet "
              f"(audio check {sampled - bad}/{sampled} sampled streams passed)")
PY
echo
echo "relay baselines (200 calls, 20 s each, 10/s, not recorded):"
SKIP_BUILD=1 benches/relay_baseline.sh 200 20 10 2> "$OUT/baseline.err" || { echo "relay baseline failed:"; tail -20 "$OUT/baseline.err"; }
