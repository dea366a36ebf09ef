#!/usr/bin/env bash
# Source this file (`. scripts/node.sh`) to get the project's Node.js (26, the active LTS) first on PATH.
# When the machine's `node` is older, it installs the npm package `node@26` (the official binary plus its
# C headers) into a cache folder once, puts it first on PATH and points npm_config_nodedir at those
# headers, so a native addon that has no prebuilt binary builds for the same Node.
# Used by .ci/run and by developers, so both run on the same Node.
PLUGLINE_NODE_MAJOR="${PLUGLINE_NODE_MAJOR:-26}"
plugline_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(plugline_node_major)" -lt "$PLUGLINE_NODE_MAJOR" ]; then
  PLUGLINE_NODE_CACHE="${PLUGLINE_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plugline-node$PLUGLINE_NODE_MAJOR}"
  if [ ! -x "$PLUGLINE_NODE_CACHE/node_modules/node/bin/node" ]; then
    echo "plugline: installing Node.js $PLUGLINE_NODE_MAJOR (npm package node@$PLUGLINE_NODE_MAJOR) into $PLUGLINE_NODE_CACHE" >&2
    mkdir -p "$PLUGLINE_NODE_CACHE"
    [ -f "$PLUGLINE_NODE_CACHE/package.json" ] || echo '{"private":true}' > "$PLUGLINE_NODE_CACHE/package.json"
    (cd "$PLUGLINE_NODE_CACHE" && npm install --no-save --no-package-lock --loglevel=error "node@$PLUGLINE_NODE_MAJOR" >&2) || return 1 2>/dev/null || exit 1
  fi
  export PATH="$PLUGLINE_NODE_CACHE/node_modules/node/bin:$PATH"
  headers=$(dirname "$(find "$PLUGLINE_NODE_CACHE/node_modules" -path '*/include/node/node.h' -print -quit)")
  # nodedir is the folder that holds include/node
  [ -n "$headers" ] && export npm_config_nodedir="$(cd "$headers/../.." && pwd)"
fi
hash -r
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
