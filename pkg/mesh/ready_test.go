package mesh

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func ptr[T any](v T) *T { return &v }

func deployment(name string, labels map[string]string, ready bool) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: IstioNamespace, Name: name, Generation: 1, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
		},
	}
	if ready {
		markAvailable(d)
	}
	return d
}

func markAvailable(d *appsv1.Deployment) {
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}},
	}
}

func pod(name string, labels map[string]string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: IstioNamespace, Name: name, Labels: labels},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status, Reason: "ContainersNotReady"}},
		},
	}
}

var (
	istiodLabels  = map[string]string{"app": "istiod", "istio": "pilot"}
	gatewayLabels = map[string]string{"app": "istio-egressgateway", "istio": "egressgateway"}
)

// signalWriter collects output and closes first when the first line arrives.
type signalWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	once  sync.Once
	first chan struct{}
}

func newSignalWriter() *signalWriter { return &signalWriter{first: make(chan struct{})} }

func (w *signalWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.once.Do(func() { close(w.first) })
	return w.buf.Write(b)
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestWaitReadyWaitsUntilDeploymentsBecomeAvailable(t *testing.T) {
	istiod := deployment("istiod", istiodLabels, false)
	gw := deployment(EgressGatewayName, gatewayLabels, false)
	client := fake.NewClientset(istiod, gw,
		pod("istiod-abc", istiodLabels, true),
		pod("istio-egressgateway-abc", gatewayLabels, true),
		// Another deployment's pod that is not Ready must not matter.
		pod("unrelated", map[string]string{"app": "other"}, false),
	)
	out := newSignalWriter()
	m := &Mesh{Options: InstallOptions{Overlay: "o"}, Timeouts: Timeouts{Poll: 5 * time.Millisecond, Ready: 30 * time.Second}, Out: out}

	done := make(chan error, 1)
	go func() { done <- m.WaitReady(context.Background(), client) }()

	// Once WaitReady has seen the unready state, the rollout "finishes".
	select {
	case <-out.first:
	case err := <-done:
		t.Fatalf("WaitReady returned before the deployments were available: %v", err)
	}
	for _, d := range []*appsv1.Deployment{istiod, gw} {
		markAvailable(d)
		if _, err := client.AppsV1().Deployments(IstioNamespace).UpdateStatus(context.Background(), d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitReady: %v\noutput:\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"istio: waiting for istio-system/istiod: deployment generation 1 not yet observed (at 0)",
		"istio: istio-system/istiod ready",
		"istio: istio-system/istio-egressgateway ready",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestWaitReadyTimesOutNamingWhatIsMissing(t *testing.T) {
	client := fake.NewClientset(
		deployment("istiod-canary", istiodLabels, true),
		pod("istiod-canary-abc", istiodLabels, false),
	)
	m := &Mesh{Options: InstallOptions{Overlay: "o", Revision: "canary"}, Timeouts: Timeouts{Poll: 5 * time.Millisecond, Ready: 50 * time.Millisecond}}
	err := m.WaitReady(context.Background(), client)
	if err == nil {
		t.Fatal("WaitReady succeeded without an egress gateway")
	}
	for _, want := range []string{
		"within 50ms",
		"istio-system/istiod-canary: pods not Ready: istiod-canary-abc is not Ready (ContainersNotReady)",
		"istio-system/istio-egressgateway: deployment not found",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestWaitReadyHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := WaitDeployments(ctx, fake.NewClientset(), []Target{{IstioNamespace, "istiod"}}, Timeouts{Poll: time.Millisecond, Ready: time.Hour}, nil)
	if err == nil {
		t.Fatal("a cancelled context did not stop WaitDeployments")
	}
}

func TestDeploymentReady(t *testing.T) {
	base := func() *appsv1.Deployment { return deployment("d", gatewayLabels, true) }
	readyPod := *pod("p1", gatewayLabels, true)
	for _, c := range []struct {
		name string
		d    func() *appsv1.Deployment
		pods []corev1.Pod
		want string
	}{
		{"ready", base, []corev1.Pod{readyPod}, ""},
		{"new generation not observed", func() *appsv1.Deployment { d := base(); d.Generation = 2; return d }, []corev1.Pod{readyPod},
			"deployment generation 2 not yet observed (at 1)"},
		{"not available", func() *appsv1.Deployment { d := base(); d.Status.AvailableReplicas = 0; return d }, []corev1.Pod{readyPod},
			"0 of 1 replicas available"},
		{"condition false", func() *appsv1.Deployment {
			d := base()
			d.Status.Conditions[0].Status = corev1.ConditionFalse
			return d
		}, []corev1.Pod{readyPod}, "deployment condition Available is not True"},
		{"no pods", base, nil, "0 of 1 pods exist"},
		{"pod pending", base, []corev1.Pod{func() corev1.Pod { p := readyPod; p.Status.Phase = corev1.PodPending; return p }()},
			"pods not Ready: p1 is Pending"},
		{"terminating pod ignored", base, []corev1.Pod{readyPod, func() corev1.Pod {
			p := *pod("old", gatewayLabels, false)
			p.DeletionTimestamp = &metav1.Time{Time: time.Unix(0, 0)}
			return p
		}()}, ""},
		{"nil replicas means one", func() *appsv1.Deployment { d := base(); d.Spec.Replicas = nil; return d }, []corev1.Pod{readyPod}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := DeploymentReady(c.d(), c.pods); got != c.want {
				t.Errorf("DeploymentReady = %q, want %q", got, c.want)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	got := Targets(InstallOptions{})
	if len(got) != 2 || got[0].String() != "istio-system/istiod" || got[1].String() != "istio-system/istio-egressgateway" {
		t.Errorf("Targets() = %v", got)
	}
	if got := Targets(InstallOptions{Revision: "1-31-4"}); got[0].Name != "istiod-1-31-4" {
		t.Errorf("revisioned istiod = %v", got[0])
	}
}

func TestGuard(t *testing.T) {
	ctx := context.Background()
	empty := fake.NewClientset()
	if err := (&Mesh{}).Guard(ctx, empty); err != nil {
		t.Errorf("Guard on a cluster without Istio: %v", err)
	}
	foreign := fake.NewClientset(deployment("istiod", istiodLabels, true))
	err := (&Mesh{}).Guard(ctx, foreign)
	if err == nil || !strings.Contains(err.Error(), "istio-system/istiod") {
		t.Errorf("Guard on a foreign mesh: %v", err)
	}
	if err := (&Mesh{Owned: true}).Guard(ctx, foreign); err != nil {
		t.Errorf("Guard on the harness's own mesh: %v", err)
	}
}

// injector is a MutatingWebhookConfiguration shaped like the istio-discovery chart's
// (templates/mutatingwebhook.yaml): revision "" is the default revision, whose
// configuration also selects istio-injection=enabled namespaces.
func injector(revision string) *admissionv1.MutatingWebhookConfiguration {
	rev := revision
	if rev == "" {
		rev = "default"
	}
	name := "istio-sidecar-injector"
	if revision != "" {
		name += "-" + revision
	}
	notDisabled := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "sidecar.istio.io/inject", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"false"}}}}
	w := &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "sidecar-injector", "istio.io/rev": rev}},
		Webhooks: []admissionv1.MutatingWebhook{{
			Name: "rev.namespace.sidecar-injector.istio.io",
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "istio.io/rev", Operator: metav1.LabelSelectorOpIn, Values: []string{rev}},
				{Key: "istio-injection", Operator: metav1.LabelSelectorOpDoesNotExist}}},
			ObjectSelector: notDisabled,
		}},
	}
	if revision == "" {
		w.Webhooks = append(w.Webhooks, admissionv1.MutatingWebhook{
			Name: "namespace.sidecar-injector.istio.io",
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "istio-injection", Operator: metav1.LabelSelectorOpIn, Values: []string{"enabled"}}}},
			ObjectSelector: notDisabled,
		})
	}
	return w
}

