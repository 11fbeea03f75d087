package tool

import (
	"testing"
	"unsafe"
)

// TestStateSize keeps the per-source state small: the engine embeds one per
// source and must hold millions.
func TestStateSize(t *testing.T) {
	if n := unsafe.Sizeof(State{}); n > 160 {
		t.Fatalf("State is %d bytes, budget 160", n)
	} else {
		t.Logf("State is %d bytes", n)
	}
}
