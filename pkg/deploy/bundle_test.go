package deploy

import (
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// An apply entry's namespace reaches the manifest when the YAML names none, and
// never overrides one the YAML names.
func TestBundleManifestNamespace(t *testing.T) {
	doc := "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n"
	m, err := bundleManifest(scenario.Object{File: "gw.yaml", Line: 1, Kind: "Gateway", Name: "gw", Namespace: "istio-system", YAML: []byte(doc)})
	if err != nil {
		t.Fatal(err)
	}
	if ns := m.Obj.GetNamespace(); ns != "istio-system" {
		t.Errorf("namespace = %q, want istio-system", ns)
	}
	m, err = bundleManifest(scenario.Object{File: "gw.yaml", Line: 1, Kind: "Gateway", Name: "gw", Namespace: "istio-system", YAML: []byte(doc + "  namespace: team\n")})
	if err != nil {
		t.Fatal(err)
	}
	if ns := m.Obj.GetNamespace(); ns != "team" {
		t.Errorf("namespace = %q, want the YAML's own team", ns)
	}
}
