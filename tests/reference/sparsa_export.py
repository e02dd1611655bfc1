"""sparsa_export.py - write PyTorch models as sparsa model files (format/SPEC.md 1.0) with their
graph (format/GRAPH.md, op-set 1), and read such files back.

This is a supported export path for PyTorch users:

    import sparsa_ref, sparsa_export
    model = sparsa_ref.SparseGemma2ForCausalLM(cfg)        # or a trained one
    sparsa_export.export(model, "model.sparsa", dtype="bf16",
                         tokenizer=open("spm.model", "rb").read(),
                         metadata={"general.name": "my model", "model.train_context_length": 64})

export(model, path, dtype="f32", tokenizer=None, metadata=None, alignment=64)
    model      one of the sparsa_ref architectures: LlamaForCausalLM, Gemma2ForCausalLM,
               SparseGemma2ForCausalLM, TorchTitanLlama (anything with the same parameter
               names and `.arch`/`.config` works).
    path       output file; written to a temporary name and renamed, so a failure never leaves a
               half-written file.
    dtype      "f32", "f16" or "bf16": the stored dtype of every floating tensor (or "keep":
               each tensor's own dtype). The interpreter computes in f32 either way.
    tokenizer  bytes of a SentencePiece .model file, stored verbatim (TOKENIZER section).
    metadata   extra metadata: key -> value. Types are inferred (bool BOOL, int U64/I64,
               float F64, str STRING, bytes BYTES, lists of those ARRAY) or given explicitly
               as (type_name, value), e.g. ("U32", 7).
The graph comes from `graph_for(model)` and is stored as YAML text; tensors keep their
state_dict names (a tied lm_head is not stored; the graph reads the embedding instead).

read(path) -> dict(header, metadata, graph (text), tokenizer, tensors: name -> torch.Tensor)
    A small reader that checks the header and section CRCs and every tensor's CRC.

Needs torch (any 1.13+ version) and the standard library only.
"""

import json
import math
import os
import re
import struct
import zlib

import torch

MAGIC = b"\x89SPARSA\n"
KIND_METADATA, KIND_GRAPH, KIND_TOKENIZER, KIND_TENSOR_DIRECTORY, KIND_TENSOR_DATA = 1, 2, 3, 4, 5
DTYPE_CODES = {torch.float32: 1, torch.float16: 2, torch.bfloat16: 3, torch.float64: 4,
               torch.int8: 5, torch.uint8: 6, torch.int16: 7, torch.int32: 8, torch.int64: 9,
               torch.bool: 10}
CODE_DTYPES = {v: k for k, v in DTYPE_CODES.items()}
META_TYPES = {"U8": (1, "<B"), "I8": (2, "<b"), "U16": (3, "<H"), "I16": (4, "<h"),
              "U32": (5, "<I"), "I32": (6, "<i"), "U64": (7, "<Q"), "I64": (8, "<q"),
              "F32": (9, "<f"), "F64": (10, "<d"), "BOOL": (11, "<B"), "STRING": (12, None),
              "BYTES": (13, None), "ARRAY": (14, None)}
META_NAMES = {v[0]: k for k, v in META_TYPES.items()}
STORE_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


# --------------------------------------------------------------------------------------------
# Graph emission (GRAPH.md)
# --------------------------------------------------------------------------------------------


def _node(op, name, inputs, out, **attrs):
    d = {"op": op, "name": name, "in": list(inputs), "out": out}
    d.update({k: v for k, v in attrs.items() if v is not None})
    return d


