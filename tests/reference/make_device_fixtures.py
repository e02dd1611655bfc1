"""make_device_fixtures.py - checkpoints made by the real libraries, for the converters' tests.

Needs: torch 2.x, transformers (tested with 5.x) and lightning (2.x). Neither transformers nor
lightning is packaged by Debian, so this runs on a machine that has them (a GPU is used for the
Lightning fits when present, else the CPU):

    python3 tests/reference/make_device_fixtures.py OUTDIR
    tar -C OUTDIR -czf device.tar.gz .      # then unpack into tests/fixtures/checkpoints/device/

Writes into OUTDIR (each model with <stem>.tokens / <stem>.logits computed by the sparsa PyTorch
reference, tests/reference/sparsa_ref.py, in float32 on the CPU, from the weights as saved):

  hf-llama-safetensors/      LlamaForCausalLM.save_pretrained (safetensors, f32)
  hf-llama-bin/              the same model with safe_serialization=False (pytorch_model.bin)
  hf-llama-sharded/          the same model in bf16, max_shard_size small: several
                             model-0000N-of-0000M.safetensors + model.safetensors.index.json
  hf-gemma2-safetensors/     Gemma2ForCausalLM.save_pretrained (f32, tied embeddings, softcaps,
                             query_pre_attn_scalar, sliding window)
  sg2-<variant>.ckpt         Lightning Trainer.save_checkpoint, precision bf16-true, the
                             reference SparseGemma2 wrapped as LitModule.net.model (keys
                             net.model.model.layers...), after one optimiser step;
  sg2-<variant>.config.json  Gemma2Config keys + the sparse-attention keys
  REPORT.json                versions, and for the Hugging Face models the max |difference|
                             between the reference's logits and transformers' own forward
"""

import functools
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as MF  # noqa: E402
import sparsa_ref as R  # noqa: E402

N = MF.N_TOKENS
REPORT = {}


def reference_from_hf(arch, hf_model, weight_dtype=None):
    """A sparsa_ref model with the Hugging Face model's config and (float32) weights."""
    c = hf_model.config
    rp = getattr(c, "rope_parameters", None) or {}
    theta = getattr(c, "rope_theta", None) or rp.get("rope_theta", 10000.0)
    kw = dict(vocab_size=c.vocab_size, hidden_size=c.hidden_size,
              intermediate_size=c.intermediate_size, num_hidden_layers=c.num_hidden_layers,
              num_attention_heads=c.num_attention_heads,
              num_key_value_heads=c.num_key_value_heads,
              head_dim=getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads,
              rms_norm_eps=c.rms_norm_eps, rope_theta=float(theta),
              tie_word_embeddings=bool(getattr(c, "tie_word_embeddings", False)))
    if arch == "hf-gemma2":
        kw.update(query_pre_attn_scalar=c.query_pre_attn_scalar,
                  attn_logit_softcapping=c.attn_logit_softcapping,
                  final_logit_softcapping=c.final_logit_softcapping,
                  sliding_window=c.sliding_window)
        lt = getattr(c, "layer_types", None)
        if lt:
            want = ["sliding_attention" if i % 2 == 0 else "full_attention"
                    for i in range(c.num_hidden_layers)]
            assert list(lt) == want, lt
    ref = R.ARCHS[arch](R.Config(**kw))
    sd = {k: v.float() for k, v in hf_model.state_dict().items()}
    missing, unexpected = ref.load_state_dict(sd, strict=False)
    assert not [m for m in missing if m != "lm_head.weight"], missing
    assert not unexpected, unexpected
    if weight_dtype is not None:
        R.round_weights_(ref, weight_dtype)
    return ref.eval()


def compare_hf(name, arch, hf_model, outdir, seed, weight_dtype=None):
    """Expected logits from the reference; max |ref - transformers| in float32 on the CPU."""
    hf = hf_model.float().cpu().eval()
    ref = reference_from_hf(arch, hf, weight_dtype)
    toks = MF.tokens_for(seed, hf.config.vocab_size)
    with torch.no_grad():
        want = hf(toks[None]).logits[0].float()
        got = ref(toks[None])[0]
    diff = float((want - got).abs().max())
    MF.write_expected(os.path.join(outdir, name), toks, got)
    REPORT[name] = dict(max_abs_diff_vs_transformers=diff,
                        max_abs_logit=float(want.abs().max()))
    print("%-24s ref vs transformers max|d| = %.3g (|logit| <= %.2f)" % (
        name, diff, float(want.abs().max())))


