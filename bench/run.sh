#!/usr/bin/env bash
# npm run bench [-- --quick] [--reps N] [--out FILE] [--json FILE]
# Installs what it needs, builds Berth, then runs bench/bench.ts. The TypeScript harness stops
# its servers in `finally`; this trap is the backstop if it dies: it stops, by PID, whatever
# the harness listed in BENCH_PIDFILE and is still running.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh bench
# A symlinked node_modules is shared with other checkouts (worktrees): `npm ci` would empty the
# directory it points to under everyone using it, so it is left alone and only reported stale.
if [ -L node_modules ]; then
  if [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "bench: node_modules is a shared symlink and older than package-lock.json; not reinstalling it" >&2
  fi
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent

BENCH_PIDFILE="$(mktemp "${TMPDIR:-/tmp}/berth-bench-pids.XXXXXX")"
export BENCH_PIDFILE
cleanup() {
  local pid
  if [ -s "$BENCH_PIDFILE" ]; then
    while read -r pid; do
      [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
    done <"$BENCH_PIDFILE"
  fi
  rm -f "$BENCH_PIDFILE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

node_modules/.bin/tsx bench/bench.ts "$@"
