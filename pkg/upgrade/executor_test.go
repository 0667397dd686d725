package upgrade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/report"
)

// fakeIstio records what the executor asks of istioctl. It does not run Istio:
// to let the waits that follow see something, it changes the fake cluster the
// way istioctl's install is documented to (the egress gateway chart renders the
// Deployment istio-egressgateway with the proxy image of its version and the
// pod label istio.io/rev, manifests/charts/gateways/istio-egress/templates/
// deployment.yaml) and records which revision the injector of each version
// answers for. The test's controller then rolls pods like the Deployment
// controller would.
type fakeIstio struct {
	w     *upgradeWorld
	calls []string
	// Failures by call name ("install", "uninstall", "precheck", "wait").
	fail map[string]error
	// keepGateway: the install leaves the gateway's template alone (a mirror
	// with one tag for every version), so the executor must restart it.
	keepGateway bool
}

func (f *fakeIstio) Install(ctx context.Context, version, rev string) error {
	f.calls = append(f.calls, fmt.Sprintf("install %s rev=%q", version, rev))
	if err := f.fail["install"]; err != nil {
		return err
	}
	if rev == "" {
		rev = DefaultRevision
	}
	f.w.injector[rev] = ProxyExpectation{Version: version, Revision: rev}
	if !f.keepGateway {
		d := f.w.deployment(mesh.IstioNamespace, mesh.EgressGatewayName)
		d.Spec.Template.Spec.Containers[0].Image = "docker.io/istio/proxyv2:" + version
		d.Spec.Template.Labels[RevisionLabel] = rev
		d.Generation++
		if _, err := f.w.cs.AppsV1().Deployments(mesh.IstioNamespace).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeIstio) Uninstall(ctx context.Context, version, rev string) error {
	f.calls = append(f.calls, fmt.Sprintf("uninstall %s rev=%q", version, rev))
	if err := f.fail["uninstall"]; err != nil {
		return err
	}
	delete(f.w.injector, rev)
	return f.w.cs.AppsV1().Deployments(mesh.IstioNamespace).Delete(ctx, "istiod"+suffix(revisionOption(rev)), metav1.DeleteOptions{})
}

func (f *fakeIstio) WaitReady(ctx context.Context, rev string) error {
	f.calls = append(f.calls, fmt.Sprintf("wait rev=%q", rev))
	return f.fail["wait"]
}

func (f *fakeIstio) Precheck(ctx context.Context, version, fromMinor string) (string, error) {
	f.calls = append(f.calls, fmt.Sprintf("precheck %s --from-version %s", version, fromMinor))
	return "✔ No issues found when checking the cluster. Istio is safe to install or upgrade!", f.fail["precheck"]
}

// upgradeWorld is the fake cluster of kube_test.go plus a Deployment
// controller and an injector: between two polls it rolls every Deployment
// whose pods do not match its template (image, restartedAt); a client pod gets
// the proxy of the revision its namespace's labels select.
type upgradeWorld struct {
	*world
	injector map[string]ProxyExpectation
	rolls    map[string]int
}

func newUpgradeWorld(t *testing.T) *upgradeWorld {
	w := &upgradeWorld{world: newWorld(t), injector: map[string]ProxyExpectation{DefaultRevision: {Version: fromV, Revision: DefaultRevision}},
		rolls: map[string]int{}}
	istiod := deployment(mesh.IstioNamespace, "istiod", map[string]string{"app": "istiod"}, nil, "docker.io/istio/pilot:"+fromV, "default")
	if _, err := w.cs.AppsV1().Deployments(mesh.IstioNamespace).Create(context.Background(), istiod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.clock.onSleep = w.reconcile
	return w
}

func (w *upgradeWorld) reconcile() {
	ctx := context.Background()
	for _, t := range []ProxyTarget{GatewayTarget, {Role: RoleClient, Namespace: clientN, Deployment: "sleep"}} {
		d, err := w.cs.AppsV1().Deployments(t.Namespace).Get(ctx, t.Deployment, metav1.GetOptions{})
		if err != nil {
			continue
		}
		pods, _ := w.cs.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{})
		want := d.Spec.Template.Spec.Containers[0].Image
		stamp := d.Spec.Template.Annotations[RestartedAtAnnotation]
		if t.Role == RoleClient {
			p, ok := w.injectorFor(t.Namespace)
			if !ok {
				continue // no injector: the pod could not be created (webhook gone)
			}
			want = "docker.io/istio/proxyv2:" + p.Version
		}
		stale := len(pods.Items) == 0
		for _, p := range pods.Items {
			img, _ := ProxyImage(&p)
			stale = stale || (t.Role == RoleGateway && img != want) || p.Annotations[RestartedAtAnnotation] != stamp
		}
		if !stale {
			continue
		}
		w.rolls[t.Deployment]++
		name := fmt.Sprintf("%s-%d", t.Deployment, w.rolls[t.Deployment])
		for _, p := range pods.Items {
			_ = w.cs.CoreV1().Pods(t.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
		}
		np := podOf(d, name, w.clock.Now(), map[string]string{RestartedAtAnnotation: stamp})
		np.Spec.Containers[len(np.Spec.Containers)-1].Image = want
		np.Status.ContainerStatuses[0].Image = want
		if t.Role == RoleClient {
			p, _ := w.injectorFor(t.Namespace)
			for k, v := range statusFor(p.Revision) {
				np.Annotations[k] = v
			}
		}
		if _, err := w.cs.CoreV1().Pods(t.Namespace).Create(ctx, np, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			w.t.Fatal(err)
		}
		rolledOut(d)
		if _, err := w.cs.AppsV1().Deployments(t.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
			w.t.Fatal(err)
		}
	}
}

// injectorFor: istio-injection=enabled means the default revision's injector
// (it takes precedence); else istio.io/rev names one.
func (w *upgradeWorld) injectorFor(namespace string) (ProxyExpectation, bool) {
	ns, err := w.cs.CoreV1().Namespaces().Get(context.Background(), namespace, metav1.GetOptions{})
	if err != nil {
		return ProxyExpectation{}, false
	}
	rev := ns.Labels[RevisionLabel]
	if ns.Labels[InjectionLabel] == "enabled" {
		rev = DefaultRevision
	}
	p, ok := w.injector[rev]
	return p, ok
}

func (w *upgradeWorld) executor(istio *fakeIstio) Executor {
	return Executor{
		Istio: istio, Kube: w.kube,
		Clients:    []ProxyTarget{{Role: RoleClient, Namespace: clientN, Deployment: "sleep"}},
		Namespaces: []string{clientN},
		Commands:   CommandInputs{Overlay: mesh.OverlayFile, Clients: []string{clientN + "/sleep"}, Namespaces: []string{clientN}},
	}
}

func planFor(t *testing.T, s Strategy) StrategyPlan {
	p, err := NewPlan(PlanInputs{From: fromV, To: toV, Strategies: []Strategy{s}})
	if err != nil {
		t.Fatal(err)
	}
	return p.Strategies[0]
}

func actionNames(as []report.UpgradeAction) string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s:%s", a.Name, a.Result))
	}
	return strings.Join(out, "\n")
}

