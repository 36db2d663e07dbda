#!/usr/bin/env python3
"""PyTorch/transformers reference for `collapse-lab bench gpt-train`/`gpt-generate` and `opt-*`.

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

With `--arch opt` (for `bench opt-train` / `bench opt-generate`) the model is a randomly
initialised `OPTForCausalLM` built from `OPTConfig` (pre-LN, ReLU, tied head; `--n-embd` is
hidden_size, `--ffn` ffn_dim, `--max-positions` max_position_embeddings; opt-125m's shape is
vocab 50272, 768, 12 layers, 12 heads, ffn 3072, 2048 positions). Dropout (residual; attention
and activation dropout are 0 as in opt-125m) is `--dropout`, 0 by default: timing the
arithmetic. Then:

  train:     as above on `--batch` x `--context` blocks (`train tokens/s: N`), then the eval
             forward: logits and cross-entropy under `torch.no_grad()` on blocks of the same
             shape (`eval tokens/s: N`; skipped with `--no-eval`).
  generate:  each of `--measures` (comma-separated) on prompts of `--prompt-len` random
             tokens, exactly `--new-tokens` new ones (`min_new_tokens`), transformers' KV
             cache: `beam` is `generate(num_beams=5, do_sample=False, repetition_penalty=1.2)`
             on `--beam-batch` prompts (new tokens counted once per prompt, not per beam),
             `sample` `generate(do_sample=True, top_k=0)` on `--sample-batch` prompts, `greedy`
             `generate(do_sample=False)` on `--greedy-batch` prompts; `NAME tokens/s: N` each.

Attention is transformers' default implementation (`sdpa`, PyTorch's fused attention).
The last printed line is `tokens/s: N` (for OPT: training, or the first generation measure),
which `--compare-torch` parses with the `NAME tokens/s: N` lines.

Usage: .venv/bin/python scripts/bench_torch.py train --n-layer 4 --n-head 4 --n-embd 256 \
         --vocab 8192 --context 128 --batch 16 --steps 10 --warmup-steps 2 --threads 2
       .venv/bin/python scripts/bench_torch.py generate --arch opt --n-layer 12 --n-head 12 \
         --n-embd 768 --ffn 3072 --vocab 50272 --max-positions 2048 --measures beam,sample
"""

import argparse
import contextlib
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel, OPTConfig, OPTForCausalLM


def build(a):
    if a.arch == "opt":
        return build_opt(a)
    if a.arch in ("llama", "gpt_neox"):
        return build_hub(a)
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
    return GPT2LMHeadModel(cfg).float().to(a.device)


def build_opt(a):
    cfg = OPTConfig(
        vocab_size=a.vocab,
        hidden_size=a.n_embd,
        num_hidden_layers=a.n_layer,
        num_attention_heads=a.n_head,
        ffn_dim=a.ffn,
        max_position_embeddings=a.max_positions,
        word_embed_proj_dim=a.n_embd,
        do_layer_norm_before=True,
        activation_function="relu",
        dropout=a.dropout,
        attention_dropout=0.0,
        activation_dropout=0.0,
        enable_bias=True,
        tie_word_embeddings=True,
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=2,
    )
    torch.manual_seed(a.seed)
    return OPTForCausalLM(cfg).float().to(a.device)


def build_hub(a):
    """SmolLM2-135M's (llama) or Pythia-160m's (gpt_neox) shape, as src/bench/shapes.rs."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM

    common = dict(vocab_size=a.vocab, hidden_size=a.n_embd, intermediate_size=a.ffn,
                  num_hidden_layers=a.n_layer, num_attention_heads=a.n_head,
                  max_position_embeddings=a.max_positions, bos_token_id=0, eos_token_id=0,
                  pad_token_id=1)
    torch.manual_seed(a.seed)
    if a.arch == "llama":
        cfg = LlamaConfig(num_key_value_heads=a.kv_heads, rms_norm_eps=1e-5, rope_theta=a.rope_theta,
                          tie_word_embeddings=True, attention_dropout=a.dropout, **common)
        return LlamaForCausalLM(cfg).float().to(a.device)
    cfg = GPTNeoXConfig(rotary_pct=a.rotary_pct, rotary_emb_base=10000, use_parallel_residual=True,
                        tie_word_embeddings=False, hidden_dropout=a.dropout, **common)
    return GPTNeoXForCausalLM(cfg).float().to(a.device)


def sync(a):
    """Waits for the GPU, so that a timer measures the work and not its launch."""
    if a.device != "cpu":
        torch.cuda.synchronize()


def amp(a):
    """`torch.autocast` with bfloat16 for --precision bf16 (matmuls in bf16, reductions,
    softmax and the loss in f32, f32 weights: PyTorch's mixed precision), else nothing."""
    if a.precision == "bf16":
        return torch.autocast(a.device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


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
        blocks = torch.randint(0, a.vocab, (a.batch, a.context + 1), generator=g).to(a.device)
        x, y = blocks[:, :-1], blocks[:, 1:]
        sync(a)
        t0 = time.perf_counter()
        with amp(a):
            logits = model(input_ids=x).logits  # (b, t, v)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, a.vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sync(a)
        dt = time.perf_counter() - t0
        losses.append(loss.item())
        if step >= a.warmup_steps:
            times.append(dt)
    total = sum(times)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"params {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M")
    print(f"steps: {a.steps} after {a.warmup_steps} warmup, {1000 * total / a.steps:.1f} ms/step, "
          f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    tps = a.batch * a.context * a.steps / total
    if a.arch != "gpt2":
        print(f"train tokens/s: {tps:.0f}")
        if not a.no_eval:
            eval_forward(a, model, g)
    print(f"tokens/s: {tps:.0f}")


def eval_forward(a, model, g):
    """Loss of random blocks under no_grad: what perplexity evaluation runs."""
    model.eval()
    times = []
    with torch.no_grad():
        for step in range(a.warmup_steps + a.steps):
            blocks = torch.randint(0, a.vocab, (a.batch, a.context + 1), generator=g).to(a.device)
            x, y = blocks[:, :-1], blocks[:, 1:]
            sync(a)
            t0 = time.perf_counter()
            with amp(a):
                logits = model(input_ids=x).logits
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, a.vocab), y.reshape(-1))
            loss.item()
            dt = time.perf_counter() - t0
            if step >= a.warmup_steps:
                times.append(dt)
    total = sum(times)
    print(f"eval forward (no grad): {1000 * total / a.steps:.1f} ms/step")
    print(f"eval tokens/s: {a.batch * a.context * a.steps / total:.0f}")


