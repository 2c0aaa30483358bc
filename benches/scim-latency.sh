#!/usr/bin/env bash
# Median latency of a SCIM PATCH (deactivate / reactivate) and GET of a user in 2 groups, and
# of a list page (`GET /Users?startIndex=1&count=100`, as identity providers import), through
# the local runner with every DynamoDB request delayed (a network round trip to
# DynamoDB), 30 of each, one after another: how many round trips a request waits for in
# sequence shows up here, where the throughput benchmarks do not see it.
#   bash benches/scim-latency.sh              # builds and runs the release runner, 10 ms
#   DSYNC_DYNAMODB_LATENCY_MS=0 bash benches/scim-latency.sh path/to/dsync-local
# Needs curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-}
if [ -z "$bin" ]; then
    cargo build --quiet --release -p dsync-local
    bin="${CARGO_TARGET_DIR:-target}/release/dsync-local"
fi
latency=${DSYNC_DYNAMODB_LATENCY_MS:-10}
port=${DSYNC_PORT:-8797}
data=$(mktemp -d)
"$bin" --data-dir "$data" --port "$port" --dynamodb-latency-ms "$latency" >"$data/log" 2>&1 &
runner=$!
trap 'kill $runner 2>/dev/null; wait $runner 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 150); do [ -f "$data/bootstrap.json" ] && break; sleep 0.2; done
if [ ! -f "$data/bootstrap.json" ]; then
    echo "the runner did not start (port $port taken? DSYNC_PORT picks another):" >&2
    tail -5 "$data/log" >&2
    exit 1
fi

scim=$(jq -r .scim_base_url "$data/bootstrap.json")
auth=(-H "Authorization: Bearer $(jq -r .scim_token "$data/bootstrap.json")"
    -H 'Content-Type: application/scim+json')
user=$(curl -sf -X POST "$scim/Users" "${auth[@]}" \
    -d '{"userName":"latency@example.com","active":true}' | jq -r .id)
for group in one two; do
    curl -sf -X POST "$scim/Groups" "${auth[@]}" \
        -d "{\"displayName\":\"$group\",\"members\":[{\"value\":\"$user\"}]}" >/dev/null
done

patches=(); gets=(); pages=()
for i in $(seq 1 30); do
    active=$([ $((i % 2)) = 0 ] && echo true || echo false)
    patches+=("$(curl -sf -o /dev/null -w '%{time_total}' -X PATCH "$scim/Users/$user" "${auth[@]}" \
        -d "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":$active}}]}")")
    gets+=("$(curl -sf -o /dev/null -w '%{time_total}' "$scim/Users/$user" "${auth[@]}")")
    pages+=("$(curl -sf -o /dev/null -w '%{time_total}' "$scim/Users?startIndex=1&count=100" "${auth[@]}")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {printf "%.1f ms", v[int((NR + 1) / 2)] * 1000}'; }
echo "| request (user in 2 groups, $latency ms per DynamoDB request) | median of 30 |"
echo "| --- | ---: |"
echo "| PATCH active=false/true | $(median "${patches[@]}") |"
echo "| GET /Users/{id} | $(median "${gets[@]}") |"
echo "| GET /Users?startIndex=1&count=100 | $(median "${pages[@]}") |"
