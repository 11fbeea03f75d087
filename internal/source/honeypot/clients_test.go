package honeypot

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/nstest"
)

func readList(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// requirePython fails under CI (skips elsewhere) when Debian's python3-paramiko is missing.
func requirePython(t *testing.T) {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import paramiko").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("needs python3-paramiko (apt), which CI must provide: %v", err)
		}
		t.Skip("needs python3-paramiko")
	}
}

// tsharkStream is what the capture says about one TCP connection.
type tsharkStream struct {
	hassh    string
	requests int // client packets after NEWKEYS that the server answered, minus SERVICE_REQUEST
}

// captureStreams reads pcap with tshark and, per client port, returns the
// client HASSH and the number of answered client requests: after the client's
// NEWKEYS every client packet is encrypted; the first is SERVICE_REQUEST, each
// USERAUTH_REQUEST (and keyboard-interactive INFO_RESPONSE) gets exactly one
// server packet back, and a final client DISCONNECT gets none.
func captureStreams(t *testing.T, pcap, port string) map[uint16]*tsharkStream {
	t.Helper()
	out, err := exec.Command("tshark", "-r", pcap, "-d", "tcp.port=="+port+",ssh", "-T", "fields",
		"-E", "separator=|", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.len",
		"-e", "ssh.message_code", "-e", "ssh.kex.hassh").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	type state struct {
		newkeys bool
		seenSvc bool
		pending bool
		s       *tsharkStream
	}
	res := map[uint16]*tsharkStream{}
	st := map[uint16]*state{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) < 5 || f[2] == "0" {
			continue
		}
		sp, _ := strconv.Atoi(f[0])
		dp, _ := strconv.Atoi(f[1])
		fromClient := strconv.Itoa(dp) == port
		cport := uint16(sp)
		if !fromClient {
			cport = uint16(dp)
		}
		s := st[cport]
		if s == nil {
			s = &state{s: &tsharkStream{}}
			st[cport] = s
			res[cport] = s.s
		}
		codes := f[3]
		if fromClient {
			if f[4] != "" {
				s.s.hassh = f[4]
			}
			if s.newkeys { // an encrypted client packet (tshark may still print a bogus message code)
				if !s.seenSvc {
					s.seenSvc = true
				} else {
					s.pending = true
				}
			}
			for _, c := range strings.Split(codes, ",") {
				if c == "21" {
					s.newkeys = true
				}
			}
		} else if s.pending {
			s.s.requests++
			s.pending = false
		}
	}
	return res
}

