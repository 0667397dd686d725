package expect

import (
	"slices"
	"strings"
	"testing"

	"github.com/onsi/gomega"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// fields returns the fields of the checks with outcome o, in order.
func fields(v Verdict, o Outcome) []string {
	var out []string
	for _, c := range v.Checks {
		if c.Outcome == o {
			out = append(out, c.Field)
		}
	}
	return out
}

func mustCheck(t *testing.T, v Verdict, field string) Check {
	t.Helper()
	c, ok := v.Check(field)
	if !ok {
		t.Fatalf("no check %s in\n%s", field, v)
	}
	return c
}

func TestSeedScenarioStepsPass(t *testing.T) {
	for _, tt := range []struct {
		name string
		exp  scenario.Expect
		ev   Evidence
		want scenario.Route
	}{
		{"before-routing", expectBeforeRouting, evidenceBeforeRouting(t), scenario.RouteDirect},
		{"after-routing", expectAfterRouting, evidenceAfterRouting(t), scenario.RouteEgressGateway},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := Evaluate(tt.exp, tt.ev)
			if !v.Passed() || len(v.NotObservable()) != 0 {
				t.Fatalf("want every check to pass:\n%s", v)
			}
			if v.Evidence.Route != tt.want {
				t.Errorf("classified route %q, want %q", v.Evidence.Route, tt.want)
			}
			gomega.NewWithT(t).Expect(v).To(HaveVerdictPassed())
			gomega.NewWithT(t).Expect(tt.ev).To(SatisfyExpectation(tt.exp))
		})
	}
}

// Evidence of one step fed to the other step's expectation must fail on every
// mismatch at once, each with what it saw.
func TestSeedScenarioStepsSwapped(t *testing.T) {
	t.Run("after-routing evidence, before-routing expectation", func(t *testing.T) {
		v := Evaluate(expectBeforeRouting, evidenceAfterRouting(t))
		want := []string{"expect.route", "expect.origin.hops", "expect.sidecarLog.upstreamCluster", "expect.gatewayLog"}
		if got := fields(v, Fail); !slices.Equal(got, want) {
			t.Fatalf("failed %v, want %v\n%s", got, want, v)
		}
		if got := fields(v, Pass); !slices.Equal(got, []string{"expect.status", "expect.sidecarLog.method",
			"expect.sidecarLog.path", "expect.sidecarLog.authority", "expect.sidecarLog.responseCode"}) {
			t.Errorf("passed %v", got)
		}
		route := mustCheck(t, v, "expect.route")
		if route.Got != "egress-gateway" || !strings.Contains(route.Why, "egress gateway logged the request id") ||
			!strings.Contains(route.Evidence, lineSidecarViaGateway) || !strings.Contains(route.Evidence, lineGateway) {
			t.Errorf("route check: %+v", route)
		}
		hops := mustCheck(t, v, "expect.origin.hops")
		if hops.Want != "1" || hops.Got != "2" || !strings.Contains(hops.Evidence, "10.244.104.16, 20.205.45.50") {
			t.Errorf("hops check: %+v", hops)
		}
		gw := mustCheck(t, v, "expect.gatewayLog")
		if gw.Want != "absent" || gw.Got != "a line" || gw.Evidence != lineGateway {
			t.Errorf("gatewayLog check: %+v", gw)
		}
		up := mustCheck(t, v, "expect.sidecarLog.upstreamCluster")
		if up.Got != "outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local" || up.Evidence != lineSidecarViaGateway {
			t.Errorf("sidecar upstream check: %+v", up)
		}
	})

	t.Run("before-routing evidence, after-routing expectation", func(t *testing.T) {
		v := Evaluate(expectAfterRouting, evidenceBeforeRouting(t))
		want := []string{"expect.route", "expect.origin.hops", "expect.origin.first", "expect.sidecarLog.upstreamCluster",
			"expect.gatewayLog.method", "expect.gatewayLog.path", "expect.gatewayLog.authority",
			"expect.gatewayLog.responseCode", "expect.gatewayLog.upstreamCluster"}
		if got := fields(v, Fail); !slices.Equal(got, want) {
			t.Fatalf("failed %v, want %v\n%s", got, want, v)
		}
		for _, f := range want[4:] {
			if c := mustCheck(t, v, f); c.Got != "no line with this request id" {
				t.Errorf("%s: got %q, want the missing-line message", f, c.Got)
			}
		}
		first := mustCheck(t, v, "expect.origin.first")
		if first.Want != "client (10.244.104.16)" || first.Got != "20.205.45.50" {
			t.Errorf("first check: %+v", first)
		}
		route := mustCheck(t, v, "expect.route")
		if route.Got != "direct" || !strings.Contains(route.Why, "outbound|80||httpbin.org") {
			t.Errorf("route check: %+v", route)
		}
	})
}

