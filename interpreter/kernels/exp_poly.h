/* exp_poly.h — the single-precision e^x kernel shared by the activations and the softmax
 * normaliser: x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite, ln2 split in two so n·ln2_hi is
 * exact; n rounded by adding and removing 1.5·2^23), then e^r by the classic Cephes minimax
 * polynomial (about 1 ulp). Written as macros over + and * only, so the same text serves a
 * float or a GCC/Clang vector of floats; the caller applies 2^n and handles the range. */
#ifndef SPARSA_EXP_POLY_H
#define SPARSA_EXP_POLY_H

/* n = round(x·log2 e) (as a float), r = x − n·ln 2 */
#define SP_EXP_REDUCE(x, n, r)                                            \
    ((n) = ((x) * 1.44269504088896341f + 12582912.0f) - 12582912.0f,     \
     (r) = (x) - (n) * 0.693359375f, (r) = (r) - (n) * -2.12194440e-4f)

/* p = e^r for |r| ≤ ln2/2 */
#define SP_EXP_POLY(r, p)                                                 \
    ((p) = (r) * 1.9875691500e-4f + 1.3981999507e-3f,                     \
     (p) = (p) * (r) + 8.3334519073e-3f, (p) = (p) * (r) + 4.1665795894e-2f, \
     (p) = (p) * (r) + 1.6666665459e-1f, (p) = (p) * (r) + 5.0000001201e-1f, \
     (p) = (p) * ((r) * (r)) + (r) + 1.0f)

#endif
