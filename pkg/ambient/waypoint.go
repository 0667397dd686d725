package ambient

import (
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// WaypointClass is the GatewayClass of Istio's waypoints (istio/istio
// pkg/config/constants WaypointGatewayClassName).
const WaypointClass = "istio-waypoint"

// GatewayNameLabel labels the pods istiod deploys for a Gateway, a waypoint's too
// (manifests/charts/istio-control/istio-discovery/files/waypoint.yaml).
const GatewayNameLabel = scenario.GatewayNameLabel

// Waypoint is a Gateway of class istio-waypoint in a bundle. How the harness
// creates it: as istio.io does. `istioctl waypoint apply` builds a Gateway of this
// class with one listener {name: mesh, port: 15008, protocol: HBONE} and
// server-side applies it (istio/istio istioctl/pkg/waypoint/waypoint.go); the
// scenario's bundle holds that Gateway (`istioctl waypoint generate` prints it) and
// the harness applies it like every bundle object (server-side apply), then waits
// for its pods. istiod's deployment controller turns it into a Deployment and a
// Service named after the Gateway itself, without the "-<class>" suffix a Gateway
// of class istio gets (pilot/pkg/config/kube/gatewaycommon/classinfo.go:
// DisableNameSuffix for the waypoint class; deploymentcontroller.go).
type Waypoint struct{ Name, Namespace string }

// Selector is the label selector of the waypoint's pods.
func (w Waypoint) Selector() string { return GatewayNameLabel + "=" + w.Name }

// Host is the waypoint Service's cluster-local host name.
func (w Waypoint) Host() string { return w.Name + "." + w.Namespace + ".svc.cluster.local" }

// Identity is the waypoint's SPIFFE identity (its ServiceAccount is named after
// the Gateway too: deploymentcontroller.go, ServiceAccount defaults to the same
// name), which ztunnel logs as dst.identity for a connection to it.
func (w Waypoint) Identity() string {
	return "spiffe://cluster.local/ns/" + w.Namespace + "/sa/" + w.Name
}

// Waypoints lists the bundle's Gateways of class istio-waypoint, in bundle order,
// each in the namespace the tiers apply it to.
func Waypoints(b scenario.Bundle, defaultNamespace string) []Waypoint {
	var out []Waypoint
	for _, g := range b.GatewaysOfClass(defaultNamespace, WaypointClass) {
		out = append(out, Waypoint{Name: g.Name, Namespace: g.Namespace})
	}
	return out
}
