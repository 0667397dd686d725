package offline

import (
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/gvk"
	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/test"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// fakeKubeClient builds the Kubernetes client of a step's fake discovery server:
// Istio's own fake (kubelib.NewFakeClientWithVersion, what xds.NewFakeDiscoveryServer
// builds when FakeOptions.KubeClientBuilder is nil), holding the same objects, put
// into the fake API server more cheaply.
//
// Istio stores every initial object with the tracker's Create (setupFakeClient in
// pkg/kube/client.go), and client-go's field-managed tracker, the one
// fake.NewClientset uses for core Kubernetes kinds, builds a REST mapper of its whole
// scheme on every Create (NewFieldManagedObjectTracker in k8s.io/client-go/testing/
// fixture.go): about a third of a step's CPU time went there. Objects of the core
// client are therefore added with the tracker's Add, the way fake.NewClientset adds
// its own initial objects, when Add stores them under the very resource Istio's
// Create would (Add guesses the resource from the kind, Istio maps it: the two
// agree on every kind of client-go's scheme today, and an object where they did
// not would take Istio's path). Every other object goes through Istio's path
// unchanged. Informers list and watch the same tracker either way; only
// managedFields, which istiod never reads, differ.
func fakeKubeClient(t test.Failer) func(objects ...runtime.Object) kubelib.Client {
	return func(objects ...runtime.Object) kubelib.Client {
		var added, created []runtime.Object
		for _, o := range objects {
			if addable(o) {
				added = append(added, o)
			} else {
				created = append(created, o)
			}
		}
		// "": the Kubernetes version xds.NewFakeDiscoveryServer gives its default
		// client when FakeOptions.KubernetesVersion is unset, as here.
		c := kubelib.NewFakeClientWithVersion("", created...)
		cs, ok := c.Kube().(*kubefake.Clientset)
		if !ok {
			t.Fatalf("istio's fake Kubernetes client is a %T, not client-go's fake clientset", c.Kube())
		}
		for _, o := range added {
			if err := cs.Tracker().Add(o.DeepCopyObject()); err != nil {
				t.Fatalf("adding %s to the fake API server: %v", o.GetObjectKind().GroupVersionKind(), err)
			}
		}
		return c
	}
}

// addable reports whether o belongs to Istio's core Kubernetes client and the
// tracker's Add stores it under the resource Istio's Create would use.
func addable(o runtime.Object) bool {
	if _, ok := o.(runtime.Unstructured); ok {
		return false // its kind could be anyone's: Istio's path sorts it out
	}
	kinds, _, err := clientgoscheme.Scheme.ObjectKinds(o)
	if err != nil || len(kinds) != 1 || !clientgoscheme.Scheme.Recognizes(kinds[0]) {
		return false // not a client-go type: Istio's, the Gateway API's, or unknown
	}
	k := kinds[0]
	if tk := o.GetObjectKind().GroupVersionKind(); !tk.Empty() && tk != k {
		return false
	}
	guessed, _ := meta.UnsafeGuessKindToResource(k)
	return guessed == istioResource(k)
}

// istioResource is the resource Istio's setupFakeClient creates an object of
// kind k under (pkg/kube/client.go).
func istioResource(k schema.GroupVersionKind) schema.GroupVersionResource {
	gk := config.FromKubernetesGVK(k)
	r, ok := gvk.ToGVR(gk)
	if !ok {
		r, _ = meta.UnsafeGuessKindToResource(gk.Kubernetes())
	}
	if r.Group == "core" {
		r.Group = ""
	}
	return r
}
