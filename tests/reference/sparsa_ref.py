"""sparsa_ref.py - the PyTorch reference models of sparsa.

Written from the model specification (the math of "Long-Context Generalization with Sparse
Attention": normalisers, length-dependent query scaling, positional schemes, architectures),
independently of the C interpreter. It serves three purposes:

* golden fixtures: `make_fixtures.py` runs these models in float32 on tiny random weights and
  stores the logits the C interpreter must reproduce;
* export: `sparsa_export.py` writes any of these models as a sparsa model file;
* training: every model is an ordinary `nn.Module` with a batch dimension and differentiable
  normalisers, so small language models can be trained with it on CPU or GPU.

Works with torch 1.13 (CPU) and torch 2.x (CUDA). No loop over positions anywhere.

Architectures (parameter names follow the upstream checkpoints, so state dicts load directly):

  LlamaForCausalLM         Hugging Face Llama: RMSNorm (w), rotate-half RoPE, GQA, SwiGLU,
                           optional tied embeddings. Names model.embed_tokens.weight,
                           model.layers.{i}.self_attn.q_proj.weight, ..., lm_head.weight.
  Gemma2ForCausalLM        Hugging Face Gemma-2: Gemma RMSNorm (1 + w), pre- and post-norms,
                           GeGLU (tanh GELU), sqrt(D) embedding scale rounded to the weight
                           dtype, query_pre_attn_scalar, attention and final logit softcapping,
                           sliding window on even layers.
  SparseGemma2ForCausalLM  the paper's synthetic-task model: Gemma-2 with attention scale
                           1/sqrt(head_dim), a choice of normaliser (softmax, alpha-entmax,
                           sparsemax, adaptive-temperature softmax, stick-breaking, top-k),
                           length-dependent query scaling (ASEntmax, SSMax, learn) and
                           positions (RoPE, NoPE, NAPE, ALiBi).
  TorchTitanLlama          torchtitan Llama-3 (params.json hyper-parameters, interleaved RoPE).
                           Names tok_embeddings.weight, layers.{i}.attention.wq.weight, ...

Configurations are plain `Config` objects whose keys follow the Hugging Face config.json names
(plus the sparse-attention keys of the paper's code), or params.json for torchtitan.

Example (training)::

    cfg = Config(vocab_size=4096, hidden_size=256, intermediate_size=1024,
                 num_hidden_layers=4, num_attention_heads=8, head_dim=32,
                 entmax_alpha=1.5, apply_rotary=False, apply_nape=True,
                 attn_scale_type="adapt-softplus-tanh", attn_scale_proj_bias=True)
    model = SparseGemma2ForCausalLM(cfg).cuda()
    logits = model(tokens)          # tokens: LongTensor [B, L]  ->  [B, L, V]
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


class Config:
    """A bag of hyper-parameters with defaults; keys are Hugging Face config.json names."""

    DEFAULTS = dict(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=None,   # None: = num_attention_heads
        head_dim=None,              # None: hidden_size // num_attention_heads
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        max_position_embeddings=131072,
        # Gemma-2
        query_pre_attn_scalar=None,  # None: head_dim
        attn_logit_softcapping=None,
        final_logit_softcapping=None,
        sliding_window=None,
        hidden_activation="gelu_pytorch_tanh",
        # the paper's sparse attention keys (SparseGemma2)
        entmax_alpha=1.0,
        attn_type=None,             # None (softmax/entmax by alpha), "stick-break", "topk"
        topk_size=8,
        topk_length_rule=None,      # None or "div-2"
        poly_fit=False,             # adaptive-temperature softmax (alpha == 1 only)
        apply_rotary=False,
        apply_nape=True,
        apply_alibi=False,          # Press et al. ALiBi slopes on every head
        alibi_num_heads=None,       # None: H // 2
        alibi_slope_type="linear",  # "linear" or "exp"
        attn_scale_type=None,       # None, "adapt-softplus-tanh", "nakanishi", "learn"
        attn_scale_delta=1.0,
        attn_scale_gamma_range=2.0,
        attn_scale_proj_bias=False,
    )

    def __init__(self, **kw):
        for k, v in self.DEFAULTS.items():
            setattr(self, k, v)
        for k, v in kw.items():
            setattr(self, k, v)
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.query_pre_attn_scalar is None:
            self.query_pre_attn_scalar = self.head_dim
        if self.alibi_num_heads is None:
            self.alibi_num_heads = self.num_attention_heads // 2

    def to_dict(self):
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


# --------------------------------------------------------------------------------------------
# Norms, activations, RoPE
# --------------------------------------------------------------------------------------------


def rms_norm(x, weight, eps, offset=0.0):
    """y = x / sqrt(mean(x^2) + eps) * (offset + w), in float32, cast back to x's dtype.

    offset 0 is Llama/torchtitan (w), offset 1 is Gemma (1 + w)."""
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return (y * (offset + weight.float())).to(x.dtype)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps, offset=0.0):
        super().__init__()
        self.eps, self.offset = eps, offset
        # Gemma initialises w = 0 (so 1 + w = 1), Llama w = 1.
        self.weight = nn.Parameter(torch.zeros(dim) if offset else torch.ones(dim))

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps, self.offset)


def gelu_tanh(x):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def rope_angles(positions, head_dim, theta, device=None):
    """cos, sin of pos * theta^(-2k/d), k = 0..d/2-1, float32, shape [L, d/2]."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim))
    ang = positions.float()[:, None] * inv_freq[None, :]
    return ang.cos(), ang.sin()


