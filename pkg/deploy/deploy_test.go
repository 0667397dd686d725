package deploy

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// fastTimeouts keep the bounded waits of the tests short.
var fastTimeouts = Timeouts{Namespace: 300 * time.Millisecond, ClientReady: 300 * time.Millisecond,
	CRDEstablished: 300 * time.Millisecond, Cleanup: 2 * time.Second, Poll: 20 * time.Millisecond}

func restMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{
		corev1.SchemeGroupVersion.WithKind("ConfigMap"), corev1.SchemeGroupVersion.WithKind("Pod"),
		corev1.SchemeGroupVersion.WithKind("Service"), corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
		corev1.SchemeGroupVersion.WithKind("Event"), appsv1.SchemeGroupVersion.WithKind("Deployment"),
	} {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	for _, gvk := range []schema.GroupVersionKind{
		namespaceGVK, rbacv1.SchemeGroupVersion.WithKind("ClusterRole"), crdGVK,
	} {
		m.Add(gvk, meta.RESTScopeRoot)
	}
	return m
}

func newCluster(t *testing.T, objs ...client.Object) *Cluster {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	cl := fake.NewClientBuilder().WithScheme(s).WithRESTMapper(restMapper()).WithObjects(objs...).Build()
	return &Cluster{Client: cl, Timeouts: fastTimeouts}
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func getNS(t *testing.T, c *Cluster, name string) *corev1.Namespace {
	t.Helper()
	var ns corev1.Namespace
	if err := c.Client.Get(context.Background(), client.ObjectKey{Name: name}, &ns); err != nil {
		t.Fatal(err)
	}
	return &ns
}

func TestEnsureNamespace(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t,
		namespace("users", map[string]string{"team": "a"}),
		namespace("old-run", map[string]string{RunLabel: "run-0"}),
		namespace("mine", map[string]string{RunLabel: "run-1"}),
	)

	if err := EnsureNamespace(ctx, c, "fresh", "run-1", true); err != nil {
		t.Fatal(err)
	}
	got := getNS(t, c, "fresh").Labels
	for k, v := range map[string]string{RunLabel: "run-1", ManagedByLabel: ManagedBy, InjectionLabel: "enabled"} {
		if got[k] != v {
			t.Errorf("fresh: label %s=%q, want %q", k, got[k], v)
		}
	}

	// Our own namespace: used, and given the labels asked for now.
	if err := EnsureNamespace(ctx, c, "mine", "run-1", true); err != nil {
		t.Fatal(err)
	}
	if getNS(t, c, "mine").Labels[InjectionLabel] != "enabled" {
		t.Error("mine: injection label not added")
	}

	// A revision-installed mesh injects by istio.io/rev, not istio-injection.
	c.Injection = map[string]string{"istio.io/rev": "1-32-0"}
	if err := EnsureNamespace(ctx, c, "by-revision", "run-1", true); err != nil {
		t.Fatal(err)
	}
	if l := getNS(t, c, "by-revision").Labels; l["istio.io/rev"] != "1-32-0" || l[InjectionLabel] != "" {
		t.Errorf("by-revision: labels %v, want istio.io/rev=1-32-0 and no %s", l, InjectionLabel)
	}
	c.Injection = nil

	// The user's namespace: refused, untouched.
	err := EnsureNamespace(ctx, c, "users", "run-1", false)
	if !errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), "without the label "+RunLabel) {
		t.Errorf("users: err = %v, want ErrNotOurs naming the label", err)
	}
	if l := getNS(t, c, "users").Labels; len(l) != 1 || l["team"] != "a" {
		t.Errorf("users: labels changed to %v", l)
	}

	// Another run's: refused without Reuse, taken over with it.
	err = EnsureNamespace(ctx, c, "old-run", "run-1", false)
	if !errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), "REUSE_CLUSTER") {
		t.Errorf("old-run: err = %v, want ErrNotOurs mentioning REUSE_CLUSTER", err)
	}
	c.Reuse = true
	if err := EnsureNamespace(ctx, c, "old-run", "run-1", false); err != nil {
		t.Fatalf("old-run with Reuse: %v", err)
	}
	if got := getNS(t, c, "old-run").Labels[RunLabel]; got != "run-1" {
		t.Errorf("old-run with Reuse: %s=%q, want run-1", RunLabel, got)
	}
	c.Reuse = true
	if err := EnsureNamespace(ctx, c, "users", "run-1", false); !errors.Is(err, ErrNotOurs) {
		t.Errorf("users with Reuse: err = %v, want ErrNotOurs: Reuse never adopts a user's namespace", err)
	}

	if err := EnsureNamespace(ctx, c, "x", "bad id!", false); err == nil {
		t.Error("invalid run id accepted")
	}
}

