#!/usr/bin/env python3
"""eval_table.py - the extrapolation table of the synthetic-task models, computed by
`sparsa eval-task`, and its plot.

  eval_table.py run --sparsa BIN --models DIR --data copy=DIR [--data flipflop=DIR]
                    --cell MODEL:SET:N [--cell ...] [--jobs J] [--deadline S] -o RESULTS.json
      Each cell is one model on the first N samples of DIR/SET.src/.trg (test sets of
      generate_data.py). The samples are spread over J single-threaded sparsa processes, one
      sample each (eval-task's result for a sample does not depend on the other samples), and
      joined in order; the cell equals one `sparsa eval-task MODEL --src .. --trg ..
      --limit N --threads 1` run, whose command is recorded. With --deadline, cells not
      finished by then keep their longest finished prefix of samples.

  eval_table.py report RESULTS.json[:TASK]... [--svg PLOT.svg]
      The table (accuracy with its 95% Wilson interval per cell) and the plot (accuracy
      against the source length, log x, one line per model). RESULTS.json:TASK takes only
      that task's cells from the file.

  eval_table.py loss MODELS_DIR --svg PLOT.svg
      The training-loss curves of the models' <model>.train_log.json (log y), one panel per
      task.
"""

import argparse
import concurrent.futures as cf
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time

TRAIN_MAX = {"copy": 64, "flipflop": 32}   # longest training source (tokens; pairs for flip-flop)


def wilson(k, n, z=1.959964):
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def task_of(model):
    return model.split("-")[0]


def extra_args(task):
    return ["--sep", "none", "--max-len-mult", "1.2"] if task == "flipflop" else []


def run(a):
    data = dict(d.split("=", 1) for d in a.data)
    cells = []
    for c in a.cell:
        model, name, n = c.split(":")
        task = task_of(model)
        src = os.path.join(data[task], name + ".src")
        trg = os.path.join(data[task], name + ".trg")
        with open(src) as f:
            srcs = f.read().splitlines()[: int(n)]
        with open(trg) as f:
            trgs = f.read().splitlines()[: int(n)]
        length = int(name.split("_")[-1])
        cells.append(dict(model=model, task=task, set=name, length=length,
                          multiple=length / TRAIN_MAX[task], src=src, trg=trg,
                          srcs=srcs, trgs=trgs, n=len(srcs)))
    tmp = tempfile.mkdtemp(prefix="evaltable")
    t_end = time.time() + a.deadline if a.deadline else None
    lock = threading.Lock()
    results = {}

    def one(ci, i):
        c = cells[ci]
        if t_end and time.time() > t_end:
            return ci, i, None
        base = os.path.join(tmp, "%d_%d" % (ci, i))
        with open(base + ".src", "w") as f:
            f.write(c["srcs"][i] + "\n")
        with open(base + ".trg", "w") as f:
            f.write(c["trgs"][i] + "\n")
        cmd = [a.sparsa, "eval-task", os.path.join(a.models, c["model"] + ".sparsa"),
               "--src", base + ".src", "--trg", base + ".trg", "--threads", "1",
               "--predictions", base + ".pred", "--json"] + extra_args(c["task"])
        t0 = time.time()
        left = (t_end - t0) if t_end else None
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=left)
        except subprocess.TimeoutExpired:
            return ci, i, None
        if p.returncode:
            sys.stderr.write("%s: %s\n" % (" ".join(cmd), p.stderr))
            return ci, i, None
        with open(base + ".pred") as f:
            pred = f.read().rstrip("\n")
        return ci, i, (pred, time.time() - t0)

    # the longest samples first, so that the pool ends evenly
    jobs = sorted(((ci, i) for ci, c in enumerate(cells) for i in range(c["n"])),
                  key=lambda j: -cells[j[0]]["length"] * (2 if cells[j[0]]["task"] == "copy"
                                                          else 1))
    with cf.ThreadPoolExecutor(a.jobs) as ex:
        for ci, i, r in ex.map(lambda j: one(*j), jobs):
            with lock:
                results[(ci, i)] = r
    out = []
    for ci, c in enumerate(cells):
        preds, secs = [], 0.0
        for i in range(c["n"]):
            r = results.get((ci, i))
            if r is None:
                break
            preds.append(r[0])
            secs += r[1]
        k = sum(p.startswith("1") for p in preds)
        n = len(preds)
        lo, hi = wilson(k, n)
        cmd = "sparsa eval-task examples/synthetic/models/%s.sparsa --src %s --trg %s " \
              "--limit %d --threads 1%s --json" % (
                  c["model"], "DATA/" + c["set"] + ".src", "DATA/" + c["set"] + ".trg", n,
                  "".join(" " + x for x in extra_args(c["task"])))
        cell = dict(model=c["model"], task=c["task"], set=c["set"], length=c["length"],
                    multiple=c["multiple"], samples=n, correct=k,
                    accuracy=k / n if n else None, wilson95=[lo, hi],
                    cpu_seconds=round(secs, 1), command=cmd,
                    correct_by_sample="".join(p[0] for p in preds))
        if a.predictions:
            cell["predictions"] = preds
        out.append(cell)
        print("%-28s %-20s %5d/%-4d acc %s  [%.2f, %.2f]  %.0f s" % (
            c["model"], c["set"], k, n, "%.3f" % (k / n) if n else "-", lo, hi, secs),
            flush=True)
    with open(a.o, "w") as f:
        json.dump(out, f, indent=0)


