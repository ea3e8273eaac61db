#!/usr/bin/env python3
"""Independent reference for the MODP constants and vectors in strait-crypto.

Derives the RFC 2409 / RFC 3526 primes from their published formula
p = 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) * pi) + k), checks that p and
(p-1)/2 are (probable) primes, and prints a fixed-key DH vector per group using
Python's own big-integer pow(). Run:
    python3 crates/crypto/testdata/gen_modp.py > crates/crypto/testdata/modp_vectors.txt
"""
import random

def pi_scaled(bits):
    """floor(pi * 2^bits) via Machin's formula in integer arithmetic."""
    guard = 64
    one = 1 << (bits + guard)
    def arctan_inv(x):
        total, term, n, sign = 0, one // x, 1, 1
        x2 = x * x
        while term:
            total += sign * (term // n)
            term //= x2
            n += 2
            sign = -sign
        return total
    return (4 * (4 * arctan_inv(5) - arctan_inv(239))) >> guard

def probable_prime(n, rounds=32):
    if n % 2 == 0:
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    rng = random.Random(1)
    for _ in range(rounds):
        a = rng.randrange(2, n - 2)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True

GROUPS = {1: (768, 149686), 2: (1024, 129093), 5: (1536, 741804), 14: (2048, 124476)}

for gid, (n, k) in GROUPS.items():
    p = 2**n - 2**(n - 64) - 1 + 2**64 * (pi_scaled(n - 130) + k)
    assert p.bit_length() == n and probable_prime(p) and probable_prime((p - 1) // 2), gid
    plen = n // 8
    print(f"group {gid} prime: {p:0{plen*2}X}")
    # Fixed private exponents: bytes 0x01..0x40 and 0x41..0x80 (64 bytes each).
    xa = int.from_bytes(bytes(range(0x01, 0x41)), "big")
    xb = int.from_bytes(bytes(range(0x41, 0x81)), "big")
    ya, yb = pow(2, xa, p), pow(2, xb, p)
    s = pow(yb, xa, p)
    assert s == pow(ya, xb, p)
    print(f"group {gid} public_a: {ya:0{plen*2}x}")
    print(f"group {gid} public_b: {yb:0{plen*2}x}")
    print(f"group {gid} shared:   {s:0{plen*2}x}")
