// Package runner is the cluster tier's step runner: it probes, collects the
// access lines, evaluates the step's expectation, and repeats until the
// expectation holds for Timeouts.Consecutive probes in a row or Timeouts.Converge
// runs out. It is orchestration over interfaces (a Prober, a Collector) so that
// the suites stay thin and the loop is tested without a cluster.
//
// The only pause is the interval between probes. A transport error is an
// inconclusive attempt: it is reported and breaks a streak, but it is never a pass.
package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/evidence"
	"github.com/egress-conformance/egress-conformance/pkg/expect"
	"github.com/egress-conformance/egress-conformance/pkg/origin"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Prober sends one request from the client pod (probe.Prober is one).
type Prober interface {
	Probe(ctx context.Context, r probe.Request) (probe.Result, error)
}

// Collector finds one request's access lines (evidence.Collector is one).
type Collector interface {
	Collect(ctx context.Context, t evidence.Target, wantGateway bool) (evidence.Found, error)
}

// Runner runs the steps of one scenario from one client pod.
type Runner struct {
	Prober    Prober
	Collector Collector
	// ClientIP is the client pod's IP, for expect.origin.first: client.
	ClientIP string
	// GatewayHosts are the egress gateway Service hosts; empty means
	// expect.DefaultGatewayHosts.
	GatewayHosts []string
	// Timeouts: zero fields take their defaults.
	Timeouts Timeouts
	// CurlTrustArgs are passed to every probe (hermetic mode: the stand-in's
	// public-key pin, so HTTPS to it verifies without a CA in the client).
	CurlTrustArgs []string
	// Ambient: the client is in ambient mode. Its Collector is an
	// evidence.AmbientCollector, asked whether the step expects a waypoint line
	// (not a gateway line), and the evidence is classified as ambient.
	Ambient bool

	// OnAttempt, when set, is called after every attempt (e.g. to print progress
	// to GinkgoWriter).
	OnAttempt func(Attempt)

	// NewRequestID, Now and Sleep default to probe.NewRequestID and the real
	// clock; tests inject theirs.
	NewRequestID func() string
	Now          func() time.Time
	Sleep        func(ctx context.Context, d time.Duration) error
}

// Attempt is one probe with everything it produced.
type Attempt struct {
	// N counts attempts from 1.
	N       int
	Started time.Time
	Elapsed time.Duration

	Request probe.Request
	Result  probe.Result
	Found   evidence.Found
	// Evidence and Verdict are set when the attempt is conclusive.
	Evidence expect.Evidence
	Verdict  expect.Verdict

	// Passed: the verdict passed. Err: the attempt is inconclusive (the probe or
	// the log collection failed), so it has no verdict.
	Passed bool
	Err    error
}

// Inconclusive reports an attempt without a verdict.
func (a Attempt) Inconclusive() bool { return a.Err != nil }

// Summary is one line on the attempt.
func (a Attempt) Summary() string {
	id := a.Result.RequestID
	if id == "" {
		id = a.Request.RequestID
	}
	switch {
	case a.Err != nil:
		return fmt.Sprintf("attempt %d (request id %s): inconclusive: %v", a.N, id, a.Err)
	case a.Passed:
		return fmt.Sprintf("attempt %d (request id %s): pass (route %s)", a.N, id, a.Verdict.Evidence.Route)
	}
	var fails []string
	for _, c := range a.Verdict.Failures() {
		fails = append(fails, fmt.Sprintf("%s want %s got %s", c.Field, c.Want, c.Got))
	}
	return fmt.Sprintf("attempt %d (request id %s): fail: %s", a.N, id, strings.Join(fails, "; "))
}

// Outcome is the result of converging one step.
type Outcome struct {
	Step   string
	Passed bool
	// Attempts are the first attempt and the last keptAttempts ones, in order;
	// Total counts them all.
	Attempts []Attempt
	Total    int
	// Streak is the number of passing attempts in a row at the end.
	Streak int
	// Last is the verdict of the last conclusive attempt (zero if none was).
	Last expect.Verdict
	// Elapsed is the time from the first probe to the end.
	Elapsed time.Duration
	// Reason says why the step passed or failed, in one paragraph.
	Reason string
}

// keptAttempts bounds the attempts an Outcome keeps besides the first: a step
// that flaps for 60 s must not hold 60 bodies and log excerpts.
const keptAttempts = 10

// LastAttempt returns the last attempt made, if any.
func (o Outcome) LastAttempt() (Attempt, bool) {
	if len(o.Attempts) == 0 {
		return Attempt{}, false
	}
	return o.Attempts[len(o.Attempts)-1], true
}

