package jsonl

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/sink"
)

// Sink appends every event as one JSON line to a file. It implements
// sink.Sink; each Write encodes the batch and writes it with one system call
// (or a few for large batches). It is safe for concurrent use.
type Sink struct {
	mu   sync.Mutex
	path string
	f    *os.File
	enc  *Encoder
}

// New opens (creating it 0640 if needed) path for appending and returns a
// Sink writing format f.
func New(path string, f Format) (*Sink, error) {
	if path == "" {
		return nil, fmt.Errorf("jsonl sink: empty path")
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("jsonl sink: open %s: %w", path, err)
	}
	enc, err := NewEncoder(file, f)
	if err != nil {
		_ = file.Close()
		return nil, fmt.Errorf("jsonl sink %s: %w", path, err)
	}
	return &Sink{path: path, f: file, enc: enc}, nil
}

// Write appends batch to the file. It does not keep batch.
func (s *Sink) Write(ctx context.Context, batch []event.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return fmt.Errorf("jsonl sink %s: closed", s.path)
	}
	for i := range batch {
		if err := s.enc.Encode(&batch[i]); err != nil {
			return fmt.Errorf("jsonl sink %s: %w", s.path, err)
		}
	}
	if err := s.enc.Flush(); err != nil {
		return fmt.Errorf("jsonl sink %s: %w", s.path, err)
	}
	return nil
}

// Close flushes and closes the file.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	ferr := s.enc.Flush()
	cerr := s.f.Close()
	s.f = nil
	if ferr != nil {
		return fmt.Errorf("jsonl sink %s: %w", s.path, ferr)
	}
	if cerr != nil {
		return fmt.Errorf("jsonl sink %s: close: %w", s.path, cerr)
	}
	return nil
}

var _ sink.Sink = (*Sink)(nil)
