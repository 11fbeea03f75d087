package respond

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// discoverLocal returns the host's own addresses and the gateways of its
// routes (each as a /32 or /128), read over rtnetlink in the network
// namespace bound at nsPath ("" for the caller's).
func discoverLocal(nsPath string) ([]netip.Prefix, error) {
	h := &netlink.Handle{}
	if nsPath != "" {
		ns, err := netns.GetFromPath(nsPath)
		if err != nil {
			return nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
		}
		defer func() { _ = ns.Close() }()
		if h, err = netlink.NewHandleAt(ns); err != nil {
			return nil, fmt.Errorf("rtnetlink in %s: %w", nsPath, err)
		}
	} else {
		var err error
		if h, err = netlink.NewHandle(); err != nil {
			return nil, fmt.Errorf("rtnetlink: %w", err)
		}
	}
	defer h.Close()
	var out []netip.Prefix
	add := func(ip net.IP) {
		if a, ok := netip.AddrFromSlice(ip); ok {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list own addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IPNet != nil {
			add(a.IP)
		}
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Gw != nil {
			add(r.Gw)
		}
		for _, nh := range r.MultiPath {
			if nh != nil && nh.Gw != nil {
				add(nh.Gw)
			}
		}
	}
	return out, nil
}
