package alert

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/darkscope/darkscope/internal/enrich/tool"
	"github.com/darkscope/darkscope/internal/nstest"
	"golang.org/x/sys/unix"
)

// nsDialer dials from inside the network namespace at path: the socket is
// created on a thread switched into the namespace, then the thread switches
// back. The connection stays in the namespace.
func nsDialer(t *testing.T, path string) DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer unix.Close(orig)
		target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		var d net.Dialer
		conn, derr := d.DialContext(ctx, network, address)
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: the runtime ends it with the goroutine.
			t.Errorf("setns back: %v", err)
			return conn, derr
		}
		runtime.UnlockOSThread()
		return conn, derr
	}
}

// dnsNS starts dnsmasq in a fresh namespace on 10.99.53.1:53 with PTR records
// for 10.99.0.7 and fd99::7, authoritative (NXDOMAIN) for the rest of the
// reverse zones; UDP and TCP port 5399 there are silently dropped (a dead
// resolver). It returns a client namespace (10.99.53.2) joined to it by a
// veth pair, which the test dials from, and a function that kills dnsmasq.
func dnsNS(t *testing.T) (*nstest.NS, func()) {
	t.Helper()
	nstest.Require(t, "dnsmasq", "nft")
	ns := nstest.New(t, "dns")
	client := nstest.New(t, "cli")
	nstest.Link(t, client, ns, "10.99.53.2/24", "10.99.53.1/24")
	ns.Nft(`table inet blackhole {
	chain input {
		type filter hook input priority 0; policy accept;
		meta l4proto { tcp, udp } th dport 5399 drop
	}
}`)
	cmd := ns.Start("dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--pid-file=", "--user=root", "--listen-address=10.99.53.1", "--bind-interfaces", "--port=53",
		"--local=/in-addr.arpa/", "--local=/ip6.arpa/", "--log-facility=-",
		"--local=/example.test/",
		"--ptr-record=7.0.99.10.in-addr.arpa,scanner.example.test",
		// A research scanner whose name resolves back (A and PTR), and a
		// liar whose PTR claims a research name that has no address.
		"--host-record=research1.scan.example.test,10.99.0.20",
		"--ptr-record=21.0.99.10.in-addr.arpa,liar.scan.example.test",
		"--ptr-record="+reverse6(netip.MustParseAddr("fd99::7"))+",v6scanner.example.test")
	// Wait until it answers.
	dial := nsDialer(t, client.Path())
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := NewResolver(RDNSConfig{Server: "10.99.53.1:53", Timeout: 500 * time.Millisecond, CacheMax: 1}, dial, nil)
		if name, err := r.Lookup(context.Background(), netip.MustParseAddr("10.99.0.7")); err == nil && name != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dnsmasq did not answer within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	return client, stop
}

// reverse6 is the ip6.arpa name of a.
func reverse6(a netip.Addr) string {
	b := a.As16()
	var parts []string
	for i := 15; i >= 0; i-- {
		parts = append(parts, string("0123456789abcdef"[b[i]&15]), string("0123456789abcdef"[b[i]>>4]))
	}
	return strings.Join(parts, ".") + ".ip6.arpa"
}

