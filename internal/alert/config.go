package alert

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// Config is the alerts section of the configuration file: the shared
// settings and the channels alerts are delivered to. A channel list that is
// empty sends nothing.
type Config struct {
	// QueueSize bounds each channel's delivery queue (alerts waiting for the
	// channel's worker). An alert that finds the queue full is dropped and
	// counted queue_full.
	QueueSize int `yaml:"queue_size"`
	// IncludeBenign also alerts on known research scanners (sources on the
	// benign list of internal/enrich/tool). Off by default: they are tagged,
	// not alerted on.
	IncludeBenign bool `yaml:"include_benign"`
	// CloseTimeout bounds how long Close waits for queued alerts to drain.
	CloseTimeout time.Duration `yaml:"close_timeout"`
	// RDNS adds the reverse DNS name of the source to every alert.
	RDNS RDNSConfig `yaml:"rdns"`

	Files    []FileConfig    `yaml:"files"`
	Syslog   []SyslogConfig  `yaml:"syslog"`
	Webhooks []WebhookConfig `yaml:"webhooks"`
	Email    []EmailConfig   `yaml:"email"`
}

// RDNSConfig configures reverse DNS lookups of alert sources. Lookups run in
// the channel workers, never in Write, so a slow resolver delays delivery
// but never the pipeline.
type RDNSConfig struct {
	Enabled  bool          `yaml:"enabled"`
	Server   string        `yaml:"server"`    // "host:port" of the resolver; "" = the system resolver (/etc/resolv.conf)
	Timeout  time.Duration `yaml:"timeout"`   // per lookup
	CacheTTL time.Duration `yaml:"cache_ttl"` // how long an answer (or a "no name" answer) is reused
	CacheMax int           `yaml:"cache_max"` // cached addresses; the least recently used goes first
}

// ChannelConfig holds what every channel has: a name for logs and counters,
// a minimum danger level, a rate limit, deduplication and retries.
type ChannelConfig struct {
	Name string `yaml:"name"` // "" = the channel's kind and index, e.g. "webhook[0]"
	// MinLevel is the lowest danger level delivered (0..5). Backscatter-only
	// alerts have level 0 and pass only when MinLevel is 0.
	MinLevel int `yaml:"min_level"`
	// RatePerMinute is the token bucket refill (alerts per minute); 0 = no limit.
	RatePerMinute float64 `yaml:"rate_per_minute"`
	// Burst is the bucket size; 0 = max(1, rate_per_minute).
	Burst int `yaml:"burst"`
	// DedupWindow suppresses an alert about the same source with the same
	// content as one delivered less than this long ago; 0 = no dedup.
	DedupWindow time.Duration `yaml:"dedup_window"`
	// Retries is how many times a failed delivery is retried, waiting
	// Backoff, then twice as long each time. Unset: 3 for webhooks, 0 for
	// the other channels.
	Retries *int          `yaml:"retries"`
	Backoff time.Duration `yaml:"backoff"`
}

// FileConfig appends alerts as JSON lines (darkscope's native event JSON,
// plus "rdns" when known) to a file.
type FileConfig struct {
	ChannelConfig `yaml:",inline"`
	Path          string `yaml:"path"`
}

// SyslogConfig sends RFC 5424 messages to a syslog server.
type SyslogConfig struct {
	ChannelConfig `yaml:",inline"`
	Network       string        `yaml:"network"`  // udp | tcp | unix | unixgram ("unix" tries datagram then stream, as for /dev/log)
	Address       string        `yaml:"address"`  // host:port, or a socket path such as /dev/log
	Facility      string        `yaml:"facility"` // kern user mail daemon auth syslog ... local0..local7; default local7 (psad's)
	AppName       string        `yaml:"app_name"` // default "darkscope"
	Hostname      string        `yaml:"hostname"` // default: the event's sensor, else os.Hostname
	Timeout       time.Duration `yaml:"timeout"`  // dial and write
}

// WebhookConfig POSTs each alert as JSON to a URL.
type WebhookConfig struct {
	ChannelConfig `yaml:",inline"`
	URL           string            `yaml:"url"`
	Headers       map[string]string `yaml:"headers"` // e.g. Authorization: "Bearer ..."
	Timeout       time.Duration     `yaml:"timeout"` // per attempt
}

// EmailConfig sends each alert as a plain-text e-mail over SMTP.
type EmailConfig struct {
	ChannelConfig `yaml:",inline"`
	Server        string   `yaml:"server"` // host:port, e.g. "smtp.example.org:587"
	From          string   `yaml:"from"`
	To            []string `yaml:"to"`
	// StartTLS: "required" (default), "opportunistic" or "off".
	StartTLS string `yaml:"starttls"`
	// Auth: "plain", "login" or "none" (default "plain" when username is set).
	Auth          string        `yaml:"auth"`
	Username      string        `yaml:"username"`
	Password      string        `yaml:"password"`
	CAFile        string        `yaml:"ca_file"`        // PEM roots for the server certificate; "" = system roots
	ServerName    string        `yaml:"server_name"`    // TLS name to verify; "" = host of server
	Timeout       time.Duration `yaml:"timeout"`        // whole SMTP conversation
	SubjectPrefix string        `yaml:"subject_prefix"` // default "[darkscope-alert]"
}

