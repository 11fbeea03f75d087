// Package respond is the last stage of the flow: a sink that turns
// detection verdicts (alert events) into kernel action — auto-block into
// the block sets of table inet darkscope and, in native redirect mode,
// redirection of SSH scanners to the honeypot — with every safety a
// spoofable input needs: off by default, a minimum danger level, an
// allowlist (configured, the host's own addresses and gateways, the kernel
// allow sets) that is never touched, no action on DoS victims (backscatter)
// or known research scanners, caps, per-element timeouts and a dry run.
//
// What it did is kept in a state file in the data directory, so a restart
// after kill -9 puts back any element missing from the kernel with the time
// it had left, never more.
package respond

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/darkscope/darkscope/internal/enrich/tool"
	"github.com/darkscope/darkscope/internal/event"
	"github.com/darkscope/darkscope/internal/firewall"
)

// SetManager changes the kernel's run-time sets; *firewall.Sets is one.
type SetManager interface {
	Add(ctx context.Context, kind firewall.SetKind, p netip.Prefix, timeout time.Duration, comment string) error
	Del(ctx context.Context, kind firewall.SetKind, p netip.Prefix) error
	List(ctx context.Context, kind firewall.SetKind) ([]firewall.Element, error)
}

// Counters count what the Responder decided, per alert and action.
type Counters struct {
	Alerts        uint64 `json:"alerts"`         // alert events seen
	Blocked       uint64 `json:"blocked"`        // prefixes added to a block set
	Redirected    uint64 `json:"redirected"`     // prefixes added to a redirect set
	WouldBlock    uint64 `json:"would_block"`    // dry run: blocks not made
	WouldRedirect uint64 `json:"would_redirect"` // dry run: redirects not made
	BelowLevel    uint64 `json:"below_level"`    // alerts that asked for no action
	Imported      uint64 `json:"imported"`       // verdicts about imported packets, left alone (see WithImports)
	Backscatter   uint64 `json:"backscatter"`    // refused: the source is a DoS victim
	Benign        uint64 `json:"benign"`         // refused: a known research scanner
	Allowlisted   uint64 `json:"allowlisted"`    // refused: overlaps the allowlist
	Already       uint64 `json:"already"`        // the prefix was already blocked or redirected
	Capped        uint64 `json:"capped"`         // refused: the cap on active entries was reached
	Errors        uint64 `json:"errors"`         // kernel or state file failures
	Restored      uint64 `json:"restored"`       // elements put back by Restore
}

// Option configures a Responder.
type Option func(*Responder)

// WithClock sets the wall clock used for timeouts and the state file
// (default time.Now). Kernel timeouts are wall-clock time, not event time.
func WithClock(now func() time.Time) Option { return func(r *Responder) { r.now = now } }

// WithLocalNetNS discovers own addresses and gateways in the network
// namespace bound at path instead of the caller's (tests).
func WithLocalNetNS(path string) Option { return func(r *Responder) { r.nsPath = path } }

// WithLocalDiscovery replaces the discovery of own addresses and gateways.
func WithLocalDiscovery(f func() ([]netip.Prefix, error)) Option {
	return func(r *Responder) { r.discover = f }
}

// WithImports makes the Responder act on verdicts about imported packets
// (Alert.Origin set), for `darkscope import --respond`; by default they
// are counted as "imported" and left alone.
func WithImports() Option { return func(r *Responder) { r.imports = true } }

// Responder is a sink.Sink that acts on alert events.
type Responder struct {
	cfg      Config
	sets     SetManager
	state    *StateFile
	logger   *slog.Logger
	now      func() time.Time
	nsPath   string
	discover func() ([]netip.Prefix, error)
	benign   *tool.Benign
	static   []netip.Prefix // config allow entries
	tools    map[string]bool
	imports  bool

	mu         sync.Mutex
	dynamic    []netip.Prefix // own addresses, gateways, kernel allow set members
	dynamicAt  time.Time
	active     map[activeKey]time.Time // what the state file holds (not dry run): expiry, zero = none
	dryActive  map[activeKey]time.Time
	manual     map[activeKey]time.Time // manual entries seen in the state file: "already", not counted by the cap
	counters   Counters
	lastErrLog time.Time
}

type activeKey struct {
	kind firewall.SetKind
	p    netip.Prefix
}

