#!/usr/bin/env bash
# SIPp load bench for the whole call path: RATE new calls per second for TOTAL calls to
# number 300 (benches/dialplans/load.ivr: answer, play a prompt). Each call holds for
# HOLD ms, so about RATE*HOLD/1000 calls are up at once, each with media flowing.
# Reports: calls completed/failed, post-dial delay (INVITE -> 200) percentiles, and the
# server's CPU time and peak RSS per call.
#   benches/sipp_load.sh [RATE=100] [TOTAL=2000] [HOLD=2000]
# Bounded: SIPp stops after TOTAL calls and runs under `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-100}
TOTAL=${2:-2000}
HOLD=${3:-2000}
cargo build --release -q -p switchboard
WORK=$(mktemp -d)
trap 'kill $SB 2>/dev/null || true; rm -rf "$WORK"' EXIT
cat > "$WORK/config.toml" <<CFG
[ivr]
dialplans = "benches/dialplans"
[media]
rtp_port_min = 30000
rtp_port_max = 39999
CFG
RUST_LOG=warn ./target/release/switchboard run --config "$WORK/config.toml" \
  --sip-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --data-dir "$WORK/data" > "$WORK/out" 2> "$WORK/log" &
SB=$!
for _ in $(seq 100); do grep -q READY "$WORK/out" 2>/dev/null && break; sleep 0.1; done
SIP=$(sed -n 's/.*sip=\([^ ]*\).*/\1/p' "$WORK/out")
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$SB/stat)
start=$(date +%s.%N)
(cd "$WORK" && timeout $(( TOTAL / RATE + HOLD / 1000 + 60 )) sipp "$SIP" -sf "$OLDPWD/benches/scenarios/load_uac.xml" \
  -s 300 -i 127.0.0.1 -r "$RATE" -m "$TOTAL" -d "$HOLD" -l $(( RATE * (HOLD / 1000 + 2) )) \
  -buff_size 4194304 -nostdin -trace_rtt -rtt_freq 1 -trace_stat -fd 1 -timeout 300s > sipp.out 2>&1) || true
end=$(date +%s.%N)
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$SB/stat)
rss=$(awk '/VmHWM/{print $2}' /proc/$SB/status)
tck=$(getconf CLK_TCK)
python3 - "$WORK" "$TOTAL" "$u0" "$s0" "$u1" "$s1" "$tck" "$rss" "$start" "$end" <<'PY'
import csv, glob, sys
work, total, u0, s0, u1, s1, tck, rss, t0, t1 = sys.argv[1:]
rtts = []
for f in glob.glob(f"{work}/*_rtt.csv"):
    for row in csv.reader(open(f), delimiter=';'):
        if len(row) >= 3 and row[2].strip() == "pdd":
            rtts.append(float(row[1]))
stat = glob.glob(f"{work}/*_.csv")
ok = failed = 0
for f in stat:
    rows = list(csv.reader(open(f), delimiter=';'))
    if len(rows) >= 2:
        h = rows[0]; last = rows[-1]
        ok = int(last[h.index("SuccessfulCall(C)")]); failed = int(last[h.index("FailedCall(C)")])
rtts.sort()
def pct(p): return rtts[min(len(rtts) - 1, int(p * len(rtts)))] if rtts else float("nan")
cpu = (int(u1) + int(s1) - int(u0) - int(s0)) / int(tck)
wall = float(t1) - float(t0)
print(f"calls ok {ok}, failed {failed}, wall {wall:.1f} s")
print(f"post-dial delay ms: p50 {pct(.5):.2f} p90 {pct(.9):.2f} p99 {pct(.99):.2f} max {rtts[-1] if rtts else float('nan'):.2f} (n={len(rtts)})")
print(f"server CPU {cpu:.2f} s = {1000*cpu/max(ok,1):.3f} ms per call ({100*cpu/wall:.0f}% of one core); peak RSS {int(rss)/1024:.1f} MiB")
PY