def _attention_attrs(attn):
    """Attributes of the attention op for a sparsa_ref.Attention module."""
    a = dict(heads=attn.H, kv_heads=attn.Hk, head_dim=attn.d, scale=float(attn.scale),
             causal=True, normalizer=attn.normalizer)
    if attn.normalizer == "entmax":
        a["alpha"] = float(attn.alpha)
    if attn.normalizer == "topk":
        a["topk"] = int(attn.topk)
        if attn.topk_div2:
            a["topk_rule"] = "div2"
    if attn.window:
        a["window"] = int(attn.window)
    if attn.softcap:
        a["softcap"] = float(attn.softcap)
    if attn.slopes is not None and any(s != 0 for s in attn.slopes):
        # the slopes as the float32 values the reference adds
        a["alibi_slopes"] = [float(torch.tensor(s, dtype=torch.float32)) for s in attn.slopes]
    return a


def _query_scale_attrs(attn, prefix):
    if not attn.query_scale:
        return {}, False
    cfg = attn.cfg
    a = dict(query_scale=attn.query_scale, scaled_heads=int(attn.scaled_heads))
    if attn.query_scale == "asentmax":
        a.update(scale_delta=float(cfg.attn_scale_delta),
                 gamma_range=float(cfg.attn_scale_gamma_range),
                 beta_weight=prefix + "attn_scale_beta_proj.weight",
                 gamma_weight=prefix + "attn_scale_gamma_proj.weight")
        if attn.attn_scale_beta_proj.bias is not None:
            a["beta_bias"] = prefix + "attn_scale_beta_proj.bias"
            a["gamma_bias"] = prefix + "attn_scale_gamma_proj.bias"
        return a, True
    a["beta"] = prefix + "attn_scale_beta"
    if attn.query_scale == "learn":
        a["scale_delta"] = float(cfg.attn_scale_delta)
        a["gamma"] = prefix + "attn_scale_gamma"
    return a, False


def _attention_block(attn, lname, prefix, wnames, hin):
    """q/k/v projections, RoPE, attention and output projection of one layer.

    wnames: (q, k, v, o) tensor names; hin: the value holding the attention input."""
    nodes = [
        _node("linear", lname + ".q", [hin], "q", weight=wnames[0]),
        _node("linear", lname + ".k", [hin], "k", weight=wnames[1]),
        _node("linear", lname + ".v", [hin], "v", weight=wnames[2]),
    ]
    if attn.rope is not None:
        style, theta = attn.rope
        for t in ("q", "k"):
            nodes.append(_node("rope", "%s.rope_%s" % (lname, t), [t], t, head_dim=attn.d,
                               theta=float(theta), style=style))
    attrs = _attention_attrs(attn)
    qs, needs_h = _query_scale_attrs(attn, prefix)
    attrs.update(qs)
    ins = ["q", "k", "v"] + ([hin] if needs_h else [])
    nodes.append(_node("attention", lname + ".attn", ins, "a", **attrs))
    nodes.append(_node("linear", lname + ".o", ["a"], "a", weight=wnames[3]))
    return nodes


def _llama_layer(model, i, titan):
    """Layer i of HF Llama or torchtitan Llama: pre-norm attention and SwiGLU blocks."""
    cfg = model.config
    if titan:
        layer = model.layers[i]
        p = "layers.%d." % i
        w = [p + "attention.w%s.weight" % c for c in "qkvo"]
        n1, n2 = p + "attention_norm.weight", p + "ffn_norm.weight"
        mlp = dict(gate=p + "feed_forward.w1.weight", up=p + "feed_forward.w3.weight",
                   down=p + "feed_forward.w2.weight")
        attn = layer.attention
    else:
        layer = model.model.layers[i]
        p = "model.layers.%d." % i
        w = [p + "self_attn.%s_proj.weight" % c for c in "qkvo"]
        n1, n2 = p + "input_layernorm.weight", p + "post_attention_layernorm.weight"
        mlp = dict(gate=p + "mlp.gate_proj.weight", up=p + "mlp.up_proj.weight",
                   down=p + "mlp.down_proj.weight")
        attn = layer.self_attn
    ln = "layers.%d" % i
    eps = float(cfg.rms_norm_eps)
    nodes = [_node("rmsnorm", ln + ".attn_norm", ["x"], "h", weight=n1, eps=eps)]
    nodes += _attention_block(attn, ln, p + ("attention." if titan else "self_attn."), w, "h")
    nodes.append(_node("add", ln + ".attn_residual", ["x", "a"], "x"))
    nodes.append(_node("rmsnorm", ln + ".ffn_norm", ["x"], "h", weight=n2, eps=eps))
    nodes.append(_node("mlp", ln + ".mlp", ["h"], "m", activation="silu", gated=True, **mlp))
    nodes.append(_node("add", ln + ".ffn_residual", ["x", "m"], "x"))
    return nodes


