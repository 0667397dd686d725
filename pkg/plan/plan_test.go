package plan

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

func TestRenderSeed(t *testing.T) {
	all, err := scenario.LoadAll(filepath.Join("..", "..", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	p, err := Build(Inputs{
		RunID:        "run-1",
		Cluster:      ClusterInputs{Mode: "create", Name: "egress-conformance", NodeImage: "kindest/node:v1.35.8@sha256:07b2", KindConfig: "kind: Cluster\n", Keep: "deleted"},
		IstioVersion: "1.31.4", Istioctl: "/cache/istio/1.31.4/istioctl",
		InstallArgs: []string{"install", "--skip-confirmation", "--filename", "fixtures/istio/egress.yaml"},
		External:    "internet", CurlTimeout: 10 * time.Second, Converge: time.Minute, Consecutive: 3,
		Skip:      map[string]string{"registry-only-blocks": "skip list: flaky upstream"},
		Scenarios: all,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Render(&b, func() string { return "00000000-0000-4000-8000-000000000001" }); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"node image: kindest/node:v1.35.8@sha256:07b2",
		"install: istioctl install --skip-confirmation --filename fixtures/istio/egress.yaml",
		"## Scenario egress-gateway-http",
		"namespace: egress-egress-gateway-http  (labels istio-injection=enabled, egress-conformance.io/run=run-1)",
		"apply serviceentry.yaml:1  ServiceEntry egress-egress-gateway-http/httpbin",
		"kubectl exec --namespace egress-egress-gateway-http deploy/sleep --container sleep -- curl",
		"'x-request-id: 00000000-0000-4000-8000-000000000001'",
		"egress-conformance-probe=00000000-0000-4000-8000-000000000001",
		"gatewayLog: absent",
		"route: egress-gateway",
		// The Gateway API scenario's gateway is watched by its own label.
		"httpbin-egress-gateway-istio.egress-gateway-api-egress-http.svc.cluster.local (pods gateway.networking.k8s.io/gateway-name=httpbin-egress-gateway in egress-gateway-api-egress-http)",
		// A second client gets its own namespace.
		"namespace: egress-egress-gateway-authz-denied",
		"SKIPPED: skip list: flaky upstream",
		"apply: nothing (the step only probes)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

// RenderScenarios is the scenario part alone (the upgrade gate prints it once for
// all its phases): no cluster or Istio section.
func TestRenderScenariosAlone(t *testing.T) {
	_, out := catalogPlan(t)
	if strings.Contains(out, "## Cluster") || strings.Contains(out, "## Istio") || !strings.Contains(out, "## Scenario egress-gateway-http") ||
		!strings.Contains(out, "A step passes when its expectation holds for 3 consecutive probes within 1m0s") {
		t.Errorf("scenarios section:\n%s", out)
	}
}

// DRY_RUN shows every NetworkPolicy (as the manifest applied), every request
// option (in the exact curl command), a client's pod annotations, a client
// without a sidecar, and what a step deletes.
func TestRenderShowsPoliciesOptionsAndDeletes(t *testing.T) {
	all, out := catalogPlan(t)
	for _, want := range []string{
		"NetworkPolicy egress-egress-gateway-network-policy/allow-egress-to-istio-system-and-kube-dns",
		"kind: NetworkPolicy",
		"fixtures/workloads/curl.yaml without a sidecar (pod template label sidecar.istio.io/inject: \"false\"",
		"pod annotations traffic.sidecar.istio.io/excludeOutboundPorts: \"80\"",
		"-H 'Host: httpbin.org'",
		"curl's result (the client has no sidecar)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q", want)
		}
	}
	for _, s := range all {
		for i, st := range s.Steps {
			_, deleted := s.StepChanges(i)
			for _, o := range deleted {
				if !strings.Contains(out, "delete "+o.File) {
					t.Errorf("scenario %s step %s deletes %s:%d but the plan does not say so", s.Name, st.Name, o.File, o.Line)
				}
			}
		}
	}
}

// catalogPlan is RenderScenarios over the catalog.
func catalogPlan(t *testing.T) ([]*scenario.Scenario, string) {
	t.Helper()
	all, err := scenario.LoadAll(filepath.Join("..", "..", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	p, err := Build(Inputs{RunID: "run-1", CurlTimeout: 10 * time.Second, Converge: time.Minute, Consecutive: 3, Scenarios: all})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.RenderScenarios(&b, nil); err != nil {
		t.Fatal(err)
	}
	return all, b.String()
}

// The upgrade gate proves every scenario once per phase on one cluster: its plan
// removes what an earlier phase left before the first step and applies each
// step's whole bundle, and it prints exactly that.
func TestBuildCumulative(t *testing.T) {
	all, err := scenario.LoadAll(filepath.Join("..", "..", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(Inputs{RunID: "run-1", Scenarios: all, Cumulative: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range p.Scenarios {
		for _, st := range sp.Steps {
			var kinds []string
			applied := 0
			for _, a := range st.Actions {
				kinds = append(kinds, string(a.Kind))
				if a.Kind == ActionApply {
					applied += len(a.Objects) // a delete action removes what the step deletes first
				}
			}
			if (st.Index == 0) != (len(kinds) > 0 && kinds[0] == string(ActionRemoveBundle)) {
				t.Errorf("%s/%s: actions %v: only the first step removes an earlier phase's bundle", sp.Name(), st.Name(), kinds)
			}
			if applied != len(st.Step.Bundle) {
				t.Errorf("%s/%s: applies %d objects, its bundle has %d", sp.Name(), st.Name(), applied, len(st.Step.Bundle))
			}
		}
	}
	var b strings.Builder
	if err := p.RenderScenarios(&b, nil); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "remove: every object of the scenario's bundle"); n != len(p.Scenarios) {
		t.Errorf("printed %d removals for %d scenarios", n, len(p.Scenarios))
	}
}

// A step with a delete list deletes first, then applies; the plan names both.
func TestDeleteActions(t *testing.T) {
	s, err := scenario.Load(filepath.Join("..", "offline", "testdata", "network-policy"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(Inputs{RunID: "run-1", CurlTimeout: 10 * time.Second, Scenarios: []*scenario.Scenario{s}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range p.Scenarios[0].Steps[3].Actions {
		got = append(got, a.Lines()...)
	}
	want := []string{
		"delete np-task.yaml:8  NetworkPolicy egress-network-policy/allow-egress-to-istio-system-and-kube-dns",
		"delete np-gateway-ingress.yaml:2  NetworkPolicy istio-system/gateway-only-from-elsewhere",
		"apply np-dns-only.yaml:2  NetworkPolicy egress-network-policy/dns-only",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("step no-istiod actions:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var b strings.Builder
	if err := p.RenderScenarios(&b, func() string { return "id" }); err != nil {
		t.Fatal(err)
	}
	for _, w := range append(want, "namespace: egress-network-policy  (labels istio-injection=enabled",
		"client: fixtures/workloads/curl.yaml without a sidecar") {
		if !strings.Contains(b.String(), w) {
			t.Errorf("the printed plan lacks %q", w)
		}
	}
}
