#!/usr/bin/python3
"""Cuts a small slice out of a trained example checkpoint, for tests/converters/test_examples_convert.c.

  make_test_slice.py CKPT_DIR OUT_DIR

CKPT_DIR is a training output of train_lm.py (model.ckpt + config.json). The slice keeps the
checkpoint's top-level layout (state_dict with net.model.* keys, hyper_parameters, loops,
Lightning version...) and its bf16 tensors, but only layer 0 and the first 512 rows of the
embedding and the head, so the fixture stays small (~1.3 MB). config.json is the training
config with num_hidden_layers = 1 and vocab_size = 512.

It also writes the PyTorch reference logits (fp32 compute on the stored bf16 weights) for a
fixed token sequence: tokens.txt (comma-separated ids) and logits.f32 ([n, 512] float32 LE).
The slice is re-saved with this machine's torch.save (the original came from Trainer.save_checkpoint).
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import train_lm  # noqa: E402

VOCAB = 512
N_TOKENS = 96


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    src, out = sys.argv[1:]
    os.makedirs(out, exist_ok=True)
    ckpt = torch.load(os.path.join(src, "model.ckpt"), map_location="cpu", weights_only=False)
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    keep = {}
    for k, v in ckpt["state_dict"].items():
        if ".layers." in k and ".layers.0." not in k:
            continue
        if k.endswith("embed_tokens.weight") or k.endswith("lm_head.weight"):
            v = v[:VOCAB].clone()
        keep[k] = v
    ckpt["state_dict"] = keep
    config["num_hidden_layers"] = 1
    config["vocab_size"] = VOCAB
    config["_sparsa_example"]["slice"] = f"layer 0 and the first {VOCAB} vocabulary rows"
    if isinstance(ckpt.get("hyper_parameters"), dict) and "net" in ckpt["hyper_parameters"]:
        ckpt["hyper_parameters"]["net"].update(num_hidden_layers=1, vocab_size=VOCAB)
    torch.save(ckpt, os.path.join(out, "model.ckpt"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)

    model, _ = train_lm.load_checkpoint(out)
    g = torch.Generator().manual_seed(7)
    tokens = torch.randint(3, VOCAB, (N_TOKENS,), generator=g)
    with torch.no_grad():
        logits = model.eval()(tokens[None])[0].float()
    with open(os.path.join(out, "tokens.txt"), "w") as f:
        f.write(",".join(str(int(t)) for t in tokens) + "\n")
    logits.numpy().astype("<f4").tofile(os.path.join(out, "logits.f32"))
    print(f"slice: {len(keep)} tensors, logits {tuple(logits.shape)}")


if __name__ == "__main__":
    main()
