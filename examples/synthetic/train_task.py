#!/usr/bin/env python3
"""train_task.py - trains the paper's SparseGemma2 on synthetic tasks: several attention
variants (and several tasks) at once, in one process on one GPU, resumable, and saves a real
Lightning checkpoint (`Trainer.save_checkpoint`, keys net.model.*) plus the config.json that
`sparsa convert` needs for every model.

Needs torch 2.x with CUDA and lightning for real runs (torch 1.13 on a CPU runs a smoke test;
without lightning the same dictionary layout is written with torch.save, and it says so). The
model code is the PyTorch reference, tests/reference/sparsa_ref.py.

Sequence layout (the paper's SourceTargetProcessor): input = (bos src sep trg eos)[:-1],
targets shifted by one, loss on the target positions only; flip-flop has no sep. Batches are
right-padded to the longest training sequence (fixed shapes, so the compiled graph is reused;
causal attention makes the padding invisible to the real positions).

Every variant of a task sees the same batches (one shuffled order of the training file per
epoch, seeded) and starts from the same seed. bf16 autocast with fp32 master weights, fused
AdamW (betas 0.9/0.99, no weight decay), gradient clip 1.0 per model, linear warm-up then
cosine decay to 0 at the task's step count: --max-steps, or with --plan TASK the count that
fits in the rest of this run (--minutes, less --reserve) at the step rate measured over the first
steps (plus TASK=SECONDS at the rate of that task alone, for a schedule spread over a later
run). The count is stored in the state, so a resumed run keeps the same schedule;
--continue-lr adds a new warm-up and cosine stage after a finished schedule.

Resumable: OUT_DIR/state/<task>-<variant>.pt (6.4 MB at D = 128) holds the model (fp32), the
optimiser, the schedule position, the data position and the RNG states; a later run with
--resume continues exactly.
Each run stops after --minutes (a whole budget can be spread over several runs), saves the
state, and writes OUT_DIR/<task>-<variant>/{last.ckpt,config.json,train_log.json}.

Usage:
  train_task.py OUT_DIR --task copy=DATA_DIR [--task flipflop=DATA_DIR ...]
                [--variants softmax-rope,asentmax-nape,ssmax-nape] [--batch 256] [--lr 1e-3]
                [--warmup 1000] (--max-steps N | --plan TASK[=SECONDS] ...) [--minutes M]
                [--resume [--continue-lr LR]] [--compile] [--monitor TASK=DIR ...]
"""

import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
import sparsa_ref  # noqa: E402

VARIANTS = {
    "softmax-rope": dict(entmax_alpha=1.0, apply_rotary=True, apply_nape=False,
                         attn_scale_type=None, attn_scale_proj_bias=False),
    "asentmax-nape": dict(entmax_alpha=1.5, apply_rotary=False, apply_nape=True,
                          attn_scale_type="adapt-softplus-tanh", attn_scale_proj_bias=True),
    "ssmax-nape": dict(entmax_alpha=1.0, apply_rotary=False, apply_nape=True,
                       attn_scale_type="nakanishi", attn_scale_proj_bias=False),
    "entmax-nape": dict(entmax_alpha=1.5, apply_rotary=False, apply_nape=True,
                        attn_scale_type=None, attn_scale_proj_bias=False),
}

# Model sizes per task (the paper's layouts, narrowed to D = 128 so that a model with its
# optimiser state stays a few MB); mult is the generation-length multiplier of the paper.
ARCH = {
    "copy": dict(layers=2, hidden=128, heads=8, head_dim=16, ffn=512, mult=2.2),
    "sort": dict(layers=2, hidden=128, heads=8, head_dim=16, ffn=512, mult=2.1),
    "reverse": dict(layers=4, hidden=128, heads=8, head_dim=16, ffn=512, mult=2.2),
    "mqmtar": dict(layers=4, hidden=128, heads=8, head_dim=16, ffn=512, mult=2.2),
    "flipflop": dict(layers=2, hidden=128, heads=8, head_dim=16, ffn=512, mult=1.2),
}


class Specials:
    def __init__(self, M, task):
        self.pad, self.bos, self.eos, self.mask, self.sep = M + 1, M + 2, M + 3, M + 4, M + 5
        self.vocab = M + 6
        self.use_sep = task != "flipflop"

    def source(self, src):
        return [self.bos] + src + ([self.sep] if self.use_sep else [])


