package file

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/source"
)

// trivialParser does almost nothing, so the benchmark measures the reading
// path (read, split, batch, send), not parsing.
type trivialParser struct{}

func (trivialParser) ParseLine(line []byte, e *event.Event) error {
	e.TotalLen = uint16(len(line))
	return nil
}

const benchLines = 1_000_000

// writeKernLog writes n kernel LOG lines of realistic length (~230 bytes).
func writeKernLog(b *testing.B, path string, n int, gz bool) {
	b.Helper()
	fh, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(fh, 1<<20)
	var zw *gzip.Writer
	var out io.Writer = w
	if gz {
		zw = gzip.NewWriter(w)
		out = zw
	}
	for i := range n {
		fmt.Fprintf(out, "2026-11-23T10:00:%02d.%06d+00:00 sensor1 kernel: [%d.%06d] DARK IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=198.51.100.%d DST=10.0.%d.%d LEN=44 TOS=0x00 PREC=0x00 TTL=%d ID=%d PROTO=TCP SPT=%d DPT=%d WINDOW=1024 RES=0x00 SYN URGP=0\n",
			i%60, i%1000000, 1000+i/1000, i%1000000, i%254+1, i%200, i%254, 30+i%200, i%65536, 1024+i%60000, i%65536)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		b.Fatal(err)
	}
}

func benchImport(b *testing.B, gz bool) { benchImportWith(b, gz, trivialParser{}) }

func benchImportWith(b *testing.B, gz bool, parser LineParser) {
	path := filepath.Join(b.TempDir(), "kern.log")
	writeKernLog(b, path, benchLines, gz)
	fi, _ := os.Stat(path)
	b.ReportAllocs()
	b.SetBytes(fi.Size())
	var lines uint64
	for b.Loop() {
		ctr := source.NewCounters("bench")
		f, err := New(Config{Path: path}, parser, nil, source.DiscardRejects{}, ctr, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		out := make(chan source.Batch, 4)
		done := make(chan struct{})
		go func() {
			for bt := range out {
				source.ReleaseEvents(bt.Events)
			}
			close(done)
		}()
		if err := f.Run(b.Context(), out); err != nil {
			b.Fatal(err)
		}
		close(out)
		<-done
		if got := ctr.Snapshot().Received; got != benchLines {
			b.Fatalf("received %d lines, want %d", got, benchLines)
		}
		lines += benchLines
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkImport: plain kern.log of 1M lines through a trivial parser.
func BenchmarkImport(b *testing.B) { benchImport(b, false) }

// BenchmarkImportKernLog: the same file through the real kernel LOG parser
// (the whole per-line work of an import before the pipeline).
func BenchmarkImportKernLog(b *testing.B) {
	p, err := decode.NewKernLogParser(decode.KernLogConfig{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	benchImportWith(b, false, p)
}

// BenchmarkImportGzip: the same file gzip-compressed.
func BenchmarkImportGzip(b *testing.B) { benchImport(b, true) }
