package detect

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/detect/signature"
	"github.com/darkscope/darkscope/internal/enrich/tool"
	"github.com/darkscope/darkscope/internal/event"
)

const memChildEnv = "DARKSCOPE_DETECT_MEM_CHILD"

// TestMemoryMillionSources runs a child test process that tracks 1,000,000
// distinct sources (plus 2,000 sources scanning 2,000 ports each, which
// turns their port sets into bitmaps) with the default configuration, and
// asserts from the child's VmHWM (peak resident set, /proc/self/status)
// that it stayed under 1 GB. A child is used so no other test's memory
// counts.
func TestMemoryMillionSources(t *testing.T) {
	if os.Getenv(memChildEnv) != "" {
		t.Skip("in the child")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Fatalf("VmHWM needs /proc: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), memChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var hwm, sources, heap int64 = -1, -1, -1
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "vmhwm_kb":
				hwm, _ = strconv.ParseInt(f[i+1], 10, 64)
			case "sources":
				sources, _ = strconv.ParseInt(f[i+1], 10, 64)
			case "heap_bytes":
				heap, _ = strconv.ParseInt(f[i+1], 10, 64)
			}
		}
	}
	if hwm < 0 || sources < 0 || heap < 0 {
		t.Fatalf("child printed no figures:\n%s", out)
	}
	t.Logf("1M sources: VmHWM %d MiB, %d sources tracked, live heap %d MiB (%d bytes a source)", hwm/1024, sources, heap>>20, heap/max(sources, 1))
	if sources < 1_000_000 {
		t.Errorf("tracked %d sources, want at least 1,000,000", sources)
	}
	if hwm*1024 >= 1<<30 && !raceBuild {
		t.Errorf("VmHWM %d MiB, want < 1 GiB", hwm/1024)
	}
}

func TestMemoryChild(t *testing.T) {
	if os.Getenv(memChildEnv) == "" {
		t.Skip("run by TestMemoryMillionSources")
	}
	// The annotators the daemon and import run: signatures and the
	// scanner-tool fingerprints, whose per-source state counts too.
	rules, err := signature.DefaultRules()
	if err != nil {
		t.Fatal(err)
	}
	tools, err := tool.New(tool.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(DefaultConfig(), nil, WithAnnotator(NewAnnotators(signature.New(rules), nil, tools)))
	if err != nil {
		t.Fatal(err)
	}
	emit := func(event.Event) {}
	var e event.Event
	e.Kind = event.KindPacket
	e.IPVersion, e.IHL, e.TotalLen, e.TTL = 4, 20, 44, 50
	e.Proto, e.Flags, e.Window = event.ProtoTCP, event.FlagSYN, 1024
	e.SetTCPOptions([]byte(optNmapMSS))
	e.Dst = netip.AddrFrom4([4]byte{192, 0, 2, 1})
	base := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	n := 0
	for i := 0; i < 1_000_000; i++ {
		v := uint32(0x0b000000 + i) // 11.0.0.0 onwards
		e.Src = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		e.DstPort = uint16(i % 1000)
		e.SrcPort = uint16(40000 + i%1000)
		e.Time = base.Add(time.Duration(n) * time.Microsecond)
		n++
		g.Observe(&e, emit)
	}
	for s := 0; s < 2000; s++ {
		e.Src = netip.AddrFrom4([4]byte{100, 64, byte(s >> 8), byte(s)})
		for p := 0; p < 2000; p++ {
			e.DstPort = uint16(p * 31)
			e.Time = base.Add(time.Duration(n) * time.Microsecond)
			n++
			g.Observe(&e, emit)
		}
	}
	st := g.Stats()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap := ms.HeapAlloc
	runtime.KeepAlive(g)
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(ln, "VmHWM:") {
			f := strings.Fields(ln)
			fmt.Printf("vmhwm_kb %s sources %d state_bytes %d evicted %d tool_states %d heap_bytes %d\n",
				f[1], st.Sources, st.StateBytes, st.Evicted, st.ToolStates, heap)
		}
	}
}