// New returns a Responder. sets may be nil only when neither block nor
// redirect is enabled or DryRun is set. New reads the automatic allowlist
// once (an error here is fatal: acting without it could block the host's
// own gateway) and the state file, but changes nothing in the kernel; call
// Restore at start.
func New(cfg Config, sets SetManager, statePath string, logger *slog.Logger, opts ...Option) (*Responder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st, err := NewStateFile(statePath)
	if err != nil {
		return nil, err
	}
	static, err := parseAllow(cfg.Allow)
	if err != nil {
		return nil, err
	}
	benign, err := tool.DefaultBenign()
	if err != nil {
		return nil, fmt.Errorf("benign scanner list: %w", err)
	}
	r := &Responder{
		cfg: cfg, sets: sets, state: st, logger: logger, now: time.Now, benign: benign, static: static,
		tools: map[string]bool{}, active: map[activeKey]time.Time{}, dryActive: map[activeKey]time.Time{}, manual: map[activeKey]time.Time{},
	}
	for _, t := range cfg.Redirect.Tools {
		r.tools[strings.ToLower(t)] = true
	}
	for _, o := range opts {
		o(r)
	}
	if r.discover == nil {
		ns := r.nsPath
		r.discover = func() ([]netip.Prefix, error) { return discoverLocal(ns) }
	}
	if sets == nil && (cfg.Block.Enabled || cfg.Redirect.Enabled) && !cfg.DryRun {
		return nil, errors.New("respond: block or redirect enabled without nftables sets")
	}
	if cfg.Block.Enabled || cfg.Redirect.Enabled {
		if err := r.refreshAllow(context.Background(), true); err != nil {
			return nil, err
		}
	}
	s, err := st.Load()
	if err != nil {
		return nil, err
	}
	now := r.now()
	for _, e := range s.Entries {
		// Manual entries (block add) do not count against the caps; a
		// verdict about one of them finds it when it updates the file.
		if k, err := firewall.ParseSetKind(e.Kind); err == nil && e.Active(now) && !e.Manual {
			r.activeMap(e.DryRun)[activeKey{k, e.Prefix}] = e.Expires
		}
	}
	logger.Info("responder ready", "block", cfg.Block.Enabled, "redirect", cfg.Redirect.Enabled, "dry_run", cfg.DryRun,
		"block_min_level", cfg.Block.MinLevel, "redirect_min_level", cfg.Redirect.MinLevel, "state", st.Path(),
		"allow_static", len(static), "allow_auto", len(r.dynamic))
	return r, nil
}

func (r *Responder) activeMap(dry bool) map[activeKey]time.Time {
	if dry {
		return r.dryActive
	}
	return r.active
}

// Counters returns a copy of the counters.
func (r *Responder) Counters() Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counters
}

// refreshAllow reads own addresses, gateways and the kernel allow sets
// again when due (or when force is set). Errors keep the previous list.
func (r *Responder) refreshAllow(ctx context.Context, force bool) error {
	now := r.now()
	if !force && now.Sub(r.dynamicAt) < r.cfg.AllowRefresh {
		return nil
	}
	r.dynamicAt = now
	local, err := r.discover()
	if err != nil {
		return fmt.Errorf("respond: discover own addresses and gateways for the allowlist: %w", err)
	}
	if r.sets != nil {
		els, err := r.sets.List(ctx, firewall.Allow)
		if err != nil && !r.cfg.DryRun {
			return fmt.Errorf("respond: read the kernel allow sets: %w", err)
		}
		for _, e := range els {
			local = append(local, e.Prefix)
		}
	}
	r.dynamic = local
	return nil
}

// allowed returns the allowlist entry p overlaps, if any.
func (r *Responder) allowed(p netip.Prefix) (netip.Prefix, bool) {
	for _, list := range [][]netip.Prefix{r.static, r.dynamic} {
		for _, a := range list {
			if a.Overlaps(p) {
				return a, true
			}
		}
	}
	return netip.Prefix{}, false
}