def rope_neox(x, positions, theta):
    """GPT-NeoX rotate-half RoPE on x [B, H, L, d]: pairs (x_k, x_{k+d/2}).

    x' = x cos + rotate_half(x) sin, rotate_half(x) = cat(-x[d/2:], x[:d/2])."""
    d = x.shape[-1]
    cos, sin = rope_angles(positions, d, theta, x.device)
    cos = torch.cat([cos, cos], -1).to(x.dtype)
    sin = torch.cat([sin, sin], -1).to(x.dtype)
    rot = torch.cat([-x[..., d // 2:], x[..., : d // 2]], -1)
    return x * cos + rot * sin


def rope_interleaved(x, positions, theta):
    """torchtitan/Meta complex RoPE on x [B, H, L, d]: pairs (x_{2k}, x_{2k+1}) rotated by
    e^{i pos theta_k}, computed in float32."""
    d = x.shape[-1]
    cos, sin = rope_angles(positions, d, theta, x.device)
    xf = x.float().reshape(*x.shape[:-1], d // 2, 2)
    x0, x1 = xf[..., 0], xf[..., 1]
    y = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], -1)
    return y.reshape(x.shape).to(x.dtype)


def repeat_kv(x, n_rep):
    """[B, Hk, L, d] -> [B, Hk*n_rep, L, d]; query head h uses kv head h // n_rep."""
    if n_rep == 1:
        return x
    b, hk, l, d = x.shape
    return x[:, :, None].expand(b, hk, n_rep, l, d).reshape(b, hk * n_rep, l, d)


# --------------------------------------------------------------------------------------------
# Normalisers. Every function normalises over the last dimension; masked entries are -inf and
# get probability exactly 0. Entmax-family functions are differentiable (custom backward with
# the exact Jacobian, p^(2-alpha) on the support), so they train.
# --------------------------------------------------------------------------------------------


def softmax(z):
    return torch.softmax(z, dim=-1)


def _sorted_desc(x):
    xs, _ = torch.sort(x, dim=-1, descending=True)
    valid = torch.isfinite(xs)
    return torch.where(valid, xs, torch.zeros_like(xs)), valid


def sparsemax_threshold(z):
    """Exact sort-based sparsemax threshold. Returns (tau, k) with p = [z - tau]_+.

    Sorted x_(1) >= x_(2) >= ..., k = max{r : r x_(r) > sum_{s<=r} x_(s) - 1},
    tau = (sum_{r<=k} x_(r) - 1) / k. Computed on z - max z (shift invariance)."""
    m = z.max(-1, keepdim=True).values
    x = z - m
    xs, valid = _sorted_desc(x)
    rho = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cs = xs.cumsum(-1) - 1
    support = (rho * xs > cs) & valid
    k = support.sum(-1, keepdim=True)
    tau = cs.gather(-1, k - 1) / k.to(z.dtype)
    return tau + m, k


def entmax15_threshold(z):
    """Exact sort-based entmax-1.5 threshold. Returns (tau, k) with p = [z/2 - tau]_+^2.

    With x = z/2 sorted, M_r = mean of the top r, S_r = r (mean of squares - M_r^2),
    delta_r = (1 - S_r)/r, tau_r = M_r - sqrt(max(delta_r, 0)); k = #{r : tau_r <= x_(r)}."""
    m = z.max(-1, keepdim=True).values / 2
    x = z / 2 - m
    xs, valid = _sorted_desc(x)
    rho = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    mean = xs.cumsum(-1) / rho
    mean_sq = (xs * xs).cumsum(-1) / rho
    ss = rho * (mean_sq - mean * mean)
    delta = (1 - ss) / rho
    tau_r = mean - torch.sqrt(torch.clamp(delta, min=0))
    support = (tau_r <= xs) & valid
    k = support.sum(-1, keepdim=True)
    tau = tau_r.gather(-1, k - 1)
    return tau + m, k


def entmax_bisect_forward(z, alpha, n_iter=50, ensure_sum_one=True):
    """The entmax package's bisection (entmax_bisect), in z's dtype.

    X = (alpha-1) z; tau in [max X - 1, max X - d^(1-alpha)] with d the full row length;
    n_iter halvings; output p at the last midpoint, renormalised."""
    am1 = alpha - 1.0
    d = z.shape[-1]
    x = z * am1
    max_val = x.max(-1, keepdim=True).values
    tau_lo = max_val - 1.0
    tau_hi = max_val - (1.0 / d) ** am1
    dm = tau_hi - tau_lo
    p = None
    for _ in range(n_iter):  # iterations of the solver, not positions
        dm = dm / 2
        tau_m = tau_lo + dm
        p = torch.clamp(x - tau_m, min=0) ** (1.0 / am1)
        f = p.sum(-1, keepdim=True) - 1
        tau_lo = torch.where(f >= 0, tau_m, tau_lo)
    if ensure_sum_one:
        p = p / p.sum(-1, keepdim=True)
    return p


def entmax_converged(z, alpha):
    """alpha-entmax for any alpha > 1 solved to convergence: bisection in float64 (100
    halvings of the bracket), renormalised, cast back to z's dtype."""
    return entmax_bisect_forward(z.double(), alpha, n_iter=100).to(z.dtype)


class _EntmaxFunction(torch.autograd.Function):
    """p = entmax_alpha(z) with the exact backward: on the support, with g = p^(2-alpha),
    dz = g*dp - g * sum(g*dp)/sum(g); zero off the support."""

    @staticmethod
    def forward(ctx, z, alpha):
        with torch.no_grad():
            if alpha == 2.0:
                tau, _ = sparsemax_threshold(z)
                p = torch.clamp(z - tau, min=0)
            elif alpha == 1.5:
                tau, _ = entmax15_threshold(z)
                p = torch.clamp(z / 2 - tau, min=0) ** 2
            else:
                p = entmax_converged(z, alpha)
        ctx.alpha = alpha
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, dp):
        (p,) = ctx.saved_tensors
        if ctx.alpha == 2.0:
            g = (p > 0).to(p.dtype)
        else:
            g = torch.where(p > 0, p.pow(2.0 - ctx.alpha), torch.zeros_like(p))
        dz = dp * g
        q = dz.sum(-1, keepdim=True) / g.sum(-1, keepdim=True)
        return dz - q * g, None


def entmax(z, alpha):
    """alpha-entmax over the last dim: exact sort-based for alpha 1.5 and 2 (sparsemax), a
    converged bisection otherwise. Differentiable."""
    if alpha == 1.0:
        return softmax(z)
    return _EntmaxFunction.apply(z, float(alpha))


def sparsemax(z):
    return entmax(z, 2.0)


POLY_FIT_COEFFS = (-0.037, 0.481, -2.3, 4.917, -1.791)  # ascending powers, as the code has it


def adaptive_temperature_softmax(z):
    """softmax(beta z) with beta = max(1, poly(H)) if H > 0.5 else 1, H the entropy of
    softmax(z) (with log(p + 1e-9)), poly(H) = sum_k c_k H^k in ascending powers."""
    p = softmax(z)
    h = -(p * torch.log(p + 1e-9)).sum(-1, keepdim=True)
    poly = sum(c * h ** k for k, c in enumerate(POLY_FIT_COEFFS))
    beta = torch.where(h > 0.5, torch.clamp(poly, min=1.0), torch.ones_like(h))
    return softmax(z * beta)


def topk_softmax(z, k):
    """Keep the k largest entries of each row (masked -inf entries are never chosen unless the
    row has fewer than k visible ones, and then they get 0), softmax over them."""
    k = min(k, z.shape[-1])
    vals, idx = torch.topk(z, k, dim=-1)
    p = softmax(vals)
    return torch.zeros_like(z).scatter(-1, idx, p)


def stick_breaking_weights(z, earlier):
    """Stick-breaking attention weights for scores z [.., L, L] (query i, key j).

    Only strictly earlier keys (earlier[i, j] = j < i) take part.
    log A_ij = z_ij - softplus(z_ij) - sum_{j<k<i} softplus(z_ik); the remainder
    1 - sum_j A_ij is discarded, so query 0 gets all-zero weights."""
    zf = torch.where(earlier, z, torch.zeros_like(z))
    sp = torch.where(earlier, F.softplus(zf), torch.zeros_like(zf))
    after = sp.flip(-1).cumsum(-1).flip(-1) - sp          # sum over k > j (zero for k >= i)
    log_a = zf - sp - after
    return torch.where(earlier, torch.exp(log_a), torch.zeros_like(z))


# --------------------------------------------------------------------------------------------
# Positions: ALiBi slopes, NAPE
# --------------------------------------------------------------------------------------------


def press_alibi_slopes(n):
    """Press et al. get_slopes: 2^(-8(h+1)/n) for a power of two n; otherwise the slopes of the
    closest smaller power of two c followed by every other slope for 2c."""
    def pow2(m):
        start = 2.0 ** (-(2.0 ** -(math.log2(m) - 3)))
        return [start * start ** i for i in range(m)]
    if math.log2(n).is_integer():
        return pow2(n)
    c = 2 ** math.floor(math.log2(n))
    return pow2(c) + press_alibi_slopes(2 * c)[0::2][: n - c]


def nape_slopes(num_heads, alibi_heads, slope_type="linear"):
    """NAPE: the first alibi_heads heads get ALiBi slopes (linear 1/(h+1), exp 2^-h), the rest
    0 (NoPE)."""
    out = []
    for h in range(num_heads):
        if h >= alibi_heads:
            out.append(0.0)
        elif slope_type == "linear":
            out.append(1.0 / (h + 1))
        elif slope_type == "exp":
            out.append(2.0 ** (-h))
        else:
            raise ValueError("alibi_slope_type must be linear or exp, not %r" % slope_type)
    return out


def alibi_bias(slopes, positions):
    """b_h(i, j) = m_h (j - i) for queries/keys at absolute positions; shape [H, L, L]."""
    m = torch.as_tensor(slopes, dtype=torch.float32, device=positions.device)
    rel = (positions[None, :] - positions[:, None]).float()   # j - i
    return m[:, None, None] * rel[None]


# --------------------------------------------------------------------------------------------
# Length-dependent query scaling (ASEntmax, SSMax, learn)
# --------------------------------------------------------------------------------------------


def log_position(positions, offset=2):
    """l_i = log(i + 2) for absolute 0-based query positions i."""
    return torch.log(positions.float() + offset)


def asentmax_scale(h, beta_proj, gamma_proj, ell, delta, gamma_range):
    """c_{i,h} = delta + softplus(W_b h_i + b_b)_h * l_i ^ (a tanh(W_g h_i + b_g)_h).

    h [B, L, D] (the attention input), ell [L]; returns [B, Hs, L, 1]."""
    beta = F.softplus(beta_proj(h).float())
    gamma = gamma_range * torch.tanh(gamma_proj(h).float())
    c = delta + beta * ell[None, :, None] ** gamma
    return c.transpose(1, 2)[..., None]


def ssmax_scale(beta, ell):
    """c_{i,h} = l_i * s_h; beta [1, Hs, 1, 1]; returns [1, Hs, L, 1]."""
    return ell[None, None, :, None] * beta.float()


def learn_scale(beta, gamma, ell, delta):
    """c_{i,h} = delta + beta_h * l_i ^ gamma_h; returns [1, Hs, L, 1]."""
    return delta + beta.float() * ell[None, None, :, None] ** gamma.float()


# --------------------------------------------------------------------------------------------
# Attention
# --------------------------------------------------------------------------------------------


def causal_visibility(positions, window=None):
    """visible[i, j] = j <= i (and i - j < window when a sliding window is given)."""
    i = positions[:, None]
    j = positions[None, :]
    vis = j <= i
    if window:
        vis = vis & (i - j < window)
    return vis


class Attention(nn.Module):
    """Multi-head causal self-attention with every option of the graph's attention op.

    Score for query i, key j, head h:  s_ij = softcap(scale * (c_ih q_i) . k_j) + m_h (j - i),
    p_i = normaliser(s_i over visible keys), o_i = sum_j p_ij v_j, out = W_o o."""

    def __init__(self, cfg, layer_idx=0, names="hf", normalizer="softmax", alpha=1.0,
                 scale=None, softcap=None, window=None, rope=None, slopes=None,
                 query_scale=None):
        super().__init__()
        self.cfg = cfg
        self.layer_idx = layer_idx
        H, Hk, d, D = (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim,
                       cfg.hidden_size)
        self.H, self.Hk, self.d = H, Hk, d
        self.names = names
        if names == "hf":
            self.q_proj = nn.Linear(D, H * d, bias=False)
            self.k_proj = nn.Linear(D, Hk * d, bias=False)
            self.v_proj = nn.Linear(D, Hk * d, bias=False)
            self.o_proj = nn.Linear(H * d, D, bias=False)
        else:  # torchtitan
            self.wq = nn.Linear(D, H * d, bias=False)
            self.wk = nn.Linear(D, Hk * d, bias=False)
            self.wv = nn.Linear(D, Hk * d, bias=False)
            self.wo = nn.Linear(H * d, D, bias=False)
        self.normalizer = normalizer          # softmax entmax adaptive_softmax stickbreaking topk
        self.alpha = alpha
        self.scale = scale if scale is not None else 1.0 / math.sqrt(d)
        self.softcap = softcap
        self.window = window
        self.rope = rope                      # None, ("neox", theta), ("interleaved", theta)
        self.slopes = slopes                  # None or list of H floats
        self.query_scale = query_scale        # None, "asentmax", "ssmax", "learn"
        self.topk = cfg.topk_size
        self.topk_div2 = cfg.topk_length_rule == "div-2"
        self.record = False                   # keep the last attention weights (fixtures)
        self.last_weights = None
        self.last_visible = None
        if query_scale:
            self.scaled_heads = H - cfg.alibi_num_heads if cfg.apply_nape else H
            hs = self.scaled_heads
            if query_scale == "asentmax":
                bias = bool(cfg.attn_scale_proj_bias)
                self.attn_scale_beta_proj = nn.Linear(D, hs, bias=bias)
                self.attn_scale_gamma_proj = nn.Linear(D, hs, bias=bias)
            elif query_scale == "ssmax":
                self.attn_scale_beta = nn.Parameter(torch.empty(1, hs, 1, 1).normal_(1.0, 0.01))
            elif query_scale == "learn":
                self.attn_scale_beta = nn.Parameter(torch.empty(1, hs, 1, 1).uniform_(0.1, 1.0))
                self.attn_scale_gamma = nn.Parameter(torch.empty(1, hs, 1, 1).normal_(0.0, 0.1))
            else:
                raise ValueError("unknown query scaling %r" % query_scale)

    def projections(self):
        if self.names == "hf":
            return self.q_proj, self.k_proj, self.v_proj, self.o_proj
        return self.wq, self.wk, self.wv, self.wo

    def query_scale_factors(self, h, positions):
        """[B or 1, Hs, L, 1] factors for the last scaled_heads heads."""
        cfg = self.cfg
        ell = log_position(positions)
        if self.query_scale == "asentmax":
            return asentmax_scale(h, self.attn_scale_beta_proj, self.attn_scale_gamma_proj, ell,
                                  cfg.attn_scale_delta, cfg.attn_scale_gamma_range)
        if self.query_scale == "ssmax":
            return ssmax_scale(self.attn_scale_beta, ell)
        return learn_scale(self.attn_scale_beta, self.attn_scale_gamma, ell, cfg.attn_scale_delta)

    def normalize(self, s, visible):
        """Attention weights from scores s [B, H, L, L] (float32) and visible [L, L]."""
        if self.normalizer == "stickbreaking":
            earlier = visible & ~torch.eye(visible.shape[0], dtype=torch.bool,
                                           device=visible.device)
            return stick_breaking_weights(s, earlier)
        z = s.masked_fill(~visible, float("-inf"))
        if self.normalizer == "softmax":
            return softmax(z)
        if self.normalizer == "entmax":
            return entmax(z, self.alpha)
        if self.normalizer == "sparsemax":
            return sparsemax(z)
        if self.normalizer == "adaptive_softmax":
            return adaptive_temperature_softmax(z)
        if self.normalizer == "topk":
            k = self.topk
            if self.topk_div2:
                # per row: k = max(topk, visible/2); rows differ, so do it per distinct k
                nvis = visible.sum(-1)
                ks = torch.clamp(nvis // 2, min=self.topk)
                out = torch.zeros_like(z)
                for kk in torch.unique(ks).tolist():   # distinct k values, not positions
                    rows = ks == kk
                    out[..., rows, :] = topk_softmax(z[..., rows, :], kk)
                return out
            return topk_softmax(z, k)
        raise ValueError("unknown normalizer %r" % self.normalizer)

    def forward(self, x, positions):
        B, L, _ = x.shape
        H, Hk, d = self.H, self.Hk, self.d
        wq, wk, wv, wo = self.projections()
        q = wq(x).view(B, L, H, d).transpose(1, 2)
        k = wk(x).view(B, L, Hk, d).transpose(1, 2)
        v = wv(x).view(B, L, Hk, d).transpose(1, 2)
        if self.rope is not None:
            style, theta = self.rope
            f = rope_neox if style == "neox" else rope_interleaved
            q, k = f(q, positions, theta), f(k, positions, theta)
        k, v = repeat_kv(k, H // Hk), repeat_kv(v, H // Hk)
        if self.query_scale:
            hs = self.scaled_heads
            c = self.query_scale_factors(x, positions).to(q.dtype)
            q = torch.cat([q[:, : H - hs], q[:, H - hs:] * c], dim=1)
        s = torch.matmul(q.float(), k.float().transpose(-1, -2)) * self.scale
        if self.softcap:
            s = self.softcap * torch.tanh(s / self.softcap)
        if self.slopes is not None:
            s = s + alibi_bias(self.slopes, positions)[None]
        visible = causal_visibility(positions, self.window)
        p = self.normalize(s, visible)
        if self.record:
            self.last_weights = p.detach()
            self.last_visible = visible
        o = torch.matmul(p.to(v.dtype), v)
        o = o.transpose(1, 2).reshape(B, L, H * d)
        return wo(o)


# --------------------------------------------------------------------------------------------
# MLPs
# --------------------------------------------------------------------------------------------


class GatedMLP(nn.Module):
    """down(act(gate(x)) * up(x)); act silu (Llama SwiGLU) or tanh GELU (Gemma GeGLU)."""

    def __init__(self, D, I, act, names="hf"):
        super().__init__()
        self.act = F.silu if act == "silu" else gelu_tanh
        self.names = names
        if names == "hf":
            self.gate_proj = nn.Linear(D, I, bias=False)
            self.up_proj = nn.Linear(D, I, bias=False)
            self.down_proj = nn.Linear(I, D, bias=False)
        else:  # torchtitan: w1 = gate, w3 = up, w2 = down
            self.w1 = nn.Linear(D, I, bias=False)
            self.w3 = nn.Linear(D, I, bias=False)
            self.w2 = nn.Linear(I, D, bias=False)

    def forward(self, x):
        if self.names == "hf":
            return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))
        return self.w2(self.act(self.w1(x)) * self.w3(x))


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class _CausalLM(nn.Module):
    """Shared bits: positions, attention recording, weight dtype."""

    arch = None

    def attention_modules(self):
        return [m for m in self.modules() if isinstance(m, Attention)]

    def record_attention(self, on=True):
        for a in self.attention_modules():
            a.record = on
            if not on:
                a.last_weights = a.last_visible = None

    @staticmethod
    def _positions(tokens, pos0=0):
        return torch.arange(pos0, pos0 + tokens.shape[1], device=tokens.device)


class _Body(nn.Module):
    """Holds model.embed_tokens / model.layers / model.norm, so names match HF."""


class LlamaDecoderLayer(nn.Module):
    def __init__(self, cfg, i):
        super().__init__()
        self.self_attn = Attention(cfg, i, rope=("neox", cfg.rope_theta))
        self.mlp = GatedMLP(cfg.hidden_size, cfg.intermediate_size, "silu")
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, h, positions):
        h = h + self.self_attn(self.input_layernorm(h), positions)
        return h + self.mlp(self.post_attention_layernorm(h))


