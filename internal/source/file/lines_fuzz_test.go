package file

import (
	"bytes"
	"io"
	"testing"
)

// chunkReader hands out data in chunks of the given sizes (cycled).
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if len(r.sizes) > 0 {
		n = min(n, int(r.sizes[r.i%len(r.sizes)])+1)
		r.i++
	}
	n = copy(p, r.data[:min(n, len(r.data))])
	r.data = r.data[n:]
	return n, nil
}

// FuzzLineReader checks the splitter against bytes.Split for any input,
// read pattern and line cap: same lines in order, too-long exactly when
// longer than the cap (with the line's head kept), and every input byte
// accounted for once.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), []byte{0, 1, 2}, uint8(2))
	f.Add([]byte("FW 1\r\nFW 2\n"), []byte{}, uint8(100))
	f.Add(bytes.Repeat([]byte("x"), 5000), []byte{200}, uint8(3))
	f.Fuzz(func(t *testing.T, data, sizes []byte, capByte uint8) {
		maxLine := int(capByte) + 1
		lr := newLineReader(&chunkReader{data: data, sizes: sizes}, maxLine)
		want := bytes.Split(data, []byte{'\n'})
		if len(want[len(want)-1]) == 0 {
			want = want[:len(want)-1] // no unterminated tail
		}
		var got [][]byte
		total := 0
		check := func(line []byte, used int, tooLong bool) {
			i := len(got)
			if i >= len(want) {
				t.Fatalf("extra line %q", line)
			}
			w := want[i]
			if tooLong != (len(w) > maxLine) {
				t.Fatalf("line %d (%d bytes, cap %d): tooLong=%v", i, len(w), maxLine, tooLong)
			}
			if tooLong {
				if !bytes.HasPrefix(w, line) || len(line) != min(len(w), maxRawKept) {
					t.Fatalf("line %d: head %q is not the first bytes of %q", i, line, w)
				}
			} else if !bytes.Equal(line, w) {
				t.Fatalf("line %d = %q, want %q", i, line, w)
			}
			got = append(got, w)
			total += used
		}
		for {
			n, err := lr.fill()
			for {
				line, used, tooLong, ok := lr.next()
				if !ok {
					break
				}
				check(line, used, tooLong)
			}
			if n == 0 && err != nil {
				break
			}
		}
		if line, used, tooLong, ok := lr.tail(); ok {
			check(line, used, tooLong)
		}
		if len(got) != len(want) || total != len(data) {
			t.Fatalf("%d lines, %d bytes; want %d lines, %d bytes", len(got), total, len(want), len(data))
		}
	})
}