def read_task(data_dir):
    info = dict(line.split() for line in open(os.path.join(data_dir, "task.txt")))
    return info["task"], int(info["max_vocab_id"])


def read_ids(path):
    """All ids of a file (flat int64) and the number per line."""
    with open(path) as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lens = np.array([ln.count(" ") + 1 if ln else 0 for ln in lines], dtype=np.int64)
    try:
        flat = np.fromstring(text, dtype=np.int64, sep=" ")
    except Exception:  # a NumPy without text-mode fromstring
        flat = np.zeros(0, np.int64)
    if flat.size != lens.sum():
        flat = np.array([int(t) for t in text.split()], dtype=np.int64)
    return flat, lens


def pack(data_dir, name, sp):
    """Sequences bos src [sep] trg eos, right-padded: (full [N, T], source length, full length)."""
    s, ls = read_ids(os.path.join(data_dir, name + ".src"))
    t, lt = read_ids(os.path.join(data_dir, name + ".trg"))
    assert len(ls) == len(lt), "src and trg differ in sample count"
    N = len(ls)
    slen = 1 + ls + int(sp.use_sep)
    flen = slen + lt + 1
    T = int(flen.max())
    full = np.full((N, T), sp.pad, dtype=np.uint8 if sp.vocab <= 256 else np.int16)
    full[:, 0] = sp.bos
    rows = np.repeat(np.arange(N), ls)
    cols = 1 + np.arange(len(s)) - np.repeat(np.cumsum(ls) - ls, ls)
    full[rows, cols] = s
    if sp.use_sep:
        full[np.arange(N), 1 + ls] = sp.sep
    rows = np.repeat(np.arange(N), lt)
    cols = np.repeat(slen, lt) + np.arange(len(t)) - np.repeat(np.cumsum(lt) - lt, lt)
    full[rows, cols] = t
    full[np.arange(N), flen - 1] = sp.eos
    return full, slen, flen


def inputs_labels(full, slen, flen):
    """Model inputs and labels (-100 outside the target positions) of packed rows (torch)."""
    full = full.long()
    x, y = full[:, :-1], full[:, 1:]
    p = torch.arange(x.shape[1], device=x.device)[None]
    target = (p >= slen[:, None] - 1) & (p < flen[:, None] - 1)
    return x, torch.where(target, y, torch.full_like(y, -100))


def make_config(task, variant, sp):
    a = ARCH[task]
    return sparsa_ref.Config(
        vocab_size=sp.vocab, hidden_size=a["hidden"], intermediate_size=a["ffn"],
        num_hidden_layers=a["layers"], num_attention_heads=a["heads"],
        num_key_value_heads=a["heads"], head_dim=a["head_dim"], rms_norm_eps=1e-6,
        rope_theta=10000.0, tie_word_embeddings=False, alibi_num_heads=a["heads"] // 2,
        alibi_slope_type="linear", attn_scale_delta=1.0, attn_scale_gamma_range=2.0,
        **VARIANTS[variant])


def hf_config(cfg, sp, task, train_len):
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
             torch_dtype="bfloat16", task=task, generation_multiplier=ARCH[task]["mult"],
             train_length=list(train_len))
    return c


