package expect

import (
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Lines in ztunnel's format (istio/ztunnel src/telemetry.rs, src/proxy/metrics.rs;
// pkg/accesslog's tests hold real ones) and Istio's default TEXT format for the
// waypoint (values of a public ambient egress walk-through).
const (
	ztToWaypoint = "2024-10-24T15:36:26.170000Z\tinfo\taccess\tconnection complete\tsrc.addr=10.42.0.13:42172 src.workload=\"curl-5b549b49b8-6xqzb\" src.namespace=\"default\" src.identity=\"spiffe://cluster.local/ns/default/sa/curl\" dst.addr=10.42.0.16:15008 dst.hbone_addr=240.240.0.4:80 dst.service=\"httpbin.org\" dst.workload=\"waypoint-7b9f7f8b9c-2xv8p\" dst.namespace=\"egress\" dst.identity=\"spiffe://cluster.local/ns/egress/sa/waypoint\" direction=\"outbound\" bytes_sent=78 bytes_recv=270 duration=\"162ms\""
	ztDirect     = "2026-08-03T15:47:26.637407Z\tinfo\taccess\tconnection complete\tsrc.addr=10.244.0.5:54646 src.workload=\"http-client-6b4b85489f-t6sl2\" src.namespace=\"default\" dst.addr=142.251.209.46:80 direction=\"outbound\" bytes_sent=74 bytes_recv=773 duration=\"357ms\""
	wpLine       = `[2024-10-24T15:36:26.008Z] "HEAD /get HTTP/1.1" 200 - via_upstream - "-" 0 0 160 160 "-" "curl/8.10.1" "5257e961-a040-4d33-9ff8-844ea8a08553" "httpbin.org" "44.196.139.143:80" inbound-vip|80|http|httpbin.org 10.42.0.16:40144 240.240.0.4:80 10.42.0.13:42172 - default`
	// The waypoint denying a POST under an AuthorizationPolicy on the ServiceEntry
	// (the ambient egress task's 403): Envoy's RBAC details, as the egress
	// gateway's denial in this package's tests.
	wpDenied = `[2024-10-24T15:40:00.000Z] "POST /post HTTP/1.1" 403 - rbac_access_denied_matched_policy[ns[egress]-policy[httpbin]-rule[0]] - "-" 0 19 0 - "-" "curl/8.10.1" "5257e961-a040-4d33-9ff8-844ea8a08553" "httpbin.org" "-" inbound-vip|80|http|httpbin.org - 240.240.0.4:80 10.42.0.13:42172 - -`
)

func zt(t *testing.T, line string) *accesslog.ZtunnelEntry {
	t.Helper()
	e, err := accesslog.ParseZtunnel(line)
	if err != nil {
		t.Fatal(err)
	}
	return &e
}

func envoy(t *testing.T, line string) *accesslog.Entry {
	t.Helper()
	e, err := accesslog.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	return &e
}

func TestClassifyAmbient(t *testing.T) {
	ok, forbidden, exit56 := 200, 403, 56
	for _, tc := range []struct {
		name string
		ev   Evidence
		want scenario.Route
		why  string
	}{
		{"through the waypoint", Evidence{Ztunnel: zt(t, ztToWaypoint), Waypoint: envoy(t, wpLine), Status: &ok},
			scenario.RouteWaypoint, "ztunnel tunnelled the connection to 10.42.0.16:15008 (spiffe://cluster.local/ns/egress/sa/waypoint)"},
		{"direct passthrough", Evidence{Ztunnel: zt(t, ztDirect), Status: &ok},
			scenario.RouteDirect, "plain TCP to 142.251.209.46:80"},
		{"denied at the waypoint", Evidence{Ztunnel: zt(t, ztToWaypoint), Waypoint: envoy(t, wpDenied), Status: &forbidden},
			scenario.RouteBlocked, "waypoint denied it: 403 rbac_access_denied_matched_policy"},
		{"reset, no upstream", Evidence{CurlExit: &exit56},
			scenario.RouteBlocked, "curl exit 56"},
		{"HBONE but no waypoint line", Evidence{Ztunnel: zt(t, ztToWaypoint), Status: &ok, RequestID: "id-1"},
			"", "no waypoint line carries request id id-1"},
		{"nothing", Evidence{RequestID: "id-2"}, "", "no ztunnel line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.Tier, tc.ev.Ambient, tc.ev.LogsObserved = Cluster, true, true
			got, why := Classify(tc.ev)
			if got != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("Classify = %q, %q; want %q containing %q", got, why, tc.want, tc.why)
			}
		})
	}
}

