package ambient

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"
	kubeyaml "sigs.k8s.io/yaml"

	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// The overlay must be istio/istio's ambient profile (manifests/profiles/ambient.yaml
// of the linked library) minus what egress.yaml already sets: its components and
// values.profile, nothing else, so that "ambient" here means what istio.io installs.
func TestOverlayIsIstiosAmbientProfile(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var overlay map[string]any
	readYAML(t, filepath.Join(root, OverlayFile), &overlay)
	want := map[string]any{
		"apiVersion": "install.istio.io/v1alpha1",
		"kind":       "IstioOperator",
		"spec": map[string]any{
			"components": map[string]any{
				"cni":     map[string]any{"enabled": true},
				"ztunnel": map[string]any{"enabled": true},
			},
			"values": map[string]any{"profile": "ambient"},
		},
	}
	if !reflect.DeepEqual(overlay, want) {
		t.Errorf("%s = %v, want %v", OverlayFile, overlay, want)
	}
	// The profile in the Istio library the offline tier links: the same
	// components and values.profile; its ingress gateway is off, as in minimal.
	profile := filepath.Join(istioModuleDir(t), "manifests", "profiles", "ambient.yaml")
	var p struct {
		Spec struct {
			Components struct {
				CNI             map[string]any   `json:"cni"`
				Ztunnel         map[string]any   `json:"ztunnel"`
				IngressGateways []map[string]any `json:"ingressGateways"`
			} `json:"components"`
			Values map[string]any `json:"values"`
		} `json:"spec"`
	}
	readYAML(t, profile, &p)
	if p.Spec.Components.CNI["enabled"] != true || p.Spec.Components.Ztunnel["enabled"] != true ||
		p.Spec.Values["profile"] != "ambient" || len(p.Spec.Values) != 1 {
		t.Errorf("Istio's ambient profile changed (%s): %+v; update %s and docs/ambient.md", profile, p.Spec, OverlayFile)
	}
	for _, g := range p.Spec.Components.IngressGateways {
		if g["enabled"] != false {
			t.Errorf("Istio's ambient profile enables an ingress gateway: %v", g)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := kubeyaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// istioModuleDir is istio.io/istio's directory in the module cache (the library
// go.mod pins), found from a file of the library.
func istioModuleDir(t *testing.T) string {
	t.Helper()
	out, err := goList("istio.io/istio/pkg/config/constants")
	if err != nil {
		t.Fatalf("go list istio.io/istio (the library go.mod pins): %v", err)
	}
	return out
}

func TestImages(t *testing.T) {
	got := Images(mesh.Config{Version: "1.32.0"})
	want := []string{
		"docker.io/istio/pilot:1.32.0-distroless", "docker.io/istio/proxyv2:1.32.0-distroless",
		"docker.io/istio/install-cni:1.32.0-distroless", "docker.io/istio/ztunnel:1.32.0-distroless",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Images = %v, want %v", got, want)
	}
	if got := Images(mesh.Config{Version: "1.32.0", Hub: "mirror.example:5000/istio"})[3]; got != "mirror.example:5000/istio/ztunnel:1.32.0-distroless" {
		t.Errorf("with a hub: %s", got)
	}
}

func TestDaemonSetReady(t *testing.T) {
	ds := func(gen, observed int64, desired, updated, ready int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Status: appsv1.DaemonSetStatus{
			ObservedGeneration: observed, DesiredNumberScheduled: desired, UpdatedNumberScheduled: updated, NumberReady: ready}}
	}
	for _, tc := range []struct {
		ds   *appsv1.DaemonSet
		want string
	}{
		{ds(2, 1, 1, 1, 1), "generation 2 not observed yet (observed 1)"},
		{ds(1, 1, 0, 0, 0), "scheduled on no node"},
		{ds(1, 1, 2, 1, 2), "1 of 2 pods updated"},
		{ds(1, 1, 2, 2, 1), "1 of 2 pods ready"},
		{ds(1, 1, 2, 2, 2), ""},
	} {
		if got := DaemonSetReady(tc.ds); got != tc.want {
			t.Errorf("DaemonSetReady(%+v) = %q, want %q", tc.ds.Status, got, tc.want)
		}
	}
}

func TestWaitDaemonSets(t *testing.T) {
	ready := func(d DaemonSet) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name, Generation: 1},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberReady: 1}}
	}
	kube := fake.NewClientset(ready(CNI))
	var out strings.Builder
	err := WaitDaemonSets(context.Background(), kube, DaemonSets(), 50*time.Millisecond, 10*time.Millisecond, &out)
	if err == nil || !strings.Contains(err.Error(), "istio-system/ztunnel: daemonset not found") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out.String(), "ambient: istio-system/istio-cni-node ready") {
		t.Errorf("progress: %s", out.String())
	}
	kube = fake.NewClientset(ready(CNI), ready(Ztunnel))
	if err := WaitDaemonSets(context.Background(), kube, DaemonSets(), time.Second, 10*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
}

func newCluster(t *testing.T, objs ...client.Object) *deploy.Cluster {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return &deploy.Cluster{Client: crfake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()}
}

