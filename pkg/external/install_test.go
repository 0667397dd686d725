package external

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
)

// These tests run Install and Uninstall against client-go's fake clientset: they
// check what the harness asks of the API server, not what a cluster would do with
// it. The fake runs no pods: reactors play the Deployment controller (the stand-in
// becomes available on create/update) and the DNS check pod (its phase).

const kindName = "egress-conformance"

var testTimeouts = Timeouts{API: 5 * time.Second, Ready: 2 * time.Second, DNS: 2 * time.Second, Delete: 2 * time.Second, Poll: 10 * time.Millisecond}

func coreDNS(corefile string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: CoreDNSConfigMap, Namespace: CoreDNSNamespace},
		Data:       map[string]string{CorefileKey: corefile},
	}
}

func kindCorefile(t *testing.T) string {
	return readFile(t, filepath.Join(corefileDir, "kubeadm.Corefile"))
}

// fakeCluster is a fake API server holding CoreDNS's ConfigMap and, when owner is
// set, the harness's ownership marker for kind cluster owner. checkPhase is what the
// DNS check pod ends in.
func fakeCluster(t *testing.T, corefile, owner string, checkPhase corev1.PodPhase) *fake.Clientset {
	t.Helper()
	objs := []runtime.Object{coreDNS(corefile)}
	if owner != "" {
		objs = append(objs, cluster.MarkerConfigMap(cluster.Marker{Cluster: owner, NodeImage: "kindest/node:test", CreatedAt: time.Now()}))
	}
	cs := fake.NewClientset(objs...)
	available := func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.CreateAction).GetObject().(*appsv1.Deployment)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
		return false, nil, nil
	}
	cs.PrependReactor("create", "deployments", available)
	cs.PrependReactor("update", "deployments", available)
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		p.Status.Phase = checkPhase
		if checkPhase == corev1.PodPending {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "check", State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "no such image"},
			}}}
		}
		return false, nil, nil
	})
	return cs
}