func TestEnsureNamespaceWaitsForTerminating(t *testing.T) {
	ns := namespace("going", map[string]string{RunLabel: "run-1"})
	ns.Finalizers = []string{"kubernetes"}
	c := newCluster(t, ns)
	if err := c.Client.Delete(context.Background(), ns); err != nil { // sets deletionTimestamp (finalizer)
		t.Fatal(err)
	}
	err := EnsureNamespace(context.Background(), c, "going", "run-1", false)
	if err == nil || !strings.Contains(err.Error(), "still terminating") {
		t.Errorf("err = %v, want a bounded wait that names the terminating namespace", err)
	}
}

func TestParseManifests(t *testing.T) {
	data := []byte(`# a comment
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sleep
---
# only a comment
---   # separator with a comment

apiVersion: v1
kind: Service
metadata:
  name: sleep
`)
	ms, err := parseManifests(data, "sleep.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("got %d documents, want 2", len(ms))
	}
	if ms[0].Line != 2 || ms[1].Line != 10 {
		t.Errorf("lines = %d, %d; want 2, 10", ms[0].Line, ms[1].Line)
	}
	if w := ms[1].where(); w != "sleep.yaml:10: Service sleep" {
		t.Errorf("where = %q", w)
	}
	_, err = parseManifests([]byte("apiVersion: v1\nkind: Service\n---\nkind: x\n"), "f.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "f.yaml:1: Service has no metadata.name") {
		t.Errorf("err = %v, want the file, line and missing name", err)
	}
}

func TestNewObjects(t *testing.T) {
	a := scenario.Object{File: "a.yaml", Name: "a"}
	b := scenario.Object{File: "b.yaml", Name: "b"}
	c := scenario.Object{File: "c.yaml", Name: "c"}
	s := &scenario.Scenario{Steps: []scenario.Step{
		{Bundle: scenario.Bundle{a}},
		{Bundle: scenario.Bundle{a}}, // a step that only probes
		{Bundle: scenario.Bundle{a, b, c}},
	}}
	names := func(b scenario.Bundle) (n []string) {
		for _, o := range b {
			n = append(n, o.Name)
		}
		return strings.Fields(strings.Join(n, " "))
	}
	for step, want := range []string{"a", "", "b c"} {
		if got := strings.Join(names(NewObjects(s, step)), " "); got != want {
			t.Errorf("step %d: new objects %q, want %q", step, got, want)
		}
	}
	if NewObjects(s, 3) != nil || NewObjects(s, -1) != nil {
		t.Error("out-of-range step returned objects")
	}
}

func TestApplyErrorMessage(t *testing.T) {
	err := error(&ApplyError{File: "serviceentry.yaml", Line: 3, Kind: "ServiceEntry", Name: "httpbin",
		Err: errors.New(`ServiceEntry.networking.istio.io "httpbin" is invalid: spec.hosts: Required value`)})
	want := `serviceentry.yaml:3: ServiceEntry httpbin: ServiceEntry.networking.istio.io "httpbin" is invalid: spec.hosts: Required value`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}

func TestApplyBundleRefusesForeignNamespace(t *testing.T) {
	c := newCluster(t, namespace("egress-x", nil))
	s := &scenario.Scenario{Name: "x", Steps: []scenario.Step{{Name: "one"}}}
	err := ApplyBundle(context.Background(), c, s, 0, "run-1")
	if !errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), "scenario x step 1 (one)") {
		t.Errorf("err = %v, want ErrNotOurs with the scenario and step", err)
	}
	if err := ApplyBundle(context.Background(), c, s, 1, "run-1"); err == nil {
		t.Error("step out of range accepted")
	}
}

func TestApplyManifestUnknownKind(t *testing.T) {
	c := newCluster(t)
	ms, err := parseManifests([]byte("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: httpbin\n"), "serviceentry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = applyManifest(context.Background(), c, ms[0], "ns", "run-1")
	var ae *ApplyError
	if !errors.As(err, &ae) || !strings.HasPrefix(err.Error(), "serviceentry.yaml:1: ServiceEntry httpbin: the API server serves no kind ServiceEntry") {
		t.Errorf("err = %v, want an *ApplyError saying the kind is not served", err)
	}
}

func pod(name string, ready bool, containers []string, initSidecar bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "sleep"}}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	if initSidecar {
		p.Spec.InitContainers = []corev1.Container{{Name: SidecarContainer, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
	}
	p.Status.Phase = corev1.PodPending
	if ready {
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = "10.0.0.7"
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	return p
}

func deployment(rolledOut bool) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "sleep", Namespace: "ns", Generation: 1},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "sleep"}}},
	}
	if rolledOut {
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1}
	}
	return d
}

