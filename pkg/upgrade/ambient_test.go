package upgrade

import (
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

func TestSkipAmbient(t *testing.T) {
	side := &scenario.Scenario{Name: "s", Client: "sleep"}
	if why, skip := SkipAmbient(side); skip {
		t.Errorf("a sidecar scenario is skipped: %s", why)
	}
	mixed := &scenario.Scenario{Name: "m", Client: "sleep", Clients: []scenario.ExtraClient{{Name: "a", DataPlane: scenario.Ambient}}}
	why, skip := SkipAmbient(mixed)
	if !skip {
		t.Fatalf("an ambient client is not skipped")
	}
	// The reason names each missing piece, and what to run instead.
	for _, want := range []string{"does not prove ambient scenarios", "fixtures/istio/ambient.yaml",
		"istio-system/istio-cni-node", "istio-system/ztunnel", "after TO's istiod", "no canary upgrade", "make e2e ISTIO_VERSION="} {
		if !strings.Contains(why, want) {
			t.Errorf("reason %q lacks %q", why, want)
		}
	}
}
