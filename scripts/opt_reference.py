#!/usr/bin/env python3
"""PyTorch / transformers reference for our OPT (src/models/opt/), in the style of gpt2_reference.py.

Dev-time only: CI does not run Python. The Rust tests read the fixtures this script commits:

  tests/fixtures/opt_tiny_preln/    do_layer_norm_before=True, word_embed_proj_dim == hidden_size
                                    (no project_in/out, a decoder final_layer_norm): opt-125m's
                                    layout (and every OPT but 350m)
  tests/fixtures/opt_tiny_postln/   do_layer_norm_before=False, word_embed_proj_dim 16 < hidden 24
                                    (project_in/project_out, no decoder final_layer_norm): opt-350m's
                                    layout; its config.json carries opt-350m's extra fields
                                    (prefix "</s>", activation_dropout 0.0, _remove_final_layer_norm
                                    false) except dropout (0.0 here, 0.1 there) and dtype (float32)

What each holds (float32 throughout, token ids int64):

  config.json            the full OPTConfig (to_json_file(use_diff=False)); loads with
                         OPTForCausalLM.from_pretrained
  model.safetensors      the initial weights exactly as save_pretrained writes them (the file is
                         copied from a save_pretrained folder): Hugging Face names
                         (model.decoder.embed_tokens.weight, ...), no lm_head.weight (tied to
                         embed_tokens), {"format": "pt"} metadata
  reference.safetensors  blocks           (3, 17) int64: column 0 is OPT's BOS 2 (what the
                                          tokenizer prepends), the rest random ids with the
                                          pad id 1 forced into the inputs of rows 0 and 2
                                          (and as row 1's last target)
                         logits           (3, 16, V) for the inputs blocks[:, :-1] (no
                                          attention_mask: positions 0..15, table rows 2..17)
                         loss             () mean next-token cross-entropy over the 3x16 targets
                                          (= OPTForCausalLM's loss_function with the targets as
                                          shift_labels, asserted)
                         grad.<name>      gradient of every parameter at the initial weights
                                          (embed_tokens' includes the tied lm_head part)
                         pad_row_grad_dropped  (word_embed_proj_dim,) what the input lookups of the
                                          pad id would have added to embed_tokens' row 1 had torch
                                          not dropped it (see "padding_idx" below)
                         cached_logits    (4, V) logits of row 0's last 4 input positions computed
                                          incrementally: the first 12 inputs in one call with
                                          use_cache=True, then one token per call with
                                          past_key_values (they equal logits[0, 12:16])
                         padded.input_ids       (2, 12) int64: row 0 is 4 pad ids (1) then
                                          blocks[0, :8] (left padding), row 1 is blocks[1, :12]
                         padded.attention_mask  (2, 12) int64: 0 on the 4 pads, else 1
                         padded.logits    (2, 12, V) OPTForCausalLM's logits with that mask; the
                                          pad positions (mask 0) are set to 0 (meaningless there);
                                          row 0's real positions equal logits[0, :8] because
                                          positions come from the mask (see below)
                         losses           (10,) loss before each AdamW step
                         grad_norms       (10,) global gradient norm before clipping
                         final.<name>     every parameter after the 10 AdamW steps
  hyperparams.json       optimizer, clipping and learning-rate schedule (with each step's lr)

The models: OPTForCausalLM, vocab 96, max_position_embeddings 16 (embed_positions has 18 rows:
OPT's offset 2), hidden 24, ffn_dim 96, 2 layers, 4 heads (head_dim 6), relu, enable_bias,
layer_norm_elementwise_affine, layer-norm eps 1e-5 (nn.LayerNorm's default, OPT has no
setting), dropout/attention_dropout/layerdrop 0, eager attention, tied embeddings,
pad 1 / bos 2 / eos 2. Initialisation is HF's with init_std 0.2 instead of 0.02 (logits and
attention far from uniform); then every bias and layer-norm bias is drawn from N(0, 0.05^2) and
every layer-norm weight from 1 + N(0, 0.1^2) (so no gradient is a special case), and
embed_tokens' pad row 1, which HF's init zeroes, is drawn from N(0, 0.2^2) like the other rows
(real OPT checkpoints have a non-zero pad row: the tied output head trains it). Training is
gpt2_reference.py's: torch.optim.AdamW with a decay group (parameters with >= 2 dims, weight
decay 0.1) and a no-decay group, betas (0.9, 0.95), eps 1e-8, clip_grad_norm_(1.0) before each
step, nanoGPT's warmup+cosine schedule (collapse_lab::nn::adamw::warmup_cosine: warmup 3,
total 10, peak 1e-2, min 1e-3), the same batch every step. The gradient norm stays above 1
(2.2 -> 1.07 pre-LN, 2.1 -> 1.11 post-LN), so clipping acts on all 10 steps.

OPT details (transformers 5.23 modeling_opt.py) the Rust side must mirror:
  * positions: position_ids = cumsum(mask, 1) * mask - 1 (mask = attention_mask, or all ones
    when None), then cut to the new tokens when a cache holds past ones; the table is indexed
    at position_ids + 2. So unpadded inputs use rows 2..T+1, a left pad gets position -1 (row 1),
    and left padding does not shift the real tokens' positions.
  * attention: q = q_proj(x) * head_dim**-0.5 (bias included, scaled before q.k), scaling=1.0
    in the attention call; softmax in f32; causal mask.
  * layer: pre-LN: x + attn(ln1(x)), then h + fc2(relu(fc1(ln2(h)))); post-LN: ln1(x + attn(x)),
    then ln2(h + fc2(relu(fc1(h)))) (ln1 = self_attn_layer_norm, ln2 = final_layer_norm).
  * decoder: embed_tokens (word_embed_proj_dim wide) -> project_in (Linear, no bias, only when
    word_embed_proj_dim != hidden_size) -> + embed_positions (hidden wide) -> layers ->
    final_layer_norm (exists iff do_layer_norm_before and not _remove_final_layer_norm) ->
    project_out (Linear, no bias, same condition as project_in) -> lm_head (tied, no bias).
  * padding_idx: embed_tokens is nn.Embedding(V, D, padding_idx=pad_token_id=1). Torch's
    embedding backward drops the gradient of every lookup of index 1, so embed_tokens' row 1
    gets only the tied lm_head part: grad.model.decoder.embed_tokens.weight[1] = lm_head part
    only (here non-zero: logits of token 1 are computed at every position), and
    pad_row_grad_dropped is the input part torch discarded (non-zero: the inputs look up id 1
    3 (postln) or 4 (preln) times). Every other row is bit-identical with or without padding_idx (asserted). The
    forward pass is NOT affected: the pad row's embedding is used as it is.
  * The attention key biases (k_proj.bias) do not affect the loss (q.(k + b) adds the same q.b to
    every score of a query; softmax ignores it), so their gradient is ~1e-8 of rounding noise and
    Adam turns that noise into +-lr steps: their final values legitimately differ between
    implementations (treat them as gpt_reference.rs treats GPT-2's key third of c_attn.bias).

Suggested tolerances (f32 on both sides; as tests/it/gpt_reference.rs): logits, loss,
cached_logits, padded.logits (mask 1 positions): max |d| <= 1e-4 * max(1, max |ref|); gradients:
max |d| / max |ref| <= 1e-3 per tensor (pad_row_grad_dropped too); losses: absolute 1e-3;
grad norms: relative 1e-3; final weights: absolute 1e-4 per tensor, k_proj.bias apart (moved no
more than 2 * sum(lr) apart, and the final logits must agree). The script prints the float32
noise it sees itself (cache vs full, padded vs unpadded).

Needs torch, transformers and safetensors (made with torch 2.15 CPU, transformers 5.23: the
crate's .venv). Run from the crate root:

  .venv/bin/python scripts/opt_reference.py                     # (re)writes both fixtures
  .venv/bin/python scripts/opt_reference.py --verify-export DIR --kind preln|postln

--verify-export checks that a checkpoint written by our Rust code (model.safetensors +
config.json, our model after the 10 steps) loads in OPTForCausalLM.from_pretrained unchanged
and gives the logits of PyTorch's model after the same steps. Generation is deterministic: a
rerun rewrites the same bytes.
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import OPTConfig, OPTForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")

SEEDS = {"preln": 20240711, "postln": 20240712}
VOCAB, MAX_POS, HIDDEN, FFN, N_LAYER, N_HEAD = 96, 16, 24, 96, 2, 4
PROJ_DIM = {"preln": HIDDEN, "postln": 16}
PAD, BOS, EOS = 1, 2, 2
BATCH, BLOCK = 3, 17  # blocks (3, 17): inputs (3, 16), targets (3, 16)
INIT_STD = 0.2
CACHED = 4  # the last CACHED positions of row 0 are computed one token at a time
N_PADS = 4  # left pads in padded.input_ids row 0

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


def config(kind):
    extra = {}
    if kind == "postln":
        # Fields of facebook/opt-350m's config.json that OPTConfig has no default for.
        extra = dict(prefix="</s>", activation_dropout=0.0)
    cfg = OPTConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=N_LAYER,
        ffn_dim=FFN,
        max_position_embeddings=MAX_POS,
        do_layer_norm_before=(kind == "preln"),
        _remove_final_layer_norm=False,
        word_embed_proj_dim=PROJ_DIM[kind],
        dropout=0.0,
        attention_dropout=0.0,
        num_attention_heads=N_HEAD,
        activation_function="relu",
        layerdrop=0.0,
        init_std=INIT_STD,
        use_cache=True,
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=EOS,
        enable_bias=True,
        layer_norm_elementwise_affine=True,
        tie_word_embeddings=True,
        architectures=["OPTForCausalLM"],
        dtype="float32",
        **extra,
    )
    cfg._attn_implementation = "eager"
    return cfg


def params(model):
    """Named parameters, tied ones once (embed_tokens, not lm_head.weight)."""
    named = dict(model.named_parameters())
    assert "lm_head.weight" not in named, sorted(named)
    assert model.lm_head.weight is model.model.decoder.embed_tokens.weight, "not tied"
    return named


def logits_and_loss(model, blocks):
    logits = model(input_ids=blocks[:, :-1]).logits
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), blocks[:, 1:].reshape(-1))
    return logits, loss


def check_layout(kind, model):
    dec = model.model.decoder
    assert dec.embed_positions.weight.shape == (MAX_POS + 2, HIDDEN)
    assert dec.embed_tokens.padding_idx == PAD
    if kind == "preln":
        assert dec.final_layer_norm is not None
        assert dec.project_in is None and dec.project_out is None
    else:
        assert dec.final_layer_norm is None
        assert dec.project_in.weight.shape == (HIDDEN, PROJ_DIM[kind])
        assert dec.project_out.weight.shape == (PROJ_DIM[kind], HIDDEN)
        assert dec.project_in.bias is None and dec.project_out.bias is None


def make_blocks(g):
    blocks = torch.randint(0, VOCAB, (BATCH, BLOCK), generator=g, dtype=torch.int64)
    blocks[:, 0] = BOS
    # The pad id in the inputs (rows 0 and 2, twice in row 2) and once as a target only.
    blocks[0, 5] = PAD
    blocks[2, 3] = PAD
    blocks[2, 11] = PAD
    blocks[1, BLOCK - 1] = PAD
    return blocks


def generate(kind):
    seed = SEEDS[kind]
    fixture = os.path.join(FIXTURES, f"opt_tiny_{kind}")
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    cfg = config(kind)
    model = OPTForCausalLM(cfg).float()
    check_layout(kind, model)
    model.train()  # dropout probabilities are all 0, so train == eval
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                if "layer_norm" in name and name.endswith("weight"):
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                else:
                    p.copy_(0.05 * torch.randn_like(p))
        emb = model.model.decoder.embed_tokens.weight
        assert emb[PAD].abs().max().item() == 0.0  # HF's init zeroes the padding_idx row
        emb[PAD].copy_(INIT_STD * torch.randn_like(emb[PAD]))
    named = params(model)
    initial = {k: v.detach().clone().contiguous() for k, v in named.items()}
    blocks = make_blocks(torch.Generator().manual_seed(seed + 1))
    n_pad = (blocks[:, :-1] == PAD).sum().item()
    assert n_pad >= 3

    # Forward and backward at the initial weights.
    logits, loss = logits_and_loss(model, blocks)
    # OPTForCausalLM's labels loss (blocks has T+1 = 17 > 16 positions, so the model cannot take
    # the whole block with labels=blocks as GPT-2's fixture does: its loss function is given the
    # T targets as shift_labels instead).
    hf_loss = model.loss_function(logits=logits, labels=None, vocab_size=VOCAB, shift_labels=blocks[:, 1:].contiguous())
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

    # padding_idx: the same backward without it, to see what torch drops from row PAD.
    emb_name = "model.decoder.embed_tokens.weight"
    dec = model.model.decoder
    model.zero_grad(set_to_none=True)
    dec.embed_tokens.padding_idx = None
    logits2, loss2 = logits_and_loss(model, blocks)
    loss2.backward()
    dec.embed_tokens.padding_idx = PAD
    assert torch.equal(logits2, logits) and torch.equal(loss2, loss)
    full = named[emb_name].grad.detach().clone()
    kept = ref["grad." + emb_name]
    others = torch.arange(VOCAB) != PAD
    assert torch.equal(full[others], kept[others]), "padding_idx changed other rows"
    for k, p in named.items():
        if k != emb_name:
            assert torch.equal(p.grad, ref["grad." + k]), k
    dropped = (full[PAD] - kept[PAD]).contiguous()
    ref["pad_row_grad_dropped"] = dropped
    # The lm_head part alone, independently: d loss / d lm_head with an untied copy.
    with torch.no_grad():
        hidden = model.model.decoder(input_ids=blocks[:, :-1]).last_hidden_state
    w = named[emb_name].detach().clone().requires_grad_(True)
    out = hidden @ w.t()
    F.cross_entropy(out.reshape(-1, VOCAB), blocks[:, 1:].reshape(-1)).backward()
    head_pad = w.grad[PAD]
    print(
        f"[{kind}] padding_idx: |grad row {PAD}| = {kept[PAD].norm():.4g} (lm_head part alone: "
        f"{head_pad.norm():.4g}, max |diff| {(head_pad - kept[PAD]).abs().max():.2g}); "
        f"dropped input part |{dropped.norm():.4g}|"
    )
    assert (head_pad - kept[PAD]).abs().max() <= 1e-6
    assert dropped.abs().max() > 1e-3
    model.zero_grad(set_to_none=True)

    # KV cache: row 0's first T-CACHED inputs at once, then one token per call.
    inputs = blocks[:, :-1]
    t = inputs.shape[1]
    with torch.no_grad():
        out = model(input_ids=inputs[:1, : t - CACHED], use_cache=True)
        past, steps = out.past_key_values, []
        for i in range(t - CACHED, t):
            out = model(input_ids=inputs[:1, i : i + 1], past_key_values=past, use_cache=True)
            past = out.past_key_values
            steps.append(out.logits[0, -1])
        cached = torch.stack(steps).contiguous()
    ref["cached_logits"] = cached
    cache_diff = (cached - logits[0, t - CACHED :].detach()).abs().max().item()
    assert cache_diff <= 1e-5, cache_diff

    # Left padding: positions come from the attention mask.
    n = 12
    pids = torch.stack([torch.cat([torch.full((N_PADS,), PAD), inputs[0, : n - N_PADS]]), inputs[1, :n]])
    pmask = torch.ones_like(pids)
    pmask[0, :N_PADS] = 0
    with torch.no_grad():
        plogits = model(input_ids=pids, attention_mask=pmask).logits
    plogits = plogits * pmask[:, :, None].to(plogits.dtype)
    ref["padded.input_ids"] = pids.contiguous()
    ref["padded.attention_mask"] = pmask.contiguous()
    ref["padded.logits"] = plogits.contiguous()
    pad_diff = max(
        (plogits[0, N_PADS:] - logits[0, : n - N_PADS].detach()).abs().max().item(),
        (plogits[1] - logits[1, :n].detach()).abs().max().item(),
    )
    assert pad_diff <= 1e-5, pad_diff

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

    # model.safetensors and config.json: save_pretrained of a model holding the initial weights.
    os.makedirs(fixture, exist_ok=True)
    fresh = OPTForCausalLM(cfg)
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

    check = compare_loaded(kind, fixture, initial, ref["logits"], blocks)
    stored = load_file(os.path.join(fixture, "model.safetensors"))
    print(f"[{kind}] model.safetensors tensors:")
    for k in sorted(stored):
        print(f"    {k} {tuple(stored[k].shape)}")
    size = sum(os.path.getsize(os.path.join(fixture, n)) for n in os.listdir(fixture))
    print(f"[{kind}] wrote {fixture} ({size} bytes); reload max |dlogits| {check:.3g}")
    print(f"[{kind}] the inputs look up the pad id {n_pad} times")
    print(f"[{kind}] f32 noise: cache vs full {cache_diff:.3g}, padded vs unpadded {pad_diff:.3g}")
    print(f"[{kind}] loss {ref['loss'].item():.6f}; losses {[round(x, 5) for x in losses]}")
    print(f"[{kind}] grad norms {[round(x, 4) for x in norms]}")
    kb = max(ref[f"grad.model.decoder.layers.{i}.self_attn.k_proj.bias"].abs().max().item() for i in range(N_LAYER))
    print(f"[{kind}] max |grad k_proj.bias| {kb:.3g} (rounding noise)")


def key_bias(name):
    return name.endswith("self_attn.k_proj.bias")


def compare_loaded(kind, folder, weights, logits_want, blocks):
    """Loads `folder` with from_pretrained, checks that the weights are the file's bit for bit
    and close to `weights`, and returns max |logits - logits_want| on the blocks' inputs."""
    model, info = OPTForCausalLM.from_pretrained(folder, output_loading_info=True, attn_implementation="eager")
    model.eval()
    print(f"[{kind}] from_pretrained({folder}): loading info {info}")
    bad = {k: v for k, v in info.items() if v}
    assert not bad, f"transformers reported problems loading {folder}: {bad}"
    check_layout(kind, model)
    named = params(model)
    stored = load_file(os.path.join(folder, "model.safetensors"))
    names = (set(named), set(stored), set(weights))
    assert names[0] == names[1] == names[2], names
    exact = max((named[k].detach() - stored[k]).abs().max().item() for k in stored)
    wdiff, kdiff = 0.0, 0.0
    for k, want in weights.items():
        d = (named[k].detach() - want).abs().max().item()
        if key_bias(k):
            kdiff = max(kdiff, d)
        else:
            wdiff = max(wdiff, d)
    with torch.no_grad():
        logits = model(input_ids=blocks[:, :-1]).logits
    ldiff = (logits - logits_want).abs().max().item()
    print(f"  max |loaded - file| {exact:.3g} (must be 0)")
    print(f"  max |loaded - expected| {wdiff:.3g} (attention key biases apart: {kdiff:.3g})")
    print(f"  max |logits - expected| {ldiff:.3g} (max |expected| {logits_want.abs().max().item():.3g})")
    assert exact == 0.0, "transformers changed the weights while loading"
    return ldiff