def _gemma_layer(model, i):
    """Layer i of Gemma-2 / SparseGemma2: pre- and post-norms around attention and GeGLU."""
    cfg = model.config
    layer = model.model.layers[i]
    p = "model.layers.%d." % i
    ln = "layers.%d" % i
    eps = float(cfg.rms_norm_eps)
    w = [p + "self_attn.%s_proj.weight" % c for c in "qkvo"]

    def norm(tag, src, dst, key):
        return _node("rmsnorm", "%s.%s" % (ln, tag), [src], dst, weight=p + key + ".weight",
                     eps=eps, offset=1.0)

    nodes = [norm("input_norm", "x", "h", "input_layernorm")]
    nodes += _attention_block(layer.self_attn, ln, p + "self_attn.", w, "h")
    nodes.append(norm("post_attn_norm", "a", "a", "post_attention_layernorm"))
    nodes.append(_node("add", ln + ".attn_residual", ["x", "a"], "x"))
    nodes.append(norm("pre_ffn_norm", "x", "h", "pre_feedforward_layernorm"))
    nodes.append(_node("mlp", ln + ".mlp", ["h"], "m", activation="gelu_tanh", gated=True,
                       gate=p + "mlp.gate_proj.weight", up=p + "mlp.up_proj.weight",
                       down=p + "mlp.down_proj.weight"))
    nodes.append(norm("post_ffn_norm", "m", "m", "post_feedforward_layernorm"))
    nodes.append(_node("add", ln + ".ffn_residual", ["x", "m"], "x"))
    return nodes


def _as_repeat(model, layer_fn, n):
    """Layers as one `repeat` block when all layers are the same up to their index (the
    attention attributes match), else written out."""
    per_layer = [layer_fn(i) for i in range(n)]
    templ = layer_fn(0)

    def generic(nodes, i):
        s = json.dumps(nodes)
        return s.replace("layers.%d." % i, "layers.{i}.").replace('"layers.%d' % i,
                                                                   '"layers.{i}')
    if n > 1 and all(generic(per_layer[i], i) == generic(templ, 0) for i in range(n)):
        return [{"repeat": n, "var": "i", "nodes": json.loads(generic(templ, 0))}]
    return [nd for layer in per_layer for nd in layer]


