package firewall

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mdlayher/netlink"
)

// ErrNoIpsets is returned (wrapped) when one of darkscope's ipsets does not
// exist in the network namespace.
var ErrNoIpsets = errors.New("ipsets " + IpsetPrefix + "* are missing: run `darkscope rules --variant iptables --apply` first")

// MaxIpsetTimeout is the longest timeout an ipset element can have
// (2147483 s, about 24.8 days).
const MaxIpsetTimeout = 2147483 * time.Second

// The ipset netlink protocol (linux/netfilter/ipset/ip_set.h): messages of
// subsystem NFNL_SUBSYS_IPSET, an nfgenmsg header, then attributes.
const (
	ipsetSubsys   = 6 // NFNL_SUBSYS_IPSET
	ipsetProtocol = 7 // IPSET_PROTOCOL

	ipsetCmdList = 7  // IPSET_CMD_LIST
	ipsetCmdAdd  = 9  // IPSET_CMD_ADD
	ipsetCmdDel  = 10 // IPSET_CMD_DEL

	ipsetAttrProtocol = 1 // IPSET_ATTR_PROTOCOL (u8)
	ipsetAttrSetName  = 2 // IPSET_ATTR_SETNAME (string)
	ipsetAttrData     = 7 // IPSET_ATTR_DATA (nested)
	ipsetAttrADT      = 8 // IPSET_ATTR_ADT (nested DATA containers)

	ipsetAttrIP      = 1  // IPSET_ATTR_IP (nested IPADDR)
	ipsetAttrCIDR    = 3  // IPSET_ATTR_CIDR (u8)
	ipsetAttrTimeout = 6  // IPSET_ATTR_TIMEOUT (be32, seconds)
	ipsetAttrComment = 26 // IPSET_ATTR_COMMENT (string)

	ipsetAttrIPv4 = 1 // IPSET_ATTR_IPADDR_IPV4
	ipsetAttrIPv6 = 2 // IPSET_ATTR_IPADDR_IPV6

	ipsetErrExist    = 4103 // IPSET_ERR_EXIST (an absent element on delete without -exist)
	ipsetErrHashFull = 4352 // IPSET_ERR_HASH_FULL
)

// ipsetTimeout converts a timeout to ipset's whole seconds, rounding up.
func ipsetTimeout(d time.Duration) (uint32, error) {
	if d < 0 {
		return 0, fmt.Errorf("timeout %s: want 0 (none) or more", d)
	}
	if d > MaxIpsetTimeout {
		return 0, fmt.Errorf("timeout %s: ipset allows at most %s", d, MaxIpsetTimeout)
	}
	return uint32((d + time.Second - 1) / time.Second), nil
}

// ipsetComment makes comment printable ASCII without '"' (what `ipset
// save` can print and `ipset restore` read back), at most
// MaxElementComment bytes.
func ipsetComment(comment string) string {
	b := []byte(comment)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' {
			b[i] = '_'
		}
	}
	if len(b) > MaxElementComment {
		b = b[:MaxElementComment]
	}
	return string(b)
}

// ipsetMessage returns the netlink message of an ipset command: the
// nfgenmsg header (AF_INET, version 0, as the ipset tool sends it) and the
// attributes.
func ipsetMessage(cmd uint16, flags netlink.HeaderFlags, attrs []byte) netlink.Message {
	data := make([]byte, 4, 4+len(attrs))
	data[0] = 2 // AF_INET; the kernel takes the family from the set
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(ipsetSubsys<<8 | cmd), Flags: flags},
		Data:   append(data, attrs...),
	}
}

