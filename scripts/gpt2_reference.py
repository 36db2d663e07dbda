#!/usr/bin/env python3
"""PyTorch / transformers reference for our GPT-2 (in the style of llm.c's test_gpt2).

Dev-time only: CI does not run Python. It reads the fixture this script commits, in
tests/fixtures/gpt2_tiny/, through the Rust test tests/it/gpt_reference.rs.

What it writes (float32 throughout, token ids as int64):

  config.json            GPT2Config of the tiny model (full, not a diff against defaults)
  model.safetensors      the initial weights, Hugging Face names, no lm_head.weight (tied),
                         {"format": "pt"} metadata
  reference.safetensors  blocks            (B, T+1) int64 token ids
                         logits            (B, T, V) logits for the inputs blocks[:, :-1]
                         loss              ()  mean next-token cross-entropy (= HF labels loss)
                         grad.<name>       gradient of every parameter at the initial weights
                                           (the tied wte gradient includes the lm_head part)
                         losses            (STEPS,) loss before each AdamW step
                         grad_norms        (STEPS,) global gradient norm before clipping
                         final.<name>      every parameter after STEPS AdamW steps
  hyperparams.json       optimizer, clipping and learning-rate schedule (with each step's lr)

The model is GPT2LMHeadModel with vocab 96, context 16, width 24 (not 32: it keeps the three
copies of the weights under 300 KB), 2 layers, 4 heads, no dropout, gelu_new, layer-norm eps 1e-5, eager attention. Initialisation is HF's with
initializer_range 0.2 instead of 0.02 (so logits and attention are far from uniform and the
test is sensitive), and the biases and layer-norm scales are then perturbed from 0 and 1 (so
their gradients are not special cases). Training: torch.optim.AdamW with a decay group
(parameters with >= 2 dims, weight decay 0.1) and a no-decay group, betas (0.9, 0.95), eps
1e-8, clip_grad_norm_(1.0) before each step, and nanoGPT's warmup+cosine schedule
(collapse_lab::nn::adamw::warmup_cosine): warmup 3, total 10, peak 1e-2, min 1e-3, on the same
batch each step. The gradient norm starts at 3.2 and ends at 0.88, so clipping acts on the
first 8 steps and not on the last 2. Generation is deterministic: a rerun rewrites the same bytes.

The attention key biases (the middle third of each c_attn.bias) are special: the loss does not
depend on them, their gradient is ~1e-8 of rounding noise, and Adam turns that noise into
+-lr steps, so their final values legitimately differ between implementations (the Rust test
and --verify-export report them apart and check the function instead).

Needs torch, transformers and safetensors (made with torch 2.15 CPU, transformers 5.23: the
crate's .venv). Run from the crate root:

  .venv/bin/python scripts/gpt2_reference.py                  # (re)writes the fixture
  .venv/bin/python scripts/gpt2_reference.py --verify-export DIR

--verify-export checks that a checkpoint written by our Rust code loads in transformers
unchanged: DIR is what `COLLAPSE_LAB_EXPORT_DIR=DIR cargo test --test it gpt_reference`
writes (our model after the STEPS steps: model.safetensors + config.json). It loads it with
GPT2LMHeadModel.from_pretrained(DIR), and compares its weights with final.* and its logits on
the reference blocks with those of the PyTorch model after the same steps.
"""

import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import GPT2Config, GPT2LMHeadModel

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "gpt2_tiny")

SEED = 20240611
VOCAB, N_POSITIONS, N_EMBD, N_LAYER, N_HEAD = 96, 16, 24, 2, 4
BATCH, BLOCK = 3, 13  # blocks (3, 13): inputs (3, 12), targets (3, 12)
INIT_RANGE = 0.2

STEPS = 10
WARMUP, PEAK_LR, MIN_LR = 3, 1e-2, 1e-3
BETAS, EPS, WEIGHT_DECAY, MAX_NORM = (0.9, 0.95), 1e-8, 0.1, 1.0


