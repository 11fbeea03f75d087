package alert

import (
	"context"
	"fmt"
	"os"
	"sync"
)

// fileChannel appends each alert as one JSON line to a file.
type fileChannel struct {
	mu   sync.Mutex
	path string
	f    *os.File
	buf  []byte
}

func newFileChannel(c FileConfig) (*fileChannel, error) {
	f, err := os.OpenFile(c.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open alert file: %w", err)
	}
	return &fileChannel{path: c.Path, f: f}, nil
}

func (c *fileChannel) Send(_ context.Context, m *Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return Permanent(fmt.Errorf("alert file %s: closed", c.path))
	}
	c.buf = m.AppendJSON(c.buf[:0])
	if _, err := c.f.Write(c.buf); err != nil {
		return fmt.Errorf("write alert file %s: %w", c.path, err)
	}
	return nil
}

func (c *fileChannel) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	if err != nil {
		return fmt.Errorf("close alert file %s: %w", c.path, err)
	}
	return nil
}
