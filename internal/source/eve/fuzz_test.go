package eve

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/darkscope/darkscope/internal/event"
)

// FuzzParse feeds arbitrary lines to the parser and the matcher: no panic,
// every error is a *LineError, and a record has a valid source address and
// UTF-8 versions; a selected line fills the event consistently.
func FuzzParse(f *testing.F) {
	for _, l := range fixture(f) {
		f.Add(l)
	}
	f.Add([]byte(`{"event_type":"ssh","src_ip":"10.0.0.1","ssh":{"client":{"software_version":"libssh\u0000\udcff"}}}`))
	f.Add([]byte(`{"event_type":"ssh","src_ip":"::ffff:1.2.3.4","src_port":-1}`))
	f.Add([]byte(`{"ssh":1}`))
	f.Add([]byte("\xff\xfe\"ssh\""))
	m, err := NewMatcher(Config{Match: "^OpenSSH", Invert: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := Parse(line)
		var le *LineError
		if err != nil {
			if !errors.As(err, &le) || le.Reason == "" {
				t.Fatalf("error %v is not a LineError", err)
			}
			return
		}
		if !r.Src.IsValid() || r.Src.Is4In6() || r.Src.Zone() != "" {
			t.Fatalf("record source %v", r.Src)
		}
		if !utf8.ValidString(r.SoftwareVersion) || !utf8.ValidString(r.ProtoVersion) {
			t.Fatalf("versions not UTF-8: %q %q", r.SoftwareVersion, r.ProtoVersion)
		}
		var e event.Event
		if err := m.ParseLine(line, &e); err == nil {
			if e.Src != r.Src || e.Auth == nil || e.Auth.ClientVersion != r.SoftwareVersion {
				t.Fatalf("event %v/%v from record %+v", e.Src, e.Auth, r)
			}
			reason := reasonFor(FieldSoftwareVersion, e.Auth.ClientVersion)
			for i := 0; i < len(reason); i++ {
				if reason[i] < 0x20 || reason[i] > 0x7e {
					t.Fatalf("reason %q not printable", reason)
				}
			}
		} else if !errors.As(err, &le) {
			t.Fatalf("ParseLine error %v", err)
		}
	})
}
