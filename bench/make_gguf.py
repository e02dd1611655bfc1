"""make_gguf.py - an hf-llama sparsa file rewritten as an F32 GGUF for the llama.cpp peer.

    PYTHONPATH=LLAMA_CPP/gguf-py /usr/bin/python3 bench/make_gguf.py MODEL.sparsa OUT.gguf

Same weights, llama.cpp's tensor names and metadata, and the SentencePiece vocabulary stored
in the sparsa file as llama.cpp's "llama" tokenizer (pieces, scores and piece types from the
.model protobuf, BOS/EOS/UNK ids, the dummy-prefix flag), so both tools cut a text into the
same tokens. Q and K rows are permuted as llama.cpp's own converter (convert_hf_to_gguf.py,
LlamaModel.permute) does: Hugging Face rotates the two halves of each head (rotate_half),
llama.cpp's "llama" RoPE rotates adjacent pairs; the permutation makes the two agree
(docs/ has the RoPE math). Tied embeddings: no output.weight, llama.cpp then reuses
token_embd.weight as the output matrix, as the tied model does.
"""

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))

import gguf  # noqa: E402  (from llama.cpp's gguf-py, put on PYTHONPATH by the caller)
import numpy as np  # noqa: E402

import sparsa_export as E  # noqa: E402


# ---- SentencePiece ModelProto, read with a minimal protobuf decoder ----------------------------
# Field numbers (sentencepiece_model.proto): ModelProto{pieces=1, trainer_spec=2,
# normalizer_spec=3}; SentencePiece{piece=1, score=2, type=3};
# TrainerSpec{unk_id=40, bos_id=41, eos_id=42, pad_id=43}; NormalizerSpec{add_dummy_prefix=3}.

def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def _fields(b):
    """(field number, wire type, value) of one message; value is int or bytes."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("unsupported protobuf wire type %d" % wt)
        yield num, wt, v


def _int32(v):
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >= 1 << 63 else v


def read_spm(model_bytes):
    pieces, scores, types = [], [], []
    spec = {"unk": 0, "bos": 1, "eos": 2, "pad": -1, "add_dummy_prefix": True}
    for num, _, v in _fields(model_bytes):
        if num == 1:
            piece, score, kind = b"", 0.0, 1
            for n2, _, v2 in _fields(v):
                if n2 == 1:
                    piece = bytes(v2)
                elif n2 == 2:
                    score = struct.unpack("<f", v2)[0]
                elif n2 == 3:
                    kind = v2
            pieces.append(piece.decode("utf-8"))
            scores.append(score)
            types.append(kind)
        elif num == 2:
            ids = {40: "unk", 41: "bos", 42: "eos", 43: "pad"}
            for n2, _, v2 in _fields(v):
                if n2 in ids:
                    spec[ids[n2]] = _int32(v2)
        elif num == 3:
            for n2, _, v2 in _fields(v):
                if n2 == 3:
                    spec["add_dummy_prefix"] = bool(v2)
    return pieces, scores, types, spec


# ---- weights -----------------------------------------------------------------------------------

def permute_rope(w, n_head):
    """convert_hf_to_gguf.py LlamaModel.permute: per head, rows (half 0, half 1) interleaved."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


NAMES = {
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight", "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
}


def gguf_tensors(tensors, n_head, n_kv_head):
    out = {}
    for name, t in tensors.items():
        a = t.float().numpy().astype(np.float32)
        if name == "model.embed_tokens.weight":
            out["token_embd.weight"] = a
        elif name == "model.norm.weight":
            out["output_norm.weight"] = a
        elif name == "lm_head.weight":
            out["output.weight"] = a
        elif name.startswith("model.layers."):
            layer, rest = name[len("model.layers."):].split(".", 1)
            if rest not in NAMES:
                raise SystemExit("make_gguf.py: unmapped tensor %r" % name)
            if rest == "self_attn.q_proj.weight":
                a = permute_rope(a, n_head)
            elif rest == "self_attn.k_proj.weight":
                a = permute_rope(a, n_kv_head)
            out["blk.%s.%s" % (layer, NAMES[rest])] = np.ascontiguousarray(a)
        else:
            raise SystemExit("make_gguf.py: unmapped tensor %r" % name)
    return out


def write(src, dst):
    f = E.read(src)
    meta = f["metadata"]
    if meta.get("model.architecture") != "hf-llama":
        raise SystemExit("make_gguf.py: %s is not an hf-llama model" % src)
    if not f["tokenizer"]:
        raise SystemExit("make_gguf.py: %s has no tokenizer" % src)
    cfg = json.loads(meta["source.config"])
    n_head = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_head
    d = cfg["hidden_size"]
    head_dim = cfg.get("head_dim") or d // n_head
    pieces, scores, types, spec = read_spm(bytes(f["tokenizer"]))
    if len(pieces) != cfg["vocab_size"]:
        raise SystemExit("make_gguf.py: %d pieces for a vocabulary of %d"
                         % (len(pieces), cfg["vocab_size"]))

    w = gguf.GGUFWriter(dst + ".tmp", "llama")
    w.add_name(meta.get("general.name", "sparsa-bench"))
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_context_length(max(int(meta.get("model.train_context_length", 0)), 16384))
    w.add_embedding_length(d)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-6)))
    w.add_vocab_size(len(pieces))
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(pieces)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(spec["bos"])
    w.add_eos_token_id(spec["eos"])
    w.add_unk_token_id(spec["unk"])
    if spec["pad"] >= 0:
        w.add_pad_token_id(spec["pad"])
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(spec["add_dummy_prefix"])
    for name, a in gguf_tensors(f["tensors"], n_head, n_kv).items():
        w.add_tensor(name, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(dst + ".tmp", dst)


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: make_gguf.py MODEL.sparsa OUT.gguf\n")
        sys.exit(2)
    write(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
