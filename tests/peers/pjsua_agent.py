#!/usr/bin/env python3
"""A PJSIP (pjsua2) softphone for switchboard's end-to-end tests.

Registers one account against switchboard and reports what happens as JSON lines on
stdout: {"event": "registered", "code": 200}, {"event": "incoming", ...},
{"event": "confirmed"}, {"event": "disconnected", ...}. It can auto-answer calls,
send a sine tone into them and record what it hears to a WAV file. It reads commands
as lines on stdin: "quit", "hangup", "answer" (a call left ringing by --answer none),
"dtmf 123", "hold" (re-INVITE with a=sendonly), "unhold" (re-INVITE with sendrecv again),
"unregister".

Usage: pjsua_agent.py --server 127.0.0.1:5060 --user 1002 --password secret-1002
                      [--transport udp|tcp] [--answer auto|none] [--tone-hz 2000]
                      [--record out.wav] [--seconds 60] [--srtp mandatory|optional]
"""
import argparse
import json
import queue
import sys
import threading
import time

import pjsua2 as pj

events = queue.Queue()


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Call(pj.Call):
    def __init__(self, acc, args, call_id=pj.PJSUA_INVALID_ID):
        super().__init__(acc, call_id)
        self.args = args
        self.tone = None
        self.recorder = None

    def onCallState(self, prm):
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            emit({"event": "confirmed"})
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            emit({"event": "disconnected", "code": ci.lastStatusCode, "reason": ci.lastReason})
            events.put(("disconnected", self))

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                am = self.getAudioMedia(i)
                # Media comes back active after each re-INVITE (hold/resume): connect the
                # tone and the recorder to the call's audio again (a no-op when connected).
                if self.args.tone_hz and self.tone is not None:
                    self.tone.startTransmit(am)
                if self.args.record and self.recorder is not None:
                    am.startTransmit(self.recorder)
                if self.args.tone_hz and self.tone is None:
                    self.tone = pj.ToneGenerator()
                    self.tone.createToneGenerator(8000, 1)
                    td = pj.ToneDesc()
                    td.freq1 = self.args.tone_hz
                    td.freq2 = 0
                    td.on_msec = 30000
                    td.off_msec = 0
                    td.volume = 0
                    tv = pj.ToneDescVector()
                    tv.append(td)
                    self.tone.play(tv, True)
                    self.tone.startTransmit(am)
                if self.args.record and self.recorder is None:
                    self.recorder = pj.AudioMediaRecorder()
                    self.recorder.createRecorder(self.args.record)
                    am.startTransmit(self.recorder)
                emit({"event": "media", "status": "active"})

    def onDtmfDigit(self, prm):
        emit({"event": "dtmf", "digit": prm.digit})


class Account(pj.Account):
    def __init__(self, args):
        super().__init__()
        self.args = args
        self.calls = []

    def onRegState(self, prm):
        info = self.getInfo()
        emit({"event": "registered" if info.regIsActive else "unregistered",
              "code": prm.code, "reason": prm.reason})

    def onIncomingCall(self, prm):
        call = Call(self, self.args, prm.callId)
        self.calls.append(call)
        ci = call.getInfo()
        hdrs = {}
        request_line = ""
        try:
            request_line = prm.rdata.wholeMsg.split("\r\n", 1)[0]
            for line in prm.rdata.wholeMsg.split("\r\n"):
                if line.lower().startswith("x-switchboard-"):
                    k, _, v = line.partition(":")
                    hdrs[k.strip()] = v.strip()
        except Exception:
            pass
        emit({"event": "incoming", "from": ci.remoteUri, "headers": hdrs,
              "request_line": request_line})
        op = pj.CallOpParam()
        if self.args.answer == "auto":
            op.statusCode = 200
            call.answer(op)
        elif self.args.answer == "busy":
            op.statusCode = 486
            call.answer(op)
        else:
            op.statusCode = 180
            call.answer(op)


