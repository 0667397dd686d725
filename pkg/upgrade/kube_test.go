package upgrade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
)

// Kubernetes fakes for the plumbing only: the fake clientset stores objects, and
// the test plays the Deployment controller (between two polls) and pilot-agent
// (replaying its recorded output). Nothing here pretends Istio ran: which proxy a
// pod runs is whatever the test put in its spec.

const (
	runID   = "20261125-120000-upgrade"
	clientN = "egress-egress-gateway-http"
	toV     = "1.27.0" // the version pilot-agent's recorded output reports
	fromV   = "1.26.3"
)

// fromAgentOutput is pilot-agent's --short form for FROM: CONSTRUCTED in
// pkg/version/cobra.go's format ("client version: %s"); no recorded FROM output
// of the same build exists.
const fromAgentOutput = "client version: " + fromV + "\n"

type clock struct {
	mu      sync.Mutex
	now     time.Time
	onSleep func()
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	hook := c.onSleep
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return nil
}

// agents plays pilot-agent: it answers `pilot-agent version` by the image the pod
// runs, and counts the calls per pod.
type agents struct {
	cs    *fake.Clientset
	mu    sync.Mutex
	calls map[string]int
	fail  map[string]error
}

func (a *agents) Exec(ctx context.Context, namespace, pod, container string, command []string, stdout, stderr io.Writer) (int, error) {
	a.mu.Lock()
	a.calls[pod]++
	err := a.fail[pod]
	a.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if container != ProxyContainer || strings.Join(command, " ") != "/usr/local/bin/pilot-agent version" {
		return 1, fmt.Errorf("unexpected exec %s %v", container, command)
	}
	p, err := a.cs.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	img, _ := ProxyImage(p)
	switch v, _ := ImageTagVersion(img); v {
	case toV:
		_, _ = io.WriteString(stdout, agentVersion1270+"\n")
	case fromV:
		_, _ = io.WriteString(stdout, fromAgentOutput)
	default:
		_, _ = io.WriteString(stderr, "unknown build")
		return 1, nil
	}
	return 0, nil
}

func ptr[T any](v T) *T { return &v }

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// deployment is a rolled-out one-replica Deployment whose template runs image.
func deployment(ns, name string, selector, labels map[string]string, image, rev string) *appsv1.Deployment {
	tl := map[string]string{}
	for k, v := range selector {
		tl[k] = v
	}
	if rev != "" {
		tl[RevisionLabel] = rev
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: tl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: ProxyContainer, Image: image}}},
			},
		},
	}
	rolledOut(d)
	return d
}

func rolledOut(d *appsv1.Deployment) {
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}},
	}
}

// podOf makes a Ready pod of d's current template.
func podOf(d *appsv1.Deployment, name string, created time.Time, annotations map[string]string) *corev1.Pod {
	img := d.Spec.Template.Spec.Containers[0].Image
	containers := []corev1.Container{{Name: ProxyContainer, Image: img}}
	if d.Namespace != mesh.IstioNamespace {
		containers = append([]corev1.Container{{Name: "sleep", Image: "docker.io/curlimages/curl:8.16.0"}}, containers...)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: name, UID: types.UID(name), Labels: d.Spec.Template.Labels,
			Annotations: annotations, CreationTimestamp: metav1.NewTime(created)},
		Spec: corev1.PodSpec{Containers: containers},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0." + fmt.Sprint(len(name)),
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: ProxyContainer, Image: img}}},
	}
}

var (
	gatewaySelector = map[string]string{"app": "istio-egressgateway", "istio": "egressgateway"}
	sleepSelector   = map[string]string{"app": "sleep"}
)

func statusFor(rev string) map[string]string {
	return map[string]string{InjectionStatusAnnotation: strings.Replace(injectionStatusDefault, `"revision":"default"`, `"revision":"`+rev+`"`, 1)}
}

