package decode

import (
	"errors"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/event"
)

// klCPU returns the CPU time (user+system) this process has used. The
// benchmarks report lines per CPU-second beside lines per wall-second: on a
// machine shared with other jobs the wall clock overstates the cost.
func klCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func klReport(b *testing.B, n int, cpu0 time.Duration) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
	if cpu := klCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "lines/cpu-s")
	}
}

// klBenchLines loads a captured testdata file for the benchmarks.
func klBenchLines(b *testing.B, name string) [][]byte {
	b.Helper()
	lines := klReadLines(b, filepath.Join("testdata", "kernlog", name))
	if len(lines) == 0 {
		b.Fatalf("%s is empty", name)
	}
	return lines
}

func klBenchParseLine(b *testing.B, name string) {
	lines := klBenchLines(b, name)
	p := klNewTestParser(b, klTestNow(b, filepath.Join("testdata", "kernlog")))
	var e event.Event
	var bytes int64
	for _, l := range lines {
		bytes += int64(len(l)) + 1
	}
	n := 0
	b.ReportAllocs()
	cpu0 := klCPU()
	b.SetBytes(bytes / int64(len(lines)))
	for b.Loop() {
		if err := p.ParseLine(lines[n%len(lines)], &e); err != nil && !errors.Is(err, ErrNotFirewall) {
			b.Fatal(err)
		}
		n++
	}
	klReport(b, n, cpu0)
}

// BenchmarkParseLineSyslog parses the real captured lines (all variants: LOG
// with every option, nft flags all, IPv6, ICMP errors, fragments) in classic
// syslog form with the [uptime] stamp.
func BenchmarkParseLineSyslog(b *testing.B) { klBenchParseLine(b, "syslog.log") }

// BenchmarkParseLineRFC3339 is the same messages behind an RFC 3339 stamp.
func BenchmarkParseLineRFC3339(b *testing.B) { klBenchParseLine(b, "rfc3339.log") }

// BenchmarkParseLineTCPAllOptions is the common darknet line: an IPv4 TCP SYN
// logged by iptables LOG with every option.
func BenchmarkParseLineTCPAllOptions(b *testing.B) {
	line := []byte("Nov 23 10:35:56 dscap-sensor kernel: [  871.508799] dscap4 tcp all: IN=dsk20342s OUT= MAC=a6:5a:eb:d8:12:e1:22:3e:e3:33:48:97:08:00 SRC=10.99.77.2 DST=10.99.77.1 LEN=44 TOS=0x00 PREC=0x00 TTL=42 ID=27267 PROTO=TCP SPT=56602 DPT=80 SEQ=3750233371 ACK=0 WINDOW=1024 RES=0x00 SYN URGP=0 OPT (020405B4) ")
	p := klNewTestParser(b, klTestNow(b, filepath.Join("testdata", "kernlog")))
	var e event.Event
	b.ReportAllocs()
	cpu0 := klCPU()
	b.SetBytes(int64(len(line)))
	n := 0
	for b.Loop() {
		if err := p.ParseLine(line, &e); err != nil {
			b.Fatal(err)
		}
		n++
	}
	klReport(b, n, cpu0)
}

// BenchmarkParseKmsg parses the captured /dev/kmsg records.
func BenchmarkParseKmsg(b *testing.B) {
	lines := klBenchLines(b, "kmsg.log")
	p := klNewTestParser(b, klTestNow(b, filepath.Join("testdata", "kernlog")))
	var e event.Event
	b.ReportAllocs()
	cpu0 := klCPU()
	n := 0
	for b.Loop() {
		if _, _, err := p.ParseKmsg(lines[n%len(lines)], &e); err != nil && !errors.Is(err, ErrNotFirewall) {
			b.Fatal(err)
		}
		n++
	}
	klReport(b, n, cpu0)
}

// BenchmarkParseLineEverySecond parses classic syslog lines whose stamps
// advance by one second per line (a busy darknet's kern.log), so the
// parser's cache of the last stamp never hits, with the wall clock as the
// year reference as in production.
func BenchmarkParseLineEverySecond(b *testing.B) {
	const n = 1 << 16
	lines := make([][]byte, n)
	day := time.Date(2000, time.October, 22, 0, 0, 0, 0, time.UTC)
	for i := range lines {
		ts := day.Add(time.Duration(i) * time.Second).Format(time.Stamp)
		lines[i] = []byte(ts + " sensor1 kernel: [100000.000001] darkscope: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=1.2." +
			strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + " DST=192.0.2.239 LEN=44 TOS=0x00 PREC=0x00 TTL=237 ID=7837 PROTO=TCP SPT=51172 DPT=5900 WINDOW=29200 RES=0x00 SYN URGP=0 ")
	}
	p, err := NewKernLogParser(KernLogConfig{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	var e event.Event
	b.ReportAllocs()
	cpu0 := klCPU()
	i := 0
	for b.Loop() {
		if err := p.ParseLine(lines[i%n], &e); err != nil {
			b.Fatal(err)
		}
		i++
	}
	klReport(b, i, cpu0)
}