// target is the prefix an alert acts on: its Prefix (the /64 of an IPv6
// aggregate) or its source address.
func target(a *event.Alert) (netip.Prefix, error) {
	p := a.Prefix
	if !p.IsValid() {
		if !a.Src.IsValid() {
			return netip.Prefix{}, errors.New("alert without source")
		}
		p = netip.PrefixFrom(a.Src, a.Src.BitLen())
	}
	p, err := firewall.CheckElementPrefix(p.Masked())
	if err != nil {
		return netip.Prefix{}, err
	}
	// Only one host, or one IPv6 /64 aggregate: never a wider range.
	if (p.Addr().Is4() && p.Bits() != 32) || (p.Addr().Is6() && p.Bits() < 64) {
		return netip.Prefix{}, fmt.Errorf("alert prefix %s is wider than a host or an IPv6 /64", p)
	}
	return p, nil
}

// isBenign reports a known research scanner: on the embedded benign list,
// or tagged benign by the tool fingerprinter (an evidence item "benign: ORG").
func (r *Responder) isBenign(a *event.Alert, p netip.Prefix) (string, bool) {
	if e, ok := r.benign.Lookup(p.Addr()); ok {
		return e.Org, true
	}
	if a.Tool != nil {
		for _, ev := range a.Tool.Evidence {
			if strings.HasPrefix(strings.ToLower(ev), "benign") {
				return ev, true
			}
		}
	}
	return "", false
}

// probedPort reports whether the alert's cumulative or new TCP destination
// ports include port.
func probedPort(a *event.Alert, port int) bool {
	for _, m := range []map[string]string{a.DstPorts, a.NewDstPorts} {
		if inRanges(m["tcp"], port) {
			return true
		}
	}
	return false
}

// inRanges reports whether port is in a list such as "1-1024,3389".
func inRanges(list string, port int) bool {
	for part := range strings.SplitSeq(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		l, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		h := l
		if isRange {
			if h, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		if port >= l && port <= h {
			return true
		}
	}
	return false
}

// sshScanner reports a scanner-tool fingerprint that probed tcp/SSHPort.
func (r *Responder) sshScanner(a *event.Alert) (string, bool) {
	t := a.Tool
	if t == nil || t.Name == "" || t.Confidence < r.cfg.Redirect.MinConfidence || !probedPort(a, r.cfg.Redirect.SSHPort) {
		return "", false
	}
	name := strings.ToLower(t.Name)
	if len(r.tools) > 0 {
		if !r.tools[name] {
			return "", false
		}
	} else if name == tool.NameKernel {
		return "", false
	}
	return t.Name, true
}

// reason describes the verdict for logs, the state file and the element comment.
func reason(a *event.Alert) string {
	parts := []string{"level " + a.Level.String()}
	if a.Pattern != "" {
		parts = append(parts, a.Pattern)
	}
	if len(a.ScanTypes) > 0 {
		parts = append(parts, strings.Join(a.ScanTypes, " "))
	}
	if len(a.Signatures) > 0 {
		parts = append(parts, "sig "+strings.Join(a.Signatures, ", "))
	}
	if a.Tool != nil && a.Tool.Name != "" {
		parts = append(parts, "tool "+a.Tool.Name)
	}
	return strings.Join(parts, "; ")
}

// Write acts on the alert events of batch; other events are ignored.
// Refusals and kernel failures are counted and logged, never returned: a
// failing response must not stop capture. It returns ctx's error only.
func (r *Responder) Write(ctx context.Context, batch []event.Event) error {
	for i := range batch {
		e := &batch[i]
		if e.Kind != event.KindAlert || e.Alert == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r.Observe(ctx, e.Alert)
	}
	return nil
}

// Close implements sink.Sink; blocks stay in the kernel until they expire.
func (r *Responder) Close() error { return nil }

// Decision is what Observe did with one alert, per action.
type Decision struct {
	Prefix   netip.Prefix
	Block    Outcome
	Redirect Outcome
}

// Outcome of one action for one alert.
type Outcome string

// Outcomes.
const (
	OutcomeNone        Outcome = ""            // not asked for (disabled or below the threshold)
	OutcomeDone        Outcome = "done"        // added to the kernel set
	OutcomeDryRun      Outcome = "dry_run"     // would have been added
	OutcomeAlready     Outcome = "already"     // already in force
	OutcomeBackscatter Outcome = "backscatter" // refused: DoS victim
	OutcomeBenign      Outcome = "benign"      // refused: research scanner
	OutcomeAllowlisted Outcome = "allowlisted" // refused: allowlist
	OutcomeCapped      Outcome = "capped"      // refused: cap reached
	OutcomeError       Outcome = "error"       // kernel or state failure
)

// Observe acts on one alert and returns the decision.
func (r *Responder) Observe(ctx context.Context, a *event.Alert) Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counters.Alerts++
	var d Decision
	if a.Origin != "" && !r.imports {
		r.counters.Imported++
		return d
	}
	block := r.cfg.Block.Enabled && int(a.Level) >= r.cfg.Block.MinLevel
	redirect, why := false, ""
	if r.cfg.Redirect.Enabled {
		switch {
		case int(a.Level) >= r.cfg.Redirect.MinLevel:
			redirect, why = true, "level "+a.Level.String()
		default:
			if name, ok := r.sshScanner(a); ok {
				redirect, why = true, "ssh scanner "+name
			} else if r.cfg.Redirect.BareHits && probedPort(a, r.cfg.Redirect.SSHPort) {
				redirect, why = true, "probed tcp/"+strconv.Itoa(r.cfg.Redirect.SSHPort)
			}
		}
	}
	if !block && !redirect {
		r.counters.BelowLevel++
		return d
	}
	p, err := target(a)
	if err != nil {
		r.counters.Errors++
		r.logger.Warn("respond: alert without a usable source", "src", a.Src.String(), "err", err)
		return d
	}
	d.Prefix = p
	refuse := func(o Outcome) {
		if block {
			d.Block = o
		}
		if redirect {
			d.Redirect = o
		}
	}
	if a.Backscatter {
		r.counters.Backscatter++
		refuse(OutcomeBackscatter)
		r.logger.Debug("respond: backscatter source is a DoS victim, not acted on", "prefix", p.String())
		return d
	}
	if org, ok := r.isBenign(a, p); ok {
		r.counters.Benign++
		refuse(OutcomeBenign)
		r.logger.Debug("respond: known research scanner, not acted on", "prefix", p.String(), "benign", org)
		return d
	}
	if err := r.refreshAllow(ctx, false); err != nil {
		r.warn("respond: allowlist refresh failed; keeping the previous list", err)
	}
	if al, ok := r.allowed(p); ok {
		r.counters.Allowlisted++
		refuse(OutcomeAllowlisted)
		r.logger.Info("respond: allowlisted source not acted on", "prefix", p.String(), "allow", al.String(), "level", int(a.Level))
		return d
	}
	why0 := reason(a)
	if block {
		d.Block = r.act(ctx, firewall.Block, p, r.cfg.Block.Timeout, r.cfg.Block.Max, why0, int(a.Level))
	}
	if redirect {
		d.Redirect = r.act(ctx, firewall.Redirect, p, r.cfg.Redirect.Timeout, r.cfg.Redirect.Max, why+"; "+why0, int(a.Level))
	}
	return d
}

