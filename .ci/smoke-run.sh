#!/usr/bin/env bash
# Runs the README's run command exactly as written (`cargo run -p dsync-local`), on a temporary
# data dir and a free port given through its environment variables, then acts as an IdP once:
# a SCIM create and a filtered find. Stops the service by PID. Fails loudly on any step.
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$data_dir/run.log"

DSYNC_DATA_DIR="$data_dir" DSYNC_PORT="$port" cargo run -p dsync-local >"$log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    # `cargo run` execs the built binary on Unix, so this PID is the service itself.
    wait "$pid" 2>/dev/null || true
}
trap cleanup EXIT

# The first build may take minutes; the bootstrap file appears once the service listens.
for _ in $(seq 1 1800); do
    [ -s "$data_dir/bootstrap.json" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "smoke: the run command exited early:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 1
done
[ -s "$data_dir/bootstrap.json" ] || { echo "smoke: no bootstrap file" >&2; cat "$log" >&2; exit 1; }

python3 - "$data_dir/bootstrap.json" <<'PY'
import json, sys, time, urllib.request, urllib.parse
boot = json.load(open(sys.argv[1]))
scim, token = boot["scim_base_url"], boot["scim_token"]
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

def call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    for attempt in range(50):
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.load(r)
        except urllib.error.URLError as e:
            if isinstance(e, urllib.error.HTTPError):
                raise SystemExit(f"smoke: {method} {url} -> {e.code} {e.read()[:500]!r}")
            time.sleep(0.2)
    raise SystemExit(f"smoke: {url} never answered")

status, created = call("POST", f"{scim}/Users", {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "smoke.test@example.com", "active": True,
    "name": {"givenName": "Smoke", "familyName": "Test"},
})
assert status == 201, status
query = urllib.parse.urlencode({"filter": 'userName eq "SMOKE.TEST@example.com"'})
status, found = call("GET", f"{scim}/Users?{query}")
assert status == 200 and found["totalResults"] == 1, found
assert found["Resources"][0]["id"] == created["id"], found
print("smoke: the README run command serves SCIM (create + filtered find)")
PY
