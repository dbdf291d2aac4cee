#!/usr/bin/env python3
"""Writes the RTP captures that tests/scenarios/media_*.xml play with SIPp.

Standard library only: the pcap file format, Ethernet, IPv4, UDP and RTP headers and the
G.711 mu-law encoder are written here, so the files are reproducible byte for byte (the
talk-off capture also reads prompts/*.wav: regenerate it when the prompts change):

    python3 tests/pcap/make_pcaps.py          # (re)writes tests/pcap/*.pcap
    python3 tests/pcap/make_pcaps.py --check  # fails if a committed file differs

Files (one RTP stream each, SSRC fixed, 20 ms packets, pcap timestamps 20 ms apart):

- dtmf_rfc4733_1234hash.pcap: PCMU silence with the keys 1 2 3 4 # as RFC 4733
  telephone-events (payload type 101). Each key: a first packet with the marker bit, four
  updates (duration growing by 160), then three end packets (E bit, same duration); the
  event's RTP timestamp is the time the key went down. 100 ms of silence between keys.
- dtmf_rfc4733_lossy_559hash.pcap: the keys 5 5 9 # as RFC 4733 events through a bad
  network: the second 5 (same key, new timestamp) lost its marker packet and first update
  and has an end packet doubled; of the 9 only the end packets arrive, then a stale update;
  the # has all its end packets lost. 800 ms of silence follow.
- dtmf_rfc4733_pt96_star0.pcap: the keys * 0 like the first file, but with the
  telephone-event payload type 96 (the offer's number, which the answer must keep).
- dtmf_inband_7950star.pcap: PCMU (payload type 0) carrying the DTMF tones of 7 9 5 0 *
  in the audio: the two frequencies summed, 80 ms on and 80 ms off.
- talkoff_speech_music.pcap: PCMU of 3 s of prompts/en/demo-main-menu.wav, 3 s of
  prompts/ru/bank-menu.wav and 3 s of prompts/moh.wav: speech and music without any key,
  for the in-band detector's talk-off (it must report nothing).

- amd_human_hello.pcap: PCMU of a short greeting (prompts/en/good-evening.wav, 0.9 s)
  then 4 s of silence: a person answering and waiting (answering-machine detection must
  say human).
- amd_machine_greeting.pcap: PCMU of 6 s of continuous speech (the start of
  prompts/en/demo-main-menu.wav) then 1 s of silence: a voicemail greeting (machine).

SIPp sends each packet's UDP payload to the port the answer's SDP gives (it replaces the
addresses and ports), paced by the pcap timestamps.
"""
import math
import struct
import sys
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent

SRC_IP = bytes([127, 0, 0, 1])
DST_IP = bytes([127, 0, 0, 1])
SRC_PORT = 6000
DST_PORT = 20000
SSRC = 0x5EED1234
PTIME_SAMPLES = 160  # 20 ms at 8 kHz
PCMU_PT = 0
EVENT_PT = 101
# Start of the capture (pcap time); fixed so the files are reproducible.
T0_SEC = 1_700_000_000

DTMF_FREQS = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}
# RFC 4733 section 3.2: event codes of the DTMF keys.
EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11,
               "A": 12, "B": 13, "C": 14, "D": 15}


def checksum16(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_ipv4_frame(payload: bytes, ident: int) -> bytes:
    """An Ethernet frame holding an IPv4/UDP datagram from SRC to DST with `payload`."""
    udp_len = 8 + len(payload)
    pseudo = SRC_IP + DST_IP + struct.pack("!BBH", 0, 17, udp_len)
    udp_nock = struct.pack("!HHHH", SRC_PORT, DST_PORT, udp_len, 0) + payload
    uck = checksum16(pseudo + udp_nock) or 0xFFFF
    udp = struct.pack("!HHHH", SRC_PORT, DST_PORT, udp_len, uck) + payload
    ip_nock = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident & 0xFFFF, 0x4000,
                          64, 17, 0, SRC_IP, DST_IP)
    ip = ip_nock[:10] + struct.pack("!H", checksum16(ip_nock)) + ip_nock[12:]
    eth = bytes([0, 0, 0, 0, 0, 2]) + bytes([0, 0, 0, 0, 0, 1]) + struct.pack("!H", 0x0800)
    return eth + ip + udp


