package alert

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/sink/jsonl"
)

// Message is one alert on its way to a channel: a copy of the alert event
// (Write must not keep the batch) and what the worker added.
type Message struct {
	Event event.Event // Kind alert; Alert points to a deep copy
	RDNS  string      // reverse DNS name of the source, "" if unknown or off
}

// Alert is the message's alert payload.
func (m *Message) Alert() *event.Alert { return m.Event.Alert }

// BackscatterOnly reports whether the source only sent backscatter: it is a
// DoS victim, not a scanner.
func (m *Message) BackscatterOnly() bool {
	a := m.Event.Alert
	return a.Backscatter && a.Pattern == "" && len(a.ScanTypes) == 0 && len(a.Signatures) == 0
}

// newMessage copies ev (a KindAlert event with Alert set) so nothing refers
// to the caller's batch.
func newMessage(ev *event.Event) *Message {
	a := *ev.Alert
	a.ScanTypes = slices.Clone(a.ScanTypes)
	a.Flags = slices.Clone(a.Flags)
	a.Protocols = slices.Clone(a.Protocols)
	a.Signatures = slices.Clone(a.Signatures)
	a.DstPorts = maps.Clone(a.DstPorts)
	a.NewDstPorts = maps.Clone(a.NewDstPorts)
	if a.Tool != nil {
		t := *a.Tool
		t.Evidence = slices.Clone(t.Evidence)
		a.Tool = &t
	}
	return &Message{Event: event.Event{
		Time: ev.Time, Kind: event.KindAlert, Sensor: ev.Sensor, Source: ev.Source, Alert: &a,
	}}
}

// AppendJSON appends the message as one JSON line: darkscope's native event
// JSON (the same line the jsonl sink writes for an alert event, see
// docs/json.md), with "rdns" and "backscatter_only" added.
func (m *Message) AppendJSON(b []byte) []byte {
	b = jsonl.AppendLine(b, jsonl.FormatNative, &m.Event)
	// The line ends in "}\n" after at least "time": reopen the object.
	b = append(b[:len(b)-2], ',')
	if m.RDNS != "" {
		name, _ := json.Marshal(m.RDNS) // a string always encodes
		b = append(b, `"rdns":`...)
		b = append(b, name...)
		b = append(b, ',')
	}
	b = append(b, `"backscatter_only":`...)
	b = strconv.AppendBool(b, m.BackscatterOnly())
	return append(b, "}\n"...)
}

// portProtos lists the protocols of ports in the order messages show
// them: tcp, udp, then the rest by name.
func portProtos(ports map[string]string) []string {
	keys := slices.Collect(maps.Keys(ports))
	slices.SortFunc(keys, func(x, y string) int {
		rank := func(s string) int {
			switch s {
			case "tcp":
				return 0
			case "udp":
				return 1
			}
			return 2
		}
		if d := rank(x) - rank(y); d != 0 {
			return d
		}
		return strings.Compare(x, y)
	})
	return keys
}

func portsText(ports map[string]string) string {
	var parts []string
	for _, p := range portProtos(ports) {
		parts = append(parts, p+": ["+ports[p]+"]")
	}
	return strings.Join(parts, " ")
}

func orNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, ", ")
}

func toolText(t *event.Tool) string {
	if t == nil || t.Name == "" {
		return ""
	}
	return fmt.Sprintf("%s (confidence %.2f)", t.Name, t.Confidence)
}

// Line is the one-line human text of an alert (syslog's MSG), in psad's
// manner: "scan detected: SRC -> N hosts tcp: [ports] flags: [...] -sS
// level: 3 ...", or "backscatter from victim SRC ..." for a DoS victim.
func (m *Message) Line() string {
	a := m.Event.Alert
	var b strings.Builder
	src := addrOf(a)
	if m.BackscatterOnly() {
		fmt.Fprintf(&b, "backscatter from DoS victim %s", src)
	} else {
		fmt.Fprintf(&b, "scan detected: %s", src)
	}
	if m.RDNS != "" {
		fmt.Fprintf(&b, " (%s)", m.RDNS)
	}
	if a.Destinations > 0 {
		fmt.Fprintf(&b, " -> %d hosts", a.Destinations)
	}
	if p := portsText(a.DstPorts); p != "" {
		b.WriteString(" " + p)
	}
	if len(a.Flags) > 0 {
		b.WriteString(" flags: [" + strings.Join(a.Flags, ",") + "]")
	}
	if len(a.ScanTypes) > 0 {
		b.WriteString(" scan: " + strings.Join(a.ScanTypes, ","))
	}
	if a.Pattern != "" {
		b.WriteString(" pattern: " + a.Pattern)
	}
	fmt.Fprintf(&b, " level: %d", a.Level)
	if len(a.Signatures) > 0 {
		b.WriteString(" signatures: " + strings.Join(a.Signatures, "; "))
	}
	if t := toolText(a.Tool); t != "" {
		b.WriteString(" tool: " + t)
	}
	if a.OS != "" {
		b.WriteString(" os: " + a.OS)
	}
	if m.BackscatterOnly() {
		fmt.Fprintf(&b, " backscatter packets: %d rate: %.1f/s (victim: do not block)", a.BackscatterPackets, a.Rate)
	} else {
		fmt.Fprintf(&b, " packets: %d new: %d", a.Packets, a.NewPackets)
		if a.Backscatter {
			fmt.Fprintf(&b, " backscatter packets: %d", a.BackscatterPackets)
		}
	}
	return b.String()
}

