package evidence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// clock is a fake clock: Sleep advances it at once, so a Collect that waits
// seconds runs in microseconds. It records every sleep.
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

// fakeLogs is a LogSource over a fake clock: each line becomes visible at the
// time it is written (as Envoy's flush makes it), and a read returns the lines
// written at or after since, as the API server's SinceTime does.
type fakeLogs struct {
	clock *clock
	lines map[string][]written // by pod
	// fail makes the next reads of a pod fail, one error per read.
	fail  map[string][]error
	reads map[string]int
}

type written struct {
	at   time.Time
	text string
}

func newFakeLogs(c *clock) *fakeLogs {
	return &fakeLogs{clock: c, lines: map[string][]written{}, fail: map[string][]error{}, reads: map[string]int{}}
}

// write makes text visible in pod's log after delay (from the clock's now).
func (f *fakeLogs) write(pod string, delay time.Duration, text ...string) {
	for _, t := range text {
		f.lines[pod] = append(f.lines[pod], written{at: f.clock.now.Add(delay), text: t})
	}
}

func (f *fakeLogs) Logs(ctx context.Context, p Proxy, since time.Time) (string, error) {
	f.reads[p.Pod]++
	if errs := f.fail[p.Pod]; len(errs) > 0 {
		f.fail[p.Pod] = errs[1:]
		if errs[0] != nil {
			return "", errs[0]
		}
	}
	var b strings.Builder
	for _, w := range f.lines[p.Pod] {
		if w.at.After(f.clock.now) || w.at.Before(since) {
			continue
		}
		b.WriteString(w.text + "\n")
	}
	return b.String(), nil
}

var (
	sidecarProxy = Proxy{Namespace: "egress-gateway-http", Pod: "sleep-7f9c", Container: ProxyContainer}
	gatewayProxy = Proxy{Namespace: "istio-system", Pod: "istio-egressgateway-5d8f", Container: ProxyContainer, IP: policiesGatewayIP}
)

func newCollector(c *clock, src LogSource, gateways ...Proxy) Collector {
	return Collector{
		Source: src, Sidecar: sidecarProxy, Gateways: gateways,
		Poll: 250 * time.Millisecond, Flush: 2 * time.Second, Timeout: 15 * time.Second,
		SinceSlack: 2 * time.Second, Now: c.Now, Sleep: c.Sleep,
	}
}

// checkSleeps asserts the Collector never slept beyond its poll interval.
func checkSleeps(t *testing.T, c *clock, poll time.Duration) {
	t.Helper()
	for _, d := range c.sleeps {
		if d > poll || d <= 0 {
			t.Errorf("slept %s; every pause must be in (0, %s]", d, poll)
		}
	}
}

func TestCollectHTTPThroughGateway(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	since := c.now
	logs.write(sidecarProxy.Pod, 0, pilotAgentLine)
	logs.write(sidecarProxy.Pod, 1100*time.Millisecond, policiesSidecar)
	logs.write(gatewayProxy.Pod, 0, policiesGatewayRBAC, envoyNative)
	logs.write(gatewayProxy.Pod, 900*time.Millisecond, policiesGateway)

	f, err := newCollector(c, logs, gatewayProxy).Collect(context.Background(),
		Target{RequestID: policiesRequestID, LocalAddr: "10.100.0.5:48764", Since: since}, true)
	if err != nil {
		t.Fatal(err)
	}
	if f.Sidecar == nil || f.SidecarRaw != policiesSidecar {
		t.Fatalf("sidecar line = %q, want the recorded one", f.SidecarRaw)
	}
	if f.Gateway == nil || f.GatewayRaw != policiesGateway || f.GatewayProxy != gatewayProxy {
		t.Fatalf("gateway line = %q from %v, want the recorded one from %v", f.GatewayRaw, f.GatewayProxy, gatewayProxy)
	}
	if !f.LogsObserved {
		t.Errorf("LogsObserved = false; notes %q", f.Notes)
	}
	if len(f.Notes) != 0 {
		t.Errorf("notes = %q, want none", f.Notes)
	}
	checkSleeps(t, c, 250*time.Millisecond)
}

