#!/usr/bin/env python3
"""tones.py - checks a recording of the baresip test: a 16-bit PCM WAV file
must hold mostly the tone of the far phone. Measures the energy at
EXPECTED Hz and at OTHER Hz (Goertzel, over 20 ms blocks) and counts the
blocks that carry sound.

usage: tones.py FILE EXPECTED OTHER [MIN-SECONDS]
Prints the figures; exit status 0 when at least MIN-SECONDS (default 1.5)
of blocks hold the EXPECTED tone at least 10 times (10 dB) stronger than
the OTHER one and than every other block sound, and no block holds mostly
the OTHER tone.
"""
import math
import struct
import sys
import wave


def goertzel(samples, rate, freq):
    """Power of freq in samples (a list of floats)."""
    coeff = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + coeff * s1 - s2
        s2, s1 = s1, s0
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def main():
    if len(sys.argv) < 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path, want, other = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    min_secs = float(sys.argv[4]) if len(sys.argv) > 4 else 1.5
    try:
        with wave.open(path, "rb") as w:
            if w.getsampwidth() != 2:
                print("%s: %d-byte samples, expected 16-bit" % (path, w.getsampwidth()))
                return 1
            rate, chans = w.getframerate(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as e:
        print("%s: %s" % (path, e))
        return 1
    count = len(raw) // 2
    samples = struct.unpack("<%dh" % count, raw[:count * 2])[::chans]
    block = rate // 50
    good = bad = silent = 0
    for i in range(0, len(samples) - block + 1, block):
        chunk = [float(x) for x in samples[i:i + block]]
        total = sum(x * x for x in chunk)
        if total / block < 100.0 * 100.0:  # quieter than about -50 dBFS
            silent += 1
            continue
        p_want = goertzel(chunk, rate, want)
        p_other = goertzel(chunk, rate, other)
        # goertzel power of a pure tone over N samples is about total * N / 2
        share = p_want / (total * block / 2.0)
        if p_want > 10.0 * p_other and share > 0.5:
            good += 1
        elif p_other > 10.0 * p_want:
            bad += 1
    secs = len(samples) / float(rate)
    print("%s: %.2f s at %d Hz, blocks of 20 ms: %d with %g Hz, %d with %g Hz, %d silent, "
          "%d other" % (path, secs, rate, good, want, bad, other, silent,
                        len(samples) // block - good - bad - silent))
    if good * 0.02 >= min_secs and bad == 0:
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
