//go:build !linux

package nflog

import (
	"context"
	"errors"

	"github.com/darkscope/darkscope/internal/source"
)

// Run fails: NFLOG exists on Linux only.
func (n *NFLOG) Run(ctx context.Context, out chan<- source.Batch) error {
	return &source.Permanent{Err: errors.New("nflog source: NFLOG needs Linux")}
}
