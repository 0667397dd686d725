package upgrade

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseAgentVersion(t *testing.T) {
	for out, want := range map[string]string{
		agentVersion1270: "1.27.0",
		// --short, in pkg/version/cobra.go's format ("client version: %s\n").
		"client version: 1.31.4\n":      "1.31.4",
		"client version: 1.32.0-rc.1\n": "1.32.0-rc.1",
	} {
		got, err := ParseAgentVersion(out)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %s", out, got, err, want)
		}
	}
	for _, bad := range []string{"", "exec: \"pilot-agent\": executable file not found in $PATH", "client version: "} {
		if _, err := ParseAgentVersion(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

// pod builds a Running, Ready pod whose istio-proxy runs image; annotations and
// labels as given.
func pod(name, image string, annotations, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "egress-egress-gateway-http", Name: name, Annotations: annotations, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "sleep", Image: "docker.io/curlimages/curl:8.16.0"}, {Name: ProxyContainer, Image: image}}},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			PodIP:             clientIP,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: ProxyContainer, Image: image}},
		},
	}
}

func TestInjectionRevision(t *testing.T) {
	p := pod("sleep-1", "docker.io/istio/proxyv2:1.30.8", map[string]string{InjectionStatusAnnotation: injectionStatusDefault}, nil)
	rev, from, err := PodRevision(p)
	if err != nil || rev != "default" || from != InjectionStatusAnnotation {
		t.Errorf("injected pod: %q from %q, %v", rev, from, err)
	}
	// An istioctl gateway is not injected: its chart labels the pod template.
	gw := pod("istio-egressgateway-1", "docker.io/istio/proxyv2:1.31.4", nil, map[string]string{RevisionLabel: "1-31-4", "istio": "egressgateway"})
	if rev, from, err := PodRevision(gw); err != nil || rev != "1-31-4" || from != "label istio.io/rev" {
		t.Errorf("gateway pod: %q from %q, %v", rev, from, err)
	}
	old := pod("x", "", map[string]string{InjectionStatusAnnotation: injectionStatusNoRevision}, nil)
	if rev, from, err := PodRevision(old); err != nil || rev != "" || from != "" {
		t.Errorf("status without revision: %q from %q, %v", rev, from, err)
	}
	bad := pod("x", "", map[string]string{InjectionStatusAnnotation: "{not json"}, nil)
	if _, _, err := PodRevision(bad); err == nil || !strings.Contains(err.Error(), "is not JSON") {
		t.Errorf("bad annotation: %v", err)
	}
}

func TestImageTagVersion(t *testing.T) {
	for image, want := range map[string]string{
		"docker.io/istio/proxyv2:1.31.4":                       "1.31.4",
		"docker.io/istio/proxyv2:1.31.4-distroless":            "1.31.4",
		"docker.io/istio/proxyv2:1.27.0-debug":                 "1.27.0",
		"localhost:5000/istio/proxyv2:1.32.0-rc.1@sha256:abcd": "1.32.0-rc.1",
	} {
		got, ok := ImageTagVersion(image)
		if !ok || got != want {
			t.Errorf("%s: got %q, %v; want %s", image, got, ok, want)
		}
	}
	// Nothing to say: the exec decides. The test hub of Istio's own injection
	// goldens (pkg/kube/inject/testdata) uses "latest".
	for _, image := range []string{"gcr.io/istio-testing/proxyv2:latest", "localhost:5000/proxyv2", "proxyv2@sha256:abcd", ""} {
		if v, ok := ImageTagVersion(image); ok {
			t.Errorf("%s: got %q", image, v)
		}
	}
}

