// Package world is the one description of the world the harness installs and
// tests in: the mesh-wide settings and istiod flags of the Istio install, the
// egress gateways (istioctl's, and one per Gateway API Gateway of class istio),
// the client workloads and the per-namespace Sidecar that sets a scenario's
// outbound traffic policy. Both tiers render their cluster from it: the offline
// tier's simulated cluster (pkg/offline) and the cluster tier's install
// (fixtures/istio/egress.yaml, pkg/mesh), so that what one tier proves holds in
// the other. world_test.go checks the install overlay against it.
//
// What the world does not hold matters as much: there is no ingress gateway
// (profile minimal), so nothing answers to `istio: ingressgateway`.
//
// The package is pure: no Kubernetes or Istio imports, so every tier, the plan
// and the install overlay can use it.
package world

import (
	"maps"
	"strings"
)

// IstioNamespace is where the install puts istiod and istioctl's egress gateway.
const IstioNamespace = "istio-system"

// Profile is the istioctl profile the install overlay starts from: istiod only,
// no ingress gateway. The overlay adds the egress gateway and nothing else.
const Profile = "minimal"

// Mesh is the mesh-wide configuration (MeshConfig) the install sets; everything
// else is Istio's default.
type Mesh struct {
	// OutboundTrafficPolicy is the mesh-wide mode. Scenarios set their own per
	// namespace with a Sidecar (OutboundPolicySidecarName).
	OutboundTrafficPolicy string
	// AccessLogFile and AccessLogEncoding make every proxy log each request in
	// Istio's default TEXT format, the evidence the cluster tier reads.
	AccessLogFile     string
	AccessLogEncoding string
}

// Outbound traffic policy modes.
const (
	AllowAny     = "ALLOW_ANY"
	RegistryOnly = "REGISTRY_ONLY"
)

// MeshConfig is the mesh-wide configuration of the installed world.
func MeshConfig() Mesh {
	return Mesh{OutboundTrafficPolicy: AllowAny, AccessLogFile: "/dev/stdout", AccessLogEncoding: "TEXT"}
}

// PilotEnv is the environment the install sets on istiod beyond the chart's
// defaults: none. Nothing the scenarios use needs a feature flag; in particular
// Istio 1.31 watches TLSRoute (v1) without PILOT_ENABLE_ALPHA_GATEWAY_API, which
// adds only UDPRoute and XBackendTrafficPolicy (pkg/config/schema/collections,
// pilotGatewayAPI vs pilotStableGatewayAPI; pilot/pkg/config/kube/gateway/controller.go).
func PilotEnv() map[string]string { return map[string]string{} }

// Port is one port of a gateway Service: clients call Port, Envoy listens on
// TargetPort. AppProtocol, when set, decides the protocol; else the name's prefix.
type Port struct {
	Name        string
	Port        int
	TargetPort  int
	AppProtocol string
}

// Gateway is an egress gateway the world runs: a Deployment and a Service of
// the same name, whose pods carry Labels (also the Service's selector).
type Gateway struct {
	Name, Namespace string
	// Display is how reports name it ("egress gateway").
	Display string
	Labels  map[string]string
	Ports   []Port
}

// Host is the gateway Service's cluster-local host name: what a client sidecar's
// upstream cluster names when it sends a request to this gateway.
func (g Gateway) Host() string { return g.Name + "." + g.Namespace + ".svc.cluster.local" }

// TargetPort maps a Service port to the port Envoy listens on.
func (g Gateway) TargetPort(port int) (int, bool) {
	for _, p := range g.Ports {
		if p.Port == port {
			return p.TargetPort, true
		}
	}
	return 0, false
}

// HTTP2 reports whether a sidecar speaks HTTP/2 to this Service port: Istio picks
// the protocol from appProtocol, else from the port name's prefix.
func (g Gateway) HTTP2(port int) bool {
	for _, p := range g.Ports {
		if p.Port != port {
			continue
		}
		proto := p.AppProtocol
		if proto == "" {
			proto, _, _ = strings.Cut(p.Name, "-")
		}
		switch strings.ToLower(proto) {
		case "http2", "grpc", "h2c", "kubernetes.io/h2c":
			return true
		}
	}
	return false
}

// Selector is the label selector that picks the gateway's pods, as a Gateway's
// spec.selector or an AuthorizationPolicy's selector would write it.
func (g Gateway) Selector() map[string]string { return maps.Clone(g.Labels) }

// EgressGatewayName is istioctl's egress gateway Deployment and Service name.
const EgressGatewayName = "istio-egressgateway"

// EgressGateway is istioctl's egress gateway as the install overlay sets it up:
// labels app=istio-egressgateway and istio=egressgateway (the chart's,
// manifests/charts/gateways/istio-egress/values.yaml, pinned on the component),
// a ClusterIP Service 80→8080 (http2) and 443→8443 (https).
func EgressGateway() Gateway {
	return Gateway{
		Name: EgressGatewayName, Namespace: IstioNamespace, Display: "egress gateway",
		Labels: map[string]string{"app": "istio-egressgateway", "istio": "egressgateway"},
		Ports: []Port{
			{Name: "http2", Port: 80, TargetPort: 8080},
			{Name: "https", Port: 443, TargetPort: 8443},
		},
	}
}

// Gateway API names istiod's deployment controller uses.
const (
	// IstioGatewayClass is the GatewayClass whose Gateways istiod deploys itself.
	IstioGatewayClass = "istio"
	// GatewayNameLabel and GatewayClassNameLabel label the pods istiod deploys.
	GatewayNameLabel      = "gateway.networking.k8s.io/gateway-name"
	GatewayClassNameLabel = "gateway.networking.k8s.io/gateway-class-name"
)