class LlamaForCausalLM(_CausalLM):
    """Hugging Face LlamaForCausalLM (no rope scaling, no biases)."""

    arch = "hf-llama"

    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.model = _Body()
        self.model.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.model.layers = nn.ModuleList(LlamaDecoderLayer(cfg, i)
                                          for i in range(cfg.num_hidden_layers))
        self.model.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, tokens, pos0=0):
        positions = self._positions(tokens, pos0)
        h = self.model.embed_tokens(tokens)
        for layer in self.model.layers:
            h = layer(h, positions)
        return self.lm_head(self.model.norm(h)).float()


class Gemma2DecoderLayer(nn.Module):
    def __init__(self, cfg, i, attn):
        super().__init__()
        D = cfg.hidden_size
        self.self_attn = attn
        self.mlp = GatedMLP(D, cfg.intermediate_size, "gelu_tanh")
        self.input_layernorm = RMSNorm(D, cfg.rms_norm_eps, 1.0)
        self.post_attention_layernorm = RMSNorm(D, cfg.rms_norm_eps, 1.0)
        self.pre_feedforward_layernorm = RMSNorm(D, cfg.rms_norm_eps, 1.0)
        self.post_feedforward_layernorm = RMSNorm(D, cfg.rms_norm_eps, 1.0)

    def forward(self, h, positions):
        h = h + self.post_attention_layernorm(self.self_attn(self.input_layernorm(h), positions))
        return h + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(h)))