// Defaults for zero values.
const (
	DefaultQueueSize     = 1024
	DefaultCloseTimeout  = 5 * time.Second
	DefaultRDNSTimeout   = 2 * time.Second
	DefaultRDNSCacheTTL  = time.Hour
	DefaultRDNSCacheMax  = 65536
	DefaultTimeout       = 10 * time.Second
	DefaultBackoff       = time.Second
	DefaultWebhookRetry  = 3
	DefaultSubjectPrefix = "[darkscope-alert]"
)

// WithDefaults returns c with every zero value that has a default filled in.
func (c Config) WithDefaults() Config {
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.RDNS.Timeout == 0 {
		c.RDNS.Timeout = DefaultRDNSTimeout
	}
	if c.RDNS.CacheTTL == 0 {
		c.RDNS.CacheTTL = DefaultRDNSCacheTTL
	}
	if c.RDNS.CacheMax == 0 {
		c.RDNS.CacheMax = DefaultRDNSCacheMax
	}
	fix := func(ch *ChannelConfig, retries int) {
		if ch.Backoff == 0 {
			ch.Backoff = DefaultBackoff
		}
		if ch.Retries == nil {
			ch.Retries = &retries
		}
	}
	c.Files = append([]FileConfig(nil), c.Files...)
	for i := range c.Files {
		fix(&c.Files[i].ChannelConfig, 0)
	}
	c.Syslog = append([]SyslogConfig(nil), c.Syslog...)
	for i := range c.Syslog {
		s := &c.Syslog[i]
		fix(&s.ChannelConfig, 0)
		if s.Facility == "" {
			s.Facility = "local7"
		}
		if s.AppName == "" {
			s.AppName = "darkscope"
		}
		if s.Timeout == 0 {
			s.Timeout = DefaultTimeout
		}
	}
	c.Webhooks = append([]WebhookConfig(nil), c.Webhooks...)
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		fix(&w.ChannelConfig, DefaultWebhookRetry)
		if w.Timeout == 0 {
			w.Timeout = DefaultTimeout
		}
	}
	c.Email = append([]EmailConfig(nil), c.Email...)
	for i := range c.Email {
		e := &c.Email[i]
		fix(&e.ChannelConfig, 0)
		if e.StartTLS == "" {
			e.StartTLS = "required"
		}
		if e.Auth == "" {
			e.Auth = "none"
			if e.Username != "" {
				e.Auth = "plain"
			}
		}
		if e.Timeout == 0 {
			e.Timeout = DefaultTimeout
		}
		if e.SubjectPrefix == "" {
			e.SubjectPrefix = DefaultSubjectPrefix
		}
	}
	return c
}

