#!/usr/bin/env bash
# Installs Debian's Chromium, which scripts/report_check.sh uses to load a report in a real
# browser (headless). Not needed to build, test or run collapse-lab.
set -euo pipefail
if command -v chromium >/dev/null; then
  chromium --version
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
chromium --version
