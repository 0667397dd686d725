package upgrade

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
	"github.com/egress-conformance/egress-conformance/pkg/report"
)

// Roles of the pods whose proxies are checked.
const (
	RoleGateway = "gateway"
	RoleClient  = "client"
)

// FieldManager names the harness's own changes to Deployments and namespaces
// during an upgrade (distinct from pkg/deploy's apply manager, so that a later
// apply of a workload never takes the restart annotation back).
const FieldManager = "egress-conformance-upgrade"

// ProxyTarget is a Deployment whose pods must run a given proxy.
type ProxyTarget struct {
	Role       string
	Namespace  string
	Deployment string
}

func (t ProxyTarget) String() string { return t.Role + " " + t.Namespace + "/" + t.Deployment }

// GatewayTarget is the istioctl egress gateway.
var GatewayTarget = ProxyTarget{Role: RoleGateway, Namespace: mesh.IstioNamespace, Deployment: mesh.EgressGatewayName}

// Kube is the Kubernetes side of an upgrade: relabelling namespaces, restarting
// Deployments, and waiting until their pods run the expected proxy. It touches
// only what the run owns: namespaces and client Deployments labelled with its run
// id, and the mesh the harness installed.
type Kube struct {
	Client kubernetes.Interface
	// Exec runs pilot-agent in istio-proxy containers.
	Exec  probe.Executor
	RunID string
	// Timeouts: zero fields take DefaultTimeouts.
	Timeouts Timeouts
	// Now and Sleep are the clock (nil: real); tests pass a fake one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Logf receives progress lines; nil: quiet.
	Logf func(format string, args ...any)
}

func (k Kube) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func (k Kube) sleep(ctx context.Context, d time.Duration) error {
	if k.Sleep != nil {
		return k.Sleep(ctx, d)
	}
	return probe.SleepContext(ctx, d)
}

func (k Kube) logf(format string, args ...any) {
	if k.Logf != nil {
		k.Logf(format, args...)
	}
}

// poll calls check every Timeouts.Poll until it is done, fails, or timeout has
// passed on the Kube's clock. On timeout the error carries the last state.
func (k Kube) poll(ctx context.Context, timeout time.Duration, check func(ctx context.Context) (bool, string, error)) error {
	t := k.Timeouts.WithDefaults()
	deadline := k.now().Add(timeout)
	last := ""
	for {
		done, state, err := check(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if state != last && state != "" {
			k.logf("  waiting: %s", state)
			last = state
		}
		if !k.now().Before(deadline) {
			if last == "" {
				return fmt.Errorf("not done after %s", timeout)
			}
			return fmt.Errorf("not done after %s: %s", timeout, last)
		}
		if err := k.sleep(ctx, t.Poll); err != nil {
			return fmt.Errorf("%w (last seen: %s)", err, orNone(last))
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "nothing yet"
	}
	return s
}

// Relabel moves namespace to revision rev: it removes istio-injection (which
// takes precedence over istio.io/rev) and sets istio.io/rev=rev, the two edits
// of `kubectl label namespace <ns> istio-injection- istio.io/rev=<rev>`. The
// namespace must carry this run's label.
func (k Kube) Relabel(ctx context.Context, namespace, rev string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ns, err := k.Client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("namespace %s: %w", namespace, err)
		}
		if ns.Labels[deploy.RunLabel] != k.RunID {
			return fmt.Errorf("namespace %s: %s=%q, not this run's %q: %w", namespace, deploy.RunLabel,
				ns.Labels[deploy.RunLabel], k.RunID, deploy.ErrNotOurs)
		}
		if _, has := ns.Labels[InjectionLabel]; !has && ns.Labels[RevisionLabel] == rev {
			return nil
		}
		delete(ns.Labels, InjectionLabel)
		ns.Labels[RevisionLabel] = rev
		_, err = k.Client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
}

// Restart does what `kubectl rollout restart` does: it stamps the pod template
// with kubectl.kubernetes.io/restartedAt, which makes the Deployment controller
// roll every pod. A client Deployment must carry this run's label; the gateway
// belongs to the mesh the harness installed.
func (k Kube) Restart(ctx context.Context, t ProxyTarget) error {
	d, err := k.Client.AppsV1().Deployments(t.Namespace).Get(ctx, t.Deployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("restart %s: %w", t, err)
	}
	if t.Role == RoleClient && d.Labels[deploy.RunLabel] != k.RunID {
		return fmt.Errorf("restart %s: %s=%q, not this run's: %w", t, deploy.RunLabel, d.Labels[deploy.RunLabel], deploy.ErrNotOurs)
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{RestartedAtAnnotation: k.now().UTC().Format(time.RFC3339Nano)}}}}})
	if err != nil {
		return err
	}
	if _, err := k.Client.AppsV1().Deployments(t.Namespace).Patch(ctx, t.Deployment, types.StrategicMergePatchType, patch,
		metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("restart %s: %w", t, err)
	}
	return nil
}

// TemplateRunsProxy says whether a Deployment's pod template already names want:
// its istio-proxy image tag is want's version and its istio.io/rev label want's
// revision. An istioctl install of TO re-renders the gateway's template that way,
// which rolls it by itself; only a template that does not gets restarted.
func (k Kube) TemplateRunsProxy(ctx context.Context, t ProxyTarget, want ProxyExpectation) (bool, string, error) {
	d, err := k.Client.AppsV1().Deployments(t.Namespace).Get(ctx, t.Deployment, metav1.GetOptions{})
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", t, err)
	}
	pod := &corev1.Pod{ObjectMeta: d.Spec.Template.ObjectMeta, Spec: d.Spec.Template.Spec}
	img, _ := ProxyImage(pod)
	v, versioned := ImageTagVersion(img)
	rev := d.Spec.Template.Labels[RevisionLabel]
	why := fmt.Sprintf("pod template: istio-proxy image %s, %s=%s", orNone(img), RevisionLabel, orNone(rev))
	return versioned && v == want.Version && rev == want.Revision, why, nil
}

