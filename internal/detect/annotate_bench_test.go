package detect

import (
	"testing"

	"github.com/darkscope/darkscope/internal/detect/signature"
	"github.com/darkscope/darkscope/internal/enrich/tool"
)

// BenchmarkObserveAnnotated is BenchmarkObserve with the annotators the
// daemon and import run (default signatures, scanner-tool fingerprints):
// most sources send Nmap-like SYNs, so they carry a tool verdict and every
// one of their packets asks the tool tracker again.
func BenchmarkObserveAnnotated(b *testing.B) {
	rules, err := signature.DefaultRules()
	if err != nil {
		b.Fatal(err)
	}
	tools, err := tool.New(tool.Config{})
	if err != nil {
		b.Fatal(err)
	}
	benchObserve(b, 10_000, WithAnnotator(NewAnnotators(signature.New(rules), nil, tools)))
}

// BenchmarkObserveAnnotatedManySources is BenchmarkObserveAnnotated over
// 1,000,000 sources, as an import of a large darknet log sees them: nearly
// every event finds a cold source, and the scanner-tool state of every
// source is kept besides the engine's.
func BenchmarkObserveAnnotatedManySources(b *testing.B) {
	rules, err := signature.DefaultRules()
	if err != nil {
		b.Fatal(err)
	}
	tools, err := tool.New(tool.Config{})
	if err != nil {
		b.Fatal(err)
	}
	benchObserve(b, 1_000_000, WithAnnotator(NewAnnotators(signature.New(rules), nil, tools)))
}
