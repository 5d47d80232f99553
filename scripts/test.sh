#!/usr/bin/env bash
# The whole test suite: installs what it needs (npm packages, Debian packages), builds,
# type-checks, then runs unit, contract, integration, client and resilience tests.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/install-test-deps.sh
npm run build --silent
npx tsc -p tsconfig.test.json

files=(src/**/*.test.ts test/**/*.test.ts bench/*.test.ts)
exec npx tsx --test --test-reporter=spec --test-concurrency=1 "${files[@]}"
