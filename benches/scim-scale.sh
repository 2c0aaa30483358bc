#!/usr/bin/env bash
# Enterprise-size provisioning through the local runner (release build), as identity
# providers do it: USERS users and GROUP_COUNT groups created by 8 concurrent clients, one group
# of BIG_GROUP members sent as PATCH chunks of 1,000, then a full 100-per-page import.
# Prints creates/s, the list-page time at 1,000 users and at USERS (their ratio is the figure:
# paging must not grow with the directory), the import time, the time until the last event
# is in the log, and the runner's peak RSS. Not part of `cargo test`; competes for CPU.
#
#   benches/scim-scale.sh                      # 100,000 users, 1,000 groups, 50,000 members
#   USERS=20000 BIG_GROUP=10000 benches/scim-scale.sh
#   PROFILE=debug USERS=10000 GROUP_COUNT=100 BIG_GROUP=6000 benches/scim-scale.sh   # no release build
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-100000}
GROUP_COUNT=${GROUP_COUNT:-1000}
BIG_GROUP=${BIG_GROUP:-50000}
CLIENTS=${CLIENTS:-8}
PROFILE=${PROFILE:-release}

if [ "$PROFILE" = release ]; then
    cargo build --release -p dsync-local --bin dsync-local
else
    cargo build -p dsync-local --bin dsync-local
fi
data_dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DSYNC_DATA_DIR="$data_dir" DSYNC_PORT="$port" DSYNC_RECONCILE_EVERY=86400 \
    "${CARGO_TARGET_DIR:-target}/$PROFILE/dsync-local" >"$data_dir/run.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data_dir"' EXIT
for _ in $(seq 1 120); do
    [ -s "$data_dir/bootstrap.json" ] && break
    sleep 0.5
done

python3 - "$data_dir/bootstrap.json" "$pid" "$USERS" "$GROUP_COUNT" "$BIG_GROUP" "$CLIENTS" <<'PY'
import http.client, json, statistics, sys, threading, time, urllib.parse
from concurrent.futures import ThreadPoolExecutor

boot = json.load(open(sys.argv[1]))
pid, users_n, groups_n, big_n, clients = (int(a) for a in sys.argv[2:7])
scim = urllib.parse.urlsplit(boot["scim_base_url"])
api = urllib.parse.urlsplit(boot["api_base_url"])
local = threading.local()

def call(base, token, method, path, body=None):
    conns = local.__dict__.setdefault("conns", {})
    conn = conns.get(base.netloc)
    if conn is None:
        conn = conns[base.netloc] = http.client.HTTPConnection(base.netloc, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    data = json.dumps(body) if body is not None else None
    conn.request(method, base.path + path, body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    if response.status >= 300:
        raise SystemExit(f"{method} {path} -> {response.status} {payload[:300]!r}")
    return json.loads(payload) if payload else None

def scim_call(method, path, body=None):
    return call(scim, boot["scim_token"], method, path, body)

def api_call(path):
    return call(api, boot["api_key"], "GET", path)

def page_time(start):
    t = time.perf_counter()
    scim_call("GET", f"/Users?startIndex={start}&count=100")
    return time.perf_counter() - t

def page_times():
    # A short sequential import from the start, as an IdP pages: the median page.
    return statistics.median(page_time(1 + 100 * i) for i in range(10))

def create_user(i):
    return scim_call("POST", "/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"user{i:06}@example.com", "active": True,
        "name": {"givenName": "Scale", "familyName": f"User {i}"},
        "emails": [{"value": f"user{i:06}@example.com", "primary": True, "type": "work"}],
    })["id"]

def progress(message):
    # Long phases (the full run takes over an hour) say where they are, on stderr.
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

def wait_for_log_idle():
    """Until the newest event has not changed for 5 s; returns when it last changed. Pages
    are timed with the log idle, so the projection's backlog (which shares the engine) does
    not weigh on one page set more than on the other."""
    last, stable_since = None, None
    while True:
        newest = api_call("/events?order=desc&limit=1")["data"]
        newest = newest[0]["id"] if newest else None
        now = time.perf_counter()
        if newest == last and stable_since and now - stable_since > 5:
            return stable_since
        if newest != last:
            last, stable_since = newest, now
        time.sleep(1)

progress(f"creating the first {min(1000, users_n):,} users")
started = time.perf_counter()
with ThreadPoolExecutor(clients) as pool:
    ids = list(pool.map(create_user, range(min(1000, users_n))))
creating_small = time.perf_counter() - started
progress("waiting for the event log to go idle, then timing pages")
wait_for_log_idle()
page_small = page_times()
progress(f"creating users up to {users_n:,}")
resumed = time.perf_counter()
with ThreadPoolExecutor(clients) as pool:
    ids += list(pool.map(create_user, range(len(ids), users_n)))
created = creating_small + time.perf_counter() - resumed

def create_group(i):
    members = [{"value": ids[(i * 37 + k) % len(ids)]} for k in range(10)]
    return scim_call("POST", "/Groups", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": f"Group {i:05}", "members": members if i else [],
    })["id"]

progress(f"creating {groups_n:,} groups")
with ThreadPoolExecutor(clients) as pool:
    groups = list(pool.map(create_group, range(groups_n)))
big = groups[0]
progress(f"adding {min(big_n, len(ids)):,} members to one group, 1,000 per PATCH")
t = time.perf_counter()
for chunk in range(0, min(big_n, len(ids)), 1000):
    scim_call("PATCH", f"/Groups/{big}?excludedAttributes=members", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members",
                        "value": [{"value": u} for u in ids[chunk:chunk + 1000]]}],
    })
big_time = time.perf_counter() - t
provisioned = time.perf_counter()

progress("importing every user, 100 per page")
t = time.perf_counter()
seen, start = 0, 1
while True:
    page = scim_call("GET", f"/Users?startIndex={start}&count=100")
    got = len(page.get("Resources", []))
    seen += got
    if got < 100:
        break
    start += 100
import_time = time.perf_counter() - t
assert seen == users_n, (seen, users_n)
big_get = scim_call("GET", f"/Groups/{big}")

# The log is complete once its newest event stops changing.
progress("waiting for the event log to go idle (the projection's backlog), then timing pages")
log_done = wait_for_log_idle() - provisioned
page_large = page_times()

rss = 0
for line in open(f"/proc/{pid}/status"):
    if line.startswith("VmHWM:"):
        rss = int(line.split()[1]) // 1024

print(f"users {users_n}, groups {groups_n}, big group {min(big_n, users_n)}, clients {clients}")
print(f"creates/s (users):              {users_n / created:,.0f}")
print(f"list page at 1,000 users:       {page_small * 1000:.1f} ms (median of 10, log idle)")
print(f"list page at {users_n:,} users: {page_large * 1000:.1f} ms (median of 10, log idle)")
print(f"page-time ratio:                {page_large / page_small:.2f} (target <= 1.5)")
print(f"big group PATCHes (1,000 each): {big_time:.1f} s")
print(f"GET big group lists members:    {'members' in big_get}")
print(f"full import, 100 per page:      {import_time:.1f} s ({users_n // 100} pages)")
print(f"last event in the log:          {log_done:.1f} s after provisioning ended")
print(f"peak RSS of the runner:         {rss} MiB")
PY
