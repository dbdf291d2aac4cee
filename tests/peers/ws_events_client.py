#!/usr/bin/env python3
"""A WebSocket client of switchboard's event stream (GET /api/v1/events) for the e2e
tests, on the `websockets` package (a client we did not write).

It prints one JSON line per thing that happens:
  {"event": "open", "subprotocol": "switchboard.v1" | null}
  {"event": "frame", "data": {...}}          one per text frame (the event)
  {"event": "closed", "code": 1013, "reason": "..."}   the server closed (code null: no frame)
  {"event": "rejected", "status": 401, "body": "..."}  the upgrade was refused
  {"event": "error", "message": "..."}
Commands on stdin, one a line: `send <text>` sends a text frame; `quit` closes.
"""

import argparse
import json
import sys
import threading
import time

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect


def say(obj):
    try:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The test has finished reading.
        sys.exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="ws://host:port/api/v1/events?...")
    ap.add_argument("--token", help="sent as Authorization: Bearer <token>")
    ap.add_argument(
        "--protocol-token", help="sent as subprotocols switchboard.v1, bearer.<token>"
    )
    ap.add_argument("--seconds", type=float, default=60.0)
    a = ap.parse_args()

    headers = {}
    if a.token:
        headers["Authorization"] = "Bearer " + a.token
    protocols = None
    if a.protocol_token:
        protocols = ["switchboard.v1", "bearer." + a.protocol_token]
    try:
        ws = connect(
            a.url,
            additional_headers=headers,
            subprotocols=protocols,
            open_timeout=15,
            close_timeout=2,
            max_size=2**22,
        )
    except InvalidStatus as e:
        body = e.response.body.decode("utf-8", "replace") if e.response.body else ""
        say({"event": "rejected", "status": e.response.status_code, "body": body})
        return
    except Exception as e:  # noqa: BLE001 - reported to the test
        say({"event": "error", "message": repr(e)})
        return
    with ws:
        say({"event": "open", "subprotocol": ws.subprotocol})
        stream(ws, a.seconds)


def stream(ws, seconds):
    """Prints frames until the server closes, `quit` or the lifetime ends."""

    def commands():
        for line in sys.stdin:
            line = line.rstrip("\n")
            try:
                if line.startswith("send "):
                    ws.send(line[5:])
                elif line == "quit":
                    ws.close()
                    return
            except Exception:  # noqa: BLE001 - the socket is closing
                return

    threading.Thread(target=commands, daemon=True).start()
    deadline = time.monotonic() + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                say({"event": "error", "message": "lifetime over"})
                ws.close()
                return
            try:
                msg = ws.recv(timeout=left)
            except TimeoutError:
                continue
            if isinstance(msg, bytes):
                say({"event": "binary", "len": len(msg)})
                continue
            say({"event": "frame", "data": json.loads(msg)})
    except ConnectionClosed as e:
        rcvd = e.rcvd
        say(
            {
                "event": "closed",
                "code": rcvd.code if rcvd else None,
                "reason": rcvd.reason if rcvd else "",
            }
        )


if __name__ == "__main__":
    main()
