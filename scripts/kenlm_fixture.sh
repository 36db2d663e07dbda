#!/usr/bin/env bash
# Regenerates tests/fixtures/kenlm_small/: a few-KB lmplz/query reference that
# tests/it/kenlm_reference.rs checks our n-gram estimator against in a plain `cargo test`.
#
# What it does (dev-time only; Debian bookworm, run as root for apt):
#   1. apt-get installs cmake, g++ and the Boost/zlib/bz2/lzma headers KenLM builds with;
#   2. downloads the PyPI `kenlm` sdist (pinned version and sha256, checked by pip), which
#      carries KenLM's full C++ source including lm/builder (lmplz) and lm/query_main.cc;
#   3. builds only `lmplz` and `query` with cmake, under $KENLM_WORK (default /tmp/kenlm-fixture);
#   4. writes the fixture: toy training/test texts (generated here, deterministically, by
#      an awk program with a Park-Miller LCG, so nothing outside this script is read),
#      `lmplz -o 3` ARPA, `lmplz -o 3 --discount_fallback` ARPA on a degenerate text (where
#      plain `lmplz -o 3` aborts), lmplz's discount statistics, `query -v summary` outputs,
#      and README.md with the exact commands, versions and date.
#
# Nothing of KenLM (code or binaries) goes into the repository: only program outputs and the
# generated texts. Rerunnable: downloads and builds are reused from $KENLM_WORK; the fixture
# files are rewritten (same bytes, except README.md's date line).
#
#   scripts/kenlm_fixture.sh            # JOBS=2 by default (make -j)
set -euo pipefail

