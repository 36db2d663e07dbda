#!/usr/bin/env python3
"""Every PyTorch comparison of the README's "Speed on this CPU" sections, in interleaved rounds.

Why rounds, interleaved, and medians: on a 2-core machine one disturbed run (a build, another
benchmark, a burst of I/O) moves PyTorch's OpenMP threads far more than ours, so a single run
can be worse than none, and best-of-N flatters whichever side got the quiet moment. Each round
runs `collapse-lab bench ... --compare-torch PY`, which times ours and then torch on the same
shapes (the binary itself passes its shape, threads and seed to scripts/bench_torch.py), so a
round's two numbers saw nearly the same machine. Rounds of one configuration follow each
other (ours, torch, ours, torch, ...), and the figure to quote is the median of the per-round
ratios ours/torch: ratios from one quiet machine are what to compare, not absolute tokens/s
across machines or days. The medians of each side and every round's raw numbers are printed
too, with the load average before each round, so a disturbed round can be seen and discounted.

Usage (from the crate root, on an otherwise idle machine):
  cargo build --release && scripts/setup_bench_venv.sh      # once
  scripts/bench_rounds.py [--rounds 3] [--only gpt-train-tiny,opt-generate] [--markdown FILE]
  scripts/bench_rounds.py --quick --rounds 1 --only gpt-train-tiny  # does the script work?
  scripts/bench_rounds.py --ours opt-train-4x128-bf16/opt-train-4x128 --rounds 5

`--ours A/B` compares two of our own configurations instead (bf16 against fp32): rounds
alternate A, B, A, B, ... without PyTorch, and the figure is the median of the per-round
ratios A/B for each measure both have, for the same reason as above.
"""

import argparse, datetime, mmap, os, re, statistics, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUM = r"([0-9]+(?:\.[0-9]+)?)"

# name: (README label per measure, bench subcommand and flags, measures). A measure "" is
# the GPT benches' single figure; OPT's are named as `--compare-torch` names them.
CONFIGS = {
    "gpt-train-tiny": ("gpt-train", ["--preset", "tiny"],
                       {"": "GPT train tiny (4 × 256, vocab 8192, 16 × 128, AdamW)"}),
    "gpt-train-tiny-v50257": ("gpt-train", ["--preset", "tiny", "--vocab", "50257"],
                              {"": "GPT train tiny, vocab 50257"}),
    "gpt-train-gpt2": ("gpt-train", ["--preset", "gpt2", "--vocab", "50257", "--context", "128",
                                     "--batch", "4", "--steps", "3"],
                       {"": "GPT train GPT-2 124M shape, 4 × 128"}),
    "gpt-generate-tiny": ("gpt-generate", ["--preset", "tiny", "--batch", "16"],
                          {"": "GPT generate tiny, 16 rows, 64 new tokens, KV cache, sampling"}),
    **{f"opt-train-{b}x{c}": ("opt-train", ["--batch", b, "--context", c],
                              {"train": f"OPT train (fwd + bwd + AdamW), {b} × {c}",
                               "eval": f"OPT eval forward, {b} × {c}"})
       for b, c in [("4", "64"), ("8", "64"), ("4", "128")]},
    "opt-generate": ("opt-generate", [],
                     {"beam": "OPT 5-beam search, penalty 1.2, 2 prompts, 64 + 64 tokens",
                      "sample": "OPT sampling, batch 8, 64 + 64 tokens",
                      "greedy": "OPT greedy, batch 1, 64 + 64 tokens"}),
    "gpt-train-tiny-bf16": ("gpt-train", ["--preset", "tiny", "--precision", "bf16"],
                            {"": "GPT train tiny bf16 (4 × 256, vocab 8192, 16 × 128, AdamW)"}),
    # Issue 17: bf16 mixed precision, ours (--precision bf16) against torch.autocast(bfloat16).
    "opt-train-4x128-bf16": ("opt-train", ["--batch", "4", "--context", "128", "--precision", "bf16",
                                           "--steps", "5"],
                             {"train": "OPT train bf16 (fwd + bwd + AdamW), 4 × 128",
                              "eval": "OPT eval forward bf16, 4 × 128"}),
    "opt-generate-bf16": ("opt-generate", ["--precision", "bf16", "--measures", "beam,sample",
                                           "--steps", "1", "--warmup-steps", "1"],
                          {"beam": "OPT 5-beam search bf16, penalty 1.2, 2 prompts, 64 + 64 tokens",
                           "sample": "OPT sampling bf16, batch 8, 64 + 64 tokens"}),
    # Issue 16's shapes (src/bench/shapes.rs): shorter runs, the models are slower per step.
    **{f"{shape}-train": ("opt-train", ["--shape", shape, "--steps", "3", "--warmup-steps", "1"],
                          {"train": f"{label} train (fwd + bwd + AdamW), 4 × 64",
                           "eval": f"{label} eval forward, 4 × 64"})
       for shape, label in [("smollm2-135m", "SmolLM2-135M"), ("pythia-160m", "Pythia-160m")]},
    **{f"{shape}-generate": ("opt-generate", ["--shape", shape, "--steps", "1", "--warmup-steps", "1",
                                              "--measures", "beam,sample"],
                             {"beam": f"{label} 5-beam search, penalty 1.2, 2 prompts, 64 + 64 tokens",
                              "sample": f"{label} sampling, batch 8, 64 + 64 tokens"})
       for shape, label in [("smollm2-135m", "SmolLM2-135M"), ("pythia-160m", "Pythia-160m")]},
}


