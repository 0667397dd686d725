package external

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

func TestAdaptScenario(t *testing.T) {
	s, err := scenario.Load(filepath.Join("..", "..", "scenarios", "sidecar-tls-origination"))
	if err != nil {
		t.Fatal(err)
	}
	before := string(s.Steps[0].Bundle[1].YAML)
	ca, err := GenerateCA()
	if err != nil {
		t.Fatal(err)
	}
	st, err := New(Config{}, ca)
	if err != nil {
		t.Fatal(err)
	}
	got, nss, err := st.AdaptScenario(s)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Steps[0].Bundle[1].YAML) != before {
		t.Fatal("AdaptScenario changed the original scenario")
	}
	dr := got.Steps[0].Bundle[1]
	if dr.Kind != "DestinationRule" || !strings.Contains(string(dr.YAML), CACredentialName(s.Namespace())) {
		t.Errorf("adapted DestinationRule does not trust the run's CA:\n%s", dr.YAML)
	}
	if len(nss) != 1 || nss[0] != s.Namespace() {
		t.Errorf("CA namespaces %v, want [%s]", nss, s.Namespace())
	}
	// The ServiceEntry needs no change and is passed through byte for byte.
	if !bytes.Equal(got.Steps[0].Bundle[0].YAML, s.Steps[0].Bundle[0].YAML) {
		t.Error("ServiceEntry changed")
	}
}
