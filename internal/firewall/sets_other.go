//go:build !linux

package firewall

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"
)

var errSetsLinux = errors.New("nftables sets need Linux")

// Sets manages the run-time sets of table inet darkscope; it works on Linux only.
type Sets struct{}

// NewSets fails: nftables exists on Linux only.
func NewSets(_ *slog.Logger, _ ...SetsOption) (*Sets, error) { return nil, errSetsLinux }

// Close does nothing.
func (s *Sets) Close() error { return nil }

// Add fails: nftables exists on Linux only.
func (s *Sets) Add(context.Context, SetKind, netip.Prefix, time.Duration, string) error {
	return errSetsLinux
}

// Del fails: nftables exists on Linux only.
func (s *Sets) Del(context.Context, SetKind, netip.Prefix) error { return errSetsLinux }

// List fails: nftables exists on Linux only.
func (s *Sets) List(context.Context, SetKind) ([]Element, error) { return nil, errSetsLinux }
