#!/usr/bin/env bash
# Sets up the toolchain on a fresh machine, installs dependencies, then runs a pnpm script:
#   ./scripts/run.sh dev     the system (embedded PostgreSQL + migrations + seed + api + scheduler)
#   ./scripts/run.sh test    every test
# Node >= 22.18 is needed (it runs TypeScript by stripping types; 24 LTS is the target): when the machine's `node` is older, Node 24 is
# fetched from the npm registry (package node-linux-<arch>@24) into .tools/node. pnpm comes from
# the registry too (the version in package.json's packageManager) into .tools/pnpm.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# `npm pack` with the machine's own npm and node (their configuration, e.g. a CA file in npm's
# global npmrc, belongs to them; Node 24's npm would look for it under .tools/node instead),
# a time limit and retries: a stalled registry fetch must not hang the setup.
system_path=$PATH
npm_pack() {
  local attempt
  for attempt in 1 2 3; do
    if PATH="$system_path" timeout 180 npm pack --silent "$1" >/dev/null; then return 0; fi
    echo "npm pack $1 failed or stalled (attempt $attempt of 3)" >&2
    rm -f ./*.tgz
  done
  return 1
}

node_is_recent() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)'
}

if [ -x "$root/.tools/node/bin/node" ]; then
  export PATH="$root/.tools/node/bin:$PATH"
fi
if ! node_is_recent; then
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "No Node 24 package for $(uname -m): install Node >= 22.18 yourself." >&2; exit 1 ;;
  esac
  echo "node $(node --version 2>/dev/null || echo 'not found') is older than 22.18: fetching Node 24 (node-linux-$arch@24) into .tools/node" >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && npm_pack "node-linux-$arch@24")
  rm -rf "$root/.tools/node" && mkdir -p "$root/.tools/node"
  tar xzf "$tmp"/node-linux-*.tgz -C "$root/.tools/node" --strip-components=1
  rm -rf "$tmp"
  export PATH="$root/.tools/node/bin:$PATH"
fi

pnpm_version=$(node -p 'require("./package.json").packageManager.split("@")[1]')
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$pnpm_version" ]; then
  if [ ! -f "$root/.tools/pnpm/package/bin/pnpm.cjs" ] ||
    [ "$(node -p 'require("./.tools/pnpm/package/package.json").version' 2>/dev/null)" != "$pnpm_version" ]; then
    echo "fetching pnpm $pnpm_version into .tools/pnpm" >&2
    rm -rf "$root/.tools/pnpm" && mkdir -p "$root/.tools/pnpm"
    (cd "$root/.tools/pnpm" && npm_pack "pnpm@$pnpm_version" && tar xzf pnpm-*.tgz)
  fi
  mkdir -p "$root/.tools/bin"
  printf '#!/bin/sh\nexec node "%s/.tools/pnpm/package/bin/pnpm.cjs" "$@"\n' "$root" >"$root/.tools/bin/pnpm"
  chmod +x "$root/.tools/bin/pnpm"
  export PATH="$root/.tools/bin:$PATH"
fi

# The observability tests run the real programs: Prometheus (and promtool) and docker-compose
# (to validate docker-compose.yml; no Docker engine is needed); the database tests run PgBouncer.
# Debian packages.
if [[ "${1:-}" == test* ]]; then
  missing=()
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  [ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null 2>&1 || missing+=(pgbouncer)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing ${missing[*]} (Debian packages) for the tests" >&2
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "The tests need ${missing[*]}: install them (Debian: apt-get install ${missing[*]})." >&2
      exit 1
    fi
  fi
fi

echo "node $(node --version), pnpm $(pnpm --version)" >&2
pnpm install --frozen-lockfile
exec pnpm "$@"