def lr_at(step):
    """collapse_lab::nn::adamw::warmup_cosine(step, WARMUP, STEPS, PEAK_LR, MIN_LR)."""
    if step < WARMUP:
        return PEAK_LR * (step + 1) / WARMUP
    if step >= STEPS:
        return MIN_LR
    progress = (step - WARMUP) / max(STEPS - WARMUP, 1)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * progress)) * (PEAK_LR - MIN_LR)


def config():
    return GPT2Config(
        vocab_size=VOCAB,
        n_positions=N_POSITIONS,
        n_embd=N_EMBD,
        n_layer=N_LAYER,
        n_head=N_HEAD,
        n_inner=None,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=1e-5,
        initializer_range=INIT_RANGE,
        bos_token_id=0,
        eos_token_id=0,
        tie_word_embeddings=True,
        architectures=["GPT2LMHeadModel"],
        attn_implementation="eager",
    )


def params(model):
    """Named parameters, tied ones once (transformer.wte.weight, not lm_head.weight)."""
    named = dict(model.named_parameters())
    assert "lm_head.weight" not in named, sorted(named)
    assert model.lm_head.weight is model.transformer.wte.weight, "embeddings are not tied"
    return named


def logits_and_loss(model, blocks):
    logits = model(input_ids=blocks[:, :-1]).logits
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), blocks[:, 1:].reshape(-1))
    return logits, loss


def generate():
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    cfg = config()
    model = GPT2LMHeadModel(cfg).float()
    model.train()  # dropout probabilities are all 0, so train == eval
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                if ".ln_" in name and name.endswith("weight"):
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                else:
                    p.copy_(0.05 * torch.randn_like(p))
    named = params(model)
    initial = {k: v.detach().clone().contiguous() for k, v in named.items()}
    blocks = torch.randint(0, VOCAB, (BATCH, BLOCK), dtype=torch.int64)

    # Forward and backward at the initial weights.
    logits, loss = logits_and_loss(model, blocks)
    hf_loss = model(input_ids=blocks, labels=blocks).loss
    assert torch.allclose(loss, hf_loss, atol=1e-6), (loss.item(), hf_loss.item())
    model.zero_grad(set_to_none=True)
    loss.backward()
    ref = {
        "blocks": blocks,
        "logits": logits.detach().contiguous(),
        "loss": loss.detach().reshape(()),
    }
    for k, p in named.items():
        ref["grad." + k] = p.grad.detach().clone().contiguous()

    # Training: AdamW with decay / no-decay groups, clipping, the schedule above.
    decay = [p for p in named.values() if p.dim() >= 2]
    no_decay = [p for p in named.values() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": WEIGHT_DECAY},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=PEAK_LR,
        betas=BETAS,
        eps=EPS,
        foreach=False,
        fused=False,
    )
    losses, norms, lrs = [], [], []
    for step in range(STEPS):
        lr = lr_at(step)
        for g in opt.param_groups:
            g["lr"] = lr
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

    os.makedirs(FIXTURE, exist_ok=True)
    cfg.to_json_file(os.path.join(FIXTURE, "config.json"), use_diff=False)
    save_file(initial, os.path.join(FIXTURE, "model.safetensors"), metadata={"format": "pt"})
    save_file(ref, os.path.join(FIXTURE, "reference.safetensors"), metadata={"format": "pt"})
    hyper = {
        "steps": STEPS,
        "schedule": {
            "kind": "warmup_cosine",
            "warmup": WARMUP,
            "total": STEPS,
            "peak": PEAK_LR,
            "min": MIN_LR,
        },
        "lrs": lrs,
        "beta1": BETAS[0],
        "beta2": BETAS[1],
        "eps": EPS,
        "weight_decay": WEIGHT_DECAY,
        "decay_rule": "parameters with >= 2 dims",
        "max_grad_norm": MAX_NORM,
        "seed": SEED,
        "torch": torch.__version__,
    }
    with open(os.path.join(FIXTURE, "hyperparams.json"), "w") as f:
        json.dump(hyper, f, indent=2)
        f.write("\n")

    # The fixture must load in transformers as it is (what our Rust checkpoints rely on too).
    check = compare_loaded(FIXTURE, initial, ref["logits"], blocks)
    size = sum(os.path.getsize(os.path.join(FIXTURE, n)) for n in os.listdir(FIXTURE))
    print(f"wrote {FIXTURE} ({size} bytes); reload max |dlogits| {check:.3g}")
    print(f"loss {ref['loss'].item():.6f}; losses {[round(x, 5) for x in losses]}")
    print(f"grad norms {[round(x, 4) for x in norms]}")


