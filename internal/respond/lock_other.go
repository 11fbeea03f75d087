//go:build !unix

package respond

import "sync"

// stateMu serialises state changes within the process where flock is missing.
var stateMu sync.Mutex

// locked runs fn under a process-wide lock (no file lock on this platform).
func (f *StateFile) locked(fn func() error) error {
	stateMu.Lock()
	defer stateMu.Unlock()
	return fn()
}
