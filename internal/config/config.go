// Package config loads darkscope's one YAML configuration file: strict
// decoding (an unknown key is an error naming file and line), defaults, and
// validation. It sits beside the flow: cmd reads it and hands each stage its
// section. The documented sample (sample.yaml) is embedded and is what
// `darkscope config sample` prints; it must always load cleanly.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/darkscope/darkscope/internal/alert"
	"github.com/darkscope/darkscope/internal/detect"
	"github.com/darkscope/darkscope/internal/respond"
	"github.com/darkscope/darkscope/internal/source/eve"
)

// DefaultPath is where darkscope looks for its configuration file.
const DefaultPath = "/etc/darkscope/darkscope.yaml"

// DefaultDataDir is the default data directory.
const DefaultDataDir = "/var/lib/darkscope"

//go:embed sample.yaml
var sample []byte

// Sample returns the documented sample configuration.
func Sample() []byte { return bytes.Clone(sample) }

// Config is the whole configuration file.
type Config struct {
	DataDir  string         `yaml:"data_dir"`
	Sensor   string         `yaml:"sensor"`
	Timezone string         `yaml:"timezone"`
	LogLevel string         `yaml:"log_level"`
	Store    StoreConfig    `yaml:"store"`
	API      APIConfig      `yaml:"api"`
	Pipeline PipelineConfig `yaml:"pipeline"`
	Sources  SourcesConfig  `yaml:"sources"`
	Outputs  []OutputConfig `yaml:"outputs"`
	Rules    RulesConfig    `yaml:"rules"`
	Detect   DetectConfig   `yaml:"detect"`
	Alerts   alert.Config   `yaml:"alerts"`
	Respond  respond.Config `yaml:"respond"`
}

// DetectConfig configures the detect stage (scan detection, signatures,
// passive OS and scanner-tool fingerprints, backscatter).
type DetectConfig struct {
	Enabled        bool     `yaml:"enabled"`
	Signatures     []string `yaml:"signatures"`      // darkscope rules files added to the embedded default set
	PsadSignatures []string `yaml:"psad_signatures"` // psad signatures files, e.g. /etc/psad/signatures
	P0f            string   `yaml:"p0f"`             // p0f v3 fingerprint file; "" = none
	// CheckpointInterval is how often the daemon saves the detector state
	// (a kill -9 loses at most this much of its counts).
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// Engine holds psad's thresholds and darkscope's bounds, written
	// inline in the detect section (danger_packets, scan_timeout, ...).
	Engine detect.Config `yaml:",inline"`
}

// StoreConfig configures the embedded database.
type StoreConfig struct {
	MemoryLimit string        `yaml:"memory_limit"`
	Threads     int           `yaml:"threads"`
	Retention   time.Duration `yaml:"retention"`
}

// APIConfig configures the daemon's local API.
type APIConfig struct {
	Socket string `yaml:"socket"`
}

