package ambient

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/egress-conformance/egress-conformance/pkg/evidence"
)

// ZtunnelSelector selects ztunnel's pods (manifests/charts/ztunnel/templates/
// daemonset.yaml labels them app=ztunnel; their one container is istio-proxy).
const ZtunnelSelector = "app=ztunnel"

// ZtunnelFor is the ztunnel pod on the node of the client pod: the one that
// carries, and logs, that pod's outbound connections (ztunnel is per node).
func ZtunnelFor(ctx context.Context, kube kubernetes.Interface, clientNamespace, clientPod string) (evidence.Proxy, error) {
	p, err := kube.CoreV1().Pods(clientNamespace).Get(ctx, clientPod, metav1.GetOptions{})
	if err != nil {
		return evidence.Proxy{}, fmt.Errorf("client pod %s/%s: %w", clientNamespace, clientPod, err)
	}
	node := p.Spec.NodeName
	if node == "" {
		return evidence.Proxy{}, fmt.Errorf("client pod %s/%s is not scheduled on a node", clientNamespace, clientPod)
	}
	pods, err := kube.CoreV1().Pods(Ztunnel.Namespace).List(ctx, metav1.ListOptions{LabelSelector: ZtunnelSelector})
	if err != nil {
		return evidence.Proxy{}, fmt.Errorf("list ztunnel pods %q in %s: %w", ZtunnelSelector, Ztunnel.Namespace, err)
	}
	for _, z := range pods.Items {
		if z.Spec.NodeName == node && z.Status.Phase == corev1.PodRunning && z.DeletionTimestamp == nil {
			return evidence.Proxy{Namespace: z.Namespace, Pod: z.Name, Container: evidence.ProxyContainer, IP: z.Status.PodIP}, nil
		}
	}
	return evidence.Proxy{}, fmt.Errorf("no Running ztunnel pod (%s in %s) on node %s, where client %s/%s runs (of %d ztunnel pods)",
		ZtunnelSelector, Ztunnel.Namespace, node, clientNamespace, clientPod, len(pods.Items))
}
