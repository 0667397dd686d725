package upgrade

import "github.com/egress-conformance/egress-conformance/pkg/scenario"

// AmbientSkipReason is why the upgrade gate does not prove a scenario with an
// ambient client, said plainly in the plan and the report instead of a pass.
//
// The gate's strategies upgrade sidecars: the canary strategy moves client
// namespaces from istio-injection=enabled to istio.io/rev=<revision> and
// restarts the clients, and every phase checks that each client pod's
// istio-proxy runs the expected version (ActRelabel, ActRestartClients,
// ActCheckProxies). An ambient client has no proxy of its own: its data plane is
// the ztunnel and istio-cni DaemonSets and its waypoints. istio.io documents
// upgrading those in place, istiod first and then the node agents ("the control
// plane must be upgraded before ztunnel", likewise before istio-cni; istio/istio.io
// content/en/docs/ambient/upgrade/, the helm-upgrade and helm pages), with waypoints following their
// istio.io/rev label; none of that is an action of the gate yet, and a canary
// revision does not move ztunnel, which serves every revision on a node.
const AmbientSkipReason = "the upgrade gate does not prove ambient scenarios yet: its strategies relabel, restart and " +
	"check sidecar clients, while an ambient client's data plane is ztunnel, istio-cni (DaemonSets istio.io upgrades in " +
	"place after istiod) and its waypoints, which no gate action upgrades or checks; prove it with make e2e on each version"

// SkipAmbient reports whether the gate skips s because it has an ambient client.
func SkipAmbient(s *scenario.Scenario) (string, bool) {
	if s.Ambient() {
		return AmbientSkipReason, true
	}
	return "", false
}
