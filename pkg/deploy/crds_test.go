package deploy

import (
	"context"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

func TestPinnedCRDSources(t *testing.T) {
	ctx := context.Background()
	gw, err := Modules{Root: "../.."}.GatewayAPICRDs(ctx, StandardChannel)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(gw.Files, func(f string) bool { return strings.HasSuffix(f, "_httproutes.yaml") }) ||
		!strings.Contains(gw.Name, "standard channel") {
		t.Errorf("Gateway API source %s: %v", gw.Name, gw.Files)
	}
	is, err := Modules{Root: "../.."}.IstioCRDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(is.Files) != 1 || filepath.Base(is.Files[0]) != "crd-all.gen.yaml" {
		t.Errorf("Istio source %s: %v", is.Name, is.Files)
	}
}

const crdDoc = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %s.example.com
spec:
  group: example.com
  names: {kind: %s, plural: %s}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
`

// withEstablished makes the fake API server report every CRD Established.
var withEstablished = interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := c.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	if u, ok := obj.(*unstructured.Unstructured); ok && u.GroupVersionKind() == crdGVK {
		_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "Established", "status": "True"}}, "status", "conditions")
	}
	return nil
}}

func TestInstallCRDsCreatesOnlyWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "crds.yaml")
	doc := strings.ReplaceAll(strings.ReplaceAll(crdDoc, "%s", "foos"), "kind: foos", "kind: Foo") + "---\n" +
		strings.ReplaceAll(strings.ReplaceAll(crdDoc, "%s", "bars"), "kind: bars", "kind: Bar") +
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-a-crd\n"
	if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t)
	c.Client = interceptor.NewClient(c.Client.(client.WithWatch), withEstablished)
	// The user's own bars CRD exists already, without our label.
	ms, err := readManifests(f, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Client.Create(context.Background(), ms[1].Obj.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	res, err := InstallCRDs(context.Background(), c, CRDSource{Name: "test", Files: []string{f}}, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Created, []string{"foos.example.com"}) || !slices.Equal(res.Present, []string{"bars.example.com"}) ||
		len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "ConfigMap not-a-crd") {
		t.Errorf("result %+v", res)
	}
	for name, want := range map[string]string{"foos.example.com": "run-1", "bars.example.com": ""} {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(crdGVK)
		if err := c.Client.Get(context.Background(), client.ObjectKey{Name: name}, u); err != nil {
			t.Fatal(err)
		}
		if got := u.GetLabels()[RunLabel]; got != want {
			t.Errorf("%s: %s=%q, want %q", name, RunLabel, got, want)
		}
	}
}

func TestInstallCRDsWaitIsBounded(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "crds.yaml")
	doc := strings.ReplaceAll(strings.ReplaceAll(crdDoc, "%s", "foos"), "kind: foos", "kind: Foo")
	if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t) // no status: never Established
	_, err := InstallCRDs(context.Background(), c, CRDSource{Name: "test", Files: []string{f}}, "run-1")
	if err == nil || !strings.Contains(err.Error(), "not Established: foos.example.com (no conditions yet)") {
		t.Errorf("err = %v", err)
	}
}

func TestChannelFor(t *testing.T) {
	obj := func(apiVersion, kind string) *scenario.Scenario {
		return &scenario.Scenario{Steps: []scenario.Step{{Bundle: scenario.Bundle{{APIVersion: apiVersion, Kind: kind}}}}}
	}
	for _, tc := range []struct {
		s    *scenario.Scenario
		want GatewayAPIChannel
	}{
		{obj("networking.istio.io/v1alpha3", "VirtualService"), StandardChannel},
		{obj("gateway.networking.k8s.io/v1", "HTTPRoute"), StandardChannel},
		{obj("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"), StandardChannel},
		{obj("gateway.networking.k8s.io/v1alpha2", "TLSRoute"), ExperimentalChannel},
		{obj("gateway.networking.k8s.io/v1alpha3", "BackendTLSPolicy"), ExperimentalChannel},
	} {
		if got := ChannelFor([]*scenario.Scenario{tc.s}); got != tc.want {
			t.Errorf("%s %s: channel %s, want %s", tc.s.Steps[0].Bundle[0].APIVersion, tc.s.Steps[0].Bundle[0].Kind, got, tc.want)
		}
	}
	exp, err := Modules{Root: "../.."}.GatewayAPICRDs(context.Background(), ExperimentalChannel)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range exp.Files {
		if !strings.Contains(filepath.Base(f), "gateway.networking.k8s.io_") {
			t.Errorf("experimental source includes %s, which no scenario needs", f)
		}
	}
	if _, err := (Modules{Root: "../.."}).GatewayAPICRDs(context.Background(), "beta"); err == nil {
		t.Error("an unknown channel must be refused")
	}
}