// The sidecar's upstream host is the watched gateway pod: its line must come, so
// Collect waits past the flush window for it.
func TestCollectWaitsForGatewayLineTheSidecarPointsTo(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(sidecarProxy.Pod, time.Second, policiesSidecar)
	logs.write(gatewayProxy.Pod, 6*time.Second, policiesGateway) // a slow flush
	f, err := newCollector(c, logs, gatewayProxy).Collect(context.Background(),
		Target{RequestID: policiesRequestID, Since: c.now}, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Gateway == nil {
		t.Fatalf("no gateway line; notes %q", f.Notes)
	}
	checkSleeps(t, c, 250*time.Millisecond)
}

// Without known gateway IPs and without wantGateway, a gateway line counts as
// absent once the sidecar line has been visible for Flush — and not before.
func TestCollectFlushWindow(t *testing.T) {
	gatewayNoIP := gatewayProxy
	gatewayNoIP.IP = ""
	for _, tt := range []struct {
		name        string
		gatewayLate time.Duration // after the sidecar line
		wantGateway bool
	}{
		{"gateway line within the window is found", 1500 * time.Millisecond, true},
		{"gateway line after the window is not waited for", 3 * time.Second, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			logs := newFakeLogs(c)
			logs.write(sidecarProxy.Pod, time.Second, policiesSidecar)
			logs.write(gatewayNoIP.Pod, time.Second+tt.gatewayLate, policiesGateway)
			f, err := newCollector(c, logs, gatewayNoIP).Collect(context.Background(),
				Target{RequestID: policiesRequestID, Since: c.now}, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Gateway != nil; got != tt.wantGateway {
				t.Fatalf("gateway line found = %v, want %v (notes %q)", got, tt.wantGateway, f.Notes)
			}
			if !f.LogsObserved {
				t.Errorf("LogsObserved = false")
			}
			checkSleeps(t, c, 250*time.Millisecond)
		})
	}
}

// The seed scenario's before-routing step: the sidecar sent the request straight
// out, the gateway only logged a neighbour. Absence is proven after the window.
func TestCollectDirectGatewayAbsent(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(sidecarProxy.Pod, 700*time.Millisecond, directSidecar)
	logs.write(gatewayProxy.Pod, 300*time.Millisecond, otherGatewayLine, pilotAgentLine)
	f, err := newCollector(c, logs, gatewayProxy).Collect(context.Background(),
		Target{RequestID: directRequestID, LocalAddr: "10.244.104.16:43594", Since: c.now}, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.SidecarRaw != directSidecar || f.Gateway != nil || !f.LogsObserved {
		t.Fatalf("found sidecar %q gateway %q observed %v; want the sidecar line, no gateway line, observed",
			f.SidecarRaw, f.GatewayRaw, f.LogsObserved)
	}
	// wantGateway does not hold Collect when the sidecar proves the request went
	// elsewhere (the gateway's IP is known and is not the upstream host).
	c2 := newClock()
	logs2 := newFakeLogs(c2)
	logs2.write(sidecarProxy.Pod, 700*time.Millisecond, directSidecar)
	f2, err := newCollector(c2, logs2, gatewayProxy).Collect(context.Background(),
		Target{RequestID: directRequestID, Since: c2.now}, true)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(f2.Notes, func(n string) bool { return strings.HasPrefix(n, "gave up") }) {
		t.Errorf("Collect waited for a gateway line the sidecar line rules out: %q", f2.Notes)
	}
}

// REGISTRY_ONLY HTTPS: the sidecar's TCP line has no request id; it is the one
// whose downstream peer is curl's local address.
func TestCollectTCPLineByLocalAddr(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(sidecarProxy.Pod, time.Second, registryOnlyBlockAll, registryOnlyBlackHole)
	f, err := newCollector(c, logs, gatewayProxy).Collect(context.Background(),
		Target{RequestID: "0d5f7d0e-3d2e-4f51-9a59-3a1b5a7c2f10", LocalAddr: blackHoleLocalAddr, Since: c.now}, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.SidecarRaw != registryOnlyBlackHole {
		t.Fatalf("sidecar line = %q, want the BlackHoleCluster TCP line", f.SidecarRaw)
	}
	if f.Gateway != nil || !f.LogsObserved {
		t.Errorf("gateway %q observed %v", f.GatewayRaw, f.LogsObserved)
	}
}

// TLS passthrough: the gateway's TCP line is the one whose downstream peer is the
// sidecar line's upstream local address.
func TestCollectGatewayTCPLineBySidecarUpstreamLocalAddr(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	gw := Proxy{Namespace: "default", Pod: "cnn-egress-gateway-istio-6c9d", Container: ProxyContainer, IP: passthroughGatewayIP}
	logs.write(sidecarProxy.Pod, time.Second, passthroughSidecarConstructed)
	logs.write(gw.Pod, 1200*time.Millisecond, policiesGatewayRBAC, passthroughGateway)
	f, err := newCollector(c, logs, gw).Collect(context.Background(),
		Target{RequestID: "9b0e1c55-0f4b-4a51-8d9c-1f2e3d4c5b6a", LocalAddr: passthroughLocalAddr, Since: c.now}, true)
	if err != nil {
		t.Fatal(err)
	}
	if f.SidecarRaw != passthroughSidecarConstructed || f.GatewayRaw != passthroughGateway {
		t.Fatalf("found sidecar %q gateway %q", f.SidecarRaw, f.GatewayRaw)
	}
}

func TestCollectTimeoutReturnsWhatWasFound(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(gatewayProxy.Pod, 0, otherGatewayLine)
	col := newCollector(c, logs, gatewayProxy)
	f, err := col.Collect(context.Background(), Target{RequestID: directRequestID, LocalAddr: "10.244.104.16:43594", Since: c.now}, false)
	if err != nil {
		t.Fatalf("a timeout must not be an error: %v", err)
	}
	if f.Sidecar != nil || f.Gateway != nil {
		t.Fatalf("found lines that are not there: %q %q", f.SidecarRaw, f.GatewayRaw)
	}
	if !f.LogsObserved {
		t.Errorf("the reads worked: LogsObserved must be true so that the verdict says what is missing")
	}
	last := f.Notes[len(f.Notes)-1]
	if !strings.Contains(last, "gave up after 15s") || !strings.Contains(last, directRequestID) {
		t.Errorf("last note = %q, want the give-up note naming the request id", last)
	}
	checkSleeps(t, c, col.Poll)
}

// The sidecar line names the watched gateway pod, which never logs the request.
func TestCollectGatewayLineNeverComes(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(sidecarProxy.Pod, time.Second, policiesSidecar)
	f, err := newCollector(c, logs, gatewayProxy).Collect(context.Background(),
		Target{RequestID: policiesRequestID, Since: c.now}, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Sidecar == nil || f.Gateway != nil || !f.LogsObserved {
		t.Fatalf("sidecar %v gateway %v observed %v", f.Sidecar != nil, f.Gateway != nil, f.LogsObserved)
	}
	if !strings.Contains(strings.Join(f.Notes, "\n"), "waiting for the egress gateway's line (the client sidecar sent the request to 10.100.2.6:8080)") {
		t.Errorf("notes = %q", f.Notes)
	}
}

func TestCollectReadErrors(t *testing.T) {
	t.Run("a transient sidecar error is retried", func(t *testing.T) {
		c := newClock()
		logs := newFakeLogs(c)
		logs.fail[sidecarProxy.Pod] = []error{errors.New("the server is currently unable to handle the request")}
		logs.write(sidecarProxy.Pod, 0, directSidecar)
		f, err := newCollector(c, logs, gatewayProxy).Collect(context.Background(), Target{RequestID: directRequestID, Since: c.now}, false)
		if err != nil {
			t.Fatal(err)
		}
		if f.Sidecar == nil || !f.LogsObserved {
			t.Fatalf("sidecar %v observed %v notes %q", f.Sidecar != nil, f.LogsObserved, f.Notes)
		}
	})
	t.Run("a gateway that cannot be read leaves the logs unobserved", func(t *testing.T) {
		c := newClock()
		logs := newFakeLogs(c)
		logs.write(sidecarProxy.Pod, 0, directSidecar)
		errs := make([]error, 1000)
		for i := range errs {
			errs[i] = fmt.Errorf(`pods "%s" not found`, gatewayProxy.Pod)
		}
		logs.fail[gatewayProxy.Pod] = errs
		f, err := newCollector(c, logs, gatewayProxy).Collect(context.Background(), Target{RequestID: directRequestID, Since: c.now}, false)
		if err != nil {
			t.Fatal(err)
		}
		if f.Sidecar == nil || f.LogsObserved {
			t.Fatalf("sidecar %v observed %v", f.Sidecar != nil, f.LogsObserved)
		}
		all := strings.Join(f.Notes, "\n")
		if !strings.Contains(all, "could not read the log of pod istio-system/istio-egressgateway-5d8f container istio-proxy") {
			t.Errorf("notes do not name the pod: %q", f.Notes)
		}
	})
}

func TestCollectNotes(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	// The same request logged twice (e.g. a retried exec that reused an id) and a
	// malformed line: both are noted, the first match is used.
	logs.write(sidecarProxy.Pod, 0, malformedLine, directSidecar, directSidecar)
	f, err := newCollector(c, logs, gatewayProxy).Collect(context.Background(), Target{RequestID: directRequestID, Since: c.now}, false)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(f.Notes, "\n")
	for _, want := range []string{"malformed access-log line", "the whole line: " + malformedLine, "has 2 lines matching request id " + directRequestID} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}
	if strings.Count(all, malformedLine) != 1 {
		t.Errorf("the malformed line is noted %d times across polls, want once", strings.Count(all, malformedLine))
	}
}

// The gateway logged a request over the sidecar's connection, but not with the
// probe's id: the note points at a replaced x-request-id.
func TestCollectNoteOnReplacedRequestID(t *testing.T) {
	// CONSTRUCTED from the real policiesGateway line: its request id replaced, to
	// model a gateway that generated its own x-request-id.
	replaced := strings.Replace(policiesGateway, policiesRequestID, "00000000-1111-4222-8333-444444444444", 1)
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(sidecarProxy.Pod, 0, policiesSidecar)
	logs.write(gatewayProxy.Pod, 0, replaced)
	f, err := newCollector(c, logs, gatewayProxy).Collect(context.Background(),
		Target{RequestID: policiesRequestID, LocalAddr: "10.100.0.5:48764", Since: c.now}, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Sidecar == nil || f.Gateway != nil {
		t.Fatalf("sidecar %v gateway %q: an HTTP gateway line is matched by request id only", f.Sidecar != nil, f.GatewayRaw)
	}
	if !strings.Contains(strings.Join(f.Notes, "\n"), "1 egress gateway line(s) came over the client sidecar's connection 10.100.0.5:48236 but none carries request id "+policiesRequestID) {
		t.Errorf("notes = %q", f.Notes)
	}
}

func TestCollectNeverConnected(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(sidecarProxy.Pod, 0, directSidecar)
	col := newCollector(c, logs, gatewayProxy)
	f, err := col.Collect(context.Background(), Target{RequestID: "7e57f1a4-5c0b-4d2e-9f3a-8b1c2d3e4f50", Since: c.now}, true)
	if err != nil {
		t.Fatal(err)
	}
	if f.Sidecar != nil || f.Gateway != nil || !f.LogsObserved {
		t.Fatalf("sidecar %v gateway %v observed %v", f.Sidecar != nil, f.Gateway != nil, f.LogsObserved)
	}
	if f.Waited > col.Timeout/2 {
		t.Errorf("waited %s for a request that never connected; the flush window is enough", f.Waited)
	}
}

func TestCollectContextEnded(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newCollector(c, logs, gatewayProxy).Collect(ctx, Target{RequestID: directRequestID, Since: c.now}, false)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), directRequestID) {
		t.Fatalf("err = %v, want context.Canceled naming the request id", err)
	}
}

func TestCollectMisconfigured(t *testing.T) {
	c := newClock()
	good := newCollector(c, newFakeLogs(c), gatewayProxy)
	for name, col := range map[string]Collector{
		"no source":  func() Collector { x := good; x.Source = nil; return x }(),
		"no sidecar": func() Collector { x := good; x.Sidecar = Proxy{}; return x }(),
		"no poll":    func() Collector { x := good; x.Poll = 0; return x }(),
		"no timeout": func() Collector { x := good; x.Timeout = 0; return x }(),
	} {
		if _, err := col.Collect(context.Background(), Target{RequestID: "x"}, false); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := good.Collect(context.Background(), Target{}, false); err == nil {
		t.Errorf("empty target: no error")
	}
}

func TestCollectNoGatewayWatched(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	logs.write(sidecarProxy.Pod, 0, directSidecar)
	f, err := newCollector(c, logs).Collect(context.Background(), Target{RequestID: directRequestID, Since: c.now}, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Sidecar == nil || f.LogsObserved {
		t.Fatalf("with no gateway watched, absence is unproven: LogsObserved must be false (sidecar %v)", f.Sidecar != nil)
	}
}

func TestSameAddr(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"10.244.0.27:49692", "10.244.0.27:49692", true},
		{"10.244.0.27:49692", "10.244.0.27:49693", false},
		{"[fd00::5]:40000", "[fd00:0::5]:40000", true},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1:80", true},
		{"-", "", false},
		{"envoy://internal", "envoy://internal", true},
	} {
		if got := sameAddr(tt.a, tt.b); got != tt.want {
			t.Errorf("sameAddr(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// On Istio >= 1.25 the egress gateway replaces x-request-id (Envoy >= 1.33 treats
// the sidecar as an external client). The lines below are the egress-policies
// blog's pair, edited the way such a run prints them (NOT verbatim): the probe's
// token in both paths, and a gateway-generated request id in the gateway's line.
// The gateway line must still be found, by the token.
func TestCollectGatewayThatReplacedTheRequestID(t *testing.T) {
	const regenerated = "0e0f6c3a-9d0b-4a4e-8b51-2a1c3c8d7e66"
	tag := func(line string) string {
		return strings.Replace(line, `"HEAD / `, `"HEAD /?egress-conformance-probe=`+policiesRequestID+` `, 1)
	}
	sidecar := tag(policiesSidecar)
	gateway := strings.Replace(tag(policiesGateway), `"`+policiesRequestID+`"`, `"`+regenerated+`"`, 1)

	c := newClock()
	logs := newFakeLogs(c)
	since := c.now
	logs.write(sidecarProxy.Pod, 500*time.Millisecond, sidecar)
	logs.write(gatewayProxy.Pod, 700*time.Millisecond, policiesGatewayRBAC, gateway)

	f, err := newCollector(c, logs, gatewayProxy).Collect(context.Background(),
		Target{RequestID: policiesRequestID, LocalAddr: "10.100.0.5:48764", Since: since}, true)
	if err != nil {
		t.Fatal(err)
	}
	if f.Sidecar == nil || f.SidecarRaw != sidecar {
		t.Fatalf("sidecar line = %q", f.SidecarRaw)
	}
	if f.Gateway == nil || f.GatewayRaw != gateway || f.Gateway.RequestID != regenerated {
		t.Fatalf("gateway line = %q, want the one carrying the token", f.GatewayRaw)
	}
}

// A client without a sidecar: its (absent) sidecar log is never read; a gateway
// line is found by the request id, and its absence is proven after Flush.
func TestCollectWithoutSidecar(t *testing.T) {
	c := newClock()
	logs := newFakeLogs(c)
	since := c.now
	col := newCollector(c, logs, gatewayProxy)
	col.NoSidecar, col.Sidecar = true, Proxy{Namespace: "bare", Pod: "sleep-1"}
	f, err := col.Collect(context.Background(), Target{RequestID: policiesRequestID, Since: since}, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Gateway != nil || f.Sidecar != nil || !f.NoSidecar || !f.LogsObserved {
		t.Errorf("found %+v, want no lines, NoSidecar and the gateway's log observed", f)
	}
	if logs.reads["sleep-1"] != 0 {
		t.Errorf("the client's log was read %d times; it has no sidecar", logs.reads["sleep-1"])
	}
	if waited := c.now.Sub(since); waited < 2*time.Second {
		t.Errorf("absence declared after %s, before the flush window of 2s", waited)
	}

	c2 := newClock()
	logs2 := newFakeLogs(c2)
	logs2.write(gatewayProxy.Pod, 500*time.Millisecond, policiesGateway)
	col2 := newCollector(c2, logs2, gatewayProxy)
	col2.NoSidecar = true
	f, err = col2.Collect(context.Background(), Target{RequestID: policiesRequestID, Since: c2.now}, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Gateway == nil || f.GatewayRaw != policiesGateway {
		t.Errorf("gateway line = %q, want the recorded one", f.GatewayRaw)
	}
}
