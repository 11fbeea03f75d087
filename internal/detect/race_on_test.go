//go:build race

package detect

// raceBuild: the race detector multiplies memory use (shadow memory), so
// VmHWM bounds are asserted only in normal builds.
const raceBuild = true
