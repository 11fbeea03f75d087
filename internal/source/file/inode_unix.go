//go:build unix

package file

import (
	"os"
	"syscall"
)

// inodeOf returns the inode number of a file, the identity that survives a
// rename and changes when a new file takes the path.
func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
