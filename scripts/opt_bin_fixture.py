#!/usr/bin/env python3
"""Writes tests/fixtures/opt_tiny_preln/pytorch_model.bin: the fixture's weights as the
original OPT checkpoints on the Hub store them (facebook/opt-125m has only this file):
a `torch.save` zip of an f16 state dict with `decoder.*` names (no `model.` prefix) and an
explicit `lm_head.weight`, which loaders must ignore (it is tied to the embedding).

tests/it/opt_reference.rs loads it and the f32 safetensors and checks they agree within f16
rounding (half an f16 ulp: |w| * 2^-11). Dev-time only; rerunning rewrites the same bytes.

  .venv/bin/python scripts/opt_bin_fixture.py
"""

import os

import torch
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = os.path.join(HERE, "..", "tests", "fixtures", "opt_tiny_preln")


def main():
    sd = load_file(os.path.join(DIR, "model.safetensors"))
    out = {}
    for name in sorted(sd):
        out[name.removeprefix("model.")] = sd[name].to(torch.float16).contiguous()
    out["lm_head.weight"] = out["decoder.embed_tokens.weight"].clone()
    path = os.path.join(DIR, "pytorch_model.bin")
    torch.save(out, path)
    print(f"wrote {path}: {len(out)} tensors, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
