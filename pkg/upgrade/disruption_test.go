package upgrade

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/evidence"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
	"github.com/egress-conformance/egress-conformance/pkg/report"
)

// exchange is what one background probe met: curl's result (or a transport
// error), and the access lines the proxies wrote for it, replayed from real
// recordings (data_test.go).
type exchange struct {
	id         string
	status     int
	curlExit   int
	body       string
	localAddr  string
	took       time.Duration
	err        error // the probe's transport error
	resolveErr error // no client pod to send from
	sidecar    string
	gateway    string
	unread     bool // a gateway pod's log could not be read
}

var (
	// Through the gateway, as recorded (the seed scenario's after-routing step).
	viaGateway = exchange{id: idViaGW, status: 200, body: bodyIPViaGW, localAddr: localAddrViaGW,
		took: 614 * time.Millisecond, sidecar: lineSidecarViaGW, gateway: lineGatewayOtherRun}
	// Refused upstream while the gateway rolled: 503 UF.
	failed503 = exchange{id: id503UF, status: 503, body: body503, localAddr: "100.72.9.85:44759",
		took: 3 * time.Millisecond, sidecar: line503UF}
	// The exec never reached the client (its kubelet was down).
	lostExec = exchange{took: 5 * time.Second, err: &probe.ExecError{Namespace: clientN, Pod: "sleep-old", Container: "sleep",
		URL: "http://httpbin.org/ip", RequestIDs: []string{"a", "b", "c"}, Err: errKubeletDown}}
	// The client restarted: no Ready pod for a moment.
	noClient = exchange{resolveErr: errors.New("client egress-egress-gateway-http/sleep: no Ready pod (of 2)")}
	// Right answer, but the gateway pod that served it was gone before its log
	// was read: the sidecar line alone names the gateway. (Its id is only the
	// fake's key for replaying the recorded lines, distinct from viaGateway's.)
	unreadGateway = exchange{id: "unread-" + idViaGW, status: 200, body: bodyIPViaGW, localAddr: localAddrViaGW,
		took: 614 * time.Millisecond, sidecar: lineSidecarViaGW, unread: true}
)

// probeWorld replays a script of exchanges, one per probe, in order. It is the
// prober's Resolve, Prober, Collector and request-id source.
type probeWorld struct {
	t      *testing.T
	clock  *clock
	mu     sync.Mutex
	script []exchange
	next   int
	sent   int
	// blockAfter, when above zero, makes the sender's sleep wait for Stop once
	// that many probes were sent; sentEnough is closed then.
	blockAfter int
	sentEnough chan struct{}
}

func (w *probeWorld) current() exchange {
	if w.next >= len(w.script) {
		return w.script[len(w.script)-1]
	}
	return w.script[w.next]
}

func (w *probeWorld) Resolve(ctx context.Context) (ProbeTarget, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if x := w.current(); x.resolveErr != nil {
		w.next++
		w.sent++
		return ProbeTarget{}, x.resolveErr
	}
	return ProbeTarget{Prober: w, Collector: w, ClientIP: clientIP, Client: clientN + "/sleep-new"}, nil
}

func (w *probeWorld) NewRequestID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if id := w.current().id; id != "" {
		return id
	}
	return probe.NewRequestID()
}

func (w *probeWorld) Probe(ctx context.Context, r probe.Request) (probe.Result, error) {
	w.mu.Lock()
	x := w.current()
	w.next++
	w.sent++
	w.mu.Unlock()
	if r.URL != "http://httpbin.org/ip" || r.Timeout != 10*time.Second {
		w.t.Errorf("probe request %+v", r)
	}
	started := w.clock.Now()
	w.clock.mu.Lock()
	w.clock.now = w.clock.now.Add(x.took)
	w.clock.mu.Unlock()
	if x.err != nil {
		return probe.Result{RequestID: r.RequestID, Started: started}, x.err
	}
	return probe.Result{RequestID: r.RequestID, Status: x.status, CurlExit: x.curlExit, Body: x.body, LocalAddr: x.localAddr,
		Started: started, Duration: x.took}, nil
}

