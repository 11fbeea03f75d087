package detect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/detect/signature"
	"github.com/darkscope/darkscope/internal/enrich/tool"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite the expected sections of the scenario files")

// scenarioVerdict is the part of a verdict a scenario pins down.
type scenarioVerdict struct {
	Src          string            `json:"src"`
	DangerLevel  int               `json:"danger_level"`
	Pattern      string            `json:"pattern"`
	ScanTypes    []string          `json:"scan_types"`
	Backscatter  bool              `json:"backscatter"`
	Packets      uint64            `json:"packets"`
	DstPorts     map[string]string `json:"dst_ports"`
	Destinations uint64            `json:"destinations"`
	Signatures   []string          `json:"signatures,omitempty"`
	Tool         string            `json:"tool,omitempty"`
}

type scenarioVictim struct {
	Victim  string   `json:"victim"`
	Packets uint64   `json:"packets"`
	Ports   string   `json:"ports"`
	Kinds   []string `json:"kinds"`
}

// TestScenarios replays every testdata/scenarios/*.txtar: "config" (key:
// value lines: min_level, report_interval), "input" (kernel LOG lines,
// parsed by the foundation's decoder) and the expected verdicts as JSON
// lines ("expected"), optionally the expected victims ("victims"). The
// engine runs with the default signatures and the scanner-tool
// fingerprinter, as the daemon does (no p0f file). The input is replayed
// twice, the second time with Advance calls between lines, and both runs
// must give identical alerts.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sec := map[string][]byte{}
			for _, fl := range ar.Files {
				sec[fl.Name] = fl.Data
			}
			cfg := DefaultConfig()
			minLevel := event.DangerLevel(1)
			for _, ln := range strings.Split(string(sec["config"]), "\n") {
				k, v, ok := strings.Cut(ln, ":")
				if !ok {
					continue
				}
				v = strings.TrimSpace(v)
				switch strings.TrimSpace(k) {
				case "min_level":
					n, _ := strconv.Atoi(v)
					minLevel = event.DangerLevel(n)
				case "report_interval":
					d, err := time.ParseDuration(v)
					if err != nil {
						t.Fatal(err)
					}
					cfg.ReportInterval = d
				default:
					t.Fatalf("unknown config key %q", k)
				}
			}
			evs := parseLog(t, sec["input"])
			g1, a1 := replay(t, cfg, evs, false)
			_, a2 := replay(t, cfg, evs, true)
			if diff := cmp.Diff(a1, a2, netipCmp); diff != "" {
				t.Errorf("alerts depend on Advance batching (-once +batched):\n%s", diff)
			}
			var got bytes.Buffer
			for _, v := range g1.Verdicts(VerdictFilter{MinLevel: minLevel}) {
				sv := scenarioVerdict{v.Src, v.DangerLevel, v.Pattern, v.ScanTypes, v.Backscatter, v.Packets, v.DstPorts, v.Destinations, v.Signatures, ""}
				if v.Tool != nil {
					sv.Tool = v.Tool.Name
				}
				b, _ := json.Marshal(sv)
				got.Write(b)
				got.WriteByte('\n')
			}
			var gotV bytes.Buffer
			for _, v := range g1.Victims() {
				b, _ := json.Marshal(scenarioVictim{v.Addr.String(), v.Packets, v.Ports, v.Kinds})
				gotV.Write(b)
				gotV.WriteByte('\n')
			}
			if *update {
				for i := range ar.Files {
					switch ar.Files[i].Name {
					case "expected":
						ar.Files[i].Data = got.Bytes()
					case "victims":
						ar.Files[i].Data = gotV.Bytes()
					}
				}
				if err := os.WriteFile(f, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(string(sec["expected"]), got.String()); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
			if want, ok := sec["victims"]; ok {
				if diff := cmp.Diff(string(want), gotV.String()); diff != "" {
					t.Errorf("victims (-want +got):\n%s", diff)
				}
			}
			if len(a1) == 0 {
				t.Error("the scenario produced no alert")
			}
		})
	}
}

func parseLog(t *testing.T, b []byte) []event.Event {
	t.Helper()
	p, err := decode.NewKernLogParser(decode.KernLogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		var e event.Event
		if err := p.ParseLine(sc.Bytes(), &e); err != nil {
			t.Fatalf("input line %d: %v", n, err)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		t.Fatal("empty input")
	}
	return out
}

func replay(t *testing.T, cfg Config, evs []event.Event, batched bool) (*Engine, []*event.Alert) {
	sigs, _, err := signature.Load(signature.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := tool.New(tool.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, nil, WithAnnotator(NewAnnotators(sigs, nil, tools)))
	if err != nil {
		t.Fatal(err)
	}
	var al []*event.Alert
	emit := func(e event.Event) { al = append(al, e.Alert) }
	for i := range evs {
		g.Observe(&evs[i], emit)
		if batched && i%3 == 0 {
			g.Advance(evs[i].Time, emit)
		}
	}
	g.Advance(evs[len(evs)-1].Time.Add(2*cfg.ReportInterval), emit)
	return g, al
}