// TestRealClientsAgainstTshark brute-forces the honeypot with OpenSSH (via
// sshpass), paramiko, hydra (libssh), medusa (libssh2) and the Go client while
// tshark captures loopback; every connection's HASSH must equal tshark's
// ssh.kex.hassh and its recorded requests the answered requests in the capture.
func TestRealClientsAgainstTshark(t *testing.T) {
	nstest.Require(t, "tshark", "sshpass", "ssh", "hydra", "medusa")
	requirePython(t)
	words := readList(t, "testdata/words.txt")
	users := readList(t, "testdata/users.txt")
	h := startHoneypot(t, Config{})
	port := h.addr[strings.LastIndexByte(h.addr, ':')+1:]
	pcap, stopCapture := startCapture(t, port)
	run := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() != 0 && name == "sshpass" {
			err = nil // sshpass exits 5 on a wrong password: expected
		}
		if err != nil {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
	sshOpts := []string{"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "PubkeyAuthentication=no", "-o", "ConnectTimeout=10", "-p", port}
	// OpenSSH: one connection per password (sshpass gives up after one wrong
	// password), and one keyboard-interactive connection.
	for _, w := range words[:3] {
		run("sshpass", append([]string{"-p", w, "ssh", "-o", "PreferredAuthentications=password"}, append(sshOpts, "root@127.0.0.1", "true")...)...)
	}
	run("sshpass", append([]string{"-p", "kbd-secret", "ssh", "-o", "PreferredAuthentications=keyboard-interactive"}, append(sshOpts, "admin@127.0.0.1", "true")...)...)
	// paramiko: one connection per password.
	script := `
import sys, paramiko
for pw in sys.argv[3:]:
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        c.connect("127.0.0.1", port=int(sys.argv[1]), username=sys.argv[2], password=pw, look_for_keys=False, allow_agent=False, timeout=10)
        sys.exit("granted")
    except paramiko.AuthenticationException:
        pass
    finally:
        c.close()
`
	run("/usr/bin/python3", append([]string{"-c", script, port, "admin"}, words[:4]...)...)
	run("hydra", "-L", "testdata/users.txt", "-P", "testdata/words.txt", "-s", port, "-t", "4", "-I", "-w", "10", "ssh://127.0.0.1")
	run("medusa", "-h", "127.0.0.1", "-n", port, "-U", "testdata/users.txt", "-P", "testdata/words.txt", "-M", "ssh", "-t", "2")
	for _, u := range users {
		if err := goAttempt(h.addr, u, words); err != nil {
			t.Error(err)
		}
	}
	stopCapture()
	if *updateKexinit {
		writeKexinitGolden(t, pcap, port)
	}
	h.stop(t)

	type sess struct {
		version, hassh string
		requests       int
		pairs          map[string]int
	}
	ours := map[uint16]*sess{}
	for _, e := range h.evs {
		a := e.Auth
		s := ours[e.SrcPort]
		if s == nil {
			s = &sess{pairs: map[string]int{}}
			ours[e.SrcPort] = s
		}
		s.version, s.hassh = a.ClientVersion, a.HASSH
		switch a.Kind {
		case event.AuthConnectionEnd:
		case event.AuthKeyboardInteractive:
			s.requests++ // the request, answered by INFO_REQUEST
			if !a.Unanswered {
				s.requests++ // the INFO_RESPONSE, answered by FAILURE
				s.pairs[a.User+":"+a.Secret]++
			}
		case event.AuthPassword:
			s.requests++
			s.pairs[a.User+":"+a.Secret]++
		default:
			s.requests++
		}
	}
	ts := captureStreams(t, pcap, port)
	byClient := map[string]map[string]int{}
	for p, want := range ts {
		got := ours[p]
		if got == nil {
			t.Errorf("client port %d in capture (hassh %s), no session recorded", p, want.hassh)
			continue
		}
		if want.hassh == "" || got.hassh != want.hassh {
			t.Errorf("port %d %s: HASSH %q, tshark %q", p, got.version, got.hassh, want.hassh)
		}
		if got.requests != want.requests {
			t.Errorf("port %d %s: %d requests recorded, tshark shows %d", p, got.version, got.requests, want.requests)
		}
		name := strings.SplitN(strings.TrimPrefix(got.version, "SSH-2.0-"), "_", 2)[0]
		if byClient[name] == nil {
			byClient[name] = map[string]int{}
		}
		for k, v := range got.pairs {
			byClient[name][k] += v
		}
	}
	if len(ts) != len(ours) {
		t.Errorf("%d connections captured, %d recorded", len(ts), len(ours))
	}
	cross := func(us, ws []string) []string {
		var out []string
		for _, u := range us {
			for _, w := range ws {
				out = append(out, u+":"+w)
			}
		}
		return out
	}
	expect := map[string][]string{
		"OpenSSH":  append(cross([]string{"root"}, words[:3]), "admin:kbd-secret"),
		"paramiko": cross([]string{"admin"}, words[:4]),
		"libssh":   cross(users, words),
		"MEDUSA":   cross(users, words),
		"Go":       cross(users, words),
	}
	for client, pairs := range expect {
		got := byClient[client]
		for _, p := range pairs {
			if got[p] == 0 {
				t.Errorf("%s: attempt %q not recorded", client, p)
			}
		}
		if len(got) != len(pairs) {
			t.Errorf("%s: %d distinct pairs recorded, want %d: %v", client, len(got), len(pairs), got)
		}
		t.Logf("%s: %d distinct pairs", client, len(got))
	}
}