def die(msg):
    print(f"bench_rounds: {msg}", file=sys.stderr)
    sys.exit(2)


def with_flag(flags, name, value):
    """flags with `name value` set once (clap refuses a repeated flag)."""
    out, i = [], 0
    while i < len(flags):
        if flags[i] == name:
            i += 2
            continue
        out.append(flags[i])
        i += 1
    return out + [name, value]


def ours_pattern(measure):
    """Our own line for a measure, at the precision the bench prints it."""
    if measure == "":
        return rf"^tokens/s: {NUM}$"
    if measure == "train":
        return rf"^train tokens/s: {NUM}$"
    if measure == "eval":
        return rf"^eval forward \(no grad\).*, {NUM} tokens/s$"
    return rf"^{measure}: \d+ runs after .*, {NUM} tokens/s$"


def parse(text, measure):
    """(ours, torch) tokens/s of one measure from `bench ... --compare-torch` output: the
    precise lines when present, else the comparison line `[NAME: ]ours A tokens/s, torch B`."""
    lines = text.splitlines()
    torch_out = [l[len("  torch | "):] for l in lines if l.startswith("  torch | ")]
    summary = re.search(rf"^{re.escape(measure) + ': ' if measure else ''}ours {NUM} tokens/s, "
                        rf"torch {NUM} tokens/s", text, re.M)
    m = re.findall(ours_pattern(measure), text, re.M)  # torch's echoed lines are indented
    ours = float(m[-1]) if m else (float(summary.group(1)) if summary else None)
    if measure == "":
        t = [l for l in torch_out if l.startswith("tokens/s: ")][-1:]
    else:
        t = [l for l in torch_out if l.startswith(f"{measure} tokens/s: ")][:1]
    torch = float(t[0].split(": ")[1]) if t else (float(summary.group(2)) if summary else None)
    if ours is None or torch is None:
        raise ValueError(f"no {'ours' if ours is None else 'torch'} tokens/s for measure "
                         f"{measure or '(main)'} in the bench output")
    return ours, torch


def bench_cmd(a, name, *extra):
    """The bench command line of configuration `name`, with `--quick`'s and `--threads`' flags."""
    sub, flags, _ = CONFIGS[name]
    if a.quick:
        flags = with_flag(with_flag(flags, "--steps", "1"), "--warmup-steps", "0")
    if a.threads:
        flags = with_flag(flags, "--threads", a.threads)
    return [a.bin, "bench", sub, *flags, *extra]


def bench_once(cmd):
    """(stdout, load average before) of one bench run; ValueError with its last lines if it fails."""
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    out = run(cmd, cwd=ROOT)
    if out.returncode != 0:
        raise ValueError(f"exit {out.returncode}: " + " | ".join(
            (out.stderr.strip() or out.stdout.strip()).splitlines()[-3:]))
    return out.stdout, load


def finish(a, head, note, table, failed):
    """Prints the table (and writes it with the machine to `--markdown`); exit 1 if a round failed."""
    print(f"\n{note}:\n\n" + "\n".join(table))
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    if a.markdown:
        Path(a.markdown).write_text("\n".join(f"- {l}" for l in head) + f"\n\n{note}:\n\n"
                                    + "\n".join(table) + "\n")
    sys.exit(1 if failed else 0)


