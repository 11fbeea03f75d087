package honeypot

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/darkscope/darkscope/internal/event"
)

// PshittWriter writes password and keyboard-interactive attempts as pshitt's
// JSON lines (keys username, password, src_ip, src_port, timestamp,
// software_version, cipher, mac, try), byte-for-byte as Python's json.dumps
// writes them, so existing Logstash configurations keep working. Values that
// are not UTF-8 are written as Python's "backslashreplace" does (\xNN).
// It implements sink.Sink.
type PshittWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	c   io.Closer
	buf []byte
}

// NewPshittWriter appends to path (created 0600).
func NewPshittWriter(path string) (*PshittWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pshitt output: %w", err)
	}
	return &PshittWriter{w: bufio.NewWriterSize(f, 64<<10), c: f}, nil
}

// NewPshittEncoder writes to w (tests, stdout).
func NewPshittEncoder(w io.Writer) *PshittWriter {
	return &PshittWriter{w: bufio.NewWriter(w)}
}

// Write appends one line per password or answered keyboard-interactive
// attempt in batch (pshitt itself logs passwords only).
func (p *PshittWriter) Write(_ context.Context, batch []event.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range batch {
		e := &batch[i]
		if e.Kind != event.KindAuth || e.Auth == nil {
			continue
		}
		if e.Auth.Kind != event.AuthPassword && (e.Auth.Kind != event.AuthKeyboardInteractive || e.Auth.Unanswered) {
			continue
		}
		p.buf = AppendPshitt(p.buf[:0], e)
		p.buf = append(p.buf, '\n')
		if _, err := p.w.Write(p.buf); err != nil {
			return fmt.Errorf("pshitt output: %w", err)
		}
	}
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("pshitt output: %w", err)
	}
	return nil
}

// Close flushes and closes the file.
func (p *PshittWriter) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.w.Flush()
	if p.c != nil {
		if cerr := p.c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// AppendPshitt appends e as one pshitt JSON object (no newline).
func AppendPshitt(b []byte, e *event.Event) []byte {
	a := e.Auth
	b = append(b, `{"username": `...)
	b = appendPyString(b, rawOr(a.UserRaw, a.User))
	b = append(b, `, "password": `...)
	b = appendPyString(b, rawOr(a.SecretRaw, a.Secret))
	b = append(b, `, "src_ip": `...)
	b = appendPyString(b, e.Src.String())
	b = append(b, `, "src_port": `...)
	b = strconv.AppendUint(b, uint64(e.SrcPort), 10)
	b = append(b, `, "timestamp": `...)
	b = appendPyString(b, pyISOFormat(e.Time))
	b = append(b, `, "software_version": `...)
	b = appendPyString(b, pshittVersion(rawOr(a.ClientVersionRaw, a.ClientVersion)))
	b = append(b, `, "cipher": `...)
	b = appendPyString(b, a.Negotiated.CipherC2S)
	b = append(b, `, "mac": `...)
	b = appendPyString(b, a.Negotiated.MACC2S)
	b = append(b, `, "try": `...)
	b = strconv.AppendUint(b, uint64(a.Try), 10)
	return append(b, '}')
}

// pshittVersion drops the "SSH-protoversion-" prefix as pshitt does
// (Python's version.split("-", 2)[2], the whole line when it has fewer dashes).
func pshittVersion(v string) string {
	i := strings.IndexByte(v, '-')
	if i < 0 {
		return v
	}
	j := strings.IndexByte(v[i+1:], '-')
	if j < 0 {
		return v
	}
	return v[i+1+j+1:]
}

func rawOr(raw []byte, s string) string {
	if raw != nil {
		return string(raw)
	}
	return s
}

// pyISOFormat formats t (UTC) as Python's datetime.isoformat() does for a
// naive datetime: microseconds, omitted when zero.
func pyISOFormat(t time.Time) string {
	t = t.UTC()
	if us := t.Nanosecond() / 1000; us != 0 {
		return t.Format("2006-01-02T15:04:05") + fmt.Sprintf(".%06d", us)
	}
	return t.Format("2006-01-02T15:04:05")
}

const hexDigits = "0123456789abcdef"

// appendPyString appends s as json.dumps(s.decode("utf-8", "backslashreplace"))
// writes it: ASCII only (ensure_ascii), \uXXXX with surrogate pairs beyond the
// BMP, short escapes for \n \r \t \b \f, and every invalid byte as the
// four characters \xNN (whose backslash JSON then escapes).
func appendPyString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			c := s[i]
			b = append(b, '\\', '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			i++
			continue
		}
		i += size
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			b = appendU(b, r)
		case r >= 0x10000:
			r1, r2 := utf16.EncodeRune(r)
			b = appendU(appendU(b, r1), r2)
		default:
			b = append(b, byte(r))
		}
	}
	return append(b, '"')
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&15], hexDigits[r>>8&15], hexDigits[r>>4&15], hexDigits[r&15])
}
