# Shared by scripts/bench and scripts/bench-calls (sourced after scripts/lib.sh, from the
# repository root): the report helper, the CPU time of a process, the worker's config without what
# a benchmark must not run, the admin API, and the fixtures both benchmarks use.

# The interpreter itself, not a version-manager shim (faster, and it dies of Ctrl-C plainly).
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
helper() { "$PYTHON" "$KEYGATE_ROOT/bench/report.py" "$@"; }

# cpu_us PID…: the CPU time (user + system, all threads) these processes have used, in µs.
# Read from each process's kernel CPU clock (clock_gettime on the clock id that
# clock_getcpuclockid(PID) returns: ((~PID) << 3) | 2), which counts nanoseconds;
# /proc/PID/stat counts 10 ms ticks, too coarse for an isolate's start-up.
cpu_us() {
  "$PYTHON" -c '
import sys, time
total = 0
for pid in map(int, sys.argv[1:]):
    try:
        total += time.clock_gettime_ns(((~pid) << 3) | 2)
    except OSError:
        sys.exit(f"bench: process {pid} is gone")
print(total // 1000)' "$@"
}

# bench_config OUT [MAIN]: wrangler.toml without [build] and [assets], `main` replaced by MAIN
# if given. Without [build]: no build command, no watch of crates/ (an edit or build in the
# working tree would otherwise reload the worker, and maybe restart workerd, mid-run).
# Without [assets]: under wrangler dev the asset router runs in the same workerd before the
# worker and costs ~125 µs of its CPU per request (docs/performance.md), which is not
# keygate's; the benchmarked paths never reach ASSETS.
bench_config() {
  awk '/^\[/ { skip = ($0 ~ /^\[(build|assets)\]/) } !skip' wrangler.toml |
    if [[ -n "${2:-}" ]]; then sed "s|^main = .*|main = \"$2\"|"; else cat; fi >"$1"
}

# admin METHOD PATH [JSON]: the answer's body from $ADMIN_URL/admin/v1 with $ADMIN_TOKEN; dies
# unless 2xx.
admin() {
  local out status body=()
  if [[ $# -ge 3 ]]; then body=(-H 'Content-Type: application/json' -d "$3"); fi
  out=$(curl -s -w '\n%{http_code}' --max-time 30 -X "$1" -H "Authorization: Bearer $ADMIN_TOKEN" \
    "${body[@]}" "$ADMIN_URL/admin/v1$2") || kg_die "admin $1 $2: no answer"
  status=${out##*$'\n'}
  [[ "$status" == 2* ]] || kg_die "admin $1 $2: HTTP $status: ${out%$'\n'*}"
  printf '%s' "${out%$'\n'*}"
}

# json_get A.B.C: that field of the JSON on stdin.
json_get() {
  "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"
}

# bench_fixtures: seeds the demo account (the first admin request does) and sets the demo
# variables (scripts/demo.env), LIVE_ACCOUNT, LIVE_PRODUCT_KEY and LIVE_SECRET (a live key of a
# production account entitled to bank_data), BAD_CHECKSUM_KEY (the demo key with its last
# character changed) and UNKNOWN_KEY (well-formed, never issued).
bench_fixtures() {
  # shellcheck source=../scripts/demo.env
  source scripts/demo.env
  admin GET "/accounts?limit=1" >/dev/null
  LIVE_ACCOUNT=$(admin POST /accounts '{"name": "bench live", "agreement": "production"}' | json_get id)
  LIVE_PRODUCT_KEY=$(admin PUT "/accounts/$LIVE_ACCOUNT/products/bank_data" | json_get product_keys.live)
  LIVE_SECRET=$(admin POST "/accounts/$LIVE_ACCOUNT/keys" '{"name": "bench live", "environment": "live"}' | json_get secret)
  local last=${DEMO_SECRET_KEY: -1}
  BAD_CHECKSUM_KEY="${DEMO_SECRET_KEY%?}$([[ $last == a ]] && echo b || echo a)"
  UNKNOWN_KEY=$(helper unknown-key sk_test_)
}
