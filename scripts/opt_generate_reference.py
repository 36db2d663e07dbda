#!/usr/bin/env python3
"""transformers.generate reference for OPT generation (src/models/opt/), as gpt2_generate_reference.py.

Dev-time only: CI does not run Python. It writes tests/fixtures/opt_generate/ for a Rust test
that asserts identical token ids (tests/it/gpt_generate.rs's code can be reused: the layout of
expected.json is that of tests/fixtures/gpt2_generate/expected.json plus a few fields).

What it writes:

  config.json, generation_config.json, model.safetensors
      save_pretrained of a tiny random OPTForCausalLM, pre-LN (do_layer_norm_before=True,
      word_embed_proj_dim == hidden_size, so no project_in/out, and a final_layer_norm): vocab
      64, max_position_embeddings 64 (embed_positions 66 rows), hidden 32, ffn_dim 128, 2 layers,
      4 heads, relu, no dropout, eager attention, tied embeddings, pad 1 / bos 2 / eos 2.
      init_std 0.3 instead of 0.02 so that next-token distributions are peaked (choices far
      from ties: the script prints the smallest greedy top-1/top-2 logit gap and the smallest
      score gap between the best and second-best finished beam hypotheses: 0.0048 and 0.0013,
      ~1000x the f32 noise); biases ~ N(0, 0.05^2),
      layer-norm weights ~ 1 + N(0, 0.1^2), embed_tokens' pad row re-drawn (HF zeroes it), and
      embed_tokens' row 2 (BOS/EOS, tied with the output head) scaled by EOS_BOOST so that EOS 2
      is actually generated (with EOS 2, 3 of the 4 greedy outputs and 2 of the 4 beam outputs
      end early). generation_config.json is OPT's (bos 2, eos 2, pad 1).
  expected.json
      {"seed", "prompts": [[ids]...], "cases": [...]}; every prompt starts with BOS 2 and then
      has ids in 3..63 (never pad 1 or BOS/EOS 2). Each case has
        name, kind ("greedy" | "beam"), max_new_tokens, eos (null: no EOS), pad_token_id (1),
        num_beams (1 for greedy), repetition_penalty (1.0 for greedy), length_penalty,
        early_stopping, no_repeat_ngram_size (0), do_sample (false),
        prompt_indices   the prompts (indices into "prompts") the case ran on
        batched          false: each prompt generated alone (batch 1, no padding);
                         true: those prompts (equal lengths) in one generate call
        outputs          per prompt, the tokens generate added (prompt removed; with an EOS,
                         up to and including it, the pad ids batching adds after it removed)
        sequences        per prompt, the full row generate returned (prompt included; a batched
                         row that ended early is right-padded with pad 1)
        sequences_scores per prompt, beam search's score of the returned hypothesis (the sum of
                         the processed log-probs of its new tokens / (new length)^length_penalty);
                         null for greedy
      Cases: greedy (no EOS), greedy-eos (EOS 2), beam (5 beams, repetition_penalty 1.2, no
      EOS), beam-eos (EOS 2 ends hypotheses early), beam-eos-early-lp0.5 (early_stopping=True,
      length_penalty 0.5), batch-greedy-eos and batch-beam-eos (prompts 0 and 1 in one call).

How transformers 5.23 applies the repetition penalty (RepetitionPenaltyLogitsProcessor): to every
token id present in the sequence so far, prompt included (so BOS 2 = EOS 2 is always penalised),
each id once however often it occurs: score < 0 -> score * penalty, else score / penalty. Greedy
(_sample) applies it to the raw logits; beam search (_beam_search) to log_softmax(logits) (all
<= 0, so it multiplies the log-probs of seen tokens by 1.2), and the penalised log-probs are
what accumulates into the beam scores and sequences_scores. The length penalty divides a
finished hypothesis' summed score by (generated length incl. EOS) ** length_penalty.

Suggested tolerance: token ids must be identical; sequences_scores within 1e-4 absolute (f32
log-probs summed over <= 12 steps; the float32 noise is ~1e-6).

Needs torch, transformers and safetensors (made with torch 2.15 CPU, transformers 5.23: the
crate's .venv). Run from the crate root:

  .venv/bin/python scripts/opt_generate_reference.py

Generation is deterministic: a rerun rewrites the same bytes.
"""