def ours_only(text, measure):
    """Our tokens/s of one measure from a bench run without `--compare-torch`."""
    m = re.findall(ours_pattern(measure), text, re.M)
    if not m:
        raise ValueError(f"no tokens/s for measure {measure or '(main)'} in the bench output")
    return float(m[-1])


def pair(a, head):
    """`--ours A/B`: our configurations A and B in alternating rounds (A, B, A, B, ...), no
    PyTorch; per measure both have, the medians and the median of the per-round ratios A/B."""
    names = a.ours.split("/")
    cmds = [bench_cmd(a, name) for name in names]
    for side, name, cmd in zip("AB", names, cmds):
        print(f"{side} = {name}: {' '.join(cmd[1:])}")
    (ma, mb) = (CONFIGS[n][2] for n in names)
    shared = [m for m in ma if m in mb]
    if not shared:
        die(f"{names[0]} and {names[1]} measure nothing in common")
    rounds, failed = {m: [] for m in shared}, []
    for r in range(1, a.rounds + 1):
        got = []
        for side, cmd in zip("AB", cmds):
            try:
                text, load = bench_once(cmd)
                got.append({m: ours_only(text, m) for m in shared})
            except ValueError as e:
                print(f"  round {r} {side}: FAILED ({e})", flush=True)
                failed.append(f"round {r} {side}")
                break
            print(f"  round {r} {side} (load {load}): " + ", ".join(
                f"{m or 'tokens/s'} {fmt(got[-1][m])}" for m in shared), flush=True)
        if len(got) == 2:
            for m in shared:
                rounds[m].append((got[0][m], got[1][m]))
    rows = []
    for m in shared:
        rs = rounds[m]
        if not rs:
            continue
        raw = "; ".join(f"{fmt(x)} / {fmt(y)}" for x, y in rs)
        rows.append(f"| {m or 'tokens/s'} | {fmt(statistics.median(x for x, _ in rs))} | "
                    f"{fmt(statistics.median(y for _, y in rs))} | "
                    f"{statistics.median(x / y for x, y in rs):.2f} | {raw} |")
    table = [f"| measure | A {names[0]} (median) | B {names[1]} (median) | "
             "A/B (median of per-round ratios) | rounds (A / B) |", "|---|---|---|---|---|", *rows]
    finish(a, head, f"{a.rounds} alternating rounds of ours only, tokens/s", table, failed)


def rustc_of(binary):
    """The rustc version recorded in the binary's .comment section, if any."""
    try:
        with open(binary, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            hit = re.search(rb"rustc version [0-9][^\x00\n]{0,80}", m)
            return hit.group(0).decode(errors="replace") if hit else None
    except (OSError, ValueError):
        return None


def run(cmd, **kw):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, **kw)
    except OSError as e:
        return subprocess.CompletedProcess(cmd, 127, "", str(e))


def torch_versions(python):
    """The line naming `python`'s Python, torch and transformers; exit 2 if it lacks them."""
    py = run([python, "-c", "import sys, torch, transformers; print(sys.version.split()[0],"
              " torch.__version__, transformers.__version__)"])
    versions = py.stdout.split()
    if py.returncode != 0 or len(versions) != 3:
        err = (py.stderr.strip().splitlines() or ["no versions printed"])[-1]
        die(f"{python} cannot import torch and transformers ({err}): run scripts/setup_bench_venv.sh")
    return "python {}, torch {}, transformers {}".format(*versions)


def machine(a):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "unknown")
    rustc = rustc_of(a.bin)
    if rustc is None:
        here = run(["rustc", "--version"]).stdout.strip()
        rustc = f"not recorded in the binary (rustc here: {here or 'none'})"
    python = [] if a.ours else [torch_versions(a.python)]  # --ours: PyTorch is not run
    commit = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = run(["git", "--no-optional-locks", "-C", str(ROOT), "status", "--porcelain",
                 "--untracked-files=no"]).stdout
    built = datetime.datetime.fromtimestamp(os.path.getmtime(a.bin)).strftime("%Y-%m-%d %H:%M")
    threads = a.threads or f"the bench's default (logical CPUs: {os.cpu_count()})"
    return [f"CPU: {cpu}", f"logical CPUs: {os.cpu_count()}", f"threads: {threads}",
            f"binary: {a.bin} (built {built}), {rustc}",
            *python,
            f"commit: {commit or 'unknown'}{' (uncommitted changes)' if dirty.strip() else ''}",
            f"date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}"]