func TestRegistryOnly(t *testing.T) {
	t.Run("HTTP: 502 from block_all", func(t *testing.T) {
		e := entryBlockAll
		ev := Evidence{Tier: Cluster, RequestID: e.RequestID, Status: intp(502), CurlExit: intp(0),
			Sidecar: &e, SidecarRaw: lineBlockAll, LogsObserved: true}
		route, why := Classify(ev)
		if route != scenario.RouteBlocked || !strings.Contains(why, "block_all") || !strings.Contains(why, "502") {
			t.Fatalf("Classify = %q, %q", route, why)
		}
		exp := scenario.Expect{Route: scenario.RouteBlocked, Status: intp(502),
			SidecarLog: &scenario.LogExpect{ResponseCode: 502, ResponseCodeDetails: "direct_response", RouteName: "block_all"},
			GatewayLog: &scenario.LogExpect{Absent: true}}
		if v := Evaluate(exp, ev); !v.Passed() {
			t.Fatalf("want a pass:\n%s", v)
		}
		// The same evidence against an ALLOW_ANY expectation fails, saying why.
		v := Evaluate(scenario.Expect{Route: scenario.RouteDirect, Status: intp(200)}, ev)
		if got := fields(v, Fail); !slices.Equal(got, []string{"expect.route", "expect.status"}) {
			t.Fatalf("failed %v\n%s", got, v)
		}
		if c := mustCheck(t, v, "expect.status"); !strings.Contains(c.Evidence, lineBlockAll) {
			t.Errorf("status evidence lacks the line: %+v", c)
		}
	})

	t.Run("HTTPS: curl 35, BlackHoleCluster UH", func(t *testing.T) {
		e := entryBlackHole
		exp := scenario.Expect{Route: scenario.RouteBlocked, CurlExit: intp(35),
			SidecarLog: &scenario.LogExpect{UpstreamCluster: "BlackHoleCluster", ResponseFlags: "UH"},
			GatewayLog: &scenario.LogExpect{Absent: true}}
		ev := Evidence{Tier: Cluster, CurlExit: intp(35), Sidecar: &e, SidecarRaw: lineBlackHole, LogsObserved: true}
		v := Evaluate(exp, ev)
		if !v.Passed() {
			t.Fatalf("want a pass:\n%s", v)
		}
		if !strings.Contains(v.Evidence.RouteWhy, "BlackHoleCluster") {
			t.Errorf("why: %q", v.Evidence.RouteWhy)
		}
		// A TCP line has no request id: when the collector could not find it, the
		// curl exit code alone still classifies the request as blocked.
		ev.Sidecar, ev.SidecarRaw = nil, ""
		route, why := Classify(ev)
		if route != scenario.RouteBlocked || !strings.Contains(why, "curl exit 35") {
			t.Fatalf("Classify without the line = %q, %q", route, why)
		}
	})
}

func TestGatewayRBACDenialIsBlocked(t *testing.T) {
	g := entryGatewayRBAC
	// The blog shows no sidecar line; this one is constructed: HTTP to the gateway's
	// subset, as the blog's DestinationRule and VirtualService route it.
	sc := accesslog.Entry{Method: "HEAD", Path: "/", ResponseCode: 403, RequestID: g.RequestID,
		UpstreamHost: "10.100.2.6:8080", UpstreamCluster: "outbound|80|yahoo|istio-egressgateway.istio-system.svc.cluster.local"}
	ev := Evidence{Tier: Cluster, RequestID: g.RequestID, Status: intp(403), CurlExit: intp(0),
		Gateway: &g, GatewayRaw: lineGatewayRBAC, LogsObserved: true}
	for _, withSidecar := range []bool{false, true} {
		if withSidecar {
			// A sidecar line sending to the gateway does not make it egress-gateway:
			// the gateway refused it, so the request never left the mesh.
			ev.Sidecar = &sc
		}
		route, why := Classify(ev)
		if route != scenario.RouteBlocked || !strings.Contains(why, "rbac_access_denied_matched_policy") {
			t.Fatalf("sidecar=%v: Classify = %q, %q", withSidecar, route, why)
		}
	}
	exp := scenario.Expect{Route: scenario.RouteBlocked, Status: intp(403),
		GatewayLog: &scenario.LogExpect{ResponseCode: 403, UpstreamCluster: "outbound|443||developer.yahoo.com",
			RequestedServerName: "developer.yahoo.com"}}
	if v := Evaluate(exp, ev); !v.Passed() {
		t.Fatalf("want a pass:\n%s", v)
	}
	v := Evaluate(scenario.Expect{Route: scenario.RouteEgressGateway, Status: intp(200)}, ev)
	if c := mustCheck(t, v, "expect.route"); c.Outcome != Fail || c.Got != "blocked" || !strings.Contains(c.Evidence, lineGatewayRBAC) {
		t.Errorf("route check: %+v", c)
	}
}

