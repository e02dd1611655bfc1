#!/usr/bin/python3
"""Compares `sparsa tokenize` with Python sentencepiece on whole corpora (each file encoded as
ONE string by Python; sparsa may cut long texts into exact chunks, see tokenizer/tokenizer.c).

    /usr/bin/python3 tests/reference/tokenizer_check_corpus.py build/sparsa MODEL CORPUS...

With no CORPUS, uses the whole King James Bible from `bible` (package bible-kjv, 4.1 MB).
Prints one line per (model, corpus) and exits 1 on the first difference.
"""
import subprocess
import sys
import tempfile

import sentencepiece as spm


def kjv_text():
    out = subprocess.run(["bible", "-l100000", "gen1:1-rev22:21"], check=True,
                         capture_output=True).stdout.decode("utf-8")
    verses = []
    for line in out.split("\n"):
        s = line.lstrip(" ")
        head, _, rest = s.partition(" ")
        if line.startswith(" ") and head.isdigit():
            verses.append(rest)
    return "\n".join(verses) + "\n"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sparsa, model, corpora = sys.argv[1], sys.argv[2], sys.argv[3:]
    sp = spm.SentencePieceProcessor(model_file=model)
    texts = []
    if corpora:
        for path in corpora:
            with open(path, encoding="utf-8") as f:
                texts.append((path, f.read()))
    else:
        texts.append(("KJV (bible-kjv)", kjv_text()))
    for name, text in texts:
        want = sp.encode(text)
        with tempfile.NamedTemporaryFile("wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            with open(f.name, "rb") as inp:
                out = subprocess.run([sparsa, "tokenize", model, "-"], stdin=inp, check=True,
                                     capture_output=True).stdout.decode()
        got = [int(x) for x in out.split()]
        same = got == want
        print("%s on %s: %d bytes, %d ids, %s" % (model, name, len(text.encode("utf-8")),
                                                  len(want), "identical" if same else "DIFFERENT"))
        if not same:
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                         min(len(got), len(want)))
            print("  first difference at id %d: sparsa %s, python %s" % (
                first, got[first:first + 5], want[first:first + 5]))
            sys.exit(1)


if __name__ == "__main__":
    main()