func TestReverseDNSResolver(t *testing.T) {
	ns, stop := dnsNS(t)
	dial := nsDialer(t, ns.Path())
	clk := newFakeClock()
	r, err := NewResolver(RDNSConfig{Server: "10.99.53.1:53", Timeout: time.Second, CacheTTL: 10 * time.Minute, CacheMax: 2}, dial, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lookup := func(addr string) (string, error) {
		t.Helper()
		return r.Lookup(ctx, netip.MustParseAddr(addr))
	}
	tests := []struct{ addr, want string }{
		{"10.99.0.7", "scanner.example.test"},
		{"fd99::7", "v6scanner.example.test"},
		{"::ffff:10.99.0.7", "scanner.example.test"}, // the same address: a cache hit
		{"10.99.0.8", ""},                            // NXDOMAIN: no name, not an error
	}
	for _, tt := range tests {
		got, err := lookup(tt.addr)
		if err != nil || got != tt.want {
			t.Errorf("Lookup(%s) = %q, %v; want %q", tt.addr, got, err, tt.want)
		}
	}
	// The cache holds 2: 10.99.0.7 was refreshed by the mapped lookup (a
	// cache hit), so 10.99.0.8 evicted fd99::7, the least recently used.
	c := r.Counters()
	if c.Lookups != 3 || c.CacheHit != 1 || c.NoName != 1 || c.Failed != 0 || r.Len() != 2 {
		t.Errorf("counters %+v len %d; want 3 lookups, 1 hit, 1 no-name", c, r.Len())
	}

	// The resolver dies: cached answers still come back until the TTL ends.
	stop()
	clk.Advance(9 * time.Minute)
	if got, err := lookup("10.99.0.7"); err != nil || got != "scanner.example.test" {
		t.Errorf("cached lookup after resolver died = %q, %v", got, err)
	}
	if got, err := lookup("fd99::7"); err == nil {
		t.Errorf("evicted entry answered %q without a resolver", got)
	}
	clk.Advance(2 * time.Minute)
	if got, err := lookup("10.99.0.7"); err == nil {
		t.Errorf("expired entry answered %q without a resolver", got)
	}
	c = r.Counters()
	if c.CacheHit != 2 || c.Failed != 2 {
		t.Errorf("counters after resolver died: %+v (want 2 hits, 2 failed)", c)
	}
	// Failures are not cached.
	if r.Len() != 1 {
		t.Errorf("cache holds %d entries, want 1 (10.99.0.8's no-name answer)", r.Len())
	}
}

func TestReverseDNSTimeout(t *testing.T) {
	ns, _ := dnsNS(t)
	r, err := NewResolver(RDNSConfig{Server: "10.99.53.1:5399", Timeout: 300 * time.Millisecond, CacheTTL: time.Hour, CacheMax: 10},
		nsDialer(t, ns.Path()), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	name, err := r.Lookup(context.Background(), netip.MustParseAddr("10.99.0.7"))
	el := time.Since(start)
	if err == nil {
		t.Fatalf("lookup against a silent resolver answered %q", name)
	}
	if el < 250*time.Millisecond || el > 2*time.Second {
		t.Errorf("lookup took %v, want about the 300ms timeout", el)
	}
	if c := r.Counters(); c.Failed != 1 || r.Len() != 0 {
		t.Errorf("counters %+v, cache %d", c, r.Len())
	}
}

func TestReverseDNSInAlerts(t *testing.T) {
	ns, _ := dnsNS(t)
	dial := nsDialer(t, ns.Path())

	// A working resolver: the name reaches the message.
	rec := &recorder{}
	s := newTestSink(t, Config{RDNS: RDNSConfig{Enabled: true, Server: "10.99.53.1:53"}}, WithDial(dial),
		WithDeliverer(ChannelConfig{Name: "r"}, rec))
	write(t, s, scanAlert("10.99.0.7", 3), scanAlert("10.99.0.8", 3), scanAlert("10.99.0.7", 4))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range rec.msgs {
		names = append(names, m.RDNS)
	}
	if strings.Join(names, ",") != "scanner.example.test,,scanner.example.test" {
		t.Errorf("rdns names %q", names)
	}
	if c := s.RDNS(); c.Lookups != 2 || c.CacheHit != 1 {
		t.Errorf("rdns counters %+v", c)
	}
	if l := rec.msgs[0].Line(); !strings.Contains(l, "10.99.0.7 (scanner.example.test)") {
		t.Errorf("line without rdns: %s", l)
	}
	if j := string(rec.msgs[0].AppendJSON(nil)); !strings.Contains(j, `"rdns":"scanner.example.test"`) {
		t.Errorf("json without rdns: %s", j)
	}

	// A silent resolver delays delivery, never Write.
	rec2 := &recorder{}
	s2 := newTestSink(t, Config{RDNS: RDNSConfig{Enabled: true, Server: "10.99.53.1:5399", Timeout: 300 * time.Millisecond}},
		WithDial(dial), WithDeliverer(ChannelConfig{Name: "r"}, rec2))
	start := time.Now()
	for i := range 3 {
		write(t, s2, scanAlert("10.99.1."+string(rune('1'+i)), 3))
	}
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Errorf("Write took %v with a silent resolver", el)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if c := s2.Counters()["r"]; c.Sent != 3 || s2.RDNS().Failed != 3 {
		t.Errorf("counters %+v rdns %+v: want 3 sent without names, 3 failed lookups", c, s2.RDNS())
	}
}

func TestBenignByConfirmedName(t *testing.T) {
	ns, _ := dnsNS(t)
	benign, err := tool.ParseBenign(strings.NewReader("rdns .scan.example.test Test-Research https://example.org/\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s := newTestSink(t, Config{RDNS: RDNSConfig{Enabled: true, Server: "10.99.53.1:53"}}, WithDial(nsDialer(t, ns.Path())),
		WithBenign(benign), WithDeliverer(ChannelConfig{Name: "r"}, rec))
	write(t, s, scanAlert("10.99.0.20", 3), scanAlert("10.99.0.21", 3), scanAlert("10.99.0.7", 3), scanAlert("10.99.0.20", 4))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range rec.msgs {
		got = append(got, m.Event.Alert.Src.String()+"="+m.RDNS)
	}
	if strings.Join(got, " ") != "10.99.0.21=liar.scan.example.test 10.99.0.7=scanner.example.test" {
		t.Errorf("delivered %q", got)
	}
	if c := s.Counters()["r"]; c.Sent != 2 || c.Benign != 2 {
		t.Errorf("counters %+v, want 2 sent, 2 benign", c)
	}
	// 10.99.0.20 twice (PTR and forward cached the second time) and .21, .7: 3 PTR lookups.
	if c := s.RDNS(); c.Lookups != 3 || c.CacheHit != 1 {
		t.Errorf("rdns counters %+v", c)
	}

	// include_benign delivers them with their names.
	rec2 := &recorder{}
	s2 := newTestSink(t, Config{IncludeBenign: true, RDNS: RDNSConfig{Enabled: true, Server: "10.99.53.1:53"}},
		WithDial(nsDialer(t, ns.Path())), WithBenign(benign), WithDeliverer(ChannelConfig{Name: "r"}, rec2))
	write(t, s2, scanAlert("10.99.0.20", 3))
	_ = s2.Close()
	if len(rec2.msgs) != 1 || rec2.msgs[0].RDNS != "research1.scan.example.test" {
		t.Errorf("include_benign: %v", rec2.sources())
	}
}
