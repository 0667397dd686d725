package engine

import (
	"fmt"
	"sync"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/report"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Ledger keeps which steps of a scenario were recorded in the report, so that
// the steps that never ran appear there too: as skipped, with the reason. A
// scenario's steps are cumulative and run in order, so after a failed step (or a
// failed set-up) the later ones are not run, and a report without them would
// read as if the scenario had fewer steps.
type Ledger struct {
	mu       sync.Mutex
	steps    []string
	recorded map[string]bool
	failed   string // the first failed step
}

// newLedger starts a ledger for s's steps.
func newLedger(s *scenario.Scenario) *Ledger {
	l := &Ledger{recorded: map[string]bool{}}
	for _, st := range s.Steps {
		l.steps = append(l.steps, st.Name)
	}
	return l
}

// Record notes that step's outcome goes into the report; it returns false when
// the step was recorded already (its outcome must not be added twice).
func (l *Ledger) Record(step string, passed bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !passed && l.failed == "" {
		l.failed = step
	}
	if l.recorded[step] {
		return false
	}
	l.recorded[step] = true
	return true
}

// Unrun are the report entries of every step not recorded: skipped, with why.
// setUp is the error of the scenario's set-up, if it failed ("" otherwise).
// Each step returned is marked recorded, so a second call returns nothing.
func (l *Ledger) Unrun(setUp string) []report.Step {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []report.Step
	for _, name := range l.steps {
		if l.recorded[name] {
			continue
		}
		var why string
		switch {
		case setUp != "":
			why = "not run: the scenario's set-up failed: " + setUp
		case l.failed != "":
			why = fmt.Sprintf("not run: step %s failed before it, and steps build on each other", l.failed)
		default:
			why = "not run: the run stopped before it (interrupted or out of time)"
		}
		l.recorded[name] = true
		out = append(out, report.Step{Name: name, Result: report.Skip, Reason: why})
	}
	return out
}

// IstioUnderTest is a cluster report's Istio: the version the run installs, with a
// warning when the offline tier simulates another release.
func IstioUnderTest(version string) report.Istio {
	in := report.Istio{Version: version}
	if w := mesh.OfflineDivergence(version, versions.IstioLibraryRelease); w != "" {
		in.Warnings = append(in.Warnings, w)
	}
	return in
}