def fmt(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", help="collapse-lab binary (default: target/release/collapse-lab)")
    p.add_argument("--python", help="Python with torch (default: .venv/bin/python)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", help="comma-separated: " + ", ".join(CONFIGS))
    p.add_argument("--quick", action="store_true", help="1 timed step, no warmup: checks the script")
    p.add_argument("--threads", help="pass --threads N to every bench (default: the bench's own)")
    p.add_argument("--markdown", help="also write the machine and the table to this file")
    p.add_argument("--ours", metavar="A/B",
                   help="instead: configurations A and B of ours alone, alternating rounds, ratio A/B")
    a = p.parse_args()
    # Not Path.resolve(): .venv/bin/python is a symlink whose target is outside the venv.
    a.bin = os.path.abspath(a.bin or ROOT / "target/release/collapse-lab")
    a.python = os.path.abspath(a.python or ROOT / ".venv/bin/python")
    if not os.access(a.bin, os.X_OK):
        die(f"no binary at {a.bin}: build it with `cargo build --release` (or pass --bin)")
    if not a.ours and not os.access(a.python, os.X_OK):
        die(f"no Python at {a.python}: make it with scripts/setup_bench_venv.sh (or pass --python)")
    names = a.only.split(",") if a.only else list(CONFIGS)
    if bad := [n for n in names if n not in CONFIGS]:
        die(f"unknown configuration {', '.join(bad)}; known: {', '.join(CONFIGS)}")
    if a.rounds < 1:
        die("--rounds must be 1 or more")
    if a.ours and a.only:
        die("--ours names its two configurations itself: drop --only")
    if a.ours and (len(a.ours.split("/")) != 2 or any(n not in CONFIGS for n in a.ours.split("/"))):
        die(f"--ours takes A/B, two configurations of: {', '.join(CONFIGS)}")

    head = machine(a)
    print("\n".join(head) + ("\n(--quick: 1 step, no warmup; the numbers mean nothing)" * a.quick))
    if a.ours:
        pair(a, head)
    rows, failed, seen_threads = [], [], set()
    for name in names:
        measures = CONFIGS[name][2]
        cmd = bench_cmd(a, name, "--compare-torch", a.python)
        print(f"\n## {name}: {' '.join(cmd[1:])}", flush=True)
        rounds = {m: [] for m in measures}
        for r in range(1, a.rounds + 1):
            try:
                text, load = bench_once(cmd)
                got = {m: parse(text, m) for m in measures}
            except ValueError as e:
                print(f"  round {r}: FAILED ({e})", flush=True)
                failed.append(f"{name} round {r}")
                continue
            seen_threads.update(re.findall(r"^threads: (\d+)", text, re.M))
            for m, (o, t) in got.items():
                rounds[m].append((o, t))
                print(f"  round {r} (load {load}) {m or 'tokens/s'}: ours {fmt(o)}, torch {fmt(t)},"
                      f" ours/torch {o / t:.2f}", flush=True)
        for m, label in measures.items():
            rs = rounds[m]
            if not rs:
                continue
            ours, torch = statistics.median(o for o, _ in rs), statistics.median(t for _, t in rs)
            ratio = statistics.median(o / t for o, t in rs)
            raw = "; ".join(f"{fmt(o)} / {fmt(t)}" for o, t in rs)
            print(f"  {m or name}: median ours {fmt(ours)}, torch {fmt(torch)}, "
                  f"median ratio {ratio:.2f} over {len(rs)} rounds")
            rows.append(f"| {label} | {fmt(ours)} | {fmt(torch)} | {ratio:.2f} | {raw} |")

    threads = ", ".join(sorted(seen_threads)) or "?"
    table = ["| configuration | ours tokens/s (median) | PyTorch tokens/s (median) | "
             "ours/PyTorch (median of per-round ratios) | rounds (ours / PyTorch) |",
             "|---|---|---|---|---|", *rows]
    note = f"{a.rounds} interleaved rounds, threads {threads}, fp32 unless a row says bf16, random init"
    finish(a, head, note, table, failed)


if __name__ == "__main__":
    main()
