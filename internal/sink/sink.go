// Package sink is the right edge of the flow: every destination events are
// written to after detection. The store is the primary sink (the pipeline
// stops on its failure and counts store_error); the sinks here are
// secondaries whose failures are counted and never stop capture.
package sink

import (
	"context"

	"github.com/darkscope/darkscope/internal/event"
)

// Sink takes batches of events. Write must not keep batch after it returns.
type Sink interface {
	Write(ctx context.Context, batch []event.Event) error
	Close() error
}
