//go:build ignore

// mkv3 writes testdata/v3, a data directory in day-file schema version 3
// (events packed, context strings as columns), and testdata/v3/events.gob,
// the events that store read back from it, for TestV3DataDirMigrates. It
// must run against darkscope's store at a version-3 commit, e.g.:
//
//	git worktree add /tmp/v3 9b5c511   # or any commit with event.SchemaVersion == 3
//	cp internal/store/testdata/mkv3.go /tmp/v3/internal/store/testdata/
//	cd /tmp/v3 && go run ./internal/store/testdata/mkv3.go -dir $OLDPWD/internal/store/testdata/v3 \
//	    $OLDPWD/internal/decode/testdata/kernlog/rfc3339.log $OLDPWD/internal/decode/testdata/kernlog/kmsg.log
//
// The events: every firewall line of the given kernel-log files (each file
// its own source and sensor), an alert and an auth event, in one day (a day file left in its WAL, as
// a small file).
package main

import (
	"bufio"
	"context"
	"encoding/gob"
	"flag"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/darkscope/darkscope/internal/decode"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/store"
)

func main() {
	dir := flag.String("dir", "", "data directory to create")
	flag.Parse()
	if event.SchemaVersion != 3 {
		log.Fatalf("run this against a schema version 3 checkout (this one is %d)", event.SchemaVersion)
	}
	ctx := context.Background()
	base := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
	var evs []event.Event
	for fi, path := range flag.Args() {
		p, err := decode.NewKernLogParser(decode.KernLogConfig{Sensor: "v3-" + filepath.Base(path)})
		if err != nil {
			log.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			log.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for n := 0; sc.Scan(); n++ {
			var e event.Event
			if err := p.ParseLine(sc.Bytes(), &e); err != nil {
				continue
			}
			// One day, one event per second, whatever the line's own time.
			e.Time = base.Add(time.Duration(fi)*6*time.Hour + time.Duration(n)*time.Second)
			e.Source = "file:" + filepath.Base(path)
			evs = append(evs, e)
		}
		f.Close()
	}
	src := netip.MustParseAddr("192.0.2.77")
	evs = append(evs,
		event.Event{Time: base.Add(time.Hour), Kind: event.KindAlert, Sensor: "v3", Source: "detect", IPVersion: 4, Src: src,
			Alert: &event.Alert{Src: src, Prefix: netip.PrefixFrom(src, 32), Level: 2, Pattern: "horizontal", ScanTypes: []string{"-sS"},
				Flags: []string{"SYN"}, Protocols: []string{"tcp"}, Signatures: []string{}, FirstSeen: base, LastSeen: base.Add(time.Minute),
				Packets: 20, NewPackets: 20, DstPorts: map[string]string{"tcp": "22"}, NewDstPorts: map[string]string{"tcp": "22"}, Destinations: 20,
				IntervalStart: base, IntervalEnd: base.Add(time.Hour)}},
		event.Event{Time: base.Add(2 * time.Hour), Kind: event.KindAuth, Sensor: "v3", Source: "honeypot", IPVersion: 4, Src: src,
			Dst: netip.MustParseAddr("198.51.100.1"), Proto: event.ProtoTCP, SrcPort: 40000, DstPort: 22,
			Auth: &event.Auth{Kind: event.AuthPassword, Session: 7, Attempt: 1, User: "root", Secret: "123456", ClientVersion: "SSH-2.0-Go"}},
	)
	s, err := store.Open(ctx, *dir, store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Append(ctx, evs, nil); err != nil {
		log.Fatal(err)
	}
	var back []event.Event
	if err := s.Events(ctx, store.NoFilter(), 0, func(e *event.Event) error {
		back = append(back, *e)
		return nil
	}); err != nil {
		log.Fatal(err)
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
	out, err := os.Create(filepath.Join(*dir, "events.gob"))
	if err != nil {
		log.Fatal(err)
	}
	if err := gob.NewEncoder(out).Encode(back); err != nil {
		log.Fatal(err)
	}
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
	log.Printf("%d events written, %d read back", len(evs), len(back))
}