func TestCheckProxy(t *testing.T) {
	onTo := ProxyExpectation{Version: "1.27.0", Revision: "default"}
	injected := map[string]string{InjectionStatusAnnotation: injectionStatusDefault}
	for _, tt := range []struct {
		name     string
		pod      *corev1.Pod
		agent    string
		agentErr error
		problems []string // empty: OK
	}{
		{"runs the expected proxy", pod("a", "docker.io/istio/proxyv2:1.27.0", injected, nil), agentVersion1270, nil, nil},
		{"distroless variant", pod("a", "docker.io/istio/proxyv2:1.27.0-distroless", injected, nil), agentVersion1270, nil, nil},
		{"custom tag: the agent decides", pod("a", "registry.local/proxyv2:mirror", injected, nil), agentVersion1270, nil, nil},
		{"old image still running", pod("a", "docker.io/istio/proxyv2:1.26.3", injected, nil), agentVersion1270, nil,
			[]string{"image docker.io/istio/proxyv2:1.26.3 is Istio 1.26.3, not 1.27.0"}},
		{"agent reports another version", pod("a", "registry.local/proxyv2:mirror", injected, nil), "client version: 1.26.3\n", nil,
			[]string{"pilot-agent reports 1.26.3, not 1.27.0"}},
		{"injected by another revision", pod("a", "docker.io/istio/proxyv2:1.27.0", injected, nil), agentVersion1270, nil, nil},
		{"exec failed", pod("a", "docker.io/istio/proxyv2:1.27.0", injected, nil), "", errKubeletDown,
			[]string{"pilot-agent version: error dialing backend"}},
		{"no revision at all", pod("a", "docker.io/istio/proxyv2:1.27.0", nil, nil), agentVersion1270, nil,
			[]string{"no revision"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := onTo
			if tt.name == "injected by another revision" {
				want.Revision = "1-27-0"
				tt.problems = []string{"revision default (sidecar.istio.io/status), not 1-27-0"}
			}
			c := CheckProxy(tt.pod, RoleClient, PhaseTo, want, tt.agent, tt.agentErr)
			if c.OK != (len(tt.problems) == 0) {
				t.Fatalf("OK=%v, problem %q", c.OK, c.Problem)
			}
			for _, p := range tt.problems {
				if !strings.Contains(c.Problem, p) {
					t.Errorf("problem %q lacks %q", c.Problem, p)
				}
			}
			if c.Pod != "a" || c.Role != RoleClient || c.Phase != PhaseTo {
				t.Errorf("check %+v", c)
			}
		})
	}

	notReady := pod("b", "docker.io/istio/proxyv2:1.27.0", injected, nil)
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	if c := CheckProxy(notReady, RoleClient, PhaseTo, onTo, agentVersion1270, nil); c.OK || !strings.Contains(c.Problem, "not Ready") {
		t.Errorf("not ready: %+v", c)
	}
	noProxy := pod("c", "", nil, nil)
	noProxy.Spec.Containers = noProxy.Spec.Containers[:1]
	noProxy.Status.ContainerStatuses = nil
	if c := CheckProxy(noProxy, RoleClient, PhaseTo, onTo, "", errors.New("container not found")); c.OK ||
		!strings.Contains(c.Problem, "no istio-proxy container") {
		t.Errorf("no proxy: %+v", c)
	}
}

// A native sidecar (Kubernetes ≥ 1.29 with Istio's ENABLE_NATIVE_SIDECARS) is an
// init container with restartPolicy Always; its running image is in the init
// container statuses.
func TestProxyImageNativeSidecar(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	p := &corev1.Pod{
		Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: ProxyContainer, Image: "docker.io/istio/proxyv2:1.31.4", RestartPolicy: &always}}},
	}
	if img, ok := ProxyImage(p); !ok || img != "docker.io/istio/proxyv2:1.31.4" {
		t.Errorf("spec: %q %v", img, ok)
	}
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: ProxyContainer, Image: "docker.io/istio/proxyv2:1.31.4-distroless"}}
	if img, _ := ProxyImage(p); img != "docker.io/istio/proxyv2:1.31.4-distroless" {
		t.Errorf("status: %q", img)
	}
}