def lr_factor(step, warmup, max_steps):
    """Linear warm-up, then cosine decay to 0 at max_steps (get_cosine_schedule_with_warmup)."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, max_steps - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def lr_at(t, step, args):
    """The learning rate of a task's step: the first schedule (--lr, --warmup, cosine to 0 at
    the first max_steps), or, after a --continue-lr run, that run's schedule (its own short
    warm-up and cosine to 0 at the new max_steps)."""
    for start, peak, warm in reversed(t.get("stages", [])):
        if step >= start:
            return peak * lr_factor(step - start, warm, (t["max_steps"] or 1) - start)
    return args.lr * lr_factor(step, args.warmup, t["max_steps"] or 1)


class LossOf(torch.nn.Module):
    """Target-only cross-entropy of a model, under bf16 autocast on a GPU."""

    def __init__(self, model, vocab, autocast):
        super().__init__()
        self.model, self.vocab, self.autocast = model, vocab, autocast

    def forward(self, x, y):
        if self.autocast:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = self.model(x)
        else:
            logits = self.model(x)
        return F.cross_entropy(logits.float().reshape(-1, self.vocab), y.reshape(-1),
                               ignore_index=-100)


class TaskData:
    """The packed training file of one task on the device, and its shuffled order."""

    def __init__(self, task, data_dir, device, seed):
        self.task, self.dir = task, data_dir
        t, M = read_task(data_dir)
        assert t == task, "%s holds %s data, not %s" % (data_dir, t, task)
        self.sp = Specials(M, task)
        full, slen, flen = pack(data_dir, "train", self.sp)
        self.n = len(full)
        src_lens = slen - 1 - int(self.sp.use_sep)
        self.train_len = (int(src_lens.min()), int(src_lens.max()))
        self.flen_np = flen
        self.full = torch.from_numpy(full).to(device)
        self.slen = torch.from_numpy(slen).to(device)
        self.flen = torch.from_numpy(flen).to(device)
        self.seed, self.device = seed, device
        self.epoch, self.pos, self.perm = 0, 0, None

    def order(self):
        g = torch.Generator().manual_seed(self.seed * 1000003 + self.epoch)
        return torch.randperm(self.n, generator=g)

    def next(self, B):
        if self.perm is None:
            self.perm = self.order()
        if self.pos + B > self.n:
            self.epoch, self.pos = self.epoch + 1, 0
            self.perm = self.order()
        idx = self.perm[self.pos:self.pos + B]
        self.pos += B
        tokens = int(self.flen_np[idx.numpy()].sum()) - B
        idx = idx.to(self.device, non_blocking=True)
        x, y = inputs_labels(self.full[idx], self.slen[idx], self.flen[idx])
        return x, y, tokens

    def state(self):
        return {"epoch": self.epoch, "pos": self.pos}

    def restore(self, st):
        self.epoch, self.pos, self.perm = st["epoch"], st["pos"], None


class Run:
    """One model: its network, optimiser, schedule and log."""

    def __init__(self, task, variant, data, args, device):
        self.task, self.variant, self.name = task, variant, "%s-%s" % (task, variant)
        self.sp = data.sp
        self.cfg = make_config(task, variant, data.sp)
        torch.manual_seed(args.seed)          # the same initial seed for every variant
        self.model = sparsa_ref.SparseGemma2ForCausalLM(self.cfg).to(device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        fused = device.type == "cuda"
        kw = {"fused": True} if fused else {}
        self.opt = torch.optim.AdamW(self.params, lr=args.lr, betas=(0.9, 0.99),
                                     weight_decay=0.0, **kw)
        self.loss_fn = LossOf(self.model, data.sp.vocab, device.type == "cuda")
        self.step_fn = self.loss_fn
        self.compiled = False
        self.loss_sum = torch.zeros((), device=device)
        self.loss_n = 0
        self.log = []          # [step, mean loss over the interval, lr, tokens, seconds]
        self.monitor = []      # [step, {set: accuracy}]

    def state(self):
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "log": self.log, "monitor": self.monitor}

    def restore(self, st):
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        self.log, self.monitor = st["log"], st.get("monitor", [])


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_states(runs, datas, g, ts, out):
    d = os.path.join(out, "state")
    os.makedirs(d, exist_ok=True)
    rng = {"cpu": torch.get_rng_state(),
           "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    for r in runs:
        save_atomic({"run": r.state(), "global": g, "task": ts[r.task],
                     "data": datas[r.task].state(), "rng": rng},
                    os.path.join(d, r.name + ".pt"))


def load_states(runs, datas, out):
    g, ts = None, {}
    for r in runs:
        st = torch.load(os.path.join(out, "state", r.name + ".pt"), map_location="cpu",
                        weights_only=False)
        r.restore(st["run"])
        datas[r.task].restore(st["data"])
        if r.task in ts:
            assert ts[r.task]["step"] == st["task"]["step"], "states of different steps"
        ts[r.task] = st["task"]
        g = st["global"]
        torch.set_rng_state(st["rng"]["cpu"])
        if st["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["rng"]["cuda"])
    return g, ts


def save_lightning(model, path):
    """A real Lightning checkpoint of model (bf16 weights, as the paper's) under net.model."""
    m = copy.deepcopy(model).to("cpu", torch.bfloat16)
    try:
        import lightning as L
    except ImportError:
        torch.save({"state_dict": {"net.model." + k: v for k, v in m.state_dict().items()}},
                   path)
        return "torch.save (lightning is not installed)"

    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.model = inner

    class LitModule(L.LightningModule):
        def __init__(self, inner):
            super().__init__()
            self.net = Wrapper(inner)

        def training_step(self, batch, i):
            return None

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.0)

    lit = LitModule(m)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    try:
        trainer.strategy.connect(lit)
        trainer.save_checkpoint(path, weights_only=True)
        return "lightning %s Trainer.save_checkpoint" % L.__version__
    except Exception as e:  # an older Lightning: attach the module through a zero-step fit
        print("connect + save_checkpoint failed (%r): zero-step fit" % e, flush=True)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, max_steps=0)
    trainer.fit(lit, torch.utils.data.DataLoader([torch.zeros(1)]))
    trainer.save_checkpoint(path, weights_only=True)
    return "lightning %s Trainer.fit(max_steps=0) + save_checkpoint" % L.__version__