// PipelineConfig sizes the pipeline.
type PipelineConfig struct {
	QueueBatches  int           `yaml:"queue_batches"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	MaxBatch      int           `yaml:"max_batch"`
}

// SourcesConfig lists the capture sources `run` starts.
type SourcesConfig struct {
	NFLOG    []NFLOGConfig  `yaml:"nflog"`
	Kmsg     KmsgConfig     `yaml:"kmsg"`
	Files    []FileConfig   `yaml:"files"`
	Syslog   SyslogConfig   `yaml:"syslog"`
	Honeypot HoneypotConfig `yaml:"honeypot"`
	Eve      eve.Config     `yaml:"eve"` // DOM mode: Suricata EVE SSH clients → redirect set
}

// HoneypotConfig runs the SSH credential honeypot inside the daemon.
type HoneypotConfig struct {
	Listen string `yaml:"listen"` // e.g. ":2222"; "" = off
	Output string `yaml:"output"` // pshitt JSON lines file; "" = none
	Legacy bool   `yaml:"legacy"` // also offer SHA-1 key exchange and CBC ciphers (a fingerprint)
}

// NFLOGConfig is one NFLOG group.
type NFLOGConfig struct {
	Group        uint16        `yaml:"group"`
	CopyRange    uint32        `yaml:"copy_range"`
	Threshold    uint32        `yaml:"threshold"`
	FlushTimeout time.Duration `yaml:"flush_timeout"`
	RcvBuf       int           `yaml:"rcvbuf"`
}

// KmsgConfig enables the /dev/kmsg reader.
type KmsgConfig struct {
	Enabled   bool   `yaml:"enabled"`
	Path      string `yaml:"path"`
	FromStart bool   `yaml:"from_start"`
}

// FileConfig is one followed log file.
type FileConfig struct {
	Path      string `yaml:"path"`
	Format    string `yaml:"format"` // kernlog | ulogd
	FromStart bool   `yaml:"from_start"`
}

// SyslogConfig is the syslog receiver for remote sensors.
type SyslogConfig struct {
	UDP      []string `yaml:"udp"`
	TCP      []string `yaml:"tcp"`
	TLS      []string `yaml:"tls"`
	CertFile string   `yaml:"cert_file"`
	KeyFile  string   `yaml:"key_file"`
	Allow    []string `yaml:"allow"`
}

// OutputConfig is one secondary sink.
type OutputConfig struct {
	Type   string `yaml:"type"`   // jsonl
	Path   string `yaml:"path"`   // file for jsonl
	Format string `yaml:"format"` // native | ulogd | ecs
}

// RulesConfig is what `darkscope rules` generates.
type RulesConfig struct {
	Mode         string   `yaml:"mode"`
	Dark         []string `yaml:"dark"`
	Iface        string   `yaml:"iface"`
	Group        uint16   `yaml:"group"`
	Notrack      bool     `yaml:"notrack"`
	HoneypotPort uint16   `yaml:"honeypot_port"`
	// Variant is the firewall darkscope's rules and sets live in: "nft"
	// (table inet darkscope) or "iptables" (DARKSCOPE-* chains and
	// darkscope-* ipsets, for hosts without nftables).
	Variant string `yaml:"variant"`
}

// Default returns the configuration used when no file exists.
func Default() Config {
	return Config{
		DataDir:  DefaultDataDir,
		Timezone: "Local",
		LogLevel: "info",
		Store:    StoreConfig{MemoryLimit: "384MB"},
		Pipeline: PipelineConfig{QueueBatches: 256, FlushInterval: 500 * time.Millisecond, MaxBatch: 65536},
		Rules:    RulesConfig{Mode: "darknet", Group: 5, HoneypotPort: 2222, Variant: "nft"},
		Detect:   DetectConfig{Enabled: true, P0f: "/etc/p0f/p0f.fp", CheckpointInterval: time.Minute, Engine: detect.DefaultConfig()},
		Respond:  respond.DefaultConfig(),
	}
}

// Load reads path over the defaults. A missing file is an error unless
// optional is set, in which case the defaults are returned.
func Load(path string, optional bool) (Config, error) {
	c := Default()
	b, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return c, c.Validate()
		}
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := decodeStrict(path, b, &c); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

var unknownRE = regexp.MustCompile(`line (\d+): field (\S+) not found in type (\S+)`)

func decodeStrict(name string, b []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if err == nil || errors.Is(err, errEOF()) {
		return nil
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, 0, len(te.Errors))
		for _, m := range te.Errors {
			if sm := unknownRE.FindStringSubmatch(m); sm != nil {
				msgs = append(msgs, fmt.Sprintf("%s:%s: unknown key %q (in %s)", name, sm[1], sm[2], sectionName(sm[3])))
				continue
			}
			msgs = append(msgs, fmt.Sprintf("%s: %s", name, strings.TrimPrefix(m, "yaml: ")))
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	return fmt.Errorf("%s: %w", name, err)
}

func errEOF() error { return io.EOF }

func sectionName(goType string) string {
	switch goType {
	case "alert.Config":
		return "alerts"
	case "alert.RDNSConfig":
		return "alerts.rdns"
	case "alert.FileConfig":
		return "alerts.files"
	case "alert.SyslogConfig":
		return "alerts.syslog"
	case "alert.WebhookConfig":
		return "alerts.webhooks"
	case "alert.EmailConfig":
		return "alerts.email"
	case "respond.Config":
		return "respond"
	case "respond.BlockConfig":
		return "respond.block"
	case "respond.RedirectConfig":
		return "respond.redirect"
	case "eve.Config":
		return "sources.eve"
	}
	switch strings.TrimPrefix(goType, "config.") {
	case "Config":
		return "top level"
	case "StoreConfig":
		return "store"
	case "APIConfig":
		return "api"
	case "PipelineConfig":
		return "pipeline"
	case "SourcesConfig":
		return "sources"
	case "NFLOGConfig":
		return "sources.nflog"
	case "KmsgConfig":
		return "sources.kmsg"
	case "FileConfig":
		return "sources.files"
	case "SyslogConfig":
		return "sources.syslog"
	case "HoneypotConfig":
		return "sources.honeypot"
	case "OutputConfig":
		return "outputs"
	case "RulesConfig":
		return "rules"
	case "DetectConfig":
		return "detect"
	}
	return goType
}

// Validate checks values that decoding cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	if _, err := c.Location(); err != nil {
		errs = append(errs, err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	if c.Store.Threads < 0 {
		errs = append(errs, errors.New("store.threads: must be >= 0"))
	}
	switch c.Rules.Variant {
	case "nft", "iptables":
	default:
		errs = append(errs, fmt.Errorf("rules.variant: %q is not nft or iptables", c.Rules.Variant))
	}
	if c.Pipeline.QueueBatches <= 0 {
		errs = append(errs, errors.New("pipeline.queue_batches: must be > 0"))
	}
	seen := map[uint16]bool{}
	for i, n := range c.Sources.NFLOG {
		if seen[n.Group] {
			errs = append(errs, fmt.Errorf("sources.nflog[%d]: group %d listed twice", i, n.Group))
		}
		seen[n.Group] = true
	}
	for i, f := range c.Sources.Files {
		if f.Path == "" {
			errs = append(errs, fmt.Errorf("sources.files[%d].path: must not be empty", i))
		}
		switch f.Format {
		case "", "kernlog", "ulogd":
		default:
			errs = append(errs, fmt.Errorf("sources.files[%d].format: %q is not kernlog or ulogd", i, f.Format))
		}
	}
	if len(c.Sources.Syslog.TLS) > 0 && (c.Sources.Syslog.CertFile == "" || c.Sources.Syslog.KeyFile == "") {
		errs = append(errs, errors.New("sources.syslog: tls listeners need cert_file and key_file"))
	}
	if _, err := c.SyslogAllow(); err != nil {
		errs = append(errs, err)
	}
	for i, o := range c.Outputs {
		if o.Type != "jsonl" {
			errs = append(errs, fmt.Errorf("outputs[%d].type: %q is not jsonl", i, o.Type))
		}
		if o.Path == "" {
			errs = append(errs, fmt.Errorf("outputs[%d].path: must not be empty", i))
		}
		switch o.Format {
		case "", "native", "ulogd", "ecs":
		default:
			errs = append(errs, fmt.Errorf("outputs[%d].format: %q is not native, ulogd or ecs", i, o.Format))
		}
	}
	if _, err := c.DarkPrefixes(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Alerts.WithDefaults().Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Detect.Engine.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Detect.CheckpointInterval < time.Second {
		errs = append(errs, fmt.Errorf("detect.checkpoint_interval: %v is below 1s", c.Detect.CheckpointInterval))
	}
	if err := c.Respond.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("respond: %w", err))
	}
	if c.Sources.Eve.Enabled() {
		if err := c.Sources.Eve.WithDefaults().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("sources.eve: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Location returns the time zone for syslog stamps that carry none.
func (c *Config) Location() (*time.Location, error) {
	switch c.Timezone {
	case "", "Local":
		return time.Local, nil
	case "UTC":
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone: %w", err)
	}
	return loc, nil
}

// SyslogAllow parses the syslog sender allowlist.
func (c *Config) SyslogAllow() ([]netip.Prefix, error) {
	return parsePrefixes("sources.syslog.allow", c.Sources.Syslog.Allow)
}

// DarkPrefixes parses rules.dark.
func (c *Config) DarkPrefixes() ([]netip.Prefix, error) {
	return parsePrefixes("rules.dark", c.Rules.Dark)
}

// ParsePrefix accepts a prefix or a bare address (a host prefix).
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a prefix", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parsePrefixes(field string, ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for i, s := range ss {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		out = append(out, p)
	}
	return out, nil
}
