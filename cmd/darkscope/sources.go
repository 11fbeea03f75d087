package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/source"
	"github.com/darkscope/darkscope/internal/source/file"
	"github.com/darkscope/darkscope/internal/source/pcap"
)

// Input formats import and follow understand.
const (
	formatKernlog = "kernlog"
	formatULOGD   = "ulogd"
	formatPcap    = "pcap"
)

// classify maps a decoder error to a rejected reason, or says the input was
// not a firewall record at all.
func classify(err error) (reason string, ignored bool) {
	if errors.Is(err, decode.ErrNotFirewall) {
		return "", true
	}
	var pe *decode.ParseError
	if errors.As(err, &pe) {
		return pe.Reason, false
	}
	return "parse_error", false
}

// builder makes sources with the shared pieces (counters, rejected-line
// keeper, offsets, zone, sensor name).
type builder struct {
	a       *app
	reg     *source.Registry
	rejects source.Rejects
	offsets file.OffsetStore
	loc     *time.Location
	sensor  string
}

func newBuilder(a *app, reg *source.Registry, rejects source.Rejects, offsets file.OffsetStore) (*builder, error) {
	loc, err := a.cfg.Location()
	if err != nil {
		return nil, err
	}
	sensor := a.cfg.Sensor
	if sensor == "" {
		sensor, _ = os.Hostname()
	}
	return &builder{a: a, reg: reg, rejects: rejects, offsets: offsets, loc: loc, sensor: sensor}, nil
}

func (b *builder) kernlogParser() (*decode.KernLogParser, error) {
	return decode.NewKernLogParser(decode.KernLogConfig{Location: b.loc, Now: b.a.now, Sensor: b.sensor})
}

// lineParser returns a fresh parser for a line format (parsers are not shared between sources).
func (b *builder) lineParser(format string) (file.LineParser, error) {
	switch format {
	case formatKernlog, "":
		return b.kernlogParser()
	case formatULOGD:
		return decode.NewULOGDParser(b.sensor), nil
	}
	return nil, fmt.Errorf("unknown line format %q: want kernlog or ulogd", format)
}

// fileSource builds a file source; counters are named after the source.
func (b *builder) fileSource(path, format string, follow, fromStart bool, counters *source.Counters, opts ...file.Option) (*file.File, error) {
	p, err := b.lineParser(format)
	if err != nil {
		return nil, err
	}
	if counters == nil {
		counters = b.reg.Get("file:" + path)
	}
	return file.New(file.Config{Path: path, Follow: follow, FromStart: fromStart, Sensor: b.sensor},
		p, classify, b.rejects, counters, b.offsets, b.a.logger, opts...)
}

// importSource detects path's format and returns a finite source over it.
func (b *builder) importSource(path, format string, counters *source.Counters, progress func(done, total int64)) (source.Source, string, error) {
	if format == "" {
		var err error
		if format, err = detectFormat(path); err != nil {
			return nil, "", err
		}
	}
	if format == formatPcap {
		src, err := pcap.New(pcap.Config{Path: path, Sensor: b.sensor}, b.rejects, counters, b.a.logger)
		return src, format, err
	}
	var opts []file.Option
	if progress != nil {
		opts = append(opts, file.WithProgress(progress))
	}
	src, err := b.fileSource(path, format, false, true, counters, opts...)
	return src, format, err
}

// detectFormat sniffs a file: pcap/pcapng by magic, ulogd2 JSON lines by a
// leading '{', otherwise kernel LOG text. Gzip is looked through.
func detectFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	br := bufio.NewReader(r)
	head, _ := br.Peek(4)
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return "", fmt.Errorf("import %s: gzip: %w", path, err)
		}
		br = bufio.NewReader(zr)
	}
	head, _ = br.Peek(4096)
	if pcap.IsPcap(head) {
		return formatPcap, nil
	}
	trimmed := bytes.TrimLeft(head, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return formatULOGD, nil
	}
	return formatKernlog, nil
}