func TestPassthroughIsDirect(t *testing.T) {
	e := entryPassthrough
	route, why := Classify(Evidence{Tier: Cluster, Status: intp(404), CurlExit: intp(0), Sidecar: &e, LogsObserved: true})
	if route != scenario.RouteDirect || !strings.Contains(why, "PassthroughCluster") || !strings.Contains(why, "ALLOW_ANY") {
		t.Fatalf("Classify = %q, %q", route, why)
	}
}

func TestGatewayHosts(t *testing.T) {
	// A Gateway API egress gateway: Service <name>-istio (constructed line).
	sc := accesslog.Entry{Method: "GET", Path: "/ip", ResponseCode: 200, RequestID: "r1", UpstreamHost: "10.244.0.30:80",
		UpstreamCluster: "outbound|80||egress-gateway-istio.egress.svc.cluster.local"}
	ev := Evidence{Tier: Cluster, Status: intp(200), Sidecar: &sc, LogsObserved: true}
	if route, why := Classify(ev); route != scenario.RouteDirect || !strings.Contains(why, "istio-egressgateway.istio-system.svc.cluster.local") {
		t.Errorf("default gateway hosts: %q, %q", route, why)
	}
	ev.GatewayHosts = []string{"egress-gateway-istio.egress.svc.cluster.local"}
	if route, why := Classify(ev); route != scenario.RouteEgressGateway || !strings.Contains(why, "no gateway line found") {
		t.Errorf("Gateway API host: %q, %q", route, why)
	}
	// The SNI / stat form of the same cluster name names the gateway too.
	sc.UpstreamCluster = "outbound_.80_._.egress-gateway-istio.egress.svc.cluster.local"
	if route, _ := Classify(ev); route != scenario.RouteEgressGateway {
		t.Errorf("dotted form: %q", route)
	}
}

func TestUnknownRouteIsAFailure(t *testing.T) {
	ev := withOrigin(t, Evidence{Tier: Cluster, RequestID: "0b0e1a4c-7f1e-4a43-9e43-0c8a3f9d5e21", Status: intp(200),
		CurlExit: intp(0), ClientIP: clientIP, LogsObserved: true}, "/ip", bodyIPDirect)
	v := Evaluate(scenario.Expect{Route: scenario.RouteDirect}, ev)
	c := mustCheck(t, v, "expect.route")
	if c.Outcome != Fail || c.Got != "unknown" || !strings.Contains(c.Why, "0b0e1a4c-7f1e-4a43-9e43-0c8a3f9d5e21") {
		t.Fatalf("route check: %+v", c)
	}
}

func TestLogsNotReadNeverPass(t *testing.T) {
	ev := evidenceBeforeRouting(t)
	ev.Sidecar, ev.SidecarRaw, ev.LogsObserved = nil, "", false
	v := Evaluate(expectBeforeRouting, ev)
	for _, f := range []string{"expect.route", "expect.gatewayLog", "expect.sidecarLog.upstreamCluster"} {
		if c := mustCheck(t, v, f); c.Outcome != Fail {
			t.Errorf("%s: %+v", f, c)
		}
	}
	if c := mustCheck(t, v, "expect.gatewayLog"); c.Got != "not read" {
		t.Errorf("absent check must not pass on unread logs: %+v", c)
	}
}