class Gemma2ForCausalLM(_CausalLM):
    """Hugging Face Gemma2ForCausalLM (eager attention)."""

    arch = "hf-gemma2"

    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        # dtype the weights are stored in: the sqrt(D) embedding scale is rounded to it
        self.weight_dtype = torch.float32
        self.model = _Body()
        self.model.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.model.layers = nn.ModuleList(
            Gemma2DecoderLayer(cfg, i, self.make_attention(cfg, i))
            for i in range(cfg.num_hidden_layers))
        self.model.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, 1.0)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    @staticmethod
    def layer_window(cfg, i):
        """Gemma-2 slides on even layers (0, 2, ...) when sliding_window is set."""
        return cfg.sliding_window if (cfg.sliding_window and i % 2 == 0) else None

    def make_attention(self, cfg, i):
        return Attention(cfg, i, scale=cfg.query_pre_attn_scalar ** -0.5,
                         softcap=cfg.attn_logit_softcapping, window=self.layer_window(cfg, i),
                         rope=("neox", cfg.rope_theta))

    def embed_scale(self):
        """sqrt(hidden_size) rounded to the weight dtype (HF casts it to the activation
        dtype, which is the weight dtype in bf16/f16 runs)."""
        return float(torch.tensor(self.config.hidden_size ** 0.5, dtype=self.weight_dtype))

    def final_softcap(self):
        return self.config.final_logit_softcapping

    def forward(self, tokens, pos0=0):
        positions = self._positions(tokens, pos0)
        h = self.model.embed_tokens(tokens)
        h = h * torch.tensor(self.embed_scale(), dtype=h.dtype, device=h.device)
        for layer in self.model.layers:
            h = layer(h, positions)
        logits = self.lm_head(self.model.norm(h)).float()
        cap = self.final_softcap()
        if cap:
            logits = cap * torch.tanh(logits / cap)
        return logits


