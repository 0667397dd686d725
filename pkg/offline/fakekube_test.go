package offline

import (
	"testing"

	"istio.io/istio/pkg/test"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
)

// TestFakeKubeClientStoresAsIstio pins that every object reaches the fake API
// server under the resource Istio's own setupFakeClient creates it under
// (pkg/kube/client.go), whether fakeKubeClient adds it cheaply (client-go's
// kinds) or hands it to Istio (anything else, here a Gateway API object as
// unstructured, which Istio routes to its Gateway API client).
func TestFakeKubeClientStoresAsIstio(t *testing.T) {
	meta := func(kind, apiVersion, name string) (metav1.TypeMeta, metav1.ObjectMeta) {
		return metav1.TypeMeta{Kind: kind, APIVersion: apiVersion}, metav1.ObjectMeta{Name: name, Namespace: "ns"}
	}
	svcT, svcM := meta("Service", "v1", "svc")
	podT, podM := meta("Pod", "v1", "pod")
	epT, epM := meta("Endpoints", "v1", "svc")
	esT, esM := meta("EndpointSlice", "discovery.k8s.io/v1", "svc-1")
	nsT, _ := meta("Namespace", "v1", "")
	objects := []runtime.Object{
		&corev1.Service{TypeMeta: svcT, ObjectMeta: svcM},
		&corev1.Pod{TypeMeta: podT, ObjectMeta: podM},
		&corev1.Endpoints{TypeMeta: epT, ObjectMeta: epM},
		&discoveryv1.EndpointSlice{TypeMeta: esT, ObjectMeta: esM},
		&corev1.Namespace{TypeMeta: nsT, ObjectMeta: metav1.ObjectMeta{Name: "ns"}},
	}
	gw := &unstructured.Unstructured{}
	gw.SetAPIVersion("gateway.networking.k8s.io/v1")
	gw.SetKind("GatewayClass")
	gw.SetName("istio")
	if addable(gw) {
		t.Error("addable(unstructured GatewayClass) = true, want false: it belongs to Istio's Gateway API client")
	}
	wantAdded := map[string]bool{"Service": true, "Pod": true, "Endpoints": true, "EndpointSlice": true, "Namespace": true}
	err := test.Wrap(func(f test.Failer) {
		c := fakeKubeClient(f)(objects...)
		tracker := c.Kube().(*kubefake.Clientset).Tracker()
		for _, o := range objects {
			k := o.GetObjectKind().GroupVersionKind()
			if got := addable(o); got != wantAdded[k.Kind] {
				t.Errorf("addable(%s) = %v, want %v", k.Kind, got, wantAdded[k.Kind])
			}
			m := o.(metav1.Object)
			if _, err := tracker.Get(istioResource(k), m.GetNamespace(), m.GetName()); err != nil {
				t.Errorf("%s %s: not stored under %s: %v", k.Kind, m.GetName(), istioResource(k), err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}
