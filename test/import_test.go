package test

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A small kern.log: five firewall lines (iptables LOG, nftables log with
// macdecode, IPv6, ICMP error with its quoted packet, UDP), two lines of other
// programs and one firewall line with a broken source address.
const kernLog = `Nov 20 10:00:00 sensor1 kernel: [100.000001] darkscope: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.5 DST=192.0.2.10 LEN=44 TOS=0x00 PREC=0x00 TTL=241 ID=54321 PROTO=TCP SPT=40000 DPT=23 WINDOW=65535 RES=0x00 SYN URGP=0 
Nov 20 10:00:01 sensor1 kernel: [101.000001] darkscope: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.5 DST=192.0.2.11 LEN=44 TOS=0x00 PREC=0x00 TTL=241 ID=54321 PROTO=TCP SPT=40000 DPT=2323 WINDOW=65535 RES=0x00 SYN URGP=0 
Nov 20 10:00:02 sensor1 kernel: [102.000001] usb 1-1: new high-speed USB device number 2 using xhci_hcd
Nov 20 10:00:03 sensor2 kernel: [103.000001] darkscope: IN=eth0 OUT= SRC=2001:0db8:0000:0000:0000:0000:0000:0005 DST=2001:0db8:00ff:0000:0000:0000:0000:0001 LEN=60 TC=0 HOPLIMIT=57 FLOWLBL=12345 PROTO=TCP SPT=51000 DPT=445 WINDOW=1024 RES=0x00 SYN URGP=0 
Nov 20 10:00:04 sensor1 kernel: [104.000001] darkscope: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=198.51.100.7 DST=192.0.2.12 LEN=56 TOS=0x00 PREC=0x00 TTL=50 ID=1 PROTO=UDP SPT=5353 DPT=161 LEN=36 
Nov 20 10:00:05 sensor1 sshd[812]: Accepted publickey for admin from 192.0.2.200 port 50000 ssh2
Nov 20 10:00:06 sensor1 kernel: [106.000001] darkscope: IN=eth0 OUT= SRC=999.1.1.1 DST=192.0.2.10 LEN=44 TOS=0x00 PREC=0x00 TTL=241 ID=1 PROTO=TCP SPT=1 DPT=2 WINDOW=1 RES=0x00 SYN URGP=0 
Nov 20 10:00:07 sensor1 kernel: [107.000001] darkscope: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=192.0.2.99 DST=192.0.2.13 LEN=72 TOS=0x00 PREC=0xC0 TTL=64 ID=999 PROTO=ICMP TYPE=3 CODE=3 [SRC=192.0.2.13 DST=192.0.2.99 LEN=44 TOS=0x00 PREC=0x00 TTL=63 ID=4242 PROTO=UDP SPT=53 DPT=33333 LEN=24 ] 
`

func writeLog(t *testing.T, dir string) (plain, gz string) {
	t.Helper()
	plain = filepath.Join(dir, "kern.log")
	if err := os.WriteFile(plain, []byte(kernLog), 0o644); err != nil {
		t.Fatal(err)
	}
	gz = filepath.Join(dir, "kern.log.2.gz")
	f, err := os.Create(gz)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write([]byte(kernLog)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return plain, gz
}

// num reads a JSON number, or a number the daemon API rendered as text.
func num(m map[string]any, k string) float64 {
	switch v := m[k].(type) {
	case float64:
		return v
	case string:
		f, _ := strconv.ParseFloat(v, 64)
		return f
	}
	return 0
}

func TestImportReportsWithAndWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	plain, gz := writeLog(t, dir)

	sum := jsonLines(t, ds(t, false, "import", "--data", data, "--json", plain, gz))
	if len(sum) != 2 {
		t.Fatalf("import summary lines: %v", sum)
	}
	for _, s := range sum {
		if num(s, "received") != 8 || num(s, "stored") != 5 || num(s, "ignored") != 2 {
			t.Errorf("import summary %v: want received 8, stored 5, ignored 2, rejected 1", s)
		}
		rej, _ := s["rejected"].(map[string]any)
		var n float64
		for _, v := range rej {
			n += v.(float64)
		}
		if n != 1 {
			t.Errorf("rejected = %v, want 1", rej)
		}
	}
	rejected, err := os.ReadFile(filepath.Join(data, "rejected.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	rl := jsonLines(t, string(rejected))
	if len(rl) != 2 || num(rl[0], "line") != 7 || !strings.Contains(rl[0]["raw"].(string), "SRC=999.1.1.1") ||
		!strings.HasSuffix(rl[0]["source"].(string), "kern.log") {
		t.Errorf("rejected lines not kept with source and line number: %s", rejected)
	}

	reports := func(label string) map[string]string {
		out := map[string]string{}
		top := jsonLines(t, ds(t, false, "top", "sources", "--data", data, "--json"))
		if len(top) != 4 || top[0]["key"] != "203.0.113.5" || num(top[0], "count") != 4 {
			t.Errorf("%s: top sources = %v", label, top)
		}
		ports := jsonLines(t, ds(t, false, "top", "ports", "--data", data, "--json", "--proto", "tcp"))
		if len(ports) != 3 {
			t.Errorf("%s: top tcp ports = %v", label, ports)
		}
		ev := jsonLines(t, ds(t, false, "events", "--data", data, "--json", "--src", "2001:db8::/32"))
		if len(ev) != 2 || ev[0]["src_ip"] != "2001:db8::5" || num(ev[0], "dst_port") != 445 || num(ev[0], "src_port") != 51000 {
			t.Errorf("%s: ipv6 events = %v", label, ev)
		}
		icmp := jsonLines(t, ds(t, false, "events", "--data", data, "--json", "--proto", "icmp", "--limit", "1"))
		if len(icmp) != 1 || icmp[0]["dst_ip"] != "192.0.2.13" {
			t.Errorf("%s: icmp events = %v", label, icmp)
		}
		q := jsonLines(t, ds(t, false, "query", "--data", data, "--json", "SELECT count(*) AS n, count(DISTINCT src_ip) AS s FROM events"))
		if len(q) != 1 || num(q[0], "n") != 10 && q[0]["n"] != "10" {
			t.Errorf("%s: query = %v", label, q)
		}
		msg := ds(t, true, "query", "--data", data, "DELETE FROM events")
		if !strings.Contains(strings.ToLower(msg), "select") {
			t.Errorf("%s: non-SELECT query error does not explain: %s", label, msg)
		}
		h := jsonLines(t, ds(t, false, "histogram", "--data", data, "--json", "--by", "minute"))
		var total float64
		for _, b := range h {
			total += num(b, "count")
		}
		if total != 10 {
			t.Errorf("%s: histogram total %v: %v", label, total, h)
		}
		st := jsonLines(t, ds(t, false, "stats", "--data", data, "--json"))
		if len(st) != 1 {
			t.Fatalf("%s: stats = %v", label, st)
		}
		out["top"] = ds(t, false, "top", "sources", "--data", data)
		out["events"] = ds(t, false, "events", "--data", data, "--json")
		out["histogram"] = ds(t, false, "histogram", "--data", data, "--by", "day")
		out["query"] = ds(t, false, "query", "--data", data, "--json",
			"SELECT src_ip, count(*) AS n, min(time) AS first, max(ttl) AS ttl FROM events GROUP BY 1 ORDER BY 2 DESC, 1")
		out["query-table"] = ds(t, false, "query", "--data", data, "SELECT src_ip, dst_port, time FROM events ORDER BY time, src_ip")
		return out
	}
	without := reports("no daemon")

	follow := filepath.Join(dir, "follow.log")
	if err := os.WriteFile(follow, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stop := daemon(t, data, nil, "--follow", follow)
	with := reports("daemon")
	for k := range without {
		if without[k] != with[k] {
			t.Errorf("%s differs with the daemon:\nwithout:\n%s\nwith:\n%s", k, without[k], with[k])
		}
	}
	// Import through the daemon, and a line appended to the followed file.
	sum = jsonLines(t, ds(t, false, "import", "--data", data, "--json", plain))
	if len(sum) != 1 || num(sum[0], "stored") != 5 {
		t.Errorf("import through daemon: %v", sum)
	}
	stop()
	q := jsonLines(t, ds(t, false, "query", "--data", data, "--json", "SELECT count(*) AS n FROM events"))
	if len(q) != 1 || num(q[0], "n") != 15 && q[0]["n"] != "15" {
		t.Errorf("after daemon import: %v", q)
	}

	// export --format ulogd | import round-trips into a fresh store.
	exp := filepath.Join(dir, "export.ulogd.json")
	ds(t, false, "export", "--data", data, "--format", "ulogd", "-o", exp)
	data2 := filepath.Join(dir, "data2")
	sum = jsonLines(t, ds(t, false, "import", "--data", data2, "--json", exp))
	if len(sum) != 1 || num(sum[0], "stored") != 15 || num(sum[0], "received") != 15 {
		t.Errorf("re-import of ulogd export: %v", sum)
	}
	a := ds(t, false, "top", "sources", "--data", data)
	b := ds(t, false, "top", "sources", "--data", data2)
	if a != b {
		t.Errorf("top sources differ after ulogd round trip:\n%s\n%s", a, b)
	}
	ecs := jsonLines(t, ds(t, false, "export", "--data", data, "--format", "ecs", "--limit", "1"))
	if len(ecs) != 1 || ecs[0]["@timestamp"] == nil {
		t.Errorf("ecs export: %v", ecs)
	}
}

func TestActionableErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("data_dir: /tmp/x\nsources:\n  nflg: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := ds(t, true, "config", "check", "-c", bad); !strings.Contains(msg, "bad.yaml:3: unknown key \"nflg\"") {
		t.Errorf("unknown key error: %s", msg)
	}
	if out := ds(t, false, "config", "sample"); !strings.Contains(out, "data_dir:") {
		t.Errorf("sample: %s", out)
	}
	sample := filepath.Join(dir, "sample.yaml")
	if err := os.WriteFile(sample, []byte(ds(t, false, "config", "sample")), 0o644); err != nil {
		t.Fatal(err)
	}
	ds(t, false, "config", "check", "-c", sample)
	if msg := ds(t, true, "run", "--data", filepath.Join(dir, "d")); !strings.Contains(msg, "no sources") {
		t.Errorf("run without sources: %s", msg)
	}
	if msg := ds(t, true, "top", "sources", "--data", filepath.Join(dir, "empty")); msg == "" {
		t.Errorf("report on a missing data dir gave no error")
	}
	data := filepath.Join(dir, "data")
	plain, _ := writeLog(t, dir)
	ds(t, false, "import", "--data", data, plain)
	follow := filepath.Join(dir, "f.log")
	_ = os.WriteFile(follow, nil, 0o644)
	daemon(t, data, nil, "--follow", follow)
	if msg := ds(t, true, "run", "--data", data, "--follow", follow); !strings.Contains(msg, "in use") && !strings.Contains(msg, "another") {
		t.Errorf("second daemon on the same data dir: %s", msg)
	}
}
