package decode

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestKlFastHex checks the one-pass hex reader against its definition on
// edge cases and random inputs.
func TestKlFastHex(t *testing.T) {
	diffReaders(t, "RES=", klFastHex, klFastHexSlow, []uint64{0xff, 0xffff, 0xffffffff, 1<<64 - 1}, []string{
		"RES=0x00 ", "RES=0x ", "RES=0x", "RES=0X1f ", "RES=0xfF ", "RES=0x100 ", "RES=ff ", "RES=0 ", "RES= ",
		"RES=0x0x1 ", "RES=0xg ", "RES=00000000000000001 ", "RES=0x0000000000000001 ", "RES=0x00000000000000001 ",
		"RES=0xffffffffffffffff ", "RES=x1 ", "RES=0", "RES=", "R",
	}, "0123456789abcdefABCDEFxX0000 g", 22, 3)
}

// TestKlFastNum checks the one-pass number reader against its definition
// on edge cases and random inputs made of digits, spaces and other bytes.
func TestKlFastNum(t *testing.T) {
	diffReaders(t, "ID=", klFastNum, klFastNumSlow, []uint64{0xff, 0xffff, 0xfffff, 0xffffffff, 1<<64 - 1}, []string{
		"ID=0 ", "ID=65535 ", "ID=65536 ", "ID= ", "ID=12", "ID=12x ", "ID=", "I", "",
		"ID=000000000000000000001 ", "ID=00000000000000000001 ", "ID=4294967295 ", "ID=4294967296 ",
		"ID=18446744073709551615 ", "ID=18446744073709551616 ", "ID=99999999999999999999999 ", "XD=1 ", "ID=-1 ",
	}, "0123456789000999 x", 26, 1)
}

// diffReaders requires fast and slow to agree on every case and on 200k
// random inputs (key followed by up to maxLen bytes of alphabet), for each
// max and start offset.
func diffReaders(t *testing.T, key string, fast, slow func([]byte, int, string, uint64) (uint64, int, bool),
	maxes []uint64, cases []string, alphabet string, maxLen int, seed uint64) {
	t.Helper()
	check := func(s string) {
		for _, max := range maxes {
			for i := 0; i <= min(len(s), 2); i++ {
				x1, j1, ok1 := fast([]byte(s), i, key, max)
				x2, j2, ok2 := slow([]byte(s), i, key, max)
				if x1 != x2 || j1 != j2 || ok1 != ok2 {
					t.Fatalf("%q at %d max %#x: fast (%d, %d, %v), slow (%d, %d, %v)", s, i, max, x1, j1, ok1, x2, j2, ok2)
				}
			}
		}
	}
	for _, s := range cases {
		check(s)
	}
	r := rand.New(rand.NewPCG(seed, seed+1))
	for range 200_000 {
		b := []byte(key)
		for range r.IntN(maxLen) {
			b = append(b, alphabet[r.IntN(len(alphabet))])
		}
		check(string(b))
	}
}

// classicSecondsRef is classicSeconds' definition: the latest of the
// years around now's that is not more than a day ahead of now.
func classicSecondsRef(now time.Time, mo, d int, tod int64) (int64, bool) {
	limit := now.Unix() + 86400
	for y := now.UTC().Year() + 1; y >= now.UTC().Year()-1; y-- {
		t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
		if t.Day() != d {
			continue // no such day that year
		}
		if s := t.Unix() + tod; s <= limit {
			return s, true
		}
	}
	return 0, false
}

// TestClassicSecondsYear checks the year inference (with its day cache)
// against the definition for clocks around New Year and a leap day, with
// month/day/time in random order so the cache both hits and misses.
func TestClassicSecondsYear(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	clocks := []time.Time{
		time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 30, 0, 0, time.UTC),
		time.Date(2028, 2, 28, 12, 0, 0, 0, time.UTC), time.Date(2029, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC),
	}
	p, err := NewKernLogParser(KernLogConfig{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	for range 50_000 {
		now := clocks[r.IntN(len(clocks))]
		p.now = func() time.Time { return now }
		mo, d := 1+r.IntN(12), 1+r.IntN(31)
		if r.IntN(4) == 0 {
			mo, d = []int{12, 1, 2, 3}[r.IntN(4)], []int{1, 28, 29, 31}[r.IntN(4)]
		}
		tod := int64(r.IntN(86400))
		got, gotOK := p.classicSeconds(mo, d, tod)
		want, wantOK := classicSecondsRef(now, mo, d, tod)
		if got != want || gotOK != wantOK {
			t.Fatalf("now %v, %02d-%02d +%ds: got (%d, %v), want (%d, %v)", now, mo, d, tod, got, gotOK, want, wantOK)
		}
	}
}
