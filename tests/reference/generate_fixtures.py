#!/usr/bin/python3
"""Makes tests/fixtures/generate/greedy.tsv: greedy continuations by the PyTorch reference
(tests/reference/sparsa_ref.py) of the perplexity fixture models, loaded from their sparsa files
(tests/fixtures/perplexity/*.sparsa; run perplexity_fixtures.py first), for `sparsa generate`.

Each line: model, kind (tokens|prompt), the prompt (comma-separated ids, or text), n, the
generated ids (comma-separated; generation stops at EOS, which is not listed), and for prompts
the expected stdout text without its final newline (prompt + continuation decoded together,
BOS first), with backslash, newline and tab escaped as \\, \n, \t. Greedy = argmax, lowest id on ties (torch.argmax's rule).
"""
import os
import sys

import sentencepiece as spm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import perplexity_fixtures as P  # noqa: E402
import sparsa_export as E  # noqa: E402
import sparsa_ref as R  # noqa: E402

ROOT = os.path.join(HERE, "..", "fixtures")
CASES = [
    ("ppl-llama", "tokens", "1,157,21,93,7", 24),
    ("ppl-llama", "prompt", "And God said", 20),
    ("ppl-asentmax", "tokens", "1,44,300,12,908,5,77", 24),
    ("ppl-asentmax", "prompt", "Blessed is the man", 20),
]


def load(name, arch, conf):
    f = E.read(os.path.join(ROOT, "perplexity", name + ".sparsa"))
    model = R.ARCHS[arch](R.Config(**conf))
    sd = {k: v.float() for k, v in f["tensors"].items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and all(m == "lm_head.weight" for m in missing), (missing, unexpected)
    model.eval()
    return model, f["tokenizer"]


def greedy(model, ids, n, eos):
    out = []
    seq = list(ids)
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([seq]))[0, -1].float()
            nxt = int(torch.argmax(logits))
            if nxt == eos:
                break
            out.append(nxt)
            seq.append(nxt)
    return out


def main():
    models = {"ppl-llama": load("ppl-llama", "hf-llama", P.LLAMA),
              "ppl-asentmax": load("ppl-asentmax", "sparse-gemma2", P.ASENTMAX)}
    os.makedirs(os.path.join(ROOT, "generate"), exist_ok=True)
    with open(os.path.join(ROOT, "generate", "greedy.tsv"), "w") as f:
        f.write("# model\tkind\tprompt\tn\tgenerated ids\texpected text (escaped)\n")
        for name, kind, prompt, n in CASES:
            model, tok = models[name]
            sp = spm.SentencePieceProcessor(model_proto=tok)
            ids = [int(x) for x in prompt.split(",")] if kind == "tokens" else \
                [sp.bos_id()] + sp.encode(prompt)
            gen = greedy(model, ids, n, sp.eos_id())
            text = sp.decode(ids + gen) if kind == "prompt" else ""
            text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
            f.write("%s\t%s\t%s\t%d\t%s\t%s\n" % (name, kind, prompt, n,
                                                  ",".join(map(str, gen)), text))
            print(name, kind, prompt, "->", gen, text)


if __name__ == "__main__":
    main()
