#!/usr/bin/env python3
"""Init time of each Lambda binary: process start -> its first request to the Lambda Runtime API.

A local stub of the Runtime API listens on loopback; each binary is started with
AWS_LAMBDA_RUNTIME_API pointing at it and the environment Lambda gives a function (region,
credentials, table names; no DynamoDB endpoint, so the real AWS client set-up runs). The clock
starts just before the process is spawned and stops when the stub has read the binary's
`GET /2018-06-01/runtime/invocation/next`; the process is then killed. This is what a cold
start adds on top of Lambda's own sandbox set-up: everything the binary does before it can take
its first event.

usage: lambda-init.py [--dir target/release] [--runs 30] [--target-ms 5] [FUNCTION ...]
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

FUNCTIONS = ["provider-webhooks", "policy", "api", "fanout"]
NEXT_PATH = b"GET /2018-06-01/runtime/invocation/next"


def lambda_environment(function, port):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        # Lambda hands the role's credentials in the environment; the client must not call
        # anything before the first event, so these are never used here.
        "AWS_ACCESS_KEY_ID": "AKIDBENCHINIT",
        "AWS_SECRET_ACCESS_KEY": "bench-init-secret",
        "AWS_SESSION_TOKEN": "bench-init-token",
        "DSYNC_TABLE_PREFIX": "dsync-bench",
        "DSYNC_PUBLIC_BASE_URL": "https://dsync.example.com",
        # No home directory with an AWS profile, as on Lambda.
        "HOME": "/nonexistent",
    }
    return env


def read_request_line(conn, deadline):
    data = b""
    while b"\r\n" not in data:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return None
        conn.settimeout(remaining)
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data.split(b"\r\n", 1)[0]


def one_start(binary, function, listener, port, timeout_s=10.0):
    """Seconds from spawn to the first `next` request, or None with the reason printed."""
    env = lambda_environment(function, port)
    start = time.perf_counter()
    process = subprocess.Popen(
        [binary], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = start + timeout_s
    elapsed = None
    try:
        while elapsed is None:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            listener.settimeout(remaining)
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                break
            with conn:
                line = read_request_line(conn, deadline)
                if line is not None and line.startswith(NEXT_PATH):
                    elapsed = time.perf_counter() - start
                # Anything else (an extension registration, say) is left unanswered: it would
                # count in the init time, and no function of ours makes one.
    finally:
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate()
    if elapsed is None:
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        print(f"  {function}: no `next` request within {timeout_s}s; stderr: {tail}", file=sys.stderr)
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="target/release")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--target-ms", type=float, default=5.0)
    parser.add_argument("functions", nargs="*", default=FUNCTIONS)
    args = parser.parse_args()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]

    print(f"{'function':<20} {'binary':>10} {'init p50':>10} {'best':>8} {'worst':>8} {'target':>8}  within")
    all_within = True
    for function in args.functions:
        binary = os.path.join(args.dir, function)
        if not os.path.exists(binary):
            print(f"{function:<20} missing: {binary}")
            all_within = False
            continue
        one_start(binary, function, listener, port)  # page cache warm, as a second cold start is
        times = [one_start(binary, function, listener, port) for _ in range(args.runs)]
        times = [t for t in times if t is not None]
        if not times:
            print(f"{function:<20} never reached the Runtime API")
            all_within = False
            continue
        p50 = statistics.median(times) * 1000
        within = p50 <= args.target_ms
        all_within &= within
        size = os.path.getsize(binary) / 1e6
        print(
            f"{function:<20} {size:>8.1f}MB {p50:>8.2f}ms {min(times) * 1000:>6.2f}ms "
            f"{max(times) * 1000:>6.2f}ms {args.target_ms:>6.1f}ms  {'yes' if within else 'NO'}"
        )
    print(f"({args.runs} starts each; binaries from {args.dir}, {os.uname().machine})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
