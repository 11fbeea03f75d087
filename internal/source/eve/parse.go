package eve

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"regexp"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// Reasons lines are rejected with (source.Counters rejected map).
const (
	ReasonNotJSON      = "not_json"   // not a JSON object
	ReasonBadField     = "bad_field"  // a known field with the wrong type or range (src_port "x", 70000)
	ReasonBadSrcIP     = "bad_src_ip" // src_ip missing or not an address
	ReasonNoSoftware   = "no_software_version"
	ReasonNoProto      = "no_proto_version"
	reasonNotSSH       = "not_ssh"     // ignored: another event type
	reasonNoMatch      = "no_match"    // ignored: the version does not select the client
	reasonAllowlisted  = "allowlisted" // ignored: the source is allowlisted
	maxVersionInReason = 64            // bytes of the client version kept in a set element's comment
	maxReason          = 120           // bytes of a redirect reason (nft comments hold 128)
)

// Record is what DOM mode reads from one EVE "ssh" event.
type Record struct {
	Time             time.Time // the event's timestamp (zero when missing or unparsable)
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	// ssh.client fields; Has* tell an empty string from a missing field.
	ProtoVersion, SoftwareVersion       string
	HasProtoVersion, HasSoftwareVersion bool
}

// LineError says why a line gave no record: Reason names it, Ignored tells a
// line that is simply not for us (another event type, no match, allowlisted)
// from a rejected one.
type LineError struct {
	Reason  string
	Ignored bool
}

func (e *LineError) Error() string { return "eve: " + e.Reason }

var (
	errNotJSON  = &LineError{Reason: ReasonNotJSON}
	errBadField = &LineError{Reason: ReasonBadField}
	errBadSrc   = &LineError{Reason: ReasonBadSrcIP}
	errNotSSH   = &LineError{Reason: reasonNotSSH, Ignored: true}
	errNoMatch  = &LineError{Reason: reasonNoMatch, Ignored: true}
	errAllowed  = &LineError{Reason: reasonAllowlisted, Ignored: true}
	errNoSoft   = &LineError{Reason: ReasonNoSoftware}
	errNoProto  = &LineError{Reason: ReasonNoProto}
	sshEventKey = []byte(`"ssh"`)
)

// eveSSH is the part of an EVE line DOM mode reads (Suricata's field names).
type eveSSH struct {
	Timestamp string `json:"timestamp"`
	EventType string `json:"event_type"`
	SrcIP     string `json:"src_ip"`
	SrcPort   uint16 `json:"src_port"`
	DestIP    string `json:"dest_ip"`
	DestPort  uint16 `json:"dest_port"`
	SSH       *struct {
		Client *struct {
			ProtoVersion    *string `json:"proto_version"`
			SoftwareVersion *string `json:"software_version"`
		} `json:"client"`
	} `json:"ssh"`
}

// timeLayouts are the timestamp forms Suricata writes ("+0100" offsets;
// older versions none, meaning UTC here).
var timeLayouts = []string{
	"2006-01-02T15:04:05.999999999-0700",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
}