func TestOfflineTier(t *testing.T) {
	sc := accesslog.Entry{UpstreamCluster: "outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local", RouteName: "httpbin.org:80"}
	gw := accesslog.Entry{UpstreamCluster: "outbound|80||httpbin.org"}
	after := Evidence{Tier: Offline, Route: scenario.RouteEgressGateway,
		RouteWhy: "client sidecar upstream cluster outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local",
		Sidecar:  &sc, Gateway: &gw}

	t.Run("after-routing: observable checks pass, the rest are not observable", func(t *testing.T) {
		v := Evaluate(expectAfterRouting, after)
		if !v.Passed() {
			t.Fatalf("want a pass:\n%s", v)
		}
		wantPass := []string{"expect.route", "expect.sidecarLog.upstreamCluster", "expect.gatewayLog.upstreamCluster"}
		wantNO := []string{"expect.status", "expect.origin.hops", "expect.origin.first", "expect.gatewayLog.method",
			"expect.gatewayLog.path", "expect.gatewayLog.authority", "expect.gatewayLog.responseCode"}
		if got := fields(v, Pass); !slices.Equal(got, wantPass) {
			t.Errorf("passed %v, want %v", got, wantPass)
		}
		if got := fields(v, NotObservable); !slices.Equal(got, wantNO) {
			t.Errorf("not observable %v, want %v", got, wantNO)
		}
		for _, c := range v.NotObservable() {
			if !strings.Contains(c.Why, "not observable in the offline tier") {
				t.Errorf("%s: reason %q", c.Field, c.Why)
			}
		}
		if !strings.Contains(v.String(), "N/O  expect.origin.hops") {
			t.Errorf("report does not show the not-observable check:\n%s", v)
		}
	})

	t.Run("route names are simulated, so they are checked offline", func(t *testing.T) {
		exp := scenario.Expect{Route: scenario.RouteEgressGateway, SidecarLog: &scenario.LogExpect{RouteName: "httpbin.org:80"}}
		if c := mustCheck(t, Evaluate(exp, after), "expect.sidecarLog.routeName"); c.Outcome != Pass {
			t.Errorf("routeName: %+v", c)
		}
		exp.SidecarLog.RouteName = "block_all"
		if c := mustCheck(t, Evaluate(exp, after), "expect.sidecarLog.routeName"); c.Outcome != Fail {
			t.Errorf("routeName mismatch must fail offline: %+v", c)
		}
	})

	t.Run("before-routing: gateway never reached is an observable absence", func(t *testing.T) {
		direct := accesslog.Entry{UpstreamCluster: "outbound|80||httpbin.org"}
		v := Evaluate(expectBeforeRouting, Evidence{Tier: Offline, Route: scenario.RouteDirect, Sidecar: &direct})
		if !v.Passed() {
			t.Fatalf("want a pass:\n%s", v)
		}
		if c := mustCheck(t, v, "expect.gatewayLog"); c.Outcome != Pass || !strings.Contains(c.Why, "never reached the egress gateway") {
			t.Errorf("gatewayLog: %+v", c)
		}
	})

	t.Run("a wrong simulation fails route, gateway absence and clusters", func(t *testing.T) {
		v := Evaluate(expectBeforeRouting, after)
		want := []string{"expect.route", "expect.sidecarLog.upstreamCluster", "expect.gatewayLog"}
		if got := fields(v, Fail); !slices.Equal(got, want) {
			t.Fatalf("failed %v, want %v\n%s", got, want, v)
		}
		if c := mustCheck(t, v, "expect.gatewayLog"); !strings.Contains(c.Evidence, "upstream_cluster=outbound|80||httpbin.org") {
			t.Errorf("offline evidence should print the simulated entry: %+v", c)
		}
	})

	t.Run("block_all: the proxy's own 502 is observable", func(t *testing.T) {
		sc := accesslog.Entry{RouteName: "block_all"}
		exp := scenario.Expect{Route: scenario.RouteBlocked, Status: intp(502), CurlExit: intp(0)}
		v := Evaluate(exp, Evidence{Tier: Offline, Route: scenario.RouteBlocked, Status: intp(502), Sidecar: &sc})
		if c := mustCheck(t, v, "expect.status"); c.Outcome != Pass {
			t.Errorf("status: %+v", c)
		}
		if c := mustCheck(t, v, "expect.curlExit"); c.Outcome != NotObservable {
			t.Errorf("curlExit: %+v", c)
		}
	})
}