import json
import os
import re

import torch
from transformers import OPTConfig, OPTForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "opt_generate")

SEED = 20240713
VOCAB, MAX_POS, HIDDEN, FFN, N_LAYER, N_HEAD = 64, 64, 32, 128, 2, 4
PAD, BOS, EOS = 1, 2, 2
INIT_STD = 0.3
EOS_BOOST = 1.5
PROMPT_LENS = [6, 6, 6, 3]  # BOS included; prompts 0 and 1 also run as one batch
BATCH = [0, 1]
MAX_NEW_GREEDY = 20
MAX_NEW_BEAM = 12
NUM_BEAMS, REPETITION_PENALTY = 5, 1.2


def build_model(seed=SEED, boost=EOS_BOOST):
    torch.manual_seed(seed)
    cfg = OPTConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=N_LAYER,
        ffn_dim=FFN,
        max_position_embeddings=MAX_POS,
        do_layer_norm_before=True,
        word_embed_proj_dim=HIDDEN,
        dropout=0.0,
        attention_dropout=0.0,
        num_attention_heads=N_HEAD,
        activation_function="relu",
        init_std=INIT_STD,
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=EOS,
        architectures=["OPTForCausalLM"],
        dtype="float32",
    )
    cfg._attn_implementation = "eager"
    model = OPTForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                if "layer_norm" in name and name.endswith("weight"):
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                else:
                    p.copy_(0.05 * torch.randn_like(p))
        emb = model.model.decoder.embed_tokens.weight
        emb[PAD].copy_(INIT_STD * torch.randn_like(emb[PAD]))
        emb[EOS].mul_(boost)
    return model


def run(model, prompts, eos, num_beams, rp=1.0, max_new=MAX_NEW_GREEDY, lp=1.0, early=False):
    """One generate call on equal-length prompts; returns (sequences, scores or None)."""
    ids = torch.tensor(prompts)
    model.generation_config.eos_token_id = eos  # None really means no EOS
    kw = {}
    if num_beams > 1:
        kw = dict(length_penalty=lp, early_stopping=early)
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            do_sample=False,
            num_beams=num_beams,
            repetition_penalty=rp,
            no_repeat_ngram_size=0,
            max_new_tokens=max_new,
            eos_token_id=eos,
            pad_token_id=PAD,
            return_dict_in_generate=True,
            output_scores=True,
            **kw,
        )
    seqs = out.sequences.tolist()
    scores = out.sequences_scores.tolist() if num_beams > 1 else None
    return seqs, scores


def new_tokens(seq, n_prompt, eos):
    out = seq[n_prompt:]
    if eos is not None and eos in out:
        out = out[: out.index(eos) + 1]
    return out


def case(model, prompts, name, kind, eos, max_new, indices, batched, rp=1.0, lp=1.0, early=False):
    beams = NUM_BEAMS if kind == "beam" else 1
    seqs, scores = [], []
    groups = [indices] if batched else [[i] for i in indices]
    for g in groups:
        s, sc = run(model, [prompts[i] for i in g], eos, beams, rp, max_new, lp, early)
        seqs += s
        scores += sc if sc is not None else [None] * len(s)
    outputs = [new_tokens(s, len(prompts[i]), eos) for s, i in zip(seqs, indices)]
    return dict(
        name=name,
        kind=kind,
        max_new_tokens=max_new,
        eos=eos,
        pad_token_id=PAD,
        num_beams=beams,
        repetition_penalty=rp,
        length_penalty=lp,
        early_stopping=early,
        no_repeat_ngram_size=0,
        do_sample=False,
        prompt_indices=indices,
        batched=batched,
        outputs=outputs,
        sequences=seqs,
        sequences_scores=scores if kind == "beam" else None,
    )


def make_prompts(seed):
    g = torch.Generator().manual_seed(seed + 1)
    return [[BOS] + torch.randint(3, VOCAB, (n - 1,), generator=g).tolist() for n in PROMPT_LENS]


