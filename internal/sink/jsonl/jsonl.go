// Package jsonl is the JSON Lines end of the flow: it turns events into one
// JSON object per line, for `export`, every `--json` report and the jsonl
// sink, in three dialects: darkscope's own keys (native), the keys ulogd2's
// JSON output writes (ulogd), and Elastic Common Schema 8.x (ecs).
//
// Encoding appends to a reused buffer without reflection, so a warm Encoder
// allocates nothing per event. docs/json.md lists every key.
package jsonl

import (
	"fmt"
	"io"
	"strings"

	"github.com/darkscope/darkscope/internal/event"
)

// Format is a JSON Lines dialect.
type Format string

// The dialects.
const (
	FormatNative Format = "native" // darkscope's keys (src_ip, dst_ip, src_port, dst_port, ...)
	FormatULOGD  Format = "ulogd"  // ulogd2 2.0.8 JSON plugin, stack NFLOG,BASE,IFINDEX,IP2STR,HWHDR,JSON
	FormatECS    Format = "ecs"    // Elastic Common Schema 8.x
)

// Formats lists the dialects in the order help texts show them.
var Formats = [...]Format{FormatNative, FormatULOGD, FormatECS}

// ParseFormat accepts a dialect name (case-insensitive); "" means native.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "native":
		return FormatNative, nil
	case "ulogd", "ulogd2":
		return FormatULOGD, nil
	case "ecs":
		return FormatECS, nil
	}
	return "", fmt.Errorf("unknown JSON format %q (want native, ulogd or ecs)", s)
}

// AppendLine appends ev as one JSON object in format f, followed by a
// newline, to dst. f must be a valid Format (see ParseFormat); anything else
// encodes native.
func AppendLine(dst []byte, f Format, ev *event.Event) []byte {
	switch f {
	case FormatULOGD:
		dst = appendULOGD(dst, ev)
	case FormatECS:
		dst = appendECS(dst, ev)
	default:
		dst = appendNative(dst, ev)
	}
	return append(dst, '\n')
}

// flushAt is the buffered size at which Encode writes through.
const flushAt = 64 << 10

// Encoder writes events as JSON Lines to an io.Writer, buffering up to
// 64 KiB. It is not safe for concurrent use. Call Flush when done.
type Encoder struct {
	w   io.Writer
	f   Format
	buf []byte
}

// NewEncoder returns an Encoder writing format f to w.
func NewEncoder(w io.Writer, f Format) (*Encoder, error) {
	if w == nil {
		return nil, fmt.Errorf("jsonl encoder: nil writer")
	}
	switch f {
	case FormatNative, FormatULOGD, FormatECS:
	default:
		return nil, fmt.Errorf("jsonl encoder: unknown format %q", f)
	}
	return &Encoder{w: w, f: f, buf: make([]byte, 0, flushAt+4096)}, nil
}

// Format returns the encoder's dialect.
func (e *Encoder) Format() Format { return e.f }

// Encode appends ev as one line; it writes through when the buffer is full.
func (e *Encoder) Encode(ev *event.Event) error {
	e.buf = AppendLine(e.buf, e.f, ev)
	if len(e.buf) >= flushAt {
		return e.Flush()
	}
	return nil
}

// Flush writes the buffered lines.
func (e *Encoder) Flush() error {
	if len(e.buf) == 0 {
		return nil
	}
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	if err != nil {
		return fmt.Errorf("write json lines: %w", err)
	}
	return nil
}
