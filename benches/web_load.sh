#!/usr/bin/env bash
# Page-load benchmark of the browser pages (docs/web.md) with a generated config of 50
# queues and 500 agents: starts switchboard on free loopback ports, drives headless
# Chromium through chromedriver (curl + jq speak WebDriver), loads the wallboard (/) and
# the agent desktop (/agent) RUNS times each, signed in, and prints the time from the start
# of navigation to the first full render (the pages' `switchboard-loaded` performance
# mark: API answered, tiles, agent grid and chart drawn), plus the size and time of the
# API answers behind it. A benchmark, not a test: nothing is asserted.
#
# Usage: benches/web_load.sh [RUNS]    (default 10)
# Env:   SWITCHBOARD_BIN (default target/release/switchboard, built if missing);
#        WEB_LOAD_SCREENSHOT=FILE.png saves the loaded wallboard.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-10}"
QUEUES=50
AGENTS=500
for tool in chromium chromedriver curl jq; do
  command -v "$tool" >/dev/null || { echo "web_load.sh: $tool is required (scripts/test installs chromium, chromium-driver)" >&2; exit 1; }
done
BIN="${SWITCHBOARD_BIN:-target/release/switchboard}"
[ -x "$BIN" ] || cargo build -q --release -p switchboard

WORK="$(mktemp -d /tmp/switchboard-web-load.XXXXXX)"
SB_PID=""; CD_PID=""
cleanup() {
  [ -n "$CD_PID" ] && kill "$CD_PID" 2>/dev/null || true
  [ -n "$SB_PID" ] && kill "$SB_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The config: users 1001.. (so the demo agent tokens stay valid), 50 queues (the five the
# demo dialplans name, then q06..q50) with 10 members each.
{
  names=(sales bank support operator outsource)
  for q in $(seq 6 "$QUEUES"); do names+=("$(printf 'q%02d' "$q")"); done
  per=$((AGENTS / QUEUES))
  for i in $(seq 0 $((QUEUES - 1))); do
    members=""
    for a in $(seq 1 "$per"); do
      members+="\"$((1000 + i * per + a))\", "
    done
    printf '[[queues]]\nname = "%s"\nmembers = [%s]\n\n' "${names[$i]}" "${members%, }"
  done
  for a in $(seq 1 "$AGENTS"); do
    printf '[[users]]\nname = "%d"\npassword = "secret-%d"\n' "$((1000 + a))" "$((1000 + a))"
  done
} >"$WORK/config.toml"

"$BIN" run --config "$WORK/config.toml" --sip-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --data-dir "$WORK/data" >"$WORK/stdout" 2>"$WORK/log" &
SB_PID=$!
HTTP=""
for _ in $(seq 1 600); do
  HTTP="$(sed -n 's/^READY .*http=\([^ ]*\).*/\1/p' "$WORK/stdout")"
  [ -n "$HTTP" ] && break
  kill -0 "$SB_PID" 2>/dev/null || { cat "$WORK/log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$HTTP" ] || { echo "switchboard did not start" >&2; exit 1; }

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
chromedriver --port="$PORT" >/dev/null 2>&1 &
CD_PID=$!
WD="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do
  curl -sf "$WD/status" | jq -e '.value.ready' >/dev/null 2>&1 && break
  sleep 0.1
done

wd() { # METHOD PATH [JSON] -> .value
  curl -sf -X "$1" -H 'Content-Type: application/json' "$WD$2" ${3:+-d "$3"} | jq -c '.value'
}
SID="$(wd POST /session '{"capabilities":{"alwaysMatch":{"browserName":"chrome","goog:chromeOptions":{"args":["--headless=new","--no-sandbox","--disable-gpu","--disable-dev-shm-usage","--no-first-run","--disable-background-networking","--window-size=1920,1080"]}}}}' | jq -r '.sessionId')"
js() { wd POST "/session/$SID/execute/sync" "$(jq -cn --arg s "$1" '{script: $s, args: []}')"; }

measure() { # PAGE TOKEN -> one line of milliseconds per run
  wd POST "/session/$SID/url" "{\"url\":\"http://$HTTP$1\"}" >/dev/null
  js "sessionStorage.setItem('switchboard.token', '$2'); return null" >/dev/null
  for _ in $(seq 1 "$RUNS"); do
    wd POST "/session/$SID/url" "{\"url\":\"http://$HTTP$1\"}" >/dev/null
    for _ in $(seq 1 200); do
      ms="$(js "const m = performance.getEntriesByName('switchboard-loaded'); return m.length ? m[0].startTime : null")"
      [ "$ms" != "null" ] && break
      sleep 0.05
    done
    echo "$ms"
  done
}

api() { # PATH TOKEN -> "bytes seconds"
  curl -s -o /dev/null -w '%{size_download} %{time_total}' -H "Authorization: Bearer $2" "http://$HTTP$1"
}

report() { # NAME
  sort -n | awk -v name="$1" '{v[NR]=$1} END {printf "%-16s runs %d  median %.0f ms  min %.0f ms  max %.0f ms\n", name, NR, v[int((NR+1)/2)], v[1], v[NR]}'
}

echo "switchboard web pages, $QUEUES queues, $AGENTS agents, binary $BIN"
measure / demo-supervisor | report "wallboard /"
if [ -n "${WEB_LOAD_SCREENSHOT:-}" ]; then
  wd GET "/session/$SID/screenshot" | jq -r '.' | base64 -d >"$WEB_LOAD_SCREENSHOT"
fi
measure /agent demo-agent-1001 | report "agent /agent"
read -r qb qt <<<"$(api /api/v1/queues demo-supervisor)"
read -r ab at <<<"$(api /api/v1/agents demo-supervisor)"
echo "GET /api/v1/queues  $qb bytes in ${qt}s; GET /api/v1/agents  $ab bytes in ${at}s"
wd DELETE "/session/$SID" >/dev/null || true
