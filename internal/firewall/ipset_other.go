//go:build !linux

package firewall

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"
)

var errIpsetsLinux = errors.New("ipsets need Linux")

// Ipsets manages the ipsets of the iptables variant; it works on Linux only.
type Ipsets struct{}

// NewIpsets fails: ipset exists on Linux only.
func NewIpsets(_ *slog.Logger, _ ...SetsOption) (*Ipsets, error) { return nil, errIpsetsLinux }

// Close does nothing.
func (s *Ipsets) Close() error { return nil }

// Add fails: ipset exists on Linux only.
func (s *Ipsets) Add(context.Context, SetKind, netip.Prefix, time.Duration, string) error {
	return errIpsetsLinux
}

// Del fails: ipset exists on Linux only.
func (s *Ipsets) Del(context.Context, SetKind, netip.Prefix) error { return errIpsetsLinux }

// List fails: ipset exists on Linux only.
func (s *Ipsets) List(context.Context, SetKind) ([]Element, error) { return nil, errIpsetsLinux }
