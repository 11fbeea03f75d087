package decode

import (
	"time"
)

// SyslogMsg is the header of one syslog message as ParseSyslog splits it.
// The byte slices alias the input; copy what must outlive it.
type SyslogMsg struct {
	Time     time.Time // UTC; zero when HasTime is false
	HasTime  bool
	Hostname []byte // nil when the message carries none (or the RFC 5424 NILVALUE)
	App      []byte // RFC 3164 TAG without its [pid], or RFC 5424 APP-NAME
	Msg      []byte // the message text after the header
	// Facility and Severity come from <PRI>; both are 0 when HasPri is false.
	Facility, Severity uint8
	HasPri             bool
	RFC5424            bool // the message was in RFC 5424 form
}

// Reasons ParseSyslog reports in its errors.
const (
	SyslogReasonEmpty     = "syslog_empty"
	SyslogReasonBadPri    = "syslog_bad_pri"
	SyslogReasonBadHeader = "syslog_bad_header"
	SyslogReasonBadTime   = "syslog_bad_time"
)

// slMaxTag bounds the RFC 3164 TAG (the RFC says 32; real senders use more).
const slMaxTag = 64

// slFutureSlack is how far after now an RFC 3164 stamp (which has no year)
// may lie and still be put in now's year (senders' clocks run a little
// ahead); the kernel LOG parser uses the same day.
const slFutureSlack = 24 * time.Hour

// ParseSyslog splits one syslog message (without transport framing) into
// its header fields, allocating nothing. It accepts
//
//   - RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]
//   - RFC 3164: <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[pid]: MSG, the hostname
//     optional, and the same with an RFC 3339 stamp (rsyslog's file format,
//     journalctl -o short-iso with +hhmm zones)
//   - both RFC 3164 forms without <PRI>, as log files hold them.
//
// RFC 3164 stamps carry no year: it is the latest year that puts the stamp
// no more than a day after now. Stamps without a zone are read in loc
// (UTC when nil). A message whose RFC 3164 stamp is missing or unreadable is
// still parsed, with HasTime false; a bad RFC 5424 stamp is an error.
// Trailing CR, LF and NUL bytes are removed from Msg. Errors are *ParseError
// with one of the SyslogReason* reasons.
func ParseSyslog(b []byte, loc *time.Location, now time.Time, m *SyslogMsg) error {
	*m = SyslogMsg{}
	if loc == nil {
		loc = time.UTC
	}
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return slErr(SyslogReasonEmpty, "")
	}
	i := 0
	if b[0] == '<' {
		pri, n, ok := slPri(b)
		if !ok {
			return slErr(SyslogReasonBadPri, slSnippet(b))
		}
		m.HasPri = true
		m.Facility, m.Severity = uint8(pri>>3), uint8(pri&7)
		i = n
		if len(b) >= i+2 && b[i] == '1' && b[i+1] == ' ' {
			m.RFC5424 = true
			return slParse5424(b, i+2, m)
		}
	}
	return slParse3164(b, i, loc, now, m)
}

// slPri reads "<N>" with N in 0..191 (at most three digits, no leading zero
// beyond "0" itself) and returns N and the bytes consumed.
func slPri(b []byte) (int, int, bool) {
	v, i := 0, 1
	for ; i < len(b) && i <= 4 && b[i] >= '0' && b[i] <= '9'; i++ {
		v = v*10 + int(b[i]-'0')
	}
	digits := i - 1
	if digits == 0 || digits > 3 || i >= len(b) || b[i] != '>' || v > 191 || (digits > 1 && b[1] == '0') {
		return 0, 0, false
	}
	return v, i + 1, true
}

