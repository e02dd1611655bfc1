#!/usr/bin/python3
"""Builds the corpora, the tokenizer and the token streams of the sparsa example models.

Called by prepare_data.sh, which fetches the raw sources first. Everything here is
deterministic: the same sources give the same files, byte for byte.

  training text  State of the Union addresses 1790-2000 (CC0) + King James Bible (public domain)
  held-out text  State of the Union 2001-2021, every fifth address (in-domain, later in time)
                 Moby-Dick, chapter 1 onwards, first ~180 KB (out-of-domain)

Outputs (WORK is the scratch folder, REPO the repository root):
  WORK/train.txt                  the training text, read as ONE string
  WORK/spm_input.txt              the same text cut into sentences, one per line (spm_train
                                  skips lines longer than --max_sentence_length)
  REPO/examples/data/bpe4k.model  the SentencePiece tokenizer (trained by prepare_data.sh)
  REPO/examples/data/sotu_2001_2021.txt, moby_dick.txt   held-out samples
  WORK/tokens/*.npy               uint16 token streams (training text and held-out samples),
                                  encoded here so training and evaluation see the same ids
"""
import glob
import os
import re
import subprocess
import sys

HELDOUT_BYTES = 180_000


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def sotu_files(sotu_dir):
    files = sorted(glob.glob(os.path.join(sotu_dir, "[12][0-9][0-9][0-9]_*.txt")))
    if len(files) < 200:
        sys.exit(f"prepare_data: expected ~233 SOTU addresses in {sotu_dir}, found {len(files)}")
    return [(int(os.path.basename(f)[:4]), f) for f in files]


def clean_speech(text):
    # One address per file, one line; strip stray whitespace at the ends only.
    return text.strip()


def kjv_text():
    """The whole KJV: a heading line per chapter, one verse per line, chapters separated by a
    blank line (verse numbers removed)."""
    out = subprocess.run(["bible", "-l100000", "gen1:1-rev22:21"], check=True,
                         capture_output=True, text=True).stdout
    chapters, cur = [], []
    for line in out.split("\n"):
        m = re.match(r"^ +[0-9]+ (.*)$", line)
        if m:
            cur.append(m.group(1).rstrip())
        elif line.strip():
            if cur:
                chapters.append("\n".join(cur))
            cur = [line.strip()]
    if cur:
        chapters.append("\n".join(cur))
    if len(chapters) < 1100:
        sys.exit(f"prepare_data: KJV extraction gave {len(chapters)} chapters, expected 1189")
    return "\n\n".join(chapters)


def reflow(text):
    """Joins hard-wrapped lines into paragraphs; paragraphs stay separated by a blank line."""
    paras = re.split(r"\n\s*\n", text.replace("\r\n", "\n"))
    paras = [" ".join(l.strip() for l in p.split("\n") if l.strip()) for p in paras]
    return "\n\n".join(p for p in paras if p)


def cut_at_paragraph(text, limit):
    if len(text.encode("utf-8")) <= limit:
        return text
    cut = text[:limit]
    i = cut.rfind("\n\n")
    return cut[:i] if i > 0 else cut


_SENT = re.compile(r"(?<=[.!?;:])\s+(?=[\"'“‘(\[A-Z0-9])")


def sentences(text):
    """Sentence-ish pieces for spm_train: split on end punctuation, then hard-cap length at
    2000 characters on a space so no line is dropped by --max_sentence_length."""
    for line in text.split("\n"):
        for s in _SENT.split(line):
            s = s.strip()
            while len(s.encode("utf-8")) > 2000:
                i = s.rfind(" ", 0, 1500)
                i = i if i > 0 else 1500
                yield s[:i]
                s = s[i:].strip()
            if s:
                yield s


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: prepare_data.py SOTU_DIR MOBY_TXT WORK")
    sotu_dir, moby_txt, work = sys.argv[1:]
    os.makedirs(work, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    data_dir = os.path.join(here, "..", "data")
    os.makedirs(data_dir, exist_ok=True)

    speeches = sotu_files(sotu_dir)
    train_sotu = [clean_speech(read(f)) for y, f in speeches if y <= 2000]
    held_sotu = [(y, f) for y, f in speeches if y >= 2001]
    held_sotu = [clean_speech(read(f)) for i, (y, f) in enumerate(held_sotu) if i % 5 == 0]

    kjv = kjv_text()
    train = "\n\n".join(train_sotu) + "\n\n" + kjv + "\n"
    write(os.path.join(work, "train.txt"), train)
    write(os.path.join(work, "spm_input.txt"), "\n".join(sentences(train)) + "\n")

    write(os.path.join(data_dir, "sotu_2001_2021.txt"), "\n\n".join(held_sotu) + "\n")
    moby = cut_at_paragraph(reflow(read(moby_txt)), HELDOUT_BYTES)
    write(os.path.join(data_dir, "moby_dick.txt"), moby + "\n")
    print(f"train.txt {len(train.encode())} bytes ({len(train_sotu)} addresses + KJV), "
          f"held-out: {len(held_sotu)} addresses, Moby-Dick {len(moby.encode())} bytes")


if __name__ == "__main__":
    main()
