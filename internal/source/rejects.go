package source

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Rejected is one input a source could not turn into an event, kept for inspection.
type Rejected struct {
	Time   time.Time `json:"time"`
	Source string    `json:"source"`
	Line   int64     `json:"line,omitempty"` // 1-based line number in a file, 0 when not applicable
	Reason string    `json:"reason"`
	Raw    string    `json:"raw"`
}

// Rejects keeps rejected inputs.
type Rejects interface {
	Keep(r Rejected)
}

// RejectFile appends rejected inputs as JSON lines to a file (rejected.jsonl
// in the data directory). Raw input is capped at 4 KiB per record.
type RejectFile struct {
	mu  sync.Mutex
	f   *os.File
	enc *json.Encoder
	err error
}

// OpenRejectFile opens (creating, appending) path.
func OpenRejectFile(path string) (*RejectFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open rejected-lines file: %w", err)
	}
	return &RejectFile{f: f, enc: json.NewEncoder(f)}, nil
}

// Keep appends r. Write errors are remembered and returned by Close.
func (w *RejectFile) Keep(r Rejected) {
	if len(r.Raw) > 4096 {
		r.Raw = r.Raw[:4096]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enc.Encode(r); err != nil && w.err == nil {
		w.err = fmt.Errorf("write rejected line: %w", err)
	}
}

// Close closes the file.
func (w *RejectFile) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	cerr := w.f.Close()
	if w.err != nil {
		return w.err
	}
	return cerr
}

// DiscardRejects keeps nothing (tests, benchmarks).
type DiscardRejects struct{}

// Keep drops r.
func (DiscardRejects) Keep(Rejected) {}