def graph_for(model):
    """The op-set 1 graph (a dict) for a sparsa_ref model."""
    arch = model.arch
    cfg = model.config
    titan = arch == "torchtitan-llama"
    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    emb = "tok_embeddings.weight" if titan else "model.embed_tokens.weight"
    nodes = []
    if arch in ("hf-gemma2", "sparse-gemma2"):
        nodes.append(_node("embed", "embed", ["tokens"], "x", weight=emb,
                           scale=model.embed_scale()))
        layer_fn = lambda i: _gemma_layer(model, i)  # noqa: E731
        final = _node("rmsnorm", "final_norm", ["x"], "x", weight="model.norm.weight",
                      eps=float(cfg.rms_norm_eps), offset=1.0)
    elif arch in ("hf-llama", "torchtitan-llama"):
        nodes.append(_node("embed", "embed", ["tokens"], "x", weight=emb))
        layer_fn = lambda i: _llama_layer(model, i, titan)  # noqa: E731
        final = _node("rmsnorm", "final_norm", ["x"], "x",
                      weight="norm.weight" if titan else "model.norm.weight",
                      eps=float(cfg.rms_norm_eps))
    else:
        raise ValueError("no graph for architecture %r" % arch)
    nodes += _as_repeat(model, layer_fn, cfg.num_hidden_layers)
    nodes.append(final)
    head = "output.weight" if titan else (emb if tied else "lm_head.weight")
    nodes.append(_node("linear", "lm_head", ["x"], "logits", weight=head))
    cap = model.final_softcap() if hasattr(model, "final_softcap") else None
    if cap:
        nodes.append(_node("softcap", "final_softcap", ["logits"], "logits", cap=float(cap)))
    return {"sparsa_graph": 1, "name": arch, "vocab_size": int(cfg.vocab_size),
            "context_length": 0, "inputs": ["tokens"], "outputs": ["logits"], "nodes": nodes}


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("non-finite float in graph")
        s = repr(v)
        if "e" in s and "." not in s.split("e")[0]:
            m, e = s.split("e")
            s = m + ".0e" + e
        if "e" in s and s.split("e")[1][0] not in "+-":
            s = s.replace("e", "e+")
        return s
    if isinstance(v, str):
        if _PLAIN.match(v) and v.lower() not in _YAML_WORDS:
            return v
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_yaml_scalar(x) for x in v) + "]"
    raise TypeError("cannot write %r in the graph" % (v,))


def graph_yaml(graph):
    """YAML text of a graph dict: one flow mapping per node, repeat blocks as block maps."""
    out = []
    for k, v in graph.items():
        if k != "nodes":
            out.append("%s: %s" % (k, _yaml_scalar(v)))
    out.append("nodes:")

    def flow(nd):
        return "{" + ", ".join("%s: %s" % (k, _yaml_scalar(v)) for k, v in nd.items()) + "}"
    for nd in graph["nodes"]:
        if "repeat" in nd:
            out.append("  - repeat: %d" % nd["repeat"])
            out.append("    var: %s" % nd["var"])
            out.append("    nodes:")
            for sub in nd["nodes"]:
                out.append("      - " + flow(sub))
        else:
            out.append("  - " + flow(nd))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# File writer (SPEC.md)
# --------------------------------------------------------------------------------------------


def _meta_value(tname, v):
    code, fmt = META_TYPES[tname]
    if tname == "STRING":
        b = v.encode("utf-8")
        return struct.pack("<Q", len(b)) + b
    if tname == "BYTES":
        return struct.pack("<Q", len(v)) + bytes(v)
    if tname == "BOOL":
        return struct.pack("<B", 1 if v else 0)
    return struct.pack(fmt, v)


def _infer_type(v):
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) and v[0] in META_TYPES:
        return v
    if isinstance(v, bool):
        return ("BOOL", v)
    if isinstance(v, int):
        return ("I64", v) if v < 0 else ("U64", v)
    if isinstance(v, float):
        return ("F64", v)
    if isinstance(v, str):
        return ("STRING", v)
    if isinstance(v, (bytes, bytearray)):
        return ("BYTES", bytes(v))
    if isinstance(v, list):
        if not v:
            return ("ARRAY", ("STRING", []))
        et = _infer_type(v[0])[0]
        if et == "U64" and any(isinstance(x, int) and x < 0 for x in v):
            et = "I64"
        return ("ARRAY", (et, list(v)))
    raise TypeError("cannot store metadata value %r" % (v,))


def metadata_bytes(meta):
    out = [struct.pack("<Q", len(meta))]
    for key, v in meta.items():
        kb = key.encode("utf-8")
        tname, val = _infer_type(v)
        out.append(struct.pack("<I", len(kb)) + kb + struct.pack("<I", META_TYPES[tname][0]))
        if tname == "ARRAY":
            et, items = val
            out.append(struct.pack("<IQ", META_TYPES[et][0], len(items)))
            out.extend(_meta_value(et, x) for x in items)
        else:
            out.append(_meta_value(tname, val))
    return b"".join(out)


