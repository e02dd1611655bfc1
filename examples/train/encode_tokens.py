#!/usr/bin/python3
"""Encodes the training text and the held-out samples with the example tokenizer.

Each file is read as UTF-8 and encoded as ONE string, exactly as `sparsa perplexity` does, and
saved as a uint16 .npy stream. Doing it once here (sentencepiece 0.1.97, the version sparsa
links) means training and the PyTorch evaluation see the ids sparsa sees.

usage: encode_tokens.py SPM.model OUT_DIR NAME=FILE...
"""
import os
import sys

import numpy as np
import sentencepiece as spm


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__.strip().splitlines()[-1])
    sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for arg in sys.argv[3:]:
        name, path = arg.split("=", 1)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        ids = np.asarray(sp.encode(text), dtype=np.uint16)
        assert sp.vocab_size() <= 65535
        np.save(os.path.join(out, name + ".npy"), ids)
        print(f"{name}: {len(text.encode())} bytes -> {len(ids)} tokens "
              f"({len(text.encode()) / len(ids):.2f} bytes/token)")


if __name__ == "__main__":
    main()
