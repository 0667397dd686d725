package evidence

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The fake clientset only checks the plumbing: which pod, container and since
// time are asked for, and that the body comes back as is.
func TestKubeLogSource(t *testing.T) {
	client := fake.NewClientset()
	var got *corev1.PodLogOptions
	var gotNS string
	client.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		got, _ = a.(k8stesting.GenericAction).GetValue().(*corev1.PodLogOptions)
		gotNS = a.GetNamespace()
		return true, &runtime.Unknown{Raw: []byte(pilotAgentLine + "\n" + policiesGateway + "\n")}, nil
	})
	since := time.Date(2022, 5, 10, 20, 36, 15, 0, time.UTC)
	// This host's clock says the probe started 7.3 s ago; the node's clock may say
	// anything, so no absolute instant may be sent.
	src := KubeLogSource{client: client, now: func() time.Time { return since.Add(7300 * time.Millisecond) }}
	text, err := src.Logs(context.Background(), gatewayProxy, since)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, policiesGateway) {
		t.Errorf("logs = %q", text)
	}
	if got == nil || got.Container != ProxyContainer || gotNS != "istio-system" {
		t.Fatalf("asked namespace %q options %+v; want istio-system, container %s", gotNS, got, ProxyContainer)
	}
	if got.SinceTime != nil {
		t.Errorf("SinceTime %s sent: an instant on this host's clock, which the node's clock need not share", got.SinceTime)
	}
	// 7.3 s + 2 s margin, rounded up.
	if got.SinceSeconds == nil || *got.SinceSeconds != 10 {
		t.Errorf("SinceSeconds = %v, want 10", got.SinceSeconds)
	}
}

func TestSinceSeconds(t *testing.T) {
	at := time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		ago  time.Duration
		want int64
	}{{0, 2}, {time.Second, 3}, {1500 * time.Millisecond, 4}, {-time.Minute, 1}, {10 * time.Minute, 602}} {
		if got := SinceSeconds(at.Add(-c.ago), at); got != c.want {
			t.Errorf("SinceSeconds(%s ago) = %d, want %d", c.ago, got, c.want)
		}
	}
}

func TestKubeLogSourceError(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New(`container "istio-proxy" in pod "sleep-7f9c" is waiting to start: PodInitializing`)
	})
	_, err := NewKubeLogSource(client).Logs(context.Background(), sidecarProxy, time.Time{})
	if err == nil || !strings.Contains(err.Error(), "pod egress-gateway-http/sleep-7f9c container istio-proxy") {
		t.Fatalf("err = %v, want it to name the pod and container", err)
	}
}

func pod(ns, name string, labels map[string]string, phase corev1.PodPhase, ip string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Status:     corev1.PodStatus{Phase: phase, PodIP: ip},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	return p
}

func TestGatewayProxies(t *testing.T) {
	istioctl := map[string]string{"app": "istio-egressgateway", "istio": "egressgateway"}
	gwapi := map[string]string{GatewayNameLabel: "cnn-egress-gateway"}
	client := fake.NewClientset(
		pod("istio-system", "istio-egressgateway-b", istioctl, corev1.PodRunning, "10.244.0.9", ProxyContainer),
		pod("istio-system", "istio-egressgateway-a", istioctl, corev1.PodRunning, "10.244.0.8", ProxyContainer),
		pod("istio-system", "istio-egressgateway-pending", istioctl, corev1.PodPending, "", ProxyContainer),
		pod("istio-system", "istio-egressgateway-odd", istioctl, corev1.PodRunning, "10.244.0.7", "envoy"),
		pod("istio-system", "istio-ingressgateway-x", map[string]string{"istio": "ingressgateway"}, corev1.PodRunning, "10.244.0.6", ProxyContainer),
		pod("default", "cnn-egress-gateway-istio-7d9", gwapi, corev1.PodRunning, "10.244.0.12", ProxyContainer),
	)
	got, err := GatewayProxies(context.Background(), client, DefaultGatewayNamespace, DefaultGatewaySelector)
	if err != nil {
		t.Fatal(err)
	}
	want := []Proxy{
		{Namespace: "istio-system", Pod: "istio-egressgateway-a", Container: ProxyContainer, IP: "10.244.0.8"},
		{Namespace: "istio-system", Pod: "istio-egressgateway-b", Container: ProxyContainer, IP: "10.244.0.9"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	got, err = GatewayProxies(context.Background(), client, "default", GatewayAPISelector("cnn-egress-gateway"))
	if err != nil || len(got) != 1 || got[0].Pod != "cnn-egress-gateway-istio-7d9" {
		t.Errorf("Gateway API pods = %+v, %v", got, err)
	}
	_, err = GatewayProxies(context.Background(), client, "istio-system", GatewayAPISelector("missing"))
	if err == nil || !strings.Contains(err.Error(), "namespace istio-system") {
		t.Errorf("no pod: err = %v, want one naming the namespace", err)
	}
}

func TestWaitGatewayProxies(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	if _, err := WaitGatewayProxies(ctx, cs, "ns", "gateway.networking.k8s.io/gateway-name=gw", 50*time.Millisecond, 10*time.Millisecond); err == nil ||
		!strings.Contains(err.Error(), "waited 50ms") {
		t.Fatalf("no pod: want a bounded wait that says so, got %v", err)
	}
	gw := pod("ns", "gw-istio-0", map[string]string{"gateway.networking.k8s.io/gateway-name": "gw"}, corev1.PodRunning, "10.0.0.9", ProxyContainer)
	if _, err := cs.CoreV1().Pods("ns").Create(ctx, gw, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := WaitGatewayProxies(ctx, cs, "ns", "gateway.networking.k8s.io/gateway-name=gw", time.Second, 10*time.Millisecond)
	if err != nil || len(got) != 1 || got[0].Pod != "gw-istio-0" {
		t.Fatalf("got %v, %v", got, err)
	}
}