func TestBaseline(t *testing.T) {
	w := newUpgradeWorld(t)
	checks, err := w.executor(&fakeIstio{w: w}).CheckBaseline(context.Background(), planFor(t, InPlace).Baseline)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 2 || !checks[0].OK || checks[0].Role != RoleGateway || checks[1].Role != RoleClient ||
		checks[1].AgentVersion != fromV || checks[0].Phase != PhaseFrom {
		t.Errorf("%+v", checks)
	}
}

func TestInPlaceWindow(t *testing.T) {
	w := newUpgradeWorld(t)
	istio := &fakeIstio{w: w, fail: map[string]error{"precheck": errors.New("Issues found when checking the cluster. Istio may not be safe to install or upgrade.")}}
	sp := planFor(t, InPlace)
	res := w.executor(istio).RunWindow(context.Background(), *sp.Stages[1].Window, PhaseTo)
	if res.Err != nil {
		t.Fatalf("%v\n%s", res.Err, actionNames(res.Actions))
	}
	if got := strings.Join(istio.calls, "; "); got != `precheck 1.27.0 --from-version 1.26; install 1.27.0 rev=""; wait rev="default"` {
		t.Errorf("istioctl calls: %s", got)
	}
	// The precheck's complaint is recorded, marked advisory, and the upgrade went on.
	pre := res.Actions[0]
	if pre.Result != report.Fail || !pre.Advisory || !strings.Contains(pre.Error, "may not be safe") || pre.Command != "istioctl-1.27.0 x precheck --from-version 1.26" {
		t.Errorf("precheck %+v", pre)
	}
	for _, a := range res.Actions[1:] {
		if a.Result != report.Pass || a.Window != WindowUpgrade {
			t.Errorf("action %+v", a)
		}
	}
	// The install rolled the gateway: not restarted a second time.
	if w.rolls[mesh.EgressGatewayName] != 1 || !strings.Contains(res.Actions[3].Output, "rolled by the install") {
		t.Errorf("gateway rolled %d times, output %q", w.rolls[mesh.EgressGatewayName], res.Actions[3].Output)
	}
	if d := w.deployment(mesh.IstioNamespace, mesh.EgressGatewayName); d.Spec.Template.Annotations[RestartedAtAnnotation] != "" {
		t.Error("the gateway was restarted although the install rolled it")
	}
	// Every pod afterwards runs TO's proxy in the default revision, by pilot-agent's own word.
	if len(res.ProxyChecks) != 2 {
		t.Fatalf("checks %+v", res.ProxyChecks)
	}
	for _, c := range res.ProxyChecks {
		if !c.OK || c.AgentVersion != toV || c.Revision != DefaultRevision || c.Phase != PhaseTo {
			t.Errorf("check %+v", c)
		}
	}
	if !strings.Contains(res.Actions[4].Command, "kubectl rollout restart deployment/sleep --namespace "+clientN) {
		t.Errorf("restart command %q", res.Actions[4].Command)
	}
}