func TestZtunnelLogChecks(t *testing.T) {
	yes, no := true, false
	exp := scenario.Expect{Route: scenario.RouteWaypoint, ZtunnelLog: &scenario.ZtunnelLogExpect{
		HBONE: &yes, DstService: "httpbin.org", DstIdentity: "spiffe://cluster.local/ns/egress/sa/waypoint",
		SrcIdentity: "spiffe://cluster.local/ns/default/sa/other"}}
	ev := Evidence{Tier: Cluster, Ambient: true, LogsObserved: true, Ztunnel: zt(t, ztToWaypoint), ZtunnelRaw: ztToWaypoint, Waypoint: envoy(t, wpLine)}
	v := Evaluate(exp, ev)
	got := map[string]Outcome{}
	for _, c := range v.Checks {
		got[c.Field] = c.Outcome
	}
	want := map[string]Outcome{
		"expect.route": Pass, "expect.ztunnelLog.hbone": Pass, "expect.ztunnelLog.dstService": Pass,
		"expect.ztunnelLog.dstIdentity": Pass, "expect.ztunnelLog.srcIdentity": Fail,
	}
	for f, o := range want {
		if got[f] != o {
			t.Errorf("%s: %s, want %s (checks %+v)", f, got[f], o, v.Checks)
		}
	}
	if len(v.Checks) != len(want) {
		t.Errorf("%d checks, want %d", len(v.Checks), len(want))
	}

	// Direct: no HBONE; an error substring.
	exp = scenario.Expect{Route: scenario.RouteDirect, ZtunnelLog: &scenario.ZtunnelLogExpect{HBONE: &no, Error: "policy rejection"}}
	v = Evaluate(exp, Evidence{Tier: Cluster, Ambient: true, LogsObserved: true, Ztunnel: zt(t, ztDirect)})
	for _, c := range v.Checks {
		wantO := Pass
		if c.Field == "expect.ztunnelLog.error" {
			wantO = Fail // the line carries no error
		}
		if c.Outcome != wantO {
			t.Errorf("direct %s: %s, want %s", c.Field, c.Outcome, wantO)
		}
	}

	// Offline: every ztunnelLog check is not observable, never a pass.
	for _, z := range []*scenario.ZtunnelLogExpect{{Absent: true}, {HBONE: &yes}, {}} {
		v = Evaluate(scenario.Expect{Route: scenario.RouteWaypoint, ZtunnelLog: z}, Evidence{Tier: Offline, Route: scenario.RouteWaypoint})
		for _, c := range v.Checks {
			if strings.HasPrefix(c.Field, "expect.ztunnelLog") && (c.Outcome != NotObservable || !strings.Contains(c.Why, "ztunnel's L4 path")) {
				t.Errorf("offline %+v: %+v", z, c)
			}
		}
	}

	// Absent, and logs not read.
	v = Evaluate(scenario.Expect{Route: scenario.RouteBlocked, ZtunnelLog: &scenario.ZtunnelLogExpect{Absent: true}},
		Evidence{Tier: Cluster, Ambient: true, LogsObserved: true})
	if c := v.Checks[len(v.Checks)-1]; c.Outcome != Pass {
		t.Errorf("absent with no line: %+v", c)
	}
	v = Evaluate(scenario.Expect{Route: scenario.RouteBlocked, ZtunnelLog: &scenario.ZtunnelLogExpect{}},
		Evidence{Tier: Cluster, Ambient: true})
	if c := v.Checks[len(v.Checks)-1]; c.Outcome != Fail || c.Got != "not read" {
		t.Errorf("logs not read: %+v", c)
	}
}

// A sidecar client's waypointLog on a cluster is not observable: the run does
// not read waypoint logs for it, so `absent` must not pass for want of a read.
func TestWaypointLogOfSidecarClientNotObservable(t *testing.T) {
	for _, w := range []*scenario.LogExpect{{Absent: true}, {ResponseCode: 200}} {
		v := Evaluate(scenario.Expect{Route: scenario.RouteDirect, WaypointLog: w}, Evidence{Tier: Cluster, LogsObserved: true})
		c := v.Checks[len(v.Checks)-1]
		if c.Field != "expect.waypointLog" || c.Outcome != NotObservable {
			t.Errorf("%+v: %+v", w, c)
		}
	}
}
