#!/usr/bin/env bash
# Every benchmark, in one run on this machine, each figure beside its target or its baseline:
#   1. SCIM creates/s and deactivation PATCHes/s through the local runner (persistent and
#      in-memory) with 8 keep-alive clients, as ratios to a do-nothing HTTP server measured in
#      the same run, and how long after the last response the last event is in the log; with
#      Node.js, also the leading open-source peer (Ory Polis, benches/peer) under the same load;
#   2. the domain's CPU cost (PATCH, filter, projection) against its targets;
#   3. webhook deliveries per second (the fan-out function) to a loopback receiver, as a
#      ratio to raw HTTP POSTs to the same receiver;
#   4. reconciliation of an unchanged directory as a ratio to a raw paginated Query of the same
#      items, its writes and peak memory;
#   5. one environment's event log under 0 and 10 ms injected DynamoDB latency: events/s with
#      1, 4 and 16 projectors, and SCIM creates to the log with 32 clients
#      (benches/log-throughput.sh; about two minutes);
#   6. each Lambda binary's size (stripped, arm64, release profile) and init time (process
#      start -> first request to a local stub of the Lambda Runtime API, x86_64 release build
#      of the same code: this machine cannot run arm64 binaries natively);
#   7. the whole test suite (`cargo test --workspace`, the README's command) after its build.
# Optimized builds (cargo's bench and release profiles); the first run compiles for a long
# while (the release builds link with LTO).
# DSYNC_BENCH_USERS (default 2000) sets how many users the SCIM run creates and patches;
# DSYNC_BENCH_RECONCILE_USERS (default 10000,100000) the reconciliation sizes; the 100,000-user
# directory takes about five minutes to set up and walk (QUICK=1 runs 10,000 only).
# SKIP_LOG=1 leaves out step 5; SKIP_LAMBDAS=1 leaves out step 6 (its two release builds);
# SKIP_TESTS=1 leaves out step 7.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "# dsync benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m)"
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /# cpu: /' || true
echo
cargo bench --quiet -p dsync-domain --bench domain_cpu
echo
# The peer (Ory Polis on its in-memory store) beside the runner, when npm can install it.
if [ "${SKIP_PEER:-}" != 1 ] && command -v npm >/dev/null 2>&1 \
    && npm ci --silent --prefix benches/peer --no-audit --no-fund >/dev/null 2>&1; then
    export DSYNC_BENCH_PEER=1
else
    echo "(Ory Polis not measured: needs Node.js and npm's registry; SKIP_PEER=1 skips it)"
fi
cargo bench --quiet -p dsync-tests --bench scim_throughput
echo
cargo bench --quiet -p dsync-tests --bench webhook_fanout
echo
if [ "${QUICK:-}" = 1 ]; then
    default_sizes=10000
else
    default_sizes=10000,100000
fi
DSYNC_BENCH_RECONCILE_USERS="${DSYNC_BENCH_RECONCILE_USERS:-$default_sizes}" \
    cargo bench --quiet -p dsync-tests --bench reconcile_vs_query
if [ "${SKIP_LOG:-}" != 1 ]; then
    echo
    cargo bench --quiet -p dsync-tests --bench log_throughput
fi
if [ "${SKIP_LAMBDAS:-}" != 1 ]; then
    echo
    echo "## Lambda binaries: size (arm64, stripped)"
    bash infra/build-lambdas.sh 2>&1 | grep -A5 '^function'
    echo
    echo "## Lambda init (x86_64 release build; target <= 5 ms, binaries <= 6 MB)"
    cargo build --quiet --release -p dsync-provider-webhooks -p dsync-policy -p dsync-api -p dsync-fanout \
        --bin provider-webhooks --bin policy --bin api --bin fanout
    python3 benches/lambda-init.py --dir "${CARGO_TARGET_DIR:-target}/release"
fi
if [ "${SKIP_TESTS:-}" != 1 ]; then
    echo
    echo "## The test suite (cargo test --workspace, after its build; target <= 240 s)"
    cargo test --quiet --workspace --no-run
    SECONDS=0
    if cargo test --quiet --workspace >/tmp/dsync-bench-tests.log 2>&1; then
        outcome=passed
    else
        outcome="FAILED (log: /tmp/dsync-bench-tests.log)"
    fi
    seconds=$SECONDS
    printf '| suite | seconds | target | within |\n| --- | ---: | ---: | --- |\n'
    printf '| cargo test --workspace (%s) | %d | <= 240 | %s |\n' "$outcome" "$seconds" \
        "$([ "$seconds" -le 240 ] && echo yes || echo NO)"
fi