func slParse5424(b []byte, i int, m *SyslogMsg) error {
	ts, i, ok := slField(b, i)
	if !ok {
		return slErr(SyslogReasonBadHeader, "rfc5424: missing timestamp")
	}
	if !(len(ts) == 1 && ts[0] == '-') {
		t, n, ok := slRFC3339(ts, nil)
		if !ok || n != len(ts) {
			return slErr(SyslogReasonBadTime, slSnippet(ts))
		}
		m.Time, m.HasTime = t, true
	}
	var host, app []byte
	if host, i, ok = slField(b, i); !ok {
		return slErr(SyslogReasonBadHeader, "rfc5424: missing hostname")
	}
	if app, i, ok = slField(b, i); !ok {
		return slErr(SyslogReasonBadHeader, "rfc5424: missing app-name")
	}
	if _, i, ok = slField(b, i); !ok { // PROCID
		return slErr(SyslogReasonBadHeader, "rfc5424: missing procid")
	}
	if _, i, ok = slField(b, i); !ok { // MSGID
		return slErr(SyslogReasonBadHeader, "rfc5424: missing msgid")
	}
	if !slNil(host) {
		m.Hostname = host
	}
	if !slNil(app) {
		m.App = app
	}
	// STRUCTURED-DATA: NILVALUE or one or more [id param="value"...].
	if i >= len(b) {
		return slErr(SyslogReasonBadHeader, "rfc5424: missing structured data")
	}
	if b[i] == '-' {
		i++
	} else {
		if b[i] != '[' {
			return slErr(SyslogReasonBadHeader, "rfc5424: bad structured data")
		}
		for i < len(b) && b[i] == '[' {
			j, ok := slSDElement(b, i)
			if !ok {
				return slErr(SyslogReasonBadHeader, "rfc5424: unterminated structured data")
			}
			i = j
		}
	}
	switch {
	case i == len(b):
		m.Msg = b[i:]
	case b[i] == ' ':
		msg := b[i+1:]
		if len(msg) >= 3 && msg[0] == 0xEF && msg[1] == 0xBB && msg[2] == 0xBF {
			msg = msg[3:]
		}
		m.Msg = msg
	default:
		return slErr(SyslogReasonBadHeader, "rfc5424: no space after structured data")
	}
	return nil
}

// slSDElement skips one SD-ELEMENT starting at b[i] == '[' and returns the
// index after its closing ']'. Inside quoted values a backslash escapes the
// next byte.
func slSDElement(b []byte, i int) (int, bool) {
	inQuote := false
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ']':
			return i + 1, true
		}
	}
	return 0, false
}

// slField returns the space-terminated token starting at i and the index
// after its terminating space.
func slField(b []byte, i int) ([]byte, int, bool) {
	for j := i; j < len(b); j++ {
		if b[j] == ' ' {
			if j == i {
				return nil, 0, false
			}
			return b[i:j], j + 1, true
		}
	}
	return nil, 0, false
}

func slNil(f []byte) bool { return len(f) == 1 && f[0] == '-' }

func slParse3164(b []byte, i int, loc *time.Location, now time.Time, m *SyslogMsg) error {
	rest := b[i:]
	if t, n, ok := slBSDStamp(rest, loc, now); ok {
		m.Time, m.HasTime = t, true
		rest = rest[n:]
	} else if t, n, ok := slRFC3339(rest, loc); ok && n < len(rest) && rest[n] == ' ' {
		m.Time, m.HasTime = t, true
		rest = rest[n:]
	}
	if m.HasTime {
		if len(rest) == 0 || rest[0] != ' ' {
			return slErr(SyslogReasonBadHeader, "rfc3164: no space after timestamp")
		}
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
		// HOSTNAME, unless the next word is already the TAG ("tag:" or "tag[pid]:").
		if j := slIndexByte(rest, ' '); j > 0 && !slLooksLikeTag(rest[:j]) {
			m.Hostname = rest[:j]
			rest = rest[j+1:]
		}
	}
	// TAG: up to 64 alphanumerics and the usual punctuation, then [pid] and/or ':'.
	j := 0
	for j < len(rest) && j <= slMaxTag && rest[j] != ':' && rest[j] != '[' && rest[j] != ' ' {
		j++
	}
	end := j
	if j < len(rest) && rest[j] == '[' {
		k := slIndexByte(rest[j:], ']')
		if k > 0 {
			end = j + k + 1
		}
	}
	if j > 0 && end < len(rest) && rest[end] == ':' {
		m.App = rest[:j]
		rest = rest[end+1:]
		if len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
	}
	m.Msg = rest
	return nil
}

// slLooksLikeTag reports whether a word is "tag:" or "tag[pid]:".
func slLooksLikeTag(w []byte) bool {
	return len(w) > 1 && w[len(w)-1] == ':'
}

func slIndexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

var slMonths = [12][3]byte{
	{'J', 'a', 'n'}, {'F', 'e', 'b'}, {'M', 'a', 'r'}, {'A', 'p', 'r'}, {'M', 'a', 'y'}, {'J', 'u', 'n'},
	{'J', 'u', 'l'}, {'A', 'u', 'g'}, {'S', 'e', 'p'}, {'O', 'c', 't'}, {'N', 'o', 'v'}, {'D', 'e', 'c'},
}

