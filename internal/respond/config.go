package respond

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/firewall"
)

// Defaults for zero Config fields.
const (
	DefaultMinLevel        = 3
	DefaultBlockTimeout    = time.Hour // psad's AUTO_BLOCK_TIMEOUT is 3600 s
	DefaultMaxBlocks       = 1000
	DefaultRedirectTimeout = 24 * time.Hour
	DefaultMaxRedirects    = 1000
	DefaultSSHPort         = 22
	DefaultMinConfidence   = 0.5
	// DefaultAllowRefresh is how often the host's own addresses, gateways
	// and the kernel allow set are read again.
	DefaultAllowRefresh = time.Minute
)

// Config is the `respond:` section of darkscope.yaml. Everything is off by
// default: an attacker can spoof a scan from any address it wants blocked.
type Config struct {
	Block    BlockConfig    `yaml:"block"`
	Redirect RedirectConfig `yaml:"redirect"`
	// Allow lists addresses or prefixes never blocked or redirected, on top
	// of the host's own addresses and default gateways (found
	// automatically) and the members of the kernel's allow4/allow6 sets.
	Allow []string `yaml:"allow"`
	// DryRun logs and records what would be blocked or redirected without
	// changing the kernel sets.
	DryRun bool `yaml:"dry_run"`
	// AllowRefresh is how often the automatic allowlist is read again (1m).
	AllowRefresh time.Duration `yaml:"allow_refresh"`
}

// BlockConfig is auto-block: sources whose verdict reaches MinLevel go
// into block4/block6 for Timeout.
type BlockConfig struct {
	Enabled  bool          `yaml:"enabled"`   // default false
	MinLevel int           `yaml:"min_level"` // 1-5, default 3
	Timeout  time.Duration `yaml:"timeout"`   // per element, default 1h; 0 is not allowed (use `block add`)
	Max      int           `yaml:"max"`       // active auto-blocks at most (default 1000); more are refused and counted
}

// RedirectConfig is the native redirect mode: sources whose verdict
// reaches MinLevel, or whose probes of tcp/SSHPort carry a scanner-tool
// fingerprint, go into redirect4/redirect6, whose SSH connections the nat
// chain sends to the honeypot.
type RedirectConfig struct {
	Enabled  bool          `yaml:"enabled"`   // default false
	MinLevel int           `yaml:"min_level"` // 1-5, default 3
	Timeout  time.Duration `yaml:"timeout"`   // default 24h
	Max      int           `yaml:"max"`       // default 1000
	// Tools are the scanner-tool names (enrich/tool: zmap, masscan, mirai,
	// nmap, unicornscan, hping3, custom-scanner) that count as SSH scanners
	// when they probed tcp/SSHPort. Empty: any named tool except
	// kernel-connect.
	Tools         []string `yaml:"tools"`
	MinConfidence float64  `yaml:"min_confidence"` // tool fingerprint confidence, default 0.5
	SSHPort       int      `yaml:"ssh_port"`       // default 22
	// BareHits redirects any source whose alert shows a probe of
	// tcp/SSHPort, whatever its level. Off by default: one spoofed packet
	// could send an administrator's next login into the honeypot.
	BareHits bool `yaml:"bare_hits"`
}

// DefaultConfig returns the defaults (everything off).
func DefaultConfig() Config {
	return Config{
		Block:        BlockConfig{MinLevel: DefaultMinLevel, Timeout: DefaultBlockTimeout, Max: DefaultMaxBlocks},
		Redirect:     RedirectConfig{MinLevel: DefaultMinLevel, Timeout: DefaultRedirectTimeout, Max: DefaultMaxRedirects, MinConfidence: DefaultMinConfidence, SSHPort: DefaultSSHPort},
		AllowRefresh: DefaultAllowRefresh,
	}
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Block.MinLevel == 0 {
		c.Block.MinLevel = d.Block.MinLevel
	}
	if c.Block.Timeout == 0 {
		c.Block.Timeout = d.Block.Timeout
	}
	if c.Block.Max == 0 {
		c.Block.Max = d.Block.Max
	}
	if c.Redirect.MinLevel == 0 {
		c.Redirect.MinLevel = d.Redirect.MinLevel
	}
	if c.Redirect.Timeout == 0 {
		c.Redirect.Timeout = d.Redirect.Timeout
	}
	if c.Redirect.Max == 0 {
		c.Redirect.Max = d.Redirect.Max
	}
	if c.Redirect.MinConfidence == 0 {
		c.Redirect.MinConfidence = d.Redirect.MinConfidence
	}
	if c.Redirect.SSHPort == 0 {
		c.Redirect.SSHPort = d.Redirect.SSHPort
	}
	if c.AllowRefresh == 0 {
		c.AllowRefresh = d.AllowRefresh
	}
	return c
}

// Validate reports every problem with c (after defaults), joined.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	level := func(name string, l int) {
		if l < 1 || l > int(event.MaxDangerLevel) {
			errs = append(errs, fmt.Errorf("%s %d: want 1-%d", name, l, event.MaxDangerLevel))
		}
	}
	level("block.min_level", c.Block.MinLevel)
	level("redirect.min_level", c.Redirect.MinLevel)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"block.timeout", c.Block.Timeout}, {"redirect.timeout", c.Redirect.Timeout}, {"allow_refresh", c.AllowRefresh}} {
		if d.v < time.Second {
			errs = append(errs, fmt.Errorf("%s %s: want at least 1s", d.name, d.v))
		}
	}
	if c.Block.Max < 0 {
		errs = append(errs, fmt.Errorf("block.max %d: want a positive count", c.Block.Max))
	}
	if c.Redirect.Max < 0 {
		errs = append(errs, fmt.Errorf("redirect.max %d: want a positive count", c.Redirect.Max))
	}
	if c.Redirect.MinConfidence < 0 || c.Redirect.MinConfidence > 1 {
		errs = append(errs, fmt.Errorf("redirect.min_confidence %g: want 0-1", c.Redirect.MinConfidence))
	}
	if c.Redirect.SSHPort < 1 || c.Redirect.SSHPort > 65535 {
		errs = append(errs, fmt.Errorf("redirect.ssh_port %d: want 1-65535", c.Redirect.SSHPort))
	}
	for _, t := range c.Redirect.Tools {
		if t == "" {
			errs = append(errs, errors.New("redirect.tools: empty tool name"))
		}
	}
	if _, err := parseAllow(c.Allow); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("respond config: %w", errors.Join(errs...))
}

// parseAllow reads the allow entries (addresses or prefixes).
func parseAllow(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for i, s := range ss {
		p, err := firewall.ParseElementPrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("allow #%d %q: %w", i+1, s, err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}
