#!/usr/bin/env python3
"""PyTorch / transformers reference for our Llama and GPT-NeoX (src/models/llama/, gpt_neox/), as
opt_reference.py is for OPT.

Dev-time only: CI does not run Python. Writes tests/fixtures/llama_tiny/ and neox_tiny/:

  config.json            the full LlamaConfig (to_json_file(use_diff=False): rope_parameters,
                         transformers 5's spelling)
  model.safetensors      the initial weights as save_pretrained writes them (tied head: no
                         lm_head.weight)
  reference.safetensors  blocks (3, 17) int64 random ids; logits (3, 16, V) for blocks[:, :-1];
                         loss (); grad.<name> of every parameter; cached_logits (4, V): row 0's
                         last 4 positions one token at a time through past_key_values;
                         losses (10,), grad_norms (10,) and final.<name> after 10 AdamW steps
  hyperparams.json       the optimizer and schedule, as opt_reference.py's

llama_tiny: LlamaForCausalLM, vocab 96, hidden 32, intermediate 64, 2 layers, 4 query heads and 2
key/value heads (grouped-query attention, head_dim 8), max_position_embeddings 32, rms_norm_eps
1e-6, tied embeddings, eager attention, no biases, and Llama 3's rotary scaling (rope_type
llama3, theta 10000, factor 4, low_freq_factor 1, high_freq_factor 4, original context 16), so
that the 4 frequencies of a head fall in all three of its cases (kept, scaled, smoothed).
neox_tiny: GPTNeoXForCausalLM, vocab 96, hidden 32, intermediate 64, 2 layers, 4 heads,
max_position_embeddings 32, rotary on a quarter of each head (partial_rotary_factor 0.25, head_dim
8: 2 dimensions, as Pythia's 0.25), use_parallel_residual, exact GELU, untied head, biases.

Initialisation is HF's with initializer_range 0.2 (logits far from uniform), then every
norm weight 1 + N(0, 0.1^2) and every bias N(0, 0.05^2). Training is opt_reference.py's: AdamW with a decay group
(>= 2 dims, 0.1) and a no-decay group, betas (0.9, 0.95), eps 1e-8, clipping at 1.0, warmup 3 /
total 10 / peak 1e-2 / min 1e-3, the same batch every step.

Suggested tolerances (f32 both sides): those of tests/it/opt_reference.rs.

  .venv/bin/python scripts/arch_reference.py            # both fixtures
  COLLAPSE_LAB_EXPORT_DIR=/tmp/x cargo test --test it cli_hub_models
  .venv/bin/python scripts/arch_reference.py --verify-checkpoint /tmp/x/llama-chain-gen-02

--verify-checkpoint loads a checkpoint our chain saved (the fake-Hub tests export one per
architecture) with AutoModelForCausalLM.from_pretrained and fails on any missing or unexpected
weight (the reference tests above cover the arithmetic).
"""

import json
import math
import os
import shutil
import tempfile

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")
SEEDS = {"llama": 20241205, "gpt_neox": 20241206}
VOCAB, BATCH, BLOCK, CACHED = 96, 3, 17, 4
STEPS, WARMUP, PEAK_LR, MIN_LR = 10, 3, 1e-2, 1e-3
BETAS, EPS, WEIGHT_DECAY, MAX_NORM = (0.9, 0.95), 1e-8, 0.1, 1.0


def lr_at(step):
    if step < WARMUP:
        return PEAK_LR * (step + 1) / WARMUP
    progress = (step - WARMUP) / max(STEPS - WARMUP, 1)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * progress)) * (PEAK_LR - MIN_LR)


def neox_config():
    cfg = GPTNeoXConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=32,
        rotary_pct=0.25,
        rotary_emb_base=10000,
        use_parallel_residual=True,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        initializer_range=0.2,
        tie_word_embeddings=False,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        bos_token_id=0,
        eos_token_id=0,
        architectures=["GPTNeoXForCausalLM"],
        dtype="float32",
    )
    cfg._attn_implementation = "eager"
    return cfg


def llama_config():
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32,
        rms_norm_eps=1e-6,
        initializer_range=0.2,
        tie_word_embeddings=True,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 10000.0,
            "factor": 4.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16,
        },
        bos_token_id=1,
        eos_token_id=2,
        architectures=["LlamaForCausalLM"],
        dtype="float32",
    )
    cfg._attn_implementation = "eager"
    return cfg


def logits_and_loss(model, blocks):
    logits = model(input_ids=blocks[:, :-1]).logits
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), blocks[:, 1:].reshape(-1))
    return logits, loss