def stdin_reader():
    for line in sys.stdin:
        events.put(("cmd", line.strip()))
    events.put(("cmd", "quit"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--transport", default="udp", help="udp, tcp or tls")
    ap.add_argument("--ca-file", default="", help="TLS: CA list the server certificate must chain to")
    ap.add_argument("--answer", default="auto")
    ap.add_argument("--tone-hz", type=int, default=0)
    ap.add_argument("--record", default="")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--call", default="", help="place a call to this URI instead of waiting")
    ap.add_argument("--caller", default="+79995550101", help="caller number in call mode")
    ap.add_argument("--local-port", type=int, default=0, help="SIP port to listen on (0: any)")
    ap.add_argument("--srtp", default="", help="mandatory or optional: SDES SRTP (also over UDP SIP)")
    ap.add_argument("--codec", default="", help="offer and accept only this codec (PCMA, G722, ...); default PCMU then PCMA")
    args = ap.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    cfg.uaConfig.userAgent = "pjsua2-switchboard-test"
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = args.local_port
    tcfg.boundAddress = "127.0.0.1"
    if args.transport == "tls":
        tcfg.tlsConfig.CaListFile = args.ca_file
        tcfg.tlsConfig.verifyServer = True
        tcfg.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
        tp = pj.PJSIP_TRANSPORT_TLS
    elif args.transport == "tcp":
        tp = pj.PJSIP_TRANSPORT_TCP
    else:
        tp = pj.PJSIP_TRANSPORT_UDP
    ep.transportCreate(tp, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    # Only G.711 so the switchboard relay path is exercised without transcoding, unless
    # --codec names the one codec to use (a test of a transcoding bridge).
    for c in ep.codecEnum2():
        if args.codec:
            prio = 255 if c.codecId.startswith(args.codec + "/") else 0
        else:
            prio = 255 if c.codecId.startswith("PCMU") else (200 if c.codecId.startswith("PCMA") else 0)
        ep.codecSetPriority(c.codecId, prio)

    acfg = pj.AccountConfig()
    suffix = f";transport={args.transport}" if args.transport in ("tcp", "tls") else ""
    if args.call:
        # A trunk caller: no registration, identified by number.
        acfg.idUri = f"sip:{args.caller}@127.0.0.1"
    elif not args.user:
        # A customer behind the carrier: no registration; answers what reaches its port.
        acfg.idUri = f"sip:{args.caller}@127.0.0.1"
    else:
        acfg.idUri = f"sip:{args.user}@{args.server.split(':')[0]}"
        acfg.regConfig.registrarUri = f"sip:{args.server}{suffix}"
        acfg.regConfig.timeoutSec = 120
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", args.user, 0, args.password))
    acfg.natConfig.sipOutboundUse = 0
    # Media on loopback too, so the SDP names the address RTP comes from (switchboard
    # accepts media only from the SDP address unless the user/trunk is `nat = true`).
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    if args.srtp:
        acfg.mediaConfig.srtpUse = (pj.PJMEDIA_SRTP_MANDATORY if args.srtp == "mandatory"
                                    else pj.PJMEDIA_SRTP_OPTIONAL)
        # SDES keys over plain UDP SIP (a test on loopback; real phones use TLS).
        acfg.mediaConfig.srtpSecureSignaling = 0
    acc = Account(args)
    acc.create(acfg)
    if args.call:
        call = Call(acc, args)
        acc.calls.append(call)
        call.makeCall(args.call, pj.CallOpParam(True))
        emit({"event": "calling", "uri": args.call})

    threading.Thread(target=stdin_reader, daemon=True).start()
    deadline = time.time() + args.seconds
    while time.time() < deadline:
        ep.libHandleEvents(20)
        try:
            kind, val = events.get_nowait()
        except queue.Empty:
            continue
        if kind == "cmd":
            if val == "quit":
                break
            if val == "hangup":
                # A snapshot: a call arriving meanwhile is not hung up by this command.
                for c in list(acc.calls):
                    try:
                        c.hangup(pj.CallOpParam())
                    except pj.Error:
                        pass
            if val == "answer":
                for c in list(acc.calls):
                    try:
                        op = pj.CallOpParam()
                        op.statusCode = 200
                        c.answer(op)
                    except pj.Error:
                        pass
            if val.startswith("dtmf "):
                for c in acc.calls:
                    try:
                        c.dialDtmf(val[5:])
                    except pj.Error:
                        pass
            if val.startswith("xfer "):
                # Blind transfer (REFER) of the current call.
                for c in acc.calls:
                    try:
                        c.xfer(val[5:], pj.CallOpParam(True))
                        emit({"event": "xfer-sent", "to": val[5:]})
                    except pj.Error as e:
                        emit({"event": "xfer-error", "error": str(e)})
            if val.startswith("dial "):
                # A second call, e.g. a consultation before an attended transfer.
                c = Call(acc, args)
                acc.calls.append(c)
                c.makeCall(val[5:], pj.CallOpParam(True))
                emit({"event": "dialing", "uri": val[5:]})
            if val == "xfer-replaces":
                # Attended transfer: REFER the first call to the last one (Replaces).
                try:
                    acc.calls[0].xferReplaces(acc.calls[-1], pj.CallOpParam(True))
                    emit({"event": "xfer-sent", "replaces": True})
                except pj.Error as e:
                    emit({"event": "xfer-error", "error": str(e)})
            if val == "hold":
                for c in acc.calls:
                    try:
                        c.setHold(pj.CallOpParam(True))
                        emit({"event": "hold-sent"})
                    except pj.Error as e:
                        emit({"event": "hold-error", "error": str(e)})
            if val == "unhold":
                for c in acc.calls:
                    try:
                        op = pj.CallOpParam(True)
                        op.opt.flag = pj.PJSUA_CALL_UNHOLD
                        c.reinvite(op)
                        emit({"event": "unhold-sent"})
                    except pj.Error as e:
                        emit({"event": "unhold-error", "error": str(e)})
            if val == "unregister":
                acc.setRegistration(False)
    emit({"event": "exit"})
    for c in acc.calls:
        # Close the recorder so its WAV header is final.
        c.recorder = None
        c.tone = None
    acc.calls.clear()
    import gc
    gc.collect()
    try:
        acc.shutdown()
    except Exception:
        pass
    ep.libDestroy()


if __name__ == "__main__":
    main()
