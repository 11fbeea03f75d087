package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "darkscope.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSampleLoadsAndEqualsDefaults(t *testing.T) {
	p := write(t, string(Sample()))
	c, err := Load(p, false)
	if err != nil {
		t.Fatalf("sample does not load: %v", err)
	}
	d := Default()
	if c.DataDir != d.DataDir || c.Store != d.Store || c.Pipeline != d.Pipeline || c.Rules.Group != d.Rules.Group ||
		c.Rules.Mode != d.Rules.Mode || c.Rules.HoneypotPort != d.Rules.HoneypotPort || c.Timezone != d.Timezone ||
		c.Detect.Enabled != d.Detect.Enabled || c.Detect.P0f != d.Detect.P0f || c.Detect.Engine != d.Detect.Engine ||
		c.Detect.CheckpointInterval != d.Detect.CheckpointInterval || c.Respond.Block != d.Respond.Block ||
		c.Respond.Redirect.MinLevel != d.Respond.Redirect.MinLevel || c.Respond.Redirect.Timeout != d.Respond.Redirect.Timeout ||
		c.Respond.Redirect.Enabled || c.Respond.Redirect.BareHits || c.Respond.DryRun {
		t.Errorf("sample differs from defaults:\nsample  %+v\ndefault %+v", c, d)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"unknown top key", "data_dir: /x\nbogus: 1\n", ":2: unknown key \"bogus\" (in top level)"},
		{"unknown nested key", "store:\n  threads: 1\n  memry_limit: 1GB\n", ":3: unknown key \"memry_limit\" (in store)"},
		{"unknown detect key", "detect:\n  report_interval: 5s\n  scan_timout: 1h\n", ":3: unknown key \"scan_timout\" (in detect)"},
		{"detect thresholds must increase", "detect:\n  danger_packets: [5, 15, 150, 1500, 100]\n", "danger_packets must increase"},
		{"respond level", "respond:\n  block:\n    enabled: true\n    min_level: 9\n", "min_level"},
		{"checkpoint", "detect:\n  checkpoint_interval: 10ms\n", "detect.checkpoint_interval"},
		{"unknown list key", "sources:\n  nflog:\n    - group: 1\n      grup: 2\n", ":4: unknown key \"grup\" (in sources.nflog)"},
		{"bad type", "store:\n  threads: many\n", "line 2"},
		{"bad duration", "pipeline:\n  flush_interval: soon\n", "line 2"},
		{"bad zone", "timezone: Mars/Olympus\n", "timezone"},
		{"dup group", "sources:\n  nflog:\n    - group: 3\n    - group: 3\n", "group 3 listed twice"},
		{"bad prefix", "rules:\n  dark: [\"10.0.0.0/33\"]\n", "rules.dark[0]"},
		{"tls without cert", "sources:\n  syslog:\n    tls: [\":6514\"]\n", "cert_file"},
		{"bad output", "outputs:\n  - type: kafka\n    path: x\n", "outputs[0].type"},
		{"bad level", "log_level: loud\n", "log_level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, tt.body)
			_, err := Load(p, false)
			if err == nil {
				t.Fatalf("no error for %q", tt.body)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestMissingOptional(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "none.yaml"), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Pipeline.FlushInterval != 500*time.Millisecond {
		t.Errorf("defaults not applied: %+v", c.Pipeline)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml"), false); err == nil {
		t.Error("missing mandatory file gave no error")
	}
}

func TestValues(t *testing.T) {
	p := write(t, "timezone: UTC\nsources:\n  nflog:\n    - group: 7\n      flush_timeout: 50ms\nrules:\n  dark: [\"10.1.0.0/16\", \"fd00::1\"]\n")
	c, err := Load(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sources.NFLOG[0].Group != 7 || c.Sources.NFLOG[0].FlushTimeout != 50*time.Millisecond {
		t.Errorf("nflog = %+v", c.Sources.NFLOG)
	}
	ps, _ := c.DarkPrefixes()
	if len(ps) != 2 || ps[0].String() != "10.1.0.0/16" || ps[1].String() != "fd00::1/128" {
		t.Errorf("dark = %v", ps)
	}
}

// TestDetectThresholds: psad's thresholds are written inline in the detect
// section and reach the engine's configuration.
func TestDetectThresholds(t *testing.T) {
	c, err := Load(write(t, "detect:\n  report_interval: 5s\n  danger_packets: [2, 4, 8, 16, 32]\n  aggregate_ipv6: false\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	e := c.Detect.Engine
	if e.ReportInterval != 5*time.Second || e.DangerPackets != [5]uint32{2, 4, 8, 16, 32} || e.AggregateIPv6 || e.ScanTimeout != time.Hour {
		t.Errorf("detect engine config %+v", e)
	}
}