func TestCanaryWindows(t *testing.T) {
	w := newUpgradeWorld(t)
	istio := &fakeIstio{w: w}
	sp := planFor(t, Canary)
	e := w.executor(istio)
	res := e.RunWindow(context.Background(), *sp.Stages[1].Window, PhaseTo)
	if res.Err != nil {
		t.Fatalf("%v\n%s", res.Err, actionNames(res.Actions))
	}
	ns, _ := w.cs.CoreV1().Namespaces().Get(context.Background(), clientN, metav1.GetOptions{})
	if ns.Labels[RevisionLabel] != "1-27-0" || ns.Labels[InjectionLabel] != "" {
		t.Errorf("namespace labels %v", ns.Labels)
	}
	for _, c := range res.ProxyChecks {
		if !c.OK || c.Revision != "1-27-0" || c.AgentVersion != toV {
			t.Errorf("check %+v", c)
		}
	}
	// FROM's control plane is still there during phase "to".
	if _, err := w.cs.AppsV1().Deployments(mesh.IstioNamespace).Get(context.Background(), "istiod", metav1.GetOptions{}); err != nil {
		t.Errorf("istiod of FROM: %v", err)
	}

	res = e.RunWindow(context.Background(), *sp.Stages[3].Window, PhaseFinal)
	if res.Err != nil {
		t.Fatalf("%v\n%s", res.Err, actionNames(res.Actions))
	}
	if got := istio.calls[len(istio.calls)-1]; got != `uninstall 1.27.0 rev="default"` {
		t.Errorf("last call %s", got)
	}
	if _, err := w.cs.AppsV1().Deployments(mesh.IstioNamespace).Get(context.Background(), "istiod", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("istiod of FROM still there: %v", err)
	}
	// Removing FROM restarted nothing, and every pod still runs TO.
	if w.rolls["sleep"] != 1 || w.rolls[mesh.EgressGatewayName] != 1 {
		t.Errorf("rolls %v", w.rolls)
	}
	if len(res.ProxyChecks) != 2 || !res.ProxyChecks[0].OK || !res.ProxyChecks[1].OK || res.ProxyChecks[1].Phase != PhaseFinal {
		t.Errorf("checks %+v", res.ProxyChecks)
	}
}

