package respond

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/darkscope/darkscope/internal/firewall"
)

// AddManual adds p to the kind's kernel set with a timeout (0: none) and
// records it in the state file as a manual entry, so a restart puts it back
// like the automatic ones. Caps do not apply; the kernel allow sets still
// win over a manual block.
func AddManual(ctx context.Context, sets SetManager, f *StateFile, kind firewall.SetKind, p netip.Prefix, timeout time.Duration, why string, now time.Time) error {
	p, err := firewall.CheckElementPrefix(p)
	if err != nil {
		return err
	}
	if kind == firewall.Allow {
		return errors.New("the allow sets are not recorded in the respond state: use nft or the respond.allow config")
	}
	if why == "" {
		why = "manual"
	}
	e := Entry{Kind: kind.String(), Prefix: p, Reason: why, Added: now, Manual: true}
	if timeout > 0 {
		e.Expires = now.Add(timeout)
	}
	return f.Update(func(s *State) error {
		s.Prune(now)
		if err := sets.Add(ctx, kind, p, timeout, "darkscope: "+why); err != nil {
			return err
		}
		if i := s.Find(kind, p, false); i >= 0 {
			s.Entries[i] = e
		} else {
			s.Entries = append(s.Entries, e)
		}
		return nil
	})
}

// DelManual removes p from the kind's kernel set and from the state file.
// It fails only when p is in neither.
func DelManual(ctx context.Context, sets SetManager, f *StateFile, kind firewall.SetKind, p netip.Prefix, now time.Time) error {
	p, err := firewall.CheckElementPrefix(p)
	if err != nil {
		return err
	}
	return f.Update(func(s *State) error {
		s.Prune(now)
		kerr := sets.Del(ctx, kind, p)
		n := len(s.Entries)
		s.Entries = slices.DeleteFunc(s.Entries, func(e Entry) bool { return e.Kind == kind.String() && e.Prefix == p })
		if kerr != nil && n == len(s.Entries) {
			return kerr
		}
		return nil
	})
}

// Listed is one element of a kernel set joined with its state entry.
type Listed struct {
	Kind    string        `json:"kind"`
	Prefix  netip.Prefix  `json:"prefix"`
	Timeout time.Duration `json:"-"`
	Expires time.Duration `json:"-"`
	// TimeoutS and ExpiresS are Timeout and Expires in seconds, for JSON.
	TimeoutS float64   `json:"timeout_s"`
	ExpiresS float64   `json:"expires_s"`
	Comment  string    `json:"comment,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Level    int       `json:"level,omitempty"`
	Manual   bool      `json:"manual,omitempty"`
	Added    time.Time `json:"added,omitzero"`
	// InKernel is false for dry-run entries and for recorded entries the
	// kernel lost (Restore puts those back).
	InKernel bool `json:"in_kernel"`
	DryRun   bool `json:"dry_run,omitempty"`
}

// List returns the kind's kernel elements joined with the state file, plus
// recorded entries not in the kernel (dry run, or lost), sorted.
func List(ctx context.Context, sets SetManager, f *StateFile, kind firewall.SetKind, now time.Time) ([]Listed, error) {
	els, err := sets.List(ctx, kind)
	if err != nil {
		return nil, err
	}
	st, err := f.Load()
	if err != nil {
		return nil, err
	}
	st.Prune(now)
	var out []Listed
	seen := map[netip.Prefix]bool{}
	for _, el := range els {
		l := Listed{Kind: kind.String(), Prefix: el.Prefix, Timeout: el.Timeout, Expires: el.Expires, Comment: el.Comment, InKernel: true}
		if i := st.Find(kind, el.Prefix, false); i >= 0 {
			e := st.Entries[i]
			l.Reason, l.Level, l.Manual, l.Added = e.Reason, e.Level, e.Manual, e.Added
		}
		seen[el.Prefix] = true
		out = append(out, l)
	}
	for _, e := range st.Entries {
		if e.Kind != kind.String() || (!e.DryRun && seen[e.Prefix]) {
			continue
		}
		l := Listed{Kind: e.Kind, Prefix: e.Prefix, Expires: max(e.Remaining(now), 0), Reason: e.Reason,
			Level: e.Level, Manual: e.Manual, Added: e.Added, DryRun: e.DryRun}
		if !e.Expires.IsZero() {
			l.Timeout = e.Expires.Sub(e.Added)
		}
		out = append(out, l)
	}
	for i := range out {
		out[i].TimeoutS, out[i].ExpiresS = out[i].Timeout.Seconds(), out[i].Expires.Seconds()
	}
	slices.SortStableFunc(out, func(a, b Listed) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		if c := a.Prefix.Bits() - b.Prefix.Bits(); c != 0 {
			return c
		}
		return strings.Compare(fmt.Sprint(a.DryRun), fmt.Sprint(b.DryRun))
	})
	return out, nil
}
