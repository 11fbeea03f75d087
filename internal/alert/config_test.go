package alert

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestSampleConfig decodes testdata/sample.yaml (the snippet for the
// configuration sample) strictly, as internal/config does, and validates it.
func TestSampleConfig(t *testing.T) {
	b, err := os.ReadFile("testdata/sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Alerts Config `yaml:"alerts"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatal(err)
	}
	c := file.Alerts.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Files) != 1 || len(c.Syslog) != 1 || len(c.Webhooks) != 1 || len(c.Email) != 1 {
		t.Fatalf("channels: %+v", c)
	}
	if c.Syslog[0].DedupWindow != time.Hour || c.Syslog[0].RatePerMinute != 30 || c.Syslog[0].MinLevel != 2 ||
		c.Webhooks[0].Headers["Authorization"] != "Bearer CHANGE-ME" || *c.Webhooks[0].Retries != 3 ||
		c.Email[0].Burst != 5 || c.Email[0].DedupWindow != 6*time.Hour || c.Email[0].Auth != "plain" || c.RDNS.CacheTTL != time.Hour {
		t.Errorf("decoded: %+v", c)
	}

	// An unknown key inside a channel is an error (inline fields stay strict).
	bad := strings.Replace(string(b), "      min_level: 4\n", "      min_levle: 4\n", 1)
	dec = yaml.NewDecoder(strings.NewReader(bad))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err == nil || !strings.Contains(err.Error(), "min_levle") {
		t.Errorf("misspelt key accepted: %v", err)
	}
}
