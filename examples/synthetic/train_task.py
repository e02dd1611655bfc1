#!/usr/bin/env python3
"""train_task.py - trains the paper's SparseGemma2 on a synthetic task and saves a real
Lightning checkpoint (keys net.model.*) plus the config.json a converter needs.

Needs torch (2.x with CUDA for real runs; torch 1.13 CPU works for a smoke test) and, for the
checkpoint, lightning (falls back to torch.save of the same dictionary layout without it, and
says so). The model code is the reference implementation, tests/reference/sparsa_ref.py.

Sequence layout (the paper's SourceTargetProcessor): input = (bos src sep  trg eos)[:-1],
targets shifted by one, loss on the target positions only; flip-flop has no sep.

Usage:
  train_task.py DATA_DIR OUT_DIR --variant softmax-rope|asentmax-nape [--minutes 3]
                [--layers 2 --hidden 128 --heads 8 --head-dim 16 --ffn 512] [--lr 1e-3]
"""

import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
import sparsa_ref  # noqa: E402

VARIANTS = {
    "softmax-rope": dict(entmax_alpha=1.0, apply_rotary=True, apply_nape=False,
                         attn_scale_type=None),
    "asentmax-nape": dict(entmax_alpha=1.5, apply_rotary=False, apply_nape=True,
                          attn_scale_type="adapt-softplus-tanh", attn_scale_proj_bias=True),
}


def read_task(data_dir):
    info = dict(line.split() for line in open(os.path.join(data_dir, "task.txt")))
    return info["task"], int(info["max_vocab_id"])


def read_pairs(data_dir, name):
    with open(os.path.join(data_dir, name + ".src")) as fs, \
         open(os.path.join(data_dir, name + ".trg")) as ft:
        return [([int(x) for x in s.split()], [int(x) for x in t.split()])
                for s, t in zip(fs, ft)]


class Specials:
    def __init__(self, M, task):
        self.pad, self.bos, self.eos, self.mask, self.sep = M + 1, M + 2, M + 3, M + 4, M + 5
        self.vocab = M + 6
        self.use_sep = task != "flipflop"

    def source(self, src):
        return [self.bos] + src + ([self.sep] if self.use_sep else [])


def batch(pairs, sp, device):
    """Right-padded inputs and targets (-100 outside the target positions)."""
    seqs, tgts = [], []
    for src, trg in pairs:
        s = sp.source(src)
        full = s + trg + [sp.eos]
        seqs.append(full[:-1])
        tgts.append([-100] * (len(s) - 1) + trg + [sp.eos])
    L = max(len(x) for x in seqs)
    x = torch.full((len(seqs), L), sp.pad, dtype=torch.long)
    y = torch.full((len(seqs), L), -100, dtype=torch.long)
    for i, (a, b) in enumerate(zip(seqs, tgts)):
        x[i, :len(a)] = torch.tensor(a)
        y[i, :len(b)] = torch.tensor(b)
    return x.to(device), y.to(device)


def make_config(args, sp, variant):
    return sparsa_ref.Config(
        vocab_size=sp.vocab, hidden_size=args.hidden, intermediate_size=args.ffn,
        num_hidden_layers=args.layers, num_attention_heads=args.heads,
        num_key_value_heads=args.heads, head_dim=args.head_dim, rms_norm_eps=1e-6,
        rope_theta=10000.0, tie_word_embeddings=False, alibi_num_heads=args.heads // 2,
        alibi_slope_type="linear", attn_scale_delta=1.0, attn_scale_gamma_range=2.0,
        **VARIANTS[variant])


def hf_config(cfg, sp, task, args):
    """A Gemma2Config-style config.json with the paper's sparse-attention keys."""
    keys = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps",
            "rope_theta", "tie_word_embeddings", "entmax_alpha", "apply_rotary", "apply_nape",
            "alibi_num_heads", "alibi_slope_type", "attn_scale_type", "attn_scale_delta",
            "attn_scale_gamma_range", "attn_scale_proj_bias"]
    c = {k: getattr(cfg, k) for k in keys}
    c.update(architectures=["SparseGemma2ForCausalLM"], model_type="gemma2",
             hidden_activation="gelu_pytorch_tanh", max_position_embeddings=131072,
             attn_logit_softcapping=None, final_logit_softcapping=None,
             query_pre_attn_scalar=256, pad_token_id=sp.pad, bos_token_id=sp.bos,
             eos_token_id=sp.eos, sep_token_id=sp.sep if sp.use_sep else None,
             torch_dtype="bfloat16", task=task, generation_multiplier=args.mult,
             train_length=[args.min_len, args.max_len])
    return c


