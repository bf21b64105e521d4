#!/usr/bin/env bash
# Installs what the web-page test needs, idempotently: Debian's Chromium (the browser itself; playwright-core
# never downloads one) and npm `playwright-core` pinned, into tests/web/node_modules. Safe to run repeatedly;
# a second run does nothing when both are present.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-web-test: chromium is missing and this is not root; install it with: apt-get install -y chromium" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

if ! command -v node >/dev/null 2>&1; then
  echo "setup-web-test: node is missing (apt-get install -y nodejs npm)" >&2
  exit 1
fi

want=1.65.1
have=$(node -p "try{require('./tests/web/node_modules/playwright-core/package.json').version}catch(e){''}" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  (cd tests/web && npm install --no-audit --no-fund --silent --save-exact "playwright-core@$want")
fi
echo "setup-web-test: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), playwright-core $want"