// warn logs err at most once a minute.
func (r *Responder) warn(msg string, err error) {
	r.counters.Errors++
	if now := r.now(); now.Sub(r.lastErrLog) >= time.Minute {
		r.lastErrLog = now
		r.logger.Warn(msg, "err", err, "errors", r.counters.Errors)
	}
}

// act adds p to the kind's set (or records the dry run) unless it is
// already in force or the cap is reached. Called with r.mu held.
func (r *Responder) act(ctx context.Context, kind firewall.SetKind, p netip.Prefix, timeout time.Duration, limit int, why string, level int) Outcome {
	now := r.now()
	dry := r.cfg.DryRun
	m := r.activeMap(dry)
	key := activeKey{kind, p}
	for _, known := range []map[activeKey]time.Time{m, r.manual} {
		if exp, ok := known[key]; ok && (exp.IsZero() || now.Before(exp)) {
			r.counters.Already++
			return OutcomeAlready
		}
	}
	n := 0
	for k, exp := range m {
		if !exp.IsZero() && !now.Before(exp) {
			delete(m, k)
			continue
		}
		if k.kind == kind {
			n++
		}
	}
	if n >= limit {
		r.counters.Capped++
		if r.counters.Capped == 1 || r.counters.Capped%1000 == 0 {
			r.logger.Warn("respond: cap reached, not acting", "set", kind.String(), "max", limit, "prefix", p.String(), "capped", r.counters.Capped)
		}
		return OutcomeCapped
	}
	entry := Entry{Kind: kind.String(), Prefix: p, Reason: why, Level: level, Added: now, Expires: now.Add(timeout), DryRun: dry}
	var existing Entry
	err := r.state.Update(func(s *State) error {
		s.Prune(now)
		if i := s.Find(kind, p, dry); i >= 0 {
			existing = s.Entries[i]
			return errAlready
		}
		if !dry {
			if err := r.sets.Add(ctx, kind, p, timeout, "darkscope: "+why); err != nil {
				return err
			}
		}
		s.Entries = append(s.Entries, entry)
		return nil
	})
	switch {
	case errors.Is(err, errAlready):
		r.counters.Already++
		if existing.Manual {
			// Remembered for a while only: `block del` may remove it.
			exp := now.Add(r.cfg.AllowRefresh)
			if !existing.Expires.IsZero() && existing.Expires.Before(exp) {
				exp = existing.Expires
			}
			r.manual[key] = exp
		} else {
			m[key] = existing.Expires
		}
		return OutcomeAlready
	case err != nil:
		r.warn("respond: "+kind.String()+" failed", fmt.Errorf("%s: %w", p, err))
		return OutcomeError
	}
	m[key] = entry.Expires
	if dry {
		if kind == firewall.Block {
			r.counters.WouldBlock++
		} else {
			r.counters.WouldRedirect++
		}
		r.logger.Info("respond: dry run, would "+kind.String(), "prefix", p.String(), "timeout", timeout, "reason", why)
		return OutcomeDryRun
	}
	if kind == firewall.Block {
		r.counters.Blocked++
	} else {
		r.counters.Redirected++
	}
	r.logger.Info("respond: "+kind.String()+" added", "prefix", p.String(), "timeout", timeout, "reason", why)
	return OutcomeDone
}

