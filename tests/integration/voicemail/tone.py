#!/usr/bin/env python3
"""tone.py - the test side of tests/integration/voicemail (standard library).

  tone.py FILE.wav HZ
      Prints how many seconds of the 16-bit PCM WAV FILE are a tone of HZ:
      20 ms frames whose energy is mostly (over 60 %) at that frequency
      (Goertzel) and not silence.
"""
import math
import struct
import sys
import wave


def main():
    path, hz = sys.argv[1], float(sys.argv[2])
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            sys.exit("tone.py: %s is not 16-bit mono" % path)
        rate = w.getframerate()
        data = w.readframes(w.getnframes())
    samples = struct.unpack("<%dh" % (len(data) // 2), data)
    n = rate // 50
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    frames = 0
    for start in range(0, len(samples) - n + 1, n):
        block = samples[start:start + n]
        energy = sum(x * x for x in block)
        if energy / n < 300 * 300:
            continue
        s1 = s2 = 0.0
        for x in block:
            s1, s2 = x + coeff * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coeff * s1 * s2
        # a pure tone puts n/2 * energy into its bin
        if power / (n / 2.0) > 0.6 * energy:
            frames += 1
    print("%.2f" % (frames * 0.02))


if __name__ == "__main__":
    main()
