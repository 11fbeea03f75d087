//go:build ignore

// mkv1 writes testdata/v1, a data directory in day-file schema version 1
// (before the Auth/Alert payload columns), for TestV1DataDirMigrates. It
// must run against darkscope's store at a version-1 commit, e.g.:
//
//	git worktree add /tmp/v1 98ea216   # or any commit with event.SchemaVersion == 1
//	cp internal/store/testdata/mkv1.go /tmp/v1/internal/store/testdata/
//	cd /tmp/v1 && go run ./internal/store/testdata/mkv1.go -dir $OLDPWD/internal/store/testdata/v1
//
// The events are v1Events in store's v1_test.go; keep both lists equal.
package main

import (
	"context"
	"flag"
	"log"
	"net/netip"
	"time"

	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/store"
)

func main() {
	dir := flag.String("dir", "", "data directory to create")
	flag.Parse()
	if event.SchemaVersion != 1 {
		log.Fatalf("run this against a schema version 1 checkout (this one is %d)", event.SchemaVersion)
	}
	ctx := context.Background()
	s, err := store.Open(ctx, *dir, store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	var evs []event.Event
	for i := range 5 {
		evs = append(evs, event.Event{
			Time: time.Date(2026, 1, 1, 10, i, 0, 0, time.UTC), Kind: event.KindPacket,
			Sensor: "v1", Source: "kmsg", Prefix: "DARK ", IPVersion: 4,
			Src:   netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)}),
			Dst:   netip.AddrFrom4([4]byte{198, 51, 100, 7}),
			Proto: event.ProtoTCP, SrcPort: uint16(40000 + i), DstPort: 22, TTL: 64, Flags: event.TCPFlags(2),
		})
	}
	if err := s.Append(ctx, evs, nil); err != nil {
		log.Fatal(err)
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
}
