package tool

import (
	"testing"
	"unsafe"
)

// TestStateSize keeps the per-source state small: the engine embeds one per
// source and must hold millions.
func TestStateSize(t *testing.T) {
	if n := unsafe.Sizeof(State{}); n > 120 {
		t.Fatalf("State is %d bytes, budget 120 (docs/detection.md)", n)
	} else {
		t.Logf("State is %d bytes", n)
	}
}
