#!/usr/bin/env bash
# Installs Debian's Chromium for the web app's browser tests (playwright-core drives it; nothing is
# downloaded by npm). Does nothing when it is already there. LIVEREVIEW_CHROMIUM names another
# binary to check instead of /usr/bin/chromium.
set -euo pipefail
chromium="${LIVEREVIEW_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "no Chromium at $chromium and no apt-get: install Chromium and set LIVEREVIEW_CHROMIUM" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq chromium chromium-driver
"$chromium" --version