def sparse_attention_options(cfg):
    """(normalizer, alpha, rope, slopes, query_scale) of the paper's SparseGemma2Attention."""
    alpha = float(cfg.entmax_alpha)
    if cfg.attn_type in ("stick-break", "stickbreaking"):
        normalizer = "stickbreaking"
    elif cfg.attn_type == "topk":
        normalizer = "topk"
    elif alpha == 1.0:
        normalizer = "adaptive_softmax" if cfg.poly_fit else "softmax"
    elif alpha == 2.0:
        normalizer = "sparsemax"
    elif alpha > 1.0:
        normalizer = "entmax"
    else:
        raise ValueError("entmax_alpha must be >= 1")
    rope = ("neox", cfg.rope_theta) if cfg.apply_rotary else None
    slopes = None
    # stick-breaking uses no ALiBi/NAPE bias
    if normalizer != "stickbreaking":
        if cfg.apply_nape:
            slopes = nape_slopes(cfg.num_attention_heads, cfg.alibi_num_heads,
                                 cfg.alibi_slope_type)
        elif cfg.apply_alibi:
            slopes = press_alibi_slopes(cfg.num_attention_heads)
    qs = {None: None, "adapt-softplus-tanh": "asentmax", "nakanishi": "ssmax",
          "learn": "learn"}[cfg.attn_scale_type]
    return normalizer, alpha, rope, slopes, qs


