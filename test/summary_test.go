package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSummary imports the real captured scans and checks `darkscope
// summary`: the same report without and with the daemon, top ports by
// packets equal to a count of the input lines, tools and signatures equal
// to what `scans` says per source, and current blocks from the responder's
// state file (or "auto-block: off" without one).
func TestSummary(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "scans.log")
	names, err := filepath.Glob(filepath.Join("..", "internal", "detect", "testdata", "scenarios", "real-*.txtar"))
	if err != nil || len(names) < 10 {
		t.Fatalf("scenarios: %v %v", names, err)
	}
	// The captures were made at different times: import them in time order
	// (the lines start with RFC 3339 UTC stamps), as a log would hold them.
	var lines []string
	for _, n := range names {
		lines = append(lines, strings.Split(strings.TrimSpace(scenarioInput(t, filepath.Base(n))), "\n")...)
	}
	slices.Sort(lines)
	var all strings.Builder
	all.WriteString(strings.Join(lines, "\n") + "\n")
	must(t, os.WriteFile(log, []byte(all.String()), 0o644))
	data := filepath.Join(dir, "data")
	ds(t, false, "import", "--data", data, log)

	if out := ds(t, false, "summary", "--data", data); !strings.Contains(out, "auto-block: off") || !strings.Contains(out, "Top signatures:") {
		t.Errorf("summary text without a responder state:\n%s", out)
	}
	// A responder state file: one active block, one expired.
	now := time.Now().UTC()
	state := map[string]any{"version": 1, "entries": []map[string]any{
		{"kind": "block", "prefix": "10.99.88.11/32", "reason": "danger level 2", "level": 2, "added": now.Add(-time.Minute),
			"expires": now.Add(time.Hour)},
		{"kind": "block", "prefix": "10.99.88.15/32", "reason": "old", "level": 2, "added": now.Add(-2 * time.Hour),
			"expires": now.Add(-time.Hour)},
	}}
	b, _ := json.Marshal(state)
	must(t, os.WriteFile(filepath.Join(data, "respond-state.json"), b, 0o600))

	saved := ds(t, false, "summary", "--data", data, "--json", "--limit", "50")
	follow := filepath.Join(dir, "f.log")
	must(t, os.WriteFile(follow, nil, 0o644))
	stop := daemon(t, data, nil, "--follow", follow)
	live := ds(t, false, "summary", "--data", data, "--json", "--limit", "50")
	scans := jsonLines(t, ds(t, false, "scans", "--data", data, "--json"))
	victims := jsonLines(t, ds(t, false, "backscatter", "--data", data, "--json"))
	stop()

	var a, b2 map[string]any
	must(t, json.Unmarshal([]byte(saved), &a))
	must(t, json.Unmarshal([]byte(live), &b2))
	if !reflect.DeepEqual(a, b2) {
		t.Errorf("summary differs without and with the daemon:\nsaved: %s\ndaemon: %s", saved, live)
	}

	// Ground truth from the input text: packets per TCP destination port.
	perPort := map[string]float64{}
	re := regexp.MustCompile(`PROTO=TCP SPT=\d+ DPT=(\d+) `)
	for _, ln := range strings.Split(all.String(), "\n") {
		if m := re.FindStringSubmatch(ln); m != nil {
			perPort[m[1]+"/tcp"]++
		}
	}
	rows, _ := a["top_ports_by_packets"].([]any)
	if len(rows) == 0 {
		t.Fatalf("no top ports by packets: %s", saved)
	}
	for _, r := range rows {
		m := r.(map[string]any)
		k := m["key"].(string)
		if strings.HasSuffix(k, "/tcp") && num(m, "count") != perPort[k] {
			t.Errorf("port %s: %v packets, the input has %v", k, m["count"], perPort[k])
		}
	}
	// Tools and signatures: the summary counts what scans lists per source.
	tools, sigs := map[string]float64{}, map[string]float64{}
	levels := make([]float64, 6)
	for _, v := range scans {
		if strings.Contains(v["src"].(string), "/") {
			continue // IPv6 aggregates are not counted as sources
		}
		if tl, _ := v["tool"].(map[string]any); tl != nil && num(v, "packets") > 0 {
			tools[tl["name"].(string)]++
		}
		if num(v, "packets") > 0 {
			for _, s := range strs(v["signatures"]) {
				sigs[s]++
			}
		}
		levels[int(num(v, "danger_level"))]++
	}
	check := func(key string, want map[string]float64) {
		got := map[string]float64{}
		l, _ := a[key].([]any)
		for _, x := range l {
			m := x.(map[string]any)
			got[m["name"].(string)] = num(m, "sources")
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, scans says %v", key, got, want)
		}
	}
	check("top_tools", tools)
	check("top_signatures", sigs)
	byLevel, _ := a["by_level"].([]any)
	for l := 1; l <= 5; l++ {
		if byLevel[l].(float64) != levels[l] {
			t.Errorf("by_level[%d] = %v, scans lists %v sources at that level", l, byLevel[l], levels[l])
		}
	}
	if a["auto_block"] != true {
		t.Errorf("auto_block = %v with a state file", a["auto_block"])
	}
	bl, _ := a["blocks"].([]any)
	if len(bl) != 1 || bl[0].(map[string]any)["prefix"] != "10.99.88.11/32" {
		t.Errorf("blocks %v: want only the active 10.99.88.11/32", bl)
	}
	// Sources silent for the scan timeout (1 h of event time) are gone: the
	// nmap captures are older than the tool captures by more than that.
	if v, _ := a["victims"].(float64); v != float64(len(victims)) || len(victims) == 0 {
		t.Errorf("victims %v, backscatter lists %d", a["victims"], len(victims))
	}
}
