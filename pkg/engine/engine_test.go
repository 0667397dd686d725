package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/evidence"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
	"github.com/egress-conformance/egress-conformance/pkg/report"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/upgrade"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// A failing per-object clean-up (an error, or a failed Expect's panic) must not
// skip deleting the cluster: the suites' old tear-down ran Expect(cleanupErr)
// before DestroyCluster, so a clean-up error leaked the kind cluster.
func TestTearDownRunsEveryAction(t *testing.T) {
	var ran []string
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the run was interrupted
	act := func(name string, err error, panics bool) Action {
		return Action{Name: name, Run: func(ctx context.Context) error {
			if ctx.Err() != nil {
				t.Errorf("%s got a cancelled context", name)
			}
			ran = append(ran, name)
			if panics {
				panic("Expect failed")
			}
			return err
		}}
	}
	var logged []string
	err := TearDown(ctx, func(f string, a ...any) { logged = append(logged, f) },
		act("delete this run's objects", errors.New("namespace egress-x still terminating"), false),
		act("remove the stand-in", nil, true),
		act("uninstall Istio", nil, false),
		act("delete the kind cluster", nil, false))
	if strings.Join(ran, ",") != "delete this run's objects,remove the stand-in,uninstall Istio,delete the kind cluster" {
		t.Errorf("ran %v: every action must run, the cluster's deletion last", ran)
	}
	if err == nil || !strings.Contains(err.Error(), "delete this run's objects: namespace egress-x still terminating") ||
		!strings.Contains(err.Error(), "remove the stand-in: panicked: Expect failed") {
		t.Errorf("err = %v, want both failures named", err)
	}
	if len(logged) != 2 {
		t.Errorf("logged %d failures, want 2", len(logged))
	}
	if err := TearDown(ctx, nil, act("ok", nil, false)); err != nil {
		t.Errorf("nothing failed: %v", err)
	}
}