class SparseGemma2ForCausalLM(Gemma2ForCausalLM):
    """The paper's SparseGemma2ForCausalLM: Gemma-2 layers, no softcapping, no sliding window,
    attention scale 1/sqrt(head_dim), sparse normalisers, query scaling and NAPE/ALiBi/RoPE."""

    arch = "sparse-gemma2"

    def make_attention(self, cfg, i):
        normalizer, alpha, rope, slopes, qs = sparse_attention_options(cfg)
        return Attention(cfg, i, normalizer=normalizer, alpha=alpha, scale=cfg.head_dim ** -0.5,
                         rope=rope, slopes=slopes, query_scale=qs)

    def final_softcap(self):
        return None


class TitanBlock(nn.Module):
    def __init__(self, cfg, i, hidden):
        super().__init__()
        self.attention = Attention(cfg, i, names="titan", rope=("interleaved", cfg.rope_theta))
        self.feed_forward = GatedMLP(cfg.hidden_size, hidden, "silu", names="titan")
        self.attention_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.ffn_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, h, positions):
        h = h + self.attention(self.attention_norm(h), positions)
        return h + self.feed_forward(self.ffn_norm(h))


def titan_ffn_hidden(dim, multiple_of=256, ffn_dim_multiplier=None):
    """torchtitan/Meta FFN width: int(2*4*dim/3), times ffn_dim_multiplier, rounded up to a
    multiple of multiple_of."""
    hidden = int(2 * (4 * dim) / 3)
    if ffn_dim_multiplier is not None:
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def titan_config(params):
    """A Config from a torchtitan/Meta params.json dict."""
    dim, nh = params["dim"], params["n_heads"]
    cfg = Config(vocab_size=params["vocab_size"], hidden_size=dim,
                 num_hidden_layers=params["n_layers"], num_attention_heads=nh,
                 num_key_value_heads=params.get("n_kv_heads") or nh, head_dim=dim // nh,
                 rms_norm_eps=params.get("norm_eps", 1e-5),
                 rope_theta=params.get("rope_theta", 10000.0),
                 intermediate_size=titan_ffn_hidden(dim, params.get("multiple_of", 256),
                                                    params.get("ffn_dim_multiplier")))
    cfg.params = dict(params)
    return cfg