// Validate checks c (after WithDefaults) and returns every problem found,
// each naming its key as it appears under "alerts:" in the file.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.QueueSize < 0 {
		bad("alerts.queue_size: must be > 0, got %d", c.QueueSize)
	}
	if c.CloseTimeout < 0 {
		bad("alerts.close_timeout: must not be negative")
	}
	if c.RDNS.Enabled {
		if c.RDNS.Server != "" {
			if _, _, err := net.SplitHostPort(c.RDNS.Server); err != nil {
				bad("alerts.rdns.server: %q is not host:port (e.g. 127.0.0.53:53): %v", c.RDNS.Server, err)
			}
		}
		if c.RDNS.Timeout < 0 || c.RDNS.CacheTTL < 0 || c.RDNS.CacheMax < 0 {
			bad("alerts.rdns: timeout, cache_ttl and cache_max must not be negative")
		}
	}
	names := map[string]string{}
	channel := func(key string, ch ChannelConfig) {
		if ch.Name != "" {
			if prev, ok := names[ch.Name]; ok {
				bad("%s.name: %q already names %s", key, ch.Name, prev)
			}
			names[ch.Name] = key
		}
		if ch.MinLevel < 0 || ch.MinLevel > int(event.MaxDangerLevel) {
			bad("%s.min_level: %d is not between 0 and %d", key, ch.MinLevel, event.MaxDangerLevel)
		}
		if ch.RatePerMinute < 0 {
			bad("%s.rate_per_minute: must not be negative", key)
		}
		if ch.Burst < 0 {
			bad("%s.burst: must not be negative", key)
		}
		if ch.DedupWindow < 0 {
			bad("%s.dedup_window: must not be negative", key)
		}
		if ch.Retries != nil && (*ch.Retries < 0 || *ch.Retries > 20) {
			bad("%s.retries: %d is not between 0 and 20", key, *ch.Retries)
		}
		if ch.Backoff < 0 {
			bad("%s.backoff: must not be negative", key)
		}
	}
	for i, f := range c.Files {
		key := fmt.Sprintf("alerts.files[%d]", i)
		channel(key, f.ChannelConfig)
		if f.Path == "" {
			bad("%s.path: must not be empty", key)
		}
	}
	for i, s := range c.Syslog {
		key := fmt.Sprintf("alerts.syslog[%d]", i)
		channel(key, s.ChannelConfig)
		switch s.Network {
		case "udp", "tcp":
			if _, _, err := net.SplitHostPort(s.Address); err != nil {
				bad("%s.address: %q is not host:port: %v", key, s.Address, err)
			}
		case "unix", "unixgram":
			if s.Address == "" {
				bad("%s.address: a socket path such as /dev/log is needed", key)
			}
		default:
			bad("%s.network: %q is not udp, tcp, unix or unixgram", key, s.Network)
		}
		if _, ok := facilities[s.Facility]; !ok {
			bad("%s.facility: %q is not a syslog facility (kern, user, mail, daemon, auth, syslog, ..., local0-local7)", key, s.Facility)
		}
		if strings.ContainsAny(s.AppName, " \t\r\n") || len(s.AppName) > 48 {
			bad("%s.app_name: %q must be at most 48 characters without spaces", key, s.AppName)
		}
		if strings.ContainsAny(s.Hostname, " \t\r\n") || len(s.Hostname) > 255 {
			bad("%s.hostname: %q must be at most 255 characters without spaces", key, s.Hostname)
		}
	}
	for i, w := range c.Webhooks {
		key := fmt.Sprintf("alerts.webhooks[%d]", i)
		channel(key, w.ChannelConfig)
		u, err := url.Parse(w.URL)
		switch {
		case w.URL == "":
			bad("%s.url: must not be empty", key)
		case err != nil:
			bad("%s.url: %v", key, err)
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			bad("%s.url: %q is not an http:// or https:// URL", key, w.URL)
		}
		for h, v := range w.Headers {
			if h == "" || strings.ContainsAny(h, " :\r\n") || strings.ContainsAny(v, "\r\n") {
				bad("%s.headers: %q is not a valid header", key, h)
			}
		}
		if w.Timeout < 0 {
			bad("%s.timeout: must not be negative", key)
		}
	}
	for i, e := range c.Email {
		key := fmt.Sprintf("alerts.email[%d]", i)
		channel(key, e.ChannelConfig)
		if _, _, err := net.SplitHostPort(e.Server); err != nil {
			bad("%s.server: %q is not host:port (e.g. smtp.example.org:587): %v", key, e.Server, err)
		}
		if _, err := mail.ParseAddress(e.From); err != nil {
			bad("%s.from: %q: %v", key, e.From, err)
		}
		if len(e.To) == 0 {
			bad("%s.to: at least one recipient is needed", key)
		}
		for j, to := range e.To {
			if _, err := mail.ParseAddress(to); err != nil {
				bad("%s.to[%d]: %q: %v", key, j, to, err)
			}
		}
		switch e.StartTLS {
		case "required", "opportunistic", "off":
		default:
			bad("%s.starttls: %q is not required, opportunistic or off", key, e.StartTLS)
		}
		switch e.Auth {
		case "none":
		case "plain", "login":
			if e.Username == "" {
				bad("%s.username: auth %s needs a username", key, e.Auth)
			}
			if e.StartTLS == "off" {
				bad("%s.auth: %s would send the password in clear text; use starttls: required", key, e.Auth)
			}
		default:
			bad("%s.auth: %q is not plain, login or none", key, e.Auth)
		}
		if strings.ContainsAny(e.SubjectPrefix, "\r\n") {
			bad("%s.subject_prefix: must be one line", key)
		}
		if e.Timeout < 0 {
			bad("%s.timeout: must not be negative", key)
		}
	}
	return errors.Join(errs...)
}

// facilities maps RFC 5424 facility names to their codes.
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// addrOf is the host part of an alert's source for messages: the address,
// or the prefix for an IPv6 /64 aggregate.
func addrOf(a *event.Alert) string {
	if a.Prefix.IsValid() && a.Prefix.Bits() != a.Src.BitLen() {
		return a.Prefix.String()
	}
	return a.Src.String()
}

// isAggregate reports whether the alert is about a prefix rather than one address.
func isAggregate(a *event.Alert) bool {
	return a.Prefix.IsValid() && a.Prefix.Bits() != a.Src.BitLen()
}