// withIstioAPI makes the fake server serve networking.istio.io, as a cluster with
// Istio's CRDs does.
func withIstioAPI(c *fake.Clientset) *fake.Clientset {
	c.Resources = append(c.Resources, &metav1.APIResourceList{GroupVersion: "networking.istio.io/v1",
		APIResources: []metav1.APIResource{{Name: "virtualservices", Kind: "VirtualService", Namespaced: true}}})
	return c
}

// A remote or managed control plane: Istio's API and its injection webhook, no
// istiod. The harness must treat it as a foreign mesh (the previous Guard looked
// for istiod only, and installed over it).
func TestGuardRemoteControlPlane(t *testing.T) {
	ctx := context.Background()
	remote := withIstioAPI(fake.NewClientset(injector("")))
	err := (&Mesh{}).Guard(ctx, remote)
	if !errors.Is(err, ErrForeignMesh) || !strings.Contains(err.Error(), "no istiod (a remote or managed control plane)") {
		t.Fatalf("Guard on a remote control plane: %v", err)
	}
	in, err := Discover(ctx, remote)
	if err != nil {
		t.Fatal(err)
	}
	if !in.Remote() || len(in.ControlPlanes) != 0 || in.APIGroups[0] != "networking.istio.io" {
		t.Errorf("Discover = %+v", in)
	}
	if got := in.ControlPlaneTargets(); len(got) != 1 || got[0].Name != EgressGatewayName {
		t.Errorf("a remote control plane has no istiod to wait for: %v", got)
	}
	// Istio's API alone (CRDs left behind) is a mesh too.
	if err := (&Mesh{}).Guard(ctx, withIstioAPI(fake.NewClientset())); !errors.Is(err, ErrForeignMesh) {
		t.Errorf("Guard with Istio's API groups only: %v", err)
	}
}

// A mesh installed by revision: namespaces are injected by istio.io/rev, not
// istio-injection=enabled, and istiod is istiod-<revision>.
func TestInjectionLabels(t *testing.T) {
	ctx := context.Background()
	revDep := deployment("istiod-1-32-0", map[string]string{"app": "istiod", "istio.io/rev": "1-32-0"}, true)
	for _, c := range []struct {
		name    string
		objects []runtime.Object
		want    string
	}{
		{"default revision", []runtime.Object{deployment("istiod", istiodLabels, true), injector("")}, "istio-injection=enabled"},
		{"revision only", []runtime.Object{revDep, injector("1-32-0")}, "istio.io/rev=1-32-0"},
		{"default and a canary", []runtime.Object{deployment("istiod", istiodLabels, true), revDep, injector(""), injector("1-32-0")}, "istio-injection=enabled"},
	} {
		in, err := Discover(ctx, fake.NewClientset(c.objects...))
		if err != nil {
			t.Fatal(err)
		}
		l, err := in.InjectionLabels()
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := labels.Set(l).String(); got != c.want {
			t.Errorf("%s: InjectionLabels = %s, want %s", c.name, got, c.want)
		}
	}
	in, err := Discover(ctx, fake.NewClientset(revDep, injector("1-32-0")))
	if err != nil {
		t.Fatal(err)
	}
	if got := in.ControlPlaneTargets(); got[0].Name != "istiod-1-32-0" {
		t.Errorf("ControlPlaneTargets = %v, want the revisioned istiod first", got)
	}
	// Only a webhook nobody's namespace can select: an error, not an uninjected client.
	if _, err := (Installed{Revisions: []string{"x"}}).InjectionLabels(); err == nil {
		t.Error("no injector: want an error")
	}
}
