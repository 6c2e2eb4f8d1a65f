#!/usr/bin/env bash
# Installs the npm test clients with `npm ci` unless node_modules is already there and at
# least as new as package-lock.json (npm ci deletes and rebuilds node_modules: seconds we
# need not spend on every ctest run).
#
#   scripts/npm-ci-if-needed.sh [DIR]    (default: tests/node)
set -euo pipefail

dir=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)/tests/node}
cd "$dir"
[[ -f package-lock.json ]] || { echo "npm-ci-if-needed: no package-lock.json in $dir" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm-ci-if-needed: npm is not installed (scripts/install-deps.sh)" >&2; exit 1; }

# npm writes node_modules/.package-lock.json at the end of every install, so its mtime is
# when node_modules was last brought in line with a lockfile.
stamp=node_modules/.package-lock.json
if [[ -f $stamp && ! package-lock.json -nt $stamp ]]; then
  echo "npm-ci-if-needed: $dir/node_modules is up to date"
  exit 0
fi
echo "npm-ci-if-needed: npm ci in $dir"
npm ci --no-audit --no-fund
