#!/usr/bin/env bash
# Builds POA Network's agent (poa-netstats-agent, Elixir) offline into BUILD_DIR, for
# tests/poa_agent_test.ts: vendor/ holds its source and its runtime dependencies at its mix.lock
# versions (vendor/SOURCES; made by vendor.sh). The agent's lib/ is compiled unchanged; its
# mix.exs takes the dependencies from vendor/ (the dev, test, docs and release tools dropped), and
# config/prod.exs is this directory's test config (settings from the environment at start).
# Usage: build.sh BUILD_DIR   (needs Debian's elixir and erlang packages; .ci/run installs them)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
B=${1:?usage: build.sh BUILD_DIR}
mkdir -p "$B"
B=$(cd "$B" && pwd)
V="$B/vendor"
rm -rf "$V" "$B/lib"
cp -r "$HERE/vendor" "$V"
cp -r "$V/poa_agent/lib" "$B/lib"
mkdir -p "$B/config"
cp "$V/poa_agent/config/config.exs" "$B/config/"
cp "$HERE/config/prod.exs" "$B/config/prod.exs"
DEPS="
      {:ethereumex, path: \"$V/ethereumex\"},
      {:poison, path: \"$V/poison\", override: true},
      {:msgpax, path: \"$V/msgpax\"},
      {:websockex, path: \"$V/websockex\"},
      {:jason, path: \"$V/jason\"},
      {:backoff, path: \"$V/backoff\"}" \
  perl -0pe 's/defp deps do\n.*?\n  end\n/defp deps do\n    [$ENV{DEPS}\n    ]\n  end\n/s' \
  "$V/poa_agent/mix.exs" > "$B/mix.exs"
grep -q 'path: ' "$B/mix.exs"
cd "$B"
export MIX_ENV=prod HEX_OFFLINE=1 MIX_HOME="$B/.mix" HEX_HOME="$B/.hex"
mix compile
