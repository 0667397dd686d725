package deploy

import (
	"fmt"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Unsupported says which parts of a scenario the cluster tier cannot run yet, so
// that the suites skip it with that reason instead of running something other
// than what the scenario states: a step that deletes files would leave their
// objects in place (ApplyBundle only applies), and a client declared without a
// sidecar would still get one (clients are deployed into injected namespaces).
// The offline tier runs such scenarios; the report says why the cluster did not.
func Unsupported(s *scenario.Scenario) (string, bool) {
	var why []string
	for _, st := range s.Steps {
		if len(st.Delete) > 0 {
			why = append(why, fmt.Sprintf("step %s deletes %s", st.Name, strings.Join(st.Delete, ", ")))
		}
	}
	for _, c := range s.ClientRefs() {
		// An ambient client runs no sidecar by design; the cluster tier deploys
		// it into an enrolled namespace (pkg/ambient).
		if !c.Injected && !c.Ambient() {
			why = append(why, fmt.Sprintf("client %s runs without a sidecar", c.Name))
		}
	}
	if len(why) == 0 {
		return "", false
	}
	return "the cluster tier cannot run this yet (" + strings.Join(why, "; ") + "); the offline tier does", true
}
