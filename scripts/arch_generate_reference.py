#!/usr/bin/env python3
"""transformers.generate reference for our Llama and GPT-NeoX, with opt_generate_reference.py's cases.

Dev-time only: CI does not run Python. Writes tests/fixtures/{llama,neox}_generate/ (config.json,
model.safetensors, expected.json in opt_generate's layout: see that script for every field and
for how transformers 5.23 applies the repetition penalty). The cases are OPT's: greedy with and
without EOS, 5-beam search with repetition penalty 1.2 with and without EOS, early stopping with
length penalty 0.5, and batched greedy and beam.

The models: vocab 64, hidden 32, 2 layers, 4 heads; Llama with 2 key/value heads, intermediate
64, default rotary (theta 10000), tied embeddings; GPT-NeoX with partial rotary 0.25, parallel
residual, untied head. initializer_range 0.3 (peaked next-token distributions, choices far from
ties: the script prints the smallest greedy logit gap and beam score gap: Llama 0.022 and
0.0050, GPT-NeoX 0.027 and 0.023, thousands of times the f32 noise), norm weights
1 + N(0, 0.1^2), GPT-NeoX biases N(0, 0.05^2), and the output row of EOS 2 scaled (by 2.0 for
Llama, 4.0 for GPT-NeoX: factors at which EOS ends some greedy and some beam outputs) so that
EOS is generated. BOS = EOS = 2, pad 1, as OPT's fixture.

  .venv/bin/python scripts/arch_generate_reference.py
"""

import json
import os
import shutil
import sys
import tempfile

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import opt_generate_reference as og  # noqa: E402

FIXTURES = os.path.join(og.HERE, "..", "tests", "fixtures")
SEEDS = {"llama": 20241207, "gpt_neox": 20241208}
BOOST = {"llama": 2.0, "gpt_neox": 4.0}


def build(kind):
    torch.manual_seed(SEEDS[kind])
    common = dict(
        vocab_size=og.VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=og.MAX_POS,
        initializer_range=0.3,
        bos_token_id=og.BOS,
        eos_token_id=og.EOS,
        pad_token_id=og.PAD,
        dtype="float32",
    )
    if kind == "llama":
        cfg = LlamaConfig(num_key_value_heads=2, tie_word_embeddings=True, architectures=["LlamaForCausalLM"], **common)
        model = LlamaForCausalLM(cfg)
    else:
        cfg = GPTNeoXConfig(
            rotary_pct=0.25, use_parallel_residual=True, tie_word_embeddings=False,
            architectures=["GPTNeoXForCausalLM"], **common,
        )
        model = GPTNeoXForCausalLM(cfg)
    cfg._attn_implementation = "eager"
    model.eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.05 * torch.randn_like(p))
        model.get_output_embeddings().weight[og.EOS].mul_(BOOST[kind])
    return cfg, model


def main(kind):
    cfg, model = build(kind)
    prompts = og.make_prompts(SEEDS[kind])
    cases = og.all_cases(model, prompts)
    for c in cases:
        if c["eos"] is not None:
            assert og.eos_ends_early(c), c["name"]
    greedy = next(c for c in cases if c["name"] == "greedy")
    gap = og.min_gap(model, prompts, greedy["outputs"])
    bgap = min(og.beam_gap(model, prompts, c) for c in cases if c["kind"] == "beam" and not c["batched"])
    fixture = os.path.join(FIXTURES, {"llama": "llama_generate", "gpt_neox": "neox_generate"}[kind])
    os.makedirs(fixture, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        shutil.copyfile(os.path.join(tmp, "model.safetensors"), os.path.join(fixture, "model.safetensors"))
    cfg.to_json_file(os.path.join(fixture, "config.json"), use_diff=False)
    with open(os.path.join(fixture, "expected.json"), "w") as f:
        json.dump({"seed": SEEDS[kind], "prompts": prompts, "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"{kind}: {len(cases)} cases; smallest greedy logit gap {gap:.4g}, beam score gap {bgap:.4g}")


if __name__ == "__main__":
    for kind in ("llama", "gpt_neox"):
        main(kind)
