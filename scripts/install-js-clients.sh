#!/usr/bin/env bash
# Install the frameworks' real JS vector-store clients the tests read migrated data with
# (tests/js/query.mjs, tests/integration/test_js_clients.py):
#   .tools/node  Node.js from npm's `node` package, pinned in tests/js/node-runtime/package-lock.json
#                (Mastra needs Node >= 22.13; the machine's node may be older). Never system-wide.
#   .tools/js    LangChain.js, LlamaIndex TS, Mastra and pg, pinned in tests/js/package-lock.json,
#                installed with `npm ci` so every machine gets exactly the locked tree.
# Idempotent: does nothing when the installed trees match the locks (stamps hold the locks' hashes).
# Fails loudly. Prints nothing on success unless VERBOSE=1. Prints nothing on stdout.
#   scripts/install-js-clients.sh            install (or check) both
#   scripts/install-js-clients.sh --node     print the pinned node binary's path (after installing)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODE_LOCK_DIR="$REPO_ROOT/tests/js/node-runtime"
NODE_DEST="$TOOLS_DIR/node"
NODE_BIN="$NODE_DEST/node_modules/node/bin/node"
JS_LOCK_DIR="$REPO_ROOT/tests/js"
JS_DEST="$TOOLS_DIR/js"

lock_hash() { sha256sum "$1/package.json" "$1/package-lock.json" | sha256sum | cut -d' ' -f1; }

# npm_ci_tree SRC DEST CHECK : install SRC's locked tree into DEST unless DEST's stamp matches;
# CHECK is a file that must exist afterwards.
npm_ci_tree() {
  local src="$1" dest="$2" check="$3" want
  want="$(lock_hash "$src")"
  if [[ -f "$dest/.c2p-lock-sha256" && "$(cat "$dest/.c2p-lock-sha256")" == "$want" && -e "$check" ]]; then
    vlog "$dest already matches $src/package-lock.json"
    return 0
  fi
  log "installing $src/package-lock.json into $dest"
  rm -rf "$dest/node_modules" "$dest/.c2p-lock-sha256"
  mkdir -p "$dest"
  cp "$src/package.json" "$src/package-lock.json" "$dest/"
  (cd "$dest" && run_quiet "npm ci in $dest" npm ci --no-audit --no-fund --no-update-notifier --loglevel=error)
  [[ -e "$check" ]] || die "npm ci finished but $check is missing"
  printf '%s\n' "$want" >"$dest/.c2p-lock-sha256"
}

need_cmd npm sha256sum
[[ "$(uname -m)" == x86_64 ]] || die "only linux x86_64 is supported (found $(uname -m))"
npm_ci_tree "$NODE_LOCK_DIR" "$NODE_DEST" "$NODE_BIN"
want_node="$(node -e 'process.stdout.write(require(process.argv[1]).dependencies.node)' "$NODE_LOCK_DIR/package.json" 2>/dev/null \
  || sed -n 's/.*"node": *"\([0-9.]*\)".*/\1/p' "$NODE_LOCK_DIR/package.json")"
got_node="$("$NODE_BIN" --version)" || die "$NODE_BIN does not run"
[[ "$got_node" == "v$want_node" ]] || die "expected node v$want_node in $NODE_DEST, got $got_node"

# The clients are installed by the pinned node (their engines need >= 22.13).
PATH="$(dirname "$NODE_BIN"):$PATH" npm_ci_tree "$JS_LOCK_DIR" "$JS_DEST" "$JS_DEST/node_modules/@mastra/pg/package.json"
# Every client must load under the pinned node.
(cd "$JS_DEST" && run_quiet "loading the JS clients" "$NODE_BIN" --input-type=module -e '
  await import("@langchain/community/vectorstores/pgvector");
  await import("@llamaindex/postgres");
  await import("@mastra/pg");')

if [[ "${1:-}" == --node ]]; then
  printf '%s\n' "$NODE_BIN"
fi
