package kmsg

import (
	"bytes"
	"strconv"
	"testing"
)

// FuzzParseHeader compares parseHeader with a plain split-based reading of
// "PRI,SEQ,USEC,FLAGS[,...];".
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("6,339,5140900,-;NET: Registered\n"))
	f.Add([]byte("4,1,2,c,caller=T1;x"))
	f.Add([]byte("4,,2,-;"))
	f.Fuzz(func(t *testing.T, rec []byte) {
		seq, usec, ok := parseHeader(rec)
		head, _, found := bytes.Cut(rec, []byte{';'})
		fields := bytes.Split(head, []byte{','})
		num := func(b []byte) (uint64, bool) {
			if len(b) == 0 || len(b) > 19 {
				return 0, false
			}
			for _, c := range b {
				if c < '0' || c > '9' {
					return 0, false
				}
			}
			v, err := strconv.ParseUint(string(b), 10, 64)
			return v, err == nil
		}
		wantOK := found && len(fields) >= 4
		var wseq, wusec uint64
		if wantOK {
			_, ok0 := num(fields[0])
			var ok1, ok2 bool
			wseq, ok1 = num(fields[1])
			wusec, ok2 = num(fields[2])
			wantOK = ok0 && ok1 && ok2
		}
		if ok != wantOK || (ok && (seq != wseq || usec != wusec)) {
			t.Fatalf("parseHeader(%q) = %d, %d, %v; want %d, %d, %v", rec, seq, usec, ok, wseq, wusec, wantOK)
		}
	})
}
