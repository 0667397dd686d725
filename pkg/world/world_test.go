package world

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	kubeyaml "sigs.k8s.io/yaml"
)

// overlay is the part of fixtures/istio/egress.yaml (the IstioOperator the
// cluster tier installs) that the world describes.
type overlay struct {
	Spec struct {
		Profile    string `json:"profile"`
		MeshConfig struct {
			AccessLogFile         string `json:"accessLogFile"`
			AccessLogEncoding     string `json:"accessLogEncoding"`
			OutboundTrafficPolicy struct {
				Mode string `json:"mode"`
			} `json:"outboundTrafficPolicy"`
		} `json:"meshConfig"`
		Components struct {
			Pilot struct {
				K8s struct {
					Env []any `json:"env"`
				} `json:"k8s"`
			} `json:"pilot"`
			IngressGateways []struct {
				Enabled *bool `json:"enabled"`
			} `json:"ingressGateways"`
			EgressGateways []struct {
				Name    string            `json:"name"`
				Enabled *bool             `json:"enabled"`
				Label   map[string]string `json:"label"`
			} `json:"egressGateways"`
		} `json:"components"`
		Values struct {
			Pilot struct {
				Env map[string]any `json:"env"`
			} `json:"pilot"`
			Gateways map[string]struct {
				Type  string `json:"type"`
				Ports []struct {
					Name       string `json:"name"`
					Port       int    `json:"port"`
					TargetPort int    `json:"targetPort"`
				} `json:"ports"`
			} `json:"gateways"`
		} `json:"values"`
	} `json:"spec"`
}

// TestInstallOverlayIsTheWorld: the overlay the cluster tier installs must set up
// exactly the world the offline tier simulates.
func TestInstallOverlayIsTheWorld(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "istio", "egress.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Not strict: the overlay also sets what the world does not describe
	// (resource requests, autoscaling).
	var o overlay
	if err := kubeyaml.Unmarshal(data, &o); err != nil {
		t.Fatal(err)
	}
	sp := o.Spec
	if sp.Profile != Profile {
		t.Errorf("profile %q, want %q (no ingress gateway)", sp.Profile, Profile)
	}
	for _, g := range sp.Components.IngressGateways {
		if g.Enabled == nil || *g.Enabled {
			t.Errorf("the overlay enables an ingress gateway, which the world does not hold")
		}
	}
	m := MeshConfig()
	if got := (Mesh{OutboundTrafficPolicy: sp.MeshConfig.OutboundTrafficPolicy.Mode, AccessLogFile: sp.MeshConfig.AccessLogFile, AccessLogEncoding: sp.MeshConfig.AccessLogEncoding}); got != m {
		t.Errorf("meshConfig %+v, want %+v", got, m)
	}
	if len(sp.Components.Pilot.K8s.Env) > 0 || len(sp.Values.Pilot.Env) > len(PilotEnv()) {
		t.Errorf("the overlay sets istiod environment %v %v; the world's is %v", sp.Components.Pilot.K8s.Env, sp.Values.Pilot.Env, PilotEnv())
	}
	for k, v := range PilotEnv() {
		if sp.Values.Pilot.Env[k] != v {
			t.Errorf("istiod env %s = %v, want %q", k, sp.Values.Pilot.Env[k], v)
		}
	}

	gw := EgressGateway()
	if n := len(sp.Components.EgressGateways); n != 1 {
		t.Fatalf("%d egress gateways in the overlay, want 1", n)
	}
	eg := sp.Components.EgressGateways[0]
	if eg.Name != gw.Name || eg.Enabled == nil || !*eg.Enabled || !reflect.DeepEqual(eg.Label, gw.Labels) {
		t.Errorf("egress gateway %s enabled=%v labels %v, want %s enabled labels %v", eg.Name, eg.Enabled, eg.Label, gw.Name, gw.Labels)
	}
	vals, ok := sp.Values.Gateways[gw.Name]
	if !ok {
		t.Fatalf("values.gateways.%s missing: the Service ports must be pinned", gw.Name)
	}
	var ports []Port
	for _, p := range vals.Ports {
		ports = append(ports, Port{Name: p.Name, Port: p.Port, TargetPort: p.TargetPort})
	}
	if vals.Type != "ClusterIP" || !reflect.DeepEqual(ports, gw.Ports) {
		t.Errorf("egress gateway Service %s %+v, want ClusterIP %+v", vals.Type, ports, gw.Ports)
	}
}

func TestEgressGateway(t *testing.T) {
	g := EgressGateway()
	if g.Host() != "istio-egressgateway.istio-system.svc.cluster.local" {
		t.Errorf("host %s", g.Host())
	}
	if tp, ok := g.TargetPort(443); !ok || tp != 8443 {
		t.Errorf("443 -> %d %v", tp, ok)
	}
	if _, ok := g.TargetPort(8080); ok {
		t.Error("8080 is a target port, not a Service port")
	}
	if !g.HTTP2(80) || g.HTTP2(443) {
		t.Error("port 80 is named http2, 443 https")
	}
	g.Labels["x"] = "y"
	if _, ok := EgressGateway().Labels["x"]; ok {
		t.Error("EgressGateway must return a fresh copy")
	}
}

func TestGatewayAPIDeployment(t *testing.T) {
	g := GatewayAPIDeployment("cnn-egress-gateway", "ns", []Listener{
		{Name: "tls", Port: 443, Protocol: "TLS"}, {Name: "tls-again", Port: 443, Protocol: "TLS"}, {Name: "http", Port: 80, Protocol: "HTTP"},
	})
	want := Gateway{
		Name: "cnn-egress-gateway-istio", Namespace: "ns", Display: "Gateway API gateway cnn-egress-gateway",
		Labels: map[string]string{GatewayNameLabel: "cnn-egress-gateway", GatewayClassNameLabel: "istio"},
		Ports:  []Port{{Name: "tls", Port: 443, TargetPort: 443, AppProtocol: "tls"}, {Name: "http", Port: 80, TargetPort: 80, AppProtocol: "http"}},
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("got %+v\nwant %+v", g, want)
	}
}

func TestFor(t *testing.T) {
	w := For(Scenario{
		Clients:               []Client{{Workload: "sleep", Namespace: "a"}, {Workload: "other", Namespace: "b"}, {Workload: "third", Namespace: "a"}},
		OutboundTrafficPolicy: RegistryOnly,
		GatewayAPIGateways:    []GatewayAPIGateway{{Name: "gw", Namespace: "a", Listeners: []Listener{{Name: "http", Port: 80, Protocol: "HTTP"}}}},
	})
	if len(w.Gateways) != 2 || w.Gateways[0].Name != EgressGatewayName || w.Gateways[1].Name != "gw-istio" {
		t.Errorf("gateways %+v", w.Gateways)
	}
	if !reflect.DeepEqual(w.OutboundPolicies, []OutboundPolicy{{"a", RegistryOnly}, {"b", RegistryOnly}}) {
		t.Errorf("policies %+v", w.OutboundPolicies)
	}
	if !reflect.DeepEqual(w.Namespaces(), []string{IstioNamespace, "a", "b"}) || !reflect.DeepEqual(w.InjectedNamespaces(), []string{"a", "b"}) {
		t.Errorf("namespaces %v injected %v", w.Namespaces(), w.InjectedNamespaces())
	}
	if For(Scenario{Clients: []Client{{Workload: "sleep", Namespace: "a"}}}).OutboundPolicies[0].Mode != AllowAny {
		t.Error("the default mode is ALLOW_ANY")
	}
}