// String is the failure report: the reason, every kept attempt in one line, the
// last verdict in full, and the last attempt's notes from the log search.
func (o Outcome) String() string {
	var b strings.Builder
	status := "PASSED"
	if !o.Passed {
		status = "FAILED"
	}
	fmt.Fprintf(&b, "step %s %s: %s\n", o.Step, status, o.Reason)
	if dropped := o.Total - len(o.Attempts); dropped > 0 {
		fmt.Fprintf(&b, "attempts (%d of %d shown; %d in between left out):\n", len(o.Attempts), o.Total, dropped)
	} else {
		fmt.Fprintf(&b, "attempts (%d):\n", o.Total)
	}
	for _, a := range o.Attempts {
		b.WriteString("  " + a.Summary() + "\n")
	}
	if len(o.Last.Checks) > 0 {
		b.WriteString("last verdict:\n")
		b.WriteString(o.Last.String())
	}
	if a, ok := o.LastAttempt(); ok {
		if len(a.Found.Notes) > 0 {
			b.WriteString("log search notes (last attempt):\n")
			for _, n := range a.Found.Notes {
				b.WriteString("  - " + n + "\n")
			}
		}
		if a.Result.Stderr != "" {
			b.WriteString("curl stderr (last attempt): " + strings.TrimSpace(a.Result.Stderr) + "\n")
		}
	}
	return b.String()
}

// EvidenceLines are the raw lines of the last conclusive attempt, for a report.
func (o Outcome) EvidenceLines() []string {
	ev := o.Last.Evidence
	var out []string
	add := func(k, v string) {
		if v != "" {
			out = append(out, k+": "+v)
		}
	}
	add("request id", ev.RequestID)
	add("sidecar", ev.SidecarRaw)
	add("ztunnel", ev.ZtunnelRaw)
	add("waypoint", ev.WaypointRaw)
	add("gateway", ev.GatewayRaw)
	return out
}

// WantGateway reports whether a step expects the egress gateway to log its
// request: the Collector then waits for that line when the sidecar's line cannot
// tell where the request went.
func WantGateway(exp scenario.Expect) bool {
	return exp.Route == scenario.RouteEgressGateway || (exp.GatewayLog != nil && !exp.GatewayLog.Absent)
}

// WantWaypoint reports whether a step expects a waypoint to log its request: an
// ambient client's Collector then waits for that line when ztunnel's line cannot
// tell where the connection went.
func WantWaypoint(exp scenario.Expect) bool {
	return exp.Route == scenario.RouteWaypoint || (exp.WaypointLog != nil && !exp.WaypointLog.Absent)
}

// Converge probes until the step's expectation holds for Timeouts.Consecutive
// probes in a row (a failed or inconclusive probe resets the count) or until
// Timeouts.Converge has passed since the first probe. An attempt that started
// in time runs to its end, so the bound can be exceeded by one attempt (at most
// Timeouts.Exec plus Timeouts.LogTimeout).
func (r Runner) Converge(ctx context.Context, step scenario.Step) Outcome {
	t := r.Timeouts.WithDefaults()
	out := Outcome{Step: step.Name}
	if err := t.Validate(); err != nil {
		out.Reason = err.Error()
		return out
	}
	if r.Prober == nil || r.Collector == nil {
		out.Reason = "runner: no Prober or no Collector"
		return out
	}
	start := r.now()
	deadline := start.Add(t.Converge)
	var first Attempt
	var recent []Attempt
	passes, inconclusive, best := 0, 0, 0
	for n := 1; ; n++ {
		a := r.attempt(ctx, step, t, n)
		if r.OnAttempt != nil {
			r.OnAttempt(a)
		}
		out.Total = n
		if n == 1 {
			first = a
		} else {
			recent = append(recent, a)
			if len(recent) > keptAttempts {
				recent = append(recent[:0], recent[1:]...)
			}
		}
		switch {
		case a.Passed:
			passes++
			out.Streak++
		default:
			out.Streak = 0
			if a.Inconclusive() {
				inconclusive++
			}
		}
		best = max(best, out.Streak)
		if !a.Inconclusive() {
			out.Last = a.Verdict
		}
		now := r.now()
		out.Elapsed = now.Sub(start)
		stats := fmt.Sprintf("%d attempt(s): %d passed, %d failed, %d inconclusive; longest streak %d",
			n, passes, n-passes-inconclusive, inconclusive, best)
		if out.Streak >= t.Consecutive {
			out.Passed = true
			out.Reason = fmt.Sprintf("the expectation held for %d consecutive probes (attempts %d–%d) after %s; %s",
				t.Consecutive, n-t.Consecutive+1, n, out.Elapsed.Round(time.Millisecond), stats)
			break
		}
		if err := ctx.Err(); err != nil {
			out.Reason = fmt.Sprintf("stopped after %s: %v; %s; last: %s", out.Elapsed.Round(time.Millisecond), err, stats, a.Summary())
			break
		}
		next := a.Started.Add(t.ProbeInterval)
		if !next.Before(deadline) {
			out.Reason = fmt.Sprintf("the expectation did not hold for %d consecutive probes within %s; %s; last: %s",
				t.Consecutive, t.Converge, stats, a.Summary())
			break
		}
		if err := r.sleep(ctx, max(0, next.Sub(now))); err != nil {
			out.Elapsed = r.now().Sub(start)
			out.Reason = fmt.Sprintf("stopped after %s: %v; %s; last: %s", out.Elapsed.Round(time.Millisecond), err, stats, a.Summary())
			break
		}
	}
	out.Attempts = append([]Attempt{first}, recent...)
	return out
}

