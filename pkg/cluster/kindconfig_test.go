package cluster

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// The fixture found from this package's directory, completed with name and image,
// renders to YAML that reads back to the same config.
func TestKindConfigFixture(t *testing.T) {
	path, err := ResolveKindConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, filepath.FromSlash(DefaultKindConfig)) {
		t.Fatalf("ResolveKindConfig(\"\") = %s, want the fixture %s", path, DefaultKindConfig)
	}
	c, err := KindConfig("", "egress-conformance", versions.KindNodeImage)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "egress-conformance" {
		t.Errorf("name = %q", c.Name)
	}
	if len(c.Nodes) != 1 || c.Nodes[0].Role != v1alpha4.ControlPlaneRole {
		t.Fatalf("nodes = %+v, want one control-plane node", c.Nodes)
	}
	if c.Nodes[0].Image != versions.KindNodeImage {
		t.Errorf("node image = %q, want the pin %q", c.Nodes[0].Image, versions.KindNodeImage)
	}

	raw, err := RenderKindConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rendered:\n%s", raw)
	for _, want := range []string{
		"kind: Cluster\n",
		"apiVersion: kind.x-k8s.io/v1alpha4\n",
		"name: egress-conformance\n",
		"- role: control-plane\n",
		"image: " + versions.KindNodeImage + "\n",
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("rendered config lacks %q:\n%s", want, raw)
		}
	}
	back, err := ParseKindConfig(raw)
	if err != nil {
		t.Fatalf("rendered config does not parse back: %v\n%s", err, raw)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", back, c)
	}
}

func TestKindConfigRejects(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodez: []\n", "field nodez not found"},
		{"other apiVersion", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n", "want apiVersion kind.x-k8s.io/v1alpha4 kind Cluster"},
		{"other kind", "kind: Node\napiVersion: kind.x-k8s.io/v1alpha4\n", "want apiVersion"},
		{"two documents", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n---\nkind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n", "more than one YAML document"},
		{"pinned image", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  image: kindest/node:v1.30.0\n", "nodes[0].image is set (kindest/node:v1.30.0)"},
		{"no control plane", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: worker\n", "no control-plane node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kind.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := KindConfig(path, "c", "img")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("KindConfig() error = %v, want it to contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("KindConfig() error = %v, want it to name the file", err)
			}
		})
	}
}

func TestKindConfigDefaultsNodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kind.yaml")
	yaml := "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  ipFamily: ipv4\nnodes:\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := KindConfig(path, "c", "img")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Nodes) != 1 || c.Nodes[0].Role != v1alpha4.ControlPlaneRole || c.Nodes[0].Image != "img" {
		t.Fatalf("nodes = %+v, want one control-plane node with image img", c.Nodes)
	}
	if c.Networking.IPFamily != v1alpha4.IPv4Family {
		t.Errorf("networking lost: %+v", c.Networking)
	}
}

func TestResolveKindConfigNotFound(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := ResolveKindConfig("")
	if err == nil || !strings.Contains(err.Error(), EnvKindConfig) {
		t.Fatalf("ResolveKindConfig outside the module: error = %v, want it to name %s", err, EnvKindConfig)
	}
	if got, err := ResolveKindConfig("/x/kind.yaml"); err != nil || got != "/x/kind.yaml" {
		t.Fatalf("ResolveKindConfig(explicit) = %q, %v", got, err)
	}
}