def key_bias(name):
    """The key third of an attention bias: the loss does not depend on it (q.(k + b) adds the
    same q.b to every score of a query), so its gradient is rounding noise that Adam turns into
    +-lr steps; after training it differs between implementations without changing the model's
    function, and is reported apart."""
    return slice(N_EMBD, 2 * N_EMBD) if name.endswith("attn.c_attn.bias") else None


def compare_loaded(folder, weights, logits_want, blocks):
    """Loads `folder` with from_pretrained, checks that the weights are the file's bit for bit
    and close to `weights`, and returns max |logits - logits_want| on the blocks' inputs."""
    model, info = GPT2LMHeadModel.from_pretrained(
        folder, output_loading_info=True, attn_implementation="eager"
    )
    model.eval()
    print(f"from_pretrained({folder}): loading info {info}")
    bad = {k: v for k, v in info.items() if v}
    assert not bad, f"transformers reported problems loading {folder}: {bad}"
    named = params(model)
    stored = load_file(os.path.join(folder, "model.safetensors"))
    names = (set(named), set(stored), set(weights))
    assert names[0] == names[1] == names[2], names
    exact = max((named[k].detach() - stored[k]).abs().max().item() for k in stored)
    wdiff, kdiff = 0.0, 0.0
    for k, want in weights.items():
        d = (named[k].detach() - want).abs()
        ks = key_bias(k)
        if ks is not None:
            kdiff = max(kdiff, d[ks].max().item())
            d[ks] = 0
        wdiff = max(wdiff, d.max().item())
    with torch.no_grad():
        logits = model(input_ids=blocks[:, :-1]).logits
    ldiff = (logits - logits_want).abs().max().item()
    print(f"  max |loaded - file| {exact:.3g} (must be 0)")
    print(f"  max |loaded - expected| {wdiff:.3g} (attention key biases apart: {kdiff:.3g})")
    top = logits_want.abs().max().item()
    print(f"  max |logits - expected| {ldiff:.3g} (max |expected| {top:.3g})")
    assert exact == 0.0, "transformers changed the weights while loading"
    return ldiff


def verify_export(folder):
    ref = load_file(os.path.join(FIXTURE, "reference.safetensors"))
    blocks = ref["blocks"]
    with open(os.path.join(folder, "config.json")) as f:
        print(f"{folder}/config.json: {f.read()}")
    # PyTorch's own model after the same steps: the fixture config with the final weights.
    final = {k[len("final.") :]: v for k, v in ref.items() if k.startswith("final.")}
    cfg = GPT2Config.from_pretrained(FIXTURE, attn_implementation="eager")
    torch_model = GPT2LMHeadModel(cfg)
    missing, unexpected = torch_model.load_state_dict(final, strict=False)
    assert set(missing) <= {"lm_head.weight"} and not unexpected, (missing, unexpected)
    assert torch_model.lm_head.weight is torch_model.transformer.wte.weight
    torch_model.eval()
    with torch.no_grad():
        want = torch_model(input_ids=blocks[:, :-1]).logits
    ldiff = compare_loaded(folder, final, want, blocks)
    tol = 1e-4 * max(1.0, want.abs().max().item())  # the Rust test's logits tolerance
    print(f"export check: max |logits(ours, loaded by transformers) - logits(torch)| = {ldiff:.3g}")
    if not ldiff <= tol:
        sys.exit(f"FAILED: above {tol:.3g}")
    print(f"OK (tolerance {tol:.3g})")


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--verify-export", metavar="DIR", help="check a checkpoint written by the Rust test"
    )
    args = ap.parse_args()
    if args.verify_export:
        verify_export(args.verify_export)
    else:
        generate()


if __name__ == "__main__":
    main()
