// Package evidence finds a probe's own access-log lines in the client sidecar's
// and the egress gateways' logs.
//
// An HTTP line is found by the x-request-id the probe sent (Istio's access-log
// format prints it). A TCP or TLS line carries no request id: the client
// sidecar's line is the one whose DOWNSTREAM_REMOTE_ADDRESS is curl's local
// address (for captured outbound traffic the sidecar's downstream peer is the app
// itself), and a gateway's TCP line is the one whose DOWNSTREAM_REMOTE_ADDRESS is
// the sidecar line's UPSTREAM_LOCAL_ADDRESS (the sidecar's end of its connection
// to the gateway).
//
// Envoy flushes access logs about once a second, so the Collector polls; it never
// sleeps longer than its poll interval.
package evidence

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient/wait"

	"github.com/egress-conformance/egress-conformance/pkg/world"
)

// ProxyContainer is the Envoy container of a sidecar-injected pod and of every
// Istio gateway pod (istioctl's egress gateway, the istio/gateway Helm chart, and
// the Deployment Istio creates for a Gateway API Gateway).
const ProxyContainer = "istio-proxy"

// Where the egress gateway pods are. The istioctl-installed gateway (and a Helm
// istio/gateway release named istio-egressgateway) labels its pods
// istio=egressgateway in istio-system; the Deployment Istio creates for a Gateway
// API Gateway labels its pods gateway.networking.k8s.io/gateway-name=<name>.
// (pkg/world describes both.)
const (
	DefaultGatewayNamespace = world.IstioNamespace
	DefaultGatewaySelector  = "istio=egressgateway"
	GatewayNameLabel        = world.GatewayNameLabel
)

// GatewayAPISelector is the label selector of the pods of a Gateway API Gateway.
func GatewayAPISelector(gatewayName string) string { return GatewayNameLabel + "=" + gatewayName }

// Proxy is one Envoy whose log is read.
type Proxy struct {
	Namespace, Pod, Container string
	// IP is the pod's IP, when known. A client sidecar line whose upstream host is a
	// watched gateway's IP proves the request went to that gateway, so the
	// Collector waits for the gateway's line instead of a mere flush window.
	IP string
}

func (p Proxy) String() string {
	return fmt.Sprintf("pod %s/%s container %s", p.Namespace, p.Pod, p.Container)
}

// LogSource reads a proxy's log.
type LogSource interface {
	// Logs returns the lines the proxy wrote at or after since (zero: all).
	Logs(ctx context.Context, p Proxy, since time.Time) (string, error)
}

// KubeLogSource reads container logs through the API server (the e2e-framework
// has no log helper).
type KubeLogSource struct {
	client kubernetes.Interface
	// now is this host's clock; nil: time.Now.
	now func() time.Time
}

// NewKubeLogSource returns a LogSource on client.
func NewKubeLogSource(client kubernetes.Interface) KubeLogSource {
	return KubeLogSource{client: client}
}

// sinceMargin widens every window by this much: SinceSeconds counts whole seconds
// and the request to the kubelet takes a moment.
const sinceMargin = 2 * time.Second

// Logs implements LogSource. The window is sent as SinceSeconds, a duration the
// kubelet subtracts from its own clock, never as SinceTime, an instant on this
// host's clock the node's clock may disagree with by more than any slack (a CI
// runner against a remote cluster). The duration is measured on this host's clock
// from since to now, rounded up, plus sinceMargin; a read may return a little more
// than asked for, and the Collector matches by request id and address, never by
// position.
func (k KubeLogSource) Logs(ctx context.Context, p Proxy, since time.Time) (string, error) {
	if k.client == nil {
		return "", errors.New("evidence: KubeLogSource has no client")
	}
	opts := &corev1.PodLogOptions{Container: p.Container}
	if !since.IsZero() {
		opts.SinceSeconds = ptrInt64(SinceSeconds(since, k.clock()))
	}
	raw, err := k.client.CoreV1().Pods(p.Namespace).GetLogs(p.Pod, opts).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of %s since %s: %w", p, since.UTC().Format(time.RFC3339), err)
	}
	return string(raw), nil
}

func (k KubeLogSource) clock() time.Time {
	if k.now != nil {
		return k.now()
	}
	return time.Now()
}

// SinceSeconds is the PodLogOptions.SinceSeconds that covers every line written
// since `since` (both instants on this host's clock): whole seconds, rounded up,
// plus a margin, at least 1 (the API server refuses 0).
func SinceSeconds(since, now time.Time) int64 {
	d := now.Sub(since) + sinceMargin
	secs := int64(d / time.Second)
	if d%time.Second != 0 {
		secs++
	}
	if secs < 1 {
		secs = 1
	}
	return secs
}

func ptrInt64(v int64) *int64 { return &v }

// GatewayProxies returns the proxy of every Running pod in namespace that matches
// labelSelector and has an istio-proxy container, sorted by name. A pod being
// deleted is kept: while it drains it may still carry the probe's request. No such
// pod is an error: with no gateway log read, no gateway line can be proven absent.
func GatewayProxies(ctx context.Context, client kubernetes.Interface, namespace, labelSelector string) ([]Proxy, error) {
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: labelSelector})
	if err != nil {
		return nil, fmt.Errorf("list egress gateway pods %q in namespace %s: %w", labelSelector, namespace, err)
	}
	var out []Proxy
	for _, pod := range pods.Items {
		if pod.Status.Phase != corev1.PodRunning || !hasContainer(pod, ProxyContainer) {
			continue
		}
		out = append(out, Proxy{Namespace: pod.Namespace, Pod: pod.Name, Container: ProxyContainer, IP: pod.Status.PodIP})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Running pod with a %s container matches %q in namespace %s (of %d listed)",
			ProxyContainer, labelSelector, namespace, len(pods.Items))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out, nil
}

func hasContainer(pod corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// WaitGatewayProxies polls GatewayProxies until the selector matches a running
// gateway pod or timeout passes. Gateway API deployments appear only after istiod
// has reconciled the Gateway, so a step that just applied one must wait for them.
func WaitGatewayProxies(ctx context.Context, client kubernetes.Interface, namespace, labelSelector string, timeout, poll time.Duration) ([]Proxy, error) {
	var proxies []Proxy
	var last error
	err := wait.For(func(ctx context.Context) (bool, error) {
		proxies, last = GatewayProxies(ctx, client, namespace, labelSelector)
		return last == nil, nil
	}, wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(poll), wait.WithImmediate())
	if err != nil {
		return nil, fmt.Errorf("waited %s: %w", timeout, errors.Join(last, err))
	}
	return proxies, nil
}