func TestOriginFirstIPv6(t *testing.T) {
	// Constructed: a dual-stack cluster where the gateway printed the client with a
	// port and a non-canonical IPv6 spelling.
	body := `{"origin": "[fd00:10:244:0:0::5]:41234, 2001:db8::7"}`
	ev := withOrigin(t, Evidence{Tier: Cluster, Route: scenario.RouteEgressGateway, ClientIP: "fd00:10:244::5"}, "/ip", body)
	v := Evaluate(scenario.Expect{Route: scenario.RouteEgressGateway, Origin: &scenario.Origin{Hops: 2, First: "client"}}, ev)
	if !v.Passed() {
		t.Fatalf("want a pass:\n%s", v)
	}
	ev.ClientIP = "fd00:10:244::6"
	if c := mustCheck(t, Evaluate(scenario.Expect{Route: scenario.RouteEgressGateway, Origin: &scenario.Origin{First: "client"}}, ev),
		"expect.origin.first"); c.Outcome != Fail {
		t.Errorf("another pod's IP must not match: %+v", c)
	}
}

func TestOriginUnreadable(t *testing.T) {
	body := "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
	ev := withOrigin(t, Evidence{Tier: Cluster, Route: scenario.RouteDirect, Status: intp(503)}, "/ip", body)
	v := Evaluate(scenario.Expect{Route: scenario.RouteDirect, Origin: &scenario.Origin{Hops: 1}}, ev)
	c := mustCheck(t, v, "expect.origin.hops")
	if c.Outcome != Fail || c.Got != "unreadable" || !strings.Contains(c.Evidence, body) {
		t.Fatalf("hops check: %+v", c)
	}
	ev.OriginObserved, ev.OriginErr = false, nil
	if c := mustCheck(t, Evaluate(scenario.Expect{Route: scenario.RouteDirect, Origin: &scenario.Origin{Hops: 1}}, ev),
		"expect.origin.hops"); c.Outcome != Fail || c.Got != "not observed" {
		t.Fatalf("unobserved origin: %+v", c)
	}
}

// Every stated expectation yields exactly one check; unstated ones yield none.
func TestOneCheckPerStatedExpectation(t *testing.T) {
	ev := evidenceAfterRouting(t)
	for _, tt := range []struct {
		exp  scenario.Expect
		want []string
	}{
		{scenario.Expect{Route: scenario.RouteEgressGateway}, []string{"expect.route"}},
		{scenario.Expect{Route: scenario.RouteEgressGateway, CurlExit: intp(0)}, []string{"expect.route", "expect.curlExit"}},
		{scenario.Expect{Route: scenario.RouteEgressGateway, Origin: &scenario.Origin{First: "client"}},
			[]string{"expect.route", "expect.origin.first"}},
		{scenario.Expect{Route: scenario.RouteEgressGateway, GatewayLog: &scenario.LogExpect{}},
			[]string{"expect.route", "expect.gatewayLog"}},
		{scenario.Expect{Route: scenario.RouteEgressGateway, SidecarLog: &scenario.LogExpect{ResponseFlags: "-x", RouteName: "r"}},
			[]string{"expect.route", "expect.sidecarLog.responseFlags", "expect.sidecarLog.routeName"}},
		{expectAfterRouting, []string{"expect.route", "expect.status", "expect.origin.hops", "expect.origin.first",
			"expect.sidecarLog.upstreamCluster", "expect.gatewayLog.method", "expect.gatewayLog.path",
			"expect.gatewayLog.authority", "expect.gatewayLog.responseCode", "expect.gatewayLog.upstreamCluster"}},
	} {
		v := Evaluate(tt.exp, ev)
		var got []string
		for _, c := range v.Checks {
			got = append(got, c.Field)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("checks %v, want %v", got, tt.want)
		}
	}
}

