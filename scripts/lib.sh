# shellcheck shell=bash
# Sourced by the other scripts (never executed): the environment every keygate tool needs.
# It only exports variables into the calling script's process; nothing is written globally.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KEYGATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KEYGATE_ROOT

case ":$PATH:" in
  *":$HOME/.cargo/bin:"*) ;;
  *) export PATH="$HOME/.cargo/bin:$PATH" ;;
esac

# worker-build downloads wasm-bindgen, wasm-opt and esbuild from GitHub unless these point at
# local binaries (GitHub is not reachable here). wasm-bindgen-cli comes from `cargo install`
# (scripts/setup), wasm-opt (binaryen 132) and esbuild 0.28.2 from `npm ci`.
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$KEYGATE_ROOT/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$KEYGATE_ROOT/node_modules/.bin/esbuild}"

# wrangler / workerd offline: no telemetry, no Request.cf download, no update check.
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export WRANGLER_HIDE_BANNER=true

# `cargo test --target wasm32-unknown-unknown` runs #[wasm_bindgen_test]s in headless Chromium.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER:-wasm-bindgen-test-runner}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"

WRANGLER="$KEYGATE_ROOT/node_modules/.bin/wrangler"

# Section header for script output.
kg_section() {
  printf '\n\033[1m==> %s\033[0m\n' "$*"
}

kg_die() {
  printf '\nERROR: %s\n' "$*" >&2
  exit 1
}

# The wasm-bindgen version pinned in Cargo.lock (the CLI must match it exactly).
kg_wasm_bindgen_version() {
  awk '
    /^\[\[package\]\]/ { inpkg = 0 }
    /^name = "wasm-bindgen"$/ { inpkg = 1; next }
    inpkg && /^version = / { gsub(/"/, "", $3); print $3; exit }
  ' "$KEYGATE_ROOT/Cargo.lock"
}

# Milliseconds since the epoch (for timings).
kg_now_ms() { date +%s%3N; }
