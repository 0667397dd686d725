package offline

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

func loadSeed(t testing.TB) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Load(filepath.Join("..", "..", "scenarios", "egress-gateway-http"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSeedScenario pins what Istio's own code does with the egress-gateway
// walk-through, hop by hop. These are the facts the cluster tier asserts on
// kind; if an Istio bump changes them, this test says exactly where.
func TestSeedScenario(t *testing.T) {
	s := loadSeed(t)

	before := Judge(s, 0, Options{})
	if !before.Passed() {
		t.Fatalf("before-routing:\n%s", before.Message())
	}
	p := before.Path
	if p.Route != scenario.RouteDirect || p.Gateway != nil {
		t.Errorf("before-routing: route %s, gateway hop %v; want direct with no gateway hop", p.Route, p.Gateway)
	}
	if p.Sidecar.Listener != "0.0.0.0_80" || p.Sidecar.Cluster != "outbound|80||httpbin.org" {
		t.Errorf("before-routing sidecar hop: %s", p.Sidecar)
	}

	after := Judge(s, 1, Options{})
	if !after.Passed() {
		t.Fatalf("after-routing:\n%s", after.Message())
	}
	p = after.Path
	if p.Route != scenario.RouteEgressGateway || p.Gateway == nil {
		t.Fatalf("after-routing: route %s; want egress-gateway with a gateway hop\n%s", p.Route, after.Trace())
	}
	if p.Sidecar.Cluster != "outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local" {
		t.Errorf("after-routing sidecar cluster %q", p.Sidecar.Cluster)
	}
	// The gateway listens on the Service targetPort, not the Gateway server's port.
	if p.Gateway.Listener != "0.0.0.0_8080" || p.Gateway.Cluster != "outbound|80||httpbin.org" {
		t.Errorf("after-routing gateway hop: %s", p.Gateway)
	}
	for _, j := range []Judgement{before, after} {
		if len(j.SkippedAnalyzers) > 0 {
			t.Errorf("step %s: analyzers skipped for lack of input: %v", j.Step, j.SkippedAnalyzers)
		}
		if len(j.Analysis) > 0 || len(j.Validation) > 0 {
			t.Errorf("step %s: the walk-through must be clean, Istio said %v %v", j.Step, j.Validation, j.Analysis)
		}
	}
}

// TestRegistryOnlyFromHarnessSidecar shows the scenario's REGISTRY_ONLY reaches the
// simulated sidecar through the per-namespace Sidecar the harness adds, the same
// object the cluster tier applies, and that the proxy-decided 502 is evidence.
func TestRegistryOnlyFromHarnessSidecar(t *testing.T) {
	s := loadSeed(t)
	s.Mesh.OutboundTrafficPolicy = scenario.RegistryOnly
	s.Steps[0].Bundle = nil // no ServiceEntry
	r := CheckStep(s, 0, Options{})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Path.Route != scenario.RouteBlocked || r.Path.Status == nil || *r.Path.Status != 502 {
		t.Fatalf("want blocked with 502, got:\n%s", r.Trace())
	}
	if r.Path.Sidecar.Route != "block_all" {
		t.Errorf("sidecar route %q, want block_all", r.Path.Sidecar.Route)
	}
	ev := r.Evidence()
	if ev.Status == nil || *ev.Status != 502 || ev.Gateway != nil {
		t.Errorf("evidence: %+v", ev)
	}

	s.Mesh.OutboundTrafficPolicy = scenario.AllowAny
	r = CheckStep(s, 0, Options{})
	if r.Path.Route != scenario.RouteDirect || r.Path.Sidecar.Cluster != "PassthroughCluster" {
		t.Fatalf("ALLOW_ANY without ServiceEntry: want direct via PassthroughCluster, got:\n%s", r.Trace())
	}
}

func TestHTTPSUnregisteredIsBlackHoled(t *testing.T) {
	s := loadSeed(t)
	s.Mesh.OutboundTrafficPolicy = scenario.RegistryOnly
	s.Steps[0].Bundle = nil
	s.Steps[0].Request.URL = "https://httpbin.org/ip"
	r := CheckStep(s, 0, Options{})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Path.Route != scenario.RouteBlocked || r.Path.Sidecar.Cluster != "BlackHoleCluster" || r.Path.Status != nil {
		t.Fatalf("want blocked at BlackHoleCluster with no HTTP status, got:\n%s", r.Trace())
	}
}

func TestCallFor(t *testing.T) {
	for _, tc := range []struct {
		url, want string
		err       bool
	}{
		{url: "http://httpbin.org/ip", want: "HTTP httpbin.org:80 /ip"},
		{url: "https://httpbin.org/ip", want: "TLS(http) sni=httpbin.org httpbin.org:443 /ip"},
		{url: "http://httpbin.org:8080", want: "HTTP httpbin.org:8080 /"},
		{url: "ftp://httpbin.org/", err: true},
		{url: "http://httpbin.org:x/", err: true},
	} {
		c, err := callFor(scenario.Request{URL: tc.url})
		if tc.err {
			if err == nil {
				t.Errorf("%s: want an error", tc.url)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if got := describe(c.FillDefaults()); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestMessageNamesScenarioStepAndReason(t *testing.T) {
	s := loadSeed(t)
	s.Steps[1].Expect.Route = scenario.RouteDirect
	j := Judge(s, 1, Options{})
	if j.Passed() {
		t.Fatal("a wrong route expectation passed")
	}
	msg := j.Message()
	for _, want := range []string{"scenario egress-gateway-http step after-routing", "expect.route: want direct, got egress-gateway", "egress gateway <- "} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

// BenchmarkStep is one step through validation, analysis and simulation (goal:
// <= 150 ms warm).
func BenchmarkStep(b *testing.B) {
	s := loadSeed(b)
	for b.Loop() {
		if j := Judge(s, 1, Options{}); !j.Passed() {
			b.Fatal(j.Message())
		}
	}
}

// BenchmarkCatalog is every step of every scenario under scenarios/ in one process
// (goal: <= 2 s warm).
func BenchmarkCatalog(b *testing.B) {
	all, err := scenario.LoadAll(filepath.Join("..", "..", "scenarios"))
	if err != nil {
		b.Fatal(err)
	}
	steps := 0
	for _, s := range all {
		steps += len(s.Steps)
	}
	for b.Loop() {
		for _, s := range all {
			for i := range s.Steps {
				if j := Judge(s, i, Options{}); !j.Passed() {
					b.Fatal(j.Message())
				}
			}
		}
	}
	b.ReportMetric(float64(steps), "steps/op")
}

// TestProxyDecidedStatuses pins what Envoy itself answers when a route's cluster
// is missing or has no endpoints: Istio sets cluster_not_found_response_code to
// 500 on Gateway API routes (503 elsewhere), and a hop proxied as TCP has no HTTP
// status at all: the connection is closed.
func TestProxyDecidedStatuses(t *testing.T) {
	gwapi, err := scenario.Load(filepath.Join("..", "..", "suites", "offline", "testdata", "negative", "gateway-api-egress-http-backend-without-istio-suffix"))
	if err != nil {
		t.Fatal(err)
	}
	r := CheckStep(gwapi, 1, Options{})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Path.Status == nil || *r.Path.Status != 500 {
		t.Errorf("Gateway API route to a missing cluster: want 500, got %v\n%s", r.Path.Status, r.Trace())
	}

	wild, err := scenario.Load(filepath.Join("..", "..", "suites", "offline", "testdata", "negative", "egress-gateway-wildcard-host-gateway-routes-to-wildcard"))
	if err != nil {
		t.Fatal(err)
	}
	last := len(wild.Steps) - 1
	r = CheckStep(wild, last, Options{})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Path.Route != scenario.RouteBlocked || r.Path.Status != nil {
		t.Errorf("TLS passthrough to a cluster without endpoints: want blocked with no HTTP status, got %s %v\n%s", r.Path.Route, r.Path.Status, r.Trace())
	}
	if r.Path.Gateway == nil || r.Path.Gateway.SNI != "en.wikipedia.org" {
		t.Errorf("the gateway hop must record the client's SNI: %+v", r.Path.Gateway)
	}
}
