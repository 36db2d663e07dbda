#!/usr/bin/env python3
"""A tiny OPT-layout byte-level BPE tokenizer and the ids transformers gives for it.

Dev-time only: CI does not run Python. It writes tests/fixtures/opt_tokenizer/ for a Rust test
of our OPT tokenizer loading (from vocab.json + merges.txt as the facebook/opt-* Hub repos ship
it, and from a tokenizer.json).

What it writes:

  vocab.json        OPT's layout: "<s>" 0, "<pad>" 1, "</s>" 2, "<unk>" 3, then the 256 byte-level
                    symbols in GPT-2's order (GPT-2 id i -> id 4 + i: "!" 4 ... "Ġ" (space) 224
                    ...), then one token per merge in merge order (ids 260..)
  merges.txt        "#version: 0.2" then N_MERGES merges learned here from TRAIN_TEXT (GPT-2
                    pre-tokenisation, most frequent pair first, ties broken by the smaller pair)
  tokenizer_config.json, special_tokens_map.json
                    what facebook/opt-125m's repo has: bos = eos = unk = "</s>", pad = "<pad>",
                    add_bos_token true, add_prefix_space false, errors "replace" (no
                    tokenizer_class: AutoTokenizer picks the class from config.json's
                    model_type "opt")
  tokenizer.json    what the loaded tokenizer's save_pretrained writes (the `tokenizers` model:
                    BPE, ByteLevel pre-tokenizer and decoder, a TemplateProcessing post-processor
                    "</s>:0 $A:0" that prepends BOS 2, added tokens <pad> and </s>)
  expected.json     {"tokenizer_class", "tokenizer_class_from_json", "add_bos_token",
                     "special_tokens": {name: [token, id]}, "vocab_size", "n_merges",
                     "cases": [{"text", "ids", "ids_no_special", "tokens", "decoded",
                     "decoded_skip_special"}]}
                    ids = tokenizer(text)["input_ids"] (BOS 2 first), ids_no_special =
                    add_special_tokens=False, tokens = the pieces of ids, decoded = decode(ids),
                    decoded_skip_special = decode(ids, skip_special_tokens=True)

How transformers 5.23 loads OPT tokenizers: AutoTokenizer maps model_type "opt" to
GPT2Tokenizer, which in 5.x is a `tokenizers`-backed class (TokenizersBackend; there is no slow
Python BPE any more). From vocab.json + merges.txt it builds BPE + ByteLevel, adds the special
tokens of the config as added tokens (only "</s>" and "<pad>": "<s>" and "<unk>" stay plain
vocab entries, so the text "<s>" is split into bytes), and since add_bos_token is given it
installs a TemplateProcessing post-processor "</s> $A" (no EOS appended). The script loads the
fixture three ways and asserts identical ids: AutoTokenizer on vocab.json + merges.txt + the
configs (+ a config.json with model_type "opt", in a temporary folder), AutoTokenizer on
tokenizer.json + the configs, and the bare `tokenizers` library on tokenizer.json (what the
Rust `tokenizers` crate reads).

Token ids must match exactly (no tolerance). Run from the crate root (the crate's .venv):

  .venv/bin/python scripts/opt_tokenizer_reference.py

Generation is deterministic: a rerun rewrites the same bytes.
"""

import collections
import json
import os
import re
import shutil
import tempfile

import tokenizers
from tokenizers import pre_tokenizers
from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "opt_tokenizer")

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
N_MERGES = 48

TRAIN_TEXT = """\
The model is trained on the text that the previous model generated, and then the next model
is trained on the text of this one. In the end the models forget the tails of the original
distribution: the rare words and the strange sentences are the first things they lose.
We measure the perplexity of each generation on the original test set, and we see that the
errors compound over the generations. Is there a way to stop the collapse? Keeping some of the
original data in the training set helps, and so does training on more of the generated text.
"""

CASES = [
    "Hello world",
    " Hello world",
    "the theory of the thing",
    "The model is trained on the text.\nThen the next one.\n\n",
    "  two leading spaces, two trailing  ",
    "tabs\tand\r\nwindows lines",
    "numbers 2024-06-11 and 3.14159",
    "naïve café — 日本語 🙂",
    "end of a document</s>start of the next",
    "</s>",
    "<s> and <pad> and <unk> are not all special",
    "",
    " ",
]

# facebook/opt-125m's tokenizer_config.json and special_tokens_map.json.
def added(content):
    return {"content": content, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "__type": "AddedToken"}


TOKENIZER_CONFIG = {
    "errors": "replace",
    "unk_token": added("</s>"),
    "bos_token": added("</s>"),
    "eos_token": added("</s>"),
    "pad_token": added("<pad>"),
    "add_prefix_space": False,
    "add_bos_token": True,
    "special_tokens_map_file": None,
}


def special_map():
    out = {}
    for k in ("bos_token", "eos_token", "unk_token", "pad_token"):
        t = dict(TOKENIZER_CONFIG[k])
        t.pop("__type")
        out[k] = t
    return out


