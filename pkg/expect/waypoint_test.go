package expect

import (
	"slices"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// TestWaypointLog: a stated waypointLog yields checks against the waypoint's
// entry exactly as gatewayLog does against the gateway's, and never against
// the gateway's entry.
func TestWaypointLog(t *testing.T) {
	exp := scenario.Expect{Route: scenario.RouteWaypoint,
		WaypointLog: &scenario.LogExpect{ResponseCode: 403, UpstreamCluster: "outbound|80||httpbin.org"}}
	ev := Evidence{Tier: Offline, Route: scenario.RouteWaypoint,
		Waypoint:    &accesslog.Entry{UpstreamCluster: "outbound|80||httpbin.org", ResponseCode: 403},
		WaypointRaw: "waypoint: outbound|80||httpbin.org"}
	v := Evaluate(exp, ev)
	if got := fields(v, Pass); !slices.Equal(got, []string{"expect.route", "expect.waypointLog.responseCode", "expect.waypointLog.upstreamCluster"}) {
		t.Errorf("passed %v\n%s", got, v)
	}

	// The gateway's line is not the waypoint's.
	ev.Gateway, ev.GatewayRaw, ev.Waypoint, ev.WaypointRaw = ev.Waypoint, ev.WaypointRaw, nil, ""
	v = Evaluate(exp, ev)
	if got := fields(v, Fail); !slices.Equal(got, []string{"expect.waypointLog.upstreamCluster"}) {
		t.Errorf("failed %v\n%s", got, v)
	}
	if c := mustCheck(t, v, "expect.waypointLog.upstreamCluster"); c.Why != "the simulated request never reached the waypoint" {
		t.Errorf("why = %q", c.Why)
	}

	absent := scenario.Expect{Route: scenario.RouteDirect, WaypointLog: &scenario.LogExpect{Absent: true}}
	if v := Evaluate(absent, Evidence{Tier: Offline, Route: scenario.RouteDirect}); !v.Passed() {
		t.Errorf("absent waypoint line:\n%s", v)
	}
	cluster := Evidence{Tier: Cluster, Route: scenario.RouteDirect, LogsObserved: true,
		Waypoint: &accesslog.Entry{Method: "GET"}, WaypointRaw: "[waypoint line]"}
	if c := mustCheck(t, Evaluate(absent, cluster), "expect.waypointLog"); c.Outcome != Fail || c.Got != "a line" || c.Evidence != "[waypoint line]" {
		t.Errorf("a waypoint line where none was expected: %+v", c)
	}
}