// Listener is one listener of a Gateway API Gateway.
type Listener struct {
	Name     string
	Port     int
	Protocol string
}

// GatewayAPIDeployment is what istiod's deployment controller runs for a Gateway
// of class istio: Deployment and Service "<name>-istio", pods labelled with the
// Gateway's and the class's name, one Service port per listener port named after
// the listener with appProtocol = its protocol, Envoy bound to the listener port
// (pilot/pkg/config/kube/gatewaycommon, extractServicePorts;
// manifests/charts/istio-control/istio-discovery/files/kube-gateway.yaml).
func GatewayAPIDeployment(name, namespace string, listeners []Listener) Gateway {
	g := Gateway{
		Name: name + "-istio", Namespace: namespace,
		Display: "Gateway API gateway " + name,
		Labels:  map[string]string{GatewayNameLabel: name, GatewayClassNameLabel: IstioGatewayClass},
	}
	seen := map[int]bool{}
	for _, l := range listeners {
		if seen[l.Port] {
			continue
		}
		seen[l.Port] = true
		g.Ports = append(g.Ports, Port{Name: l.Name, Port: l.Port, TargetPort: l.Port, AppProtocol: strings.ToLower(l.Protocol)})
	}
	return g
}

// Client is a client workload the harness deploys (fixtures/workloads/<Workload>.yaml)
// in a namespace it labels for sidecar injection.
type Client struct {
	Workload, Namespace string
	// Injected: the namespace carries istio-injection=enabled, so the client
	// runs Istio's sidecar. Always true for the clients the harness deploys.
	Injected bool
	// Ambient: the client is in ambient mode; its namespace carries
	// istio.io/dataplane-mode=ambient and it runs no sidecar.
	Ambient bool
}

// DataplaneModeLabel is the namespace label that enrols its pods in ambient
// mode (value ambient), istio.io's `kubectl label namespace ...
// istio.io/dataplane-mode=ambient`.
const DataplaneModeLabel = "istio.io/dataplane-mode"

// AmbientNamespaces are the namespaces labelled istio.io/dataplane-mode=ambient.
func (w World) AmbientNamespaces() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range w.Clients {
		if c.Ambient && !seen[c.Namespace] {
			seen[c.Namespace] = true
			out = append(out, c.Namespace)
		}
	}
	return out
}

// InjectionLabel is the label that turns sidecar injection on in a namespace.
const InjectionLabel = "istio-injection"

// OutboundPolicySidecarName is the Sidecar (no workloadSelector: the namespace's
// default) the harness puts in every client namespace to set the scenario's
// outbound traffic policy; pkg/mesh.Sidecar renders it.
const OutboundPolicySidecarName = "egress-conformance-outbound"

// OutboundPolicy is that Sidecar for one namespace.
type OutboundPolicy struct {
	Namespace string
	// Mode is AllowAny or RegistryOnly.
	Mode string
}

// Scenario is what a scenario brings to the world.
type Scenario struct {
	// Clients are its client workloads, its own first.
	Clients []Client
	// OutboundTrafficPolicy is its mode ("" is AllowAny).
	OutboundTrafficPolicy string
	// GatewayAPIGateways are its bundle's Gateways of class istio, in bundle
	// order, keyed by name and namespace.
	GatewayAPIGateways []GatewayAPIGateway
}

// GatewayAPIGateway is a Gateway of class istio in a scenario's bundle.
type GatewayAPIGateway struct {
	Name, Namespace string
	Listeners       []Listener
}

// World is the installed world while one scenario runs.
type World struct {
	Mesh     Mesh
	PilotEnv map[string]string
	// Gateways: istioctl's egress gateway first, then one per Gateway API
	// Gateway of class istio.
	Gateways []Gateway
	Clients  []Client
	// OutboundPolicies has one Sidecar per client namespace, except ambient
	// ones.
	OutboundPolicies []OutboundPolicy
}

// For is the world a scenario runs in.
func For(s Scenario) World {
	mode := s.OutboundTrafficPolicy
	if mode == "" {
		mode = AllowAny
	}
	w := World{Mesh: MeshConfig(), PilotEnv: PilotEnv(), Gateways: []Gateway{EgressGateway()}}
	for _, g := range s.GatewayAPIGateways {
		w.Gateways = append(w.Gateways, GatewayAPIDeployment(g.Name, g.Namespace, g.Listeners))
	}
	seen := map[string]bool{}
	for _, c := range s.Clients {
		c.Injected = !c.Ambient
		w.Clients = append(w.Clients, c)
		// A Sidecar resource configures sidecars only: an ambient namespace
		// has none, and istioctl analyze warns that the policy has no impact
		// there (IST0167). ztunnel has no outbound traffic policy.
		if c.Ambient {
			continue
		}
		if !seen[c.Namespace] {
			seen[c.Namespace] = true
			w.OutboundPolicies = append(w.OutboundPolicies, OutboundPolicy{Namespace: c.Namespace, Mode: mode})
		}
	}
	return w
}

// Namespaces are the namespaces the world holds before any bundle: Istio's and
// each client's, in that order.
func (w World) Namespaces() []string {
	out := []string{IstioNamespace}
	seen := map[string]bool{IstioNamespace: true}
	for _, c := range w.Clients {
		if !seen[c.Namespace] {
			seen[c.Namespace] = true
			out = append(out, c.Namespace)
		}
	}
	return out
}

// InjectedNamespaces are the namespaces labelled for sidecar injection.
func (w World) InjectedNamespaces() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range w.Clients {
		if c.Injected && !seen[c.Namespace] {
			seen[c.Namespace] = true
			out = append(out, c.Namespace)
		}
	}
	return out
}