func corefileOf(t *testing.T, cs *fake.Clientset) string {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(CoreDNSNamespace).Get(context.Background(), CoreDNSConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data[CorefileKey]
}

func newTLSStandin(t *testing.T) *Standin {
	t.Helper()
	st, err := New(Config{RunID: "run-1"}, mustCA(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestInstallUninstall(t *testing.T) {
	ctx := context.Background()
	orig := kindCorefile(t)
	cs := fakeCluster(t, orig, kindName, corev1.PodSucceeded)
	st := newTLSStandin(t)
	opts := InstallOptions{KindCluster: kindName, Timeouts: testTimeouts}

	if err := st.Install(ctx, cs, opts); err != nil {
		t.Fatalf("Install: %v", err)
	}
	for _, o := range st.Objects() {
		var err error
		switch o.(type) {
		case *corev1.Namespace:
			_, err = cs.CoreV1().Namespaces().Get(ctx, o.GetName(), metav1.GetOptions{})
		case *corev1.ConfigMap:
			_, err = cs.CoreV1().ConfigMaps(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
		case *corev1.Secret:
			_, err = cs.CoreV1().Secrets(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
		case *corev1.Service:
			_, err = cs.CoreV1().Services(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
		case *appsv1.Deployment:
			_, err = cs.AppsV1().Deployments(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
		}
		if err != nil {
			t.Errorf("%s not created: %v", describe(o), err)
		}
	}
	patched := corefileOf(t, cs)
	want, _ := PatchCorefile(orig, st.Config.Hosts, st.Config.Target())
	if patched != want {
		t.Errorf("Corefile after Install:\n%s\nwant\n%s", patched, want)
	}
	// The check pod ran and is gone.
	if _, err := cs.CoreV1().Pods(st.Config.Namespace).Get(ctx, CheckPodName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("check pod left behind: %v", err)
	}
	var created bool
	for _, a := range cs.Actions() {
		if a.Matches("create", "pods") {
			p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
			created = p.Name == CheckPodName && p.Labels["sidecar.istio.io/inject"] == "false" && len(p.Spec.Volumes) == 1
		}
	}
	if !created {
		t.Error("no DNS check pod (with the CA mounted) was created")
	}

	// Installing again is harmless: updates, same Corefile, ClusterIP kept.
	svc, _ := cs.CoreV1().Services(st.Config.Namespace).Get(ctx, Name, metav1.GetOptions{})
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.0.42", []string{"10.96.0.42"}
	if _, err := cs.CoreV1().Services(st.Config.Namespace).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := st.Install(ctx, cs, opts); err != nil {
		t.Fatalf("second Install: %v", err)
	}
	if got := corefileOf(t, cs); got != patched {
		t.Errorf("second Install changed the Corefile:\n%s", got)
	}
	svc, _ = cs.CoreV1().Services(st.Config.Namespace).Get(ctx, Name, metav1.GetOptions{})
	if svc.Spec.ClusterIP != "10.96.0.42" {
		t.Errorf("ClusterIP %q after update", svc.Spec.ClusterIP)
	}

	if err := st.Uninstall(ctx, cs, opts); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	if got := corefileOf(t, cs); got != orig {
		t.Errorf("Corefile not restored byte for byte:\n%q\nwant\n%q", got, orig)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, st.Config.Namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace still there: %v", err)
	}
	// Uninstalling twice is harmless.
	if err := st.Uninstall(ctx, cs, opts); err != nil {
		t.Errorf("second Uninstall: %v", err)
	}
}

func writes(cs *fake.Clientset) []string {
	var w []string
	for _, a := range cs.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			w = append(w, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return w
}

func TestInstallRefusesClustersItDidNotCreate(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		owner string // marker in the cluster
		opts  InstallOptions
	}{
		"existing cluster (KUBE_CONTEXT)": {"", InstallOptions{}},
		"kind cluster without marker":     {"", InstallOptions{KindCluster: kindName}},
		"marker of another cluster":       {"someone-else", InstallOptions{KindCluster: kindName}},
	} {
		cs := fakeCluster(t, kindCorefile(t), tc.owner, corev1.PodSucceeded)
		tc.opts.Timeouts = testTimeouts
		err := newTLSStandin(t).Install(ctx, cs, tc.opts)
		if !errors.Is(err, ErrExistingCluster) {
			t.Errorf("%s: err = %v, want ErrExistingCluster", name, err)
		}
		if w := writes(cs); len(w) > 0 {
			t.Errorf("%s: the refused Install wrote %v", name, w)
		}
		if got := corefileOf(t, cs); got != kindCorefile(t) {
			t.Errorf("%s: Corefile touched", name)
		}
	}
	// The refusal says how to allow it.
	err := CheckOwnership(ctx, fakeCluster(t, kindCorefile(t), "", corev1.PodSucceeded), InstallOptions{})
	if err == nil || !strings.Contains(err.Error(), EnvAllowExistingCluster+"=1") {
		t.Errorf("refusal %v does not name %s", err, EnvAllowExistingCluster)
	}
}

func TestInstallAllowedOnExistingCluster(t *testing.T) {
	ctx := context.Background()
	orig := kindCorefile(t)
	cs := fakeCluster(t, orig, "", corev1.PodSucceeded)
	st := newTLSStandin(t)
	opts := InstallOptions{AllowExistingCluster: true, Timeouts: testTimeouts}
	if err := st.Install(ctx, cs, opts); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if !CorefilePatched(corefileOf(t, cs)) {
		t.Error("Corefile not patched")
	}
	if err := st.Uninstall(ctx, cs, opts); err != nil || corefileOf(t, cs) != orig {
		t.Errorf("Uninstall: %v; Corefile restored: %v", err, corefileOf(t, cs) == orig)
	}
}

func TestInstallRefusesForeignNamespace(t *testing.T) {
	ctx := context.Background()
	cs := fakeCluster(t, kindCorefile(t), kindName, corev1.PodSucceeded)
	foreign := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DefaultNamespace, Labels: map[string]string{"team": "x"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	st := newTLSStandin(t)
	opts := InstallOptions{KindCluster: kindName, Timeouts: testTimeouts}
	err := st.Install(ctx, cs, opts)
	if !errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), "Namespace "+DefaultNamespace) {
		t.Errorf("Install err = %v", err)
	}
	if err := st.Uninstall(ctx, cs, opts); !errors.Is(err, ErrNotOurs) {
		t.Errorf("Uninstall err = %v, want a refusal to delete the namespace", err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, DefaultNamespace, metav1.GetOptions{}); err != nil {
		t.Errorf("foreign namespace deleted: %v", err)
	}
}

func TestInstallDNSCheckFails(t *testing.T) {
	ctx := context.Background()
	st := newTLSStandin(t)
	opts := InstallOptions{KindCluster: kindName, Timeouts: testTimeouts}

	cs := fakeCluster(t, kindCorefile(t), kindName, corev1.PodFailed)
	err := st.Install(ctx, cs, opts)
	if err == nil || !strings.Contains(err.Error(), "do not resolve to the stand-in") || !strings.Contains(err.Error(), "fake logs") {
		t.Errorf("failed check: err = %v, want the check pod's log in it", err)
	}

	short := opts
	short.Timeouts.DNS = 100 * time.Millisecond
	cs = fakeCluster(t, kindCorefile(t), kindName, corev1.PodPending)
	err = st.Install(ctx, cs, short)
	if err == nil || !strings.Contains(err.Error(), "within 100ms") || !strings.Contains(err.Error(), "ErrImagePull") {
		t.Errorf("stuck check: err = %v", err)
	}
	// Uninstall after a failed Install still restores CoreDNS.
	if err := st.Uninstall(ctx, cs, opts); err != nil || CorefilePatched(corefileOf(t, cs)) {
		t.Errorf("Uninstall after failure: %v", err)
	}
}

func TestInstallDeploymentNeverReady(t *testing.T) {
	cs := fake.NewClientset(coreDNS(kindCorefile(t)))
	st := newTLSStandin(t)
	o := InstallOptions{AllowExistingCluster: true, Timeouts: testTimeouts}
	o.Timeouts.Ready = 50 * time.Millisecond
	err := st.Install(context.Background(), cs, o)
	if err == nil || !strings.Contains(err.Error(), "not ready within 50ms") || !strings.Contains(err.Error(), "replicas") {
		t.Errorf("err = %v", err)
	}
	if CorefilePatched(corefileOf(t, cs)) {
		t.Error("CoreDNS patched although the stand-in never became ready")
	}
}

func TestInstallCorefileRefused(t *testing.T) {
	cs := fakeCluster(t, strings.Replace(kindCorefile(t), "    reload\n", "", 1), kindName, corev1.PodSucceeded)
	err := newTLSStandin(t).Install(context.Background(), cs, InstallOptions{KindCluster: kindName, Timeouts: testTimeouts})
	if !errors.Is(err, ErrCorefile) {
		t.Errorf("err = %v, want ErrCorefile", err)
	}
}

func TestCoreDNSEditRetriesConflicts(t *testing.T) {
	orig := kindCorefile(t)
	cs := fakeCluster(t, orig, kindName, corev1.PodSucceeded)
	conflicts := 2
	cs.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, CoreDNSConfigMap, errors.New("changed meanwhile"))
		}
		return false, nil, nil
	})
	st := newTLSStandin(t)
	changed, err := st.PatchCoreDNS(context.Background(), cs, testTimeouts)
	if err != nil || !changed || !CorefilePatched(corefileOf(t, cs)) {
		t.Errorf("PatchCoreDNS: changed %v err %v", changed, err)
	}
	changed, err = st.PatchCoreDNS(context.Background(), cs, testTimeouts)
	if err != nil || changed {
		t.Errorf("second PatchCoreDNS: changed %v err %v", changed, err)
	}
	changed, err = UnpatchCoreDNS(context.Background(), cs, testTimeouts)
	if err != nil || !changed || corefileOf(t, cs) != orig {
		t.Errorf("UnpatchCoreDNS: changed %v err %v", changed, err)
	}
}

func TestUnpatchCoreDNSWithoutCoreDNS(t *testing.T) {
	changed, err := UnpatchCoreDNS(context.Background(), fake.NewClientset(), testTimeouts)
	if err != nil || changed {
		t.Errorf("changed %v err %v", changed, err)
	}
	_, err = newTLSStandin(t).PatchCoreDNS(context.Background(), fake.NewClientset(), testTimeouts)
	if !apierrors.IsNotFound(errors.Unwrap(err)) {
		t.Errorf("PatchCoreDNS without CoreDNS: %v", err)
	}
}

func TestDeploymentReady(t *testing.T) {
	one := int32(1)
	for name, tc := range map[string]struct {
		d    appsv1.Deployment
		want bool
	}{
		"new generation": {appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: &one},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}}, false},
		"rolling": {appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &one},
			Status: appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 1}}, false},
		"unavailable": {appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &one},
			Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1}}, false},
		"ready": {appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &one},
			Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}}, true},
	} {
		if got, why := deploymentReady(&tc.d); got != tc.want {
			t.Errorf("%s: ready %v (%s)", name, got, why)
		}
	}
}

func TestCheckPod(t *testing.T) {
	st := newTLSStandin(t)
	p := st.CheckPod("", time.Minute)
	c := p.Spec.Containers[0]
	if c.Image == "" || p.Spec.RestartPolicy != corev1.RestartPolicyNever || *p.Spec.ActiveDeadlineSeconds < 60 {
		t.Errorf("pod %+v", p.Spec)
	}
	script := c.Command[2]
	for _, want := range []string{
		"for h in httpbin.org; do",
		`"http://$h/ip"`, `"https://$h/ip"`, "--cacert /etc/egress-standin/ca/ca.crt",
		"grep -qi '^X-Egress-Conformance-Standin: egress-conformance-external'",
		`[ "$attempt" -gt 30 ]`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("check script lacks %q:\n%s", want, script)
		}
	}
	plain, _ := New(Config{}, nil)
	if s := plain.CheckPod("img", time.Minute).Spec.Containers[0].Command[2]; strings.Contains(s, "https") {
		t.Error("HTTP-only check tries HTTPS")
	}
}
