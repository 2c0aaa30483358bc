#!/usr/bin/env bash
# Webhook deliveries per second to a loopback receiver (release build): the fan-out
# function's stream path with 1 and 4 endpoints, and the retry sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p dsync-tests --bench webhook_fanout "$@"
