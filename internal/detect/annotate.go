package detect

import (
	"net/netip"

	"github.com/darkscope/darkscope/internal/detect/signature"
	"github.com/darkscope/darkscope/internal/enrich/p0f"
	"github.com/darkscope/darkscope/internal/enrich/tool"
	"github.com/darkscope/darkscope/internal/event"
)

// toolLevelMirai is the danger level a tool fingerprint alone implies, like
// a signature's level: a Mirai-family probe (TCP seq == destination
// address) comes from an infected device spreading the worm, whatever the
// packet count (psad's signature default level, 2). Scanners such as nmap,
// masscan or zmap get their level from their packets as psad does.
const toolLevelMirai event.DangerLevel = 2

// Annotators joins the per-packet knowledge the engine does not compute
// itself: signature hits (raise the danger level), the passive OS label of
// SYNs (p0f) and the scanner-tool fingerprint. Every part is optional. It is
// called under the engine's lock, so it needs no locking of its own.
type Annotators struct {
	Signatures *signature.Matcher
	P0f        *p0f.DB
	Tools      *tool.Tracker

	view *SourceView // the view of the packet being annotated (for the hit callback)
	hit  func(*signature.Rule)
}

// NewAnnotators returns the annotator over the given parts (nil parts are skipped).
func NewAnnotators(sigs *signature.Matcher, db *p0f.DB, tools *tool.Tracker) *Annotators {
	a := &Annotators{Signatures: sigs, P0f: db, Tools: tools}
	a.hit = func(r *signature.Rule) { a.view.AddSignature(r.Name, event.DangerLevel(r.Level)) }
	return a
}

// Annotate implements Annotator.
func (a *Annotators) Annotate(e *event.Event, v *SourceView) {
	if a.Signatures != nil {
		a.view = v
		a.Signatures.Match(e, a.hit)
		a.view = nil
	}
	if a.P0f != nil && e.Proto == event.ProtoTCP && e.Flags&(event.FlagSYN|event.FlagACK|event.FlagRST) == event.FlagSYN {
		if r, ok := a.P0f.Fingerprint(e, 0); ok && r.Label() != nil {
			v.SetOS(r.OS())
		}
	}
	if a.Tools != nil {
		// The evidence strings are built only when the verdict changes
		// (here) or is read (ToolVerdict), not for every packet.
		// The per-source state lives in the engine's record of the
		// source (no lookup of its own, expired with the source).
		st := v.ToolState(tool.Counts(e))
		name, conf, benign, ok, same := a.Tools.ObserveIdentifyState(st, e)
		if !ok {
			return
		}
		// The recorded tool changes only here (and in refreshTool, to the
		// same answer), so an unchanged answer needs no comparison with it.
		if !same {
			if cur, ok := v.Tool(); !ok || cur.Name != name || cur.Confidence != conf {
				if t, ok := a.Tools.VerdictState(st, e.Src); ok {
					v.SetTool(event.Tool{Name: t.Name, Confidence: t.Confidence, Evidence: t.Evidence})
				}
			}
		}
		if name == tool.NameMirai && benign == "" {
			v.RaiseLevel(toolLevelMirai)
		}
	}
}

// ToolVerdict implements ToolSource: the current scanner-tool verdict of
// src from its state st (nil: none), with its evidence.
func (a *Annotators) ToolVerdict(src netip.Addr, st *tool.State) (event.Tool, bool) {
	if a.Tools == nil {
		return event.Tool{}, false
	}
	t, ok := a.Tools.VerdictState(st, src)
	if !ok {
		return event.Tool{}, false
	}
	return event.Tool{Name: t.Name, Confidence: t.Confidence, Evidence: t.Evidence}, true
}
