// Package pcap is the capture-file source: it sits at the left edge of the
// flow and reads pcap and pcapng files (Ethernet, Linux cooked SLL and SLL2,
// raw IP and NFLOG link types) into events, once, for import and backfill.
//
// Every record is received once. Records that decode are sent on; records
// that are not IP (ARP, other ethertypes, unsupported link types) are
// ignored; malformed records are rejected by reason and kept with their
// record number. A file that ends inside a record counts that record as
// rejected ("truncated_record"). The reader blocks on the pipeline and never
// drops. NFLOG records take their time from NFULA_TIMESTAMP inside the record,
// not from the frame time, which is when libpcap read the batch.
package pcap

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/source"
)

// Link types the reader decodes (LINKTYPE_* values as stored in files).
const (
	LinkEthernet = 1
	LinkRawAlt12 = 12 // raw IP as some systems write DLT_RAW
	LinkRawAlt14 = 14
	LinkRaw      = 101
	LinkSLL      = 113
	LinkIPv4     = 228
	LinkIPv6     = 229
	LinkNFLOG    = 239
	LinkSLL2     = 276
)

// Rejection reasons of the reader (the packet decoder adds its own).
const (
	ReasonTruncatedRecord = "truncated_record" // the file ends inside a record
	ReasonCorruptRecord   = "corrupt_record"   // a record header that cannot be right
	ReasonBadLinkHeader   = "bad_link_header"  // SLL/SLL2/NFLOG header cut short
	ReasonBadNflogTLV     = "bad_nflog_tlv"
	ReasonNflogNoPayload  = "nflog_no_payload"
)

// Config configures a Reader.
type Config struct {
	Path   string // a .pcap or .pcapng file, optionally gzip-compressed (.gz)
	Sensor string // sensor name given to every event
}

// Reader is the capture-file source.
type Reader struct {
	cfg      Config
	name     string
	rejects  source.Rejects
	counters *source.Counters
	logger   *slog.Logger
}

