#!/usr/bin/env python3
"""Python references for the corpus metrics of docs/metrics.md (issue 6).

Dev-time only: CI does not run Python. It writes a small fixture and the values the reference
implementations give on it to tests/fixtures/metrics/, which the Rust test
tests/it/metrics_reference.rs compares with collapse_lab's metrics.

  human.jsonl      30 "human" documents: words drawn from a Zipfian vocabulary of 400 made-up
                   words (a few lines per document, odd whitespace in places)
  generated.jsonl  30 "generated" documents: a narrower, steeper vocabulary without the two most
                   frequent human words, with looped phrases, plus edge cases (an empty
                   document, one word, two words)
  expected.json    the reference values, and per-document scores for the tail-loss distribution

Everything is drawn from random.Random(6), so rerunning the script rewrites the same bytes.

References (each metric computed by the tool the field names, or from its definition where no
tool is the standard):
  self_bleu         nltk.translate.bleu_score.sentence_bleu of each document against all others
                    (Texygen SelfBleu.get_bleu_parallel), weights (0.25,)*4, SmoothingFunction()
                    .method1; mean. Fewer than 1000 documents, so all of them are the sample.
  mattr, mtld       lexicalrichness.LexicalRichness(tokens, tokenizer=None).mattr(100) / .mtld(0.72)
                    on the corpus's tokens (documents concatenated)
  zipf_coefficient  -numpy.polyfit(log rank, log count, 1)[0] over the top 1000 types
  unigram_js        scipy.spatial.distance.jensenshannon(P, Q, base=2) ** 2
  unigram_kl        scipy.stats.entropy(P, Q) with Q add-0.5 smoothed
  compression_ratio bytes / len(raw DEFLATE stream, zlib level 6, wbits -15); our encoder is
                    zlib-rs, whose streams differ in size by a few per cent on tiny inputs
  gen0_doc_ppl      numpy.percentile (linear), mean, histogram by numpy.searchsorted on the edges
  the rest          plain-Python implementations of the definitions (seq-rep-n, rep/l,
                    distinct-n, types lost by band)

Tokens are KenLM words: maximal runs of bytes other than space, \\t, \\n, \\v, \\f, \\r.

Usage: .venv/bin/python scripts/metrics_reference.py   (pip install nltk lexicalrichness numpy scipy)
"""

import json
import math
import random
import re
import zlib
from collections import Counter
from pathlib import Path

import nltk
import lexicalrichness
import numpy as np
import scipy
from lexicalrichness import LexicalRichness
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "metrics"
KENLM_SPACE = re.compile(r"[ \t\n\v\f\r]+")


def words(text):
    return [w for w in KENLM_SPACE.split(text) if w]


def make_fixture(rng):
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "do", "fe", "gi"]
    vocab = []
    while len(vocab) < 400:
        w = "".join(rng.choice(syllables) for _ in range(rng.randint(1, 3)))
        if w not in vocab:
            vocab.append(w)

    def zipf_draw(first, head, s):
        weights = [1.0 / (r + 1) ** s for r in range(head)]
        total = sum(weights)
        x, acc = rng.random() * total, 0.0
        for w, p in zip(vocab[first:], weights):
            acc += p
            if x < acc:
                return w
        return vocab[first + head - 1]

    def document(first, head, s, loops):
        lines = []
        for _ in range(rng.randint(1, 4)):
            toks = [zipf_draw(first, head, s) for _ in range(rng.randint(3, 18))]
            if loops and rng.random() < 0.4:
                phrase = toks[: rng.randint(2, 4)]
                toks += phrase * rng.randint(2, 4)
            sep = rng.choice([" ", " ", " ", "  ", "\t"])
            lines.append(sep.join(toks))
        return "\n".join(lines)

    human = [document(0, 400, 1.0, False) for _ in range(30)]
    # The generator never writes the human text's 2 most frequent words (frequent and medium
    # types get lost too) and draws from the next 120 only, more steeply.
    generated = [document(2, 120, 1.3, True) for _ in range(27)] + ["", "solo", "ka lo"]
    return human, generated


def write_jsonl(path, prefix, texts):
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"{prefix}-{i:03d}", "text": t}, ensure_ascii=False) + "\n")


def seq_rep(docs, n):
    reps = [1 - len(set(zip(*[d[i:] for i in range(n)]))) / (len(d) - n + 1)
            for d in docs if len(d) >= n]
    return sum(reps) / len(reps) if reps else 0.0


def rep_l(docs, l):
    repeated = sum(1 for d in docs for i, w in enumerate(d) if w in d[max(0, i - l):i])
    return repeated / sum(len(d) for d in docs)


