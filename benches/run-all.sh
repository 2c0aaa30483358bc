#!/usr/bin/env bash
# Every benchmark, in one run on this machine, each figure beside its target or its baseline:
#   1. SCIM creates/s and deactivation PATCHes/s through the local runner (persistent and
#      in-memory) with 8 keep-alive clients, as ratios to a do-nothing HTTP server measured in
#      the same run, and how long after the last response the last event is in the log;
#   2. the domain's CPU cost (PATCH, filter, projection) against its targets;
#   3. webhook deliveries per second (the fan-out function) to a loopback receiver.
# Optimized builds (cargo's bench profile); the first run compiles for several minutes.
# DSYNC_BENCH_USERS (default 2000) sets how many users the SCIM run creates and patches.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "# dsync benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m)"
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /# cpu: /' || true
echo
cargo bench --quiet -p dsync-domain --bench domain_cpu
echo
cargo bench --quiet -p dsync-tests --bench scim_throughput
echo
cargo bench --quiet -p dsync-tests --bench webhook_fanout
