package detect

import (
	"errors"
	"fmt"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// Config holds the detection thresholds. Start from DefaultConfig: the zero
// value is not valid.
type Config struct {
	// DangerPackets are psad's DANGER_LEVEL1..5: packets from a source to one
	// destination needed for each danger level (psad: 5, 15, 150, 1500, 10000).
	DangerPackets [5]uint32 `yaml:"danger_packets"`
	// DangerHosts are psad's DL1..DL5_UNIQUE_HOSTS: distinct destination
	// hosts of one source for each level (psad: 10, 20, 50, 100, 500).
	// DangerHosts[0] == 0 disables sweep levels.
	DangerHosts [5]uint32 `yaml:"danger_hosts"`
	// PortRangeScanThreshold is psad's PORT_RANGE_SCAN_THRESHOLD: a
	// destination counts once its highest minus lowest port reaches it (1).
	PortRangeScanThreshold uint16 `yaml:"port_range_scan_threshold"`
	// ProtocolScanThreshold is psad's PROTOCOL_SCAN_THRESHOLD: distinct IP
	// protocols that make a scan, and an nmap -sO verdict (5).
	ProtocolScanThreshold int `yaml:"protocol_scan_threshold"`
	// ScanTimeout is psad's SCAN_TIMEOUT: a source silent this long (event
	// time) is forgotten (3600 s).
	ScanTimeout time.Duration `yaml:"scan_timeout"`
	// ReportInterval is the event-time length of a report interval; alerts
	// are emitted when an interval closes (60 s).
	ReportInterval time.Duration `yaml:"report_interval"`
	// MinDangerLevel is the lowest level that produces an alert (1).
	MinDangerLevel event.DangerLevel `yaml:"min_danger_level"`
	// RepeatAfter: a source with new packets but nothing new to say (no new
	// port, host, scan type, signature, level, OS or tool) is re-alerted only
	// after this long; 0 alerts every interval with packets (1 h).
	RepeatAfter time.Duration `yaml:"repeat_after"`
	// HorizontalHosts and VerticalPorts set the pattern: at least
	// HorizontalHosts hosts is horizontal, at least VerticalPorts ports is
	// vertical, both is block, neither is single (5 and 5).
	HorizontalHosts int `yaml:"horizontal_hosts"`
	VerticalPorts   int `yaml:"vertical_ports"`
	// OSProbeMin is how many distinct nmap OS-detection probes make an -O
	// verdict (3).
	OSProbeMin int `yaml:"os_probe_min"`
	// AggregateIPv6 also tracks every IPv6 source per /64 (true).
	AggregateIPv6 bool `yaml:"aggregate_ipv6"`
	// BackscatterAlerts emits alerts (level 0, Backscatter true) for sources
	// that send backscatter (true).
	BackscatterAlerts bool `yaml:"backscatter_alerts"`
	// BackscatterMinPackets is how many backscatter packets a sender below
	// danger level 1 needs before it gets an alert (5, psad's first danger
	// threshold): a lone RST or SYN-ACK is more often a stray reply than a
	// DoS victim. Every sender is still a victim in `darkscope backscatter`
	// and in scans, whatever its count.
	BackscatterMinPackets int `yaml:"backscatter_min_packets"`
	// MaxSources caps tracked sources (addresses and /64 aggregates); at the
	// cap the least recently seen source is evicted (2,000,000).
	MaxSources int `yaml:"max_sources"`
	// MaxStateBytes caps the variable-size state of all sources together
	// (port sets, destination tables, host sketches); above it the least
	// recently seen sources are evicted (256 MiB).
	MaxStateBytes int64 `yaml:"max_state_bytes"`
	// MaxDstRecords is how many destinations per source keep exact psad
	// counters (packets, port range, protocols); hosts beyond are counted by
	// a HyperLogLog sketch (64).
	MaxDstRecords int `yaml:"max_dst_records"`
	// MaxVictims caps the backscatter victim table (100,000).
	MaxVictims int `yaml:"max_victims"`
}

// DefaultConfig returns psad's defaults and darkscope's bounds.
func DefaultConfig() Config {
	return Config{
		DangerPackets:          [5]uint32{5, 15, 150, 1500, 10000},
		DangerHosts:            [5]uint32{10, 20, 50, 100, 500},
		PortRangeScanThreshold: 1,
		ProtocolScanThreshold:  5,
		ScanTimeout:            3600 * time.Second,
		ReportInterval:         60 * time.Second,
		MinDangerLevel:         1,
		RepeatAfter:            time.Hour,
		HorizontalHosts:        5,
		VerticalPorts:          5,
		OSProbeMin:             3,
		AggregateIPv6:          true,
		BackscatterAlerts:      true,
		BackscatterMinPackets:  5,
		MaxSources:             2_000_000,
		MaxStateBytes:          256 << 20,
		MaxDstRecords:          64,
		MaxVictims:             100_000,
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	var errs []error
	for i := 1; i < 5; i++ {
		if c.DangerPackets[i] <= c.DangerPackets[i-1] {
			errs = append(errs, fmt.Errorf("danger_packets must increase: level %d (%d) <= level %d (%d)", i+1, c.DangerPackets[i], i, c.DangerPackets[i-1]))
			break
		}
	}
	if c.BackscatterMinPackets < 1 {
		errs = append(errs, errors.New("backscatter_min_packets must be at least 1"))
	}
	if c.DangerPackets[0] == 0 {
		errs = append(errs, errors.New("danger_packets level 1 must be at least 1"))
	}
	if c.DangerHosts[0] != 0 {
		for i := 1; i < 5; i++ {
			if c.DangerHosts[i] <= c.DangerHosts[i-1] {
				errs = append(errs, fmt.Errorf("danger_hosts must increase: level %d (%d) <= level %d (%d)", i+1, c.DangerHosts[i], i, c.DangerHosts[i-1]))
				break
			}
		}
	}
	if c.ProtocolScanThreshold < 2 {
		errs = append(errs, fmt.Errorf("protocol_scan_threshold %d: must be at least 2", c.ProtocolScanThreshold))
	}
	if c.ScanTimeout <= 0 {
		errs = append(errs, fmt.Errorf("scan_timeout %v: must be positive", c.ScanTimeout))
	}
	if c.ReportInterval <= 0 {
		errs = append(errs, fmt.Errorf("report_interval %v: must be positive", c.ReportInterval))
	}
	if c.ReportInterval > c.ScanTimeout {
		errs = append(errs, fmt.Errorf("report_interval %v longer than scan_timeout %v", c.ReportInterval, c.ScanTimeout))
	}
	if c.MinDangerLevel > event.MaxDangerLevel {
		errs = append(errs, fmt.Errorf("min_danger_level %d: at most %d", c.MinDangerLevel, event.MaxDangerLevel))
	}
	if c.RepeatAfter < 0 {
		errs = append(errs, fmt.Errorf("repeat_after %v: must not be negative", c.RepeatAfter))
	}
	if c.HorizontalHosts < 2 || c.VerticalPorts < 2 {
		errs = append(errs, fmt.Errorf("horizontal_hosts %d and vertical_ports %d: must be at least 2", c.HorizontalHosts, c.VerticalPorts))
	}
	if c.OSProbeMin < 1 || c.OSProbeMin > numOSProbes {
		errs = append(errs, fmt.Errorf("os_probe_min %d: must be 1..%d", c.OSProbeMin, numOSProbes))
	}
	if c.MaxSources < 1 {
		errs = append(errs, fmt.Errorf("max_sources %d: must be at least 1", c.MaxSources))
	}
	if c.MaxStateBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("max_state_bytes %d: must be at least 1 MiB", c.MaxStateBytes))
	}
	if c.MaxDstRecords < 1 || c.MaxDstRecords > 4096 {
		errs = append(errs, fmt.Errorf("max_dst_records %d: must be 1..4096", c.MaxDstRecords))
	}
	if c.MaxVictims < 1 {
		errs = append(errs, fmt.Errorf("max_victims %d: must be at least 1", c.MaxVictims))
	}
	if len(errs) > 0 {
		return fmt.Errorf("detect config: %w", errors.Join(errs...))
	}
	return nil
}