def lr_lambda(args):
    """Linear warm-up, then cosine decay to 0 at max_steps (get_cosine_schedule_with_warmup)."""
    warm = max(1, min(args.warmup, args.max_steps // 10))

    def f(step):
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, args.max_steps - warm)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    return f


def task_loss(model, x, y, vocab):
    logits = model(x)
    return F.cross_entropy(logits.float().reshape(-1, vocab), y.reshape(-1), ignore_index=-100)


class Batches(torch.utils.data.IterableDataset):
    """Endless random batches of training pairs (right-padded, target-only labels)."""

    def __init__(self, data, sp, size, seed):
        self.data, self.sp, self.size, self.seed = data, sp, size, seed

    def __iter__(self):
        rng = random.Random(self.seed)
        while True:
            yield batch(rng.sample(self.data, self.size), self.sp, "cpu")


def setup(args):
    torch.manual_seed(args.seed)
    task, M = read_task(args.data)
    sp = Specials(M, task)
    data = read_pairs(args.data, "train")
    lens = [len(s) for s, _ in data]
    args.min_len, args.max_len = min(lens), max(lens)
    cfg = make_config(args, sp, args.variant)
    return sparsa_ref.SparseGemma2ForCausalLM(cfg), cfg, sp, task, data


def train_lightning(args, L):
    """The paper's way: a LightningModule holding net.model, Trainer.fit, save_checkpoint."""
    model, cfg, sp, task, data = setup(args)
    log = []

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.model = m

    class LitModule(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = Wrapper(model)

        def training_step(self, b, i):
            x, y = b[0][0], b[1][0]
            loss = task_loss(self.net.model, x, y, sp.vocab)
            if i % 100 == 0:
                log.append((i, float(loss)))
                print("step %d  loss %.4f" % log[-1], flush=True)
            return loss

        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.parameters(), lr=args.lr, betas=(0.9, 0.99),
                                    weight_decay=0)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(args))
            return [opt], [{"scheduler": sched, "interval": "step"}]

    lit = LitModule()
    gpu = torch.cuda.is_available()
    trainer = L.Trainer(max_steps=args.max_steps, max_time={"minutes": args.minutes},
                        accelerator="gpu" if gpu else "cpu", devices=1,
                        precision="bf16-mixed" if gpu else "32-true", gradient_clip_val=1.0,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    loader = torch.utils.data.DataLoader(Batches(data, sp, args.batch, args.seed), batch_size=1)
    trainer.fit(lit, loader)
    steps = trainer.global_step
    lit.to(torch.bfloat16)   # the paper's checkpoints hold bf16 weights
    os.makedirs(args.out, exist_ok=True)
    trainer.save_checkpoint(os.path.join(args.out, "last.ckpt"))
    print("saved Lightning checkpoint after %d steps" % steps)
    return cfg, sp, task, steps, log


def train_plain(args):
    """Without Lightning (CPU smoke tests): the same loop, saved in the same layout."""
    model, cfg, sp, task, data = setup(args)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(args))
    batches, log, t0 = iter(Batches(data, sp, args.batch, args.seed)), [], time.time()
    step = 0
    while step < args.max_steps and time.time() - t0 < args.minutes * 60:
        x, y = next(batches)
        loss = task_loss(model, x, y, sp.vocab)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0:
            log.append((step, float(loss)))
        step += 1
    os.makedirs(args.out, exist_ok=True)
    sd = {"net.model." + k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    torch.save({"state_dict": sd, "global_step": step}, os.path.join(args.out, "last.ckpt"))
    print("lightning is not installed: saved the same layout with torch.save")
    return cfg, sp, task, step, log


def save_config(args, cfg, sp, task, steps, log):
    conf = hf_config(cfg, sp, task, args)
    conf["train_steps"] = steps
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(conf, f, indent=1)
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump(log, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--max-steps", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=16)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--mult", type=float, default=2.2, help="generation length multiplier")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    try:
        import lightning
    except ImportError:
        lightning = None
    result = train_lightning(args, lightning) if lightning else train_plain(args)
    save_config(args, *result)


if __name__ == "__main__":
    main()
