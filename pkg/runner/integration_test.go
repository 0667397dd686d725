package runner

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/evidence"
	"github.com/egress-conformance/egress-conformance/pkg/expect"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// These tests run the runner with the real evidence.Collector on a fake log
// source that replays recorded lines with Envoy's flush delay, on a fake clock.

// fakeLogs is a LogSource over the fake clock: each line becomes visible at the
// time it is written, and a read returns the lines written at or after since.
type fakeLogs struct {
	clock *clock
	lines map[string][]logged
}

type logged struct {
	at   time.Time
	text string
}

func newFakeLogs(c *clock) *fakeLogs { return &fakeLogs{clock: c, lines: map[string][]logged{}} }

func (f *fakeLogs) write(pod string, delay time.Duration, text string) {
	f.lines[pod] = append(f.lines[pod], logged{at: f.clock.now.Add(delay), text: text})
}

func (f *fakeLogs) Logs(ctx context.Context, p evidence.Proxy, since time.Time) (string, error) {
	var b strings.Builder
	for _, l := range f.lines[p.Pod] {
		if !l.at.After(f.clock.now) && !l.at.Before(since) {
			b.WriteString(l.text + "\n")
		}
	}
	return b.String(), nil
}

var (
	sidecar = evidence.Proxy{Namespace: "egress-gateway-http", Pod: "sleep-7f9c", Container: evidence.ProxyContainer}
	gateway = evidence.Proxy{Namespace: "istio-system", Pod: "istio-egressgateway-5d8f", Container: evidence.ProxyContainer, IP: gatewayPodIPSeedRun}
	// pilot-agent's own output in istio-proxy's log (istio/istio#31208).
	pilotAgentLine = "2021-03-03T20:15:33.934837Z\tinfo\txdsproxy\tEnvoy ADS stream established"
)

// integrationTimeouts: the defaults, except a since-slack shorter than a probe
// interval. The recorded lines repeat their request id from one attempt to the
// next (a real run's ids never repeat), so each attempt must read only its own
// window for the replay to stay faithful.
func integrationTimeouts() Timeouts {
	return Timeouts{LogSinceSlack: 100 * time.Millisecond}
}

func realCollectorRunner(w *world, gateways ...evidence.Proxy) Runner {
	r := newRunner(w, nil)
	r.Timeouts = integrationTimeouts()
	col := NewCollector(w.logs, sidecar, gateways, r.Timeouts)
	col.Now, col.Sleep = w.clock.Now, w.clock.Sleep
	r.Collector = col
	return r
}

// before-routing: the sidecar sends httpbin.org/ip straight out; the gateway
// logs only a neighbour. gatewayLog: absent passes once the flush window has
// passed without a gateway line.
func TestIntegrationDirectGatewayAbsent(t *testing.T) {
	x := direct
	x.writes = []write{
		{sidecar.Pod, time.Second, lineSidecarDirect},
		{gateway.Pod, 300 * time.Millisecond, lineGatewayOtherRun},
		{gateway.Pod, 0, pilotAgentLine},
	}
	w := newWorld(t, x)
	o := realCollectorRunner(w, gateway).Converge(context.Background(), stepBeforeRouting)
	if !o.Passed || o.Total != 3 {
		t.Fatalf("%s", o)
	}
	a, _ := o.LastAttempt()
	c, _ := a.Verdict.Check("expect.gatewayLog")
	if c.Outcome != expect.Pass || a.Found.Gateway != nil || !a.Found.LogsObserved {
		t.Errorf("gatewayLog %+v; found gateway %q", c, a.Found.GatewayRaw)
	}
	// The attempt lasted until the flush window after the sidecar's line passed.
	if a.Elapsed < x.took+time.Second+2*time.Second {
		t.Errorf("attempt took %s: absence was declared before the flush window passed", a.Elapsed)
	}
}