// Diagnostics of a step that ran out of time must not inherit its cancelled
// context: every read would fail at once.
func TestDiagnosticsContext(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	cancel()
	ctx, done := diagnosticsContext(parent, time.Minute)
	defer done()
	if ctx.Err() != nil {
		t.Fatalf("diagnostics context is already done: %v", ctx.Err())
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > time.Minute {
		t.Errorf("deadline %v, want within a minute", dl)
	}
	if ctx.Value(key{}) != "v" {
		t.Error("values of the step's context are lost")
	}
}

// KEEP_CLUSTER_ON_FAILURE must see a failed bring-up (a failed Expect panics).
func TestOutcomeGuard(t *testing.T) {
	var o Outcome
	o.Guard("bring-up", func() {})
	if o.Failed() {
		t.Fatal("a stage that returned is not a failure")
	}
	func() {
		defer func() {
			if r := recover(); r != "Expect failed" {
				t.Errorf("the panic must reach the suite, got %v", r)
			}
		}()
		o.Guard("bring-up", func() { panic("Expect failed") })
	}()
	if !o.Failed() || o.Reasons()[0] != "bring-up failed" {
		t.Errorf("outcome after a failed bring-up: %v", o.Reasons())
	}
}

func remoteMesh() mesh.Installed {
	return mesh.Installed{APIGroups: []string{"networking.istio.io"},
		Injectors: []admissionv1.MutatingWebhookConfiguration{{ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector"}}}}
}

func TestDecideMesh(t *testing.T) {
	for _, c := range []struct {
		name    string
		mode    cluster.Mode
		found   mesh.Installed
		install bool
		why     string
	}{
		{"fresh kind cluster", cluster.ModeCreate, mesh.Installed{}, true, "own"},
		{"reused kind cluster, a previous run's mesh", cluster.ModeReuse, mesh.Installed{ControlPlanes: []string{"istio-system/istiod"}}, true, "own"},
		{"existing cluster without Istio", cluster.ModeExisting, mesh.Installed{}, true, "removes it afterwards"},
		{"existing cluster with istiod", cluster.ModeExisting, mesh.Installed{ControlPlanes: []string{"istio-system/istiod-1-32-0"}}, false, "istiod-1-32-0"},
		// The old suite code installed here: its guard looked for istiod only.
		{"existing cluster, remote control plane", cluster.ModeExisting, remoteMesh(), false, "no istiod (a remote or managed control plane)"},
	} {
		d := DecideMesh(c.mode, c.found)
		if d.Install != c.install || !strings.Contains(d.Why, c.why) {
			t.Errorf("%s: %+v, want install=%v and a reason with %q", c.name, d, c.install, c.why)
		}
	}
}

// REUSE_CLUSTER=1 must take over an interrupted run's namespaces: the cluster
// the run works through allows it exactly in reuse mode.
func TestNewClusterReuse(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	for mode, want := range map[cluster.Mode]bool{cluster.ModeReuse: true, cluster.ModeCreate: false, cluster.ModeExisting: false} {
		c, err := NewCluster(cfg, cluster.Plan{Mode: mode}, DefaultTimeouts(runner.DefaultTimeouts(), upgrade.Timeouts{}))
		if err != nil {
			t.Fatal(err)
		}
		if c.Reuse != want {
			t.Errorf("mode %s: Reuse = %v, want %v", mode, c.Reuse, want)
		}
	}
}

func TestLedger(t *testing.T) {
	s := &scenario.Scenario{Name: "x", Steps: []scenario.Step{{Name: "one"}, {Name: "two"}, {Name: "three"}}}
	l := newLedger(s)
	if !l.Record("one", false) || l.Record("one", false) {
		t.Error("Record must say whether the step was new")
	}
	got := l.Unrun("")
	if len(got) != 2 || got[0].Name != "two" || got[1].Name != "three" || got[0].Result != report.Skip ||
		!strings.Contains(got[0].Reason, "step one failed before it") {
		t.Errorf("after a failed first step: %+v", got)
	}
	if again := l.Unrun(""); len(again) != 0 {
		t.Errorf("second call returned %+v", again)
	}
	l = newLedger(s)
	if got := l.Unrun("client sleep not Ready"); len(got) != 3 || !strings.Contains(got[2].Reason, "set-up failed: client sleep not Ready") {
		t.Errorf("after a failed set-up: %+v", got)
	}
}

// The upgrade suite used to skip the ownership check the egress suite made.
func TestApplyRunConfigMap(t *testing.T) {
	ctx := context.Background()
	users := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "users"}, Data: map[string]string{"k": "theirs"}}
	kube := fake.NewClientset(users)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "ca"}, Data: map[string]string{"ca.crt": "1"}}
	if err := ApplyRunConfigMap(ctx, kube, cm, "run-1"); err != nil {
		t.Fatal(err)
	}
	cm.Data["ca.crt"] = "2"
	if err := ApplyRunConfigMap(ctx, kube, cm, "run-1"); err != nil {
		t.Fatalf("this run's own ConfigMap: %v", err)
	}
	got, _ := kube.CoreV1().ConfigMaps("ns").Get(ctx, "ca", metav1.GetOptions{})
	if got.Data["ca.crt"] != "2" || got.Labels[deploy.RunLabel] != "run-1" {
		t.Errorf("updated ConfigMap: %+v", got)
	}
	mine := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "users"}, Data: map[string]string{"k": "ours"}}
	if err := ApplyRunConfigMap(ctx, kube, mine, "run-1"); !errors.Is(err, deploy.ErrNotOurs) {
		t.Errorf("someone else's ConfigMap: err = %v, want ErrNotOurs", err)
	}
	if got, _ := kube.CoreV1().ConfigMaps("ns").Get(ctx, "users", metav1.GetOptions{}); got.Data["k"] != "theirs" {
		t.Error("someone else's ConfigMap was changed")
	}
}

