#!/usr/bin/env python3
"""Trains and evaluates the four sparsa example language models.

  train_lm.py train VARIANT --tokens DIR --out DIR [--steps N] [--device cuda]
  train_lm.py eval  CKPT_DIR... --tokens DIR --out results.json [--device cpu]
  train_lm.py unigram --tokens DIR --out unigram.json

VARIANT is one of softmax_rope, ssmax_nape, entmax15_nape, asentmax_nape. All four share the
architecture (SparseGemma2: 4 layers, D=196, 6 heads of 32, GeGLU 512, vocabulary 4096,
untied head), the data, the seed, the batch order, the step count and the training length
(256 tokens); only the attention differs:

  softmax_rope    softmax, RoPE (theta 10000) on every head
  ssmax_nape      softmax, NAPE (3 ALiBi heads, slopes 1, 1/2, 1/3 + 3 NoPE heads), SSMax
                  scaling q * log(i+2) * s_h on the NoPE heads
  entmax15_nape   1.5-entmax, NAPE
  asentmax_nape   1.5-entmax, NAPE, ASEntmax scaling q * (1 + softplus(.) * log(i+2)^(2 tanh(.)))
                  on the NoPE heads (projections with bias)

Training: AdamW (betas 0.9/0.99, weight decay 0.1 on matrices), peak lr 2e-3, 200 warm-up
steps then cosine to 10 %, gradient clip 1.0, batch 64 x 256 tokens, bf16 autocast on CUDA
(fp32 master weights). The weights are then rounded to bf16 (the paper's bf16-true
checkpoints hold bf16 tensors) and saved as a Lightning checkpoint (Trainer.save_checkpoint,
keys net.model.*) next to a Hugging Face style config.json.

Evaluation is sparsa's `perplexity --score all --bos none` protocol: the held-out file is one
token stream (encoded once, see encode_tokens.py), cut into non-overlapping windows of L tokens
(a shorter tail is dropped); each window predicts its tokens 1..L-1 from the tokens before them
in the window. fp32 compute on the bf16 weights, TF32 off. Per-window NLL sums are stored so
any prefix of the stream (sparsa's --max-tokens) can be re-scored exactly.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# The model is sparsa's PyTorch reference (tests/reference/sparsa_ref.py); SPARSA_REF may
# point at another folder holding sparsa_ref.py.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("SPARSA_REF", os.path.join(_HERE, "..", "..", "tests",
                                                             "reference")))
import sparsa_ref  # noqa: E402

# Hugging Face Gemma2Config keys (gemma-2-2b defaults where the paper's wrapper keeps them)
# plus the sparse-attention keys of the paper's SparseGemma2. D = 196 so that sqrt(D) = 14 is
# exact in every dtype (HF rounds the embedding scale to the weight dtype).
BASE_CONFIG = dict(
    architectures=["SparseGemma2ForCausalLM"], model_type="gemma2",
    vocab_size=4096, hidden_size=196, intermediate_size=512, num_hidden_layers=4,
    num_attention_heads=6, num_key_value_heads=6, head_dim=32,
    hidden_activation="gelu_pytorch_tanh", hidden_act="gelu_pytorch_tanh",
    max_position_embeddings=131072, rms_norm_eps=1e-6, rope_theta=10000.0,
    attention_bias=False, attention_dropout=0.0, query_pre_attn_scalar=32,
    sliding_window=None, attn_logit_softcapping=None, final_logit_softcapping=None,
    tie_word_embeddings=False, pad_token_id=0, bos_token_id=1, eos_token_id=2,
    initializer_range=0.02, torch_dtype="bfloat16",
    entmax_alpha=1.5, apply_rotary=False, apply_nape=True, alibi_num_heads=3,
    alibi_slope_type="linear", attn_scale_type=None, attn_scale_delta=1.0,
    attn_scale_gamma_range=2.0, attn_scale_proj_bias=True,
)


def make_config(**overrides):
    cfg = dict(BASE_CONFIG)
    cfg.update(overrides)
    return cfg


def build_model(config):
    return sparsa_ref.SparseGemma2ForCausalLM(
        sparsa_ref.Config(**{k: v for k, v in config.items() if not k.startswith("_")}))


def hf_init_(model, std):
    """Hugging Face Gemma-2 _init_weights: normal(0, initializer_range) for linear and
    embedding weights, zero biases; RMSNorm weights stay 0 (scale 1 + w)."""
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.Embedding):
            torch.nn.init.normal_(m.weight, 0.0, std)

TRAIN_LEN = 256
EVAL_LENS = (256, 512, 1024, 2048)
SEED = 12347
HELDOUT = ("sotu", "moby")

VARIANTS = {  # the only differences between the four models
    "softmax_rope": dict(entmax_alpha=1.0, apply_rotary=True, apply_nape=False,
                         attn_scale_type=None),
    "ssmax_nape": dict(entmax_alpha=1.0, apply_rotary=False, apply_nape=True,
                       attn_scale_type="nakanishi"),
    "entmax15_nape": dict(entmax_alpha=1.5, apply_rotary=False, apply_nape=True,
                          attn_scale_type=None),
    "asentmax_nape": dict(entmax_alpha=1.5, apply_rotary=False, apply_nape=True,
                          attn_scale_type="adapt-softplus-tanh", attn_scale_proj_bias=True),
}


def load_tokens(tok_dir, name):
    return torch.from_numpy(np.load(os.path.join(tok_dir, name + ".npy")).astype(np.int64))


def lr_at(step, steps, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


# ---------------------------------------------------------------------------------------------
# checkpoints


def lightning_module_class():
    try:
        import lightning.pytorch as pl
    except ImportError:
        import pytorch_lightning as pl

    class LitLM(pl.LightningModule):
        """The paper's layout: LitModule.net = wrapper, wrapper.model = CausalLM."""

        def __init__(self, config):
            super().__init__()
            self.save_hyperparameters({"net": config})
            self.net = torch.nn.Module()
            self.net.model = build_model(config)

    return pl, LitLM