// A gateway line that shows up inside the flush window, after the sidecar's, is
// caught: a step that expects the request to leave directly fails.
func TestIntegrationLateGatewayLineIsCaught(t *testing.T) {
	// The gateway's IP is unknown here, so only the flush window stands between a
	// late gateway line and a wrong "absent".
	gw := evidence.Proxy{Namespace: "istio-system", Pod: "istio-egressgateway-5d8f", Container: evidence.ProxyContainer}
	x := exchange{id: idPolicies, status: 200, localAddr: "10.100.0.5:48764", took: 421 * time.Millisecond,
		writes: []write{
			{sidecar.Pod, 900 * time.Millisecond, linePoliciesSidecar},
			{gw.Pod, 900*time.Millisecond + 1500*time.Millisecond, linePoliciesGateway},
		}}
	step := scenario.Step{Name: "google-direct", Request: scenario.Request{URL: "http://developers.google.com/"},
		Expect: scenario.Expect{Route: scenario.RouteDirect, GatewayLog: &scenario.LogExpect{Absent: true}}}
	r := realCollectorRunner(newWorld(t, x), gw)
	r.Timeouts.Converge = 10 * time.Second
	o := r.Converge(context.Background(), step)
	if o.Passed {
		t.Fatalf("passed with a gateway line in the window:\n%s", o)
	}
	c, _ := o.Last.Check("expect.gatewayLog")
	rc, _ := o.Last.Check("expect.route")
	if c.Outcome != expect.Fail || c.Got != "a line" || rc.Got != string(scenario.RouteEgressGateway) {
		t.Errorf("gatewayLog %+v route %+v", c, rc)
	}
}

// after-routing: the sidecar's upstream host is the gateway pod, so the
// Collector waits for the gateway's line. The seed run left no gateway line of
// its own, so here the gateway log holds the one-request pair of the
// egress-policies blog: sidecar and gateway share a request id.
func TestIntegrationThroughGateway(t *testing.T) {
	gw := evidence.Proxy{Namespace: "istio-system", Pod: "istio-egressgateway-7c4b", Container: evidence.ProxyContainer, IP: "10.100.2.6"}
	x := exchange{id: idPolicies, status: 200, localAddr: "10.100.0.5:48764", took: 421 * time.Millisecond,
		writes: []write{
			{sidecar.Pod, 900 * time.Millisecond, linePoliciesSidecar},
			{gw.Pod, 4 * time.Second, linePoliciesGateway}, // a slow flush, beyond the window
		}}
	step := scenario.Step{Name: "google-via-gateway", Request: scenario.Request{URL: "http://developers.google.com/"},
		Expect: scenario.Expect{Route: scenario.RouteEgressGateway, Status: intp(200),
			SidecarLog: &scenario.LogExpect{UpstreamCluster: "outbound|80|google|istio-egressgateway.istio-system.svc.cluster.local"},
			GatewayLog: &scenario.LogExpect{Method: "HEAD", Authority: "developers.google.com", ResponseCode: 200,
				UpstreamCluster: "outbound|443||developers.google.com"}}}
	o := realCollectorRunner(newWorld(t, x), gw).Converge(context.Background(), step)
	// Every attempt must pass on its own lines: the first attempt's gateway line
	// must not be left to the second (the replay repeats the request id).
	if !o.Passed || passFail(o) != "PPP" {
		t.Fatalf("pattern %s\n%s", passFail(o), o)
	}
	if !strings.Contains(o.Last.Evidence.RouteWhy, "egress gateway logged the request id") {
		t.Errorf("route why = %q", o.Last.Evidence.RouteWhy)
	}
}

// REGISTRY_ONLY HTTPS: curl exit 35 and no request id in the sidecar's TCP line;
// the line is found by curl's local address.
func TestIntegrationTCPLineByLocalAddr(t *testing.T) {
	x := exchange{curlExit: 35, localAddr: localAddrBlackHole, took: 70 * time.Millisecond,
		writes: []write{
			{sidecar.Pod, 800 * time.Millisecond, lineBlockAll}, // a neighbour's request
			{sidecar.Pod, 900 * time.Millisecond, lineBlackHole},
		}}
	w := newWorld(t, x)
	r := realCollectorRunner(w, gateway)
	r.ClientIP = clientIPRegistryOnly
	o := r.Converge(context.Background(), stepRegistryOnlyHTTPS)
	if !o.Passed || o.Total != 3 {
		t.Fatalf("%s", o)
	}
	a, _ := o.LastAttempt()
	if a.Found.SidecarRaw != lineBlackHole || !strings.Contains(a.Verdict.Evidence.RouteWhy, "BlackHoleCluster") {
		t.Errorf("sidecar line %q, route why %q", a.Found.SidecarRaw, a.Verdict.Evidence.RouteWhy)
	}
}
