package file

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/darkscope/darkscope/internal/source"
)

// gzipMagic starts every gzip member (RFC 1952).
var gzipMagic = [2]byte{0x1f, 0x8b}

// isGzip reports whether the file starts with the gzip magic bytes.
func isGzip(fh *os.File) (bool, error) {
	var m [2]byte
	n, err := fh.ReadAt(m[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read %s: %w", fh.Name(), err)
	}
	return n == 2 && m == gzipMagic, nil
}

// countingReader counts the bytes read from the file on disk (progress).
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// importFile reads the whole file once, then returns nil. Offsets of a
// gzip file count uncompressed bytes. Every error is permanent: a restart
// would import the file again from its start and store its events twice.
func (f *File) importFile(ctx context.Context, out chan<- source.Batch) error {
	var in io.Reader
	var total int64
	var inode uint64
	if f.opts.reader != nil {
		in = f.opts.reader
	} else {
		fh, err := os.Open(f.cfg.Path)
		if err != nil {
			return &source.Permanent{Err: permanentOpenError(f.cfg.Path, err)}
		}
		defer fh.Close()
		fi, err := fh.Stat()
		if err != nil {
			return &source.Permanent{Err: fmt.Errorf("stat %s: %w", f.cfg.Path, err)}
		}
		if fi.IsDir() {
			return &source.Permanent{Err: fmt.Errorf("import %s: is a directory", f.cfg.Path)}
		}
		in, inode = fh, inodeOf(fi)
		if fi.Mode().IsRegular() {
			total = fi.Size()
		}
	}
	cr := &countingReader{r: in}
	// Peek rather than ReadAt, so pipes (import from stdin) work too.
	br := bufio.NewReaderSize(cr, 64<<10)
	var r io.Reader = br
	if m, _ := br.Peek(2); len(m) == 2 && m[0] == gzipMagic[0] && m[1] == gzipMagic[1] {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return &source.Permanent{Err: fmt.Errorf("import %s: gzip: %w", f.cfg.Path, err)}
		}
		defer zr.Close()
		r = zr
	}
	lr := newLineReader(r, f.opts.maxLine)
	b := &batch{inode: inode}
	progress := func() {
		if f.opts.progress != nil {
			f.opts.progress(cr.n-int64(br.Buffered()), total)
		}
	}
	for {
		n, rerr := lr.fill()
		if n > 0 {
			for {
				line, used, tooLong, ok := lr.next()
				if !ok {
					break
				}
				f.take(b, line, used, tooLong)
				if b.full() {
					if err := f.flush(ctx, out, b); err != nil {
						b.drop()
						return nil // ctx done
					}
				}
			}
			progress()
		}
		if rerr == nil {
			if ctx.Err() != nil {
				b.drop()
				return nil
			}
			continue
		}
		if !errors.Is(rerr, io.EOF) {
			// A corrupt gzip member or an I/O error: what was read so far
			// is still delivered.
			if err := f.flush(ctx, out, b); err != nil {
				b.drop()
				return nil
			}
			return &source.Permanent{Err: fmt.Errorf("import %s at line %d: %w", f.cfg.Path, b.line+1, rerr)}
		}
		if line, used, tooLong, ok := lr.tail(); ok {
			f.take(b, line, used, tooLong)
		}
		if err := f.flush(ctx, out, b); err != nil {
			b.drop()
			return nil
		}
		progress()
		f.logger.Debug("import finished", "lines", b.line, "bytes", b.pos)
		return nil
	}
}
