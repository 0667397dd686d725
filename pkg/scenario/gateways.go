package scenario

import (
	"strings"

	kubeyaml "sigs.k8s.io/yaml"
)

// IstioGatewayClass is the GatewayClass whose Gateways istiod deploys itself.
const IstioGatewayClass = "istio"

// GatewayAPIGateway is a Kubernetes Gateway of class istio in a bundle: istiod's
// deployment controller turns it into a Deployment and Service "<name>-istio",
// pods labelled gateway.networking.k8s.io/gateway-name=<name>, one Service port
// per listener (pilot/pkg/config/kube/gatewaycommon, extractServicePorts).
type GatewayAPIGateway struct {
	Name, Namespace string
	Listeners       []GatewayListener
}

// GatewayListener is one listener of a Gateway.
type GatewayListener struct {
	Name     string
	Port     int
	Protocol string
}

// GatewayNameLabel labels the pods istiod deploys for a Gateway.
const GatewayNameLabel = "gateway.networking.k8s.io/gateway-name"

// ServiceName is the Service (and Deployment) istiod creates for the Gateway.
func (g GatewayAPIGateway) ServiceName() string { return g.Name + "-istio" }

// Host is that Service's cluster-local host name: what a client sidecar's upstream
// cluster names when it sends a request to this gateway.
func (g GatewayAPIGateway) Host() string {
	return g.ServiceName() + "." + g.Namespace + ".svc.cluster.local"
}

// GatewayAPIGateways lists the bundle's Gateways of class istio, in bundle order;
// a Gateway that names no namespace is in defaultNamespace, as the tiers apply it.
func (b Bundle) GatewayAPIGateways(defaultNamespace string) []GatewayAPIGateway {
	return b.GatewaysOfClass(defaultNamespace, IstioGatewayClass)
}

// GatewaysOfClass lists the bundle's Kubernetes Gateways of gatewayClassName
// class (istio, istio-waypoint…), in bundle order, each in the namespace the
// tiers apply it to: its own, else the apply entry's, else defaultNamespace.
func (b Bundle) GatewaysOfClass(defaultNamespace, class string) []GatewayAPIGateway {
	var out []GatewayAPIGateway
	for _, o := range b {
		if o.Kind != "Gateway" || !strings.HasPrefix(o.APIVersion, "gateway.networking.k8s.io/") {
			continue
		}
		var gw struct {
			Metadata struct{ Name, Namespace string }
			Spec     struct {
				GatewayClassName string `json:"gatewayClassName"`
				Listeners        []GatewayListener
			}
		}
		if err := kubeyaml.Unmarshal(o.YAML, &gw); err != nil || gw.Spec.GatewayClassName != class {
			continue
		}
		ns := gw.Metadata.Namespace
		if ns == "" {
			ns = o.Namespace
		}
		if ns == "" {
			ns = defaultNamespace
		}
		out = append(out, GatewayAPIGateway{Name: gw.Metadata.Name, Namespace: ns, Listeners: gw.Spec.Listeners})
	}
	return out
}