// Collect finds the lines of the exchange whose request id the target carries.
func (w *probeWorld) Collect(ctx context.Context, t evidence.Target, wantGateway bool) (evidence.Found, error) {
	var x *exchange
	for i := range w.script {
		if w.script[i].id == t.RequestID {
			x = &w.script[i]
			break
		}
	}
	if x == nil {
		w.t.Errorf("collect for unknown request id %q", t.RequestID)
		return evidence.Found{}, nil
	}
	f := evidence.Found{LogsObserved: !x.unread}
	if x.sidecar != "" {
		e, err := accesslog.Parse(x.sidecar)
		if err != nil {
			w.t.Fatalf("real line does not parse: %v", err)
		}
		f.Sidecar, f.SidecarRaw = &e, x.sidecar
	}
	if x.gateway != "" {
		e, err := accesslog.Parse(x.gateway)
		if err != nil {
			w.t.Fatalf("real line does not parse: %v", err)
		}
		f.Gateway, f.GatewayRaw = &e, x.gateway
		f.GatewayProxy = evidence.Proxy{Namespace: "istio-system", Pod: "istio-egressgateway-new", Container: ProxyContainer}
	}
	if x.unread {
		f.Notes = append(f.Notes, "logs of pod istio-system/istio-egressgateway-old container istio-proxy: pods \"istio-egressgateway-old\" not found")
	}
	return f, nil
}

func (w *probeWorld) Sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	block := w.blockAfter > 0 && w.sent >= w.blockAfter
	w.mu.Unlock()
	if block {
		select {
		case <-w.sentEnough:
		default:
			close(w.sentEnough)
		}
		<-ctx.Done()
		return ctx.Err()
	}
	return w.clock.Sleep(ctx, d)
}

func newDisruption(w *probeWorld, workers int) Disruption {
	return Disruption{
		Window: WindowUpgrade, Scenario: seedScenario(), Step: 1, Client: clientN + "/sleep",
		Resolve: w.Resolve, Interval: time.Second, Bound: 10 * time.Second, Workers: workers,
		Curl: 10 * time.Second, Now: w.clock.Now, Sleep: w.Sleep, NewRequestID: w.NewRequestID,
	}
}

