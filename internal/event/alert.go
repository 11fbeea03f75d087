package event

import (
	"net/netip"
	"strconv"
	"time"
)

// DangerLevel is psad's danger level of a source: 0 (none) to 5.
type DangerLevel uint8

// MaxDangerLevel is the highest danger level.
const MaxDangerLevel DangerLevel = 5

func (l DangerLevel) String() string { return strconv.Itoa(int(l)) }

// Tool names the scanning tool behind a source, with how sure the
// fingerprinter is and the facts it relied on.
type Tool struct {
	Name       string   `json:"name"`
	Confidence float64  `json:"confidence"` // 0..1
	Evidence   []string `json:"evidence"`
}

// Alert is the payload of a KindAlert event: what the detector concluded
// about one source (an address, or an IPv6 /64 aggregate) at the end of a
// report interval, in psad's terms and beyond. Port ranges are per protocol
// name ("tcp", "udp", "sctp") as range lists such as "1-1024,3389".
type Alert struct {
	Src    netip.Addr   `json:"src"`    // the source address; the prefix's first address for an aggregate
	Prefix netip.Prefix `json:"prefix"` // /32, /128, or /64 for an IPv6 aggregate

	Level       DangerLevel `json:"danger_level"`
	Pattern     string      `json:"pattern"`     // horizontal | vertical | block | single ("" for backscatter only)
	ScanTypes   []string    `json:"scan_types"`  // nmap options such as "-sS", "-sA/-sW", "-O", "-PE"
	Flags       []string    `json:"flags"`       // TCP flag combinations seen, as the LOG target prints them ("SYN", "FIN PSH URG", "NULL")
	Protocols   []string    `json:"protocols"`   // IP protocols seen ("tcp", "udp", "icmp", "47")
	Signatures  []string    `json:"signatures"`  // signature names that matched (signature detector)
	OS          string      `json:"os"`          // passive OS fingerprint label (enricher)
	Tool        *Tool       `json:"tool"`        // scanner-tool fingerprint (enricher); nil if none
	Backscatter bool        `json:"backscatter"` // the source sent backscatter: it is a DoS victim, never block it

	FirstSeen          time.Time `json:"first_seen"`
	LastSeen           time.Time `json:"last_seen"`
	Packets            uint64    `json:"packets"`             // probe packets within the scan timeout
	NewPackets         uint64    `json:"new_packets"`         // probe packets since the previous report
	BackscatterPackets uint64    `json:"backscatter_packets"` // backscatter packets (SYN-ACK, RST, ICMP errors, echo replies)
	Rate               float64   `json:"rate"`                // backscatter packets per second between first and last seen

	DstPorts     map[string]string `json:"dst_ports"`     // cumulative destination ports per protocol
	NewDstPorts  map[string]string `json:"new_dst_ports"` // destination ports first seen in this interval
	Destinations uint64            `json:"destinations"`  // distinct destination hosts (exact up to a cap, then estimated)

	IntervalStart time.Time `json:"interval_start"` // the report interval this alert closes
	IntervalEnd   time.Time `json:"interval_end"`

	// Origin is the import whose packets produced this alert
	// ("import:<time>:<file>"); empty for live traffic. Alert channels and
	// the responder act on imported verdicts only when asked (import --respond).
	Origin string `json:"origin,omitempty"`
}
