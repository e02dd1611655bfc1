#!/usr/bin/python3
"""Test vectors for sparsa's PRNG (tests/eval/test_generate_sampler.c): splitmix64 seeding four
xoshiro256** words, first outputs for a few seeds. An independent Python implementation of the
published algorithms (Vigna; xoshiro256** 1.0)."""
M = (1 << 64) - 1


def splitmix(x):
    x = (x + 0x9E3779B97F4A7C15) & M
    z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return x, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M


def seeded(seed):
    s, x = [], seed
    for _ in range(4):
        x, z = splitmix(x)
        s.append(z)
    return s


def next_u64(s):
    out = (rotl((s[1] * 5) & M, 7) * 9) & M
    t = (s[1] << 17) & M
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 45)
    return out


if __name__ == "__main__":
    for seed in (0, 42):
        s = seeded(seed)
        print(seed, ", ".join(f"0x{next_u64(s):016x}ull" for _ in range(3)))