func TestPreloadImages(t *testing.T) {
	images := RunImages([]mesh.Config{{Version: "1.31.4"}, {Version: "1.32.0", Hub: "mirror.example/istio"}}, true)
	want := []string{"docker.io/istio/pilot:1.31.4", "docker.io/istio/proxyv2:1.31.4",
		"mirror.example/istio/pilot:1.32.0", "mirror.example/istio/proxyv2:1.32.0", versions.CurlImage, versions.NginxImage}
	if strings.Join(images, " ") != strings.Join(want, " ") {
		t.Errorf("RunImages = %v, want %v", images, want)
	}
	var loaded []string
	err := PreloadImages(context.Background(), func(ctx context.Context, im string, args ...string) error {
		loaded = append(loaded, im)
		if strings.Contains(im, "proxyv2") {
			return errors.New("no such image")
		}
		return nil
	}, images)
	if len(loaded) != len(images) {
		t.Errorf("loaded %v: every image must be tried", loaded)
	}
	if err == nil || !strings.Contains(err.Error(), "docker pull docker.io/istio/proxyv2:1.31.4") || !strings.Contains(err.Error(), "mirror.example/istio/proxyv2:1.32.0") {
		t.Errorf("err = %v", err)
	}
}

// Every Ginkgo node bound covers the waits inside it, and follows TIMEOUTS.
func TestNodeTimeouts(t *testing.T) {
	tm := DefaultTimeouts(runner.DefaultTimeouts(), upgrade.Timeouts{})
	n := tm.Nodes()
	c, m, d, e, u := tm.Cluster, tm.Mesh, tm.Deploy, tm.External, tm.Upgrade
	for _, x := range []struct {
		name        string
		node, waits time.Duration
	}{
		{"bring-up", n.BringUp, c.NodeReady + c.ControlPlane + m.Download + m.Install + m.Ready + e.Ready + e.DNS},
		{"tear-down", n.TearDown, d.Cleanup + e.Delete + m.Uninstall},
		{"scenario set-up, 2 clients", n.ScenarioSetUp(2), 2 * (d.Namespace + d.ClientReady)},
		{"scenario clean-up", n.ScenarioCleanup, d.Cleanup},
		{"step", n.Step, 2*tm.Runner.Converge + diagnosticsTimeout},
		{"upgrade bring-up, 12 clients", n.UpgradeBringUp(12), c.NodeReady + c.ControlPlane + 2*m.Download + m.Install + m.Ready + 12*(d.Namespace+d.ClientReady) + u.Rollout},
		{"upgrade step", n.UpgradeStep, 3*tm.Runner.Converge + diagnosticsTimeout},
		{"upgrade window", n.Window, u.Window},
	} {
		if x.node <= x.waits {
			t.Errorf("%s: node timeout %s does not exceed the waits inside it (%s)", x.name, x.node, x.waits)
		}
	}
	r := runner.DefaultTimeouts()
	r.Converge += 10 * time.Minute
	if got := DefaultTimeouts(r, upgrade.Timeouts{}).Nodes().Step; got != n.Step+20*time.Minute {
		t.Errorf("TIMEOUTS=Converge+10m: step node %s, want %s", got, n.Step+20*time.Minute)
	}
	// UPGRADE_TIMEOUTS is part of the same value: the window's node follows it.
	var ut upgrade.Timeouts
	if err := ut.ParseOverrides("Window=2h,Rollout=30m"); err != nil {
		t.Fatal(err)
	}
	got := DefaultTimeouts(runner.DefaultTimeouts(), ut).Nodes()
	if got.Window != 2*time.Hour+10*time.Minute || got.UpgradeBringUp(1) != n.UpgradeBringUp(1)+20*time.Minute {
		t.Errorf("UPGRADE_TIMEOUTS=Window=2h,Rollout=30m: window node %s, bring-up %s", got.Window, got.UpgradeBringUp(1))
	}
}

func proxyPod(ns, name, ip string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip}}
}

