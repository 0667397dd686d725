package ambient

import (
	"fmt"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Needed reports whether any scenario has an ambient client: only then does the
// run install ambient's components (the overlay, the node agents' wait).
func Needed(scenarios []*scenario.Scenario) bool {
	for _, s := range scenarios {
		if s.Ambient() {
			return true
		}
	}
	return false
}

// InstallNote says, for the plan, what an ambient run adds to the install.
func InstallNote() string {
	return fmt.Sprintf("a scenario has an ambient client: %s is added to the install (istio-cni and ztunnel, Istio's ambient profile); "+
		"then DaemonSets %s and %s ready on every node; waypoints are Gateways, so the Gateway API CRDs (GATEWAY_API_VERSION %s) "+
		"are installed when a bundle holds one", OverlayFile, CNI, Ztunnel, versions.Pins["GATEWAY_API_VERSION"])
}

// NamespaceLabelsNote renders an ambient client namespace's labels for the plan.
func NamespaceLabelsNote() string {
	return DataplaneModeLabel + "=" + DataplaneModeAmbient + " (no injection label)"
}

// ClientNote says, for the plan, what makes an ambient client ready.
func ClientNote() string {
	return "Ready without an istio-proxy container, annotated " + RedirectionAnnotation + "=" + RedirectionEnabled +
		" by istio-cni (its traffic goes through ztunnel)"
}

// WaypointsNote says, for the plan, which waypoints a step's bundle declares and
// how the run waits for them; "" when there are none.
func WaypointsNote(ws []Waypoint) string {
	var parts []string
	for _, w := range ws {
		parts = append(parts, fmt.Sprintf("Gateway %s/%s of class %s, applied from the bundle as `istioctl waypoint apply` would (server-side apply); "+
			"wait for its pods (%s in %s) Running with istio-proxy", w.Namespace, w.Name, WaypointClass, w.Selector(), w.Namespace))
	}
	return strings.Join(parts, "; ")
}

// EvidenceNote says, for the plan, where an ambient client's evidence is read.
func EvidenceNote(ws []Waypoint) string {
	note := "ztunnel's outbound line on the client's node (pod " + ZtunnelSelector + " in " + Ztunnel.Namespace +
		" whose node is the client's, container istio-proxy), found by src.addr = curl's local address"
	if len(ws) == 0 {
		return note + "; no waypoint in the bundle"
	}
	var w []string
	for _, x := range ws {
		w = append(w, fmt.Sprintf("%s (pods %s in %s)", x.Host(), x.Selector(), x.Namespace))
	}
	return note + "; waypoint logs of " + strings.Join(w, "; ") + ", found by x-request-id or the probe token"
}