def make_hf(outdir):
    import transformers
    from transformers import Gemma2Config, Gemma2ForCausalLM, LlamaConfig, LlamaForCausalLM
    REPORT["transformers"] = transformers.__version__

    torch.manual_seed(7000)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
                      rope_theta=10000.0, max_position_embeddings=256,
                      tie_word_embeddings=False, attn_implementation="eager")
    m = LlamaForCausalLM(cfg).eval()
    MF.init_weights(m, 7000, 1.6, norm_neutral=1.0)   # non-trivial attention, as in fixtures
    m.save_pretrained(os.path.join(outdir, "hf-llama-safetensors"))
    compare_hf("hf-llama-safetensors/expected", "hf-llama", m, outdir, 7001)
    d = os.path.join(outdir, "hf-llama-bin")
    try:
        m.save_pretrained(d, safe_serialization=False)
        how = "save_pretrained(safe_serialization=False)"
    except Exception as e:  # newer transformers may refuse .bin: write what it used to write
        os.makedirs(d, exist_ok=True)
        m.config.save_pretrained(d)
        torch.save(m.state_dict(), os.path.join(d, "pytorch_model.bin"))
        how = "config.save_pretrained + torch.save (save_pretrained refused: %s)" % e
    if not os.path.exists(os.path.join(d, "pytorch_model.bin")):
        # transformers 5 writes safetensors even with safe_serialization=False
        m.config.save_pretrained(d)
        torch.save(m.state_dict(), os.path.join(d, "pytorch_model.bin"))
        for f in os.listdir(d):
            if f.endswith(".safetensors"):
                os.remove(os.path.join(d, f))
        how += "; no pytorch_model.bin was written, so torch.save made it (safetensors removed)"
    REPORT["hf-llama-bin"] = dict(how=how, files=sorted(os.listdir(d)))
    compare_hf("hf-llama-bin/expected", "hf-llama", m, outdir, 7001)
    mb = LlamaForCausalLM(cfg)
    mb.load_state_dict(m.state_dict())
    mb = mb.to(torch.bfloat16)
    d = os.path.join(outdir, "hf-llama-sharded")
    mb.save_pretrained(d, max_shard_size="20KB")
    REPORT["hf-llama-sharded"] = dict(files=sorted(os.listdir(d)))
    # Note: .to(bfloat16) also rounds transformers' rotary inv_freq buffer (not saved in the
    # files), so its forward differs from the float32-RoPE reference by ~4e-2 here; loading the
    # folder with from_pretrained recomputes inv_freq in float32.
    compare_hf("hf-llama-sharded/expected", "hf-llama", mb, outdir, 7002, "bf16")

    torch.manual_seed(7100)
    gcfg = Gemma2Config(vocab_size=64, hidden_size=32, intermediate_size=64,
                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        head_dim=16, query_pre_attn_scalar=24, attn_logit_softcapping=5.0,
                        final_logit_softcapping=10.0, sliding_window=16, rms_norm_eps=1e-6,
                        rope_theta=10000.0, max_position_embeddings=256,
                        hidden_activation="gelu_pytorch_tanh", attn_implementation="eager")
    g = Gemma2ForCausalLM(gcfg).eval()
    MF.init_weights(g, 7100, 1.8, norm_neutral=0.0)
    g.save_pretrained(os.path.join(outdir, "hf-gemma2-safetensors"))
    compare_hf("hf-gemma2-safetensors/expected", "hf-gemma2", g, outdir, 7101)


# ---- Lightning ------------------------------------------------------------------------------

