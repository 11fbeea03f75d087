package respond

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/darkscope/darkscope/internal/firewall"
)

// StateFileName is the state file's name in the data directory.
const StateFileName = "respond-state.json"

// StatePath returns the state file path in dataDir.
func StatePath(dataDir string) string { return filepath.Join(dataDir, StateFileName) }

// stateVersion is the format version written to the file.
const stateVersion = 1

// Entry is one block or redirect darkscope made (or, in dry-run, would have
// made), as recorded in the state file.
type Entry struct {
	Kind    string       `json:"kind"` // "block" or "redirect"
	Prefix  netip.Prefix `json:"prefix"`
	Reason  string       `json:"reason"`
	Level   int          `json:"level"` // danger level of the verdict (0 for manual entries)
	Added   time.Time    `json:"added"`
	Expires time.Time    `json:"expires,omitzero"` // zero: no timeout
	Manual  bool         `json:"manual,omitempty"` // added with `darkscope block|redirect add`
	DryRun  bool         `json:"dry_run,omitempty"`
}

// Active reports whether e has not expired at now.
func (e Entry) Active(now time.Time) bool { return e.Expires.IsZero() || now.Before(e.Expires) }

// Remaining is the time e has left at now (0 for no timeout).
func (e Entry) Remaining(now time.Time) time.Duration {
	if e.Expires.IsZero() {
		return 0
	}
	return e.Expires.Sub(now)
}

// State is the content of the state file.
type State struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

// Find returns the index of the entry of kind for exactly p, or -1.
func (s *State) Find(kind firewall.SetKind, p netip.Prefix, dryRun bool) int {
	return slices.IndexFunc(s.Entries, func(e Entry) bool {
		return e.Kind == kind.String() && e.Prefix == p && e.DryRun == dryRun
	})
}

// Prune drops entries that expired before now.
func (s *State) Prune(now time.Time) {
	s.Entries = slices.DeleteFunc(s.Entries, func(e Entry) bool { return !e.Active(now) })
}

// StateFile is the JSON file that keeps blocks and redirects across
// restarts (kill -9 included). Every change is a read-modify-write under an
// exclusive lock (flock on PATH.lock), so the daemon and the `block` and
// `redirect` commands can change it at the same time, and the file is
// replaced by an atomic rename after fsync.
type StateFile struct {
	path string
}

// NewStateFile returns the state file at path (created on first write).
func NewStateFile(path string) (*StateFile, error) {
	if path == "" {
		return nil, errors.New("respond state file: empty path")
	}
	return &StateFile{path: path}, nil
}

// Path is the file's path.
func (f *StateFile) Path() string { return f.path }

// Load reads the state (empty when the file does not exist yet).
func (f *StateFile) Load() (State, error) {
	var s State
	err := f.locked(func() error {
		var err error
		s, err = f.read()
		return err
	})
	return s, err
}

// Update reads the state, calls fn, and writes the result if fn returns nil.
func (f *StateFile) Update(fn func(*State) error) error {
	return f.locked(func() error {
		s, err := f.read()
		if err != nil {
			return err
		}
		if err := fn(&s); err != nil {
			return err
		}
		return f.write(s)
	})
}

func (f *StateFile) read() (State, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Version: stateVersion}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read respond state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("decode respond state %s: %w (move it away to start afresh; the kernel sets keep their elements)", f.path, err)
	}
	if s.Version != stateVersion {
		return State{}, fmt.Errorf("respond state %s: version %d, this darkscope reads %d", f.path, s.Version, stateVersion)
	}
	return s, nil
}

func (f *StateFile) write(s State) error {
	s.Version = stateVersion
	if s.Entries == nil {
		s.Entries = []Entry{}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode respond state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), filepath.Base(f.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write respond state: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write respond state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("sync respond state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write respond state: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("replace respond state: %w", err)
	}
	return syncDir(filepath.Dir(f.path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
