#!/usr/bin/env bash
# Issue 11, targets 2 and 3: one environment's event log under injected DynamoDB latency.
#   - events/s committed to ONE environment's log at 0 and 10 ms per DynamoDB request, with 1,
#     4 and 16 concurrent projectors (each a policy Lambda instance with its own client and
#     caches, calling the stream handler the Lambda calls), the failed requests per second
#     (transactions cancelled by lost races on the log head, turns at the head refused),
#     DynamoDB requests per event and the write units per event the log's partition takes;
#     with several projectors, each run twice: with turns at the head, and racing as before
#     turns; after each run the log is read back and must be gap-free with each user created
#     exactly once;
#   - users/s from SCIM create to the log with 32 keep-alive clients through the local runner
#     (every DynamoDB and Streams request of the runner delayed the same way).
# The latency is `dsync_dynamo::with_latency` (also `dsync-local --dynamodb-latency-ms`): half a
# round trip before each request reaches the engine, half after its answer.
# Optimized build (cargo's bench profile). The runs are wall-clock: on a loaded machine compare
# rows of one run, not runs.
#
#   benches/log-throughput.sh
#   DSYNC_BENCH_LOG_USERS=1000 DSYNC_BENCH_LOG_PROJECTORS=1,4,16,32 benches/log-throughput.sh
#   DSYNC_BENCH_LOG_LATENCIES=10 DSYNC_BENCH_SCIM_USERS=0 benches/log-throughput.sh
# Variables: DSYNC_BENCH_LOG_USERS (4000, users per projector run), DSYNC_BENCH_LOG_BATCH (160,
# user records per stream batch: the template's 500 records of SCIM creates), DSYNC_BENCH_LOG_LATENCIES (0,10 ms), DSYNC_BENCH_LOG_PROJECTORS
# (1,4,16), DSYNC_BENCH_SCIM_USERS (1000; 0 skips the SCIM run), DSYNC_BENCH_LOG_COMPARE (0 runs
# only with turns).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "# dsync event-log throughput, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /# cpu: /' || true
echo
cargo bench --quiet -p dsync-tests --bench log_throughput
