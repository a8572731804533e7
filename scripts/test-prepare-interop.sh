#!/usr/bin/env bash
# Installs the pinned llama.cpp for the interop tests: node-llama-cpp 3.22.1 with its CPU-only linux-x64 binaries
# (package-lock.json; no CUDA/Vulkan variants, no install scripts, nothing built). Idempotent: skipped when
# interop/node_modules already matches the lock file. test.sh runs it before the tests.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root/interop"
stamp=node_modules/.requant-lock-sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d node_modules/node-llama-cpp ] && [ -d node_modules/@node-llama-cpp/linux-x64 ]; then
  echo "test-prepare-interop: node-llama-cpp already installed" >&2
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "test-prepare-interop: npm not found; install Node.js 20+ and npm (the interop tests need them)" >&2
  exit 1
fi
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
npmlog="$(mktemp)"
trap 'rm -f "$npmlog"' EXIT
if ! npm ci --omit=optional --ignore-scripts --no-audit --no-fund >"$npmlog" 2>&1; then
  # npm 11's `ci` insists that every optional platform package node-llama-cpp names is in the lock; some are not
  # published for 3.22.1 (mac-x64, win-x64...), so they cannot be. `install --no-save` installs exactly the lock's
  # versions (checked below) without rewriting it. npm ci's own error (EUSAGE) is shown only if that fails too.
  echo "test-prepare-interop: npm ci cannot use this lock file (npm 11 wants every optional platform package in it); using npm install --no-save" >&2
  if ! npm install --omit=optional --ignore-scripts --no-save --no-audit --no-fund >&2; then
    echo "test-prepare-interop: npm ci said:" >&2
    grep -v nodedir "$npmlog" | head -20 >&2 || true
    exit 1
  fi
fi
node -e '
const lock = require("./package-lock.json").packages, got = require("./node_modules/.package-lock.json").packages;
const bad = Object.keys(got).filter((k) => lock[k] && lock[k].version !== got[k].version);
if (bad.length || !got["node_modules/node-llama-cpp"]) { console.error("installed versions differ from package-lock.json:", bad); process.exit(1); }
'
echo "$want" > "$stamp"
echo "test-prepare-interop: installed node-llama-cpp ($(du -sh node_modules | cut -f1))" >&2
