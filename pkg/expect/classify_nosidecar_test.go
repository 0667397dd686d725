package expect

import (
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// A client without a sidecar: the route comes from curl and the gateways' logs.
func TestClassifyWithoutSidecar(t *testing.T) {
	n := func(v int) *int { return &v }
	for _, tc := range []struct {
		name string
		ev   Evidence
		want scenario.Route
		why  string
	}{
		{"answer, no gateway line", Evidence{Status: n(200), CurlExit: n(0)}, scenario.RouteDirect, "left on its own"},
		{"connect timed out", Evidence{CurlExit: n(28)}, scenario.RouteBlocked, "curl exit 28"},
		{"connect refused", Evidence{CurlExit: n(7)}, scenario.RouteBlocked, "curl exit 7"},
		{"TLS reset is not the network's", Evidence{CurlExit: n(35)}, "", "route unknown"},
		{"logs not read", Evidence{CurlExit: n(28), LogsObserved: false, RequestID: "x"}, "", "not read"},
		{"the gateway logged it", Evidence{Status: n(200), Gateway: &accesslog.Entry{UpstreamCluster: "outbound|80||httpbin.org"}}, scenario.RouteEgressGateway, "egress gateway logged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.ev
			ev.Tier, ev.NoSidecar = Cluster, true
			ev.LogsObserved = tc.name != "logs not read"
			got, why := Classify(ev)
			if got != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("Classify = %q (%s), want %q (%s)", got, why, tc.want, tc.why)
			}
		})
	}
}

// An injected client whose sidecar does not intercept the destination: no line
// anywhere, and curl's connect timed out.
func TestClassifyAroundTheSidecar(t *testing.T) {
	n := func(v int) *int { return &v }
	got, why := Classify(Evidence{Tier: Cluster, CurlExit: n(28), LogsObserved: true})
	if got != scenario.RouteBlocked || !strings.Contains(why, "went around the sidecar") {
		t.Errorf("Classify = %q (%s), want blocked", got, why)
	}
	if got, _ := Classify(Evidence{Tier: Cluster, CurlExit: n(28), LogsObserved: false}); got != "" {
		t.Errorf("logs not read: %q, want unknown", got)
	}
}