def save_checkpoint(model, config, path, meta):
    """Lightning checkpoint via Trainer.save_checkpoint when Lightning is there, otherwise
    torch.save of the same layout. Returns the way it was written."""
    sd = {k: v.detach().to(torch.bfloat16).cpu() for k, v in model.state_dict().items()}
    try:
        pl, LitLM = lightning_module_class()
        lit = LitLM(config)
        lit.net.model.load_state_dict(sd)
        lit = lit.to(torch.bfloat16)
        trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, max_steps=meta["steps"])
        trainer.strategy.connect(lit)
        trainer.save_checkpoint(path, weights_only=True)
        return f"lightning {pl.__version__} Trainer.save_checkpoint"
    except Exception as e:  # no Lightning here, or it refused: same layout via torch.save
        print(f"note: Lightning checkpoint not written ({type(e).__name__}: {e}); "
              "using torch.save", file=sys.stderr)
        ckpt = {"state_dict": {"net.model." + k: v for k, v in sd.items()},
                "hyper_parameters": {"net": config}, "epoch": 0,
                "global_step": meta["steps"], "pytorch-lightning_version": None}
        tmp = path + ".tmp"
        torch.save(ckpt, tmp)
        os.replace(tmp, path)
        return f"torch {torch.__version__} torch.save (Lightning layout)"


def load_checkpoint(ckpt_dir):
    with open(os.path.join(ckpt_dir, "config.json")) as f:
        config = json.load(f)
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    # Our own file: a full unpickle is fine (Lightning adds non-tensor entries).
    ckpt = torch.load(os.path.join(ckpt_dir, "model.ckpt"), map_location="cpu",
                      weights_only=False)
    sd = {k[len("net.model."):]: v for k, v in ckpt["state_dict"].items()
          if k.startswith("net.model.")}
    model = build_model(config)
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    return model, config


# ---------------------------------------------------------------------------------------------
# evaluation (sparsa perplexity --score all --bos none)


@torch.no_grad()
def window_nll(model, stream, L, device):
    """Per-window NLL sums over the L-1 targets of each non-overlapping window."""
    n = len(stream) // L
    out = []
    for w in range(n):
        x = stream[w * L:(w + 1) * L].to(device).unsqueeze(0)
        logits = model(x)[0, :-1].float()
        nll = F.cross_entropy(logits, x[0, 1:], reduction="sum", )
        out.append(float(nll.double()))
    return out


def evaluate(model, tok_dir, device):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = model.float().to(device).eval()
    res = []
    for name in HELDOUT:
        stream = load_tokens(tok_dir, name)
        for L in EVAL_LENS:
            w = window_nll(model, stream, L, device)
            tokens = len(w) * (L - 1)
            mean = sum(w) / tokens
            res.append(dict(file=name, ctx=L, windows=len(w), tokens_scored=tokens,
                            mean_nll=mean, ppl=math.exp(mean), window_nll=w))
            print(f"  {name:5s} L={L:5d} windows={len(w):4d} ppl={math.exp(mean):9.3f}",
                  flush=True)
    return res


def unigram(tok_dir, vocab):
    """Add-one unigram model of the training stream, scored on the 1x targets."""
    counts = np.bincount(load_tokens(tok_dir, "train").numpy(), minlength=vocab) + 1.0
    logp = np.log(counts / counts.sum())
    res = {}
    for name in HELDOUT:
        s = load_tokens(tok_dir, name).numpy()
        n = len(s) // TRAIN_LEN
        tgt = s[: n * TRAIN_LEN].reshape(n, TRAIN_LEN)[:, 1:].ravel()
        nll = float(-logp[tgt].mean())
        res[name] = dict(tokens_scored=int(tgt.size), mean_nll=nll, ppl=math.exp(nll))
    return res


