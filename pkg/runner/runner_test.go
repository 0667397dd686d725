package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/evidence"
	"github.com/egress-conformance/egress-conformance/pkg/expect"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
)

// clock is a fake clock shared by the fakes and the code under test: Sleep
// advances it at once, so a 60 s convergence runs in microseconds.
type clock struct {
	now    time.Time
	sleeps []time.Duration
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { return c.now }

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

// exchange is what one probe met: curl's result (or a transport error) and the
// access lines the proxies wrote for it.
type exchange struct {
	id        string // the request id the recorded lines carry
	status    int
	curlExit  int
	body      string
	localAddr string
	took      time.Duration
	err       error

	// For the fake Collector: the lines it reports.
	sidecar, gateway string
	notObserved      bool

	// For the real Collector on fakeLogs: lines written into a pod's log, visible
	// after a flush delay counted from the end of the request.
	writes []write
}

type write struct {
	pod   string
	delay time.Duration
	line  string
}

// world replays a script of exchanges. It is the Prober, the fake Collector, and
// the runner's request-id source (the ids of the recorded lines, in order).
type world struct {
	t       *testing.T
	clock   *clock
	script  []exchange
	next    int // the exchange the next probe plays
	logs    *fakeLogs
	probed  []string // request ids the runner sent
	targets []evidence.Target
}

func (w *world) current() exchange {
	if w.next >= len(w.script) {
		return w.script[len(w.script)-1] // the last exchange repeats
	}
	return w.script[w.next]
}

// NewRequestID hands the runner the id the recorded lines carry.
func (w *world) NewRequestID() string {
	if id := w.current().id; id != "" {
		return id
	}
	return probe.NewRequestID()
}

func (w *world) Probe(ctx context.Context, r probe.Request) (probe.Result, error) {
	x := w.current()
	w.next++
	w.probed = append(w.probed, r.RequestID)
	if r.URL == "" || r.Timeout <= 0 {
		w.t.Errorf("probe request %+v: want a URL and a curl timeout", r)
	}
	started := w.clock.now
	w.clock.now = w.clock.now.Add(x.took)
	if x.err != nil {
		return probe.Result{RequestID: r.RequestID, Started: started}, x.err
	}
	for _, wr := range x.writes {
		w.logs.write(wr.pod, wr.delay, wr.line)
	}
	return probe.Result{RequestID: r.RequestID, Status: x.status, CurlExit: x.curlExit, Body: x.body,
		LocalAddr: x.localAddr, Command: probe.Command(r), Started: started, Duration: x.took}, nil
}

// Collect is the fake Collector: it reports the exchange's lines, parsed.
func (w *world) Collect(ctx context.Context, t evidence.Target, wantGateway bool) (evidence.Found, error) {
	w.targets = append(w.targets, t)
	x := w.script[min(w.next, len(w.script))-1]
	if t.RequestID != x.id && x.id != "" {
		w.t.Errorf("collect target id %q, want the probe's %q", t.RequestID, x.id)
	}
	f := evidence.Found{LogsObserved: !x.notObserved}
	if x.sidecar != "" {
		f.Sidecar, f.SidecarRaw = parse(w.t, x.sidecar), x.sidecar
	}
	if x.gateway != "" {
		f.Gateway, f.GatewayRaw = parse(w.t, x.gateway), x.gateway
	}
	return f, nil
}

// Exchanges of the seed scenario, recorded (see data_test.go).
var (
	direct = exchange{id: idDirect, status: 200, body: bodyIPDirect, localAddr: localAddrDirect,
		took: 608 * time.Millisecond, sidecar: lineSidecarDirect}
	viaGateway = exchange{id: idViaGW, status: 200, body: bodyIPViaGW, localAddr: localAddrViaGW,
		took: 614 * time.Millisecond, sidecar: lineSidecarViaGW, gateway: lineGatewayOtherRun}
	// A probe lost to an unreachable kubelet on every exec attempt (the message is
	// quoted from kubernetes/kubernetes#40817).
	lostExec = exchange{took: 5 * time.Second, err: &probe.ExecError{Namespace: "egress-gateway-http", Pod: "sleep-7f9c", Container: "sleep",
		URL: "http://httpbin.org/ip", RequestIDs: []string{"a", "b", "c"},
		Err: errors.New("error dialing backend: dial tcp 172.18.10.229:10250: getsockopt: connection refused")}}
)

func newRunner(w *world, collector Collector) Runner {
	if collector == nil {
		collector = w
	}
	return Runner{
		Prober: w, Collector: collector, ClientIP: clientIP,
		NewRequestID: w.NewRequestID, Now: w.clock.Now, Sleep: w.clock.Sleep,
	}
}

func newWorld(t *testing.T, script ...exchange) *world {
	c := newClock()
	return &world{t: t, clock: c, script: script, logs: newFakeLogs(c)}
}

func passFail(o Outcome) string {
	var b strings.Builder
	for _, a := range o.Attempts {
		switch {
		case a.Inconclusive():
			b.WriteByte('?')
		case a.Passed:
			b.WriteByte('P')
		default:
			b.WriteByte('F')
		}
	}
	return b.String()
}

// Config propagation: the first two probes still leave directly, then the
// gateway route is pushed and three probes in a row go through it.
func TestConvergeAfterPropagation(t *testing.T) {
	w := newWorld(t, direct, direct, viaGateway, viaGateway, viaGateway)
	o := newRunner(w, nil).Converge(context.Background(), stepAfterRouting)
	if !o.Passed || o.Total != 5 || passFail(o) != "FFPPP" || o.Streak != 3 {
		t.Fatalf("passed %v total %d pattern %s streak %d\n%s", o.Passed, o.Total, passFail(o), o.Streak, o)
	}
	if !strings.Contains(o.Reason, "attempts 3–5") {
		t.Errorf("reason = %q", o.Reason)
	}
	// The first attempts failed for the right reason: the route was direct.
	c, _ := o.Attempts[0].Verdict.Check("expect.route")
	if c.Got != "direct" || c.Outcome != expect.Fail {
		t.Errorf("attempt 1 route check = %+v", c)
	}
	if !o.Last.Passed() || o.Last.Evidence.ClientIP != clientIP {
		t.Errorf("last verdict:\n%s", o.Last)
	}
	for _, d := range w.clock.sleeps {
		if d > time.Second {
			t.Errorf("slept %s, beyond the probe interval", d)
		}
	}
}

// A failure resets the streak: pass, fail, pass, pass, pass needs all five.
func TestConvergeFlapping(t *testing.T) {
	for _, tt := range []struct {
		script  []exchange
		pattern string
	}{
		{[]exchange{viaGateway, direct, viaGateway, viaGateway, viaGateway}, "PFPPP"},
		{[]exchange{viaGateway, viaGateway, direct, viaGateway, viaGateway, viaGateway}, "PPFPPP"},
	} {
		w := newWorld(t, tt.script...)
		o := newRunner(w, nil).Converge(context.Background(), stepAfterRouting)
		if !o.Passed || passFail(o) != tt.pattern || o.Total != len(tt.script) {
			t.Errorf("script %s: passed %v pattern %s total %d", tt.pattern, o.Passed, passFail(o), o.Total)
		}
	}
}

// A step that never converges fails after Converge with the last verdict, the
// reason, and a bounded list of attempts.
func TestConvergeNeverConverges(t *testing.T) {
	w := newWorld(t, direct)
	o := newRunner(w, nil).Converge(context.Background(), stepAfterRouting)
	if o.Passed {
		t.Fatal("passed")
	}
	if o.Total < 50 || len(o.Attempts) != keptAttempts+1 || o.Attempts[0].N != 1 || o.Attempts[len(o.Attempts)-1].N != o.Total {
		t.Errorf("total %d, kept %d (first %d, last %d); want about one per second for 60 s, first + last %d kept",
			o.Total, len(o.Attempts), o.Attempts[0].N, o.Attempts[len(o.Attempts)-1].N, keptAttempts)
	}
	if o.Last.Passed() || len(o.Last.Checks) == 0 {
		t.Errorf("last verdict must be the failing one:\n%s", o.Last)
	}
	for _, want := range []string{"did not hold for 3 consecutive probes within 1m0s", "longest streak 0",
		"expect.route want egress-gateway got direct", idDirect} {
		if !strings.Contains(o.Reason, want) {
			t.Errorf("reason lacks %q: %s", want, o.Reason)
		}
	}
	s := o.String()
	for _, want := range []string{"step after-routing FAILED", "in between left out", "last verdict:", lineSidecarDirect} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if err := o.Err(); !errors.Is(err, ErrNotConverged) {
		t.Errorf("Err() = %v", err)
	}
	// ProbeInterval is from start to start: a probe that took 608 ms is followed
	// by a pause of 392 ms, never a fixed sleep on top.
	for _, d := range w.clock.sleeps {
		if d != 392*time.Millisecond {
			t.Errorf("pause %s, want 392ms", d)
			break
		}
	}
}

func TestConvergeTransportErrors(t *testing.T) {
	t.Run("inconclusive attempts break a streak and are reported", func(t *testing.T) {
		w := newWorld(t, lostExec, viaGateway, viaGateway, lostExec, viaGateway, viaGateway, viaGateway)
		o := newRunner(w, nil).Converge(context.Background(), stepAfterRouting)
		if !o.Passed || passFail(o) != "?PP?PPP" {
			t.Fatalf("passed %v pattern %s\n%s", o.Passed, passFail(o), o)
		}
		a := o.Attempts[0]
		if !a.Inconclusive() || a.Passed || len(a.Verdict.Checks) != 0 || !strings.Contains(a.Summary(), "inconclusive: probe:") ||
			!strings.Contains(a.Summary(), "pod egress-gateway-http/sleep-7f9c") {
			t.Errorf("attempt 1: %s", a.Summary())
		}
		if !strings.Contains(o.Reason, "2 inconclusive") {
			t.Errorf("reason = %q", o.Reason)
		}
		if len(w.targets) != 5 {
			t.Errorf("logs searched %d times; a lost probe has nothing to search for", len(w.targets))
		}
	})
	t.Run("only transport errors: a failure without a verdict", func(t *testing.T) {
		w := newWorld(t, lostExec)
		o := newRunner(w, nil).Converge(context.Background(), stepAfterRouting)
		if o.Passed || len(o.Last.Checks) != 0 || !strings.Contains(o.Reason, "connection refused") {
			t.Fatalf("passed %v last %d checks reason %q", o.Passed, len(o.Last.Checks), o.Reason)
		}
	})
	t.Run("a failed log search is inconclusive", func(t *testing.T) {
		w := newWorld(t, viaGateway)
		col := collectorFunc(func(ctx context.Context, t evidence.Target, _ bool) (evidence.Found, error) {
			return evidence.Found{}, fmt.Errorf("collect access lines for request id %s: %w", t.RequestID, context.DeadlineExceeded)
		})
		r := newRunner(w, col)
		r.Timeouts = Timeouts{Converge: 5 * time.Second}
		o := r.Converge(context.Background(), stepAfterRouting)
		if o.Passed || !o.Attempts[0].Inconclusive() || !strings.Contains(o.Attempts[0].Summary(), "collect access lines") {
			t.Fatalf("%s", o)
		}
	})
}

type collectorFunc func(context.Context, evidence.Target, bool) (evidence.Found, error)

func (f collectorFunc) Collect(ctx context.Context, t evidence.Target, want bool) (evidence.Found, error) {
	return f(ctx, t, want)
}

// Logs that could not be read prove no absence: gatewayLog: absent fails.
func TestConvergeLogsNotObserved(t *testing.T) {
	x := direct
	x.notObserved = true
	r := newRunner(newWorld(t, x), nil)
	r.Timeouts = Timeouts{Converge: 3 * time.Second}
	o := r.Converge(context.Background(), stepBeforeRouting)
	c, ok := o.Last.Check("expect.gatewayLog")
	if o.Passed || !ok || c.Outcome != expect.Fail || c.Got != "not read" {
		t.Fatalf("gatewayLog check %+v\n%s", c, o)
	}
}

func TestConvergeContextEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := newWorld(t, viaGateway)
	r := newRunner(w, nil)
	r.OnAttempt = func(a Attempt) { cancel() }
	o := r.Converge(ctx, stepAfterRouting)
	if o.Passed || o.Total != 1 || !strings.Contains(o.Reason, "context canceled") {
		t.Fatalf("passed %v total %d reason %q", o.Passed, o.Total, o.Reason)
	}
}

