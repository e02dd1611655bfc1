#!/usr/bin/env python3
"""The zero-shot prompts of lm-evaluation-harness for the hand-made task files in
tests/fixtures/mc/, written after its task code (hellaswag `preprocess` and `_process_doc`,
winogrande `partial_context`/`partial_target`, ARC's "Question: ...\\nAnswer:"), independently of
sparsa. tests/eval/test_mc.c holds these strings; run this to check them:

    python3 tests/reference/workbench_prompts.py tests/fixtures/mc

Prints one line per (question, choice): layout, question, choice, context and continuation as
Python literals, and the gold index. Needs only the standard library.
"""
import json
import os
import re
import sys


def preprocess(text):
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def hellaswag(doc):
    ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
    query = preprocess(doc["activity_label"] + ": " + ctx)
    return [(query, " " + preprocess(e)) for e in doc["endings"]], int(doc["label"])


def winogrande(doc):
    idx = doc["sentence"].index("_")
    target = doc["sentence"][idx + 1:].strip()
    opts = [doc["option1"], doc["option2"]]
    return [(doc["sentence"][:idx] + o, " " + target) for o in opts], {"1": 0, "2": 1}[doc["answer"]]


def arc(doc):
    ctx = "Question: " + doc["question"] + "\nAnswer:"
    gold = doc["choices"]["label"].index(doc["answerKey"])
    return [(ctx, " " + t) for t in doc["choices"]["text"]], gold


def generic(doc):
    return [(doc["context"], " " + c) for c in doc["choices"]], int(doc["label"])


def main(folder):
    for name, build in (("hellaswag", hellaswag), ("winogrande", winogrande), ("arc", arc),
                        ("generic", generic)):
        with open(os.path.join(folder, name + ".jsonl"), encoding="utf-8") as f:
            docs = [json.loads(line) for line in f if line.strip()]
        for q, doc in enumerate(docs):
            pairs, gold = build(doc)
            for c, (ctx, cont) in enumerate(pairs):
                print(name, q, c, repr(ctx), repr(cont), "gold" if c == gold else "")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/mc")