class TorchTitanLlama(_CausalLM):
    """torchtitan Llama-3 Transformer: tok_embeddings, layers.{i}.attention.wq/wk/wv/wo,
    feed_forward.w1/w2/w3, attention_norm, ffn_norm, norm, output (untied)."""

    arch = "torchtitan-llama"

    def __init__(self, params):
        super().__init__()
        cfg = titan_config(params)
        self.config = cfg
        self.params = dict(params)
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(TitanBlock(cfg, i, cfg.intermediate_size)
                                    for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.output = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def forward(self, tokens, pos0=0):
        positions = self._positions(tokens, pos0)
        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h, positions)
        return self.output(self.norm(h)).float()


ARCHS = {
    "hf-llama": LlamaForCausalLM,
    "hf-gemma2": Gemma2ForCausalLM,
    "sparse-gemma2": SparseGemma2ForCausalLM,
    "torchtitan-llama": TorchTitanLlama,
}

# --------------------------------------------------------------------------------------------
# Utilities for fixtures
# --------------------------------------------------------------------------------------------

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


@torch.no_grad()
def round_weights_(model, dtype):
    """Round every floating parameter to `dtype` and back to float32 in place, so a float32
    forward runs on exactly the weights a file of that dtype stores."""
    dt = DTYPES.get(dtype, dtype)
    for p in model.parameters():
        p.copy_(p.to(dt).float())
    if hasattr(model, "weight_dtype"):
        model.weight_dtype = dt
    return model


@torch.no_grad()
def attention_stats(model, tokens):
    """Runs the model and returns (logits, zero_fraction, mean_support): the fraction of
    attention weights that are exactly 0 among the keys each query may attend to (strictly
    earlier keys for stick-breaking), over all layers, heads and rows."""
    model.record_attention(True)
    logits = model(tokens)
    zeros = total = 0
    for a in model.attention_modules():
        vis = a.last_visible
        if a.normalizer == "stickbreaking":
            vis = vis & ~torch.eye(vis.shape[0], dtype=torch.bool, device=vis.device)
        w = a.last_weights[..., vis]
        zeros += int((w == 0).sum())
        total += w.numel()
    model.record_attention(False)
    return logits, (zeros / total if total else 0.0)
