package mesh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient/wait"
)

// Target is a Deployment that must be Available with every pod Ready.
type Target struct {
	Namespace, Name string
}

func (t Target) String() string { return t.Namespace + "/" + t.Name }

// Targets are the Deployments the overlay installs for o: istiod (istiod-<revision>
// with a revision) and the egress gateway, both in istio-system.
func Targets(o InstallOptions) []Target {
	istiod := "istiod"
	if o.Revision != "" {
		istiod += "-" + o.Revision
	}
	return []Target{
		{Namespace: IstioNamespace, Name: istiod},
		{Namespace: IstioNamespace, Name: EgressGatewayName},
	}
}

// WaitReady polls until istiod and the egress gateway are ready (see
// WaitDeployments), within Timeouts.Ready.
func (m *Mesh) WaitReady(ctx context.Context, client kubernetes.Interface) error {
	return WaitDeployments(ctx, client, Targets(m.Options), m.Timeouts, m.Out)
}

// WaitDeployments polls every Timeouts.Poll, within Timeouts.Ready, until each
// target Deployment has observed its latest spec, reports Available, has all its
// replicas updated and available, and every one of its pods (not being deleted) is
// Ready. Changes of state are reported to out. On timeout the error says what
// each unready target was last seen waiting for.
func WaitDeployments(ctx context.Context, client kubernetes.Interface, targets []Target, timeouts Timeouts, out io.Writer) error {
	out = orDiscard(out)
	t := timeouts.withDefaults()
	last := make(map[Target]string, len(targets))
	err := wait.For(func(ctx context.Context) (bool, error) {
		all := true
		for _, tg := range targets {
			ready, why := targetReady(ctx, client, tg)
			if why != last[tg] {
				if ready {
					fmt.Fprintf(out, "istio: %s ready\n", tg)
				} else {
					fmt.Fprintf(out, "istio: waiting for %s: %s\n", tg, why)
				}
				last[tg] = why
			}
			all = all && ready
		}
		return all, nil
	}, wait.WithContext(ctx), wait.WithTimeout(t.Ready), wait.WithInterval(t.Poll), wait.WithImmediate())
	if err == nil {
		return nil
	}
	var waiting []string
	for _, tg := range targets {
		if why := last[tg]; why != "" {
			waiting = append(waiting, fmt.Sprintf("%s: %s", tg, why))
		}
	}
	if len(waiting) == 0 {
		return fmt.Errorf("istio not ready: %w", err)
	}
	return fmt.Errorf("istio not ready within %s: %w: %s", t.Ready, err, strings.Join(waiting, "; "))
}

// targetReady reads one target; why is empty when it is ready.
func targetReady(ctx context.Context, client kubernetes.Interface, tg Target) (bool, string) {
	d, err := client.AppsV1().Deployments(tg.Namespace).Get(ctx, tg.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, "deployment not found"
	}
	if err != nil {
		return false, "get deployment: " + err.Error()
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return false, "deployment selector: " + err.Error()
	}
	pods, err := client.CoreV1().Pods(tg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return false, "list pods: " + err.Error()
	}
	why := DeploymentReady(d, pods.Items)
	return why == "", why
}

// DeploymentReady returns "" when d is rolled out and available and every pod in
// pods (d's pods) that is not being deleted is Ready; otherwise what it waits for.
func DeploymentReady(d *appsv1.Deployment, pods []corev1.Pod) string {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	switch {
	case s.ObservedGeneration < d.Generation:
		return fmt.Sprintf("deployment generation %d not yet observed (at %d)", d.Generation, s.ObservedGeneration)
	case s.UpdatedReplicas < want:
		return fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want)
	case s.AvailableReplicas < want:
		return fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, want)
	case !deploymentAvailable(d):
		return "deployment condition Available is not True"
	}
	var live, notReady []string
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		live = append(live, p.Name)
		if why := podNotReady(&p); why != "" {
			notReady = append(notReady, p.Name+" "+why)
		}
	}
	if int32(len(live)) < want {
		return fmt.Sprintf("%d of %d pods exist", len(live), want)
	}
	if len(notReady) > 0 {
		sort.Strings(notReady)
		return "pods not Ready: " + strings.Join(notReady, ", ")
	}
	return ""
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podNotReady is "" for a Running pod whose Ready condition is True.
func podNotReady(p *corev1.Pod) string {
	if p.Status.Phase != corev1.PodRunning {
		return fmt.Sprintf("is %s", orUnknown(string(p.Status.Phase)))
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			if c.Status == corev1.ConditionTrue {
				return ""
			}
			if c.Reason != "" {
				return "is not Ready (" + c.Reason + ")"
			}
			break
		}
	}
	return "is not Ready"
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

// findControlPlanes lists the istiod Deployments (label app=istiod) in any
// namespace, as namespace/name.
func findControlPlanes(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	list, err := client.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return nil, fmt.Errorf("list istiod deployments: %w", err)
	}
	var found []string
	for _, d := range list.Items {
		found = append(found, d.Namespace+"/"+d.Name)
	}
	sort.Strings(found)
	return found, nil
}

// Guard refuses to go on when the cluster already has any part of an Istio mesh
// that the harness does not own (Discover: an istiod, Istio's injection webhooks,
// or Istio's API groups — a remote or managed control plane has the last two but
// no istiod): the harness never installs over, upgrades or removes a mesh it did
// not install. Call it before Install on an existing cluster.
func (m *Mesh) Guard(ctx context.Context, client kubernetes.Interface) error {
	if m.Owned {
		return nil
	}
	found, err := Discover(ctx, client)
	if err != nil {
		return err
	}
	if found.Any() {
		return fmt.Errorf("%w (%s): refusing to install over it or remove it", ErrForeignMesh, found)
	}
	return nil
}

// ErrForeignMesh is wrapped by Guard's refusal: the cluster has Istio the harness
// did not install.
var ErrForeignMesh = errors.New("the cluster already has Istio, which the harness did not install")