KENLM_VERSION=0.3.0
KENLM_SHA256=c4628bb9fb63c8a6f9240035b8b037385cfc404cb72e933cf48878291edac1e8
WORK=${KENLM_WORK:-/tmp/kenlm-fixture}
JOBS=${JOBS:-2}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$REPO/tests/fixtures/kenlm_small
case "$WORK" in "$REPO"|"$REPO"/*) echo "KENLM_WORK must be outside the repository" >&2; exit 1 ;; esac
start=$(date +%s)

# --- 1. build dependencies (Debian packages) ------------------------------------------------
DEPS=(cmake make g++ libboost-program-options-dev libboost-system-dev libboost-thread-dev
      libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev)
missing=()
for p in "${DEPS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
    echo "== apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- 2. the KenLM source: PyPI sdist, hash-checked by pip ------------------------------------
mkdir -p "$WORK"
SDIST=$WORK/dl/kenlm-$KENLM_VERSION.tar.gz
if [ ! -f "$SDIST" ]; then
    echo "== pip download kenlm==$KENLM_VERSION (sdist)"
    # A venv with setuptools+wheel: pip prepares the sdist's metadata without build isolation
    # (isolation with --no-binary would compile the `cmake` build dependency from source).
    [ -x "$WORK/venv/bin/pip" ] || python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install -q setuptools wheel
    echo "kenlm==$KENLM_VERSION --hash=sha256:$KENLM_SHA256" > "$WORK/requirements.txt"
    "$WORK/venv/bin/pip" download -q --no-deps --no-binary kenlm --no-build-isolation \
        --require-hashes -r "$WORK/requirements.txt" -d "$WORK/dl"
fi
echo "$KENLM_SHA256  $SDIST" | sha256sum -c --quiet
SRC=$WORK/kenlm-$KENLM_VERSION
[ -f "$SRC/lm/builder/lmplz_main.cc" ] || tar -xzf "$SDIST" -C "$WORK"

# --- 3. build lmplz and query -----------------------------------------------------------------
echo "== cmake build (lmplz, query) in $WORK/build, -j$JOBS"
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release > "$WORK/cmake.log" 2>&1 ||
    { tail -30 "$WORK/cmake.log" >&2; exit 1; }
cmake --build "$WORK/build" -j"$JOBS" --target lmplz query > "$WORK/build.log" 2>&1 ||
    { tail -30 "$WORK/build.log" >&2; exit 1; }
LMPLZ=$WORK/build/bin/lmplz
QUERY=$WORK/build/bin/query

# --- 4. the fixture ---------------------------------------------------------------------------
mkdir -p "$OUT/degenerate" "$WORK/tmp"

# Toy prose with natural-looking statistics: Zipfian unigrams (exponent `expo`) over 150
# common English words, and with probability `follow` a word is one of its predecessor's three
# favourite followers (themselves Zipf draws). lmplz's modified Kneser-Ney needs counts-of-
# counts shaped like real text; a small natural sample (tinyshakespeare's first 40..150 lines)
# or a fixed sentence grammar makes `lmplz -o 3` abort with out-of-range discounts.
# Park-Miller LCG: exact in awk's doubles, so any awk prints the same words.
ZIPF='function rnd() { seed = (seed * 16807) % 2147483647; return seed / 2147483647 }
function zipf(   u, r) { u = rnd() * Z[V]; for (r = 1; Z[r] < u; r++); return r }
BEGIN {
  V = split("the of and to a in that it is was he for on are as with his they at be this from have or by one had not but what all were when we there can an your which their said if do will each about how up out them then she many some so these would other into has more her two like him see time could no make than first been its who now people my made over did down only way find use may water long little very after words called just where most know", W, " ")
  for (r = 1; r <= V; r++) Z[r] = Z[r - 1] + 1 / r ^ expo
  for (r = 1; r <= V; r++) for (k = 1; k <= 3; k++) F[r, k] = zipf()
  for (i = 0; i < lines; i++) {
    len = 3 + int(rnd() * 8); prev = zipf(); s = W[prev]
    for (j = 1; j < len; j++) {
      if (rnd() < follow) { u = rnd(); w = F[prev, u < 0.6 ? 1 : u < 0.9 ? 2 : 3] } else w = zipf()
      s = s " " W[w]; prev = w
    }
    print s
  }
}'
# A collapsed generation: `share` of the lines are one sentence, the rest random words from
# its small vocabulary.
DEGEN='function rnd() { seed = (seed * 16807) % 2147483647; return seed / 2147483647 }
BEGIN {
  V = split("the cat sat on mat dog ran away far a and", W, " ")
  for (i = 0; i < lines; i++) {
    if (rnd() < share) { print "the cat sat on the mat"; continue }
    len = 2 + int(rnd() * 6); s = W[1 + int(rnd() * V)]
    for (j = 1; j < len; j++) s = s " " W[1 + int(rnd() * V)]
    print s
  }
}'
ZIPF_ARGS=(-v expo=1.2 -v follow=0.7)
awk -v seed=20240611 -v lines=120 "${ZIPF_ARGS[@]}" "$ZIPF" > "$OUT/train.txt"
{
    awk -v seed=7 -v lines=30 "${ZIPF_ARGS[@]}" "$ZIPF"
    echo "the lighthouse keeper counted seven silver coins"
} > "$OUT/test.txt"
awk -v seed=1 -v lines=80 -v share=0.8 "$DEGEN" > "$OUT/degenerate/train.txt"
{
    awk -v seed=2 -v lines=20 -v share=0.8 "$DEGEN"
    echo "the cat sat on the rug"
} > "$OUT/degenerate/test.txt"

# lmplz's discount statistics: the "Substituting fallback" notes and the "Statistics:" lines
# ("<order> <n-grams> D1=.. D2=.. D3+=.."), without the log's paths, memory and timings.
stats() { grep -E '^Substituting fallback|^[0-9]+ [0-9]+ D1=' "$1" || true; }
# `-S 100M -T` only bound lmplz's memory and place its temporary files; the ARPA is the same.
LM_OPTS=(-S 100M -T "$WORK/tmp/")

echo "== lmplz -o 3 (train.txt)"
"$LMPLZ" -o 3 "${LM_OPTS[@]}" --text "$OUT/train.txt" --arpa "$OUT/o3.arpa" 2> "$WORK/o3.log"
stats "$WORK/o3.log" > "$OUT/o3.stats.txt"
"$QUERY" -v summary "$OUT/o3.arpa" < "$OUT/test.txt" > "$OUT/o3.query-summary.txt" 2> "$WORK/o3.query.log"

echo "== lmplz -o 3 (degenerate/train.txt): must abort"
# (The subshell keeps bash's "Aborted" job notice off the terminal.)
abort_rc=0
( "$LMPLZ" -o 3 "${LM_OPTS[@]}" --text "$OUT/degenerate/train.txt" --arpa "$WORK/aborted.arpa" \
    2> "$WORK/degenerate-o3.log"; exit $? ) 2> /dev/null || abort_rc=$?
rm -f "$WORK/aborted.arpa"
if [ "$abort_rc" = 0 ]; then
    echo "lmplz -o 3 unexpectedly succeeded on degenerate/train.txt" >&2
    exit 1
fi
grep -E '^(Could not|ERROR)' "$WORK/degenerate-o3.log" > "$OUT/degenerate/o3.error.txt"
echo "== lmplz -o 3 --discount_fallback (degenerate/train.txt)"
"$LMPLZ" -o 3 --discount_fallback "${LM_OPTS[@]}" --text "$OUT/degenerate/train.txt" \
    --arpa "$OUT/degenerate/o3-discount_fallback.arpa" 2> "$WORK/degenerate-fallback.log"
stats "$WORK/degenerate-fallback.log" > "$OUT/degenerate/o3-discount_fallback.stats.txt"
"$QUERY" -v summary "$OUT/degenerate/o3-discount_fallback.arpa" < "$OUT/degenerate/test.txt" \
    > "$OUT/degenerate/o3-discount_fallback.query-summary.txt" 2> "$WORK/degenerate-query.log"

# --- README.md: provenance -----------------------------------------------------------------------
{
cat <<EOF
# kenlm_small: a few-KB KenLM reference

Outputs of KenLM's \`lmplz\` and \`query\` on small generated texts, for
\`tests/it/kenlm_reference.rs\` (runs in a plain \`cargo test\`). Written by
\`scripts/kenlm_fixture.sh\`; do not edit by hand, rerun the script. No KenLM code or binaries
are in this repository: only program outputs and the generated input texts.

- Generated: $(date -u +%Y-%m-%d) by \`scripts/kenlm_fixture.sh\`.
- KenLM: the PyPI sdist \`kenlm==$KENLM_VERSION\` (\`kenlm-$KENLM_VERSION.tar.gz\`, sha256
  \`$KENLM_SHA256\`), which is kpu/kenlm's source tree;
  \`lmplz\` and \`query\` built with \`cmake -DCMAKE_BUILD_TYPE=Release\` (KENLM_MAX_ORDER 6).
- Toolchain: $(g++ --version | head -1), $(cmake --version | head -1),
  Boost $(dpkg-query -W -f '${Version}' libboost-program-options-dev), $(awk -W version 2>&1 | head -1) (text generation).

## Files

Inputs (generated by awk programs in the script; one sentence per line, space-separated):
- \`train.txt\`: 120 lines of toy prose with Zipfian, Markov-flavoured word statistics
  ($(wc -w < "$OUT/train.txt") words); \`test.txt\`: 30 more lines from another seed plus one
  line of unseen words (OOVs).
- \`degenerate/train.txt\`: 80 lines, ~80% of them \`the cat sat on the mat\` (a collapsed
  generation); \`degenerate/test.txt\`: 20 more lines plus \`the cat sat on the rug\`.

Outputs (commands run in this folder; \`-S 100M -T <tmp>/\` only bounds memory and places
temporary files, the ARPA is byte-identical without them):

    lmplz -o 3 -S 100M -T <tmp>/ --text train.txt --arpa o3.arpa
    query -v summary o3.arpa < test.txt > o3.query-summary.txt
    lmplz -o 3 -S 100M -T <tmp>/ --text degenerate/train.txt --arpa <tmp>/x.arpa    # aborts
    lmplz -o 3 --discount_fallback -S 100M -T <tmp>/ --text degenerate/train.txt \\
        --arpa degenerate/o3-discount_fallback.arpa
    query -v summary degenerate/o3-discount_fallback.arpa < degenerate/test.txt \\
        > degenerate/o3-discount_fallback.query-summary.txt

- \`o3.arpa\`, \`degenerate/o3-discount_fallback.arpa\`: the ARPA models (plain text).
- \`*.stats.txt\`: lmplz's discount statistics from its log (stderr): any "Substituting
  fallback discounts" notes and the "Statistics:" lines \`<order> <n-grams> D1= D2= D3+=\`.
- \`*.query-summary.txt\`: \`query -v summary\` stdout (perplexity including / excluding OOVs,
  OOV count, tokens including \`</s>\`).
- \`degenerate/o3.error.txt\`: why plain \`lmplz -o 3\` aborts (exit status $abort_rc) on the
  degenerate text.

## Numbers

\`o3.stats.txt\`:

$(sed 's/^/    /' "$OUT/o3.stats.txt")

\`o3.query-summary.txt\`:

$(sed 's/^/    /' "$OUT/o3.query-summary.txt")

\`degenerate/o3.error.txt\`:

$(sed 's/^/    /' "$OUT/degenerate/o3.error.txt")

\`degenerate/o3-discount_fallback.stats.txt\`:

$(sed 's/^/    /' "$OUT/degenerate/o3-discount_fallback.stats.txt")

\`degenerate/o3-discount_fallback.query-summary.txt\`:

$(sed 's/^/    /' "$OUT/degenerate/o3-discount_fallback.query-summary.txt")
EOF
} > "$OUT/README.md"

echo "== wrote $OUT in $(( $(date +%s) - start )) s"
(cd "$OUT" && find . -type f | sort | xargs wc -c)
