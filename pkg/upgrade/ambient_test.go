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
	if !skip || !strings.Contains(why, "does not prove ambient scenarios yet") || !strings.Contains(why, "ztunnel") {
		t.Errorf("an ambient client: %v %q", skip, why)
	}
}
