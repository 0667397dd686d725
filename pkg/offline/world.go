package offline

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// The simulated cluster: what an istioctl-installed mesh with an egress gateway and
// the scenario's client look like to istiod. Istio's fake registry does not default
// anything (FACTS.md), so every object states its protocol, targetPort, pod IP and
// readiness, exactly as the API server would have filled them in on kind.
const (
	// IstioNamespace is where istioctl installs istiod and the gateways.
	IstioNamespace = "istio-system"
	// EgressGatewayName is the Deployment/Service name istioctl gives the egress gateway.
	EgressGatewayName = "istio-egressgateway"
	// EgressGatewayHost is the egress gateway Service's cluster-local host name.
	EgressGatewayHost = EgressGatewayName + "." + IstioNamespace + ".svc.cluster.local"

	clientClusterIP = "10.96.100.10"
	clientPodIP     = "10.244.0.10"
	// externalAddress is where the client believes the external host is: an address
	// from TEST-NET-3 (RFC 5737), so it never collides with a simulated Service.
	externalAddress = "203.0.113.10"
)

// egressGatewayLabels are the pod labels of the istioctl egress gateway
// (manifests/charts/gateways/istio-egress/values.yaml).
var egressGatewayLabels = map[string]string{"app": "istio-egressgateway", "istio": "egressgateway"}

// gatewayPort is one port of a gateway Service. For istioctl's egress gateway the
// Gateway server's port is the Service port and Envoy listens on the targetPort;
// Gateway API deployments listen on the listener port itself.
type gatewayPort struct {
	Name        string
	Port        int
	TargetPort  int
	AppProtocol string
}

// gatewayDeployment is one egress gateway the simulated cluster runs: a Service,
// a ready Pod and an EndpointSlice, and the Router proxy istiod configures.
type gatewayDeployment struct {
	// Name names the Deployment, Service and pod; Display is how hops name it.
	Name, Namespace, Display string
	Labels                   map[string]string
	Ports                    []gatewayPort
	ClusterIP, PodIP         string
}

// Host is the gateway Service's cluster-local host name, which a client sidecar's
// upstream cluster names when it sends a request to this gateway.
func (g gatewayDeployment) Host() string {
	return g.Name + "." + g.Namespace + ".svc.cluster.local"
}

// targetPort maps a Service port to the port Envoy listens on.
func (g gatewayDeployment) targetPort(port int) (int, bool) {
	for _, p := range g.Ports {
		if p.Port == port {
			return p.TargetPort, true
		}
	}
	return 0, false
}

