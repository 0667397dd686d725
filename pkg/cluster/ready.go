package cluster

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient/wait"
)

// kindSystemPods are the kube-system pods a fresh kind cluster runs, by label: the
// cluster is ready for the suites when each group has pods and all of them are Ready.
// (Label values as set by kubeadm static pods and kind's manifests.)
var kindSystemPods = []struct{ key, value string }{
	{"component", "etcd"},
	{"component", "kube-apiserver"},
	{"component", "kube-controller-manager"},
	{"component", "kube-scheduler"},
	{"k8s-app", "kube-proxy"},
	{"k8s-app", "kindnet"},
	{"k8s-app", "kube-dns"}, // CoreDNS: Istio's DNS names, and the probes', resolve through it
}

// clusterReady is the pure readiness check behind WaitForControlPlane. For a kind
// cluster every node and every kindSystemPods group must be Ready. For an existing
// cluster, whose control plane may be managed and invisible, at least one Ready node
// is enough. It returns what it still waits for.
func clusterReady(nodes []corev1.Node, pods []corev1.Pod, kind bool) (ok bool, waitingFor string) {
	ready := 0
	for _, n := range nodes {
		if nodeReady(n) {
			ready++
		} else if kind {
			return false, fmt.Sprintf("node %s to be Ready", n.Name)
		}
	}
	if ready == 0 {
		return false, "a Ready node"
	}
	if !kind {
		return true, ""
	}
	for _, g := range kindSystemPods {
		n := 0
		for _, p := range pods {
			if p.Labels[g.key] != g.value {
				continue
			}
			n++
			if !podReady(p) {
				return false, fmt.Sprintf("pod kube-system/%s to be Ready", p.Name)
			}
		}
		if n == 0 {
			return false, fmt.Sprintf("a kube-system pod %s=%s", g.key, g.value)
		}
	}
	return true, ""
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitReady polls clusterReady until it holds, ctx ends or timeout passes.
func waitReady(ctx context.Context, cs kubernetes.Interface, kind bool, t Timeouts) error {
	ctx, cancel := context.WithTimeout(ctx, t.ControlPlane)
	defer cancel()
	waitingFor := "the API server to answer"
	var lastErr error
	err := wait.For(func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			lastErr = err
			return false, nil
		}
		var pods []corev1.Pod
		if kind {
			list, err := cs.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
			if err != nil {
				lastErr = err
				return false, nil
			}
			pods = list.Items
		}
		lastErr = nil
		ok, w := clusterReady(nodes.Items, pods, kind)
		waitingFor = w
		return ok, nil
	}, wait.WithContext(ctx), wait.WithTimeout(0), wait.WithInterval(t.Poll), wait.WithImmediate())
	if err == nil {
		return nil
	}
	if lastErr != nil {
		return fmt.Errorf("cluster not ready within %s: waiting for %s: last error: %w", t.ControlPlane, waitingFor, lastErr)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cluster not ready within %s: still waiting for %s", t.ControlPlane, waitingFor)
	}
	return fmt.Errorf("cluster not ready: waiting for %s: %w", waitingFor, err)
}
