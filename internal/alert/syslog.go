package alert

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// SDID is the RFC 5424 structured-data ID of darkscope's alert element.
// 32473 is the private enterprise number RFC 5612 reserves for
// documentation and examples.
const SDID = "darkscope@32473"

// syslogChannel sends RFC 5424 messages over UDP (one datagram each), TCP
// (octet-counting framing, RFC 6587) or a unix socket (datagram, or stream
// with octet counting). It connects on first use and reconnects after an
// error.
type syslogChannel struct {
	cfg      SyslogConfig
	facility int
	hostname string // fallback when the event has no sensor
	dial     DialFunc
	pid      string

	mu   sync.Mutex
	conn net.Conn
	dgrm bool // conn is a datagram socket
	buf  []byte
}

func newSyslogChannel(c SyslogConfig, hostname string, dial DialFunc) (*syslogChannel, error) {
	fac, ok := facilities[c.Facility]
	if !ok {
		return nil, fmt.Errorf("unknown syslog facility %q", c.Facility)
	}
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	if hostname == "" {
		hostname = "-"
	}
	return &syslogChannel{cfg: c, facility: fac, hostname: hostname, dial: dial, pid: strconv.Itoa(os.Getpid())}, nil
}

func (c *syslogChannel) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var err error
	switch c.cfg.Network {
	case "unix":
		// /dev/log is a datagram socket under journald and rsyslog; accept a
		// stream socket too.
		if c.conn, err = c.dial(ctx, "unixgram", c.cfg.Address); err == nil {
			c.dgrm = true
			return nil
		}
		c.conn, err = c.dial(ctx, "unix", c.cfg.Address)
		c.dgrm = false
	default:
		c.conn, err = c.dial(ctx, c.cfg.Network, c.cfg.Address)
		c.dgrm = c.cfg.Network == "udp" || c.cfg.Network == "unixgram"
	}
	if err != nil {
		c.conn = nil
		return fmt.Errorf("syslog connect %s %s: %w", c.cfg.Network, c.cfg.Address, err)
	}
	return nil
}

func (c *syslogChannel) Send(ctx context.Context, m *Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		if err := c.connect(ctx); err != nil {
			return err
		}
	}
	msg := c.format(m)
	c.buf = c.buf[:0]
	if !c.dgrm {
		c.buf = strconv.AppendInt(c.buf, int64(len(msg)), 10)
		c.buf = append(c.buf, ' ')
	}
	c.buf = append(c.buf, msg...)
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
	if _, err := c.conn.Write(c.buf); err != nil {
		_ = c.conn.Close()
		c.conn = nil
		return fmt.Errorf("syslog write %s %s: %w", c.cfg.Network, c.cfg.Address, err)
	}
	return nil
}

func (c *syslogChannel) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	if err != nil {
		return fmt.Errorf("syslog close: %w", err)
	}
	return nil
}

// severity maps a danger level to a syslog severity: 0 (backscatter
// only) info, 1-2 notice, 3 warning, 4 err, 5 crit.
func severity(l event.DangerLevel) int {
	switch {
	case l >= 5:
		return 2
	case l == 4:
		return 3
	case l == 3:
		return 4
	case l >= 1:
		return 5
	}
	return 6
}

// format builds one RFC 5424 message:
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [darkscope@32473 ...] MSG
func (c *syslogChannel) format(m *Message) string {
	a := m.Event.Alert
	var b strings.Builder
	b.WriteByte('<')
	b.WriteString(strconv.Itoa(c.facility*8 + severity(a.Level)))
	b.WriteString(">1 ")
	t := m.Event.Time
	if t.IsZero() {
		t = time.Now()
	}
	b.WriteString(t.UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
	b.WriteByte(' ')
	host := c.cfg.Hostname
	if host == "" {
		host = sdToken(m.Event.Sensor, 255)
	}
	if host == "" {
		host = c.hostname
	}
	b.WriteString(host)
	b.WriteByte(' ')
	b.WriteString(c.cfg.AppName)
	b.WriteByte(' ')
	b.WriteString(c.pid)
	if m.BackscatterOnly() {
		b.WriteString(" backscatter ")
	} else {
		b.WriteString(" scan ")
	}
	b.WriteString("[" + SDID)
	param := func(k, v string) {
		if v == "" {
			return
		}
		b.WriteString(" " + k + `="`)
		b.WriteString(sdEscape(v))
		b.WriteByte('"')
	}
	param("src", a.Src.String())
	if isAggregate(a) {
		param("prefix", a.Prefix.String())
	}
	param("level", strconv.Itoa(int(a.Level)))
	param("pattern", a.Pattern)
	param("scan_types", strings.Join(a.ScanTypes, ","))
	param("flags", strings.Join(a.Flags, ","))
	param("protocols", strings.Join(a.Protocols, ","))
	for _, p := range portProtos(a.DstPorts) {
		param("ports_"+sdToken(p, 20), a.DstPorts[p])
	}
	for _, p := range portProtos(a.NewDstPorts) {
		param("new_ports_"+sdToken(p, 16), a.NewDstPorts[p])
	}
	param("destinations", strconv.FormatUint(a.Destinations, 10))
	param("signatures", strings.Join(a.Signatures, ";"))
	param("os", a.OS)
	if a.Tool != nil && a.Tool.Name != "" {
		param("tool", a.Tool.Name)
		param("tool_confidence", strconv.FormatFloat(a.Tool.Confidence, 'f', 2, 64))
	}
	param("backscatter", strconv.FormatBool(a.Backscatter))
	param("backscatter_only", strconv.FormatBool(m.BackscatterOnly()))
	param("packets", strconv.FormatUint(a.Packets, 10))
	if !a.FirstSeen.IsZero() {
		param("first_seen", a.FirstSeen.UTC().Format(time.RFC3339))
		param("last_seen", a.LastSeen.UTC().Format(time.RFC3339))
	}
	param("rdns", m.RDNS)
	param("sensor", m.Event.Sensor)
	b.WriteString("] ")
	b.WriteString(m.Line())
	return b.String()
}

// sdEscape escapes a PARAM-VALUE: '"', '\' and ']' take a backslash.
func sdEscape(s string) string {
	if !strings.ContainsAny(s, "\"\\]") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}

// sdToken keeps the printable US-ASCII characters RFC 5424 allows in
// names and header fields (no space, '=', ']', '"'), at most n of them.
func sdToken(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < n; i++ {
		c := s[i]
		if c > 32 && c < 127 && c != '=' && c != ']' && c != '"' {
			b.WriteByte(c)
		}
	}
	return b.String()
}