def all_cases(model, prompts):
    every = list(range(len(prompts)))
    beam = dict(rp=REPETITION_PENALTY, max_new=MAX_NEW_BEAM)
    return [
        case(model, prompts, "greedy", "greedy", None, MAX_NEW_GREEDY, every, False),
        case(model, prompts, "greedy-eos", "greedy", EOS, MAX_NEW_GREEDY, every, False),
        case(model, prompts, "beam", "beam", None, indices=every, batched=False, **beam),
        case(model, prompts, "beam-eos", "beam", EOS, indices=every, batched=False, **beam),
        case(model, prompts, "beam-eos-early-lp0.5", "beam", EOS, indices=every, batched=False, lp=0.5, early=True, **beam),
        case(model, prompts, "batch-greedy-eos", "greedy", EOS, MAX_NEW_GREEDY, BATCH, True),
        case(model, prompts, "batch-beam-eos", "beam", EOS, indices=BATCH, batched=True, **beam),
    ]


def eos_ends_early(c):
    return any(len(o) < c["max_new_tokens"] and o[-1] == c["eos"] for o in c["outputs"])


def min_gap(model, prompts, outputs):
    """Smallest top-1/top-2 logit gap along greedy paths (how far from a tie they are)."""
    gap = float("inf")
    with torch.no_grad():
        for p, o in zip(prompts, outputs):
            seq = torch.tensor([p + o])
            logits = model(seq, attention_mask=torch.ones_like(seq)).logits[0, len(p) - 1 : len(p) - 1 + len(o)]
            top2 = logits.topk(2, dim=-1).values
            gap = min(gap, (top2[:, 0] - top2[:, 1]).min().item())
    return gap


def beam_gap(model, prompts, c):
    """Smallest score gap between the best and second-best finished hypotheses."""
    gap = float("inf")
    for p in prompts:
        ids = torch.tensor([p])
        model.generation_config.eos_token_id = c["eos"]
        with torch.no_grad():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                num_beams=NUM_BEAMS,
                num_return_sequences=2,
                repetition_penalty=c["repetition_penalty"],
                max_new_tokens=c["max_new_tokens"],
                length_penalty=c["length_penalty"],
                early_stopping=c["early_stopping"],
                eos_token_id=c["eos"],
                pad_token_id=PAD,
                return_dict_in_generate=True,
                output_scores=True,
            )
        s = out.sequences_scores.tolist()
        gap = min(gap, s[0] - s[1])
    return gap


def main():
    model = build_model()
    prompts = make_prompts(SEED)
    cases = all_cases(model, prompts)
    for c in cases:
        if c["eos"] is None:
            assert all(len(o) == c["max_new_tokens"] for o in c["outputs"]), c["name"]
        else:
            assert eos_ends_early(c), f"{c['name']}: EOS {c['eos']} ends no output early"
        if c["batched"]:
            alone = next(a for a in cases if a["name"] == c["name"][len("batch-") :])
            for i, o in zip(c["prompt_indices"], c["outputs"]):
                assert o == alone["outputs"][i], (c["name"], i)
        lens = [len(o) for o in c["outputs"]]
        print(f"{c['name']:>22}: eos {c['eos']}, lengths {lens}, scores {c['sequences_scores']}")
    print(f"greedy: smallest top-1/top-2 logit gap {min_gap(model, prompts, cases[0]['outputs']):.4f}")
    for c in cases:
        if c["kind"] == "beam" and not c["batched"]:
            print(f"{c['name']}: smallest best/second-best hypothesis score gap {beam_gap(model, prompts, c):.4f}")

    # generation_config.json as OPT's (bos 2, eos 2, pad 1).
    model.generation_config.eos_token_id = EOS
    model.generation_config.bos_token_id = BOS
    model.generation_config.pad_token_id = PAD
    os.makedirs(FIXTURE, exist_ok=True)
    model.save_pretrained(FIXTURE, safe_serialization=True)
    with open(os.path.join(FIXTURE, "expected.json"), "w") as f:
        text = json.dumps(dict(seed=SEED, prompts=prompts, cases=cases), indent=1)
        # One line per token list / score list.
        text = re.sub(
            r"\[\s+([-\d.e,\s]+?)\s+\]",
            lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]",
            text,
        )
        f.write(text + "\n")
    size = sum(os.path.getsize(os.path.join(FIXTURE, n)) for n in os.listdir(FIXTURE))
    print(f"wrote {FIXTURE} ({size} bytes)")


if __name__ == "__main__":
    main()
