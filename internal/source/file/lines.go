package file

import (
	"bytes"
	"io"
)

// lineReader splits a stream into lines without copying them: the returned
// line aliases its buffer until the next call. Lines longer than maxLine are
// discarded up to their newline and reported once as too long, with their
// first maxRawKept bytes. It never allocates after construction except for
// the kept prefix of a too-long line.
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	maxLine    int

	skipping bool   // inside a too-long line, discarding until its newline
	skipped  int    // bytes of the too-long line discarded so far
	longHead []byte // its first bytes, for the rejected record
}

func newLineReader(r io.Reader, maxLine int) *lineReader {
	size := max(readBufSize, 2*maxLine+2)
	return &lineReader{r: r, buf: make([]byte, size), maxLine: maxLine}
}

// reset points the reader at a new stream and forgets buffered data.
func (lr *lineReader) reset(r io.Reader) {
	lr.r = r
	lr.start, lr.end = 0, 0
	lr.skipping, lr.skipped = false, 0
	lr.longHead = lr.longHead[:0]
}

// buffered is the number of bytes read but not yet returned as lines,
// including the discarded part of a too-long line.
func (lr *lineReader) buffered() int { return lr.end - lr.start + lr.skipped }

// window returns up to k of the bytes read last, which end at the stream
// position read so far: buf[:end] is always a contiguous stretch of the
// stream ending there (it is empty after a reset or while skipping a long
// line).
func (lr *lineReader) window(k int) []byte {
	return lr.buf[max(0, lr.end-k):lr.end]
}

// fill reads once from the stream into the free part of the buffer.
func (lr *lineReader) fill() (int, error) {
	if lr.start > 0 && (lr.end == len(lr.buf) || lr.start >= len(lr.buf)/2) {
		lr.end = copy(lr.buf, lr.buf[lr.start:lr.end])
		lr.start = 0
	}
	if lr.end == len(lr.buf) { // cannot happen: next() discards long lines first
		return 0, io.ErrShortBuffer
	}
	n, err := lr.r.Read(lr.buf[lr.end:])
	lr.end += n
	return n, err
}

// next returns the next complete line without its '\n', the number of input
// bytes it used (newline included) and whether it was too long (then line is
// its head). ok is false when no complete line is buffered.
func (lr *lineReader) next() (line []byte, n int, tooLong, ok bool) {
	data := lr.buf[lr.start:lr.end]
	i := bytes.IndexByte(data, '\n')
	if i >= 0 {
		lr.start += i + 1
		if lr.skipping {
			lr.keepHead(data[:i])
			n = lr.skipped + i + 1
			lr.skipping, lr.skipped = false, 0
			return lr.longHead, n, true, true
		}
		if i > lr.maxLine {
			lr.longHead = append(lr.longHead[:0], data[:min(i, maxRawKept)]...)
			return lr.longHead, i + 1, true, true
		}
		return data[:i], i + 1, false, true
	}
	if lr.skipping {
		lr.keepHead(data)
		lr.skipped += len(data)
		lr.start, lr.end = 0, 0
		return nil, 0, false, false
	}
	if len(data) > lr.maxLine {
		lr.longHead = append(lr.longHead[:0], data[:min(len(data), maxRawKept)]...)
		lr.skipping, lr.skipped = true, len(data)
		lr.start, lr.end = 0, 0
	}
	return nil, 0, false, false
}

// keepHead adds the start of b to the kept head of a too-long line, up to
// maxRawKept bytes.
func (lr *lineReader) keepHead(b []byte) {
	if room := maxRawKept - len(lr.longHead); room > 0 {
		lr.longHead = append(lr.longHead, b[:min(room, len(b))]...)
	}
}

// tail returns, and consumes, the unterminated rest of the stream once it
// has ended for good: the last line of a file without a final newline.
func (lr *lineReader) tail() (line []byte, n int, tooLong, ok bool) {
	data := lr.buf[lr.start:lr.end]
	if lr.skipping {
		lr.keepHead(data)
		n = lr.skipped + len(data)
		lr.skipping, lr.skipped = false, 0
		lr.start, lr.end = 0, 0
		return lr.longHead, n, true, true
	}
	if len(data) == 0 {
		return nil, 0, false, false
	}
	lr.start, lr.end = 0, 0
	if len(data) > lr.maxLine {
		lr.longHead = append(lr.longHead[:0], data[:min(len(data), maxRawKept)]...)
		return lr.longHead, len(data), true, true
	}
	return data, len(data), false, true
}
