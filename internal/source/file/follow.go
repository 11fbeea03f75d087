package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/darkscope/darkscope/internal/source"
)

// follower is the state of one follow run.
type follower struct {
	fh      *os.File
	ino     uint64
	readPos int64 // file offset up to which bytes were read into lr
	lr      *lineReader
	b       *batch

	next      *os.File  // the new file at the path once a rotation is noticed
	nextIno   uint64    // its inode
	rotatedAt time.Time // when the rotation was noticed
}

func (fl *follower) close() {
	if fl.fh != nil {
		fl.fh.Close()
	}
	if fl.next != nil {
		fl.next.Close()
	}
}

// follow tails the file until ctx is done. See the package comment for the
// rules; the position of every batch is sent with it (Batch.Offset).
func (f *File) follow(ctx context.Context, out chan<- source.Batch) error {
	fh, fi, waited, err := f.waitOpen(ctx)
	if err != nil || fh == nil {
		return err
	}
	fl := &follower{fh: fh, ino: inodeOf(fi), b: &batch{}}
	defer fl.close()
	if err := f.position(ctx, fl, fi, waited); err != nil {
		return err
	}
	fl.lr = newLineReader(fl.fh, f.opts.maxLine)
	if f.hook != nil {
		f.hook("positioned")
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n, rerr := fl.lr.fill()
		fl.readPos += int64(n)
		if n > 0 {
			if !f.takeLines(ctx, out, fl) {
				return nil
			}
			if fl.b.lines > 0 && time.Since(fl.b.since) >= f.cfg.FlushInterval {
				if f.flush(ctx, out, fl.b) != nil {
					return nil
				}
			}
			continue
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			f.finalFlush(out, fl.b)
			return fmt.Errorf("read %s: %w", f.cfg.Path, rerr)
		}
		// At the end of what is written so far.
		if fl.b.lines > 0 && time.Since(fl.b.since) >= f.cfg.FlushInterval {
			if f.flush(ctx, out, fl.b) != nil {
				return nil
			}
		}
		wait := f.cfg.PollInterval
		if fl.b.lines > 0 {
			if rem := f.cfg.FlushInterval - time.Since(fl.b.since); rem < wait {
				wait = max(rem, time.Millisecond)
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			f.finalFlush(out, fl.b)
			return nil
		case <-timer.C:
		}
		// Right before reading again: has the file been rotated or
		// truncated meanwhile? (Checked before the read, so bytes written
		// into a truncated file are not taken for a continuation.)
		if err := f.checkRotation(ctx, out, fl); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// takeLines parses every complete buffered line, sending full batches. It
// returns false when ctx ended.
func (f *File) takeLines(ctx context.Context, out chan<- source.Batch, fl *follower) bool {
	for {
		line, used, tooLong, ok := fl.lr.next()
		if !ok {
			return true
		}
		f.take(fl.b, line, used, tooLong)
		if fl.b.full() {
			if f.flush(ctx, out, fl.b) != nil {
				fl.b.drop()
				return false
			}
		}
	}
}

// finalFlush offers the pending batch once more without blocking (ctx is
// done or the run fails). Either the pipeline takes it (counted, offset
// saved) or it is dropped uncounted and read again from the saved offset.
func (f *File) finalFlush(out chan<- source.Batch, b *batch) {
	if !f.send(nil, false, out, b) {
		b.drop()
	}
}

// checkRotation looks for copytruncate (the file shrank below what we read)
// and for rename rotation (another inode at the path). On rename it keeps
// reading the old descriptor for the grace period, then switches to the new
// file from its start.
func (f *File) checkRotation(ctx context.Context, out chan<- source.Batch, fl *follower) error {
	if fl.next != nil {
		if time.Since(fl.rotatedAt) < f.opts.rotateGrace {
			return nil
		}
		if err := f.drain(ctx, out, fl); err != nil {
			return err
		}
		if err := f.endOfFile(ctx, out, fl); err != nil {
			return err
		}
		fl.fh.Close()
		fl.fh, fl.ino, fl.next = fl.next, fl.nextIno, nil
		f.restartAt0(fl)
		f.logger.Info("following rotated file from its start", "inode", fl.ino)
		return nil
	}
	fi, err := fl.fh.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", f.cfg.Path, err)
	}
	if fi.Size() < fl.readPos || !stillThere(fl) {
		// copytruncate: what was written after our last read and before
		// logrotate's copy is in the copy; read it there, then start over.
		if err := f.readCopy(ctx, out, fl); err != nil {
			return err
		}
		if err := f.endOfFile(ctx, out, fl); err != nil {
			return err
		}
		if _, err := fl.fh.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("seek %s: %w", f.cfg.Path, err)
		}
		f.logger.Info("file truncated, reading it from its start", "size", fi.Size(), "was", fl.readPos)
		f.restartAt0(fl)
		return nil
	}
	pfi, err := os.Stat(f.cfg.Path)
	if err != nil || inodeOf(pfi) == fl.ino || inodeOf(pfi) == 0 {
		// Same file, or renamed away and not yet recreated: keep reading
		// the old descriptor, the writer may still append to it.
		return nil
	}
	nf, err := os.Open(f.cfg.Path)
	if err != nil {
		return nil // gone again between stat and open; retried next poll
	}
	nfi, err := nf.Stat()
	if err != nil || !nfi.Mode().IsRegular() {
		nf.Close()
		return nil
	}
	fl.next, fl.nextIno, fl.rotatedAt = nf, inodeOf(nfi), time.Now()
	f.logger.Info("file rotated, finishing the old one", "old_inode", fl.ino, "new_inode", fl.nextIno)
	return nil
}

// drain reads the current descriptor to its end.
func (f *File) drain(ctx context.Context, out chan<- source.Batch, fl *follower) error {
	for {
		n, err := fl.lr.fill()
		fl.readPos += int64(n)
		if n > 0 {
			if !f.takeLines(ctx, out, fl) {
				return ctx.Err()
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", fl.fh.Name(), err)
		}
		return nil
	}
}

// stillThere checks that the last bytes we read are still in the file where
// we read them, which catches a truncate followed by writes past our position
// between two polls.
func stillThere(fl *follower) bool {
	win := fl.lr.window(64)
	if len(win) == 0 {
		return true
	}
	var a [64]byte
	got := a[:len(win)]
	if _, err := fl.fh.ReadAt(got, fl.readPos-int64(len(win))); err != nil {
		return false
	}
	return bytes.Equal(got, win)
}

// readCopy continues reading, after a copytruncate, from the copy logrotate
// made: a file beside ours, at least as long as what we read, whose bytes
// just before our position equal the last bytes we read. Without such a file
// (compressed at once, or no bytes to compare) nothing is read and the lines
// written between our last read and the copy are not seen.
func (f *File) readCopy(ctx context.Context, out chan<- source.Batch, fl *follower) error {
	win := fl.lr.window(256)
	if len(win) == 0 {
		return nil
	}
	cp := f.findCopy(fl.readPos, win)
	if cp == nil {
		f.logger.Info("file truncated; no copy found to finish reading from", "offset", fl.readPos)
		return nil
	}
	defer cp.Close()
	if _, err := cp.Seek(fl.readPos, io.SeekStart); err != nil {
		return nil
	}
	f.logger.Info("file truncated (copytruncate), finishing from its copy", "copy", cp.Name(), "offset", fl.readPos)
	fl.lr.r = cp
	defer func() { fl.lr.r = fl.fh }()
	if err := f.drain(ctx, out, fl); err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}

// findCopy returns the most recently modified uncompressed file beside ours
// that holds win just before off.
func (f *File) findCopy(off int64, win []byte) *os.File {
	dir, base := filepath.Split(f.cfg.Path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	type cand struct {
		path string
		mod  time.Time
	}
	var cands []cand
	for _, e := range entries {
		if e.Name() == base || !strings.HasPrefix(e.Name(), base) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.Size() < off {
			continue
		}
		cands = append(cands, cand{filepath.Join(dir, e.Name()), fi.ModTime()})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].mod.After(cands[j].mod) })
	got := make([]byte, len(win))
	for _, c := range cands {
		fh, err := os.Open(c.path)
		if err != nil {
			continue
		}
		if _, err := fh.ReadAt(got, off-int64(len(win))); err == nil && bytes.Equal(got, win) {
			return fh
		}
		fh.Close()
	}
	return nil
}

// endOfFile treats the current descriptor as finished: its unterminated last
// line is parsed as is, and the pending batch is sent.
func (f *File) endOfFile(ctx context.Context, out chan<- source.Batch, fl *follower) error {
	if line, used, tooLong, ok := fl.lr.tail(); ok {
		f.take(fl.b, line, used, tooLong)
	}
	if err := f.flush(ctx, out, fl.b); err != nil {
		fl.b.drop()
		return err
	}
	return nil
}

func (f *File) restartAt0(fl *follower) {
	fl.readPos = 0
	fl.b.pos, fl.b.line, fl.b.inode = 0, 0, fl.ino
	fl.lr.reset(fl.fh)
}

// waitOpen opens the path, waiting while it does not exist; waited tells
// whether it had to. It returns a nil file and nil error when ctx ended first.
func (f *File) waitOpen(ctx context.Context) (fh *os.File, fi os.FileInfo, waited bool, err error) {
	logged := false
	for {
		fh, err = os.Open(f.cfg.Path)
		if err == nil {
			fi, err = fh.Stat()
			if err != nil {
				fh.Close()
				return nil, nil, false, fmt.Errorf("stat %s: %w", f.cfg.Path, err)
			}
			if !fi.Mode().IsRegular() {
				fh.Close()
				return nil, nil, false, &source.Permanent{Err: fmt.Errorf("follow %s: not a regular file", f.cfg.Path)}
			}
			gz, err := isGzip(fh)
			if err != nil {
				fh.Close()
				return nil, nil, false, err
			}
			if gz {
				fh.Close()
				return nil, nil, false, &source.Permanent{Err: fmt.Errorf("follow %s: file is gzip-compressed; import it instead", f.cfg.Path)}
			}
			return fh, fi, logged, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, false, permanentOpenError(f.cfg.Path, err)
		}
		if !logged {
			f.logger.Info("waiting for file to appear")
			logged = true
			if f.hook != nil {
				f.hook("waiting")
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, false, nil
		case <-time.After(f.cfg.PollInterval):
		}
	}
}

// position chooses where following starts: the saved offset when it still
// fits this file; the rest of the rotated file the saved offset belongs to,
// then this one from 0; else 0 (FromStart, a file that appeared while we
// waited for it, or one we saw rotate or shrink) or the end of its last
// complete line.
func (f *File) position(ctx context.Context, fl *follower, fi os.FileInfo, appeared bool) error {
	var saved source.Offset
	var ok bool
	if f.offsets != nil {
		var err error
		saved, ok, err = f.offsets.Offset(ctx, f.name)
		if err != nil {
			return fmt.Errorf("load offset of %s: %w", f.name, err)
		}
	}
	if !ok && f.hasResume {
		saved, ok = f.resume, true
	}
	pos, line := int64(0), int64(0)
	switch {
	case ok && saved.Inode == fl.ino:
		if fi.Size() >= saved.Offset && atLineStart(fl.fh, saved.Offset) {
			pos, line = saved.Offset, saved.Line
			f.logger.Debug("resuming at saved offset", "offset", pos, "line", line)
		} else {
			f.logger.Info("file shrank or changed since the saved offset, reading it from its start",
				"saved_offset", saved.Offset, "size", fi.Size())
		}
	case ok:
		if old := f.findRotated(saved); old != nil {
			// Finish the rotated file first, then the current one from 0.
			f.logger.Info("file rotated while stopped, finishing the rotated file", "rotated", old.Name())
			fl.next, fl.nextIno = fl.fh, fl.ino
			fl.rotatedAt = time.Now().Add(-f.opts.rotateGrace)
			fl.fh, fl.ino = old, saved.Inode
			pos, line = saved.Offset, saved.Line
		} else {
			f.logger.Info("file rotated while stopped, reading the new file from its start")
		}
	case f.cfg.FromStart || appeared:
	default:
		var err error
		pos, line, err = lastLineEnd(fl.fh, fi.Size())
		if err != nil {
			return err
		}
	}
	if _, err := fl.fh.Seek(pos, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", f.cfg.Path, err)
	}
	fl.readPos = pos
	fl.b.pos, fl.b.line, fl.b.inode = pos, line, fl.ino
	return nil
}

// atLineStart reports whether off is 0 or follows a newline.
func atLineStart(fh *os.File, off int64) bool {
	if off == 0 {
		return true
	}
	var c [1]byte
	if _, err := fh.ReadAt(c[:], off-1); err != nil {
		return false
	}
	return c[0] == '\n'
}

// lastLineEnd returns the offset after the last newline before size and the
// number of lines up to it, so following a new file from its end starts at a
// line boundary and still reports true line numbers.
func lastLineEnd(fh *os.File, size int64) (pos, lines int64, err error) {
	buf := make([]byte, readBufSize)
	for off := int64(0); off < size; {
		n, err := fh.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if n > 0 {
			chunk := buf[:n]
			if c := bytes.Count(chunk, []byte{'\n'}); c > 0 {
				lines += int64(c)
				pos = off + int64(bytes.LastIndexByte(chunk, '\n')) + 1
			}
			off += int64(n)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, 0, fmt.Errorf("read %s: %w", fh.Name(), err)
		}
	}
	return pos, lines, nil
}

// findRotated looks beside the path for the renamed file with the saved
// inode (kern.log.1, kern.log-20260101, ...), uncompressed and still as long
// as the saved offset, and opens it.
func (f *File) findRotated(saved source.Offset) *os.File {
	dir, base := filepath.Split(f.cfg.Path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if e.Name() == base || !strings.HasPrefix(e.Name(), base) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || inodeOf(fi) != saved.Inode || fi.Size() < saved.Offset {
			continue
		}
		fh, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if gz, err := isGzip(fh); err != nil || gz || !atLineStart(fh, saved.Offset) {
			fh.Close()
			continue
		}
		return fh
	}
	return nil
}
