package detect

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/darkscope/darkscope/internal/enrich/tool"
)

// TestStateSizes pins the per-source sizes docs/detection.md states, so the
// documented memory bound cannot silently drift.
func TestStateSizes(t *testing.T) {
	got := fmt.Sprintf("srcState %d, tool.State %d, srcExtra %d, dstRec %d, protoPorts %d, hll %d",
		unsafe.Sizeof(srcState{}), unsafe.Sizeof(tool.State{}), unsafe.Sizeof(srcExtra{}), unsafe.Sizeof(dstRec{}), unsafe.Sizeof(protoPorts{}), unsafe.Sizeof(hll{}))
	t.Log(got)
	if unsafe.Sizeof(srcState{}) > 256 {
		t.Errorf("srcState grew to %d bytes; update docs/detection.md and the memory bound", unsafe.Sizeof(srcState{}))
	}
	if unsafe.Sizeof(tool.State{}) > 120 {
		t.Errorf("tool.State grew to %d bytes; update docs/detection.md and the memory bound", unsafe.Sizeof(tool.State{}))
	}
}

func TestHostSketchAccuracy(t *testing.T) {
	for _, n := range []int{1500, 5000, 50000} {
		var h hll
		for i := 0; i < n; i++ {
			h.add(mix64(uint64(dstHashN(i))))
		}
		est := float64(h.estimate())
		if est < 0.9*float64(n) || est > 1.1*float64(n) {
			t.Errorf("%d hosts estimated as %.0f (more than 10%% off)", n, est)
		}
	}
}

func dstHashN(i int) uint32 { return uint32(mix64(uint64(i) + 0x9e3779b97f4a7c15)) }