def tensor_bytes(t):
    """Raw little-endian bytes of a contiguous CPU tensor (bf16 included)."""
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def _pad(n, a):
    return (n + a - 1) // a * a


def write_file(path, tensors, graph_text=None, metadata=None, tokenizer=None, alignment=64):
    """Writes a sparsa file: tensors is an ordered dict name -> tensor (stored as given)."""
    assert alignment >= 64 and alignment & (alignment - 1) == 0
    data = bytearray()
    directory = [struct.pack("<Q", len(tensors))]
    for name, t in tensors.items():
        if t.dtype not in DTYPE_CODES:
            raise TypeError("tensor %s: unsupported dtype %s" % (name, t.dtype))
        raw = tensor_bytes(t)
        off = _pad(len(data), alignment)
        data.extend(b"\0" * (off - len(data)))
        data.extend(raw)
        nb = name.encode("utf-8")
        directory.append(struct.pack("<I", len(nb)) + nb)
        directory.append(struct.pack("<II", DTYPE_CODES[t.dtype], t.dim()))
        directory.append(b"".join(struct.pack("<Q", s) for s in t.shape))
        directory.append(struct.pack("<IIQQ", 0, zlib.crc32(raw) & 0xFFFFFFFF, off, len(raw)))
    sections = [(KIND_METADATA, metadata_bytes(metadata or {}))]
    if graph_text is not None:
        sections.append((KIND_GRAPH, graph_text.encode("utf-8")))
    if tokenizer is not None:
        sections.append((KIND_TOKENIZER, bytes(tokenizer)))
    sections.append((KIND_TENSOR_DIRECTORY, b"".join(directory)))

    body = bytearray(b"\0" * 64)
    body.extend(b"\0" * (_pad(len(body), alignment) - len(body)))
    table = [(KIND_TENSOR_DATA, len(body), len(data), 0)]
    body.extend(data)
    for kind, blob in sections:
        body.extend(b"\0" * (_pad(len(body), 8) - len(body)))
        table.append((kind, len(body), len(blob), zlib.crc32(blob) & 0xFFFFFFFF))
        body.extend(blob)
    body.extend(b"\0" * (_pad(len(body), 8) - len(body)))
    table_off = len(body)
    table.sort(key=lambda e: e[0])
    for kind, off, size, crc in table:
        body.extend(struct.pack("<IIQQII", kind, 1, off, size, crc, 0))
    hdr = MAGIC + struct.pack("<HHIIIQQQIQ", 1, 0, 0x01020304, 64, alignment, len(body),
                              table_off, len(table), 0, 0)
    hdr += struct.pack("<I", zlib.crc32(hdr) & 0xFFFFFFFF)
    assert len(hdr) == 64
    body[0:64] = hdr
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(body)
    os.replace(tmp, path)


def export_tensors(model, dtype="f32"):
    """state_dict tensors in the stored dtype; a tied lm_head is dropped."""
    sd = model.state_dict()
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    out = {}
    for name, t in sd.items():
        if tied and name == "lm_head.weight":
            continue
        if t.is_floating_point() and dtype != "keep":
            t = t.to(STORE_DTYPES[dtype])
        out[name] = t
    return out


def export(model, path, dtype="f32", tokenizer=None, metadata=None, alignment=64):
    """Writes `model` (a sparsa_ref architecture) as a sparsa file; see the module docstring."""
    graph = graph_for(model)
    meta = {"general.name": graph["name"], "model.architecture": model.arch,
            "converter.name": "sparsa_export.py", "converter.version": "1"}
    cfg = model.config
    if hasattr(cfg, "params"):
        meta["source.config"] = json.dumps(cfg.params, sort_keys=True)
    else:
        meta["source.config"] = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    if tokenizer is not None:
        meta["tokenizer.kind"] = "sentencepiece"
    meta.update(metadata or {})
    write_file(path, export_tensors(model, dtype), graph_yaml(graph), meta, tokenizer,
               alignment)
    return graph