@torch.no_grad()
def exact_match(model, data_dir, name, sp, limit, batch):
    """Greedy exact-match accuracy from one teacher-forced fp32 forward: greedy decoding
    reproduces the target (then eos) exactly when the argmax at every target position is
    the target token, so the count equals the generated one (up to ties)."""
    full, slen, flen = pack(data_dir, name, sp)
    full, slen, flen = full[:limit], slen[:limit], flen[:limit]
    dev = next(model.parameters()).device
    ok = 0
    for b in range(0, len(full), batch):
        f = torch.from_numpy(full[b:b + batch]).to(dev)
        x, y = inputs_labels(f, torch.from_numpy(slen[b:b + batch]).to(dev),
                             torch.from_numpy(flen[b:b + batch]).to(dev))
        pred = model(x).argmax(-1)
        good = (pred == y) | (y == -100)
        ok += int(good.all(-1).sum())
    return ok / max(1, len(full))


def monitor(runs, mon_dirs, ts, limit_for):
    """Validation exact match of every model at the validation lengths (not used to choose
    anything: training length, steps and schedule are fixed before)."""
    if not mon_dirs:
        return
    was = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    for r in runs:
        d = mon_dirs.get(r.task)
        if not d:
            continue
        names = sorted((n[:-4] for n in os.listdir(d)
                        if n.startswith("validation_") and n.endswith(".src")),
                       key=lambda n: int(n.split("_")[1]))
        step = ts[r.task]["step"]
        if r.monitor and r.monitor[-1][0] == step:
            continue
        r.model.eval()
        res = {}
        for n in names:
            length = int(n.split("_")[2])
            lim, bs = limit_for(r.task, length)
            if lim:
                res[n] = exact_match(r.model, d, n, r.sp, lim, bs)
        r.model.train()
        r.monitor.append([step, res])
        print("monitor step %d %s %s" % (step, r.name, json.dumps(res)), flush=True)
    torch.backends.cuda.matmul.allow_tf32 = was