func TestDisruptionCountsEveryProbe(t *testing.T) {
	for _, workers := range []int{1, 4} {
		w := &probeWorld{t: t, clock: newClock(), script: []exchange{
			viaGateway, viaGateway, // t=0s, 1s
			failed503, failed503, failed503, // t=2s, 3s, 4s: the gateway rolls
			noClient,      // t=5s: the client restarts
			lostExec,      // t=6s, and the exec takes 5 s
			unreadGateway, // t=11s: the old gateway pod's log is gone
			viaGateway,    // t=12s… until the bound
		}}
		start := w.clock.Now()
		var logged []string
		var logMu sync.Mutex
		d := newDisruption(w, workers)
		d.Bound = 20 * time.Second
		d.Logf = func(format string, args ...any) {
			logMu.Lock()
			defer logMu.Unlock()
			logged = append(logged, format)
		}
		m := d.Start(context.Background())
		<-m.Done()
		r := m.Stop()

		if r.Probes != w.sent || r.Probes != r.Passed+r.Failed+r.Inconclusive {
			t.Fatalf("workers=%d: %d probes sent, report %+v", workers, w.sent, r)
		}
		if r.Failed != 3 || r.Inconclusive != 3 {
			t.Errorf("workers=%d: failed %d, inconclusive %d; want 3 and 3", workers, r.Failed, r.Inconclusive)
		}
		// One probe per second from the start: the failures were probes 3 to 5.
		if r.FirstFailure == nil || !r.FirstFailure.Equal(start.Add(2*time.Second)) ||
			r.LastFailure == nil || !r.LastFailure.Equal(start.Add(4*time.Second)) {
			t.Errorf("workers=%d: window %v – %v", workers, r.FirstFailure, r.LastFailure)
		}
		if r.Probes != 16 {
			t.Errorf("workers=%d: %d probes; want 16 (one a second for 20 s, but the lost exec took 5)", workers, r.Probes)
		}
		if !strings.Contains(r.Stopped, "bound of 20s") {
			t.Errorf("stopped: %q", r.Stopped)
		}
		if got := r.WindowOfDisruption(); !strings.HasPrefix(got, "3 of "+strconv.Itoa(r.Probes)+" probes failed between 12:00:02.000Z and 12:00:04.000Z (2s)") {
			t.Errorf("window of disruption %q", got)
		}
		// The failures keep their evidence: the real 503 line and body.
		var fail, unread, exec, resolve *report.ProbeFailure
		for i := range r.Failures {
			f := &r.Failures[i]
			switch {
			case !f.Inconclusive && fail == nil:
				fail = f
			case strings.Contains(f.Reason, "access logs could not be read"):
				unread = f
			case strings.Contains(f.Reason, "probe:"):
				exec = f
			case strings.Contains(f.Reason, "no client to send from"):
				resolve = f
			}
		}
		if fail == nil || fail.RequestID != id503UF || !strings.Contains(strings.Join(fail.Evidence, "\n"), line503UF) ||
			!strings.Contains(strings.Join(fail.Evidence, "\n"), "body: "+body503) ||
			!strings.Contains(fail.Reason, "expect.status want 200 got 503") || !strings.Contains(fail.Reason, "expect.route want egress-gateway got blocked") {
			t.Errorf("failure %+v", fail)
		}
		if unread == nil || !unread.Inconclusive || !strings.Contains(unread.Reason, "istio-egressgateway-old") {
			t.Errorf("unread gateway log: %+v", unread)
		}
		if exec == nil || !exec.Inconclusive || !strings.Contains(exec.Reason, "error dialing backend") {
			t.Errorf("lost exec: %+v", exec)
		}
		if resolve == nil || !resolve.Inconclusive {
			t.Errorf("no client: %+v", resolve)
		}
		for i := 1; i < len(r.Failures); i++ {
			if r.Failures[i].At.Before(r.Failures[i-1].At) {
				t.Errorf("failures out of time order: %v", r.Failures)
			}
		}
		if len(logged) != 6 {
			t.Errorf("workers=%d: %d lines logged, want one per failed or inconclusive probe", workers, len(logged))
		}
		if err := DisruptionErr(r); !errors.Is(err, ErrDisrupted) || !strings.Contains(err.Error(), "upgrade: 3 of") {
			t.Errorf("DisruptionErr: %v", err)
		}
	}
}

// Every probe through the gateway as recorded: no failure, and the report says so.
func TestDisruptionNone(t *testing.T) {
	w := &probeWorld{t: t, clock: newClock(), script: []exchange{viaGateway}}
	m := newDisruption(w, 2).Start(context.Background())
	<-m.Done()
	r := m.Stop()
	if r.Probes != 10 || r.Passed != 10 || r.Failed != 0 || r.FirstFailure != nil || len(r.Failures) != 0 {
		t.Fatalf("%+v", r)
	}
	if r.WindowOfDisruption() != "no failed request (10 probes)" || DisruptionErr(r) != nil {
		t.Errorf("%q %v", r.WindowOfDisruption(), DisruptionErr(r))
	}
	if r.Scenario != "egress-gateway-http" || r.Step != "after-routing" || r.Interval != "1s" || r.Window != WindowUpgrade {
		t.Errorf("%+v", r)
	}
}

// Stop ends the sending when the window's actions are done, well before the
// bound; the probes sent are all judged.
func TestDisruptionStop(t *testing.T) {
	w := &probeWorld{t: t, clock: newClock(), script: []exchange{viaGateway}, blockAfter: 3, sentEnough: make(chan struct{})}
	m := newDisruption(w, 4).Start(context.Background())
	<-w.sentEnough
	r := m.Stop()
	if r.Probes != 3 || r.Passed != 3 || r.Stopped != "the window's actions ended" {
		t.Fatalf("%+v", r)
	}
}

// The prober keeps only a bounded number of failures with evidence; the
// counts stay complete.
func TestDisruptionKeepsABoundedRecord(t *testing.T) {
	w := &probeWorld{t: t, clock: newClock(), script: []exchange{failed503}}
	d := newDisruption(w, 1)
	d.Keep = 4
	m := d.Start(context.Background())
	<-m.Done()
	r := m.Stop()
	if r.Failed != 10 || len(r.Failures) != 4 {
		t.Fatalf("failed %d, kept %d", r.Failed, len(r.Failures))
	}
}