# --------------------------------------------------------------------------------------------
# Reader (self-checks)
# --------------------------------------------------------------------------------------------


class _Buf:
    def __init__(self, b, pos=0):
        self.b, self.pos = b, pos

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.pos)
        self.pos += struct.calcsize(fmt)
        return v if len(v) > 1 else v[0]

    def bytes(self, n):
        if self.pos + n > len(self.b):
            raise ValueError("truncated at %d" % self.pos)
        v = self.b[self.pos:self.pos + n]
        self.pos += n
        return bytes(v)


def _read_meta_value(buf, code):
    name = META_NAMES[code]
    if name in ("STRING", "BYTES"):
        v = buf.bytes(buf.take("<Q"))
        return v.decode("utf-8") if name == "STRING" else v
    if name == "ARRAY":
        et = buf.take("<I")
        n = buf.take("<Q")
        return [_read_meta_value(buf, et) for _ in range(n)]
    v = buf.take(META_TYPES[name][1])
    return bool(v) if name == "BOOL" else v


def read(path):
    """Reads and checks a sparsa file; returns a dict (see the module docstring)."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:8] != MAGIC:
        raise ValueError("bad magic")
    (major, minor, order, hsize, align, fsize, toff, count, flags, _res) = struct.unpack_from(
        "<HHIIIQQQIQ", b, 8)
    if zlib.crc32(b[:60]) & 0xFFFFFFFF != struct.unpack_from("<I", b, 60)[0]:
        raise ValueError("header crc")
    if major != 1 or order != 0x01020304 or fsize != len(b) or flags != 0:
        raise ValueError("bad header fields")
    secs = {}
    for i in range(count):
        kind, sflags, off, size, crc, _ = struct.unpack_from("<IIQQII", b, toff + 32 * i)
        blob = b[off:off + size]
        if kind != KIND_TENSOR_DATA and zlib.crc32(blob) & 0xFFFFFFFF != crc:
            raise ValueError("section %d crc" % kind)
        secs[kind] = (off, size)
    buf = _Buf(b, secs[KIND_METADATA][0])
    meta = {}
    for _ in range(buf.take("<Q")):
        key = buf.bytes(buf.take("<I")).decode("utf-8")
        meta[key] = _read_meta_value(buf, buf.take("<I"))
    data_off = secs[KIND_TENSOR_DATA][0]
    buf = _Buf(b, secs[KIND_TENSOR_DIRECTORY][0])
    tensors = {}
    for _ in range(buf.take("<Q")):
        name = buf.bytes(buf.take("<I")).decode("utf-8")
        dt, nd = buf.take("<II")
        dims = [buf.take("<Q") for _ in range(nd)]
        comp, crc, off, size = buf.take("<IIQQ")
        if comp != 0 or off % align:
            raise ValueError("tensor %s: compression/alignment" % name)
        raw = b[data_off + off:data_off + off + size]
        if zlib.crc32(raw) & 0xFFFFFFFF != crc:
            raise ValueError("tensor %s crc" % name)
        dtype = CODE_DTYPES[dt]
        if dtype == torch.bfloat16:
            t = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(dims)
    graph = b[secs[KIND_GRAPH][0]:sum(secs[KIND_GRAPH])].decode("utf-8") \
        if KIND_GRAPH in secs else None
    tok = b[secs[KIND_TOKENIZER][0]:sum(secs[KIND_TOKENIZER])] if KIND_TOKENIZER in secs else None
    return {"header": dict(major=major, minor=minor, alignment=align, file_size=fsize),
            "metadata": meta, "graph": graph, "tokenizer": tok, "tensors": tensors}