// Subject is the e-mail subject (without the configured prefix).
func (m *Message) Subject() string {
	a := m.Event.Alert
	var b strings.Builder
	if m.BackscatterOnly() {
		fmt.Fprintf(&b, "backscatter victim: %s", addrOf(a))
	} else {
		fmt.Fprintf(&b, "DL%d src: %s", a.Level, addrOf(a))
	}
	if m.RDNS != "" {
		fmt.Fprintf(&b, " (%s)", m.RDNS)
	}
	if len(a.ScanTypes) > 0 {
		b.WriteString(" scan: " + strings.Join(a.ScanTypes, ","))
	}
	if len(a.Signatures) > 0 {
		fmt.Fprintf(&b, " signatures: %d", len(a.Signatures))
	}
	if m.Event.Sensor != "" {
		b.WriteString(" sensor: " + m.Event.Sensor)
	}
	return oneLine(b.String())
}

// oneLine replaces line breaks so a value cannot start a new header.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// Body is the plain-text e-mail body: every fact of the alert, one per
// line, in the order psad's mails give them.
func (m *Message) Body() string {
	a := m.Event.Alert
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "%20s: %s\n", k, v) }
	tf := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	b.WriteString(strings.Repeat("=-", 36) + "=\n")
	if m.BackscatterOnly() {
		b.WriteString("darkscope: backscatter from a DoS victim\n\n")
	} else {
		b.WriteString("darkscope: scan alert\n\n")
	}
	row("Source", addrOf(a))
	rdns := m.RDNS
	if rdns == "" {
		rdns = "-"
	}
	row("Reverse DNS", rdns)
	if m.Event.Sensor != "" {
		row("Sensor", m.Event.Sensor)
	}
	row("Danger level", fmt.Sprintf("%d (of %d)", a.Level, event.MaxDangerLevel))
	if a.Pattern != "" {
		row("Pattern", a.Pattern)
	}
	row("Destinations", fmt.Sprintf("%d hosts", a.Destinations))
	for _, p := range portProtos(a.NewDstPorts) {
		row("New "+strings.ToUpper(p)+" ports", a.NewDstPorts[p])
	}
	for _, p := range portProtos(a.DstPorts) {
		row("All "+strings.ToUpper(p)+" ports", a.DstPorts[p])
	}
	row("Protocols", orNone(a.Protocols))
	row("TCP flags", orNone(a.Flags))
	row("Scan types", orNone(a.ScanTypes))
	row("Signatures", orNone(a.Signatures))
	os := a.OS
	if os == "" {
		os = "unknown"
	}
	row("OS guess", os)
	if t := toolText(a.Tool); t != "" {
		row("Scanning tool", t)
		for _, ev := range a.Tool.Evidence {
			row("", "evidence: "+ev)
		}
	} else {
		row("Scanning tool", "unknown")
	}
	row("First seen", tf(a.FirstSeen))
	row("Last seen", tf(a.LastSeen))
	row("Packets", fmt.Sprintf("%d (%d new this interval)", a.Packets, a.NewPackets))
	if a.Backscatter {
		row("Backscatter", fmt.Sprintf("yes: %d packets, %.1f/s", a.BackscatterPackets, a.Rate))
		b.WriteString("\n  This source answered traffic it never received from here: it is the\n" +
			"  victim of a spoofed-source DoS attack. Never block it.\n")
	}
	row("Report interval", tf(a.IntervalStart)+" to "+tf(a.IntervalEnd))
	b.WriteString(strings.Repeat("=-", 36) + "=\n")
	return b.String()
}
