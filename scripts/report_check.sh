#!/usr/bin/env bash
# The report in a real browser: runs the quickstart study (3 arms x 3 seeds, 10 generations,
# about 2 minutes), loads each report.html it wrote in headless Chromium at 1400 x 900 px, fails
# when a page is wider than the window (a table cut off at the right), and saves a full-page
# screenshot of each report under OUT (default target/report-check) to look at.
#   bash scripts/report_check.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-target/report-check}")
bash scripts/setup_browser.sh >/dev/null
cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
./target/release/collapse-lab --quiet --workdir "$work" run quickstart >/dev/null
mkdir -p "$out"
chrome=(chromium --headless --no-sandbox --disable-gpu --hide-scrollbars)
status=0
reports=($(find "$work/evals" -name report.html | sort))
[ ${#reports[@]} -gt 0 ] || { echo "no report.html was written under $work/evals" >&2; exit 1; }
for html in "${reports[@]}"; do
  name=$(basename "$(dirname "$html")")
  [ "$name" = report ] && name=$(basename "$(dirname "$(dirname "$html")")")
  # A copy that writes its layout width into the title, read back from the rendered DOM.
  probe="$(dirname "$html")/probe.html"
  cp "$html" "$probe"
  echo '<script>document.title = "width " + document.documentElement.scrollWidth +
    " of " + document.documentElement.clientWidth;</script>' >>"$probe"
  title=$("${chrome[@]}" --window-size=1400,900 --dump-dom "file://$probe" 2>/dev/null |
    grep -o '<title>width [0-9]* of [0-9]*</title>' || true)
  read -r _ width _ window <<<"$(sed 's/<[^>]*>//g' <<<"$title")"
  if [ -z "${width:-}" ]; then
    echo "$name: the page did not load in Chromium" >&2
    status=1
    continue
  fi
  "${chrome[@]}" --window-size=1400,6000 --screenshot="$out/$name.png" "file://$html" \
    >/dev/null 2>&1
  if [ "$width" -gt "$window" ]; then
    echo "$name: the page is $width px wide in a $window px window" >&2
    status=1
  else
    echo "$name: fits ($width of $window px); screenshot $out/$name.png"
  fi
done
exit $status