// attempt runs one probe, collects its lines and evaluates the expectation.
func (r Runner) attempt(ctx context.Context, step scenario.Step, t Timeouts, n int) Attempt {
	started := r.now()
	a := Attempt{N: n, Started: started}
	a.Request = probe.Request{URL: step.Request.URL, RequestID: r.newID(), Timeout: t.Curl, TrustArgs: r.CurlTrustArgs, Options: step.Request.CurlArgs()}

	res, err := r.Prober.Probe(ctx, a.Request)
	a.Result = res
	if err != nil {
		a.Err = fmt.Errorf("probe: %w", err)
		a.Elapsed = r.now().Sub(started)
		return a
	}
	id := res.RequestID
	if id == "" {
		id = a.Request.RequestID
	}
	// Since is this attempt's start as the runner's clock saw it, not the
	// prober's: one clock decides which lines are old.
	want := WantGateway(step.Expect)
	if r.Ambient {
		want = WantWaypoint(step.Expect)
	}
	found, err := r.Collector.Collect(ctx, evidence.Target{RequestID: id, LocalAddr: res.LocalAddr, Since: started}, want)
	a.Found = found
	if err != nil {
		a.Err = fmt.Errorf("collect access lines: %w", err)
		a.Elapsed = r.now().Sub(started)
		return a
	}
	a.Evidence = ClusterEvidence(step, res, found, r.ClientIP, r.GatewayHosts)
	a.Evidence.RequestID = id
	a.Evidence.Ambient = r.Ambient
	a.Verdict = expect.Evaluate(step.Expect, a.Evidence)
	a.Passed = a.Verdict.Passed()
	a.Elapsed = r.now().Sub(started)
	return a
}

// ClusterEvidence turns what a probe and the log search observed into the
// cluster tier's Evidence for step. The route is left to expect.Classify.
//
// The origin chain is read only when the step states an origin expectation and
// curl got an HTTP answer: an unrelated body (a 502 from block_all, a 403 from
// RBAC) would otherwise print as an unreadable origin in every report.
func ClusterEvidence(step scenario.Step, res probe.Result, f evidence.Found, clientIP string, gatewayHosts []string) expect.Evidence {
	ev := expect.Evidence{
		Tier:         expect.Cluster,
		RequestID:    res.RequestID,
		Body:         res.Body,
		ClientIP:     clientIP,
		Sidecar:      f.Sidecar,
		Gateway:      f.Gateway,
		SidecarRaw:   f.SidecarRaw,
		GatewayRaw:   f.GatewayRaw,
		Waypoint:     f.Waypoint,
		WaypointRaw:  f.WaypointRaw,
		Ztunnel:      f.Ztunnel,
		ZtunnelRaw:   f.ZtunnelRaw,
		LogsObserved: f.LogsObserved,
		NoSidecar:    f.NoSidecar,
		GatewayHosts: gatewayHosts,
	}
	exit := res.CurlExit
	ev.CurlExit = &exit
	if res.Status != 0 {
		status := res.Status
		ev.Status = &status
	}
	if step.Expect.Origin != nil && ev.Status != nil {
		ev.Origin, ev.OriginErr = origin.FromBody(step.Request.URL, []byte(res.Body))
		ev.OriginObserved = true
	}
	return ev
}

func (r Runner) newID() string {
	if r.NewRequestID != nil {
		return r.NewRequestID()
	}
	return probe.NewRequestID()
}

func (r Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r Runner) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	return probe.SleepContext(ctx, d)
}

// ErrNotConverged is what Err returns for a step that did not pass.
var ErrNotConverged = errors.New("step did not converge")

// Err is nil for a passed outcome, else an error carrying the whole report.
func (o Outcome) Err() error {
	if o.Passed {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrNotConverged, o.String())
}
