#!/usr/bin/env python3
"""A pjsua2 trunk caller that sends its keys as SIP INFO (or RFC 4733) and hangs up.

Used by tests/tests/media_e2e.rs. Places a call (no registration, identified by
--caller), waits until the call is confirmed and its media is up, sends each key of
--digits with Call.sendDtmf using the chosen method, one key at a time (--gap-ms apart),
lingers (or with --hangup-on-stdin waits for a line on stdin), hangs up and exits. It reports on stdout as JSON lines:

    {"event": "calling", "uri": ...}
    {"event": "confirmed"}
    {"event": "media", "status": "active"}
    {"event": "dtmf_sent", "digit": "5", "method": "info"}
    {"event": "info_response", "code": 200}       (the answer to each INFO we sent)
    {"event": "disconnected", "code": ..., "reason": ...}
    {"event": "exit"}

Usage: pjsua_info_dtmf.py --server 127.0.0.1:5060 --call sip:300@127.0.0.1:5060
                          --digits 5678 [--method info|rfc2833] [--gap-ms 300]
                          [--linger-ms 1000 | --hangup-on-stdin] [--seconds 30]
                          [--codec PCMU|PCMA|G722] [--record heard.wav] [--tone-hz 1000]

--codec offers only that codec (G722 is wideband, 16 kHz); --record writes what the
caller hears to a WAV (8 kHz mono, pjsua's conference clock); --tone-hz sends a sine tone
into the call for as long as it lasts.
"""
import argparse
import json
import select
import sys
import time

import pjsua2 as pj


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Call(pj.Call):
    def __init__(self, acc, record="", tone_hz=0):
        super().__init__(acc)
        self.record = record
        self.recorder = None
        self.tone_hz = tone_hz
        self.tone = None
        self.confirmed = False
        self.media_up = False
        self.disconnected = False

    def onCallState(self, prm):
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed = True
            emit({"event": "confirmed"})
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
            emit({"event": "disconnected", "code": ci.lastStatusCode, "reason": ci.lastReason})

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                if self.tone_hz and self.tone is None:
                    self.tone = pj.ToneGenerator()
                    self.tone.createToneGenerator(8000, 1)
                    td = pj.ToneDesc()
                    td.freq1 = self.tone_hz
                    td.freq2 = 0
                    td.on_msec = 30000
                    td.off_msec = 0
                    td.volume = 0
                    tv = pj.ToneDescVector()
                    tv.append(td)
                    self.tone.play(tv, True)
                    self.tone.startTransmit(self.getAudioMedia(i))
                if self.record and self.recorder is None:
                    self.recorder = pj.AudioMediaRecorder()
                    self.recorder.createRecorder(self.record)
                    self.getAudioMedia(i).startTransmit(self.recorder)
                if not self.media_up:
                    self.media_up = True
                    emit({"event": "media", "status": "active"})

    def onCallTsxState(self, prm):
        try:
            e = prm.e
            if e.type != pj.PJSIP_EVENT_TSX_STATE:
                return
            tsx = e.body.tsxState.tsx
            if (tsx.method == "INFO" and tsx.role == pj.PJSIP_ROLE_UAC
                    and tsx.state == pj.PJSIP_TSX_STATE_COMPLETED):
                emit({"event": "info_response", "code": tsx.statusCode})
        except Exception as ex:  # diagnostics only; never break the call
            emit({"event": "warning", "what": f"tsx state: {ex}"})


def pump(ep, seconds, until=None):
    """Handles pjsua events for up to `seconds`, or until `until()` is true."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        ep.libHandleEvents(10)
        if until is not None and until():
            return True
    return until() if until is not None else True


def stdin_has_line():
    """Whether a line (or end of input) is waiting on stdin, without blocking."""
    ready, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(ready)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--call", required=True)
    ap.add_argument("--caller", default="+79995550177")
    ap.add_argument("--digits", required=True)
    ap.add_argument("--method", choices=["info", "rfc2833"], default="info")
    ap.add_argument("--gap-ms", type=int, default=300)
    ap.add_argument("--linger-ms", type=int, default=1000)
    ap.add_argument("--hangup-on-stdin", action="store_true")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--codec", choices=["PCMU", "PCMA", "G722"], default="PCMU")
    ap.add_argument("--record", default="")
    ap.add_argument("--tone-hz", type=int, default=0)
    args = ap.parse_args()
    started = time.time()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    cfg.uaConfig.userAgent = "pjsua2-switchboard-info-dtmf"
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for c in ep.codecEnum2():
        ep.codecSetPriority(c.codecId, 255 if c.codecId.startswith(args.codec + "/") else 0)

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.caller}@127.0.0.1"
    acfg.natConfig.sipOutboundUse = 0
    # Media on loopback too, so the SDP names the address RTP comes from (switchboard
    # accepts media only from the SDP address unless the user/trunk is `nat = true`).
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = pj.Account()
    acc.create(acfg)
    call = Call(acc, args.record, args.tone_hz)
    call.makeCall(args.call, pj.CallOpParam(True))
    emit({"event": "calling", "uri": args.call})

    left = lambda: max(0.0, args.seconds - (time.time() - started))  # noqa: E731
    ok = pump(ep, left(), lambda: (call.confirmed and call.media_up) or call.disconnected)
    if ok and not call.disconnected:
        pump(ep, 0.5)
        method = (pj.PJSUA_DTMF_METHOD_SIP_INFO if args.method == "info"
                  else pj.PJSUA_DTMF_METHOD_RFC2833)
        for d in args.digits:
            prm = pj.CallSendDtmfParam()
            prm.method = method
            prm.digits = d
            prm.duration = 160
            try:
                call.sendDtmf(prm)
                emit({"event": "dtmf_sent", "digit": d, "method": args.method})
            except pj.Error as e:
                emit({"event": "error", "what": f"sendDtmf {d}: {e.info()}"})
            pump(ep, min(args.gap_ms / 1000.0, left()))
        if args.hangup_on_stdin:
            emit({"event": "waiting_for_hangup"})
            pump(ep, left(), lambda: call.disconnected or stdin_has_line())
        else:
            pump(ep, min(args.linger_ms / 1000.0, left()))
        if not call.disconnected:
            try:
                call.hangup(pj.CallOpParam())
            except pj.Error:
                pass
            pump(ep, min(5.0, left()), lambda: call.disconnected)
    else:
        emit({"event": "error", "what": "call not established"})
    emit({"event": "exit"})
    call.recorder = None  # closes the WAV so its header is final
    call.tone = None
    del call
    import gc
    gc.collect()
    try:
        acc.shutdown()
    except Exception:
        pass
    ep.libDestroy()


if __name__ == "__main__":
    main()
