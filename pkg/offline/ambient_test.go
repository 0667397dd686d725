package offline

import (
	"strings"
	"testing"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	matcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/networking/core/match"
	securitymodel "istio.io/istio/pilot/pkg/security/model"
	"istio.io/istio/pilot/pkg/util/protoconv"
	"istio.io/istio/pkg/security"

	"github.com/egress-conformance/egress-conformance/pkg/external"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// TestMatchChain evaluates a matcher built the way buildWaypointInternal builds
// main_internal's (pilot/pkg/networking/core/listener_waypoint.go): an IP range
// per service VIP, then the destination port, then for a sniffed port the
// application protocol.
func TestMatchChain(t *testing.T) {
	ports := match.NewDestinationPort()
	ports.Map["80"] = match.ToChain("inbound-vip|80|http|httpbin.org")
	ports.Map["90"] = match.ToMatcher(match.NewAppProtocol(match.ProtocolMatch{
		TCP:  match.ToChain("inbound-vip|90|tcp|httpbin.org"),
		HTTP: match.ToChain("inbound-vip|90|http|httpbin.org"),
	}))
	m := waypointIPMatcher(t, "240.240.0.1", ports)
	for _, c := range []struct {
		ip   string
		port int
		http bool
		want string
	}{
		{"240.240.0.1", 80, true, "inbound-vip|80|http|httpbin.org"},
		{"240.240.0.1", 90, true, "inbound-vip|90|http|httpbin.org"},
		{"240.240.0.1", 90, false, "inbound-vip|90|tcp|httpbin.org"},
		{"240.240.0.1", 443, true, ""},
		{"240.240.0.2", 80, true, ""},
	} {
		got, err := matchChain(m, c.ip, c.port, c.http)
		if err != nil || got != c.want {
			t.Errorf("matchChain(%s:%d, http %v) = %q, %v; want %q", c.ip, c.port, c.http, got, err, c.want)
		}
	}
}

// waypointIPMatcher is main_internal's primary matcher for one VIP, as
// buildWaypointInternal writes it.
func waypointIPMatcher(t *testing.T, vip string, ports match.Mapper) *matcherv3.Matcher {
	t.Helper()
	ipm := &matcherv3.IPMatcher{RangeMatchers: []*matcherv3.IPMatcher_IPRangeMatcher{{
		Ranges:  []*xdscore.CidrRange{{AddressPrefix: vip, PrefixLen: wrapperspb.UInt32(32)}},
		OnMatch: match.ToMatcher(ports.Matcher),
	}}}
	return &matcherv3.Matcher{MatcherType: &matcherv3.Matcher_MatcherTree_{MatcherTree: &matcherv3.Matcher_MatcherTree{
		Input:    match.DestinationIP,
		TreeType: &matcherv3.Matcher_MatcherTree_CustomMatch{CustomMatch: &xdscore.TypedExtensionConfig{Name: "ip", TypedConfig: protoconv.MessageToAny(ipm)}},
	}}}
}

// TestHoldIstioFlags: an ambient step sees an ambient istiod's flags, and
// every other step the flags as they were.
func TestHoldIstioFlags(t *testing.T) {
	before := features.EnableAmbient
	release := holdIstioFlags(true)
	if !features.EnableAmbient || !features.EnableAmbientWaypoints || !features.EnableHBONESend {
		t.Errorf("ambient flags not set while held")
	}
	release()
	if features.EnableAmbient != before {
		t.Errorf("EnableAmbient = %v after release, want %v", features.EnableAmbient, before)
	}
	holdIstioFlags(false)()
}

// TestAmbientScenarios: the ambient catalog passes offline on Istio's own
// code, each step decided by the simulation (nothing but ztunnel-side
// expectations left unobserved), and a route through a waypoint names it.
func TestAmbientScenarios(t *testing.T) {
	for _, dir := range []string{"../../scenarios/ambient-egress-waypoint", "../../scenarios/ambient-and-sidecar-clients", "../../scenarios/ambient-waypoint-not-guaranteed", "../../scenarios/ambient-require-waypoint-egress"} {
		s, err := scenario.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range s.Steps {
			j := Judge(s, i, Options{})
			if !j.Passed() || j.NotObservable != "" {
				t.Errorf("%s step %s:\n%s", s.Name, st.Name, j.Message())
			}
			if st.Expect.Route == scenario.RouteWaypoint && (j.Path.Waypoint == nil || j.Path.Waypoint.Listener != "main_internal") {
				t.Errorf("%s step %s: no waypoint hop in %+v", s.Name, st.Name, j.Path)
			}
		}
	}
}

// TestRequireWaypointPolicyNotEnforcedForEgress: istiod attaches istio.io's
// require-waypoint policy to httpbin.org's ServiceEntry workload (its selector
// matches the ServiceEntry's labels), and the path says that no ztunnel
// enforces it, with the waypoint up and once it is gone.
func TestRequireWaypointPolicyNotEnforcedForEgress(t *testing.T) {
	s, err := scenario.Load("../../scenarios/ambient-require-waypoint-egress")
	if err != nil {
		t.Fatal(err)
	}
	const want = "istiod sends ztunnel the L4 policies istio-egress/require-waypoint for httpbin.org: for workload istio-egress/httpbin-org (host httpbin.org) no ztunnel enforces them"
	for i, st := range s.Steps {
		j := Judge(s, i, Options{})
		if !strings.Contains(j.Path.Why, want) {
			t.Errorf("step %s: path %q does not say %q", st.Name, j.Path.Why, want)
		}
	}
}

// TestWaypointTLSOriginationHermetic: istio.io's TLS origination at the
// egress waypoint as the hermetic run applies it (external.AdaptScenario:
// the DestinationRule trusts the stand-in's CA by credentialName
// configmap://istio-egress/…) still goes through the waypoint, whose cluster
// for httpbin.org originates TLS verified with exactly that CA; as written
// (internet mode) it verifies with the system roots.
func TestWaypointTLSOriginationHermetic(t *testing.T) {
	s, err := scenario.Load("../../scenarios/ambient-egress-waypoint")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := external.GenerateCA()
	if err != nil {
		t.Fatal(err)
	}
	st, err := external.New(external.Config{RunID: "run-1"}, ca)
	if err != nil {
		t.Fatal(err)
	}
	hermetic, caNamespaces, err := st.AdaptScenario(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(caNamespaces, ",") != "istio-egress" {
		t.Fatalf("CA namespaces %v", caNamespaces)
	}
	last := len(s.Steps) - 1
	if s.Steps[last].Name != "tls-origination" {
		t.Fatalf("last step is %s", s.Steps[last].Name)
	}
	for _, tc := range []struct {
		name string
		s    *scenario.Scenario
		ca   func(string) bool
	}{
		// istiod names the CA-only secret of a credentialName with
		// SdsCaSuffix (pilot/pkg/security/model).
		{"hermetic", hermetic, func(ca string) bool { return ca == external.CACredentialName("istio-egress")+securitymodel.SdsCaSuffix }},
		// Without a CA the proxy verifies with the system roots
		// (security.FileRootSystemCACert, pkg/security/security.go).
		{"internet", s, func(ca string) bool { return ca == security.FileRootSystemCACert }},
	} {
		j := Judge(tc.s, last, Options{})
		wp := j.Path.Waypoint
		if !j.Passed() || wp == nil || wp.UpstreamTLS != "TLS" || !tc.ca(wp.UpstreamCA) {
			t.Errorf("%s: waypoint hop %+v\n%s", tc.name, wp, j.Message())
		}
	}
}