// world is a fake cluster after FROM's install: the gateway and one client on
// FROM's proxy.
type world struct {
	t      *testing.T
	cs     *fake.Clientset
	clock  *clock
	agents *agents
	kube   Kube
}

func newWorld(t *testing.T) *world {
	gw := deployment(mesh.IstioNamespace, mesh.EgressGatewayName, gatewaySelector, nil, "docker.io/istio/proxyv2:"+fromV, "default")
	cl := deployment(clientN, "sleep", sleepSelector, map[string]string{deploy.RunLabel: runID}, "docker.io/istio/proxyv2:"+fromV, "")
	c := newClock()
	objs := []runtime.Object{
		namespace(clientN, map[string]string{deploy.RunLabel: runID, InjectionLabel: "enabled"}),
		namespace("someone-else", map[string]string{InjectionLabel: "enabled"}),
		gw, cl,
		podOf(gw, "istio-egressgateway-old", c.now.Add(-time.Hour), nil),
		podOf(cl, "sleep-old", c.now.Add(-time.Hour), statusFor("default")),
	}
	cs := fake.NewClientset(objs...)
	// As the API server does, a change of a Deployment's spec bumps its
	// generation, which its status has not observed until the controller has.
	react := clienttesting.ObjectReaction(cs.Tracker())
	cs.PrependReactor("patch", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
		handled, obj, err := react(a)
		if err != nil || !handled {
			return handled, obj, err
		}
		d := obj.(*appsv1.Deployment).DeepCopy()
		d.Generation++
		return true, d, cs.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), d, d.Namespace)
	})
	a := &agents{cs: cs, calls: map[string]int{}, fail: map[string]error{}}
	w := &world{t: t, cs: cs, clock: c, agents: a}
	w.kube = Kube{Client: cs, Exec: a, RunID: runID, Now: c.Now, Sleep: c.Sleep,
		Timeouts: Timeouts{Rollout: time.Minute, Gone: time.Minute, Poll: time.Second}}
	return w
}