def load(paths):
    """Cells of RESULTS files; FILE:TASK takes only that task's cells from FILE (a file that
    also holds cells of models since retrained, which must not enter the table)."""
    cells = {}
    for p in paths:
        task = None
        if not os.path.exists(p) and ":" in p:
            p, task = p.rsplit(":", 1)
        for c in json.load(open(p)):
            if task and c["task"] != task:
                continue
            key = (c["model"], c["length"])
            if c["samples"] and (key not in cells or c["samples"] > cells[key]["samples"]):
                cells[key] = c
    return cells


VARIANT_ORDER = ["softmax-rope", "asentmax-nape", "ssmax-nape", "entmax-nape"]


def markdown(cells):
    models = sorted({m for m, _ in cells},
                    key=lambda m: (task_of(m), VARIANT_ORDER.index(m.split("-", 1)[1])
                                   if m.split("-", 1)[1] in VARIANT_ORDER else 99, m))
    lines = []
    for task in ("copy", "flipflop"):
        ms = [m for m in models if task_of(m) == task]
        if not ms:
            continue
        lengths = sorted({length for m, length in cells if task_of(m) == task})
        unit = "pairs" if task == "flipflop" else "tokens"
        lines.append("| %s source (%s) | × train | %s |" % (
            task, unit, " | ".join(m[len(task) + 1:] for m in ms)))
        lines.append("|---|---|" + "---|" * len(ms))
        for length in lengths:
            row = []
            for m in ms:
                c = cells.get((m, length))
                if not c:
                    row.append("–")
                    continue
                lo, hi = c["wilson95"]
                row.append("%.2f [%.2f, %.2f] (n=%d)" % (c["accuracy"], lo, hi, c["samples"]))
            lines.append("| %d | %g× | %s |" % (length, length / TRAIN_MAX[task],
                                                 " | ".join(row)))
        lines.append("")
    return "\n".join(lines)


COLORS = {"softmax-rope": "#d62728", "asentmax-nape": "#1f77b4", "ssmax-nape": "#2ca02c",
          "entmax-nape": "#9467bd"}