func TestEnrol(t *testing.T) {
	ctx := context.Background()
	ns := func(name string, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	c := newCluster(t,
		ns("ours", map[string]string{deploy.RunLabel: "r1"}),
		ns("other-run", map[string]string{deploy.RunLabel: "r0"}),
		ns("users", nil),
		ns("injected", map[string]string{deploy.RunLabel: "r1", deploy.InjectionLabel: "enabled"}),
	)
	if err := Enrol(ctx, c, "ours", "r1"); err != nil {
		t.Fatal(err)
	}
	var got corev1.Namespace
	if err := c.Client.Get(ctx, client.ObjectKey{Name: "ours"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Labels["istio.io/dataplane-mode"] != "ambient" || got.Labels[deploy.RunLabel] != "r1" {
		t.Errorf("labels %v", got.Labels)
	}
	for _, name := range []string{"other-run", "users"} {
		if err := Enrol(ctx, c, name, "r1"); !errors.Is(err, deploy.ErrNotOurs) {
			t.Errorf("Enrol(%s) = %v, want ErrNotOurs", name, err)
		}
	}
	if err := Enrol(ctx, c, "injected", "r1"); err == nil || !strings.Contains(err.Error(), "sidecar injection") {
		t.Errorf("Enrol(injected) = %v", err)
	}
	if err := Enrol(ctx, c, "missing", "r1"); err == nil {
		t.Error("Enrol(missing): no error")
	}
}

func TestWaitRedirected(t *testing.T) {
	pod := func(name string, ann map[string]string, containers ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Annotations: ann}}
		for _, c := range containers {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
		}
		return p
	}
	kube := fake.NewClientset(
		pod("redirected", map[string]string{"ambient.istio.io/redirection": "enabled"}, "sleep"),
		pod("pending", nil, "sleep"),
		pod("injected", map[string]string{"ambient.istio.io/redirection": "enabled"}, "sleep", "istio-proxy"),
	)
	ctx := context.Background()
	if err := WaitRedirected(ctx, kube, "ns", "redirected", time.Second, 10*time.Millisecond); err != nil {
		t.Error(err)
	}
	if err := WaitRedirected(ctx, kube, "ns", "pending", 50*time.Millisecond, 10*time.Millisecond); err == nil ||
		!strings.Contains(err.Error(), "istio-cni has not redirected") {
		t.Errorf("pending: %v", err)
	}
	if err := WaitRedirected(ctx, kube, "ns", "injected", time.Second, 10*time.Millisecond); err == nil ||
		!strings.Contains(err.Error(), "has a istio-proxy container") {
		t.Errorf("injected: %v", err)
	}
}

func TestWaypoints(t *testing.T) {
	obj := func(kind, apiVersion, ns, y string) scenario.Object {
		return scenario.Object{Kind: kind, APIVersion: apiVersion, Namespace: ns, YAML: []byte(y)}
	}
	// The Gateway `istioctl waypoint generate --for service -n egress-ns` prints
	// (istio/istio istioctl/pkg/waypoint/waypoint.go), then one of class istio,
	// one in the scenario namespace, and an Istio Gateway, which are not waypoints.
	b := scenario.Bundle{
		obj("Gateway", "gateway.networking.k8s.io/v1", "egress-ns", `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  labels:
    istio.io/waypoint-for: service
  name: waypoint
  namespace: egress-ns
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - name: mesh
    port: 15008
    protocol: HBONE
`),
		obj("Gateway", "gateway.networking.k8s.io/v1", "", "metadata: {name: egress}\nspec: {gatewayClassName: istio}\n"),
		obj("Gateway", "gateway.networking.k8s.io/v1", "", "metadata: {name: wp2}\nspec: {gatewayClassName: istio-waypoint}\n"),
		obj("Gateway", "networking.istio.io/v1", "", "metadata: {name: wp3}\nspec: {selector: {istio: egressgateway}}\n"),
	}
	got := Waypoints(b, "egress-scn")
	want := []Waypoint{{Name: "waypoint", Namespace: "egress-ns"}, {Name: "wp2", Namespace: "egress-scn"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Waypoints = %v, want %v", got, want)
	}
	w := got[0]
	if w.Selector() != "gateway.networking.k8s.io/gateway-name=waypoint" || w.Host() != "waypoint.egress-ns.svc.cluster.local" ||
		w.Identity() != "spiffe://cluster.local/ns/egress-ns/sa/waypoint" {
		t.Errorf("%s %s %s", w.Selector(), w.Host(), w.Identity())
	}
}

func TestZtunnelFor(t *testing.T) {
	pod := func(ns, name, node string, labels map[string]string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase, PodIP: "10.0.0." + node[len(node)-1:]}}
	}
	z := map[string]string{"app": "ztunnel"}
	kube := fake.NewClientset(
		pod("ns", "client", "node-2", nil, corev1.PodRunning),
		pod("istio-system", "ztunnel-a", "node-1", z, corev1.PodRunning),
		pod("istio-system", "ztunnel-b", "node-2", z, corev1.PodRunning),
		pod("ns", "orphan", "node-3", nil, corev1.PodRunning),
	)
	got, err := ZtunnelFor(context.Background(), kube, "ns", "client")
	if err != nil {
		t.Fatal(err)
	}
	if got.Pod != "ztunnel-b" || got.Container != "istio-proxy" || got.IP != "10.0.0.2" {
		t.Errorf("ZtunnelFor = %+v", got)
	}
	if _, err := ZtunnelFor(context.Background(), kube, "ns", "orphan"); err == nil || !strings.Contains(err.Error(), "on node node-3") {
		t.Errorf("orphan: %v", err)
	}
}

func TestDefaultOverlay(t *testing.T) {
	p, err := DefaultOverlay()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.ToSlash(p)[len(p)-len(OverlayFile):] != OverlayFile {
		t.Errorf("DefaultOverlay = %s", p)
	}
}
