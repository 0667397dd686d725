package upgrade

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// istioKinds are the kinds of the catalog's bundles plus the harness Sidecar,
// served in the fake as unstructured objects (a fake store, not Istio).
var istioKinds = []schema.GroupVersionKind{
	{Group: "networking.istio.io", Version: "v1alpha3", Kind: "ServiceEntry"},
	{Group: "networking.istio.io", Version: "v1alpha3", Kind: "Gateway"},
	{Group: "networking.istio.io", Version: "v1alpha3", Kind: "VirtualService"},
	{Group: "networking.istio.io", Version: "v1alpha3", Kind: "DestinationRule"},
	{Group: "networking.istio.io", Version: "v1", Kind: "Sidecar"},
	{Group: "security.istio.io", Version: "v1", Kind: "AuthorizationPolicy"},
	{Group: "networking.istio.io", Version: "v1", Kind: "ServiceEntry"},
	{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"},
	{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"},
	{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"},
}

func fakeStore(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	m := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range istioKinds {
		s.AddKnownTypeWithName(gvk, &unstructured.Unstructured{})
		s.AddKnownTypeWithName(gvk.GroupVersion().WithKind(gvk.Kind+"List"), &unstructured.UnstructuredList{})
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	return fake.NewClientBuilder().WithScheme(s).WithRESTMapper(m).WithObjects(objs...).Build()
}

func object(gvk schema.GroupVersionKind, ns, name, run string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	if run != "" {
		u.SetLabels(map[string]string{deploy.RunLabel: run})
	}
	return u
}

func exists(t *testing.T, c client.Client, gvk schema.GroupVersionKind, ns, name string) bool {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u)
	return err == nil
}

func scenarioNamed(t *testing.T, name string) *scenario.Scenario {
	for _, s := range catalog(t) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no scenario %s in the catalog", name)
	return nil
}

// bundleCluster is the deploy.Cluster the upgrade gate removes bundles through.
func bundleCluster(c client.Client) *deploy.Cluster {
	return &deploy.Cluster{Client: c, Timeouts: deploy.Timeouts{Poll: time.Millisecond}}
}

// The upgrade gate removes a scenario's bundle between phases with
// deploy.DeleteBundle, the same deletion rules as the cluster tier's clean-up.
func TestDeleteBundle(t *testing.T) {
	// egress-gateway-authz: bundle objects in its namespace and in istio-system.
	s := scenarioNamed(t, "egress-gateway-authz")
	var objs []client.Object
	for _, o := range s.Steps[len(s.Steps)-1].Bundle {
		gv, _ := schema.ParseGroupVersion(o.APIVersion)
		ns := o.Namespace
		if ns == "" {
			ns = s.Namespace()
		}
		objs = append(objs, object(gv.WithKind(o.Kind), ns, o.Name, runID))
	}
	if len(objs) < 4 {
		t.Fatalf("the scenario's bundle changed: %d objects", len(objs))
	}
	sidecar := istioKinds[4]
	vs := istioKinds[2]
	objs = append(objs,
		object(sidecar, s.Namespace(), "egress-conformance-outbound", runID), // the harness Sidecar stays
		object(vs, s.Namespace(), "someone-elses", ""),                       // not in the bundle
	)
	c := fakeStore(t, objs...)
	// A bundle object of the same name that another run made stays too.
	first := s.Steps[0].Bundle[0]
	gv, _ := schema.ParseGroupVersion(first.APIVersion)
	ns := first.Namespace
	if ns == "" {
		ns = s.Namespace()
	}
	other := object(gv.WithKind(first.Kind), ns, first.Name, "another-run")
	if err := c.Delete(context.Background(), object(gv.WithKind(first.Kind), ns, first.Name, "")); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), other); err != nil {
		t.Fatal(err)
	}

	if err := deploy.DeleteBundle(context.Background(), bundleCluster(c), s, runID, time.Second); err != nil {
		t.Fatal(err)
	}
	for _, o := range s.Steps[len(s.Steps)-1].Bundle {
		gv, _ := schema.ParseGroupVersion(o.APIVersion)
		ns := o.Namespace
		if ns == "" {
			ns = s.Namespace()
		}
		want := o.Name == first.Name && o.Kind == first.Kind // another run's
		if got := exists(t, c, gv.WithKind(o.Kind), ns, o.Name); got != want {
			t.Errorf("%s %s/%s exists=%v, want %v", o.Kind, ns, o.Name, got, want)
		}
	}
	if !exists(t, c, sidecar, s.Namespace(), "egress-conformance-outbound") || !exists(t, c, vs, s.Namespace(), "someone-elses") {
		t.Error("DeleteBundle removed what is not the bundle's")
	}
	// Nothing left: a second call is a no-op.
	if err := deploy.DeleteBundle(context.Background(), bundleCluster(c), s, runID, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := deploy.DeleteBundle(context.Background(), bundleCluster(c), s, "", time.Second); err == nil {
		t.Error("an empty run id must be refused")
	}
}

// A kind the server does not serve (its CRDs gone) holds no object to delete.
func TestDeleteBundleUnservedKind(t *testing.T) {
	s := scenarioNamed(t, "gateway-api-egress-http")
	c := fakeStore(t)
	if err := deploy.DeleteBundle(context.Background(), bundleCluster(c), s, runID, time.Second); err != nil {
		t.Errorf("an unserved kind must not be an error: %v", err)
	}
}