// WaitProxies waits, within Timeouts.Rollout, until t's Deployment has rolled
// out (pkg/mesh.DeploymentReady) and every live pod passes CheckProxy against
// want, asking each pod's pilot-agent for its version (once per pod that
// answered). It returns the checks of the last look, passing or not.
func (k Kube) WaitProxies(ctx context.Context, t ProxyTarget, phase string, want ProxyExpectation) ([]report.ProxyCheck, error) {
	tm := k.Timeouts.WithDefaults()
	agent := map[types.UID]string{}
	var checks []report.ProxyCheck
	err := k.poll(ctx, tm.Rollout, func(ctx context.Context) (bool, string, error) {
		d, err := k.Client.AppsV1().Deployments(t.Namespace).Get(ctx, t.Deployment, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return false, t.String() + ": Deployment not found", nil
			}
			return false, "", fmt.Errorf("%s: %w", t, err)
		}
		pods, err := k.pods(ctx, d)
		if err != nil {
			return false, "", err
		}
		if why := mesh.DeploymentReady(d, pods); why != "" {
			return false, t.String() + ": " + why, nil
		}
		checks = checks[:0]
		var bad []string
		for i := range pods {
			p := &pods[i]
			if p.DeletionTimestamp != nil {
				continue
			}
			out, ok := agent[p.UID]
			var execErr error
			if !ok {
				out, execErr = k.agentVersion(ctx, p)
				if execErr == nil {
					agent[p.UID] = out
				}
			}
			c := CheckProxy(p, t.Role, phase, want, out, execErr)
			checks = append(checks, c)
			if !c.OK {
				bad = append(bad, p.Name+": "+c.Problem)
			}
		}
		if len(bad) > 0 {
			return false, t.String() + ": " + strings.Join(bad, "; "), nil
		}
		return true, "", nil
	})
	if err != nil {
		return checks, fmt.Errorf("%s on the %s: %w", t, want, err)
	}
	return checks, nil
}

// pods lists a Deployment's pods (by its selector), sorted by name.
func (k Kube) pods(ctx context.Context, d *appsv1.Deployment) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("Deployment %s/%s selector: %w", d.Namespace, d.Name, err)
	}
	list, err := k.Client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("pods of Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	pods := list.Items
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods, nil
}

// agentVersion runs `pilot-agent version` in the pod's istio-proxy container.
func (k Kube) agentVersion(ctx context.Context, p *corev1.Pod) (string, error) {
	if k.Exec == nil {
		return "", errors.New("no executor for pilot-agent")
	}
	ctx, cancel := context.WithTimeout(ctx, k.Timeouts.WithDefaults().AgentExec)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code, err := k.Exec.Exec(ctx, p.Namespace, p.Name, ProxyContainer, AgentVersionCommand, &stdout, &stderr)
	switch {
	case err != nil:
		return "", fmt.Errorf("exec in %s/%s: %w", p.Namespace, p.Name, err)
	case code != 0:
		return "", fmt.Errorf("exit %d: %s", code, clipLine(stderr.String()))
	}
	return stdout.String(), nil
}

// ResolveClient returns a client Deployment's pod to send from now: Ready, not
// being deleted, with an IP; the newest one when several are (a rollout leaves
// the new pod beside the old until the old one goes).
func (k Kube) ResolveClient(ctx context.Context, namespace, deployment string) (deploy.ClientPod, error) {
	d, err := k.Client.AppsV1().Deployments(namespace).Get(ctx, deployment, metav1.GetOptions{})
	if err != nil {
		return deploy.ClientPod{}, fmt.Errorf("client %s/%s: %w", namespace, deployment, err)
	}
	pods, err := k.pods(ctx, d)
	if err != nil {
		return deploy.ClientPod{}, err
	}
	var best *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || p.Status.PodIP == "" || podNotReady(p) != "" {
			continue
		}
		if best == nil || p.CreationTimestamp.After(best.CreationTimestamp.Time) {
			best = p
		}
	}
	if best == nil {
		return deploy.ClientPod{}, fmt.Errorf("client %s/%s: no Ready pod (of %d)", namespace, deployment, len(pods))
	}
	cp := deploy.ClientPod{Namespace: namespace, Deployment: deployment, Name: best.Name, IP: best.Status.PodIP,
		Sidecar: ProxyContainer + " present"}
	for _, c := range best.Spec.Containers {
		if c.Name != ProxyContainer {
			cp.Container = c.Name
			break
		}
	}
	return cp, nil
}

// WaitGone waits, within Timeouts.Gone, until a Deployment no longer exists.
func (k Kube) WaitGone(ctx context.Context, namespace, name string) error {
	return k.poll(ctx, k.Timeouts.WithDefaults().Gone, func(ctx context.Context) (bool, string, error) {
		_, err := k.Client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return true, "", nil
		case err != nil:
			return false, "", fmt.Errorf("Deployment %s/%s: %w", namespace, name, err)
		}
		return false, fmt.Sprintf("Deployment %s/%s still exists", namespace, name), nil
	})
}
