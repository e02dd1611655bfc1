"""check_ref.py - checks the reference against the specification's test vectors (paper-models
§9) and checks that the entmax-family normalisers have correct gradients.

    /usr/bin/python3 tests/reference/check_ref.py      # exit status 0 when everything holds
"""

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sparsa_ref as R  # noqa: E402

FAILS = []


def close(name, got, want, tol=1e-6):
    got = torch.as_tensor(got, dtype=torch.float64).flatten()
    want = torch.as_tensor(want, dtype=torch.float64).flatten()
    err = float((got - want).abs().max()) if got.numel() == want.numel() else float("inf")
    ok = err <= tol  # a NaN difference is a failure
    status = "ok " if ok else "BAD"
    if not ok:
        FAILS.append(name)
    print("%s %-40s max|d| = %.2e" % (status, name, err))


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def main():
    z8 = t([0.9, -1.2, 0.35, 1.6, 0.1, -0.3, 1.25, 0.0])
    table = {
        1.25: [0.161964629, 0.000143179461, 0.0609585283, 0.429167983, 0.0356050647,
               0.0125026878, 0.271568625, 0.0280893033],
        1.5: [0.145183766, 0, 0.0112423344, 0.534404678, 0, 0, 0.309169222, 0],
        1.75: [0.0849342707, 0, 0, 0.60070258, 0, 0, 0.314363149, 0],
        2.0: [0, 0, 0, 0.675, 0, 0, 0.325, 0],
    }
    close("softmax z8", R.softmax(z8), [0.158999718, 0.0194705376, 0.0917348572, 0.320186113,
                                        0.0714431786, 0.0478897948, 0.22563134, 0.0646444612])
    for a, p in table.items():
        close("entmax a=%g z8" % a, R.entmax(z8, a), p)
    # exact thresholds in the raw-z convention
    tau, k = R.entmax15_threshold(z8)
    close("entmax15 tau z8", tau, [0.068970125])
    tau, k = R.sparsemax_threshold(z8)
    close("sparsemax tau z8", tau, [0.925])
    close("sparsemax S1", R.sparsemax(t([0.5, 0.3, -0.4])), [0.6, 0.4, 0])
    close("sparsemax S2", R.sparsemax(t([1.0, 0.8, 0.5, -0.5])),
          [0.5666667, 0.3666667, 0.0666667, 0], 1e-6)
    close("sparsemax S3", R.sparsemax(t([1.0, 0.0])), [1, 0])
    close("entmax15 E1", R.entmax(t([1.0, 0, -1]), 1.5), [0.830718914, 0.169281086, 0])
    close("entmax15 E2", R.entmax(t([1.0, 0.8, 0.5, -0.5]), 1.5),
          [0.468953804, 0.341993401, 0.189052795, 0])
    close("entmax15 E3", R.entmax(t([0.0, 0, 0, 0]), 1.5), [0.25] * 4)
    close("entmax15 E4", R.entmax(t([2.0, 0]), 1.5), [1, 0])
    close("entmax15 E4b", R.entmax(t([2.5, 0]), 1.5), [1, 0])
    # masked entries
    zm = torch.cat([z8, t([float("-inf")] * 3)])
    close("entmax15 masked", R.entmax(zm, 1.5)[:8], table[1.5])
    close("entmax1.25 masked", R.entmax(zm, 1.25)[:8], table[1.25])
    # fp32 emulation of entmax_bisect (n_iter 50)
    close("entmax_bisect fp32 a=1.5", R.entmax_bisect_forward(z8.float(), 1.5),
          [0.145183742, 0, 0.0112423301, 0.534404695, 0, 0, 0.309169203, 0], 2e-7)
    close("entmax_bisect fp32 a=1.25", R.entmax_bisect_forward(z8.float(), 1.25),
          [0.161964595, 0.000143179393, 0.0609585308, 0.429168046, 0.0356050655,
           0.0125026898, 0.271568626, 0.0280893035], 2e-7)
    # adaptive-temperature softmax sanity: a peaked row keeps beta = 1
    zp = t([10.0, 0, 0])
    close("adaptive softmax peaked", R.adaptive_temperature_softmax(zp), R.softmax(zp))
    # RoPE
    x = t([1, 2, 3, 4]).view(1, 1, 1, 4)
    pos = torch.tensor([1])
    close("rope neox", R.rope_neox(x, pos, 1e4), [-1.98411065, 1.95990067, 2.4623779, 4.01979967])
    close("rope interleaved", R.rope_interleaved(x, pos, 1e4),
          [-1.14263966, 1.9220756, 2.95985067, 4.0297995])
    # RMSNorm
    xr, w = t([1, 2, 3, 4]), t([0, 0.5, -0.5, 1])
    close("rmsnorm gemma", R.rms_norm(xr, w, 1e-6, 1.0),
          [0.365148347, 1.09544504, 0.547722521, 2.92118678])
    close("rmsnorm llama", R.rms_norm(xr, w, 1e-6, 0.0),
          [0, 0.365148347, -0.547722521, 1.46059339])
    close("gelu_tanh", R.gelu_tanh(t([-1, 0.5, 2])), [-0.158808009, 0.34571401, 1.95459769])
    close("log(i+2)", R.log_position(torch.arange(5)),
          [0.693147181, 1.09861229, 1.38629436, 1.60943791, 1.79175947])
    # stick-breaking: one query (position 3) over earlier keys z = [0.5, -1, 2]
    z = torch.zeros(4, 4, dtype=torch.float64)
    z[3, :3] = t([0.5, -1, 2])
    earlier = torch.tril(torch.ones(4, 4, dtype=torch.bool), -1)
    a = R.stick_breaking_weights(z, earlier)
    close("stick-breaking", a[3, :3], [0.0542437944, 0.0320586033, 0.880797078])
    close("stick-breaking remainder", 1 - a[3].sum(), [0.0329005244])
    close("stick-breaking query 0", a[0], [0, 0, 0, 0])
    # slopes
    close("press slopes 8", R.press_alibi_slopes(8), [2.0 ** -i for i in range(1, 9)])
    close("press slopes 12", R.press_alibi_slopes(12),
          [2.0 ** -i for i in range(1, 9)] + [0.707107, 0.353553, 0.176777, 0.088388], 1e-6)
    close("nape linear 8", R.nape_slopes(8, 4, "linear"), [1, 1 / 2, 1 / 3, 1 / 4, 0, 0, 0, 0])
    close("nape exp 8", R.nape_slopes(8, 4, "exp"), [1, 1 / 2, 1 / 4, 1 / 8, 0, 0, 0, 0])
    attention_vector()
    gradients()
    if FAILS:
        print("FAILED:", ", ".join(FAILS))
        sys.exit(1)
    print("all reference checks passed")


