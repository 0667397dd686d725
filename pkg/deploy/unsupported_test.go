package deploy

import (
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

func TestUnsupported(t *testing.T) {
	no := false
	plain := &scenario.Scenario{Name: "plain", Client: "sleep", Steps: []scenario.Step{{Name: "a"}}}
	if why, ok := Unsupported(plain); ok {
		t.Errorf("a scenario with nothing new is refused: %s", why)
	}
	amb := &scenario.Scenario{Name: "amb", Client: "sleep", DataPlane: scenario.Ambient, Steps: []scenario.Step{{Name: "a"}}}
	if why, ok := Unsupported(amb); ok {
		t.Errorf("an ambient client (no sidecar by design) is refused: %s", why)
	}
	s := &scenario.Scenario{Name: "bypass", Client: "sleep",
		Clients: []scenario.ExtraClient{{Name: "outside", Injected: &no}},
		Steps:   []scenario.Step{{Name: "a"}, {Name: "b", Delete: []string{"serviceentry.yaml"}}}}
	why, ok := Unsupported(s)
	if !ok {
		t.Fatal("delete steps and an uninjected client must not run on the cluster tier yet")
	}
	for _, want := range []string{"step b deletes serviceentry.yaml", "client outside runs without a sidecar", "offline tier does"} {
		if !strings.Contains(why, want) {
			t.Errorf("reason %q lacks %q", why, want)
		}
	}
}

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
