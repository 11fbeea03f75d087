//go:build !linux

package respond

import (
	"errors"
	"net/netip"
)

// discoverLocal is Linux-only; elsewhere give the allowlist in the config.
func discoverLocal(string) ([]netip.Prefix, error) {
	return nil, errors.New("discovering own addresses and gateways needs Linux")
}
