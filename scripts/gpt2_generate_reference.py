#!/usr/bin/env python3
"""transformers.generate reference for our generation (src/lm/generate/).

Dev-time only: CI does not run Python. It reads the fixture this script commits, in
tests/fixtures/gpt2_generate/, through the Rust test tests/it/gpt_generate.rs, which asserts
identical token ids.

What it writes:

  config.json, generation_config.json, model.safetensors
      a tiny random GPT2LMHeadModel (save_pretrained, safetensors): vocab 64, context 32,
      width 32, 2 layers, 4 heads, gelu_new, no dropout, eager attention, initializer_range
      0.3 instead of 0.02 so that next-token distributions are peaked (greedy and beam choices
      are then far from ties, and rounding differences between candle and PyTorch, ~1e-6,
      cannot flip them; the script reports the smallest top-1/top-2 logit gap it relied on)
  expected.json
      {"prompts": [[ids]...], "cases": [{"name", "kind": "greedy"|"beam", settings...,
       "outputs": [[new ids]...]}]}: for every prompt, the tokens `generate` added (the prompt
      removed), each prompt generated alone (batch 1, so no padding).

Cases: greedy without EOS; greedy with an EOS that some prompts hit; beam search with 5 beams
and repetition penalty 1.2 (no EOS); the same with an EOS that the best hypotheses hit (so
finished hypotheses of different lengths compete); that with early_stopping=True and
length_penalty 0.5. The EOS tokens are chosen by this script (a token the EOS-free outputs
produce early), and it checks that the EOS really ends some outputs early.

Needs torch, transformers and safetensors (made with torch 2.15 CPU, transformers 5.23: the
crate's .venv). Run from the crate root:

  .venv/bin/python scripts/gpt2_generate_reference.py

Generation is deterministic: a rerun rewrites the same bytes.
"""

import json
import os
import re

import torch
from transformers import GPT2Config, GPT2LMHeadModel

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "gpt2_generate")

SEED = 20240612
VOCAB, N_POSITIONS, N_EMBD, N_LAYER, N_HEAD = 64, 32, 32, 2, 4
INIT_RANGE = 0.3
PROMPT_LENS = [6, 6, 6, 3]  # equal lengths batch together in Rust; 3 is a group of its own
MAX_NEW_GREEDY = 20
MAX_NEW_BEAM = 16
NUM_BEAMS, REPETITION_PENALTY = 5, 1.2


def build_model():
    torch.manual_seed(SEED)
    cfg = GPT2Config(
        vocab_size=VOCAB,
        n_positions=N_POSITIONS,
        n_embd=N_EMBD,
        n_layer=N_LAYER,
        n_head=N_HEAD,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        initializer_range=INIT_RANGE,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    cfg._attn_implementation = "eager"
    model = GPT2LMHeadModel(cfg).eval()
    # No EOS unless a case asks for one (generate would otherwise stop at config.eos_token_id).
    model.generation_config.eos_token_id = None
    model.generation_config.bos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def generate(model, prompt, eos, **kw):
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=0,
            **kw,
        )
    return out[0, len(prompt):].tolist()


def min_gap(model, prompts, outputs):
    """Smallest top-1/top-2 logit gap along the greedy paths (how far from a tie they are)."""
    gap = float("inf")
    with torch.no_grad():
        for p, o in zip(prompts, outputs):
            seq = torch.tensor([p + o])
            logits = model(seq, attention_mask=torch.ones_like(seq)).logits[0, len(p) - 1 : len(p) - 1 + len(o)]
            top2 = logits.topk(2, dim=-1).values
            gap = min(gap, (top2[:, 0] - top2[:, 1]).min().item())
    return gap


def pick_eos(outputs, max_new, run):
    """A token that, as EOS, ends at least one output early (before max_new)."""
    seen = []
    for o in outputs:
        for t in o[2:6]:
            if t not in seen:
                seen.append(t)
    for eos in seen:
        outs = run(eos)
        if any(len(o) < max_new and o[-1] == eos for o in outs):
            return eos, outs
    raise SystemExit("no EOS token ends an output early: change SEED")


def main():
    model = build_model()
    g = torch.Generator().manual_seed(SEED + 1)
    prompts = [torch.randint(1, VOCAB, (n,), generator=g).tolist() for n in PROMPT_LENS]

    cases = []

    def greedy(eos):
        return [generate(model, p, eos, num_beams=1, max_new_tokens=MAX_NEW_GREEDY) for p in prompts]

    plain = greedy(None)
    assert all(len(o) == MAX_NEW_GREEDY for o in plain)
    cases.append(dict(name="greedy", kind="greedy", max_new_tokens=MAX_NEW_GREEDY, eos=None, outputs=plain))
    eos, outs = pick_eos(plain, MAX_NEW_GREEDY, greedy)
    cases.append(dict(name="greedy-eos", kind="greedy", max_new_tokens=MAX_NEW_GREEDY, eos=eos, outputs=outs))
    print(f"greedy: smallest top-1/top-2 logit gap {min_gap(model, prompts, plain):.4f}")

    def beam(eos, length_penalty=1.0, early_stopping=False):
        return [
            generate(
                model,
                p,
                eos,
                num_beams=NUM_BEAMS,
                repetition_penalty=REPETITION_PENALTY,
                max_new_tokens=MAX_NEW_BEAM,
                length_penalty=length_penalty,
                early_stopping=early_stopping,
            )
            for p in prompts
        ]

    settings = dict(
        kind="beam",
        num_beams=NUM_BEAMS,
        repetition_penalty=REPETITION_PENALTY,
        max_new_tokens=MAX_NEW_BEAM,
    )
    plain = beam(None)
    assert all(len(o) == MAX_NEW_BEAM for o in plain)
    cases.append(dict(name="beam", length_penalty=1.0, early_stopping=False, eos=None, outputs=plain, **settings))
    eos, outs = pick_eos(plain, MAX_NEW_BEAM, beam)
    cases.append(dict(name="beam-eos", length_penalty=1.0, early_stopping=False, eos=eos, outputs=outs, **settings))
    outs = beam(eos, length_penalty=0.5, early_stopping=True)
    cases.append(dict(name="beam-eos-early-lp0.5", length_penalty=0.5, early_stopping=True, eos=eos, outputs=outs, **settings))

    for c in cases:
        print(f"{c['name']:>22}: eos {c['eos']}, lengths {[len(o) for o in c['outputs']]}")

    os.makedirs(FIXTURE, exist_ok=True)
    model.save_pretrained(FIXTURE, safe_serialization=True)
    with open(os.path.join(FIXTURE, "expected.json"), "w") as f:
        text = json.dumps(dict(seed=SEED, prompts=prompts, cases=cases), indent=1)
        # One line per token list.
        text = re.sub(r"\[\s+([-\d,\s]+?)\s+\]", lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text)
        f.write(text + "\n")


if __name__ == "__main__":
    main()
