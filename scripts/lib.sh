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

# `cargo test --target wasm32-unknown-unknown` runs #[wasm_bindgen_test]s in headless Chromium
# (CHROMEDRIVER); kg_wasm_test below runs them in headless Firefox too. GECKODRIVER is not
# exported: the runner prefers it over CHROMEDRIVER whenever both are set.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER:-wasm-bindgen-test-runner}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
# geckodriver comes from `cargo install` (scripts/setup).
KEYGATE_GECKODRIVER="${GECKODRIVER:-${CARGO_HOME:-$HOME/.cargo}/bin/geckodriver}"

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

# kg_wasm_test chromium|firefox CRATE: the crate's #[wasm_bindgen_test]s (lib + integration
# tests; doctests do not run for wasm) in that headless browser. wasm-bindgen-test-runner
# takes the first driver variable it finds set (GECKODRIVER before CHROMEDRIVER, *_REMOTE
# before both), so exactly one is set here. Both browsers run the same compiled test wasm
# (same target and profile), so the second run does not rebuild. Fails when the runner did not
# say it ran in that browser (e.g. tests silently fell back to Node).
kg_wasm_test() {
  local browser=$1 crate=$2 driver name log rc
  case "$browser" in
    chromium) driver="CHROMEDRIVER=$CHROMEDRIVER" name=Chrome ;;
    firefox) driver="GECKODRIVER=$KEYGATE_GECKODRIVER" name=Firefox ;;
    *)
      printf "kg_wasm_test: browser must be chromium or firefox, not '%s'\n" "$browser" >&2
      return 2
      ;;
  esac
  log=$(mktemp)
  env -u GECKODRIVER -u CHROMEDRIVER -u SAFARIDRIVER -u MSEDGEDRIVER \
    -u GECKODRIVER_REMOTE -u CHROMEDRIVER_REMOTE -u SAFARIDRIVER_REMOTE -u MSEDGEDRIVER_REMOTE \
    "$driver" cargo test -p "$crate" --target wasm32-unknown-unknown --tests 2>&1 |
    tee "$log" && rc=${PIPESTATUS[0]} || rc=${PIPESTATUS[0]} # cargo's status, pipefail or not
  if ((rc == 0)) && ! grep -q "^Running headless tests in $name " "$log"; then
    printf 'ERROR: no test of %s ran in headless %s\n' "$crate" "$browser" >&2
    rc=1
  fi
  rm -f "$log"
  return "$rc"
}

# Milliseconds since the epoch (for timings).
kg_now_ms() { date +%s%3N; }