// encodeIpsetElement returns the attributes of an add or delete of p in
// set name: protocol, set name, and DATA {IP {IPADDR}, CIDR, TIMEOUT,
// COMMENT}. Timeout and comment are left out when withExt is false (delete).
func encodeIpsetElement(name string, p netip.Prefix, timeout uint32, comment string, withExt bool) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Uint8(ipsetAttrProtocol, ipsetProtocol)
	ae.String(ipsetAttrSetName, name)
	ae.Nested(ipsetAttrData, func(d *netlink.AttributeEncoder) error {
		d.Nested(ipsetAttrIP, func(ip *netlink.AttributeEncoder) error {
			typ := uint16(ipsetAttrIPv4)
			if p.Addr().Is6() {
				typ = ipsetAttrIPv6
			}
			ip.Bytes(typ|netlink.NetByteOrder, p.Addr().AsSlice())
			return nil
		})
		d.Uint8(ipsetAttrCIDR, uint8(p.Bits()))
		if withExt {
			d.Uint32(ipsetAttrTimeout|netlink.NetByteOrder, timeout)
			if comment != "" {
				d.String(ipsetAttrComment, comment)
			}
		}
		return nil
	})
	return ae.Encode()
}

// encodeIpsetList returns the attributes of a list (dump) of set name.
func encodeIpsetList(name string) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Uint8(ipsetAttrProtocol, ipsetProtocol)
	ae.String(ipsetAttrSetName, name)
	return ae.Encode()
}

// decodeIpsetList reads the elements of one message of a list dump (the
// data after the netlink header): the DATA containers inside ADT. Each
// element's remaining time is both its Timeout and Expires (ipset keeps
// no other); 0 means no timeout.
func decodeIpsetList(data []byte, v6 bool) ([]Element, error) {
	if len(data) < 4 {
		return nil, errors.New("ipset message shorter than its nfgenmsg header")
	}
	ad, err := netlink.NewAttributeDecoder(data[4:])
	if err != nil {
		return nil, fmt.Errorf("ipset message: %w", err)
	}
	ad.ByteOrder = binary.BigEndian
	var out []Element
	for ad.Next() {
		if ad.Type() != ipsetAttrADT {
			continue
		}
		ad.Nested(func(adt *netlink.AttributeDecoder) error {
			adt.ByteOrder = binary.BigEndian
			for adt.Next() {
				if adt.Type() != ipsetAttrData {
					continue
				}
				adt.Nested(func(d *netlink.AttributeDecoder) error {
					e, err := decodeIpsetElement(d, v6)
					if err != nil {
						return err
					}
					out = append(out, e)
					return nil
				})
			}
			return adt.Err()
		})
	}
	if err := ad.Err(); err != nil {
		return nil, fmt.Errorf("ipset list message: %w", err)
	}
	return out, nil
}

func decodeIpsetElement(d *netlink.AttributeDecoder, v6 bool) (Element, error) {
	d.ByteOrder = binary.BigEndian
	var (
		addr netip.Addr
		bits = -1
		e    Element
	)
	for d.Next() {
		switch d.Type() {
		case ipsetAttrIP:
			d.Nested(func(ip *netlink.AttributeDecoder) error {
				for ip.Next() {
					b := ip.Bytes()
					switch {
					case ip.Type() == ipsetAttrIPv4 && len(b) == 4 && !v6:
						addr = netip.AddrFrom4([4]byte(b))
					case ip.Type() == ipsetAttrIPv6 && len(b) == 16 && v6:
						addr = netip.AddrFrom16([16]byte(b))
					default:
						return fmt.Errorf("address attribute %d of %d bytes in an IPv%s set", ip.Type(), len(b), family(v6))
					}
				}
				return ip.Err()
			})
		case ipsetAttrCIDR:
			bits = int(d.Uint8())
		case ipsetAttrTimeout:
			e.Timeout = time.Duration(d.Uint32()) * time.Second
			e.Expires = e.Timeout
		case ipsetAttrComment:
			e.Comment = d.String()
		}
	}
	if err := d.Err(); err != nil {
		return Element{}, err
	}
	if !addr.IsValid() {
		return Element{}, errors.New("element without an address")
	}
	if bits < 0 {
		bits = addr.BitLen()
	}
	if bits > addr.BitLen() {
		return Element{}, fmt.Errorf("element %s/%d: prefix length out of range", addr, bits)
	}
	e.Prefix = netip.PrefixFrom(addr, bits).Masked()
	return e, nil
}

func family(v6 bool) string {
	if v6 {
		return "6"
	}
	return "4"
}

// sortElements orders elements by address, then prefix length.
func sortElements(els []Element) {
	slices.SortFunc(els, func(a, b Element) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
}
