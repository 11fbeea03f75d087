// Package store is darkscope's embedded database, the primary sink at the
// right edge of the flow: it appends typed events into DuckDB (one file per
// UTC day under DIR/events, so retention deletes whole files), keeps file
// offsets and source counters in DIR/state.duckdb, and answers the reports
// (top, histogram, events, stats) and read-only SQL the CLI and API offer.
//
// Only this package (and cmd) imports DuckDB, so everything else builds and
// tests without cgo.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/darkscope/darkscope/internal/event"
)

// Options configure Open.
type Options struct {
	// ReadOnly opens the files without writing (reports while no daemon runs).
	ReadOnly bool
	// MemoryLimit is DuckDB's memory_limit, e.g. "1GB"; "" keeps DuckDB's default (80% of RAM).
	MemoryLimit string
	// Threads is DuckDB's worker thread count; 0 keeps DuckDB's default (one per core).
	Threads int
	// CloseThreads, when above Threads, is the worker thread count a
	// writable store switches to for the work of Close (all-time rollup
	// rebuild, the last day's rollups, checkpoints), which nothing else
	// runs beside. It applies only while the configuration is unlocked:
	// the first Query locks it (see Query).
	CloseThreads int
	// Logger receives store events (attach, rollup refresh, retention); nil discards.
	Logger *slog.Logger
}

// InUseError reports a data directory held by another darkscope process.
type InUseError struct {
	Dir string
	PID int // 0 when unknown
}

func (e *InUseError) Error() string {
	who := "another darkscope process"
	if e.PID > 0 {
		who += " (pid " + strconv.Itoa(e.PID) + ")"
	}
	return fmt.Sprintf("data directory %s is in use by %s: use the running daemon's API (or stop it) instead of opening the database directly", e.Dir, who)
}

// ErrNoDatabase is returned by a read-only Open of a directory without a database.
var ErrNoDatabase = errors.New("no darkscope database")

// day is one attached events/YYYY-MM-DD.duckdb file.
type day struct {
	start  time.Time // 00:00 UTC
	alias  string    // dYYYYMMDD
	path   string
	events uint64  // rows in events
	rolled uint64  // rows covered by the rollup tables (== events when fresh)
	refs   uint32  // highest payload_ref stored (see payload.go)
	packed bool    // events in the packed layout (schema version 4, rare.go); else the version-2 columns
	dict   ctxDict // its ctx table (writable stores)
	// unflushed: rows were committed since the file's last checkpoint
	// (they sit in its WAL, which every later open would replay).
	unflushed bool
}

func (d *day) fresh() bool { return d.rolled == d.events }

// Store is an open data directory.
type Store struct {
	// viewsStale: the attached days changed since the views were built
	// (guarded by mu; see ensureViews).
	viewsStale bool
	dir        string
	opts       Options
	log        *slog.Logger
	lock       *dirLock
	conn       *duckdb.Connector
	db         *sql.DB
	wconn      *sql.Conn // the one connection that appends (nil when read-only)
	ins        inserter  // the write path's state (insert_udf.go)
	// pending is the batch being appended (read by the append functions);
	// payFn names the payload side tables' append functions.
	pending atomic.Pointer[pendingBatch]
	payFn   [2]string

	// now is the wall clock (retention); tests replace it.
	now func() time.Time
	// beforeCommit, when set, runs inside Append's transaction just before
	// COMMIT (tests use it to make a batch fail after its rows were written).
	beforeCommit func() error

	mu      sync.Mutex // serialises Append, Retain, attach/detach and rollup refresh
	days    map[string]*day
	lastDay string            // day of the latest append; its rollups are refreshed when writing moves on
	allDays map[string]uint64 // days (and their event counts) the all-time rollups in state were built from
	// deltaMax is how many events the day being written may have beyond its
	// rollups before a report refreshes them.
	deltaMax uint64
	offSeq   uint64
	closed   bool
	// cfgLocked: lock_configuration is set (see lockConfig).
	cfgLocked bool
	// partRows, when set (tests), replaces allPartRows.
	partRows uint64
	// beforeClose, when set (tests), runs in Close before its rollup work.
	beforeClose func()
	// fin is the day being finished in the background (finishDay), or nil.
	fin *finishing
	// runs and regroupBuf are Append's reusable split of a batch by day.
	runs       []dayRun
	regroupBuf []event.Event
	// ctxBuf is the ctx ids of the batch being appended (reused).
	ctxBuf []uint32
}

