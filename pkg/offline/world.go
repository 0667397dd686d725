package offline

import (
	"bytes"
	"fmt"
	"text/template"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/world"
)

// The simulated cluster is the installed world (pkg/world) as istiod sees it on
// kind: every object states its protocol, targetPort, pod IP and readiness,
// because Istio's fake registry defaults nothing, exactly as the API server would
// have filled them in. Only the addresses are the offline tier's own.
const (
	// IstioNamespace is where the install puts istiod and the egress gateway.
	IstioNamespace = world.IstioNamespace
	// EgressGatewayName is the Deployment/Service name of istioctl's egress gateway.
	EgressGatewayName = world.EgressGatewayName

	// externalAddress is where the client believes the external host is: an address
	// from TEST-NET-3 (RFC 5737), so it never collides with a simulated Service.
	externalAddress = "203.0.113.10"
)

// gatewayDeployment is one egress gateway of the world with the addresses the
// simulated cluster gives it: a Service, a ready Pod and an EndpointSlice, and the
// Router proxy istiod configures.
type gatewayDeployment struct {
	world.Gateway
	ClusterIP, PodIP string
}

// worldFor is the installed world while step bundle b of s runs.
func worldFor(s *scenario.Scenario, b scenario.Bundle) world.World {
	in := world.Scenario{OutboundTrafficPolicy: string(s.Mesh.OutboundTrafficPolicy)}
	for _, c := range s.ClientRefs() {
		in.Clients = append(in.Clients, world.Client{Workload: c.Workload, Namespace: c.Namespace, Ambient: c.Ambient()})
	}
	for _, gw := range b.GatewayAPIGateways(s.Namespace()) {
		g := world.GatewayAPIGateway{Name: gw.Name, Namespace: gw.Namespace}
		for _, l := range gw.Listeners {
			g.Listeners = append(g.Listeners, world.Listener{Name: l.Name, Port: l.Port, Protocol: l.Protocol})
		}
		in.GatewayAPIGateways = append(in.GatewayAPIGateways, g)
	}
	w := world.For(in)
	// world.For installs every client with a sidecar; the scenario says which
	// do not run one (the clients are in the same order).
	for i, c := range s.ClientRefs() {
		w.Clients[i].Injected = c.Injected
		w.Clients[i].Ambient = c.Ambient()
	}
	return w
}

// gatewaysFor places every egress gateway of the world: istioctl's first, then
// one per Gateway API Gateway of class istio.
func gatewaysFor(w world.World) []gatewayDeployment {
	out := make([]gatewayDeployment, 0, len(w.Gateways))
	for i, g := range w.Gateways {
		out = append(out, gatewayDeployment{Gateway: g,
			ClusterIP: fmt.Sprintf("10.96.200.%d", 10+i), PodIP: fmt.Sprintf("10.244.0.%d", 20+i)})
	}
	return out
}

// simulatedWorkload is one Service with a ready Pod and its EndpointSlice: how
// the simulated cluster holds both the egress gateways and the clients.
type simulatedWorkload struct {
	Name, Namespace  string
	Labels           map[string]string // pod labels, also the Service's selector
	Annotations      map[string]string
	Containers       []string
	Ports            []world.Port
	ClusterIP, PodIP string
}

// worldTemplate renders the registry objects: the namespaces (labelled for
// injection as the cluster tier labels them) and every workload.
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
    {{$k}}: '{{$v}}'
{{- end}}
spec:
  type: ClusterIP
  clusterIP: {{.ClusterIP}}
  selector:
{{- range $k, $v := .Labels}}
    {{$k}}: '{{$v}}'
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
    {{$k}}: '{{$v}}'
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
{{- end}}
{{- range .Namespaces}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: {{.Name}}
{{- if .Injected}}
  labels:
    {{$.InjectionLabel}}: enabled
{{- else if .Ambient}}
  labels:
    {{$.DataplaneModeLabel}}: ambient
{{- end}}
{{- end}}
{{- range .Workloads}}{{template "workload" .}}{{end}}
`))

// simulatedClient is a client workload of the simulated cluster.
type simulatedClient struct {
	world.Client
	ClusterIP, PodIP string
}

// clientLabels are a client pod's labels on the cluster: app=<workload> (every
// fixture under fixtures/workloads/ labels its pods so), the label Istio's
// injection webhook adds to an injected pod, and the opt-out label pkg/deploy
// Uninjected sets on a sidecar-mode client without a sidecar. The simulated
// cluster (render) and the NetworkPolicy matcher (clientPeer) both use them.
func clientLabels(c simulatedClient) map[string]string {
	labels := map[string]string{"app": c.Workload}
	switch {
	case c.Injected:
		labels["security.istio.io/tlsMode"] = "istio"
	case !c.Ambient:
		labels[scenario.InjectLabel] = "false"
	}
	return labels
}

// clientsFor places every client of the world, the scenario's own first.
func clientsFor(w world.World) []simulatedClient {
	var out []simulatedClient
	for i, c := range w.Clients {
		out = append(out, simulatedClient{Client: c,
			ClusterIP: fmt.Sprintf("10.96.100.%d", 10+i), PodIP: fmt.Sprintf("10.244.1.%d", 10+i)})
	}
	return out
}

// render renders the world's registry objects as Kubernetes YAML: Istio's
// namespace, the client namespaces (labelled for injection when the world injects
// them), the gateways and the clients.
func render(w world.World, gateways []gatewayDeployment) string {
	var workloads []simulatedWorkload
	for _, g := range gateways {
		workloads = append(workloads, simulatedWorkload{Name: g.Name, Namespace: g.Namespace, Labels: g.Labels,
			Containers: []string{"istio-proxy"}, Ports: g.Ports, ClusterIP: g.ClusterIP, PodIP: g.PodIP})
	}
	for _, c := range clientsFor(w) {
		cw := simulatedWorkload{Name: c.Workload, Namespace: c.Namespace,
			Labels:     clientLabels(c),
			Containers: []string{c.Workload},
			Ports:      []world.Port{{Name: "http", Port: 80, TargetPort: 80}},
			ClusterIP:  c.ClusterIP, PodIP: c.PodIP}
		if c.Injected {
			// What Istio's injection webhook adds.
			cw.Annotations = map[string]string{"sidecar.istio.io/status": `{"containers":["istio-proxy"]}`}
			cw.Containers = append(cw.Containers, "istio-proxy")
		}
		workloads = append(workloads, cw)
	}
	var b bytes.Buffer
	injected := map[string]bool{}
	for _, ns := range w.InjectedNamespaces() {
		injected[ns] = true
	}
	ambient := map[string]bool{}
	for _, ns := range w.AmbientNamespaces() {
		ambient[ns] = true
	}
	var namespaces []map[string]any
	for _, ns := range w.Namespaces() {
		namespaces = append(namespaces, map[string]any{"Name": ns, "Injected": injected[ns], "Ambient": ambient[ns]})
	}
	err := worldTemplate.Execute(&b, map[string]any{
		"InjectionLabel":     world.InjectionLabel,
		"DataplaneModeLabel": world.DataplaneModeLabel,
		"Namespaces":         namespaces,
		"Workloads":          workloads,
	})
	if err != nil {
		// The template and its inputs are ours; failing here is a programming error.
		panic(fmt.Sprintf("offline: rendering the simulated cluster: %v", err))
	}
	return b.String()
}