// slBSDStamp reads "Mmm dd hh:mm:ss" (day space- or zero-padded, an optional
// fraction of a second) and infers the year from now.
func slBSDStamp(b []byte, loc *time.Location, now time.Time) (time.Time, int, bool) {
	if len(b) < 15 || b[3] != ' ' || b[6] != ' ' || b[9] != ':' || b[12] != ':' {
		return time.Time{}, 0, false
	}
	mon := -1
	for k, name := range slMonths {
		if b[0] == name[0] && b[1] == name[1] && b[2] == name[2] {
			mon = k + 1
			break
		}
	}
	if mon < 0 {
		return time.Time{}, 0, false
	}
	var day int
	switch {
	case b[4] == ' ' && slDigit(b[5]):
		day = int(b[5] - '0')
	case slDigit(b[4]) && slDigit(b[5]):
		day = int(b[4]-'0')*10 + int(b[5]-'0')
	default:
		return time.Time{}, 0, false
	}
	hh, ok1 := slNum2(b[7:])
	mm, ok2 := slNum2(b[10:])
	ss, ok3 := slNum2(b[13:])
	if !ok1 || !ok2 || !ok3 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, 0, false
	}
	n := 15
	ns := 0
	if n < len(b) && b[n] == '.' {
		var k int
		ns, k = slFraction(b[n+1:])
		if k == 0 {
			return time.Time{}, 0, false
		}
		n += 1 + k
	}
	nowIn := now.In(loc)
	limit := now.Add(slFutureSlack)
	for y := nowIn.Year() + 1; y >= nowIn.Year()-8; y-- {
		if day > slDaysIn(mon, y) {
			continue
		}
		t := time.Date(y, time.Month(mon), day, hh, mm, ss, ns, loc)
		if !t.After(limit) {
			return t.UTC(), n, true
		}
	}
	return time.Time{}, 0, false
}

// slRFC3339 reads YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm|±hhmm). With loc
// non-nil a missing zone is allowed and read in loc.
func slRFC3339(b []byte, loc *time.Location) (time.Time, int, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, 0, false
	}
	y1, ok0 := slNum2(b)
	y2, ok1 := slNum2(b[2:])
	mon, ok2 := slNum2(b[5:])
	day, ok3 := slNum2(b[8:])
	hh, ok4 := slNum2(b[11:])
	mm, ok5 := slNum2(b[14:])
	ss, ok6 := slNum2(b[17:])
	year := y1*100 + y2
	if !(ok0 && ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mon < 1 || mon > 12 || day < 1 ||
		day > slDaysIn(mon, year) || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, 0, false
	}
	n, ns := 19, 0
	if n < len(b) && b[n] == '.' {
		var k int
		ns, k = slFraction(b[n+1:])
		if k == 0 {
			return time.Time{}, 0, false
		}
		n += 1 + k
	}
	if n < len(b) && (b[n] == 'Z' || b[n] == 'z') {
		return time.Date(year, time.Month(mon), day, hh, mm, ss, ns, time.UTC), n + 1, true
	}
	if n < len(b) && (b[n] == '+' || b[n] == '-') {
		oh, okh := slNum2(b[n+1:])
		k := n + 3
		if k < len(b) && b[k] == ':' {
			k++
		}
		if k > len(b) {
			return time.Time{}, 0, false
		}
		om, okm := slNum2(b[k:])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, 0, false
		}
		off := time.Duration(oh)*time.Hour + time.Duration(om)*time.Minute
		if b[n] == '-' {
			off = -off
		}
		t := time.Date(year, time.Month(mon), day, hh, mm, ss, ns, time.UTC).Add(-off)
		return t, k + 2, true
	}
	if loc == nil {
		return time.Time{}, 0, false
	}
	return time.Date(year, time.Month(mon), day, hh, mm, ss, ns, loc).UTC(), n, true
}

// slFraction reads up to nine digits of a fraction of a second (more are
// consumed and ignored) and returns nanoseconds and the digits consumed.
func slFraction(b []byte) (int, int) {
	ns, k := 0, 0
	for k < len(b) && slDigit(b[k]) {
		if k < 9 {
			ns = ns*10 + int(b[k]-'0')
		}
		k++
	}
	for d := k; d < 9; d++ {
		ns *= 10
	}
	return ns, k
}

func slDigit(c byte) bool { return c >= '0' && c <= '9' }

func slNum2(b []byte) (int, bool) {
	if len(b) < 2 || !slDigit(b[0]) || !slDigit(b[1]) {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

func slDaysIn(mon, year int) int {
	switch mon {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// slSnippet returns a short prefix of b for an error detail.
func slSnippet(b []byte) string {
	if len(b) > 32 {
		b = b[:32]
	}
	return string(b)
}

// slErr returns a *ParseError with a printable, bounded detail.
func slErr(reason, detail string) error { return klErr(reason, []byte(detail)) }