def attention_vector():
    """§9.4: H = 2, d = 2, L = 3; head 0 ALiBi slope 1, head 1 NoPE and ASEntmax-scaled."""
    Q = t([[[1, 0], [0, 1], [1, 2]], [[.5, .5], [1, -1], [1, .5]]])
    K = t([[[1, 0], [0, 1], [1, 1]], [[2, 0], [0, 1], [1, 1]]])
    V = t([[[1, 0], [0, 1], [1, 1]], [[1, 2], [3, 4], [5, 6]]])
    pos = torch.arange(3)
    ell = R.log_position(pos).double()
    beta, gamma = t([0.2, 0.5, 1.0]), t([1.0, -0.5, 2.0])
    c = 1 + beta * ell ** gamma
    close("asentmax scaler", c, [1.138629436, 1.477032294, 2.921812056])
    vis = R.causal_visibility(pos)
    bias = R.alibi_bias([1.0, 0.0], pos).double()

    def run(scaled, norm):
        q = Q.clone()
        if scaled is not None:
            q[1] = q[1] * scaled[:, None]
        s = q @ K.transpose(-1, -2) / math.sqrt(2) + bias
        p = norm(s.masked_fill(~vis, float("-inf")))
        return p, p @ V

    p, o = run(c, lambda z: R.entmax(z, 1.5))
    close("9.4 asentmax p head0", p[0], [[1, 0, 0], [0.0187732504, 0.98122675, 0],
                                         [0, 0.0187732504, 0.98122675]])
    close("9.4 asentmax o head0", o[0], [[1, 0], [0.0187732504, 0.98122675], [0.98122675, 1]])
    close("9.4 asentmax p head1", p[1], [[1, 0, 0], [1, 0, 0], [0.83999618, 0, 0.16000382]])
    close("9.4 asentmax o head1", o[1], [[1, 2], [1, 2], [1.64001528, 2.64001528]])
    p, o = run(None, lambda z: R.entmax(z, 1.5))
    close("9.4 entmax15 head1 i=2", p[1, 2], [0.591816254, 0.0571046827, 0.351079063])
    close("9.4 entmax15 o head1 i=2", o[1, 2], [2.51852562, 3.51852562])
    p, o = run(None, R.softmax)
    close("9.4 softmax head1 i=1", p[1, 1, :2], [0.892958199, 0.107041801])
    close("9.4 softmax head1 i=2", p[1, 2], [0.488182167, 0.169021928, 0.342795905])
    close("9.4 softmax o head1 i=2", o[1, 2], [2.70922747, 3.70922747])
    close("9.4 softmax head0 i=2", p[0, 2], [0.0270958462, 0.149379077, 0.823525076])
    p, o = run(ell, R.softmax)
    close("9.4 ssmax head1 i=2", p[1, 2], [0.542775073, 0.124749508, 0.33247542])
    close("9.4 ssmax o head1 i=2", o[1, 2], [2.57940069, 3.57940069])


def gradients():
    """The custom backward of the entmax family against finite differences (float64)."""
    torch.manual_seed(0)
    for alpha in (1.5, 2.0, 1.3):
        z = (torch.randn(3, 7, dtype=torch.float64) * 2).requires_grad_(True)
        mask = torch.ones(3, 7, dtype=torch.bool)
        mask[0, 5:] = False
        ok = torch.autograd.gradcheck(
            lambda x: R.entmax(x.masked_fill(~mask, float("-inf")), alpha), (z,),
            eps=1e-6, atol=1e-5)
        if not ok:
            FAILS.append("gradcheck alpha=%g" % alpha)
        print("%s gradcheck entmax alpha=%g" % ("ok " if ok else "BAD", alpha))
    z = torch.randn(2, 5, 5, dtype=torch.float64, requires_grad=True)
    earlier = torch.tril(torch.ones(5, 5, dtype=torch.bool), -1)
    ok = torch.autograd.gradcheck(lambda x: R.stick_breaking_weights(x, earlier), (z,))
    print("%s gradcheck stick-breaking" % ("ok " if ok else "BAD"))
    if not ok:
        FAILS.append("gradcheck stick-breaking")


if __name__ == "__main__":
    main()