var errAlready = errors.New("already recorded")

// Restore puts back every recorded block and redirect that is still in
// force but missing from the kernel (after kill -9 and a reboot, or `nft
// flush`), with the time it has left — never its full timeout — and drops
// expired entries from the state file. Elements still in the kernel are
// left alone. It returns how many elements it added.
func (r *Responder) Restore(ctx context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sets == nil {
		return 0, nil
	}
	restored := 0
	var rerr error
	err := r.state.Update(func(s *State) error {
		now := r.now()
		s.Prune(now)
		restored, rerr = RestoreEntries(ctx, r.sets, s, now, r.logger)
		return nil // keep the pruned state even when some element failed
	})
	r.counters.Restored += uint64(restored)
	if err = errors.Join(err, rerr); err != nil {
		r.counters.Errors++
		return restored, fmt.Errorf("respond: restore: %w", err)
	}
	r.logger.Info("respond: state restored", "restored", restored, "state", r.state.Path())
	return restored, nil
}

// RestoreEntries adds the active, non-dry-run entries of s that the kernel
// sets lack, each with its remaining time (rounded down to the
// millisecond). It is shared by the daemon and the commands.
func RestoreEntries(ctx context.Context, sets SetManager, s *State, now time.Time, logger *slog.Logger) (int, error) {
	present := map[firewall.SetKind]map[netip.Prefix]bool{}
	restored := 0
	var errs []error
	for _, e := range s.Entries {
		if e.DryRun || !e.Active(now) {
			continue
		}
		kind, err := firewall.ParseSetKind(e.Kind)
		if err != nil {
			errs = append(errs, fmt.Errorf("state entry %s: %w", e.Prefix, err))
			continue
		}
		if present[kind] == nil {
			els, err := sets.List(ctx, kind)
			if err != nil {
				return restored, err
			}
			present[kind] = map[netip.Prefix]bool{}
			for _, el := range els {
				present[kind][el.Prefix] = true
			}
		}
		if present[kind][e.Prefix] {
			continue
		}
		left := e.Remaining(now).Truncate(time.Millisecond)
		if !e.Expires.IsZero() && left < time.Millisecond {
			continue
		}
		if err := sets.Add(ctx, kind, e.Prefix, left, "darkscope: "+e.Reason); err != nil {
			errs = append(errs, fmt.Errorf("restore %s %s: %w", kind, e.Prefix, err))
			continue
		}
		present[kind][e.Prefix] = true
		restored++
		logger.Info("respond: restored element", "set", kind.String(), "prefix", e.Prefix.String(), "timeout_left", left)
	}
	return restored, errors.Join(errs...)
}