def export(runs, datas, g, ts, out):
    for r in runs:
        d = os.path.join(out, r.name)
        os.makedirs(d, exist_ok=True)
        try:
            how = save_lightning(r.model, os.path.join(d, "last.ckpt"))
        except Exception as e:
            print("%s: the Lightning checkpoint failed (%r)" % (r.name, e), flush=True)
            m = copy.deepcopy(r.model).to("cpu", torch.bfloat16)
            torch.save({"state_dict": {"net.model." + k: v for k, v in m.state_dict().items()}},
                       os.path.join(d, "last.ckpt"))
            how = "torch.save"
        t = ts[r.task]
        conf = hf_config(r.cfg, r.sp, r.task, datas[r.task].train_len)
        conf.update(train_steps=t["step"], train_max_steps=t["max_steps"])
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(conf, f, indent=1)
        with open(os.path.join(d, "train_log.json"), "w") as f:
            json.dump({"columns": ["step", "mean_loss", "lr", "tokens", "seconds"],
                       "log": r.log, "monitor": r.monitor, "checkpoint": how,
                       "batch": g["batch"], "lr": g["lr"], "warmup": g["warmup"],
                       "runs": g["runs"], "max_steps": t["max_steps"], "steps": t["step"],
                       "seconds": round(t["seconds"], 1), "tokens": t["tokens"],
                       "train_samples": datas[r.task].n, "epoch": datas[r.task].epoch}, f)
        print("exported %s at step %d of %d (%s)" % (r.name, t["step"], t["max_steps"], how),
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--task", action="append", required=True, help="TASK=DATA_DIR")
    ap.add_argument("--monitor", action="append", default=[],
                    help="TASK=DIR with validation_* sets (exact match logged at each save)")
    ap.add_argument("--variants", default="softmax-rope,asentmax-nape,ssmax-nape")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--max-steps", type=int, default=0, help="steps of every task")
    ap.add_argument("--plan", action="append", default=[],
                    help="TASK[=LATER_SECONDS]: fix the task's step count from the step rate "
                    "measured after compilation: what fits in the rest of this run, plus "
                    "LATER_SECONDS at the rate of this task alone (for a resumed run)")
    ap.add_argument("--minutes", type=float, default=5.0, help="wall-clock limit of this run")
    ap.add_argument("--reserve", type=float, default=90.0,
                    help="seconds kept at the end for saving, exporting and monitoring")
    ap.add_argument("--save-every", type=float, default=3.0, help="minutes between saves")
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--continue-lr", type=float, default=0,
                    help="with --resume and --plan, tasks whose schedule has ended train on: a "
                    "new stage of --continue-warmup steps up to this rate, then cosine to 0")
    ap.add_argument("--continue-warmup", type=int, default=100)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    t_start = time.time()
    deadline = t_start + args.minutes * 60
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    tasks = dict(t.split("=", 1) for t in args.task)
    mon_dirs = dict(t.split("=", 1) for t in args.monitor)
    datas = {t: TaskData(t, d, device, args.seed) for t, d in tasks.items()}
    for t, dt in datas.items():
        print("%s: %d training samples, source lengths %d..%d, %d positions" %
              (t, dt.n, dt.train_len[0], dt.train_len[1], dt.full.shape[1] - 1), flush=True)
    runs = [Run(t, v, datas[t], args, device) for t in tasks for v in args.variants.split(",")]
    g = {"batch": args.batch, "lr": args.lr, "warmup": args.warmup, "runs": 0}
    ts = {t: {"step": 0, "max_steps": args.max_steps, "tokens": 0, "seconds": 0.0}
          for t in tasks}
    if args.resume:
        g, ts = load_states(runs, datas, args.out)
        for t in tasks:
            print("%s: resumed at step %d of %d" % (t, ts[t]["step"], ts[t]["max_steps"]),
                  flush=True)
        for k in ("batch", "lr", "warmup"):
            assert g[k] == getattr(args, k), "--%s differs from the saved run" % k
    g["runs"] += 1
    plan = dict((p.split("=") + ["0"])[:2] for p in args.plan)
    if args.compile and device.type == "cuda":
        for r in runs:
            r.step_fn = torch.compile(r.loss_fn, dynamic=False)
            r.compiled = True

    def limit_for(task, length):
        """(samples, batch) of a validation set: its sources have length tokens (pairs for
        flip-flop); the longest sets are left out (memory of the O(L^2) reference)."""
        n_tok = 2 * length if task == "flipflop" else length
        if n_tok <= 300:
            return 100, 50
        if n_tok <= 1100:
            return 100, 10
        if n_tok <= 4100:
            return 20, 1
        return 0, 1

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def one_step(active):
        batches = {t: datas[t].next(args.batch) for t in active}
        for r in runs:
            if r.task not in batches:
                continue
            t = ts[r.task]
            for grp in r.opt.param_groups:
                grp["lr"] = lr_at(t, t["step"], args)
            x, y, _ = batches[r.task]
            try:
                loss = r.step_fn(x, y)
            except Exception as e:  # a graph the compiler cannot take: run it eagerly
                if not r.compiled:
                    raise
                print("%s: compilation failed (%r), eager from now on" % (r.name, e),
                      flush=True)
                r.step_fn, r.compiled = r.loss_fn, False
                r.opt.zero_grad(set_to_none=True)
                loss = r.step_fn(x, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(r.params, 1.0)
            r.opt.step()
            r.opt.zero_grad(set_to_none=True)
            r.loss_sum += loss.detach()
            r.loss_n += 1
        for t, b in batches.items():
            ts[t]["tokens"] += b[2]
            ts[t]["step"] += 1

    def flush_log(tasks_now):
        for r in runs:
            if r.loss_n and r.task in tasks_now:
                t = ts[r.task]
                r.log.append([t["step"], float(r.loss_sum) / r.loss_n,
                              lr_at(t, t["step"] - 1, args),
                              t["tokens"], round(t["seconds"], 1)])
                r.loss_sum.zero_()
                r.loss_n = 0
        print("  ".join("%s %d: %s" % (t, ts[t]["step"], " ".join(
            "%.4f" % r.log[-1][1] for r in runs if r.task == t and r.log))
            for t in tasks_now) + "  (%.0f s)" % (time.time() - t_start), flush=True)

    def timed(active, n):
        sync()
        t0 = time.time()
        for _ in range(n):
            one_step(active)
        sync()
        dt = time.time() - t0
        for t in active:
            ts[t]["seconds"] += dt
        return n / dt

    # compilation and, for --plan, the measured step rates
    if plan:
        for t in plan:
            if args.continue_lr and ts[t]["step"] and ts[t]["step"] >= ts[t]["max_steps"]:
                ts[t].setdefault("stages", []).append(
                    [ts[t]["step"], args.continue_lr, args.continue_warmup])
                print("%s: a new stage from step %d, lr %g" %
                      (t, ts[t]["step"], args.continue_lr), flush=True)
            ts[t]["max_steps"] = 10 ** 9   # warm-up steps only so far: cosine not reached
        active = [t for t in tasks if ts[t]["step"] < ts[t]["max_steps"]]
        timed(active, 20)
        rate_all = timed(active, 50)
        alone = {}
        for t in plan:
            if float(plan[t]) > 0:
                alone[t] = rate_all if len(active) == 1 else timed([t], 50)
        t_mon = time.time()
        monitor(runs, mon_dirs, ts, limit_for)    # the first point of the accuracy curves
        t_mon = time.time() - t_mon
        left = deadline - args.reserve - time.time()
        left -= t_mon * math.floor(left / (args.save_every * 60))  # the later monitors
        for t in plan:
            ts[t]["max_steps"] = int(ts[t]["step"] + 0.95 * left * rate_all +
                                     float(plan[t]) * alone.get(t, 0))
            print("%s: %.2f steps/s with all tasks, %.2f alone, %.0f s left: max_steps %d" %
                  (t, rate_all, alone.get(t, rate_all), left, ts[t]["max_steps"]), flush=True)
            assert ts[t]["max_steps"] > args.warmup, "plan too short for the warm-up"
    for t in tasks:
        assert ts[t]["max_steps"] > 0, "give --max-steps or --plan for %s" % t
    last_save, stopped = time.time(), False
    while not stopped:
        active = [t for t in tasks if ts[t]["step"] < ts[t]["max_steps"]]
        if not active:
            break
        n = min(args.log_every - ts[active[0]]["step"] % args.log_every,
                min(ts[t]["max_steps"] - ts[t]["step"] for t in active))
        timed(active, n)
        flush_log(active)
        if time.time() + args.reserve > deadline:
            print("stopping for the wall-clock limit", flush=True)
            stopped = True
        elif time.time() - last_save > args.save_every * 60:
            monitor(runs, mon_dirs, ts, limit_for)
            save_states(runs, datas, g, ts, args.out)
            last_save = time.time()
    monitor(runs, mon_dirs, ts, limit_for)
    save_states(runs, datas, g, ts, args.out)
    export(runs, datas, g, ts, args.out)
    for t in tasks:
        print("done %s: step %d of %d, %.0f s of training in all, %d tokens" %
              (t, ts[t]["step"], ts[t]["max_steps"], ts[t]["seconds"], ts[t]["tokens"]),
              flush=True)
    print("this run: %.0f s" % (time.time() - t_start), flush=True)


if __name__ == "__main__":
    main()
