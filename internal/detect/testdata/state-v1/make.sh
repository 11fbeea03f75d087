#!/usr/bin/env bash
# Regenerates the version-1 detector state fixture that TestLoadStateV1 loads:
# builds darkscope at REV (the last commit whose Engine.Save wrote the
# one-value version-1 layout), imports a generated kern.log with detection
# on, and keeps the saved detect.state plus that binary's own
# `scans --json --min-level 0` over it (what loading must reproduce).
# Usage: internal/detect/testdata/state-v1/make.sh [REV] (default 4f10236).
set -euo pipefail
REV=${1:-4f10236}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(git -C "$HERE" rev-parse --show-toplevel)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
git -C "$ROOT" archive "$REV" | tar -x -C "$W"
(cd "$W" && go build -o "$W/ds" ./cmd/darkscope)
(cd "$ROOT" && go run ./bench/genlog -n 20000 -sources 300 -span 2h -seed 7 -o "$W/kern.log")
printf 'detect:\n  enabled: true\n' >"$W/cfg.yaml"
"$W/ds" import --no-progress -c "$W/cfg.yaml" --data "$W/data" "$W/kern.log" >/dev/null
cp "$W/data/detect.state" "$HERE/detect.state"
"$W/ds" scans --json --min-level 0 -c "$W/cfg.yaml" --data "$W/data" >"$HERE/scans.jsonl"
wc -l "$HERE/scans.jsonl"