// The runner of a step reads the logs of the client's sidecar and of exactly the
// gateways the plan names for the step, found on the cluster by their labels.
func TestStepRunner(t *testing.T) {
	all, err := scenario.LoadAllWith("../../scenarios", scenario.Options{WorkloadsDir: "../../fixtures/workloads"})
	if err != nil {
		t.Fatal(err)
	}
	var s *scenario.Scenario
	for _, x := range all {
		if x.Name == "gateway-api-egress-http" {
			s = x
		}
	}
	if s == nil {
		t.Fatal("no gateway-api-egress-http in the catalog")
	}
	i := len(s.Steps) - 1
	gw := s.Steps[i].Bundle.GatewayAPIGateways(s.Namespace())
	if len(gw) != 1 {
		t.Fatalf("the scenario's Gateway API gateways changed: %v", gw)
	}
	kube := fake.NewClientset(
		proxyPod("istio-system", "istio-egressgateway-5d8f", "10.0.0.7", map[string]string{"istio": "egressgateway"}),
		proxyPod(gw[0].Namespace, gw[0].Name+"-istio-6c9d", "10.0.0.8", map[string]string{scenario.GatewayNameLabel: gw[0].Name}),
		proxyPod("istio-system", "istiod-1", "10.0.0.9", map[string]string{"app": "istiod"}),
	)
	client := deploy.ClientPod{Namespace: s.Namespace(), Name: "sleep-1", IP: "10.0.0.5", Container: "sleep"}
	env := stepEnv{Kube: kube, Timeouts: runner.DefaultTimeouts(), GatewayPoll: time.Millisecond}
	r, gateways, err := env.stepRunner(context.Background(), s, i, client)
	if err != nil {
		t.Fatal(err)
	}
	if len(gateways) != 2 || len(r.GatewayHosts) != 2 || r.GatewayHosts[1] != gw[0].Host() {
		t.Errorf("gateways %v hosts %v", gateways, r.GatewayHosts)
	}
	col, ok := r.Collector.(evidence.Collector)
	prober, ok2 := r.Prober.(probe.Prober)
	if !ok || !ok2 {
		t.Fatalf("collector %T, prober %T", r.Collector, r.Prober)
	}
	var pods []string
	for _, p := range col.Gateways {
		pods = append(pods, p.Pod+"@"+p.IP)
	}
	if strings.Join(pods, ",") != "istio-egressgateway-5d8f@10.0.0.7,"+gw[0].Name+"-istio-6c9d@10.0.0.8" {
		t.Errorf("gateway proxies %v", pods)
	}
	if col.Sidecar.Pod != "sleep-1" || prober.Container != "sleep" || r.ClientIP != "10.0.0.5" {
		t.Errorf("client wiring: sidecar %+v prober %+v", col.Sidecar, prober)
	}

	// A Gateway API gateway whose pod never comes: an error naming its selector.
	env.Timeouts.Converge = 20 * time.Millisecond
	_, _, err = stepEnv{Kube: fake.NewClientset(proxyPod("istio-system", "gw", "10.0.0.7", map[string]string{"istio": "egressgateway"})),
		Timeouts: env.Timeouts, GatewayPoll: time.Millisecond}.stepRunner(context.Background(), s, i, client)
	if err == nil || !strings.Contains(err.Error(), scenario.GatewayNameLabel+"="+gw[0].Name) {
		t.Errorf("missing gateway pod: err = %v", err)
	}
}

// A scenario's squid workload is preloaded with its pin, once.
func TestWorkloadImages(t *testing.T) {
	s := &scenario.Scenario{Workloads: []scenario.Workload{{Name: "proxy", Workload: "squid"}, {Name: "own", Workload: "my-proxy"}}}
	if got := WorkloadImages([]*scenario.Scenario{s, s}); len(got) != 1 || got[0] != versions.SquidImage {
		t.Errorf("WorkloadImages = %v", got)
	}
}