// A canary that forgot the namespace label (istio-injection still set, which
// takes precedence) restarts the client onto FROM: the check says so, the
// window fails, the next phases are blocked.
func TestCanaryWithoutRelabelIsCaught(t *testing.T) {
	w := newUpgradeWorld(t)
	w.kube.Timeouts.Rollout = 10 * time.Second
	sp := planFor(t, Canary)
	win := *sp.Stages[1].Window
	var actions []Action
	for _, a := range win.Actions {
		if a.Kind != ActRelabel {
			actions = append(actions, a)
		}
	}
	win.Actions = actions
	res := w.executor(&fakeIstio{w: w}).RunWindow(context.Background(), win, PhaseTo)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "pilot-agent reports "+fromV+", not "+toV) ||
		!strings.Contains(res.Err.Error(), "revision default (sidecar.istio.io/status), not 1-27-0") {
		t.Fatalf("want the client's FROM proxy named, got %v", res.Err)
	}
	var bad []report.ProxyCheck
	for _, c := range res.ProxyChecks {
		if !c.OK {
			bad = append(bad, c)
		}
	}
	if len(bad) != 1 || bad[0].Role != RoleClient {
		t.Errorf("checks %+v", res.ProxyChecks)
	}
}

func TestWindowStopsAtTheFirstFailure(t *testing.T) {
	w := newUpgradeWorld(t)
	istio := &fakeIstio{w: w, fail: map[string]error{"install": errors.New("install Istio 1.27.0: exit status 1\nError: failed to install manifests")}}
	res := w.executor(istio).RunWindow(context.Background(), *planFor(t, InPlace).Stages[1].Window, PhaseTo)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "upgrade: install Istio 1.27.0 (default revision): install Istio 1.27.0: exit status 1") {
		t.Fatalf("err %v", res.Err)
	}
	want := []report.Result{report.Pass, report.Fail, report.Skip, report.Skip, report.Skip}
	for i, a := range res.Actions {
		if a.Result != want[i] {
			t.Errorf("action %d %s: %s, want %s", i, a.Name, a.Result, want[i])
		}
	}
	if len(istio.calls) != 2 || w.rolls["sleep"] != 0 {
		t.Errorf("ran on after the failure: calls %v, rolls %v", istio.calls, w.rolls)
	}
}

// An install that does not change the gateway's pod template (one mirror tag for
// every version) leaves the old pods running: the executor restarts the gateway.
func TestGatewayRestartedWhenTheInstallDidNotRollIt(t *testing.T) {
	w := newUpgradeWorld(t)
	ctx := context.Background()
	d := w.deployment(mesh.IstioNamespace, mesh.EgressGatewayName)
	d.Spec.Template.Spec.Containers[0].Image = "registry.local/proxyv2:mirror"
	if _, err := w.cs.AppsV1().Deployments(mesh.IstioNamespace).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.reconcile() // the gateway pod runs the mirror image
	before := w.rolls[mesh.EgressGatewayName]
	// pilot-agent in the mirrored image is TO's build.
	w.kube.Exec = mirrorAgents{w.agents}
	res := w.executor(&fakeIstio{w: w, keepGateway: true}).RunWindow(ctx, Window{Name: WindowUpgrade, Actions: []Action{
		{Kind: ActInstall, Version: toV}, {Kind: ActGateway, Version: toV, Expect: ProxyExpectation{Version: toV, Revision: DefaultRevision}},
	}}, PhaseTo)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if w.rolls[mesh.EgressGatewayName] != before+1 || !strings.Contains(res.Actions[1].Output, "restarted: the install left the pod template") {
		t.Errorf("rolls %d→%d, output %q", before, w.rolls[mesh.EgressGatewayName], res.Actions[1].Output)
	}
}

// mirrorAgents answers for the mirror image as TO's pilot-agent.
type mirrorAgents struct{ *agents }

func (m mirrorAgents) Exec(ctx context.Context, namespace, pod, container string, command []string, stdout, stderr io.Writer) (int, error) {
	p, err := m.cs.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	if err == nil {
		if img, _ := ProxyImage(p); img == "registry.local/proxyv2:mirror" {
			_, _ = stdout.Write([]byte(agentVersion1270 + "\n"))
			return 0, nil
		}
	}
	return m.agents.Exec(ctx, namespace, pod, container, command, stdout, stderr)
}
