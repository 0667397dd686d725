package upgrade

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/evidence"
	"github.com/egress-conformance/egress-conformance/pkg/expect"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
	"github.com/egress-conformance/egress-conformance/pkg/report"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// ProbeTarget is where one background probe goes out from and whose logs judge
// it. The upgrade restarts both the client and the gateway, so it is looked up
// afresh for every probe.
type ProbeTarget struct {
	Prober    runner.Prober
	Collector runner.Collector
	// ClientIP is the client pod's IP (origin.first: client); Client names the
	// pod in reports.
	ClientIP     string
	Client       string
	GatewayHosts []string
}

// Disruption repeats one egress-gateway step from one client during an upgrade
// window and judges every probe exactly like a step attempt: the client
// sidecar's and the gateway's access lines found by request id, httpbin's origin
// chain, the step's whole expectation (runner.ClusterEvidence, expect.Evaluate).
//
// Probes are sent one every Interval by one sender; judging (reading the logs,
// which takes about Envoy's one-second flush) happens beside it in Workers
// goroutines, so the cadence does not depend on the flush. When every judge is
// busy the sender waits (no probe is dropped unjudged), and the report's count
// says how many were sent. A probe is:
//
//   - passed: the expectation held;
//   - failed: a check failed. That is disruption. Its time and evidence are kept;
//   - inconclusive: nothing was learnt about the mesh: no client pod to send from
//     (the upgrade is restarting it), the exec did not reach it, its logs could not
//     be read, or the answer was right but the access lines that prove the path
//     were unreadable (a gateway pod deleted before its log was read).
//
// The prober stops when Stop is called (the window's actions are done) or when
// Bound has passed, whichever comes first: it never outlives its window.
type Disruption struct {
	Window   string
	Scenario *scenario.Scenario
	Step     int
	// Client names the client Deployment (namespace/name) for reports.
	Client string
	// Resolve finds the target of one probe.
	Resolve func(ctx context.Context) (ProbeTarget, error)
	// Interval is the time between two probes' starts; Bound the longest the
	// prober runs.
	Interval, Bound time.Duration
	// Workers judge probes in parallel (default 4).
	Workers int
	// Curl is curl's --max-time; TrustArgs go to every curl.
	Curl      time.Duration
	TrustArgs []string
	// Keep bounds the failed and inconclusive probes kept with their evidence
	// (default 20); the counts are always complete.
	Keep int
	// Logf receives a line per failed or inconclusive probe.
	Logf func(format string, args ...any)
	// Now, Sleep and NewRequestID default to the real clock and probe.NewRequestID.
	Now          func() time.Time
	Sleep        func(ctx context.Context, d time.Duration) error
	NewRequestID func() string
}

// Monitor is a running Disruption.
type Monitor struct {
	d      Disruption
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	result report.Disruption
}

// sample is one probe handed from the sender to a judge.
type sample struct {
	n       int
	at      time.Time
	target  ProbeTarget
	request probe.Request
	result  probe.Result
	err     error
}

// Start begins probing in the background. ctx bounds everything, including the
// judging of the last probes after Stop; Stop itself only ends the sending.
func (d Disruption) Start(ctx context.Context) *Monitor {
	if d.Workers <= 0 {
		d.Workers = 4
	}
	if d.Keep <= 0 {
		d.Keep = 20
	}
	step := d.Scenario.Steps[d.Step]
	m := &Monitor{d: d, done: make(chan struct{})}
	m.result = report.Disruption{Window: d.Window, Scenario: d.Scenario.Name, Step: step.Name, Client: d.Client,
		Started: d.now(), Interval: d.Interval.String()}
	sendCtx, cancel := context.WithCancel(ctx)
	m.cancel = cancel
	queue := make(chan sample, d.Workers*2)
	var judges sync.WaitGroup
	for range d.Workers {
		judges.Add(1)
		go func() {
			defer judges.Done()
			for s := range queue {
				m.judge(ctx, step, s)
			}
		}()
	}
	go func() {
		defer close(m.done)
		stopped := m.send(sendCtx, step, queue)
		close(queue)
		judges.Wait()
		m.mu.Lock()
		m.result.Ended = d.now()
		m.result.Stopped = stopped
		m.mu.Unlock()
	}()
	return m
}

// Done is closed once the prober has stopped on its own (its bound ran out)
// and judged every probe, or after Stop.
func (m *Monitor) Done() <-chan struct{} { return m.done }

// Stop ends the sending, waits for the probes in flight to be judged, and
// returns the window's record.
func (m *Monitor) Stop() report.Disruption {
	m.cancel()
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	// Judges finish in any order; the report reads in time order.
	sort.SliceStable(m.result.Failures, func(i, j int) bool { return m.result.Failures[i].At.Before(m.result.Failures[j].At) })
	return m.result
}

// send probes every Interval until ctx ends or Bound has passed; it returns why
// it stopped. A probe in flight is finished, not abandoned: it runs on a context
// that Stop does not cancel.
func (m *Monitor) send(ctx context.Context, step scenario.Step, queue chan<- sample) string {
	d := m.d
	start := d.now()
	probeCtx := context.WithoutCancel(ctx)
	for n := 1; ; n++ {
		if ctx.Err() != nil {
			return "the window's actions ended"
		}
		if d.now().Sub(start) >= d.Bound {
			return fmt.Sprintf("its bound of %s ran out before the window's actions ended", d.Bound)
		}
		s := sample{n: n, at: d.now()}
		s.target, s.err = d.Resolve(probeCtx)
		if s.err == nil {
			s.request = probe.Request{URL: step.Request.URL, RequestID: d.newID(), Timeout: d.Curl, TrustArgs: d.TrustArgs, Options: step.Request.CurlArgs()}
			s.result, s.err = s.target.Prober.Probe(probeCtx, s.request)
			if s.err != nil {
				s.err = fmt.Errorf("probe: %w", s.err)
			}
		} else {
			s.err = fmt.Errorf("no client to send from: %w", s.err)
		}
		queue <- s
		if err := d.sleep(ctx, max(0, s.at.Add(d.Interval).Sub(d.now()))); err != nil {
			return "the window's actions ended"
		}
	}
}

