package mesh

import (
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

func TestSupportsKubernetes(t *testing.T) {
	for _, c := range []struct {
		istio, k8s string
		ok         bool
		rng        string
	}{
		{"1.30.8", "1.32", true, "1.32–1.36"},
		{"1.30.8", "1.36", true, "1.32–1.36"},
		{"1.30.8", "1.31", false, "1.32–1.36"},
		{"1.30.8", "1.37", false, "1.32–1.36"},
		{"1.29", "1.31", true, "1.31–1.35"},
		{"1.29.0", "1.36", false, "1.31–1.35"},
		{"1.31.4", "v1.35.8", true, "1.32–1.36"},
		{"1.31.4", "1.37.0", false, "1.32–1.36"},
		{"1.31.0-rc.1", "1.33", true, "1.32–1.36"},
		{"1.28.3", "1.30", true, "1.30–1.34"},
		{"1.32.0", "1.35", true, "1.32 or newer (no published upper bound)"},
		{"1.32.0", "1.31", false, "1.32 or newer (no published upper bound)"},
		{"1.33.0", "1.35", false, ""}, // no data
		{"2.0.0", "1.35", false, ""},
		{"nonsense", "1.35", false, ""},
		{"1.31.4", "nonsense", false, "1.32–1.36"},
	} {
		ok, rng := SupportsKubernetes(c.istio, c.k8s)
		if ok != c.ok || rng != c.rng {
			t.Errorf("SupportsKubernetes(%q, %q) = %v, %q; want %v, %q", c.istio, c.k8s, ok, rng, c.ok, c.rng)
		}
	}
}

func TestCheckKubernetes(t *testing.T) {
	if err := CheckKubernetes("1.31.4", "v1.35.8"); err != nil {
		t.Error(err)
	}
	for _, c := range []struct{ istio, k8s, want string }{
		{"1.31.4", "1.37.0", "supported on Kubernetes 1.32–1.36, not 1.37.0"},
		{"1.33.0", "1.35", "no Kubernetes support data for Istio 1.33.0"},
		{"1.32.0", "1.31.9", "supported on Kubernetes 1.32 or newer (no published upper bound), not 1.31.9"},
		{"x", "1.35", "Istio version"},
		{"1.31.4", "latest", "Kubernetes version"},
	} {
		err := CheckKubernetes(c.istio, c.k8s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckKubernetes(%q, %q) = %v, want it to say %q", c.istio, c.k8s, err, c.want)
		}
	}
}

// The pinned kind node image must lie inside the supported range of the default
// Istio and of every Istio the upgrade gate and the matrix know (ISTIO_VERSIONS):
// the default gate installs 1.31 and then 1.32 on the same node.
func TestPinnedVersionsAreSupported(t *testing.T) {
	image := versions.KindNodeImage // kindest/node:v1.35.8@sha256:...
	tag := image[strings.LastIndex(image, ":v")+1:]
	if i := strings.Index(tag, "@"); i >= 0 {
		tag = tag[:i]
	}
	for _, v := range append([]string{versions.Istio}, versions.IstioVersions...) {
		if err := CheckKubernetes(v, tag); err != nil {
			t.Errorf("pinned Istio %s with node image %s: %v", v, image, err)
		}
	}
}

func TestOfflineDivergence(t *testing.T) {
	if got := OfflineDivergence("1.31.4", "1.31"); got != "" {
		t.Errorf("same minor: got %q, want no warning", got)
	}
	got := OfflineDivergence("1.32.0", "1.31")
	if !strings.Contains(got, "simulates Istio 1.31") || !strings.Contains(got, "tests Istio 1.32.0") {
		t.Errorf("got %q", got)
	}
}

func TestUpperBoundPublished(t *testing.T) {
	for v, want := range map[string]bool{"1.31.4": true, "1.32.0": false, "1.40.0": false, "x": false} {
		if got := UpperBoundPublished(v); got != want {
			t.Errorf("UpperBoundPublished(%q) = %v, want %v", v, got, want)
		}
	}
}
