//go:build unix

package respond

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// locked runs fn holding an exclusive flock on PATH.lock.
func (f *StateFile) locked(fn func() error) error {
	l, err := os.OpenFile(f.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock respond state: %w", err)
	}
	defer func() { _ = l.Close() }()
	if err := unix.Flock(int(l.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock respond state %s: %w", f.path, err)
	}
	defer func() { _ = unix.Flock(int(l.Fd()), unix.LOCK_UN) }()
	return fn()
}
