#!/usr/bin/env bash
# Builds every function for AWS Lambda (provided.al2023, arm64) with cargo-lambda and prints
# each binary's and zip's size. `sam build` does the same through BuildMethod
# rust-cargolambda; this script is for measuring and for deploying without SAM.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-lambda >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check cargo-lambda ziglang
fi
if command -v rustup >/dev/null 2>&1; then
    rustup target add aarch64-unknown-linux-gnu >/dev/null
fi

functions=(provider-webhooks policy api fanout)
args=()
for f in "${functions[@]}"; do args+=(--bin "$f"); done

start=$(date +%s)
cargo lambda build --release --arm64 "${args[@]}"
echo "built in $(( $(date +%s) - start ))s"

# The target for each stripped binary: 6 MB (smaller binaries load and start faster).
limit=6000000
printf '%-20s %12s %12s %8s\n' function binary zip "<= 6 MB"
for f in "${functions[@]}"; do
    dir="${CARGO_TARGET_DIR:-target}/lambda/$f"
    python3 - "$dir" <<'PY'
import os, sys, zipfile
folder = sys.argv[1]
binary = os.path.join(folder, "bootstrap")
archive = os.path.join(folder, "bootstrap.zip")
with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(binary, "rb") as f:
        z.writestr(info, f.read())
PY
    size=$(stat -c %s "$dir/bootstrap")
    within=yes; [ "$size" -le "$limit" ] || within=NO
    printf '%-20s %12s %12s %8s\n' "$f" "$size" "$(stat -c %s "$dir/bootstrap.zip")" "$within"
done
