package cluster

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, ready bool) corev1.Node {
	s := corev1.ConditionFalse
	if ready {
		s = corev1.ConditionTrue
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: s}}},
	}
}

func pod(name, key, value string, ready bool) corev1.Pod {
	s := corev1.ConditionFalse
	if ready {
		s = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", Labels: map[string]string{key: value}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: s}},
		},
	}
}

// kindPods are the kube-system pods of a fresh one-node kind cluster.
func kindPods(corednsReady bool) []corev1.Pod {
	return []corev1.Pod{
		pod("etcd-c-control-plane", "component", "etcd", true),
		pod("kube-apiserver-c-control-plane", "component", "kube-apiserver", true),
		pod("kube-controller-manager-c-control-plane", "component", "kube-controller-manager", true),
		pod("kube-scheduler-c-control-plane", "component", "kube-scheduler", true),
		pod("kube-proxy-abcde", "k8s-app", "kube-proxy", true),
		pod("kindnet-fghij", "k8s-app", "kindnet", true),
		pod("coredns-7db6d8ff4d-aaaaa", "k8s-app", "kube-dns", true),
		pod("coredns-7db6d8ff4d-bbbbb", "k8s-app", "kube-dns", corednsReady),
	}
}

func TestClusterReady(t *testing.T) {
	tests := []struct {
		name    string
		nodes   []corev1.Node
		pods    []corev1.Pod
		kind    bool
		want    bool
		waiting string
	}{
		{"kind ready", []corev1.Node{node("c-control-plane", true)}, kindPods(true), true, true, ""},
		{"kind, CoreDNS starting", []corev1.Node{node("c-control-plane", true)}, kindPods(false), true, false,
			"pod kube-system/coredns-7db6d8ff4d-bbbbb to be Ready"},
		{"kind, node not ready", []corev1.Node{node("c-control-plane", false)}, kindPods(true), true, false,
			"node c-control-plane to be Ready"},
		{"kind, no nodes yet", nil, nil, true, false, "a Ready node"},
		{"kind, no CoreDNS pods yet", []corev1.Node{node("c-control-plane", true)}, kindPods(true)[:6], true, false,
			"a kube-system pod k8s-app=kube-dns"},
		{"existing, one ready node of two, no visible control plane", []corev1.Node{node("a", false), node("b", true)},
			nil, false, true, ""},
		{"existing, no ready node", []corev1.Node{node("a", false)}, nil, false, false, "a Ready node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, waiting := clusterReady(tt.nodes, tt.pods, tt.kind)
			if ok != tt.want || !strings.Contains(waiting, tt.waiting) {
				t.Fatalf("clusterReady() = %v, %q; want %v, %q", ok, waiting, tt.want, tt.waiting)
			}
		})
	}
}

func TestPodReadyNeedsRunning(t *testing.T) {
	p := pod("p", "k", "v", true)
	p.Status.Phase = corev1.PodPending
	if podReady(p) {
		t.Fatal("a Pending pod with a Ready condition counted as ready")
	}
}
