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
	err = Render(&b, Inputs{
		RunID:        "run-1",
		Cluster:      ClusterInputs{Mode: "create", Name: "egress-conformance", NodeImage: "kindest/node:v1.35.8@sha256:07b2", KindConfig: "kind: Cluster\n", Keep: "deleted"},
		IstioVersion: "1.31.4", Istioctl: "/cache/istio/1.31.4/istioctl",
		InstallArgs: []string{"install", "--skip-confirmation", "--filename", "fixtures/istio/egress.yaml"},
		External:    "internet", CurlTimeout: 10 * time.Second, Converge: time.Minute, Consecutive: 3,
		Skip:         map[string]string{"registry-only-blocks": "skip list: flaky upstream"},
		Scenarios:    all,
		NewRequestID: func() string { return "00000000-0000-4000-8000-000000000001" },
	})
	if err != nil {
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
		"fixtures/workloads/curl.yaml without a sidecar (pod template label and annotation sidecar.istio.io/inject: \"false\"",
		"client ports pod annotations: traffic.sidecar.istio.io/excludeOutboundPorts: \"80\"",
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
				if !strings.Contains(out, "delete: "+o.File) {
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
	if err := RenderScenarios(&b, Inputs{RunID: "run-1", CurlTimeout: 10 * time.Second, Converge: time.Minute, Consecutive: 3, Scenarios: all}); err != nil {
		t.Fatal(err)
	}
	return all, b.String()
}
