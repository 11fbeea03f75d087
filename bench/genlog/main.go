// Command genlog writes a synthetic kern.log of darknet traffic for the
// whole-program benchmarks (bench/import.sh): iptables LOG lines in classic
// syslog form with a realistic mix of TCP SYN probes, backscatter, UDP and
// ICMP from a configurable number of sources over a time span. It only writes
// text; it sends nothing.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

func main() {
	n := flag.Int("n", 1_000_000, "lines to write")
	sources := flag.Int("sources", 100_000, "distinct source addresses")
	span := flag.Duration("span", 24*time.Hour, "time the lines cover")
	start := flag.String("start", "2026-11-01T00:00:00Z", "time of the first line (RFC 3339)")
	out := flag.String("o", "-", "output file")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	t0, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(2)
	}
	f := os.Stdout
	if *out != "-" {
		if f, err = os.Create(*out); err != nil {
			fmt.Fprintln(os.Stderr, "genlog:", err)
			os.Exit(1)
		}
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(*seed, 2))
	ports := []int{22, 23, 80, 443, 445, 3389, 8080, 2323, 5555, 6379, 1433, 3306, 5900, 8443, 81, 37215, 52869}
	step := *span / time.Duration(max(*n, 1))
	var b []byte
	for i := 0; i < *n; i++ {
		t := t0.Add(time.Duration(i) * step)
		s := uint32(r.IntN(*sources))
		src := fmt.Sprintf("%d.%d.%d.%d", 1+s>>24%223, s>>16&255, s>>8&255, s&255)
		dst := fmt.Sprintf("192.0.2.%d", r.IntN(256))
		b = b[:0]
		b = t.AppendFormat(b, time.Stamp)
		b = fmt.Appendf(b, " sensor%d kernel: [%d.%06d] darkscope: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=%s DST=%s ",
			r.IntN(3), 100000+i/1000, i%1000000, src, dst)
		ttl := 30 + r.IntN(220)
		id := r.IntN(65536)
		switch k := r.IntN(100); {
		case k < 75: // SYN probe
			b = fmt.Appendf(b, "LEN=44 TOS=0x00 PREC=0x00 TTL=%d ID=%d PROTO=TCP SPT=%d DPT=%d WINDOW=%d RES=0x00 SYN URGP=0 \n",
				ttl, id, 1024+r.IntN(64000), ports[r.IntN(len(ports))], []int{1024, 65535, 29200, 14600}[r.IntN(4)])
		case k < 83: // backscatter
			b = fmt.Appendf(b, "LEN=40 TOS=0x00 PREC=0x00 TTL=%d ID=%d DF PROTO=TCP SPT=%d DPT=%d WINDOW=0 RES=0x00 ACK RST URGP=0 \n",
				ttl, id, []int{80, 443, 53}[r.IntN(3)], 1024+r.IntN(64000))
		case k < 95:
			b = fmt.Appendf(b, "LEN=56 TOS=0x00 PREC=0x00 TTL=%d ID=%d PROTO=UDP SPT=%d DPT=%d LEN=36 \n",
				ttl, id, 1024+r.IntN(64000), []int{53, 123, 161, 1900, 5060, 11211}[r.IntN(6)])
		default:
			b = fmt.Appendf(b, "LEN=84 TOS=0x00 PREC=0x00 TTL=%d ID=%d PROTO=ICMP TYPE=8 CODE=0 ID=%d SEQ=%d \n",
				ttl, id, r.IntN(65536), r.IntN(100))
		}
		if _, err := w.Write(b); err != nil {
			fmt.Fprintln(os.Stderr, "genlog:", err)
			os.Exit(1)
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
	if f != os.Stdout {
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "genlog:", err)
			os.Exit(1)
		}
	}
}
