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

# Two passes. Unit, contract, integration and client test files are independent (each its own
# temporary directories, servers on ephemeral loopback ports, podman/skopeo state in its own
# directory), so they run two files at a time, one per core. The resilience tests (crash
# recovery, GC under load, memory ceilings on 2 GiB blobs) and the benchmark's quick mode
# measure memory and throughput, which a neighbour would distort: they run alone, one file at
# a time, afterwards.
parallel=(src/**/*.test.ts test/contract/*.test.ts test/integration/*.test.ts test/clients/*.test.ts test/scaleout/*.test.ts)
serial=(test/resilience/*.test.ts bench/*.test.ts)

status=0
echo "== parallel pass (${#parallel[@]} files, 2 at a time)"
npx tsx --test --test-reporter=spec --test-concurrency=2 "${parallel[@]}" || status=$?
echo "== serial pass (${#serial[@]} files, one at a time: measurements)"
npx tsx --test --test-reporter=spec --test-concurrency=1 "${serial[@]}" || status=$?
exit "$status"
