#!/usr/bin/env bash
# Source this file (`. scripts/node24.sh`) to get Node.js 24 first on PATH.
# Machines here may ship an older Node; we then install the npm package `node@24`
# (the official binary plus its C headers) into a cache folder and point
# npm_config_nodedir at those headers so native addons build for Node 24.
# Used by .ci/run and by developers, so both run on the same Node.
plugline_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(plugline_node_major)" -lt 24 ]; then
  PLUGLINE_NODE_CACHE="${PLUGLINE_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plugline-node24}"
  if [ ! -x "$PLUGLINE_NODE_CACHE/node_modules/node/bin/node" ]; then
    echo "plugline: installing Node.js 24 (npm package node@24) into $PLUGLINE_NODE_CACHE" >&2
    mkdir -p "$PLUGLINE_NODE_CACHE"
    [ -f "$PLUGLINE_NODE_CACHE/package.json" ] || echo '{"private":true}' > "$PLUGLINE_NODE_CACHE/package.json"
    (cd "$PLUGLINE_NODE_CACHE" && npm install --no-save --no-package-lock --loglevel=error node@24 >&2) || return 1 2>/dev/null || exit 1
  fi
  export PATH="$PLUGLINE_NODE_CACHE/node_modules/node/bin:$PATH"
  headers=$(dirname "$(find "$PLUGLINE_NODE_CACHE/node_modules" -path '*/include/node/node.h' -print -quit)")
  # nodedir is the folder that holds include/node
  [ -n "$headers" ] && export npm_config_nodedir="$(cd "$headers/../.." && pwd)"
fi
hash -r
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
