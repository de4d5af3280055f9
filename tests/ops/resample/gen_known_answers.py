#!/usr/bin/env python3
"""Prints the literal known answers used by test_fir.cpp (numpy and scipy at generation time only).

Run: python3 tests/ops/resample/gen_known_answers.py
"""
import numpy as np
import scipy.signal
import scipy.special


def radial(numtaps, cutoff, width, fs):
    # The jinc design of reference/stylegan3.md section 3.2 (config R's down filter).
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    w = np.kaiser(numtaps, beta)
    f = f * np.outer(w, w)
    return f / np.sum(f)


def show(name, v):
    print(f"// {name}")
    print(", ".join(f"{x:.17g}" for x in np.ravel(v)))


# firwin cases: (numtaps, cutoff, width, fs)
for args in [(12, 2, 12, 32), (24, 2, 12, 64), (12, 128, 2 * 29.586484908149288, 512), (7, 0.3, 0.2, 2.0),
             (13, 5.0, 3.0, 32.0), (24, 11.314, 41.372, 128.0)]:
    show(f"firwin{args}", scipy.signal.firwin(args[0], args[1], width=args[2], fs=args[3]))
for args in [(7, 0.3, 0.2, 2.0), (24, 11.314, 41.372, 128.0)]:
    a = scipy.signal.kaiser_atten(args[0], args[2] / (args[3] / 2))
    show(f"kaiser_atten, kaiser_beta {args}", [a, scipy.signal.kaiser_beta(a)])
# radial: R-256 L0's fd (12 taps, cutoff 2, width 12, fs 32); a row and the corner block.
f = radial(12, 2, 12, 32)
show("radial(12, 2, 12, 32) row 0", f[0])
show("radial(12, 2, 12, 32) row 5", f[5])
f = radial(6, 5.0, 4.0, 32.0)
show("radial(6, 5, 4, 32) all", f)
