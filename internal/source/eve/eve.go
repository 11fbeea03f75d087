// Package eve is DOM mode of the redirection loop, beside the capture
// sources at the left edge of the flow: it follows a Suricata EVE JSON file,
// and when an "ssh" event's client software version (or protocol version)
// matches a regular expression, optionally inverted, it asks a Redirector to
// put the client's address into the redirect set for a while, so that the
// client's next connection to port 22 lands on the honeypot. It sends no
// events into the pipeline; its output is redirections, and its line
// accounting is the usual source.Counters:
//
//   - received: every line read;
//   - rejected, by reason: not JSON (not_json), an ssh event without the
//     matched field (no_software_version / no_proto_version) or without a
//     usable source address (bad_src_ip), a line over the length cap;
//   - ignored: another event type, a version that does not match, an
//     allowlisted source;
//   - stored: a match handed to the Redirector (or already redirected with
//     most of its timeout left);
//   - lost (redirect_failed): a match the Redirector refused.
//
// The file is followed with internal/source/file (rotation by rename and by
// copytruncate), from its end unless FromStart.
package eve

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Fields the matcher can look at (Config.Field).
const (
	FieldSoftwareVersion = "software_version" // ssh.client.software_version, e.g. "libssh_0.9.6"
	FieldProtoVersion    = "proto_version"    // ssh.client.proto_version, e.g. "2.0"
)

// Defaults.
const (
	DefaultMatch   = "(?i)libssh"
	DefaultTimeout = time.Hour
	MaxTimeout     = 30 * 24 * time.Hour
)

// Config is DOM mode's configuration (sources.eve in the YAML file).
type Config struct {
	// Path of the EVE JSON file, e.g. /var/log/suricata/eve.json; "" = off.
	Path string `yaml:"path"`
	// FromStart reads a file from its start instead of its end.
	FromStart bool `yaml:"from_start"`
	// Field is the ssh.client field matched: software_version (default) or
	// proto_version.
	Field string `yaml:"field"`
	// Match is a Go regular expression (RE2) searched in the field
	// (default "(?i)libssh").
	Match string `yaml:"match"`
	// Invert redirects the clients whose field does NOT match (e.g. match
	// "^OpenSSH_" with invert: everything that is not OpenSSH).
	Invert bool `yaml:"invert"`
	// Timeout is how long a source stays in the redirect set (default 1h).
	Timeout time.Duration `yaml:"timeout"`
	// Allowlist holds addresses and prefixes that are never redirected.
	Allowlist []string `yaml:"allowlist"`
	// PollInterval is how often the file is checked for new lines (default 250ms).
	PollInterval time.Duration `yaml:"poll_interval"`
}

// Enabled reports whether DOM mode is configured.
func (c Config) Enabled() bool { return c.Path != "" }

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.Field == "" {
		c.Field = FieldSoftwareVersion
	}
	if c.Match == "" {
		c.Match = DefaultMatch
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Validate checks c (after WithDefaults); every problem is reported.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path: empty"))
	}
	switch c.Field {
	case FieldSoftwareVersion, FieldProtoVersion:
	default:
		errs = append(errs, fmt.Errorf("field: %q is not software_version or proto_version", c.Field))
	}
	if _, err := regexp.Compile(c.Match); err != nil {
		errs = append(errs, fmt.Errorf("match: %w", err))
	}
	if c.Timeout < time.Second || c.Timeout > MaxTimeout {
		errs = append(errs, fmt.Errorf("timeout: %s out of range (1s..%s)", c.Timeout, MaxTimeout))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("poll_interval: negative (%s)", c.PollInterval))
	}
	if _, err := parseAllowlist(c.Allowlist); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("eve: %w", errors.Join(errs...))
	}
	return nil
}

// parseAllowlist accepts addresses ("192.0.2.7") and prefixes ("10.0.0.0/8").
func parseAllowlist(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("allowlist: %q is neither an address nor a prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
