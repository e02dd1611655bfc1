"""make_big_safetensors.py - a large Hugging Face Llama folder (single safetensors file) for the
converter's memory and speed measurement (not a test fixture; write it under /tmp and delete it
after). Needs numpy only.

    /usr/bin/python3 tests/reference/checkpoints/make_big_safetensors.py /tmp/big-llama [layers]

Default shape: vocab 32000, hidden 1024, FFN 2816, 4 layers, f32: 466 MB, largest tensor
(embedding and lm_head) 131 MB.
"""
import json
import os
import struct
import sys

import numpy as np

V, D, F = 32000, 1024, 2816


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    os.makedirs(out, exist_ok=True)
    shapes = [("model.embed_tokens.weight", (V, D))]
    for i in range(n):
        p = "model.layers.%d." % i
        shapes += [(p + "input_layernorm.weight", (D,)), (p + "post_attention_layernorm.weight", (D,))]
        shapes += [(p + "self_attn.%s_proj.weight" % c, (D, D)) for c in "qkvo"]
        shapes += [(p + "mlp.gate_proj.weight", (F, D)), (p + "mlp.up_proj.weight", (F, D)),
                   (p + "mlp.down_proj.weight", (D, F))]
    shapes += [("model.norm.weight", (D,)), ("lm_head.weight", (V, D))]
    hdr, off = {}, 0
    for name, shp in shapes:
        nb = 4 * int(np.prod(shp))
        hdr[name] = {"dtype": "F32", "shape": list(shp), "data_offsets": [off, off + nb]}
        off += nb
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    rng = np.random.default_rng(0)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name, shp in shapes:
            f.write((rng.standard_normal(shp, dtype=np.float32) * 0.02).tobytes())
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": V,
           "hidden_size": D, "intermediate_size": F, "num_hidden_layers": n,
           "num_attention_heads": 16, "num_key_value_heads": 16, "rms_norm_eps": 1e-5,
           "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
           "torch_dtype": "float32"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


if __name__ == "__main__":
    main()
