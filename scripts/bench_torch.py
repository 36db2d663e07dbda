#!/usr/bin/env python3
"""PyTorch/transformers reference for `collapse-lab bench gpt-train` and `bench gpt-generate`.

Why: our CPU speed claims are only meaningful next to what the usual stack does with the same
model on the same machine. This builds a randomly initialised `GPT2LMHeadModel` with the
same shape, batch, context and vocabulary as our bench, fp32, `torch.set_num_threads(T)`,
and times steady-state steps after warmup exactly as the Rust bench does:

  train:     forward + cross-entropy, backward, clip_grad_norm_(1.0), AdamW step
             (betas 0.9/0.95, weight decay 0.1 on 2-D weights, torch's default CPU
             implementation), on random token blocks from a fixed seed;
             tokens/s = batch * context * steps / time.
  generate:  `model.generate(do_sample=True, use_cache=True, top_k=0, temperature=1.0)`
             (transformers' own KV cache, multinomial sampling), `--new-tokens` tokens
             forced by `min_new_tokens`, batched prompts of `--prompt-len` random tokens;
             tokens/s = batch * new_tokens * runs / time.

Attention is transformers' default implementation (`sdpa`, PyTorch's fused attention).
The last printed line is `tokens/s: N`, which `--compare-torch` parses.

Usage: .venv/bin/python scripts/bench_torch.py train --n-layer 4 --n-head 4 --n-embd 256 \
         --vocab 8192 --context 128 --batch 16 --steps 10 --warmup-steps 2 --threads 2
"""

import argparse
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel


def build(a):
    cfg = GPT2Config(
        vocab_size=a.vocab,
        n_positions=a.context,
        n_embd=a.n_embd,
        n_layer=a.n_layer,
        n_head=a.n_head,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(a.seed)
    return GPT2LMHeadModel(cfg).float()


def train(a):
    model = build(a)
    model.train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=3e-4,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    g = torch.Generator().manual_seed(a.seed)
    times, losses = [], []
    for step in range(a.warmup_steps + a.steps):
        blocks = torch.randint(0, a.vocab, (a.batch, a.context + 1), generator=g)
        x, y = blocks[:, :-1], blocks[:, 1:]
        t0 = time.perf_counter()
        logits = model(input_ids=x).logits  # (b, t, v)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, a.vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        losses.append(loss.item())
        if step >= a.warmup_steps:
            times.append(dt)
    total = sum(times)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"params {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M")
    print(f"steps: {a.steps} after {a.warmup_steps} warmup, {1000 * total / a.steps:.1f} ms/step, "
          f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    print(f"tokens/s: {a.batch * a.context * a.steps / total:.0f}")


def generate(a):
    model = build(a)
    model.eval()
    g = torch.Generator().manual_seed(a.seed)
    prompts = torch.randint(0, a.vocab, (a.batch, a.prompt_len), generator=g)
    mask = torch.ones_like(prompts)
    kw = dict(
        attention_mask=mask,
        do_sample=True,
        use_cache=True,
        top_k=0,
        top_p=1.0,
        temperature=1.0,
        max_new_tokens=a.new_tokens,
        min_new_tokens=a.new_tokens,
        pad_token_id=0,
    )
    times = []
    with torch.inference_mode():
        for run in range(a.warmup_steps + a.steps):
            t0 = time.perf_counter()
            out = model.generate(prompts, **kw)
            dt = time.perf_counter() - t0
            assert out.shape[1] == a.prompt_len + a.new_tokens, out.shape
            if run >= a.warmup_steps:
                times.append(dt)
    total = sum(times)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, generate "
          f"(transformers KV cache, do_sample=True)")
    print(f"runs: {a.steps} after {a.warmup_steps} warmup, {total / a.steps:.3f} s/run")
    print(f"tokens/s: {a.batch * a.new_tokens * a.steps / total:.0f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["train", "generate"])
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=256)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--context", type=int, default=128, help="n_positions and training length")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt-len", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    (train if a.mode == "train" else generate)(a)


if __name__ == "__main__":
    main()