func TestClientReady(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		objs     []client.Object
		sidecar  bool
		wantPod  string
		wantErr  error
		wantWait string
	}{
		{name: "ready with istio-proxy", sidecar: true, wantPod: "sleep-1",
			objs: []client.Object{deployment(true), pod("sleep-1", true, []string{"sleep", SidecarContainer}, false)}},
		{name: "ready with native sidecar", sidecar: true, wantPod: "sleep-1",
			objs: []client.Object{deployment(true), pod("sleep-1", true, []string{"sleep"}, true)}},
		{name: "no injection fails at once", sidecar: true, wantErr: ErrNoSidecar,
			objs: []client.Object{deployment(false), pod("sleep-1", false, []string{"sleep"}, false)}},
		{name: "no injection allowed", sidecar: false, wantPod: "sleep-1",
			objs: []client.Object{deployment(true), pod("sleep-1", true, []string{"sleep"}, false)}},
		{name: "not rolled out", sidecar: false, wantWait: "pod sleep-1 Pending (not scheduled)",
			objs: []client.Object{deployment(false), pod("sleep-1", false, []string{"sleep"}, false)}},
		{name: "no pod", sidecar: false, wantWait: "no pod yet", objs: []client.Object{deployment(false)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, tc.objs...)
			p, state, err := clientReady(ctx, c.Client, "ns", "sleep", tc.sidecar)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantWait != "" {
				if p != nil || !strings.Contains(state, tc.wantWait) {
					t.Errorf("pod %v, state %q; want nil and a state containing %q", p, state, tc.wantWait)
				}
				return
			}
			if p == nil || p.Name != tc.wantPod || p.IP != "10.0.0.7" || p.Container != "sleep" {
				t.Errorf("pod = %+v (state %q), want %s with IP and container sleep", p, state, tc.wantPod)
			}
		})
	}
}

func TestWithoutSidecarNeedsReason(t *testing.T) {
	c := newCluster(t)
	_, err := DeployClient(context.Background(), c, "x.yaml", "ns", "run-1", WithoutSidecar(" "))
	if err == nil || !strings.Contains(err.Error(), "say why") {
		t.Errorf("err = %v, want a demand for a reason", err)
	}
}

// cleanupFixture: this run's namespaces and objects, another run's, and the user's.
func cleanupFixture() []client.Object {
	mine := map[string]string{RunLabel: "run-1"}
	other := map[string]string{RunLabel: "run-2"}
	cm := func(ns, name string, l map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l}}
	}
	return []client.Object{
		namespace("egress-a", mine), namespace("egress-b", mine),
		namespace("egress-other", other), namespace("users", nil),
		cm("egress-a", "inside", mine),
		cm("users", "placed-by-run", mine), // a bundle object in a namespace the run did not create
		cm("users", "keep", nil),
		cm("users", "other-run", other),
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "run-role", Labels: mine}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "user-role"}},
	}
}

func fakeDiscovery() *fakediscovery.FakeDiscovery {
	verbs := metav1.Verbs{"list", "delete", "get"}
	return &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{Resources: []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "namespaces", Kind: "Namespace", Verbs: verbs},
			{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: verbs},
			{Name: "pods/log", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get"}},
		}},
		{GroupVersion: "rbac.authorization.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "clusterroles", Kind: "ClusterRole", Verbs: verbs},
		}},
	}}}
}