LIGHTNING_VARIANTS = [
    # name, sparse config, qk gain, optimiser (AdamW gives a realistic optimizer state)
    ("asentmax-nape", dict(entmax_alpha=1.5, attn_scale_type="adapt-softplus-tanh",
                           attn_scale_proj_bias=True, **MF.NAPE), 1.8, "adamw"),
    ("softmax-rope", dict(entmax_alpha=1.0, apply_rotary=True, apply_nape=False), 1.6, "adamw"),
    ("entmax15-nape", dict(entmax_alpha=1.5, **MF.NAPE), 1.8, "sgd"),
    ("ssmax-nape", dict(entmax_alpha=1.0, attn_scale_type="nakanishi", **MF.NAPE), 1.6, "sgd"),
    ("sparsemax-nope", dict(entmax_alpha=2.0, apply_rotary=False, apply_nape=False), 1.6,
     "sgd"),
    ("entmax13-rope", dict(entmax_alpha=1.3, apply_rotary=True, apply_nape=False), 2.2, "sgd"),
    ("stickbreaking", dict(attn_type="stick-break", apply_rotary=False, apply_nape=False), 1.6,
     "sgd"),
    ("topk-nape", dict(attn_type="topk", topk_size=8, **MF.NAPE), 1.6, "sgd"),
]


def make_lightning(outdir):
    import lightning as L
    REPORT["lightning"] = L.__version__
    REPORT["torch"] = torch.__version__

    class HFWrapper(torch.nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.model = R.SparseGemma2ForCausalLM(cfg)

    class LitModule(L.LightningModule):
        def __init__(self, net_config, optimizer, seed, gain):
            super().__init__()
            self.save_hyperparameters()
            self.net = HFWrapper(R.Config(**net_config))
            MF.init_weights(self.net.model, seed, gain)

        def training_step(self, batch, _):
            (x,) = batch
            logits = self.net.model(x[:, :-1])
            return torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(), x[:, 1:].reshape(-1))

        def configure_optimizers(self):
            return self.hparams.optimizer(self.parameters())

    accel = "gpu" if torch.cuda.is_available() else "cpu"
    REPORT["lightning_accelerator"] = accel
    for i, (name, conf, gain, opt) in enumerate(LIGHTNING_VARIANTS):
        seed = 8000 + 100 * i
        net_config = dict(MF.SPARSE, **conf)
        optim = (functools.partial(torch.optim.AdamW, lr=1e-4, betas=(0.9, 0.99))
                 if opt == "adamw" else functools.partial(torch.optim.SGD, lr=1e-4))
        lit = LitModule(net_config, optim, seed, gain)
        g = torch.Generator().manual_seed(seed + 1)
        data = torch.utils.data.TensorDataset(torch.randint(0, net_config["vocab_size"],
                                                            (4, 33), generator=g))
        trainer = L.Trainer(max_steps=1, accelerator=accel, devices=1, precision="bf16-true",
                            logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(lit, torch.utils.data.DataLoader(data, batch_size=4))
        stem = os.path.join(outdir, "sg2-" + name)
        trainer.save_checkpoint(stem + ".ckpt")
        # expected logits from the weights exactly as saved (bf16), reference in f32 on CPU
        ck = torch.load(stem + ".ckpt", map_location="cpu", weights_only=False)
        sd = ck["state_dict"]
        dtypes = sorted({str(v.dtype) for v in sd.values()})
        ref = R.SparseGemma2ForCausalLM(R.Config(**net_config))
        pre = "net.model."
        assert all(k.startswith(pre) for k in sd), list(sd)[:3]
        ref.load_state_dict({k[len(pre):]: v.float() for k, v in sd.items()})
        R.round_weights_(ref, "bf16")    # no-op on the values; sets the sqrt(D) rounding
        toks = MF.tokens_for(seed + 2, net_config["vocab_size"])
        logits, zf = MF.run_reference(ref.eval(), toks)
        MF.write_expected(stem, toks, logits)
        with open(stem + ".config.json", "w") as f:
            json.dump(MF.sparse_gemma2_config_json(ref.config), f, indent=1)
        REPORT["sg2-" + name] = dict(zero_fraction=round(zf, 4), dtypes=dtypes,
                                     keys=len(sd), first_key=sorted(sd)[0],
                                     optimizer=opt, top_level=sorted(ck))
        print("sg2-%-20s zeros %.3f dtypes %s" % (name, zf, dtypes))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "device-fixtures"
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(4)
    errors = []
    for step in (make_hf, make_lightning):
        try:
            step(out)
        except Exception as e:  # keep what the other step made; report the failure
            import traceback
            traceback.print_exc()
            errors.append("%s: %r" % (step.__name__, e))
    REPORT["errors"] = errors
    with open(os.path.join(out, "REPORT.json"), "w") as f:
        json.dump(REPORT, f, indent=1, sort_keys=True)
        f.write("\n")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
