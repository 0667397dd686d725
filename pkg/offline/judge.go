package offline

import (
	"fmt"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/expect"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Evidence is the step's simulated path as the evidence pkg/expect judges. The
// simulation knows which route and cluster each proxy picks, so it fills only
// UpstreamCluster and RouteName of the log entries; Gateway stays nil when the
// request never reached the egress gateway. Everything else (origin, curl's exit
// code, the log lines themselves) is cluster-tier evidence.
func (r StepResult) Evidence() expect.Evidence {
	p := r.Path
	ev := expect.Evidence{
		Tier:         expect.Offline,
		Route:        p.Route,
		RouteWhy:     p.Why,
		Status:       p.Status,
		Sidecar:      &accesslog.Entry{UpstreamCluster: p.Sidecar.Cluster, RouteName: p.Sidecar.Route, RequestedServerName: p.Sidecar.SNI},
		SidecarRaw:   p.Sidecar.String(),
		GatewayHosts: r.GatewayHosts,
	}
	if r.NoSidecar {
		// No sidecar saw the request (the client has none, or its annotations
		// route the connection around it): there is no sidecar line to compare.
		ev.Sidecar, ev.SidecarRaw, ev.NoSidecar = nil, "", true
	}
	ev.Gateway, ev.GatewayRaw = hopEntry(p.Gateway, p.Status)
	ev.Waypoint, ev.WaypointRaw = hopEntry(p.Waypoint, p.Status)
	return ev
}

// hopEntry is the log entry of a proxy hop after the client's: nil when the
// request never reached the proxy.
func hopEntry(h *Hop, status *int) (*accesslog.Entry, string) {
	if h == nil {
		return nil, ""
	}
	e := &accesslog.Entry{UpstreamCluster: h.Cluster, RouteName: h.Route,
		ResponseCodeDetails: h.ResponseCodeDetails, RequestedServerName: h.SNI}
	if h.ResponseCodeDetails != "" && status != nil {
		// The proxy answered itself (an authorization denial).
		e.ResponseCode = *status
	}
	return e, h.String()
}

// Judgement is a step's result against its expectation.
type Judgement struct {
	StepResult
	// Verdict compares the stated expectation with the simulated evidence.
	Verdict expect.Verdict
	// Blocking are findings that fail the step whatever it expects.
	Blocking []string
}

// Passed reports whether the step passed the offline tier.
func (j Judgement) Passed() bool {
	return j.Err == nil && len(j.Blocking) == 0 && j.Verdict.Passed()
}

// Message explains the judgement: every reason the step failed, the simulated path,
// and everything Istio's validation and analyzers said. It names scenario and step
// so that a line of it is enough to find the culprit.
func (j Judgement) Message() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s step %s: ", j.Scenario, j.Step)
	switch {
	case j.Passed() && j.NotObservable != "":
		b.WriteString("not observable in the offline tier: " + j.NotObservable + "\n")
	case j.Passed():
		b.WriteString("passed the offline tier\n")
	default:
		b.WriteString("FAILED the offline tier\n")
	}
	if j.Err != nil {
		fmt.Fprintf(&b, "  error: %v\n", j.Err)
		return b.String()
	}
	for _, f := range j.Blocking {
		fmt.Fprintf(&b, "  blocking: %s\n", f)
	}
	for _, c := range j.Verdict.Failures() {
		fmt.Fprintf(&b, "  %s: want %s, got %s", c.Field, c.Want, c.Got)
		if c.Why != "" {
			fmt.Fprintf(&b, " (%s)", c.Why)
		}
		b.WriteString("\n")
	}
	b.WriteString("  simulated path:\n")
	for _, line := range strings.Split(j.Trace(), "\n") {
		fmt.Fprintf(&b, "    %s\n", line)
	}
	for _, f := range append(append([]Finding{}, j.Validation...), j.Analysis...) {
		fmt.Fprintf(&b, "  istio: %s\n", f)
	}
	if len(j.SkippedAnalyzers) > 0 {
		fmt.Fprintf(&b, "  analyzers skipped for lack of input: %s\n", strings.Join(j.SkippedAnalyzers, ", "))
	}
	return b.String()
}

// Judge evaluates step i of s (0-based) and compares it with the step's expectation.
func Judge(s *scenario.Scenario, i int, opts Options) Judgement {
	r := CheckStep(s, i, opts)
	j := Judgement{StepResult: r}
	if r.Err != nil {
		return j
	}
	j.Blocking = r.Blocking(opts.StrictAnalysis)
	j.Verdict = expect.Evaluate(s.Steps[i].Expect, r.Evidence())
	if r.NotObservable != "" {
		// Every stated check keeps its place in the verdict, none passes.
		for k := range j.Verdict.Checks {
			c := &j.Verdict.Checks[k]
			c.Outcome, c.Got, c.Why, c.Evidence = expect.NotObservable, "-", "not observable in the offline tier: "+r.NotObservable, ""
		}
	}
	return j
}