func parseTime(s string) time.Time {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// Parse reads one EVE line. Lines of other event types return a *LineError
// with Ignored set; lines that are not JSON, or ssh events whose src_ip is
// not an address, return a rejecting *LineError. A line without the string
// "ssh" is only checked for being JSON (Suricata writes event types
// unescaped).
func Parse(line []byte) (Record, error) {
	line = bytes.TrimSpace(line)
	if !bytes.Contains(line, sshEventKey) {
		if len(line) == 0 || line[0] != '{' || !json.Valid(line) {
			return Record{}, errNotJSON
		}
		return Record{}, errNotSSH
	}
	var v eveSSH
	if err := json.Unmarshal(line, &v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// The rest of the line was decoded: a field of another event
			// type that is not what an ssh event has does not matter.
			if v.EventType != "ssh" {
				return Record{}, errNotSSH
			}
			return Record{}, errBadField
		}
		return Record{}, errNotJSON
	}
	if v.EventType != "ssh" {
		return Record{}, errNotSSH
	}
	var r Record
	src, err := netip.ParseAddr(v.SrcIP)
	if err != nil || src.Zone() != "" {
		return Record{}, errBadSrc
	}
	r.Src = src.Unmap()
	if d, err := netip.ParseAddr(v.DestIP); err == nil && d.Zone() == "" {
		r.Dst = d.Unmap()
	}
	r.SrcPort, r.DstPort = v.SrcPort, v.DestPort
	r.Time = parseTime(v.Timestamp)
	if v.SSH != nil && v.SSH.Client != nil {
		if p := v.SSH.Client.ProtoVersion; p != nil {
			r.ProtoVersion, r.HasProtoVersion = *p, true
		}
		if s := v.SSH.Client.SoftwareVersion; s != nil {
			r.SoftwareVersion, r.HasSoftwareVersion = *s, true
		}
	}
	return r, nil
}

// Matcher decides which EVE ssh records select their client for
// redirection. It implements file.LineParser: a selected line fills the
// event (time, addresses, ports, the client version in Auth.ClientVersion);
// every other line returns a *LineError.
type Matcher struct {
	field  string
	re     *regexp.Regexp
	invert bool
	allow  []netip.Prefix
}

// NewMatcher builds the matcher of cfg (defaults applied, validated).
func NewMatcher(cfg Config) (*Matcher, error) {
	cfg = cfg.WithDefaults()
	if cfg.Path == "" {
		cfg.Path = "-" // the matcher does not need one
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	allow, _ := parseAllowlist(cfg.Allowlist)
	return &Matcher{field: cfg.Field, re: regexp.MustCompile(cfg.Match), invert: cfg.Invert, allow: allow}, nil
}

// Select reports whether r's client is to be redirected, or the *LineError
// saying why not.
func (m *Matcher) Select(r *Record) error {
	var v string
	switch m.field {
	case FieldProtoVersion:
		if !r.HasProtoVersion {
			return errNoProto
		}
		v = r.ProtoVersion
	default:
		if !r.HasSoftwareVersion {
			return errNoSoft
		}
		v = r.SoftwareVersion
	}
	if m.re.MatchString(v) == m.invert {
		return errNoMatch
	}
	for _, p := range m.allow {
		if p.Contains(r.Src) {
			return errAllowed
		}
	}
	return nil
}

// ParseLine implements file.LineParser.
func (m *Matcher) ParseLine(line []byte, e *event.Event) error {
	r, err := Parse(line)
	if err != nil {
		return err
	}
	if err := m.Select(&r); err != nil {
		return err
	}
	e.Time = r.Time
	e.Src, e.Dst = r.Src, r.Dst
	e.SrcPort, e.DstPort = r.SrcPort, r.DstPort
	e.Proto = event.Proto(6)
	if r.Src.Is4() {
		e.IPVersion = 4
	} else {
		e.IPVersion = 6
	}
	v := r.SoftwareVersion
	if m.field == FieldProtoVersion {
		v = r.ProtoVersion
	}
	e.Auth = &event.Auth{ClientVersion: v}
	return nil
}

// classify implements file.Classifier for Matcher errors.
func classify(err error) (string, bool) {
	var le *LineError
	if errors.As(err, &le) {
		return le.Reason, le.Ignored
	}
	return "parse_error", false
}

// reasonFor is the comment of a redirect-set element: where the decision
// came from, with the client version made safe (printable ASCII only, cut).
func reasonFor(field, version string) string {
	s := "eve " + field + " " + printable(version, maxVersionInReason)
	if len(s) > maxReason {
		s = s[:maxReason]
	}
	return s
}

// printable keeps at most n bytes of s with every byte that is not
// printable ASCII (and quotes and backslashes) replaced by '?': client
// versions are attacker-chosen and end up in nft comments and logs.
func printable(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && i < n; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			c = '?'
		}
		b = append(b, c)
	}
	return string(b)
}