// New checks that cfg.Path is a readable pcap or pcapng file.
func New(cfg Config, rejects source.Rejects, counters *source.Counters, logger *slog.Logger) (*Reader, error) {
	if cfg.Path == "" {
		return nil, errors.New("pcap reader: no file given")
	}
	if counters == nil {
		return nil, errors.New("pcap reader: counters are required")
	}
	if rejects == nil {
		rejects = source.DiscardRejects{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reader{cfg: cfg, name: "pcap:" + cfg.Path, rejects: rejects, counters: counters, logger: logger}
	f, br, err := r.open()
	if err != nil {
		return nil, err
	}
	head, _ := br.Peek(12)
	ok := IsPcap(head)
	f.Close()
	if !ok {
		return nil, &source.Permanent{Err: fmt.Errorf("pcap reader: %s is not a pcap or pcapng file", cfg.Path)}
	}
	return r, nil
}

// Name is "pcap:" and the file path.
func (r *Reader) Name() string { return r.name }

// IsPcap reports whether head (the first bytes of a file, at least 4) starts
// like a pcap file (micro- or nanosecond, either byte order) or a pcapng
// section header block.
func IsPcap(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	switch binary.BigEndian.Uint32(head) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		return true
	case 0x0a0d0d0a:
		if len(head) < 12 {
			return true
		}
		bom := binary.BigEndian.Uint32(head[8:])
		return bom == 0x1a2b3c4d || bom == 0x4d3c2b1a
	}
	return false
}

type closer interface{ Close() error }

func (r *Reader) open() (closer, *bufio.Reader, error) {
	f, err := os.Open(r.cfg.Path)
	if err != nil {
		return nil, nil, &source.Permanent{Err: fmt.Errorf("pcap reader: %w", err)}
	}
	var in io.Reader = f
	if strings.HasSuffix(r.cfg.Path, ".gz") {
		zr, err := gzip.NewReader(bufio.NewReader(f))
		if err != nil {
			f.Close()
			return nil, nil, &source.Permanent{Err: fmt.Errorf("pcap reader: %s: %w", r.cfg.Path, err)}
		}
		in = zr
	}
	return f, bufio.NewReaderSize(in, 256<<10), nil
}

// packetReader is what pcapgo's two readers have in common here.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Run reads the whole file, sending batches, and returns nil at its end (or
// when ctx is done).
func (r *Reader) Run(ctx context.Context, out chan<- source.Batch) error {
	f, br, err := r.open()
	if err != nil {
		return err
	}
	defer f.Close()
	head, _ := br.Peek(12)
	if !IsPcap(head) {
		return &source.Permanent{Err: fmt.Errorf("pcap reader: %s is not a pcap or pcapng file", r.cfg.Path)}
	}
	d := newDecoder(r.cfg.Sensor, r.name, fileOrder(head))
	var (
		pr       packetReader
		linkOf   func(ci gopacket.CaptureInfo) layers.LinkType
		ngReader *pcapgo.NgReader
	)
	if binary.BigEndian.Uint32(head) == 0x0a0d0d0a {
		// Mixed link types: without it pcapgo silently skips records of
		// interfaces whose link type differs from the first one.
		ngReader, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return &source.Permanent{Err: fmt.Errorf("pcap reader: %s: %w", r.cfg.Path, err)}
		}
		pr = ngReader
		linkOf = func(ci gopacket.CaptureInfo) layers.LinkType {
			iface, err := ngReader.Interface(ci.InterfaceIndex)
			if err != nil {
				return layers.LinkType(0xffff)
			}
			return iface.LinkType
		}
	} else {
		pc, err := pcapgo.NewReader(br)
		if err != nil {
			return &source.Permanent{Err: fmt.Errorf("pcap reader: %s: %w", r.cfg.Path, err)}
		}
		lt := pc.LinkType()
		if !Supported(lt) {
			return &source.Permanent{Err: fmt.Errorf("pcap reader: %s: link type %d is not supported (Ethernet, Linux SLL/SLL2, raw IP and NFLOG are)", r.cfg.Path, lt)}
		}
		pr = pc
		linkOf = func(gopacket.CaptureInfo) layers.LinkType { return lt }
	}

	batch := source.NewEvents()
	send := func() bool {
		if len(batch) == 0 {
			return true
		}
		select {
		case out <- source.Batch{Counters: r.counters, Events: batch}:
			batch = source.NewEvents()
			return true
		case <-ctx.Done():
			r.counters.AddLost(source.LostQueueFull, uint64(len(batch)))
			return false
		}
	}
	warned := map[layers.LinkType]bool{}
	var rec int64
	for {
		data, ci, err := pr.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			rec++
			reason := ReasonCorruptRecord
			if errors.Is(err, io.ErrUnexpectedEOF) {
				reason = ReasonTruncatedRecord
			}
			r.counters.AddReceived(1)
			r.counters.AddRejected(reason, 1)
			r.rejects.Keep(source.Rejected{Time: time.Now().UTC(), Source: r.name, Line: rec, Reason: reason, Raw: err.Error()})
			r.logger.Warn("capture file ends in a bad record", "source", r.name, "record", rec, "err", err)
			break
		}
		rec++
		r.counters.AddReceived(1)
		lt := linkOf(ci)
		e := d.next(&batch)
		err = d.decode(lt, data, ci.Timestamp, e)
		switch {
		case err == nil:
			if len(batch) == source.BatchSize && !send() {
				return nil
			}
			continue
		case errors.Is(err, errUnsupported):
			if !warned[lt] {
				warned[lt] = true
				r.logger.Warn("capture interface with an unsupported link type: its records are ignored", "source", r.name, "link_type", int(lt))
			}
			r.counters.AddIgnored(1)
		case errors.Is(err, decode.ErrNotIP):
			r.counters.AddIgnored(1)
		default:
			reason := "bad_packet"
			var pe *decode.ParseError
			if errors.As(err, &pe) {
				reason = pe.Reason
			}
			r.counters.AddRejected(reason, 1)
			r.rejects.Keep(source.Rejected{Time: time.Now().UTC(), Source: r.name, Line: rec, Reason: reason,
				Raw: hex.EncodeToString(data[:min(len(data), 256)])})
		}
		batch = batch[:len(batch)-1] // drop the event slot
		if ctx.Err() != nil {
			break
		}
	}
	if !send() {
		return nil
	}
	source.ReleaseEvents(batch)
	return nil
}

// fileOrder returns the byte order the file was written in, which is also
// the order of NFLOG TLV headers (libpcap stores them in host order).
func fileOrder(head []byte) binary.ByteOrder {
	if len(head) >= 4 && binary.BigEndian.Uint32(head) == 0x0a0d0d0a {
		if len(head) >= 12 && binary.BigEndian.Uint32(head[8:]) == 0x1a2b3c4d {
			return binary.BigEndian
		}
		return binary.LittleEndian
	}
	if len(head) >= 4 && (head[0] == 0xa1) {
		return binary.BigEndian
	}
	return binary.LittleEndian
}