def distinct(docs, n):
    grams = [g for d in docs for g in zip(*[d[i:] for i in range(n)])]
    tokens = sum(len(d) for d in docs)
    return len(set(grams)) / len(grams), len(set(grams)) / tokens


def main():
    rng = random.Random(6)
    human_texts, gen_texts = make_fixture(rng)
    OUT.mkdir(parents=True, exist_ok=True)
    write_jsonl(OUT / "human.jsonl", "h", human_texts)
    write_jsonl(OUT / "generated.jsonl", "g", gen_texts)

    human = [words(t) for t in human_texts]
    gen = [words(t) for t in gen_texts]
    h_counts = Counter(w for d in human for w in d)
    g_counts = Counter(w for d in gen for w in d)
    stream = [w for d in gen for w in d]
    exp = {"documents": len(gen), "tokens": len(stream), "types": len(g_counts)}

    for n in range(1, 5):
        exp[f"seq_rep_{n}"] = seq_rep(gen, n)
    for l in (16, 32, 128):
        exp[f"rep_{l}"] = rep_l(gen, l)
    exp["distinct_1"] = distinct(gen, 1)[0]
    for n in range(2, 5):
        exp[f"distinct_{n}_per_ngram"], exp[f"distinct_{n}_per_token"] = distinct(gen, n)

    lost = [w for w in h_counts if g_counts[w] == 0]
    bands = {"rare": (1, 5), "medium": (6, 100), "frequent": (101, math.inf)}
    exp["human_types_lost"] = len(lost) / len(h_counts)
    for name, (lo, hi) in bands.items():
        in_band = [w for w, c in h_counts.items() if lo <= c <= hi]
        exp[f"{name}_types_lost"] = (
            sum(1 for w in in_band if g_counts[w] == 0) / len(in_band) if in_band else 0.0
        )

    vocab = list(h_counts) + [w for w in g_counts if w not in h_counts]
    H, N = sum(h_counts.values()), sum(g_counts.values())
    p = np.array([h_counts[w] / H for w in vocab])
    q = np.array([g_counts[w] / N for w in vocab])
    q_smooth = np.array([(g_counts[w] + 0.5) / (N + 0.5 * len(vocab)) for w in vocab])
    exp["unigram_kl"] = float(entropy(p, q_smooth))
    exp["unigram_js"] = float(jensenshannon(p, q, base=2) ** 2)

    smooth = SmoothingFunction().method1
    bleus = [
        sentence_bleu(gen[:i] + gen[i + 1:], d, (0.25, 0.25, 0.25, 0.25), smoothing_function=smooth)
        for i, d in enumerate(gen)
    ]
    exp["self_bleu"] = sum(bleus) / len(bleus)
    exp["self_bleu_docs"] = len(gen)

    lex = LexicalRichness(stream, tokenizer=None)
    exp["mattr"] = lex.mattr(window_size=100)
    exp["mtld"] = lex.mtld(threshold=0.72)

    counts = sorted(g_counts.values(), reverse=True)[:1000]
    ranks = np.arange(1, len(counts) + 1)
    exp["zipf_coefficient"] = float(-np.polyfit(np.log(ranks), np.log(counts), 1)[0])

    raw = "".join(t + "\n" for t in gen_texts).encode("utf-8")
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    exp["compression_ratio"] = len(raw) / len(c.compress(raw) + c.flush())

    # Tail loss: per-document scores under an add-1 unigram model of the human text.
    V = len(h_counts) + 1
    scores = [[sum(math.log((h_counts[w] + 1) / (H + V)) for w in d), len(d)] for d in gen]
    ppl = np.array([math.exp(-lp / t) for lp, t in scores if t > 0])
    edges = np.array([10 ** (i / 10) for i in range(51)])
    bins = np.clip(np.searchsorted(edges, ppl, side="right") - 1, 0, 49)
    q5, q25, q50, q75, q95 = np.percentile(ppl, [5, 25, 50, 75, 95])
    doc_ppl = {
        "documents": int(len(ppl)),
        "mean": float(ppl.mean()),
        "p5": float(q5), "p25": float(q25), "p50": float(q50), "p75": float(q75), "p95": float(q95),
        "histogram_edges": edges.tolist(),
        "histogram": np.bincount(bins, minlength=50).tolist(),
    }

    versions = {
        "nltk": nltk.__version__,
        "lexicalrichness": getattr(lexicalrichness, "__version__", "0.5.1"),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }
    out = {"versions": versions, "metrics": exp, "doc_scores": scores, "doc_ppl": doc_ppl}
    (OUT / "expected.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}: {len(gen)} generated documents, {len(stream)} tokens; self-BLEU "
          f"{exp['self_bleu']:.4f}, MTLD {exp['mtld']:.2f}, compression {exp['compression_ratio']:.3f}")


if __name__ == "__main__":
    main()
