package plan

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// An ambient scenario's plan: the node agents' stage, the enrolled namespace,
// the client's readiness, the waypoint and the ambient evidence sources. The
// scenario is the cluster tier's testdata from istio.io's ambient egress task.
func TestBuildAmbient(t *testing.T) {
	s, err := scenario.Load(filepath.Join("..", "..", "suites", "egress", "testdata", "ambient", "ambient-egress-waypoint"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(Inputs{RunID: "run-1", Cluster: ClusterInputs{Mode: "create", Name: "c", Keep: "deleted"}, IstioVersion: "1.32.0",
		InstallArgs: []string{"install"}, AmbientOverlay: "fixtures/istio/ambient.yaml", External: "internet",
		CurlTimeout: 10 * time.Second, Converge: time.Minute, Consecutive: 3, Scenarios: []*scenario.Scenario{s}})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, st := range p.BringUp {
		kinds = append(kinds, string(st.Kind))
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "istio ambient") {
		t.Errorf("bring-up %s: want the ambient stage right after istio", got)
	}
	sp := p.Scenarios[0]
	if l := sp.Namespaces[0].Line(); !strings.Contains(l, "istio.io/dataplane-mode=ambient (no injection label)") {
		t.Errorf("namespace line %q", l)
	}
	if l := sp.Namespaces[0].ClientLine(); !strings.Contains(l, "ambient.istio.io/redirection=enabled") {
		t.Errorf("client line %q", l)
	}
	if ws := sp.Steps[0].Waypoints; len(ws) != 0 {
		t.Errorf("step 1 has waypoints %v before any is applied", ws)
	}
	if ws := sp.Steps[1].Waypoints; len(ws) != 1 || ws[0].Name != "waypoint" || ws[0].Namespace != "ambient-egress" {
		t.Errorf("step 2 waypoints %v", ws)
	}
	var b strings.Builder
	if err := p.Render(&b, func() string { return "id" }); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ambient: a scenario has an ambient client: fixtures/istio/ambient.yaml is added to the install",
		"wait for ambient's node agents (DaemonSets istio-system/istio-cni-node and istio-system/ztunnel) on every node",
		"waypoint: Gateway ambient-egress/waypoint of class istio-waypoint",
		"evidence: ztunnel's outbound line on the client's node",
		"waypoint logs of waypoint.ambient-egress.svc.cluster.local (pods gateway.networking.k8s.io/gateway-name=waypoint in ambient-egress)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the plan lacks %q", want)
		}
	}
	// A sidecar-only run has none of it.
	p, err = Build(Inputs{RunID: "run-1", Cluster: ClusterInputs{Mode: "create"}, InstallArgs: []string{"install"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range p.BringUp {
		if st.Kind == StageAmbient {
			t.Error("an ambient stage without an ambient overlay")
		}
	}
}
