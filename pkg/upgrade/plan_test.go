package upgrade

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

func catalog(t *testing.T) []*scenario.Scenario {
	t.Helper()
	all, err := scenario.LoadAll(filepath.Join("..", "..", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func names(ss []*scenario.Scenario) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func TestSelectScenarios(t *testing.T) {
	all := catalog(t)
	got, err := SelectScenarios(all, "")
	if err != nil || len(got) != len(all) {
		t.Fatalf("no filter: %d of %d, %v", len(got), len(all), err)
	}
	got, err = SelectScenarios(all, "egress-gateway && !tls-passthrough && !gateway-api")
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(names(got), ",")
	if !strings.Contains(joined, "egress-gateway-http") {
		t.Errorf("selected %s, without the seed scenario", joined)
	}
	// Judged by labels, not names: a scenario may carry several (registry-only-ip-and-host
	// is registry-only and egress-gateway both).
	for _, s := range got {
		if !slices.Contains(s.Labels, "egress-gateway") || slices.Contains(s.Labels, "tls-passthrough") || slices.Contains(s.Labels, "gateway-api") {
			t.Errorf("selected %s, labels %v", s.Name, s.Labels)
		}
	}
	// The tier label matches every scenario, as "cluster" does for make e2e.
	if got, _ := SelectScenarios(all, "upgrade"); len(got) != len(all) {
		t.Errorf("label upgrade selects %d of %d", len(got), len(all))
	}
	if _, err := SelectScenarios(all, "egress-gateway &&"); err == nil || !strings.Contains(err.Error(), "LABEL_FILTER") {
		t.Errorf("bad filter: %v", err)
	}
}

func TestChooseProbe(t *testing.T) {
	all := catalog(t)
	p, err := ChooseProbe(all, nil, "")
	if err != nil || p.String() != "egress-gateway-http/after-routing" {
		t.Fatalf("default: %v, %v", p, err)
	}
	// The seed scenario skipped (hermetic mode, skip list): the next plain-HTTP
	// egress-gateway step in catalog order.
	p, err = ChooseProbe(all, map[string]string{"egress-gateway-http": "skip list: flaky"}, "")
	if err != nil || !p.Enabled() || p.Scenario.Name == "egress-gateway-http" ||
		p.Scenario.Steps[p.Step].Expect.Route != scenario.RouteEgressGateway || !strings.HasPrefix(p.Scenario.Steps[p.Step].Request.URL, "http://") {
		t.Fatalf("fallback: %v, %v", p, err)
	}
	p, err = ChooseProbe(all, nil, "egress-gateway-tls-passthrough/after-routing")
	if err != nil || p.String() != "egress-gateway-tls-passthrough/after-routing" {
		t.Errorf("explicit: %v, %v", p, err)
	}
	p, err = ChooseProbe(all, nil, "none")
	if err != nil || p.Enabled() || !strings.Contains(p.String(), "UPGRADE_PROBE=none") {
		t.Errorf("none: %v, %v", p, err)
	}
	onlyDirect, _ := SelectScenarios(all, "(registry-only || allow-any) && !egress-gateway")
	p, err = ChooseProbe(onlyDirect, nil, "")
	if err != nil || p.Enabled() || !strings.Contains(p.Reason, "no selected scenario") {
		t.Errorf("nothing through the gateway: %v, %v", p, err)
	}
	for spec, want := range map[string]string{
		"egress-gateway-http":                "want scenario/step",
		"egress-gateway-http/no-such-step":   "no selected scenario",
		"egress-gateway-http/before-routing": "route is direct",
	} {
		if _, err := ChooseProbe(all, nil, spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", spec, err, want)
		}
	}
	if _, err := ChooseProbe(all, map[string]string{"egress-gateway-http": "skip list: x"}, "egress-gateway-http/after-routing"); err == nil ||
		!strings.Contains(err.Error(), "is skipped") {
		t.Errorf("skipped scenario: %v", err)
	}
}

func kinds(w *Window) []ActionKind {
	var out []ActionKind
	for _, a := range w.Actions {
		out = append(out, a.Kind)
	}
	return out
}

func TestNewPlan(t *testing.T) {
	p, err := NewPlan(PlanInputs{From: "1.30.8", To: "1.31.4", Strategies: []Strategy{InPlace, Canary}, ClusterBase: "ec"})
	if err != nil {
		t.Fatal(err)
	}
	if p.ToRevision != "1-31-4" || len(p.Strategies) != 2 {
		t.Fatalf("plan: %+v", p)
	}
	in, ca := p.Strategies[0], p.Strategies[1]
	if in.Cluster != "ec-in-place" || ca.Cluster != "ec-canary" {
		t.Errorf("clusters %s, %s", in.Cluster, ca.Cluster)
	}
	if in.Baseline != (ProxyExpectation{Version: "1.30.8", Revision: "default"}) {
		t.Errorf("baseline %+v", in.Baseline)
	}
	phaseNames := func(sp StrategyPlan) string {
		var n []string
		for _, ph := range sp.Phases() {
			n = append(n, ph.Name)
		}
		return strings.Join(n, ",")
	}
	if got := phaseNames(in); got != "from,to" {
		t.Errorf("in-place phases %s", got)
	}
	if got := phaseNames(ca); got != "from,to,final" {
		t.Errorf("canary phases %s", got)
	}

	// In place: TO over FROM in the default revision; nothing is relabelled.
	w := in.Stages[1].Window
	want := []ActionKind{ActPrecheck, ActInstall, ActWaitControlPlane, ActGateway, ActRestartClients}
	if got := kinds(w); !equalKinds(got, want) {
		t.Errorf("in-place window %v, want %v", got, want)
	}
	if w.Actions[1].Revision != "" || w.Actions[3].Expect != (ProxyExpectation{Version: "1.31.4", Revision: "default"}) {
		t.Errorf("in-place actions %+v", w.Actions)
	}
	if w.Actions[0].FromMinor != "1.30" || w.Actions[0].Version != "1.31.4" {
		t.Errorf("precheck %+v", w.Actions[0])
	}

	// Canary: TO as a revision; gateway, namespaces, clients follow it; FROM goes
	// in a window of its own, and everything is proven once more.
	w = ca.Stages[1].Window
	want = []ActionKind{ActPrecheck, ActInstall, ActWaitControlPlane, ActGateway, ActRelabel, ActRestartClients}
	if got := kinds(w); !equalKinds(got, want) {
		t.Errorf("canary window %v, want %v", got, want)
	}
	onRev := ProxyExpectation{Version: "1.31.4", Revision: "1-31-4"}
	if w.Actions[1].Revision != "1-31-4" || w.Actions[3].Expect != onRev || w.Actions[4].Revision != "1-31-4" || w.Actions[5].Expect != onRev {
		t.Errorf("canary actions %+v", w.Actions)
	}
	rm := ca.Stages[3].Window
	if rm.Name != WindowRemoveFrom || !equalKinds(kinds(rm), []ActionKind{ActUninstall, ActWaitGone, ActCheckProxies}) {
		t.Errorf("removal window %+v", rm)
	}
	if rm.Actions[0].Revision != DefaultRevision || rm.Actions[0].Version != "1.31.4" || rm.Actions[2].Expect != onRev {
		t.Errorf("removal actions %+v", rm.Actions)
	}
	if ca.Stages[4].Prove == nil || ca.Stages[4].Prove.Name != PhaseFinal {
		t.Errorf("last stage %+v", ca.Stages[4])
	}

	if _, err := NewPlan(PlanInputs{From: "1.30.8", To: "1.31.4", Strategies: []Strategy{"blue-green"}}); err == nil {
		t.Error("unknown strategy: want an error")
	}
}

func equalKinds(a, b []ActionKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestActionCommands(t *testing.T) {
	in := CommandInputs{Overlay: "fixtures/istio/egress.yaml", Kubeconfig: "/tmp/kc",
		Clients: []string{"egress-a/sleep"}, Namespaces: []string{"egress-a"}}
	for _, tt := range []struct {
		a    Action
		want []string
	}{
		{Action{Kind: ActInstall, Version: "1.31.4"},
			[]string{"istioctl-1.31.4 install --skip-confirmation --filename fixtures/istio/egress.yaml --kubeconfig /tmp/kc"}},
		{Action{Kind: ActInstall, Version: "1.31.4", Revision: "1-31-4"},
			[]string{"istioctl-1.31.4 install --skip-confirmation --filename fixtures/istio/egress.yaml --revision 1-31-4 --kubeconfig /tmp/kc"}},
		// The default revision is named: never --purge, which would remove every revision.
		{Action{Kind: ActUninstall, Version: "1.31.4", Revision: DefaultRevision},
			[]string{"istioctl-1.31.4 uninstall --skip-confirmation --revision default --kubeconfig /tmp/kc"}},
		{Action{Kind: ActPrecheck, Version: "1.31.4", FromMinor: "1.30"},
			[]string{"istioctl-1.31.4 x precheck --from-version 1.30 --kubeconfig /tmp/kc"}},
		{Action{Kind: ActRelabel, Revision: "1-31-4"},
			[]string{"kubectl label namespace egress-a istio-injection- istio.io/rev=1-31-4"}},
		{Action{Kind: ActRestartClients, Expect: ProxyExpectation{Version: "1.31.4", Revision: "default"}},
			[]string{"kubectl rollout restart deployment/sleep --namespace egress-a",
				"wait: every client pod Ready, container istio-proxy running image tag 1.31.4, revision default (sidecar.istio.io/status or label istio.io/rev), `pilot-agent version` reporting 1.31.4"}},
		{Action{Kind: ActWaitControlPlane, Revision: "1-31-4"},
			[]string{"wait: Deployments istio-system/istiod-1-31-4 and istio-system/istio-egressgateway Available, every pod Ready"}},
		{Action{Kind: ActWaitGone, Revision: DefaultRevision}, []string{"wait: Deployment istio-system/istiod gone"}},
	} {
		got := tt.a.Commands(in)
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", tt.a.Kind, got, tt.want)
		}
	}
}

// The DRY_RUN plan names both versions, both strategies with every action's
// command, the prober, and (through pkg/plan) every scenario and step.
func TestRenderPlan(t *testing.T) {
	all := catalog(t)
	pc, err := ChooseProbe(all, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(PlanInputs{From: "1.30.8", To: "1.31.4", Strategies: Strategies, ClusterBase: "egress-conformance", Probe: pc})
	if err != nil {
		t.Fatal(err)
	}
	findings, err := Preflight(PreflightInput{From: "1.30.8", To: "1.31.4", Strategies: Strategies, NodeImage: node135, ClusterMode: "create"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	err = p.Render(&b, RenderInputs{
		Commands: CommandInputs{Overlay: "fixtures/istio/egress.yaml", Clients: ClientDeployments(all, func(w string) string { return w }),
			Namespaces: ClientNamespaces(all)},
		Preflight: findings, NodeImage: node135,
		KindConfig:   func(name string) (string, error) { return "kind: Cluster\nname: " + name + "\n", nil },
		Istioctl:     map[string]string{"1.30.8": "/cache/1.30.8/istioctl", "1.31.4": "/cache/1.31.4/istioctl"},
		ProbeCommand: "kubectl exec … curl", ProbeEvery: "1s",
		Scenarios:    scenarioPlan(t, plan.Inputs{RunID: "run-1", CurlTimeout: 10 * time.Second, Converge: time.Minute, Consecutive: 3, Scenarios: all}),
		NewRequestID: func() string { return "00000000-0000-4000-8000-000000000001" },
	})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"upgrade: Istio 1.30.8 → 1.31.4",
		"ok: kubernetes: TO 1.31.4 is supported on Kubernetes 1.35.8 (range 1.32–1.36)",
		"istioctl 1.30.8: /cache/1.30.8/istioctl",
		"canary revision of 1.31.4: 1-31-4",
		"step: egress-gateway-http/after-routing",
		"## Strategy in-place",
		"cluster: kind egress-conformance-in-place",
		"name: egress-conformance-canary",
		"### 2. window \"upgrade\" (background prober running)",
		"istioctl-1.31.4 install --skip-confirmation --filename fixtures/istio/egress.yaml --revision 1-31-4",
		"kubectl label namespace egress-egress-gateway-http istio-injection- istio.io/rev=1-31-4",
		"kubectl rollout restart deployment/sleep --namespace egress-egress-gateway-authz-denied",
		"istioctl-1.31.4 uninstall --skip-confirmation --revision default",
		"### 5. prove phase \"final\": Istio 1.31.4 (revision 1-31-4) alone: 1.30.8 removed",
		"## Scenario egress-gateway-http",
		"egress-conformance-probe=00000000-0000-4000-8000-000000000001",
		"route: egress-gateway",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

func scenarioPlan(t *testing.T, in plan.Inputs) *plan.Plan {
	t.Helper()
	p, err := plan.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A strategy's bring-up and tear-down are plan stages, the optional ones only
// when the run needs them; the cluster's deletion is the last tear-down stage.
func TestSetupStages(t *testing.T) {
	p, err := NewPlan(PlanInputs{From: "1.30.8", To: "1.31.4", Strategies: []Strategy{InPlace}, ClusterBase: "ec"})
	if err != nil {
		t.Fatal(err)
	}
	kinds := func(ss []plan.Stage) string {
		var out []string
		for _, s := range ss {
			out = append(out, string(s.Kind))
		}
		return strings.Join(out, ",")
	}
	c := CommandInputs{Overlay: "fixtures/istio/egress.yaml"}
	up, down := p.Setup(p.Strategies[0], c, SetupInputs{RunID: "r"})
	if kinds(up) != "docker,istioctl,cluster,istio,clients,baseline" || kinds(down) != "cleanup,delete-cluster" {
		t.Errorf("plain: up %s, down %s", kinds(up), kinds(down))
	}
	up, down = p.Setup(p.Strategies[0], c, SetupInputs{RunID: "r", Preload: true, GatewayAPI: true, Hermetic: true})
	if kinds(up) != "docker,istioctl,cluster,preload-images,istio,gateway-api-crds,external,clients,baseline" ||
		kinds(down) != "cleanup,remove-external,delete-cluster" {
		t.Errorf("everything: up %s, down %s", kinds(up), kinds(down))
	}
	if !strings.Contains(up[4].Says, "istioctl-1.30.8 install --skip-confirmation --filename fixtures/istio/egress.yaml") {
		t.Errorf("the install stage says %q", up[4].Says)
	}
}