def generate(a):
    if a.arch != "gpt2":
        return generate_opt(a)
    model = build(a)
    model.eval()
    g = torch.Generator().manual_seed(a.seed)
    prompts = torch.randint(0, a.vocab, (a.batch, a.prompt_len), generator=g).to(a.device)
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
            with amp(a):
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


def generate_opt(a):
    model = build(a)
    model.eval()
    g = torch.Generator().manual_seed(a.seed)
    n = a.new_tokens
    common = dict(use_cache=True, max_new_tokens=n, min_new_tokens=n, pad_token_id=1)
    settings = {
        "beam": (a.beam_batch, dict(do_sample=False, num_beams=a.num_beams,
                                    repetition_penalty=a.repetition_penalty, early_stopping=False,
                                    length_penalty=1.0)),
        "sample": (a.sample_batch, dict(do_sample=True, top_k=0, top_p=1.0, temperature=1.0)),
        "greedy": (a.greedy_batch, dict(do_sample=False, num_beams=1)),
    }
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, generate "
          f"(transformers KV cache)")
    results = []
    for m in a.measures.split(","):
        batch, kw = settings[m]
        prompts = torch.randint(0, a.vocab, (batch, a.prompt_len), generator=g).to(a.device)
        mask = torch.ones_like(prompts)
        times = []
        with torch.inference_mode():
            for run in range(a.warmup_steps + a.steps):
                t0 = time.perf_counter()
                with amp(a):
                    out = model.generate(prompts, attention_mask=mask, **common, **kw)
                dt = time.perf_counter() - t0
                assert out.shape == (batch, a.prompt_len + n), out.shape
                if run >= a.warmup_steps:
                    times.append(dt)
        total = sum(times)
        tps = batch * n * a.steps / total
        print(f"{m}: {a.steps} runs after {a.warmup_steps} warmup, batch {batch}, "
              f"{total / a.steps:.3f} s/run")
        print(f"{m} tokens/s: {tps:.1f}")
        results.append(tps)
    print(f"tokens/s: {results[0]:.0f}")


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
    p.add_argument("--arch", choices=["gpt2", "opt", "llama", "gpt_neox"], default="gpt2")
    p.add_argument("--kv-heads", type=int, default=3, help="llama: key/value heads")
    p.add_argument("--rope-theta", type=float, default=100000.0, help="llama")
    p.add_argument("--rotary-pct", type=float, default=0.25, help="gpt_neox")
    p.add_argument("--ffn", type=int, default=3072, help="OPT ffn_dim")
    p.add_argument("--max-positions", type=int, default=2048, help="OPT max_position_embeddings")
    p.add_argument("--dropout", type=float, default=0.0, help="OPT residual dropout")
    p.add_argument("--no-eval", action="store_true", help="OPT train: skip the eval forward")
    p.add_argument("--measures", default="beam,sample,greedy", help="OPT generate")
    p.add_argument("--num-beams", type=int, default=5)
    p.add_argument("--repetition-penalty", type=float, default=1.2)
    p.add_argument("--beam-batch", type=int, default=2)
    p.add_argument("--sample-batch", type=int, default=8)
    p.add_argument("--greedy-batch", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu or cuda (timers wait for the GPU)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: forward passes (and generate) under torch.autocast with bfloat16")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    (train if a.mode == "train" else generate)(a)


if __name__ == "__main__":
    main()
