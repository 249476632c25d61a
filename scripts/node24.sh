#!/usr/bin/env bash
# Source this file: it puts a Node.js 24 LTS first on PATH.
# Uses the machine's node when it already is 24; otherwise installs the
# official Node 24 binary that the npm registry ships as node-linux-<arch>
# into .tools/node24 (no install scripts, no download outside the registry).
_traverse_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_traverse_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_traverse_node_major)" != "24" ]; then
  case "$(uname -m)" in
    x86_64) _arch=x64 ;;
    aarch64|arm64) _arch=arm64 ;;
    *) echo "traverse: no Node 24 package for $(uname -m); install Node 24 yourself" >&2; return 1 2>/dev/null || exit 1 ;;
  esac
  _dir="$_traverse_root/.tools/node24"
  _bin="$_dir/node_modules/node-linux-$_arch/bin"
  if [ ! -x "$_bin/node" ]; then
    echo "traverse: installing Node 24 LTS from the npm registry into .tools/node24" >&2
    mkdir -p "$_dir"
    npm install --prefix "$_dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-$_arch@24" >&2 || { echo "traverse: could not install node-linux-$_arch@24" >&2; return 1 2>/dev/null || exit 1; }
    [ -x "$_bin/node" ] || chmod +x "$_bin/node"
  fi
  export PATH="$_bin:$PATH"
  hash -r
fi
if [ "$(_traverse_node_major)" != "24" ]; then
  echo "traverse: Node 24 is required, found $(node --version 2>/dev/null || echo none)" >&2
  return 1 2>/dev/null || exit 1
fi
