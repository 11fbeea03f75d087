//go:build !unix

package store

// dirLock is a no-op where flock(2) does not exist; DuckDB's own file lock
// still refuses a second writer from another process.
type dirLock struct{}

func lockDir(dir string, exclusive bool) (*dirLock, error) { return &dirLock{}, nil }

func (l *dirLock) unlock() error { return nil }