// judge collects a probe's lines, evaluates the step's expectation and records
// the outcome.
func (m *Monitor) judge(ctx context.Context, step scenario.Step, s sample) {
	if s.err != nil {
		m.record(s, verdictInconclusive, s.err.Error(), nil)
		return
	}
	id := s.result.RequestID
	if id == "" {
		id = s.request.RequestID
	}
	wantGW := runner.WantGateway(step.Expect)
	found, err := s.target.Collector.Collect(ctx, evidence.Target{RequestID: id, LocalAddr: s.result.LocalAddr, Since: s.at}, wantGW)
	if err != nil {
		m.record(s, verdictInconclusive, "collect access lines: "+err.Error(), nil)
		return
	}
	ev := runner.ClusterEvidence(step, s.result, found, s.target.ClientIP, s.target.GatewayHosts)
	ev.RequestID = id
	// The lines the verdict needs are in hand even when another gateway pod's
	// log (one the rollout deleted) could not be read: they prove the path.
	if !ev.LogsObserved && found.Sidecar != nil && (found.Gateway != nil || !wantGW) {
		ev.LogsObserved = true
	}
	v := expect.Evaluate(step.Expect, ev)
	evid := probeEvidence(s, v, found)
	switch {
	case v.Passed():
		m.record(s, verdictPass, "", nil)
	case !ev.LogsObserved && trafficHeld(v):
		m.record(s, verdictInconclusive, "the answer was as expected but the access logs could not be read, so the path is unproven: "+
			strings.Join(found.Notes, "; "), evid)
	default:
		m.record(s, verdictFail, failures(v), evid)
	}
}

// trafficHeld: every check that does not read the access logs passed.
func trafficHeld(v expect.Verdict) bool {
	for _, c := range v.Failures() {
		if !strings.HasPrefix(c.Field, "expect.sidecarLog") && !strings.HasPrefix(c.Field, "expect.gatewayLog") && c.Field != "expect.route" {
			return false
		}
	}
	return true
}

func failures(v expect.Verdict) string {
	var out []string
	for _, c := range v.Failures() {
		out = append(out, fmt.Sprintf("%s want %s got %s", c.Field, c.Want, c.Got))
	}
	return strings.Join(out, "; ")
}

func probeEvidence(s sample, v expect.Verdict, f evidence.Found) []string {
	ev := v.Evidence
	out := []string{fmt.Sprintf("client: %s", s.target.Client)}
	status := "none"
	if ev.Status != nil {
		status = fmt.Sprint(*ev.Status)
	}
	out = append(out, fmt.Sprintf("status %s, curl exit %d, route %s", status, s.result.CurlExit, orNone(string(ev.Route))))
	if ev.SidecarRaw != "" {
		out = append(out, "sidecar: "+ev.SidecarRaw)
	}
	if ev.GatewayRaw != "" {
		out = append(out, "gateway ("+f.GatewayProxy.Pod+"): "+ev.GatewayRaw)
	}
	if b := strings.TrimSpace(s.result.Body); b != "" {
		out = append(out, "body: "+clipLine(b))
	}
	if e := strings.TrimSpace(s.result.Stderr); e != "" {
		out = append(out, "curl: "+clipLine(e))
	}
	for _, n := range f.Notes {
		out = append(out, "note: "+n)
	}
	return out
}

type verdictKind int

const (
	verdictPass verdictKind = iota
	verdictFail
	verdictInconclusive
)

func (m *Monitor) record(s sample, k verdictKind, reason string, evid []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := &m.result
	r.Probes++
	id := s.result.RequestID
	if id == "" {
		id = s.request.RequestID
	}
	switch k {
	case verdictPass:
		r.Passed++
	case verdictFail:
		r.Failed++
		at := s.at
		if r.FirstFailure == nil || at.Before(*r.FirstFailure) {
			r.FirstFailure = &at
		}
		if r.LastFailure == nil || at.After(*r.LastFailure) {
			at2 := at
			r.LastFailure = &at2
		}
	case verdictInconclusive:
		r.Inconclusive++
	}
	if k != verdictPass {
		if len(r.Failures) < m.d.Keep {
			r.Failures = append(r.Failures, report.ProbeFailure{At: s.at, RequestID: id, Inconclusive: k == verdictInconclusive,
				Reason: reason, Evidence: evid})
		}
		if m.d.Logf != nil {
			kind := "FAILED"
			if k == verdictInconclusive {
				kind = "inconclusive"
			}
			m.d.Logf("  prober %s: probe %d at %s %s: %s", m.d.Window, s.n, s.at.UTC().Format("15:04:05.000"), kind, reason)
		}
	}
}

func (d Disruption) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d Disruption) sleep(ctx context.Context, t time.Duration) error {
	if d.Sleep != nil {
		return d.Sleep(ctx, t)
	}
	return probe.SleepContext(ctx, t)
}

func (d Disruption) newID() string {
	if d.NewRequestID != nil {
		return d.NewRequestID()
	}
	return probe.NewRequestID()
}

// ErrDisrupted is wrapped by DisruptionErr.
var ErrDisrupted = errors.New("requests failed during the upgrade")

// DisruptionErr is nil when no probe failed, else an error with the window.
func DisruptionErr(r report.Disruption) error {
	if r.Failed == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s: %s", ErrDisrupted, r.Window, r.WindowOfDisruption())
}