func TestMatcherFailureMessage(t *testing.T) {
	exp := expectBeforeRouting
	ev := evidenceAfterRouting(t)

	m := SatisfyExpectation(exp)
	ok, err := m.Match(ev)
	if err != nil || ok {
		t.Fatalf("Match = %v, %v; want a mismatch", ok, err)
	}
	msg := m.FailureMessage(ev)
	for _, want := range []string{
		"verdict: FAIL (cluster tier): 4 failed",
		"FAIL expect.route: want direct, got egress-gateway",
		"FAIL expect.origin.hops: want 1, got 2",
		"FAIL expect.sidecarLog.upstreamCluster: want outbound|80||httpbin.org, got outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local",
		"FAIL expect.gatewayLog: want absent, got a line",
		"PASS expect.status: want 200, got 200",
		lineSidecarViaGateway,
		lineGateway,
		`"origin": "10.244.104.16, 20.205.45.50"`,
		"request id:   81f48ace-057e-978a-85b4-1bcecdb48e27",
		"client IP:    10.244.104.16",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, msg)
		}
	}

	// The same through Gomega: the failure it reports is that message.
	var failure string
	g := gomega.NewGomega(func(message string, _ ...int) { failure = message })
	g.Expect(Evaluate(exp, ev)).To(HaveVerdictPassed())
	if !strings.Contains(failure, "FAIL expect.gatewayLog: want absent, got a line") || !strings.Contains(failure, lineGateway) {
		t.Errorf("Gomega failure:\n%s", failure)
	}
	failure = ""
	g.Expect(&ev).NotTo(SatisfyExpectation(expectAfterRouting))
	if !strings.Contains(failure, "not to satisfy") {
		t.Errorf("negated failure:\n%s", failure)
	}

	if _, err := HaveVerdictPassed().Match("not a verdict"); err == nil {
		t.Error("a wrong actual type must be an error")
	}
	if _, err := SatisfyExpectation(exp).Match((*Evidence)(nil)); err == nil {
		t.Error("a nil *Evidence must be an error")
	}
}