def rtp(pt: int, seq: int, ts: int, payload: bytes, marker: bool = False) -> bytes:
    """An RTP packet (RFC 3550 fixed header, version 2, no CSRC)."""
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                       ts & 0xFFFFFFFF, SSRC) + payload


def pcap_file(packets) -> bytes:
    """A classic pcap (microsecond timestamps, Ethernet link type) of (usec, frame) pairs."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for usec, frame in packets:
        sec, us = divmod(usec, 1_000_000)
        out.append(struct.pack("<IIII", T0_SEC + sec, us, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def ulaw_encode(sample: int) -> int:
    """ITU-T G.711 mu-law of a 16-bit linear sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    mag = min(-sample if sample < 0 else sample, clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not mag & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


ULAW_SILENCE = bytes([ulaw_encode(0)]) * PTIME_SAMPLES


class Stream:
    """One RTP stream being laid out in 20 ms slots."""

    def __init__(self, first_seq: int, first_ts: int):
        self.seq = first_seq
        self.ts = first_ts  # RTP timestamp of the next audio slot
        self.slot = 0
        self.packets = []

    def _emit(self, packet: bytes, send: bool = True):
        """Puts `packet` in the current slot (or loses it: its slot and seq still pass)."""
        if send:
            self.packets.append((self.slot * 20_000, udp_ipv4_frame(packet, self.seq)))
        self.seq += 1
        self.slot += 1

    def audio(self, payload: bytes, marker: bool = False):
        self._emit(rtp(PCMU_PT, self.seq, self.ts, payload, marker))
        self.ts += PTIME_SAMPLES

    def silence(self, slots: int):
        for _ in range(slots):
            self.audio(ULAW_SILENCE)

    def key(self, digit: str, slots: int, end_copies: int = 3, volume: int = 10,
            lose=(), duplicate=(), late=(), pt: int = EVENT_PT):
        """An RFC 4733 event lasting `slots` packets, then `end_copies` end packets.

        The packets of the event are numbered from 0 (the marker packet) to
        slots + end_copies - 1. Those in `lose` are lost on the way (their sequence numbers
        and slots pass unused); those in `duplicate` arrive twice (the copy 1 ms later);
        those in `late` arrive 2 ms after the event's last packet, out of order.
        """
        start = self.ts
        code = EVENT_CODES[digit]
        held = []
        for i in range(slots + end_copies):
            end = i >= slots
            duration = min(i + 1, slots) * PTIME_SAMPLES
            flags = (0x80 if end else 0) | (volume & 0x3F)
            payload = struct.pack("!BBH", code, flags, duration)
            packet = rtp(pt, self.seq, start, payload, marker=(i == 0))
            if i in late:
                held.append((self.seq, packet))
            send = i not in lose and i not in late
            if send and i in duplicate:
                self.packets.append((self.slot * 20_000 + 1_000,
                                     udp_ipv4_frame(packet, self.seq)))
            self._emit(packet, send)
        for seq, packet in held:
            self.packets.append(((self.slot - 1) * 20_000 + 2_000, udp_ipv4_frame(packet, seq)))
        self.packets.sort(key=lambda p: p[0])
        # The audio clock kept running while the key was down.
        self.ts = start + (slots + end_copies) * PTIME_SAMPLES


def rfc4733_capture(keys: str, pt: int = EVENT_PT) -> bytes:
    s = Stream(first_seq=1000, first_ts=160_000)
    s.silence(10)
    for k in keys:
        s.key(k, slots=5, pt=pt)
        s.silence(5)
    s.silence(5)
    return pcap_file(s.packets)


def rfc4733_lossy_capture() -> bytes:
    """5 5 9 # through a bad network; each key must still count exactly once."""
    s = Stream(first_seq=3000, first_ts=480_000)
    s.silence(10)
    s.key("5", slots=5)                                    # clean
    s.silence(5)
    s.key("5", slots=5, lose={0, 1}, duplicate={5})        # same key again: no marker
    s.silence(5)                                           # packet, a doubled end packet
    s.key("9", slots=5, lose={0, 1, 2, 3}, late={4})       # only the end packets, and
    s.silence(5)                                           # a stale update after them
    s.key("#", slots=5, lose={5, 6, 7})                    # no end packet at all: closed
    s.silence(40)                                          # by the receiver's timeout
    return pcap_file(s.packets)


def inband_capture(keys: str, on_ms: int = 80, off_ms: int = 80, amp: int = 6000) -> bytes:
    rate = 8000
    samples = [0] * (rate * 300 // 1000)
    for k in keys:
        lo, hi = DTMF_FREQS[k]
        n_on = rate * on_ms // 1000
        for n in range(n_on):
            t = n / rate
            v = amp * (math.sin(2 * math.pi * lo * t) + math.sin(2 * math.pi * hi * t))
            samples.append(int(round(v)))
        samples.extend([0] * (rate * off_ms // 1000))
    samples.extend([0] * (rate * 300 // 1000))
    while len(samples) % PTIME_SAMPLES:
        samples.append(0)
    s = Stream(first_seq=2000, first_ts=320_000)
    for i in range(0, len(samples), PTIME_SAMPLES):
        frame = bytes(ulaw_encode(v) for v in samples[i:i + PTIME_SAMPLES])
        s.audio(frame, marker=(i == 0))
    return pcap_file(s.packets)


PROMPTS = HERE.parent.parent / "prompts"


def read_prompt(rel: str, seconds: float):
    """The first `seconds` of a mono 16-bit 8 kHz prompt of the repository."""
    with wave.open(str(PROMPTS / rel), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000), rel
        n = min(w.getnframes(), int(seconds * 8000))
        data = w.readframes(n)
    return list(struct.unpack(f"<{n}h", data))


def talkoff_capture() -> bytes:
    """Speech in two languages and music, no keys: a detector must stay quiet."""
    samples = (read_prompt("en/demo-main-menu.wav", 3.0)
               + read_prompt("ru/bank-menu.wav", 3.0)
               + read_prompt("moh.wav", 3.0))
    while len(samples) % PTIME_SAMPLES:
        samples.append(0)
    s = Stream(first_seq=4000, first_ts=640_000)
    for i in range(0, len(samples), PTIME_SAMPLES):
        frame = bytes(ulaw_encode(v) for v in samples[i:i + PTIME_SAMPLES])
        s.audio(frame, marker=(i == 0))
    return pcap_file(s.packets)


def speech_then_silence(rel: str, seconds: float, silence: float, first_seq: int) -> bytes:
    """The first `seconds` of a prompt, then `silence` seconds of PCMU silence."""
    samples = read_prompt(rel, seconds) + [0] * int(silence * 8000)
    while len(samples) % PTIME_SAMPLES:
        samples.append(0)
    s = Stream(first_seq=first_seq, first_ts=first_seq * 160)
    for i in range(0, len(samples), PTIME_SAMPLES):
        frame = bytes(ulaw_encode(v) for v in samples[i:i + PTIME_SAMPLES])
        s.audio(frame, marker=(i == 0))
    return pcap_file(s.packets)


FILES = {
    "dtmf_rfc4733_1234hash.pcap": lambda: rfc4733_capture("1234#"),
    "dtmf_rfc4733_lossy_559hash.pcap": rfc4733_lossy_capture,
    "dtmf_rfc4733_pt96_star0.pcap": lambda: rfc4733_capture("*0", pt=96),
    "dtmf_inband_7950star.pcap": lambda: inband_capture("7950*"),
    "talkoff_speech_music.pcap": talkoff_capture,
    "amd_human_hello.pcap": lambda: speech_then_silence("en/good-evening.wav", 2.0, 4.0, 5000),
    "amd_machine_greeting.pcap": lambda: speech_then_silence("en/demo-main-menu.wav", 6.0, 1.0, 6000),
}


def main() -> int:
    check = "--check" in sys.argv[1:]
    bad = 0
    for name, make in FILES.items():
        data = make()
        path = HERE / name
        if check:
            if not path.exists() or path.read_bytes() != data:
                print(f"{name}: differs from what make_pcaps.py writes", file=sys.stderr)
                bad += 1
        else:
            path.write_bytes(data)
            print(f"wrote {path} ({len(data)} bytes)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
