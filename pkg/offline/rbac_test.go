package offline

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	rbacconfig "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// denyPolicy is an AuthorizationPolicy at the egress gateway that denies one
// namespace's workloads access to httpbin.org.
func denyPolicy(namespace string) scenario.Object {
	y := `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-client
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: egressgateway
  action: DENY
  rules:
  - from:
    - source:
        namespaces: ["` + namespace + `"]
    to:
    - operation:
        hosts: ["httpbin.org"]
`
	return scenario.Object{File: "authz.yaml", Line: 1, APIVersion: "security.istio.io/v1", Kind: "AuthorizationPolicy",
		Name: "deny-client", Namespace: "istio-system", YAML: []byte(y)}
}

func loadScenario(t *testing.T, name string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Load(filepath.Join("..", "..", "scenarios", name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGatewayAuthorizationNeedsIdentity runs Istio's generated RBAC filter for a
// namespace-based DENY at the egress gateway. Through Istio mutual TLS the gateway
// knows the client's identity and denies with the details Envoy logs; over
// plaintext from the sidecar (the HTTP walk-through) the same policy cannot match,
// which is exactly the mistake the egress-policies blog warns about.
func TestGatewayAuthorizationNeedsIdentity(t *testing.T) {
	mtls := loadScenario(t, "egress-gateway-tls-origination")
	last := len(mtls.Steps) - 1
	mtls.Steps[last].Bundle = append(mtls.Steps[last].Bundle, denyPolicy(mtls.Namespace()))
	r := CheckStep(mtls, last, Options{})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	want := "rbac_access_denied_matched_policy[ns[istio-system]-policy[deny-client]-rule[0]]"
	if r.Path.Route != scenario.RouteBlocked || r.Path.Status == nil || *r.Path.Status != 403 ||
		r.Path.Gateway == nil || r.Path.Gateway.ResponseCodeDetails != want {
		t.Fatalf("mTLS: want a 403 at the gateway with %s, got:\n%s", want, r.Trace())
	}
	ev := r.Evidence()
	if ev.Gateway.ResponseCode != 403 || ev.Gateway.ResponseCodeDetails != want || ev.Gateway.UpstreamCluster != "outbound|443||httpbin.org" {
		t.Errorf("evidence gateway entry: %+v", ev.Gateway)
	}

	plain := loadScenario(t, "egress-gateway-http")
	plain.Steps[1].Bundle = append(plain.Steps[1].Bundle, denyPolicy(plain.Namespace()))
	r = CheckStep(plain, 1, Options{})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Path.Route != scenario.RouteEgressGateway || !strings.Contains(r.Path.Gateway.Authorization, "no client identity") {
		t.Fatalf("plaintext: the namespace rule cannot match without mTLS, got:\n%s", r.Trace())
	}
}

func TestEvaluateRBAC(t *testing.T) {
	authority := func(host string) *rbacconfig.Permission {
		return &rbacconfig.Permission{Rule: &rbacconfig.Permission_Header{Header: &route.HeaderMatcher{
			Name: ":authority", HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: &matcher.StringMatcher{
				MatchPattern: &matcher.StringMatcher_Exact{Exact: host}, IgnoreCase: true}}}}}
	}
	nsRegex := func(ns string) *rbacconfig.Principal {
		return &rbacconfig.Principal{Identifier: &rbacconfig.Principal_Authenticated_{Authenticated: &rbacconfig.Principal_Authenticated{
			PrincipalName: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: ".*/ns/" + ns + "/.*"}}}}}}
	}
	filter := func(action rbacconfig.RBAC_Action, perm *rbacconfig.Permission, prin *rbacconfig.Principal) *rbachttp.RBAC {
		return &rbachttp.RBAC{Rules: &rbacconfig.RBAC{Action: action, Policies: map[string]*rbacconfig.Policy{
			"ns[istio-system]-policy[p]-rule[0]": {Permissions: []*rbacconfig.Permission{perm}, Principals: []*rbacconfig.Principal{prin}}}}}
	}
	a := requestAttributes{
		Principal: "spiffe://cluster.local/ns/team-a/sa/sleep",
		Headers:   map[string]string{":authority": "HTTPbin.org", ":method": "GET", ":path": "/ip?x=1"},
	}
	for _, tc := range []struct {
		name    string
		filters []*rbachttp.RBAC
		attrs   requestAttributes
		denied  bool
		details string
	}{
		{"deny matches", []*rbachttp.RBAC{filter(rbacconfig.RBAC_DENY, authority("httpbin.org"), nsRegex("team-a"))}, a,
			true, "rbac_access_denied_matched_policy[ns[istio-system]-policy[p]-rule[0]]"},
		{"deny other namespace", []*rbachttp.RBAC{filter(rbacconfig.RBAC_DENY, authority("httpbin.org"), nsRegex("team-b"))}, a, false, ""},
		{"allow misses", []*rbachttp.RBAC{filter(rbacconfig.RBAC_ALLOW, authority("example.com"), nsRegex("team-a"))}, a,
			true, "rbac_access_denied_matched_policy[none]"},
		{"no identity without mTLS", []*rbachttp.RBAC{filter(rbacconfig.RBAC_DENY, authority("httpbin.org"), nsRegex("team-a"))},
			requestAttributes{Headers: a.Headers}, false, ""},
		{"shadow-only filter enforces nothing", []*rbachttp.RBAC{{}}, a, false, ""},
		{"url path ignores the query", []*rbachttp.RBAC{filter(rbacconfig.RBAC_DENY,
			&rbacconfig.Permission{Rule: &rbacconfig.Permission_UrlPath{UrlPath: &matcher.PathMatcher{Rule: &matcher.PathMatcher_Path{
				Path: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: "/ip"}}}}}},
			&rbacconfig.Principal{Identifier: &rbacconfig.Principal_Any{Any: true}})}, a,
			true, "rbac_access_denied_matched_policy[ns[istio-system]-policy[p]-rule[0]]"},
		// A waypoint's source.principals: the HBONE peer's URI SAN in filter state.
		{"waypoint peer principal matches", []*rbachttp.RBAC{filter(rbacconfig.RBAC_ALLOW,
			&rbacconfig.Permission{Rule: &rbacconfig.Permission_Any{Any: true}}, peerPrincipal("spiffe://cluster.local/ns/team-a/sa/sleep"))}, a, false, ""},
		{"waypoint peer principal misses", []*rbachttp.RBAC{filter(rbacconfig.RBAC_ALLOW,
			&rbacconfig.Permission{Rule: &rbacconfig.Permission_Any{Any: true}}, peerPrincipal("spiffe://cluster.local/ns/istio-egress/sa/waypoint"))}, a,
			true, "rbac_access_denied_matched_policy[none]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := evaluateRBAC(tc.filters, tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if d.Denied != tc.denied || d.Details != tc.details {
				t.Errorf("got %+v, want denied=%v %q", d, tc.denied, tc.details)
			}
		})
	}

	// A matcher Istio may emit that we do not evaluate is an error, never a guess.
	otherState := &rbacconfig.Principal{Identifier: &rbacconfig.Principal_FilterState{FilterState: &matcher.FilterStateMatcher{Key: "io.istio.other"}}}
	if _, err := evaluateRBAC([]*rbachttp.RBAC{filter(rbacconfig.RBAC_DENY, &rbacconfig.Permission{Rule: &rbacconfig.Permission_Any{Any: true}}, otherState)}, a); !errors.Is(err, errNotSimulated) {
		t.Errorf("unsupported filter state: %v", err)
	}
	unsupported := filter(rbacconfig.RBAC_DENY, &rbacconfig.Permission{Rule: &rbacconfig.Permission_Any{Any: true}},
		&rbacconfig.Principal{Identifier: &rbacconfig.Principal_RemoteIp{}})
	if _, err := evaluateRBAC([]*rbachttp.RBAC{unsupported}, a); !errors.Is(err, errNotSimulated) {
		t.Errorf("unsupported principal: %v", err)
	}
}

// peerPrincipal is source.principals as istiod writes it for a waypoint
// (principalAuthenticated with useAuthenticated false, istio/istio
// pilot/pkg/security/authz/model/principal.go).
func peerPrincipal(id string) *rbacconfig.Principal {
	return &rbacconfig.Principal{Identifier: &rbacconfig.Principal_FilterState{FilterState: &matcher.FilterStateMatcher{
		Key: "io.istio.peer_principal",
		Matcher: &matcher.FilterStateMatcher_StringMatch{StringMatch: &matcher.StringMatcher{
			MatchPattern: &matcher.StringMatcher_Exact{Exact: id}}},
	}}}
}