def main(kind):
    seed, fixture = SEEDS[kind], os.path.join(FIXTURES, {"llama": "llama_tiny", "gpt_neox": "neox_tiny"}[kind])
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    cfg = llama_config() if kind == "llama" else neox_config()
    cls = LlamaForCausalLM if kind == "llama" else GPTNeoXForCausalLM
    model = cls(cfg).float()
    model.train()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif kind == "gpt_neox" and p.dim() == 1:
                p.copy_(0.05 * torch.randn_like(p))
    named = dict(model.named_parameters())
    if kind == "llama":
        assert "lm_head.weight" not in named and model.lm_head.weight is model.model.embed_tokens.weight
    else:
        assert "lm_head.weight" in named, sorted(named)
    initial = {k: v.detach().clone().contiguous() for k, v in named.items()}
    g = torch.Generator().manual_seed(seed + 1)
    blocks = torch.randint(0, VOCAB, (BATCH, BLOCK), generator=g, dtype=torch.int64)
    blocks[:, 0] = cfg.bos_token_id

    logits, loss = logits_and_loss(model, blocks)
    model.zero_grad(set_to_none=True)
    loss.backward()
    ref = {"blocks": blocks, "logits": logits.detach().contiguous(), "loss": loss.detach().reshape(())}
    for k, p in named.items():
        ref["grad." + k] = p.grad.detach().clone().contiguous()
    model.zero_grad(set_to_none=True)

    inputs = blocks[:, :-1]
    t = inputs.shape[1]
    with torch.no_grad():
        out = model(input_ids=inputs[:1, : t - CACHED], use_cache=True)
        past, steps = out.past_key_values, []
        for i in range(t - CACHED, t):
            out = model(input_ids=inputs[:1, i : i + 1], past_key_values=past, use_cache=True)
            past = out.past_key_values
            steps.append(out.logits[0, -1])
    ref["cached_logits"] = torch.stack(steps).contiguous()
    assert (ref["cached_logits"] - logits[0, t - CACHED :].detach()).abs().max() <= 1e-5

    decay = [p for p in named.values() if p.dim() >= 2]
    no_decay = [p for p in named.values() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=PEAK_LR, betas=BETAS, eps=EPS, foreach=False, fused=False,
    )
    losses, norms, lrs = [], [], []
    for step in range(STEPS):
        lr = lr_at(step)
        for grp in opt.param_groups:
            grp["lr"] = lr
        opt.zero_grad(set_to_none=True)
        _, loss = logits_and_loss(model, blocks)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(list(named.values()), MAX_NORM)
        opt.step()
        losses.append(loss.item())
        norms.append(norm.item())
        lrs.append(lr)
    ref["losses"] = torch.tensor(losses, dtype=torch.float32)
    ref["grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    for k, p in named.items():
        ref["final." + k] = p.detach().clone().contiguous()

    os.makedirs(fixture, exist_ok=True)
    fresh = cls(cfg)
    missing, unexpected = fresh.load_state_dict(initial, strict=False)
    assert set(missing) <= {"lm_head.weight"} and not unexpected, (missing, unexpected)
    with tempfile.TemporaryDirectory() as tmp:
        fresh.save_pretrained(tmp, safe_serialization=True)
        shutil.copyfile(os.path.join(tmp, "model.safetensors"), os.path.join(fixture, "model.safetensors"))
    cfg.to_json_file(os.path.join(fixture, "config.json"), use_diff=False)
    save_file(ref, os.path.join(fixture, "reference.safetensors"), metadata={"format": "pt"})
    hyper = {
        "steps": STEPS,
        "schedule": {"kind": "warmup_cosine", "warmup": WARMUP, "total": STEPS, "peak": PEAK_LR, "min": MIN_LR},
        "lrs": lrs,
        "beta1": BETAS[0],
        "beta2": BETAS[1],
        "eps": EPS,
        "weight_decay": WEIGHT_DECAY,
        "decay_rule": "parameters with >= 2 dims",
        "max_grad_norm": MAX_NORM,
        "seed": seed,
        "torch": torch.__version__,
    }
    with open(os.path.join(fixture, "hyperparams.json"), "w") as f:
        json.dump(hyper, f, indent=2)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(fixture, n)) for n in os.listdir(fixture))
    print(f"wrote {fixture} ({size} bytes); losses {losses[0]:.4f} -> {losses[-1]:.4f}, norms {norms[0]:.3f} -> {norms[-1]:.3f}")


def verify_checkpoint(path):
    from transformers import AutoModelForCausalLM

    model, info = AutoModelForCausalLM.from_pretrained(path, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k != "mismatched_keys" or (k == "mismatched_keys" and v)}
    assert not bad, bad
    print(f"{path}: {type(model).__name__}, {sum(p.numel() for p in model.parameters())} parameters, "
          "no missing, unexpected or mismatched weights")


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--verify-checkpoint":
        verify_checkpoint(sys.argv[2])
    else:
        for kind in ("llama", "gpt_neox"):
            main(kind)
