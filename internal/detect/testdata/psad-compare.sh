#!/usr/bin/env bash
# psad-compare.sh — for every detector scenario (testdata/scenarios/*.txtar),
# run Debian's psad in analysis mode on the same input lines
# (`psad -A -m FILE`, under a timeout) and print a Markdown table with
# darkscope's verdicts (the scenario's reviewed "expected" section, which
# TestScenarios checks against the detector) beside psad's.
# Needs psad (Debian package psad 2.4.6); psad -A writes
# /var/log/psad/analysis.out as a side effect.
set -euo pipefail
cd "$(dirname "$0")"
command -v psad >/dev/null || { echo "psad-compare.sh: psad not installed" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "| scenario | darkscope: src level scan types [tool] (backscatter) (signatures) | psad -A: src DL (signatures) |"
echo "|---|---|---|"
for f in scenarios/*.txtar; do
	name=$(basename "$f" .txtar)
	awk '/^-- input --/{f=1;next} /^-- /{f=0} f' "$f" >"$TMP/in.log"
	awk '/^-- expected --/{f=1;next} /^-- /{f=0} f' "$f" >"$TMP/exp.jsonl"
	timeout 120 psad -A -m "$TMP/in.log" >"$TMP/psad.out" 2>&1 || echo "psad exit $?" >>"$TMP/psad.out"
	python3 - "$name" "$TMP/exp.jsonl" "$TMP/psad.out" <<'PY'
import json, re, sys
name, exp, pout = sys.argv[1:]
ds = []
for ln in open(exp):
    ln = ln.strip()
    if not ln:
        continue
    v = json.loads(ln)
    s = "%s L%d %s" % (v["src"], v["danger_level"], " ".join(v["scan_types"]) or "-")
    if v.get("tool"):
        s += " [" + v["tool"] + "]"
    if v["backscatter"]:
        s += " (backscatter)"
    if v.get("signatures"):
        s += " (" + "; ".join(v["signatures"]) + ")"
    ds.append(s)
ps, cur = [], None
for ln in open(pout):
    m = re.match(r"SRC:\s+(\S+), DL: (\d+)", ln)
    if m:
        cur = [m.group(1) + " DL" + m.group(2), []]
        ps.append(cur)
        continue
    m = re.search(r'Signature match: "([^"]+)"', ln)
    if m and cur is not None and m.group(1) not in cur[1]:
        cur[1].append(m.group(1))
    if ln.startswith("psad exit"):
        ps.append([ln.strip(), []])
pcells = [p[0] + (" (" + "; ".join(p[1]) + ")" if p[1] else "") for p in ps] or ["nothing"]
print("| %s | %s | %s |" % (name, "<br>".join(ds) or "nothing", "<br>".join(pcells)))
PY
done