// walCheckpoint is the writer's checkpoint_threshold.
const walCheckpoint = "256MB"

var (
	dayFileRE     = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})\.duckdb$`)
	memoryLimitRE = regexp.MustCompile(`^\d+(\.\d+)?\s*[KMGT]i?B$`)
	lockPIDRE     = regexp.MustCompile(`PID (\d+)`)
)

// Open opens (creating when writable) the data directory dir. A writable
// Open takes the directory for itself: a second writer or reader gets an
// *InUseError. Read-only opens may run side by side while no writer runs.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open store: empty data directory")
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("open store: threads %d < 0", opts.Threads)
	}
	if opts.MemoryLimit != "" && !memoryLimitRE.MatchString(opts.MemoryLimit) {
		return nil, fmt.Errorf("open store: memory limit %q: want e.g. 512MB or 2GB", opts.MemoryLimit)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	dir = abs
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{dir: dir, opts: opts, log: logger, days: map[string]*day{}, now: time.Now, deltaMax: 1 << 20}

	if opts.ReadOnly {
		if _, err := os.Stat(filepath.Join(dir, stateName)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("open store %s read-only: %w here (start `darkscope run` or `darkscope import` first, or pass --data)", dir, ErrNoDatabase)
			}
			return nil, fmt.Errorf("open store %s: %w", dir, err)
		}
	} else if err := prepareDir(dir); err != nil {
		return nil, err
	}
	if s.lock, err = lockDir(dir, !opts.ReadOnly); err != nil {
		return nil, err
	}
	if err := s.open(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// prepareDir creates the directory tree and proves it writable.
func prepareDir(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, eventsDir), filepath.Join(dir, tmpDir)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return notWritable(dir, err)
		}
	}
	probe := filepath.Join(dir, ".write-test")
	f, err := os.OpenFile(probe, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return notWritable(dir, err)
	}
	f.Close()
	os.Remove(probe)
	return nil
}

func notWritable(dir string, err error) error {
	if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("data directory %s is not writable by uid %d: %w (fix its owner/permissions, run as the owning user, or pass --data DIR)", dir, os.Getuid(), err)
	}
	return fmt.Errorf("prepare data directory %s: %w", dir, err)
}

func (s *Store) open(ctx context.Context) error {
	dsn := "?autoinstall_known_extensions=false&autoload_known_extensions=false&enable_fsst_vectors=false"
	if !s.opts.ReadOnly {
		// DuckDB checkpoints a file whenever its WAL passes
		// checkpoint_threshold (16MB by default), and a checkpoint rewrites
		// the day's partly filled row group: with the default, every large
		// batch was written twice. Append checkpoints a day when writing
		// moves on from it; within a day, checkpoint every ~256MB of WAL.
		dsn += "&checkpoint_threshold=" + walCheckpoint
	}
	if s.opts.Threads > 0 {
		dsn += "&threads=" + strconv.Itoa(s.opts.Threads)
	}
	if s.opts.MemoryLimit != "" {
		dsn += "&memory_limit=" + strings.ReplaceAll(s.opts.MemoryLimit, " ", "")
	}
	c, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return fmt.Errorf("start duckdb: %w", err)
	}
	s.conn = c
	s.db = sql.OpenDB(c)

	if !s.opts.ReadOnly {
		if _, err := s.db.ExecContext(ctx, "SET temp_directory = "+sqlString(filepath.Join(s.dir, tmpDir))); err != nil {
			return fmt.Errorf("set temp_directory: %w", err)
		}
	}
	if err := s.attach(ctx, filepath.Join(s.dir, stateName), "state"); err != nil {
		return err
	}
	if !s.opts.ReadOnly {
		if err := migrate(ctx, s.db, "state", stateMigrations, nil); err != nil {
			return err
		}
	} else if v, err := schemaVersion(ctx, s.db, "state"); err != nil {
		return err
	} else if latest := stateMigrations[len(stateMigrations)-1].version; v != latest {
		return fmt.Errorf("open %s read-only: state schema version %d, this darkscope needs %d: open it once writable (darkscope run/import) to migrate", s.dir, v, latest)
	}
	names, err := os.ReadDir(filepath.Join(s.dir, eventsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("list %s: %w", filepath.Join(s.dir, eventsDir), err)
	}
	for _, n := range names {
		m := dayFileRE.FindStringSubmatch(n.Name())
		if m == nil {
			continue
		}
		t, err := time.Parse(dayLayout, m[1])
		if err != nil {
			continue
		}
		if _, err := s.attachDay(ctx, t); err != nil {
			return err
		}
	}
	// Confine file access to the data directory from here on (ATTACH of new
	// day files stays possible inside it). The configuration is frozen, so
	// query users cannot undo this, before the first query runs: here for a
	// read-only store, by Query for a writable one (whose Close may first
	// raise the thread count, see Options.CloseThreads).
	for _, st := range []string{
		"SET allowed_directories = [" + sqlString(s.dir+"/") + "]",
		"SET enable_external_access = false",
	} {
		if _, err := s.db.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("%s: %w", st, err)
		}
	}
	if s.opts.ReadOnly {
		if err := s.lockConfig(ctx); err != nil {
			return err
		}
	}
	for _, m := range macros {
		if _, err := s.db.ExecContext(ctx, m); err != nil {
			return fmt.Errorf("create macro %s: %w", firstLine(m), err)
		}
	}
	// Empty tables shaped like a day file's, the first part of the views.
	for _, st := range []string{"CREATE SCHEMA IF NOT EXISTS memory.empty", eventsDDL("memory.empty.events", true),
		sideDDL("memory.empty.auth", authColumns), sideDDL("memory.empty.alerts", alertColumns)} {
		if _, err := s.db.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("create empty events tables: %w", err)
		}
	}
	s.viewsStale = true // built by the first Query (ensureViews): reports do not need them
	if err := s.loadOffsetSeq(ctx); err != nil {
		return err
	}
	if err := s.loadAllDays(ctx); err != nil {
		return err
	}
	s.log.Debug("store opened", "dir", s.dir, "read_only", s.opts.ReadOnly, "days", len(s.days))
	if !s.opts.ReadOnly {
		if s.wconn, err = s.db.Conn(ctx); err != nil {
			return fmt.Errorf("open writer connection: %w", err)
		}
		if err := s.setupInsert(ctx); err != nil {
			return err
		}
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		if err := s.setupPayloadInsert("darkscope_payload_" + hex.EncodeToString(rnd[:])); err != nil {
			return err
		}
	}
	return nil
}

// attach attaches a DuckDB file, turning lock conflicts into *InUseError.
func (s *Store) attach(ctx context.Context, path, alias string) error {
	q := "ATTACH " + sqlString(path) + " AS " + alias
	if s.opts.ReadOnly {
		q += " (READ_ONLY)"
	}
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "Could not set lock") || strings.Contains(msg, "Conflicting lock") {
			ie := &InUseError{Dir: s.dir}
			if m := lockPIDRE.FindStringSubmatch(msg); m != nil {
				ie.PID, _ = strconv.Atoi(m[1])
			}
			return ie
		}
		if strings.Contains(msg, "Permission denied") || strings.Contains(msg, "Read-only file system") {
			return fmt.Errorf("data directory %s is not writable by uid %d: attach %s: %w (fix its owner/permissions or pass --data DIR)", s.dir, os.Getuid(), path, err)
		}
		return fmt.Errorf("attach %s: %w", path, err)
	}
	return nil
}

func dayAlias(t time.Time) string { return "d" + t.Format("20060102") }

// attachDay attaches (creating when writable) the file of the UTC day t.
// The caller holds s.mu or is still inside Open.
func (s *Store) attachDay(ctx context.Context, t time.Time) (*day, error) {
	t = t.UTC().Truncate(24 * time.Hour)
	key := t.Format(dayLayout)
	if d, ok := s.days[key]; ok {
		return d, nil
	}
	d := &day{start: t, alias: dayAlias(t), path: filepath.Join(s.dir, eventsDir, key+".duckdb")}
	if err := s.attach(ctx, d.path, d.alias); err != nil {
		return nil, err
	}
	if !s.opts.ReadOnly {
		if err := migrate(ctx, s.db, d.alias, dayMigrations, newDay); err != nil {
			return nil, err
		}
	} else if v, err := schemaVersion(ctx, s.db, d.alias); err != nil {
		return nil, err
	} else if latest := dayMigrations[len(dayMigrations)-1].version; v != latest {
		return nil, fmt.Errorf("open %s read-only: schema version %d, this darkscope needs %d: open it once writable to migrate", d.path, v, latest)
	}
	packed, err := isPacked(ctx, s.db, d.alias)
	if err != nil {
		return nil, err
	}
	d.packed = packed
	if !s.opts.ReadOnly {
		if err := d.dict.load(ctx, s, d.alias); err != nil {
			return nil, err
		}
	}
	var n, r uint64
	var refs uint32
	if err := s.db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM "+d.alias+".events), (SELECT events FROM "+d.alias+".rollup_state), "+
		"greatest((SELECT coalesce(max(ref), 0) FROM "+d.alias+".auth), (SELECT coalesce(max(ref), 0) FROM "+d.alias+".alerts))").Scan(&n, &r, &refs); err != nil {
		return nil, fmt.Errorf("count %s: %w", d.path, err)
	}
	d.events, d.rolled, d.refs = n, r, refs
	s.days[key] = d
	s.log.Debug("attached day", "path", d.path, "events", n)
	return d, nil
}

// sortedDays returns the attached days in time order.
func (s *Store) sortedDays() []*day {
	out := make([]*day, 0, len(s.days))
	for _, d := range s.days {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// viewSelect is the column list of events_raw: the events table, then the
// payload side tables' columns.
const viewSelect = "e.*, a.* EXCLUDE (ref), l.* EXCLUDE (ref)"

// lockConfig freezes DuckDB's configuration (lock_configuration), once.
func (s *Store) lockConfig(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfgLocked {
		return nil
	}
	if s.closed {
		return errors.New("store closed")
	}
	if _, err := s.db.ExecContext(ctx, "SET lock_configuration = true"); err != nil {
		return fmt.Errorf("lock configuration: %w", err)
	}
	s.cfgLocked = true
	return nil
}

// ensureViews rebuilds the views if days were attached or removed since
// they were built. Binding the views costs ~100 ms with a month of packed
// days (each day's rare decoding is ~45 expressions), so the writer does
// not rebuild them per new day, only before a query that may read them.
func (s *Store) ensureViews(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.viewsStale {
		return nil
	}
	if err := s.rebuildViews(ctx); err != nil {
		return err
	}
	s.viewsStale = false
	return nil
}

// rebuildViews points the "events_raw" and "events" views at the attached
// days. The caller holds s.mu or is still inside Open.
func (s *Store) rebuildViews(ctx context.Context) error {
	parts := []string{"SELECT " + viewSelect + " FROM " + payloadJoin("memory.empty.events", "memory.empty")}
	for _, d := range s.sortedDays() {
		parts = append(parts, "SELECT "+viewSelect+" FROM "+payloadJoin(d.eventsFrom(), d.alias))
	}
	for _, st := range []string{
		"CREATE OR REPLACE VIEW memory.main.events_raw AS " + strings.Join(parts, " UNION ALL "),
		"CREATE OR REPLACE VIEW memory.main.events AS SELECT " + readableSelect + " FROM memory.main.events_raw",
	} {
		if _, err := s.db.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("create view: %w", err)
		}
	}
	return nil
}

// Dir returns the absolute data directory.
func (s *Store) Dir() string { return s.dir }

// Close refreshes stale rollups (writable stores), detaches every file and
// releases the directory lock.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.collectFinish()
	s.closed = true
	var errs []error
	if s.db != nil && !s.opts.ReadOnly && s.wconn != nil {
		ctx := context.Background()
		// Nothing is being written any more: bring every rollup up to date
		// so read-only reports need no raw scans, with every thread Close
		// may use (the all-time rebuild regroups every day's rollups).
		if n := s.opts.CloseThreads; n > s.opts.Threads && !s.cfgLocked {
			if _, err := s.db.ExecContext(ctx, "SET threads = "+strconv.Itoa(n)); err != nil {
				s.log.Warn("raise threads for close", "threads", n, "err", err)
			}
		}
		if s.beforeClose != nil {
			s.beforeClose()
		}
		s.lastDay = ""
		if s.globalBehind(Filter{Port: -1, Proto: -1}) {
			if err := s.rebuildGlobal(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		for _, d := range s.sortedDays() {
			if !d.fresh() {
				if err := s.refreshRollups(ctx, d); err != nil {
					errs = append(errs, err)
				}
			}
			// Fold the WAL into the file now: a read-only open cannot,
			// and would replay it every time (0.5 s for a day of 65k rows).
			if d.unflushed {
				if _, err := s.db.ExecContext(ctx, "CHECKPOINT "+d.alias); err != nil {
					errs = append(errs, fmt.Errorf("checkpoint %s: %w", d.path, err))
				}
			}
		}
		if err := s.mirrorOffsets(ctx, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	if s.db != nil {
		start := time.Now()
		errs = append(errs, s.db.Close())
		s.log.Debug("closed database", "took", time.Since(start))
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	errs = append(errs, s.lock.unlock())
	return errors.Join(errs...)
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
