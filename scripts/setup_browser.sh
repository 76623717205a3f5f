#!/usr/bin/env bash
# Installs what the web page's browser test needs: Debian's chromium and npm's playwright-core.
# Idempotent; prints what it does. Without root or network it says so and the browser tests skip.
set -u
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "[setup_browser] installing Debian chromium"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "[setup_browser] could not install chromium; browser tests will be skipped"
  else
    echo "[setup_browser] chromium missing and not root; browser tests will be skipped"
  fi
fi
if [ ! -d Testing/web/node_modules/playwright-core ]; then
  echo "[setup_browser] installing playwright-core (npm)"
  (cd Testing/web && npm install --silent --no-audit --no-fund >/dev/null) \
    || echo "[setup_browser] npm install failed; browser tests will be skipped"
fi
exit 0