def svg(cells, path):
    """Accuracy against length as a multiple of the training length (log x), one panel per
    task, one line per attention variant; whiskers are the 95% Wilson intervals."""
    tasks = [t for t in ("copy", "flipflop") if any(task_of(m) == t for m, _ in cells)]
    W, H, pw, ph, ml, mt = 540 * len(tasks), 330, 360, 230, 60, 40
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>']
    xmax = max(c["multiple"] for c in cells.values())
    lx = math.log2(max(4, xmax)) + 0.5
    for ti, task in enumerate(tasks):
        ox = ti * 540 + ml

        def X(mult):
            return ox + pw * (math.log2(mult) + 0.5) / (lx + 0.5)

        def Y(acc):
            return mt + ph * (1 - acc)
        out.append('<text x="%d" y="20" font-weight="bold">%s: exact match vs source length'
                   '</text>' % (ox, task))
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>'
                   % (ox, mt, pw, ph))
        for acc in (0, 0.25, 0.5, 0.75, 1):
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>' %
                       (ox, ox + pw, Y(acc), Y(acc)))
            out.append('<text x="%d" y="%.1f" text-anchor="end">%.2f</text>' %
                       (ox - 5, Y(acc) + 4, acc))
        m = 1
        while m <= xmax * 1.01:
            out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/>' %
                       (X(m), X(m), mt, mt + ph))
            out.append('<text x="%.1f" y="%d" text-anchor="middle">%d×</text>' %
                       (X(m), mt + ph + 16, m))
            m *= 4
        out.append('<text x="%d" y="%d" text-anchor="middle">source length / longest training '
                   'source (log scale)</text>' % (ox + pw // 2, mt + ph + 34))
        models = sorted({mm for mm, _ in cells if task_of(mm) == task})
        for k, mm in enumerate(models):
            var = mm[len(task) + 1:]
            col = COLORS.get(var, "#444")
            pts = sorted((c["multiple"], c) for (m2, _), c in cells.items() if m2 == mm)
            dx = (k - (len(models) - 1) / 2) * 4
            out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
                col, " ".join("%.1f,%.1f" % (X(x) + dx, Y(c["accuracy"])) for x, c in pts)))
            for x, c in pts:
                lo, hi = c["wilson95"]
                out.append('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s"/>' %
                           (X(x) + dx, X(x) + dx, Y(lo), Y(hi), col))
                out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' %
                           (X(x) + dx, Y(c["accuracy"]), col))
            out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                       % (ox + pw + 8, ox + pw + 24, mt + 10 + 18 * k, mt + 10 + 18 * k, col))
            out.append('<text x="%d" y="%d">%s</text>' % (ox + pw + 28, mt + 14 + 18 * k, var))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def loss_svg(models_dir, path):
    logs = {}
    for n in sorted(os.listdir(models_dir)):
        if n.endswith(".train_log.json"):
            d = json.load(open(os.path.join(models_dir, n)))
            if isinstance(d, dict) and "log" in d:
                logs[n[: -len(".train_log.json")]] = d["log"]
    tasks = [t for t in ("copy", "flipflop") if any(task_of(m) == t for m in logs)]
    pw, ph, ml, mt = 360, 230, 60, 40
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (540 * len(tasks), 330),
           '<rect width="100%" height="100%" fill="white"/>']
    lo_exp, hi_exp = -5, 1      # loss axis 1e-5 .. 10
    for ti, task in enumerate(tasks):
        ox = ti * 540 + ml
        ms = [m for m in logs if task_of(m) == task]
        smax = max(r[0] for m in ms for r in logs[m])

        def X(step):
            return ox + pw * step / smax

        def Y(loss):
            e = math.log10(min(max(loss, 10 ** lo_exp), 10 ** hi_exp))
            return mt + ph * (hi_exp - e) / (hi_exp - lo_exp)
        out.append('<text x="%d" y="20" font-weight="bold">%s: training loss (nats, log '
                   'scale)</text>' % (ox, task))
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>'
                   % (ox, mt, pw, ph))
        for e in range(lo_exp, hi_exp + 1):
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>' %
                       (ox, ox + pw, Y(10 ** e), Y(10 ** e)))
            out.append('<text x="%d" y="%.1f" text-anchor="end">1e%d</text>' %
                       (ox - 5, Y(10 ** e) + 4, e))
        for st in range(0, smax + 1, 500):
            out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' %
                       (X(st), mt + ph + 16, st))
        out.append('<text x="%d" y="%d" text-anchor="middle">step (loss at or below 1e-5 drawn '
                   'at 1e-5)</text>' % (ox + pw // 2, mt + ph + 34))
        for k, m in enumerate(ms):
            var = m[len(task) + 1:]
            col = COLORS.get(var, "#444")
            out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
                col, " ".join("%.1f,%.1f" % (X(r[0]), Y(r[1])) for r in logs[m])))
            out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                       % (ox + pw + 8, ox + pw + 24, mt + 10 + 18 * k, mt + 10 + 18 * k, col))
            out.append('<text x="%d" y="%d">%s</text>' % (ox + pw + 28, mt + 14 + 18 * k, var))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--sparsa", required=True)
    r.add_argument("--models", required=True)
    r.add_argument("--data", action="append", required=True)
    r.add_argument("--cell", action="append", required=True)
    r.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    r.add_argument("--deadline", type=float, default=0)
    r.add_argument("--predictions", action="store_true",
                   help="keep every sample's prediction line in the JSON")
    r.add_argument("-o", required=True)
    p = sub.add_parser("report")
    p.add_argument("results", nargs="+")
    p.add_argument("--svg")
    q = sub.add_parser("loss")
    q.add_argument("models")
    q.add_argument("--svg", required=True)
    a = ap.parse_args()
    if a.cmd == "run":
        run(a)
    elif a.cmd == "loss":
        loss_svg(a.models, a.svg)
    else:
        cells = load(a.results)
        print(markdown(cells))
        if a.svg:
            svg(cells, a.svg)


if __name__ == "__main__":
    main()
