#!/usr/bin/env python3
"""make_pcap.py - writes a pcap of one G.711 A-law (PCMA, payload type 8)
RTP stream for SIPp's play_pcap_audio: 20 ms packets of 160 bytes of a
1 kHz tone at -10 dBFS, for SECONDS seconds. SIPp rewrites the addresses and
ports when it plays the file, so those written here are placeholders.
With --raw: the bare A-law samples of one second of the tone instead, for
SIPp's rtp_stream action (which loops it).

usage: make_pcap.py SECONDS OUTPUT.pcap
       make_pcap.py --raw OUTPUT.alaw
"""
import math
import struct
import sys


def alaw(sample):
    """One 16-bit linear sample to A-law (ITU-T G.711)."""
    sign = 0x80 if sample >= 0 else 0x00
    if sample < 0:
        sample = -sample - 1
    sample = min(sample, 32767) >> 3
    if sample < 32:
        code = sample >> 1
    else:
        seg = 1
        while sample >= 64 and seg < 7:
            sample >>= 1
            seg += 1
        code = (seg << 4) | ((sample >> 1) & 0x0F)
    return (code | sign) ^ 0x55


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    amp = 32767 * 10 ** (-10 / 20)
    tone = bytes(alaw(int(amp * math.sin(2 * math.pi * 1000 * i / 8000))) for i in range(8000))
    if sys.argv[1] == "--raw":
        with open(sys.argv[2], "wb") as f:
            f.write(tone)
        return
    seconds = float(sys.argv[1])
    if not 0 < seconds <= 3600:
        sys.exit("make_pcap.py: SECONDS must be in 0..3600")
    count = int(seconds * 50)
    src, dst = bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])
    ssrc = 0x0C70BE4C
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for seq in range(count):
        payload = tone[(seq * 160) % 8000:(seq * 160) % 8000 + 160]
        rtp = struct.pack("!BBHII", 0x80, 8 | (0x80 if seq == 0 else 0), seq & 0xFFFF,
                          (seq * 160) & 0xFFFFFFFF, ssrc) + payload
        udp_len = 8 + len(rtp)
        udp = struct.pack("!HHHH", 40000, 40002, udp_len, 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, seq & 0xFFFF, 0, 64, 17, 0,
                         src, dst)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        frame = b"\0\0\0\0\0\2" + b"\0\0\0\0\0\1" + b"\x08\x00" + ip + udp
        usec = seq * 20000
        out.append(struct.pack("<IIII", usec // 1000000, usec % 1000000, len(frame), len(frame)))
        out.append(frame)
    with open(sys.argv[2], "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    main()