# ---------------------------------------------------------------------------------------------
# training


def train(args):
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    device = torch.device(args.device)
    cfg = make_config(**VARIANTS[args.variant])
    model = build_model(cfg)
    hf_init_(model, cfg["initializer_range"])
    model = model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    data = load_tokens(args.tokens, "train").to(device)
    val = load_tokens(args.tokens, "sotu")[: 16 * TRAIN_LEN].view(16, TRAIN_LEN).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "attn_scale" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "attn_scale" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99), eps=1e-8)
    # The batch order depends on the seed only: every variant sees the same windows.
    gen = torch.Generator().manual_seed(SEED)
    amp = device.type == "cuda"
    print(f"{args.variant}: {n_params} parameters, {len(data)} training tokens, "
          f"{args.steps} steps x {args.batch} x {TRAIN_LEN}", flush=True)
    t0 = time.time()
    log = []
    for step in range(args.steps):
        off = torch.randint(0, len(data) - TRAIN_LEN - 1, (args.batch,), generator=gen)
        idx = off.to(device).unsqueeze(1) + torch.arange(TRAIN_LEN + 1, device=device)
        chunk = data[idx]
        x, y = chunk[:, :-1], chunk[:, 1:]
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if args.probe and step == 9:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_probe = time.time()
        if step % args.log_every == 0 or step == args.steps - 1:
            with torch.no_grad(), torch.autocast(device_type=device.type,
                                                 dtype=torch.bfloat16, enabled=amp):
                vl = F.cross_entropy(model(val)[:, :-1].float().reshape(-1, cfg["vocab_size"]),
                                     val[:, 1:].reshape(-1))
            el = time.time() - t0
            rec = dict(step=step, loss=float(loss), val_sotu=float(vl), gnorm=float(gnorm),
                       seconds=round(el, 1))
            log.append(rec)
            print(f"{args.variant} step {step:5d} loss {float(loss):.4f} "
                  f"val {float(vl):.4f} |g| {float(gnorm):.2f} "
                  f"{(step + 1) * args.batch * TRAIN_LEN / max(el, 1e-9) / 1e3:.0f}k tok/s",
                  flush=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    train_s = time.time() - t0
    if args.probe:
        print(f"probe seconds/step {(time.time() - t_probe) / (args.steps - 10):.5f}")
        return

    os.makedirs(args.out, exist_ok=True)
    config = dict(cfg)
    config["_sparsa_example"] = dict(
        variant=args.variant, train_len=TRAIN_LEN, steps=args.steps, batch=args.batch,
        lr=args.lr, warmup=args.warmup, weight_decay=args.wd, seed=SEED,
        train_seconds=round(train_s, 1), parameters=n_params, torch=torch.__version__,
        device=torch.cuda.get_device_name() if amp else "cpu",
        data="State of the Union 1790-2000 (CC0) + King James Bible (public domain)")
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    how = save_checkpoint(model, cfg, os.path.join(args.out, "model.ckpt"),
                          dict(steps=args.steps))
    config["_sparsa_example"]["checkpoint"] = how
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump(log, f)
    print(f"{args.variant}: trained in {train_s:.0f} s, checkpoint: {how}", flush=True)

    # Evaluate what was saved: the bf16 checkpoint, reloaded, in fp32.
    model, _ = load_checkpoint(args.out)
    res = evaluate(model, args.tokens, device)
    with open(os.path.join(args.out, "eval.json"), "w") as f:
        json.dump(dict(variant=args.variant, device=str(device), results=res), f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("variant", choices=sorted(VARIANTS))
    t.add_argument("--tokens", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--warmup", type=int, default=200)
    t.add_argument("--wd", type=float, default=0.1)
    t.add_argument("--log-every", type=int, default=250)
    t.add_argument("--probe", action="store_true", help="time the steps only; save nothing")
    t.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    e = sub.add_parser("eval")
    e.add_argument("ckpt_dirs", nargs="+")
    e.add_argument("--tokens", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--device", default="cpu")
    e.add_argument("--threads", type=int, default=0)
    u = sub.add_parser("unigram")
    u.add_argument("--tokens", required=True)
    u.add_argument("--out", required=True)
    args = ap.parse_args()

    if args.cmd == "train":
        train(args)
    elif args.cmd == "eval":
        if args.threads:
            torch.set_num_threads(args.threads)
        allres = {}
        for d in args.ckpt_dirs:
            model, config = load_checkpoint(d)
            name = config.get("_sparsa_example", {}).get("variant", os.path.basename(d))
            print(name, flush=True)
            allres[name] = evaluate(model, args.tokens, torch.device(args.device))
        with open(args.out, "w") as f:
            json.dump(dict(protocol="score all, bos none, non-overlapping windows",
                           results=allres), f)
    else:
        with open(args.out, "w") as f:
            json.dump(unigram(args.tokens, make_config()["vocab_size"]), f, indent=1)


if __name__ == "__main__":
    main()