func exists(t *testing.T, c *Cluster, obj client.Object, ns, name string) bool {
	t.Helper()
	err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestCleanupDeletesExactlyTheRun(t *testing.T) {
	c := newCluster(t, cleanupFixture()...)
	c.Discovery = fakeDiscovery()
	res, err := Cleanup(context.Background(), c, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []struct {
		obj      client.Object
		ns, name string
	}{
		{&corev1.Namespace{}, "", "egress-a"}, {&corev1.Namespace{}, "", "egress-b"},
		{&corev1.ConfigMap{}, "users", "placed-by-run"}, {&rbacv1.ClusterRole{}, "", "run-role"},
	} {
		if exists(t, c, gone.obj, gone.ns, gone.name) {
			t.Errorf("%T %s/%s survived clean-up", gone.obj, gone.ns, gone.name)
		}
	}
	for _, kept := range []struct {
		obj      client.Object
		ns, name string
	}{
		{&corev1.Namespace{}, "", "egress-other"}, {&corev1.Namespace{}, "", "users"},
		{&corev1.ConfigMap{}, "users", "keep"}, {&corev1.ConfigMap{}, "users", "other-run"},
		{&rbacv1.ClusterRole{}, "", "user-role"},
	} {
		if !exists(t, c, kept.obj, kept.ns, kept.name) {
			t.Errorf("%T %s/%s was deleted but is not the run's", kept.obj, kept.ns, kept.name)
		}
	}
	want := "ConfigMap users/placed-by-run, Namespace egress-a, Namespace egress-b, ClusterRole run-role"
	if got := strings.Join(res.Deleted, ", "); got != want {
		t.Errorf("Deleted = %s\nwant      %s", got, want)
	}
	if len(res.Left) != 0 {
		t.Errorf("Left = %v", res.Left)
	}
}

func TestCleanupIsBoundedAndReportsWhatIsLeft(t *testing.T) {
	ns := namespace("egress-stuck", map[string]string{RunLabel: "run-1"})
	ns.Finalizers = []string{"example.com/never"}
	c := newCluster(t, ns)
	c.Timeouts.Cleanup = 300 * time.Millisecond
	start := time.Now()
	res, err := Cleanup(context.Background(), c, "run-1")
	if err == nil || len(res.Left) != 1 || !strings.Contains(res.Left[0], "Namespace egress-stuck (finalizers example.com/never)") {
		t.Errorf("err = %v, Left = %v; want the stuck namespace and its finalizer", err, res.Left)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("clean-up took %s, bound was 300ms", d)
	}
}

func TestWithCleanupOnInterrupt(t *testing.T) {
	c := newCluster(t, namespace("egress-a", map[string]string{RunLabel: "run-1"}))
	res, err := WithCleanup(context.Background(), c, "run-1", func(ctx context.Context) error {
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
			return errors.New("the interrupt did not cancel the body's context")
		}
	})
	if !errors.Is(err, ErrInterrupted) {
		t.Errorf("err = %v, want ErrInterrupted", err)
	}
	if len(res.Deleted) != 1 || exists(t, c, &corev1.Namespace{}, "", "egress-a") {
		t.Errorf("clean-up after the interrupt: Deleted = %v", res.Deleted)
	}
}

func TestNeedsGatewayAPI(t *testing.T) {
	istio := &scenario.Scenario{Steps: []scenario.Step{{Bundle: scenario.Bundle{{APIVersion: "networking.istio.io/v1"}}}}}
	gw := &scenario.Scenario{Steps: []scenario.Step{{}, {Bundle: scenario.Bundle{{APIVersion: "gateway.networking.k8s.io/v1"}}}}}
	if NeedsGatewayAPI([]*scenario.Scenario{istio}) {
		t.Error("Istio-only scenarios need the Gateway API")
	}
	if !NeedsGatewayAPI([]*scenario.Scenario{istio, gw}) {
		t.Error("a Gateway API scenario does not need the Gateway API")
	}
}

// TestStepDeletesExactlyWhatItApplied: a step's delete list removes this run's
// objects of that file (in the scenario's namespace, or the one the apply entry
// named), and leaves alone an object of the same name that is not the run's.
func TestStepDeletesExactlyWhatItApplied(t *testing.T) {
	mine := map[string]string{RunLabel: "run-1"}
	cm := func(ns, name string, l map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l}}
	}
	c := newCluster(t, cm("egress-x", "routing", mine), cm("team", "routing", mine), cm("users", "routing", nil), cm("egress-x", "kept", mine))
	obj := func(file, ns, name string) scenario.Object {
		return scenario.Object{File: file, Line: 1, APIVersion: "v1", Kind: "ConfigMap", Namespace: ns, Name: name}
	}
	kept := obj("kept.yaml", "", "kept")
	s := &scenario.Scenario{Name: "x", Steps: []scenario.Step{
		{Name: "one", Bundle: scenario.Bundle{obj("a.yaml", "", "routing"), obj("a.yaml", "team", "routing"), obj("a.yaml", "users", "routing"), kept}},
		{Name: "two", Delete: []string{"a.yaml"}, Bundle: scenario.Bundle{kept}},
	}}
	if got := DeletedObjects(s, 1); len(got) != 3 {
		t.Fatalf("step two deletes %d objects, want 3", len(got))
	}
	if err := DeleteObjects(context.Background(), c, s, DeletedObjects(s, 1), "run-1"); err != nil {
		t.Fatal(err)
	}
	for _, gone := range [][2]string{{"egress-x", "routing"}, {"team", "routing"}} {
		if exists(t, c, &corev1.ConfigMap{}, gone[0], gone[1]) {
			t.Errorf("ConfigMap %s/%s survived the step's delete", gone[0], gone[1])
		}
	}
	for _, left := range [][2]string{{"users", "routing"}, {"egress-x", "kept"}} {
		if !exists(t, c, &corev1.ConfigMap{}, left[0], left[1]) {
			t.Errorf("ConfigMap %s/%s was deleted: not the run's, or not in the delete list", left[0], left[1])
		}
	}
}
