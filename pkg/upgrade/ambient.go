package upgrade

import "github.com/egress-conformance/egress-conformance/pkg/scenario"

// AmbientSkipReason is why the upgrade gate does not prove a scenario with an
// ambient client, said plainly in the plan and the report instead of a pass:
// the gate lacks exactly what istio.io's ambient upgrade does.
//
// istio.io's order (istio/istio.io content/en/docs/ambient/upgrade/helm/
// index.md): the CRDs, then istiod, then the istio-cni node agent and the
// ztunnel DaemonSet ("the control plane must be upgraded before Istio CNI",
// "… before ztunnel": each is compatible with a control plane one minor
// newer), then the gateways, waypoints following their istio.io/rev tag. Its
// doc test (helm/inplace_test.sh) runs istiod, ztunnel, istio-cni, the
// gateway, each waited for; the page orders istio-cni before ztunnel, so
// only "after istiod" is certain. Neither DaemonSet has a canary upgrade,
// "even with the use of revisions", and upgrading ztunnel resets the node's
// long-lived TCP connections.
//
// What the gate would need, and lacks:
//   - its installs (ActInstall, FROM and TO) do not add fixtures/istio/ambient.yaml,
//     so FROM runs no ztunnel or istio-cni at all;
//   - no action waits, after TO's istiod, for DaemonSets istio-system/istio-cni-node
//     and istio-system/ztunnel to roll out TO (ambient.WaitDaemonSets does it at
//     bring-up, for one version);
//   - ActCheckProxies reads the egress gateway's and the clients' istio-proxy
//     only: nothing checks that ztunnel, istio-cni and the waypoints run TO;
//   - the canary strategy relabels client namespaces to the new revision
//     (ActRelabel), which moves no ambient client: ztunnel serves every
//     revision on a node, so a canary phase would prove the old node agents.
const AmbientSkipReason = "the upgrade gate does not prove ambient scenarios: its installs lack the ambient overlay " +
	"(fixtures/istio/ambient.yaml), no action waits after TO's istiod for DaemonSets istio-system/istio-cni-node and " +
	"istio-system/ztunnel to roll out TO (istio.io upgrades them in place after istiod: docs/ambient/upgrade/helm), " +
	"its proxy check reads sidecars and the egress gateway, not ztunnel, istio-cni or waypoints, and its canary " +
	"strategy has nothing to move (ztunnel and istio-cni have no canary upgrade, even with revisions); prove them with " +
	"make e2e ISTIO_VERSION=<FROM> and again with <TO>"

// SkipAmbient reports whether the gate skips s because it has an ambient client.
func SkipAmbient(s *scenario.Scenario) (string, bool) {
	if s.Ambient() {
		return AmbientSkipReason, true
	}
	return "", false
}