// http2 reports whether the sidecar speaks HTTP/2 to this Service port: Istio picks
// the protocol from appProtocol, else from the port name's prefix.
func (g gatewayDeployment) http2(port int) bool {
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

// istioctlEgressGateway is the gateway fixtures/istio/egress.yaml installs.
var istioctlEgressGateway = gatewayDeployment{
	Name: EgressGatewayName, Namespace: IstioNamespace, Display: "egress gateway",
	Labels: egressGatewayLabels,
	Ports: []gatewayPort{
		{Name: "http2", Port: 80, TargetPort: 8080},
		{Name: "https", Port: 443, TargetPort: 8443},
	},
	ClusterIP: "10.96.200.10", PodIP: "10.244.0.20",
}

// gatewayAPIDeployments models what Istio's Gateway API deployment controller
// creates for each Gateway of class istio in the bundle (scenario.GatewayAPIGateway):
// Service ports named after the listeners with appProtocol = the listener's
// protocol, Envoy bound to the listener port (manifests/.../files/kube-gateway.yaml).
func gatewayAPIDeployments(b scenario.Bundle, namespace string) []gatewayDeployment {
	var out []gatewayDeployment
	for i, gw := range b.GatewayAPIGateways(namespace) {
		d := gatewayDeployment{
			Name: gw.ServiceName(), Namespace: gw.Namespace,
			Display: "Gateway API gateway " + gw.Name,
			Labels: map[string]string{
				scenario.GatewayNameLabel:                      gw.Name,
				"gateway.networking.k8s.io/gateway-class-name": scenario.IstioGatewayClass,
			},
			ClusterIP: fmt.Sprintf("10.96.200.%d", 11+i),
			PodIP:     fmt.Sprintf("10.244.0.%d", 21+i),
		}
		seen := map[int]bool{}
		for _, l := range gw.Listeners {
			if seen[l.Port] {
				continue
			}
			seen[l.Port] = true
			d.Ports = append(d.Ports, gatewayPort{Name: l.Name, Port: l.Port, TargetPort: l.Port, AppProtocol: strings.ToLower(l.Protocol)})
		}
		out = append(out, d)
	}
	return out
}

// gatewaysFor lists every egress gateway of the simulated cluster for a bundle.
func gatewaysFor(s *scenario.Scenario, b scenario.Bundle) []gatewayDeployment {
	return append([]gatewayDeployment{istioctlEgressGateway}, gatewayAPIDeployments(b, s.Namespace())...)
}

// simulatedWorkload is one Service with a ready Pod and its EndpointSlice: how
// the simulated cluster holds both the egress gateways and the clients.
type simulatedWorkload struct {
	Name, Namespace  string
	Labels           map[string]string // pod labels, also the Service's selector
	Annotations      map[string]string
	Containers       []string
	Ports            []gatewayPort
	ClusterIP, PodIP string
}

// worldTemplate renders the registry objects: the namespaces (each client's
// labelled for injection, as the cluster tier labels it) and every workload.
// Client pods carry the istio-proxy container and the sidecar status annotation so
// that analyzers see an injected workload.
var worldTemplate = template.Must(template.New("world").Parse(`{{define "workload"}}
---
apiVersion: v1
kind: Service
metadata:
  name: {{.Name}}
  namespace: {{.Namespace}}
  labels:
{{- range $k, $v := .Labels}}
    {{$k}}: {{$v}}
{{- end}}
spec:
  type: ClusterIP
  clusterIP: {{.ClusterIP}}
  selector:
{{- range $k, $v := .Labels}}
    {{$k}}: {{$v}}
{{- end}}
  ports:
{{- range .Ports}}
  - name: {{.Name}}
    port: {{.Port}}
    targetPort: {{.TargetPort}}
    protocol: TCP
{{- if .AppProtocol}}
    appProtocol: {{.AppProtocol}}
{{- end}}
{{- end}}
---
apiVersion: v1
kind: Pod
metadata:
  name: {{.Name}}-0
  namespace: {{.Namespace}}
  labels:
{{- range $k, $v := .Labels}}
    {{$k}}: {{$v}}
{{- end}}
{{- if .Annotations}}
  annotations:
{{- range $k, $v := .Annotations}}
    {{$k}}: '{{$v}}'
{{- end}}
{{- end}}
spec:
  serviceAccountName: {{.Name}}
  containers:
{{- range .Containers}}
  - name: {{.}}
    image: {{.}}
{{- end}}
status:
  phase: Running
  podIP: {{.PodIP}}
  podIPs:
  - ip: {{.PodIP}}
  conditions:
  - type: Ready
    status: "True"
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {{.Name}}-0
  namespace: {{.Namespace}}
  labels:
    kubernetes.io/service-name: {{.Name}}
addressType: IPv4
endpoints:
- addresses:
  - {{.PodIP}}
  conditions:
    ready: true
  targetRef:
    kind: Pod
    name: {{.Name}}-0
    namespace: {{.Namespace}}
ports:
{{- range .Ports}}
- name: {{.Name}}
  port: {{.TargetPort}}
  protocol: TCP
{{- end}}
{{- end}}apiVersion: v1
kind: Namespace
metadata:
  name: {{.IstioNamespace}}
{{- range .Namespaces}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: {{.}}
  labels:
    istio-injection: enabled
{{- end}}
{{- range .Workloads}}{{template "workload" .}}{{end}}
`))

// simulatedClient is a client workload of the simulated cluster.
type simulatedClient struct {
	scenario.ClientRef
	ClusterIP, PodIP string
}

// clientsFor places every client of the scenario, its own first.
func clientsFor(s *scenario.Scenario) []simulatedClient {
	var out []simulatedClient
	for i, c := range s.ClientRefs() {
		out = append(out, simulatedClient{ClientRef: c,
			ClusterIP: fmt.Sprintf("10.96.100.%d", 10+i), PodIP: fmt.Sprintf("10.244.1.%d", 10+i)})
	}
	return out
}

// world renders the registry objects for a scenario's step as Kubernetes YAML.
func world(s *scenario.Scenario, gateways []gatewayDeployment) string {
	var namespaces []string
	var workloads []simulatedWorkload
	for _, g := range gateways {
		workloads = append(workloads, simulatedWorkload{Name: g.Name, Namespace: g.Namespace, Labels: g.Labels,
			Containers: []string{"istio-proxy"}, Ports: g.Ports, ClusterIP: g.ClusterIP, PodIP: g.PodIP})
	}
	for _, c := range clientsFor(s) {
		namespaces = append(namespaces, c.Namespace)
		workloads = append(workloads, simulatedWorkload{Name: c.Workload, Namespace: c.Namespace,
			Labels:      map[string]string{"app": c.Workload, "security.istio.io/tlsMode": "istio"},
			Annotations: map[string]string{"sidecar.istio.io/status": `{"containers":["istio-proxy"]}`},
			Containers:  []string{c.Workload, "istio-proxy"},
			Ports:       []gatewayPort{{Name: "http", Port: 80, TargetPort: 80}},
			ClusterIP:   c.ClusterIP, PodIP: c.PodIP})
	}
	var b bytes.Buffer
	err := worldTemplate.Execute(&b, map[string]any{
		"IstioNamespace": IstioNamespace,
		"Namespaces":     namespaces,
		"Workloads":      workloads,
	})
	if err != nil {
		// The template and its inputs are ours; failing here is a programming error.
		panic(fmt.Sprintf("offline: rendering the simulated cluster: %v", err))
	}
	return b.String()
}