func TestParseCluster(t *testing.T) {
	for _, tt := range []struct {
		in   string
		ok   bool
		want ClusterName
	}{
		{"outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local", true,
			ClusterName{"outbound", 80, "httpbin", "istio-egressgateway.istio-system.svc.cluster.local"}},
		{"outbound|80||httpbin.org", true, ClusterName{"outbound", 80, "", "httpbin.org"}},
		// From istio/istio.io#8404's access line (1.8): the inbound cluster and the
		// requested server name in the SNI form.
		{"inbound|8000||", true, ClusterName{"inbound", 8000, "", ""}},
		{"outbound_.8000_._.httpbin.default.svc.cluster.local", true, ClusterName{"outbound", 8000, "", "httpbin.default.svc.cluster.local"}},
		// From the cloudzun/istiolabmanual ratings line (1.16).
		{"outbound_.9080_.v1_.ratings.default.svc.cluster.local", true, ClusterName{"outbound", 9080, "v1", "ratings.default.svc.cluster.local"}},
		{"PassthroughCluster", false, ClusterName{}},
		{"BlackHoleCluster", false, ClusterName{}},
		{"", false, ClusterName{}},
		{"outbound|http||httpbin.org", false, ClusterName{}},
		{"sideways|80||httpbin.org", false, ClusterName{}},
	} {
		got, ok := ParseCluster(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseCluster(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if c, _ := ParseCluster("outbound_.9080_.v1_.ratings.default.svc.cluster.local"); c.String() != "outbound|9080|v1|ratings.default.svc.cluster.local" {
		t.Errorf("String() = %q", c)
	}
	if !SameCluster("outbound|80||httpbin.org;", "outbound|80||httpbin.org") || !SameCluster("BlackHoleCluster;", "BlackHoleCluster") {
		t.Error("a trailing alt_stat_name ';' (istio/istio#54219) is not part of the name")
	}
	if !SameCluster("outbound|80||HTTPBIN.org.", "outbound_.80_._.httpbin.org") {
		t.Error("same cluster in two forms")
	}
	if SameCluster("outbound|80||httpbin.org", "outbound|443||httpbin.org") || !SameCluster("BlackHoleCluster", "BlackHoleCluster") {
		t.Error("SameCluster")
	}
}

func TestUnknownTierFails(t *testing.T) {
	v := Evaluate(scenario.Expect{Route: scenario.RouteDirect}, Evidence{Route: scenario.RouteDirect})
	if v.Passed() {
		t.Fatalf("evidence with no tier must not pass:\n%s", v)
	}
}

func TestNoRouteIsBlocked(t *testing.T) {
	// A gateway listener that accepted the request but found no route for it: an
	// ingress gateway's line in public course material (repository not identified);
	// an egress gateway whose Gateway has no bound VirtualService logs the same shape.
	const line = `[2026-10-08T22:18:27.781Z] "GET /productpage HTTP/1.1" 404 NR route_not_found - "-" 0 0 0 - "10.244.0.6" "curl/8.7.1" "6c8d70e1-91f0-4d01-8629-4071d0fd7ab7" "starfleet.example.com" "-" - - 127.0.0.1:80 127.0.0.1:39168 - -`
	gw := accesslog.Entry{StartTime: ts("2026-10-08T22:18:27.781Z"), Method: "GET", Path: "/productpage", Protocol: "HTTP/1.1",
		ResponseCode: 404, ResponseFlags: "NR", ResponseCodeDetails: "route_not_found", XForwardedFor: "10.244.0.6",
		UserAgent: "curl/8.7.1", RequestID: "6c8d70e1-91f0-4d01-8629-4071d0fd7ab7", Authority: "starfleet.example.com",
		DownstreamLocalAddress: "127.0.0.1:80", DownstreamRemoteAddress: "127.0.0.1:39168"}
	ev := Evidence{Tier: Cluster, Status: intp(404), CurlExit: intp(0), Gateway: &gw, GatewayRaw: line, LogsObserved: true}
	if route, why := Classify(ev); route != scenario.RouteBlocked || !strings.Contains(why, "egress gateway found no route") {
		t.Errorf("gateway NR: %q, %q", route, why)
	}
	// The same flags on the client sidecar (constructed entry).
	sc := accesslog.Entry{ResponseCode: 404, ResponseFlags: "NR", ResponseCodeDetails: "route_not_found"}
	if route, why := Classify(Evidence{Tier: Cluster, Status: intp(404), Sidecar: &sc, LogsObserved: true}); route != scenario.RouteBlocked ||
		!strings.Contains(why, "client sidecar found no route") {
		t.Errorf("sidecar NR: %q, %q", route, why)
	}
	// Several flags: "UF,URX" is not NR.
	sc.ResponseFlags, sc.UpstreamHost, sc.UpstreamCluster = "UF,URX", "54.166.148.227:80", "outbound|80||httpbin.org"
	if route, _ := Classify(Evidence{Tier: Cluster, Status: intp(503), Sidecar: &sc, LogsObserved: true}); route != scenario.RouteDirect {
		t.Errorf("UF,URX: %q", route)
	}
}

func TestStatusAndCurlExitChecks(t *testing.T) {
	e := entryBlackHole
	ev := Evidence{Tier: Cluster, CurlExit: intp(35), Sidecar: &e, SidecarRaw: lineBlackHole, LogsObserved: true}
	v := Evaluate(scenario.Expect{Route: scenario.RouteBlocked, Status: intp(200), CurlExit: intp(0)}, ev)
	st := mustCheck(t, v, "expect.status")
	if st.Outcome != Fail || st.Got != "no HTTP status" || !strings.Contains(st.Why, "curl exit 35") || !strings.Contains(st.Evidence, lineBlackHole) {
		t.Errorf("status: %+v", st)
	}
	if c := mustCheck(t, v, "expect.curlExit"); c.Outcome != Fail || c.Want != "0" || c.Got != "35" {
		t.Errorf("curlExit: %+v", c)
	}
	ev.CurlExit = nil
	if c := mustCheck(t, Evaluate(scenario.Expect{Route: scenario.RouteBlocked, CurlExit: intp(35)}, ev), "expect.curlExit"); c.Outcome != Fail || c.Got != "not recorded" {
		t.Errorf("curlExit not recorded: %+v", c)
	}
	if c := mustCheck(t, Evaluate(scenario.Expect{}, ev), "expect.route"); c.Outcome != Fail {
		t.Errorf("a step without a route must fail: %+v", c)
	}
}

func TestVerdictMatcherNegated(t *testing.T) {
	v := Evaluate(expectBeforeRouting, evidenceBeforeRouting(t))
	m := HaveVerdictPassed()
	if ok, err := m.Match(&v); !ok || err != nil {
		t.Fatalf("Match(&v) = %v, %v", ok, err)
	}
	if msg := m.NegatedFailureMessage(v); !strings.Contains(msg, "not to hold") || !strings.Contains(msg, "verdict: PASS") {
		t.Errorf("negated message:\n%s", msg)
	}
	if _, err := m.Match((*Verdict)(nil)); err == nil {
		t.Error("a nil *Verdict must be an error")
	}
}