func TestConvergeBadSetup(t *testing.T) {
	w := newWorld(t, viaGateway)
	r := newRunner(w, nil)
	r.Timeouts = Timeouts{Curl: time.Minute} // above Exec's default 30 s
	if o := r.Converge(context.Background(), stepAfterRouting); o.Passed || !strings.Contains(o.Reason, "Curl=1m0s must be below Exec=30s") {
		t.Errorf("reason %q", o.Reason)
	}
	if o := (Runner{}).Converge(context.Background(), stepAfterRouting); o.Passed || o.Reason == "" {
		t.Errorf("no prober: %+v", o)
	}
}

func TestClusterEvidence(t *testing.T) {
	res := probe.Result{RequestID: idViaGW, Status: 200, Body: bodyIPViaGW, LocalAddr: localAddrViaGW}
	f := evidence.Found{Sidecar: parse(t, lineSidecarViaGW), SidecarRaw: lineSidecarViaGW, LogsObserved: true}
	ev := ClusterEvidence(stepAfterRouting, res, f, clientIP, nil)
	if ev.Tier != expect.Cluster || *ev.Status != 200 || *ev.CurlExit != 0 || !ev.OriginObserved || ev.Origin.Hops() != 2 || ev.ClientIP != clientIP {
		t.Errorf("evidence:\n%s", ev)
	}
	// No HTTP answer: no status, and no origin read from an empty body.
	res = probe.Result{RequestID: "x", CurlExit: 35, LocalAddr: localAddrBlackHole}
	ev = ClusterEvidence(stepAfterRouting, res, evidence.Found{}, clientIP, nil)
	if ev.Status != nil || *ev.CurlExit != 35 || ev.OriginObserved {
		t.Errorf("evidence:\n%s", ev)
	}
	// No origin expectation: the body is kept, the origin not read.
	ev = ClusterEvidence(stepRegistryOnlyHTTPS, probe.Result{Status: 502}, evidence.Found{}, clientIP, nil)
	if ev.OriginObserved {
		t.Errorf("origin read for a step that states none")
	}
}

func TestWantGateway(t *testing.T) {
	if WantGateway(stepBeforeRouting.Expect) || !WantGateway(stepAfterRouting.Expect) || WantGateway(stepRegistryOnlyHTTPS.Expect) {
		t.Error("WantGateway: want it only for the egress-gateway step")
	}
}