def verify_export(folder, kind):
    fixture = os.path.join(FIXTURES, f"opt_tiny_{kind}")
    ref = load_file(os.path.join(fixture, "reference.safetensors"))
    blocks = ref["blocks"]
    with open(os.path.join(folder, "config.json")) as f:
        print(f"{folder}/config.json: {f.read()}")
    final = {k[len("final.") :]: v for k, v in ref.items() if k.startswith("final.")}
    cfg = OPTConfig.from_pretrained(fixture)
    cfg._attn_implementation = "eager"
    torch_model = OPTForCausalLM(cfg)
    missing, unexpected = torch_model.load_state_dict(final, strict=False)
    assert set(missing) <= {"lm_head.weight"} and not unexpected, (missing, unexpected)
    assert torch_model.lm_head.weight is torch_model.model.decoder.embed_tokens.weight
    torch_model.eval()
    with torch.no_grad():
        want = torch_model(input_ids=blocks[:, :-1]).logits
    ldiff = compare_loaded(kind, folder, final, want, blocks)
    tol = 1e-4 * max(1.0, want.abs().max().item())
    print(f"export check: max |logits(ours, loaded by transformers) - logits(torch)| = {ldiff:.3g}")
    if not ldiff <= tol:
        sys.exit(f"FAILED: above {tol:.3g}")
    print(f"OK (tolerance {tol:.3g})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--verify-export", metavar="DIR", help="check a checkpoint written by the Rust test")
    ap.add_argument("--kind", choices=sorted(SEEDS), help="which fixture --verify-export compares with")
    args = ap.parse_args()
    if args.verify_export:
        if not args.kind:
            ap.error("--verify-export needs --kind")
        verify_export(args.verify_export, args.kind)
    else:
        for kind in ("preln", "postln"):
            generate(kind)


if __name__ == "__main__":
    main()