def bytes_to_unicode():
    """GPT-2's byte -> printable character map, in GPT-2's vocabulary order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [(b, chr(c)) for b, c in zip(bs, cs)]


def learn_merges(text, n):
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    words = collections.Counter(w for w, _ in pre.pre_tokenize_str(text))
    split = {w: list(w) for w in words}
    merges = []
    for _ in range(n):
        pairs = collections.Counter()
        for w, c in words.items():
            s = split[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for w in words:
            s, out, i = split[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1])
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            split[w] = out
    return merges


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def encode_all(tok):
    out = []
    for text in CASES:
        ids = tok(text)["input_ids"]
        out.append(
            dict(
                text=text,
                ids=ids,
                ids_no_special=tok(text, add_special_tokens=False)["input_ids"],
                tokens=tok.convert_ids_to_tokens(ids),
                decoded=tok.decode(ids),
                decoded_skip_special=tok.decode(ids, skip_special_tokens=True),
            )
        )
    return out


def main():
    merges = learn_merges(TRAIN_TEXT, N_MERGES)
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for _, ch in bytes_to_unicode():
        vocab[ch] = len(vocab)
    for a, b in merges:
        assert a + b not in vocab, (a, b)
        vocab[a + b] = len(vocab)
    print(f"merges: {[a + b for a, b in merges]}")

    os.makedirs(FIXTURE, exist_ok=True)
    for name in os.listdir(FIXTURE):
        os.remove(os.path.join(FIXTURE, name))
    write_json(os.path.join(FIXTURE, "vocab.json"), vocab)
    with open(os.path.join(FIXTURE, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    write_json(os.path.join(FIXTURE, "tokenizer_config.json"), TOKENIZER_CONFIG)
    write_json(os.path.join(FIXTURE, "special_tokens_map.json"), special_map())

    with tempfile.TemporaryDirectory() as tmp:
        # Load path 1: the Hub layout (vocab.json + merges.txt + configs), model_type "opt".
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        for n in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(os.path.join(FIXTURE, n), src)
        write_json(os.path.join(src, "config.json"), {"model_type": "opt"})
        tok = AutoTokenizer.from_pretrained(src)
        cls = type(tok).__name__
        print(f"AutoTokenizer on vocab.json + merges.txt: {cls}, add_bos_token {tok.add_bos_token}")
        print(f"  post-processor: {tok.backend_tokenizer.post_processor}")
        cases = encode_all(tok)

        # tokenizer.json as the fast tokenizer saves it.
        saved = os.path.join(tmp, "saved")
        tok.save_pretrained(saved)
        print(f"save_pretrained wrote {sorted(os.listdir(saved))}")
        shutil.copy(os.path.join(saved, "tokenizer.json"), FIXTURE)

        # Load path 2: tokenizer.json (+ the configs), no vocab.json / merges.txt.
        js = os.path.join(tmp, "json")
        os.makedirs(js)
        for n in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(os.path.join(FIXTURE, n), js)
        write_json(os.path.join(js, "config.json"), {"model_type": "opt"})
        tok2 = AutoTokenizer.from_pretrained(js)
        cls2 = type(tok2).__name__
        assert encode_all(tok2) == cases, "tokenizer.json load path differs"

    # Load path 3: the bare tokenizers library on tokenizer.json (what the Rust crate reads).
    raw = tokenizers.Tokenizer.from_file(os.path.join(FIXTURE, "tokenizer.json"))
    for c in cases:
        enc = raw.encode(c["text"])
        assert enc.ids == c["ids"], (c["text"], enc.ids, c["ids"])
        assert raw.encode(c["text"], add_special_tokens=False).ids == c["ids_no_special"], c["text"]
        assert raw.decode(c["ids"], skip_special_tokens=False) == c["decoded"], c["text"]
        assert raw.decode(c["ids"]) == c["decoded_skip_special"], c["text"]

    specials = {
        k: [getattr(tok, k), getattr(tok, k + "_id")] for k in ("bos_token", "eos_token", "unk_token", "pad_token")
    }
    expected = dict(
        tokenizer_class=cls,
        tokenizer_class_from_json=cls2,
        transformers_loaded_from=["vocab.json + merges.txt", "tokenizer.json"],
        add_bos_token=tok.add_bos_token,
        add_eos_token=tok.add_eos_token,
        special_tokens=specials,
        vocab_size=len(vocab),
        n_merges=len(merges),
        cases=cases,
    )
    text = json.dumps(expected, indent=1, ensure_ascii=False)
    # One line per id list and per token list.
    text = re.sub(r"\[\s+([-\d,\s]+?)\s+\]", lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text)
    text = re.sub(
        r'"tokens": \[\s+((?:"(?:[^"\\]|\\.)*",?\s*)*)\]',
        lambda m: '"tokens": ' + json.dumps(json.loads("[" + m.group(1) + "]"), ensure_ascii=False),
        text,
    )
    assert json.loads(text) == json.loads(json.dumps(expected)), "reformatting changed the content"
    with open(os.path.join(FIXTURE, "expected.json"), "w", encoding="utf-8") as f:
        f.write(text + "\n")
    for c in cases:
        print(f"  {c['text']!r}: {c['ids']} -> {c['decoded']!r}")
    size = sum(os.path.getsize(os.path.join(FIXTURE, n)) for n in os.listdir(FIXTURE))
    print(f"wrote {FIXTURE} ({size} bytes)")


if __name__ == "__main__":
    main()