func (w *world) deployment(ns, name string) *appsv1.Deployment {
	d, err := w.cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// roll plays the Deployment controller once: the old pods go (terminating),
// a pod of the current template replaces them, with the injection status rev
// (clients) and the status rolled out.
func (w *world) roll(ns, name, newPod, rev string) {
	ctx := context.Background()
	d := w.deployment(ns, name)
	pods, _ := w.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	for i := range pods.Items {
		p := pods.Items[i]
		_ = w.cs.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{})
	}
	var ann map[string]string
	if ns != mesh.IstioNamespace {
		ann = statusFor(rev)
	}
	if _, err := w.cs.CoreV1().Pods(ns).Create(ctx, podOf(d, newPod, w.clock.Now(), ann), metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
	d.Generation++
	rolledOut(d)
	if _, err := w.cs.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func TestRelabel(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.kube.Relabel(ctx, clientN, "1-27-0"); err != nil {
		t.Fatal(err)
	}
	ns, _ := w.cs.CoreV1().Namespaces().Get(ctx, clientN, metav1.GetOptions{})
	if _, has := ns.Labels[InjectionLabel]; has || ns.Labels[RevisionLabel] != "1-27-0" || ns.Labels[deploy.RunLabel] != runID {
		t.Errorf("labels %v", ns.Labels)
	}
	// Again: nothing to change, no error.
	if err := w.kube.Relabel(ctx, clientN, "1-27-0"); err != nil {
		t.Fatal(err)
	}
	err := w.kube.Relabel(ctx, "someone-else", "1-27-0")
	if !errors.Is(err, deploy.ErrNotOurs) {
		t.Errorf("a namespace of someone else: %v", err)
	}
	ns, _ = w.cs.CoreV1().Namespaces().Get(ctx, "someone-else", metav1.GetOptions{})
	if ns.Labels[InjectionLabel] != "enabled" || ns.Labels[RevisionLabel] != "" {
		t.Errorf("someone else's namespace changed: %v", ns.Labels)
	}
}

func TestRestart(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	client := ProxyTarget{Role: RoleClient, Namespace: clientN, Deployment: "sleep"}
	if err := w.kube.Restart(ctx, client); err != nil {
		t.Fatal(err)
	}
	d := w.deployment(clientN, "sleep")
	if got := d.Spec.Template.Annotations[RestartedAtAnnotation]; got != "2026-11-25T12:00:00Z" {
		t.Errorf("restartedAt %q", got)
	}
	if err := w.kube.Restart(ctx, GatewayTarget); err != nil {
		t.Errorf("the gateway of the mesh the harness installed: %v", err)
	}
	// A client Deployment without this run's label is never restarted.
	other := deployment(clientN, "other", sleepSelector, map[string]string{deploy.RunLabel: "another-run"}, "x", "")
	if _, err := w.cs.AppsV1().Deployments(clientN).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := w.kube.Restart(ctx, ProxyTarget{Role: RoleClient, Namespace: clientN, Deployment: "other"})
	if !errors.Is(err, deploy.ErrNotOurs) {
		t.Errorf("another run's Deployment: %v", err)
	}
	if d := w.deployment(clientN, "other"); d.Spec.Template.Annotations[RestartedAtAnnotation] != "" {
		t.Error("another run's Deployment was restarted")
	}
}

func TestTemplateRunsProxy(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	want := ProxyExpectation{Version: toV, Revision: "1-27-0"}
	ok, why, err := w.kube.TemplateRunsProxy(ctx, GatewayTarget, want)
	if err != nil || ok || !strings.Contains(why, "proxyv2:"+fromV) {
		t.Fatalf("before the install: %v %q %v", ok, why, err)
	}
	// What `istioctl install --revision 1-27-0` renders: TO's image, the new revision.
	d := w.deployment(mesh.IstioNamespace, mesh.EgressGatewayName)
	d.Spec.Template.Spec.Containers[0].Image = "docker.io/istio/proxyv2:" + toV
	d.Spec.Template.Labels[RevisionLabel] = "1-27-0"
	if _, err := w.cs.AppsV1().Deployments(mesh.IstioNamespace).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if ok, why, err := w.kube.TemplateRunsProxy(ctx, GatewayTarget, want); err != nil || !ok {
		t.Errorf("after the install: %v %q %v", ok, why, err)
	}
	// The right image, the old revision: not there yet.
	if ok, _, _ := w.kube.TemplateRunsProxy(ctx, GatewayTarget, ProxyExpectation{Version: toV, Revision: "default"}); ok {
		t.Error("revision mismatch must not count")
	}
}

func TestWaitProxiesFollowsARollout(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	want := ProxyExpectation{Version: toV, Revision: "default"}
	client := ProxyTarget{Role: RoleClient, Namespace: clientN, Deployment: "sleep"}

	// The client was restarted but the injector still gives FROM (say the
	// in-place install did not happen): the wait ends with what it saw.
	checks, err := w.kube.WaitProxies(ctx, client, PhaseTo, want)
	if err == nil || !strings.Contains(err.Error(), "pilot-agent reports "+fromV+", not "+toV) {
		t.Fatalf("want a timeout naming FROM's proxy, got %v", err)
	}
	if len(checks) != 1 || checks[0].OK || checks[0].AgentVersion != fromV {
		t.Errorf("checks %+v", checks)
	}
	if n := w.agents.calls["sleep-old"]; n != 1 {
		t.Errorf("pilot-agent asked %d times; once per pod is enough", n)
	}

	// A restart onto TO: the controller (played at the second poll) replaces
	// the pod; the wait sees the new one through.
	w = newWorld(t)
	d := w.deployment(clientN, "sleep")
	d.Spec.Template.Spec.Containers[0].Image = "docker.io/istio/proxyv2:" + toV
	d.Generation = 2 // not yet observed: status still says generation 1
	if _, err := w.cs.AppsV1().Deployments(clientN).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	polls := 0
	w.clock.onSleep = func() {
		if polls++; polls == 2 {
			w.roll(clientN, "sleep", "sleep-new", "default")
		}
	}
	checks, err = w.kube.WaitProxies(ctx, client, PhaseTo, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 1 || !checks[0].OK || checks[0].Pod != "sleep-new" || checks[0].AgentVersion != toV ||
		checks[0].Image != "docker.io/istio/proxyv2:"+toV || checks[0].Revision != "default" {
		t.Errorf("checks %+v", checks)
	}
	if w.agents.calls["sleep-old"] != 0 {
		t.Error("pilot-agent was asked before the rollout was done")
	}
}

func TestWaitProxiesRetriesAFailedExec(t *testing.T) {
	w := newWorld(t)
	w.agents.fail["sleep-old"] = errKubeletDown
	w.clock.onSleep = func() { delete(w.agents.fail, "sleep-old") }
	checks, err := w.kube.WaitProxies(context.Background(), ProxyTarget{Role: RoleClient, Namespace: clientN, Deployment: "sleep"},
		PhaseFrom, ProxyExpectation{Version: fromV, Revision: "default"})
	if err != nil || len(checks) != 1 || !checks[0].OK {
		t.Fatalf("%v %+v", err, checks)
	}
	if n := w.agents.calls["sleep-old"]; n != 2 {
		t.Errorf("pilot-agent asked %d times, want 2 (a failed exec is asked again)", n)
	}
}

func TestResolveClient(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	got, err := w.kube.ResolveClient(ctx, clientN, "sleep")
	if err != nil || got.Name != "sleep-old" || got.Container != "sleep" || got.IP == "" || got.Deployment != "sleep" {
		t.Fatalf("%+v %v", got, err)
	}
	// Mid-rollout: the new pod is Ready beside the old one; probes go from the new.
	d := w.deployment(clientN, "sleep")
	newer := podOf(d, "sleep-newer", w.clock.now.Add(time.Minute), statusFor("default"))
	if _, err := w.cs.CoreV1().Pods(clientN).Create(ctx, newer, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.kube.ResolveClient(ctx, clientN, "sleep"); got.Name != "sleep-newer" {
		t.Errorf("got %s, want the newest Ready pod", got.Name)
	}
	// Neither pod Ready: an error that says so.
	for _, n := range []string{"sleep-old", "sleep-newer"} {
		p, _ := w.cs.CoreV1().Pods(clientN).Get(ctx, n, metav1.GetOptions{})
		p.Status.Conditions[0].Status = corev1.ConditionFalse
		_, _ = w.cs.CoreV1().Pods(clientN).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	}
	if _, err := w.kube.ResolveClient(ctx, clientN, "sleep"); err == nil || !strings.Contains(err.Error(), "no Ready pod (of 2)") {
		t.Errorf("no ready pod: %v", err)
	}
}

func TestWaitGone(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	istiod := deployment(mesh.IstioNamespace, "istiod", map[string]string{"app": "istiod"}, nil, "pilot", "default")
	if _, err := w.cs.AppsV1().Deployments(mesh.IstioNamespace).Create(ctx, istiod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.clock.onSleep = func() {
		_ = w.cs.AppsV1().Deployments(mesh.IstioNamespace).Delete(ctx, "istiod", metav1.DeleteOptions{})
	}
	if err := w.kube.WaitGone(ctx, mesh.IstioNamespace, "istiod"); err != nil {
		t.Fatal(err)
	}
	w.clock.onSleep = nil
	err := w.kube.WaitGone(ctx, mesh.IstioNamespace, mesh.EgressGatewayName)
	if err == nil || !strings.Contains(err.Error(), "not done after 1m0s: Deployment istio-system/istio-egressgateway still exists") {
		t.Errorf("bounded: %v", err)
	}
}
