package offline

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	knetworkingv1 "k8s.io/api/networking/v1"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/world"
)

// NetworkPolicy is not Istio's: the Kubernetes network plugin enforces it on the
// connections a pod opens, whatever its sidecar decided. The offline tier asks
// the NetworkPolicy matcher of github.com/mattfenwick/cyclonus (pkg/matcher, the
// engine of the network-policy-api project's policy assistant; see
// docs/networkpolicy-offline.md for why this library) about each connection the
// step's request makes, on the pods, namespaces and addresses of the simulated
// cluster. Nothing here restates the NetworkPolicy semantics: which policies
// select a pod, how peers, namespaces, ipBlocks and ports match, and that a
// connection needs the source's egress and the destination's ingress, are the
// matcher's.

// The pods of the installed world the offline tier gives addresses to besides
// the gateways and clients (render places those): istiod and CoreDNS, as kind
// and istioctl label them.
var (
	// istiodPod: labels app=istiod, istio=pilot (manifests/charts/istio-control/
	// istio-discovery/templates/deployment.yaml); 15012 is the xDS port a
	// sidecar's pilot-agent dials (container port tls-xds in the same chart).
	istiodPod = netPeer{Name: "istiod", Namespace: world.IstioNamespace, IP: "10.244.0.5",
		Labels: map[string]string{"app": "istiod", "istio": "pilot"}}
	// kubeDNSPod: CoreDNS as kind deploys it, pods k8s-app=kube-dns in
	// kube-system, container ports dns (53/UDP) and dns-tcp (53/TCP).
	kubeDNSPod = netPeer{Name: "coredns", Namespace: "kube-system", IP: "10.244.0.3",
		Labels: map[string]string{"k8s-app": "kube-dns"}}
)

const istiodXDSPort = 15012

// netPeer is one end of a connection: a pod (Namespace set) or an address
// outside the cluster.
type netPeer struct {
	Name, Namespace, IP string
	Labels              map[string]string
}

func (p netPeer) String() string {
	if p.Namespace == "" {
		return "external " + p.IP
	}
	return fmt.Sprintf("pod %s/%s (%s)", p.Namespace, p.Name, p.IP)
}

// NetworkHop is one connection the request needs and the NetworkPolicies' word on it.
type NetworkHop struct {
	// What names the connection, e.g. "client → egress gateway 10.244.0.20:8080/TCP".
	What    string
	Allowed bool
	// Why names the policies that selected either end and decided it.
	Why string
}

func (h NetworkHop) String() string {
	verdict := "allowed"
	if !h.Allowed {
		verdict = "DENIED"
	}
	return fmt.Sprintf("network: %s: %s (%s)", h.What, verdict, h.Why)
}

// Network is the NetworkPolicy verdict on a step's connections.
type Network struct {
	// Policies are the NetworkPolicies of the step's bundle, namespace/name.
	Policies []string
	// Hops are the connections in the order the request makes them.
	Hops []NetworkHop
}

// Denied is the first connection a policy denies, or nil.
func (n Network) Denied() *NetworkHop {
	for i := range n.Hops {
		if !n.Hops[i].Allowed {
			return &n.Hops[i]
		}
	}
	return nil
}

// conn is a connection to ask the matcher about.
type conn struct {
	what     string
	from, to netPeer
	port     int
	portName string
	protocol corev1.Protocol
}

// networkPolicies are the bundle's NetworkPolicies as the API server stores them:
// in the scenario's namespace when they name none, and with spec.policyTypes
// defaulted as the API documents it (k8s.io/api networking/v1 types.go,
// NetworkPolicySpec.PolicyTypes: "If this field is not specified, it will default
// based on the existence of ingress or egress rules; policies that contain an
// egress section are assumed to affect egress, and all policies (whether or not
// they contain an ingress section) are assumed to affect ingress"). The matcher
// reads policyTypes and refuses a policy without them.
func networkPolicies(b scenario.Bundle, defaultNS string) ([]*knetworkingv1.NetworkPolicy, []scenario.Object) {
	var out []*knetworkingv1.NetworkPolicy
	var objs []scenario.Object
	for _, o := range b {
		np, ok := o.Typed.(*knetworkingv1.NetworkPolicy)
		if !ok {
			continue
		}
		np = np.DeepCopy()
		if np.Namespace == "" {
			np.Namespace = o.Namespace
		}
		if np.Namespace == "" {
			np.Namespace = defaultNS
		}
		if len(np.Spec.PolicyTypes) == 0 {
			np.Spec.PolicyTypes = []knetworkingv1.PolicyType{knetworkingv1.PolicyTypeIngress}
			if len(np.Spec.Egress) > 0 {
				np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, knetworkingv1.PolicyTypeEgress)
			}
		}
		out = append(out, np)
		objs = append(objs, o)
	}
	return out, objs
}

// buildPolicy hands the policies to the matcher. It panics on a policy the API
// server's validation would refuse (a peer with no selector and no ipBlock, an
// endPort below port); that is reported at the policy's file and line.
func buildPolicy(nps []*knetworkingv1.NetworkPolicy, objs []scenario.Object) (p *matcher.Policy, err error) {
	for i, np := range nps {
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("%s:%d: NetworkPolicy %s: %v", objs[i].File, objs[i].Line, np.Name, r)
				}
			}()
			matcher.BuildNetworkPolicies(false, []*knetworkingv1.NetworkPolicy{np})
		}()
		if err != nil {
			return nil, err
		}
	}
	return matcher.BuildNetworkPolicies(false, nps), nil
}

// netEnv is what the matcher needs to know about the simulated cluster.
type netEnv struct {
	policy   *matcher.Policy
	policies []string
	// nsLabels are each namespace's labels as the API server holds them.
	nsLabels map[string]map[string]string
	// workloads are the scenario's auxiliary workloads (workloads:, e.g. the
	// http-proxy task's squid) by their offline pod IP: a connection to that
	// address is one to a pod of the cluster, which policies select by its
	// labels and namespace, not an address outside it.
	workloads map[string]netPeer
}

// newNetEnv prepares the step's NetworkPolicies. Namespaces carry
// kubernetes.io/metadata.name (the API server sets it on every namespace, the
// label namespaceSelectors use), the injection label where the harness sets it,
// and the labels a bundle Namespace object gives them.
func newNetEnv(s *scenario.Scenario, w world.World, b scenario.Bundle) (*netEnv, error) {
	nps, objs := networkPolicies(b, s.Namespace())
	policy, err := buildPolicy(nps, objs)
	if err != nil {
		return nil, err
	}
	e := &netEnv{policy: policy, nsLabels: map[string]map[string]string{}}
	for _, np := range nps {
		e.policies = append(e.policies, np.Namespace+"/"+np.Name)
	}
	label := func(ns string) map[string]string {
		if e.nsLabels[ns] == nil {
			e.nsLabels[ns] = map[string]string{corev1.LabelMetadataName: ns}
		}
		return e.nsLabels[ns]
	}
	for _, ns := range append(w.Namespaces(), kubeDNSPod.Namespace) {
		label(ns)
	}
	for _, ns := range w.InjectedNamespaces() {
		label(ns)[world.InjectionLabel] = "enabled"
	}
	e.workloads = map[string]netPeer{}
	for _, ref := range s.WorkloadRefs() {
		label(ref.Namespace)
		e.workloads[ref.StandinIP] = workloadPeer(ref)
	}
	for _, o := range b {
		if n, ok := o.Typed.(*corev1.Namespace); ok {
			for k, v := range n.Labels {
				label(n.Name)[k] = v
			}
		}
	}
	return e, nil
}

func (e *netEnv) peer(p netPeer) *matcher.TrafficPeer {
	if p.Namespace == "" {
		return &matcher.TrafficPeer{IP: p.IP}
	}
	return &matcher.TrafficPeer{IP: p.IP, Internal: &matcher.InternalPeer{
		PodLabels: p.Labels, Namespace: p.Namespace, NamespaceLabels: e.nsLabels[p.Namespace]}}
}

// judge asks the matcher about one connection.
func (e *netEnv) judge(c conn) NetworkHop {
	res := e.policy.IsTrafficAllowed(&matcher.Traffic{
		Source: e.peer(c.from), Destination: e.peer(c.to),
		ResolvedPort: c.port, ResolvedPortName: c.portName, Protocol: c.protocol,
	})
	h := NetworkHop{What: fmt.Sprintf("%s: %s → %s:%d/%s", c.what, c.from, c.to, c.port, c.protocol), Allowed: res.IsAllowed()}
	var why []string
	side := func(dir, end string, r *matcher.DirectionResult) {
		switch {
		case len(r.AllowingTargets) == 0 && len(r.DenyingTargets) == 0:
			why = append(why, "no policy selects the "+end+" for "+dir)
		case r.IsAllowed():
			why = append(why, dir+" allowed by "+targets(r.AllowingTargets))
		default:
			why = append(why, dir+" of the "+end+" selected by "+targets(r.DenyingTargets)+", none allows it")
		}
	}
	if c.from.Namespace != "" {
		side("egress", "source", res.Egress)
	}
	if c.to.Namespace != "" {
		side("ingress", "destination", res.Ingress)
	}
	h.Why = strings.Join(why, "; ")
	return h
}

// targets names the policies behind matcher targets, namespace/name, sorted.
func targets(ts []*matcher.Target) string {
	var names []string
	for _, t := range ts {
		for _, np := range t.SourceRules {
			names = append(names, np.Namespace+"/"+np.Name)
		}
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ", ")
}

// clientPeer is the client pod as the simulated cluster holds it (render).
func clientPeer(c simulatedClient) netPeer {
	return netPeer{Name: c.Workload, Namespace: c.Namespace, IP: c.PodIP, Labels: clientLabels(c)}
}

// workloadPeer is an auxiliary workload's pod. Its labels follow the convention
// of every file under fixtures/workloads/ that clientPeer relies on too: the
// pod template is labelled app=<file name> (TestWorkloadFixturesLabelAppByName).
func workloadPeer(ref scenario.WorkloadRef) netPeer {
	return netPeer{Name: ref.Workload, Namespace: ref.Namespace, IP: ref.StandinIP, Labels: map[string]string{"app": ref.Workload}}
}

// destination is the peer at ip: a workload's pod, or an address outside the cluster.
func (e *netEnv) destination(ip string) netPeer {
	if p, ok := e.workloads[ip]; ok {
		return p
	}
	return netPeer{IP: ip}
}

// clusterPort is the port of an Envoy cluster name: outbound|443||httpbin.org.
func clusterPort(cluster string) (int, bool) {
	parts := strings.Split(cluster, "|")
	if len(parts) != 4 || parts[0] != "outbound" {
		return 0, false
	}
	p, err := strconv.Atoi(parts[1])
	return p, err == nil
}

// dnsConn is the client's DNS lookup, unless the URL names an IP or --resolve
// pins it: curl asks the cluster DNS (the sidecar does not capture DNS unless
// DNS proxying is on, which the installed world leaves off).
//
// Through an HTTP proxy curl looks up the proxy's host only: the proxy resolves
// the URL's (curl sends it the name in CONNECT or the absolute URL).
func dnsConn(from netPeer, req scenario.Request) []conn {
	if host := proxyHost(req); host != "" {
		if net.ParseIP(host) != nil {
			return nil
		}
		return []conn{{what: "DNS lookup of the proxy " + host, from: from, to: kubeDNSPod, port: 53, portName: "dns", protocol: corev1.ProtocolUDP}}
	}
	if _, pinned := req.Resolved(); pinned || net.ParseIP(urlHost(req.URL)) != nil {
		return nil
	}
	return []conn{{what: "DNS lookup of " + urlHost(req.URL), from: from, to: kubeDNSPod, port: 53, portName: "dns", protocol: corev1.ProtocolUDP}}
}

// networkVerdict evaluates the connections the step's request makes:
//
//   - a client whose request its sidecar does not see (no sidecar, or the
//     sidecar does not intercept the destination: bypass) opens DNS and the
//     connection to the destination itself;
//   - an injected client's sidecar keeps its xDS connection to istiod, the
//     client looks the host up, and then, by the simulated route: direct, the
//     sidecar connects to the destination (the port its cluster names); through
//     the egress gateway, the sidecar connects to the gateway pod's target
//     port and the gateway to the destination; blocked, nothing leaves.
//
// dst is where the request goes (the URL's IP, a resolve pin, the offline
// tier's external address, or an HTTP proxy's: a workload's pod when the
// scenario deploys it) and port the URL's or the proxy's.
func networkVerdict(e *netEnv, client simulatedClient, bypass bool, req scenario.Request, dstIP string, port int, path Path, gateways []gatewayDeployment) Network {
	from := clientPeer(client)
	dst := e.destination(dstIP)
	var conns []conn
	if !client.Injected || bypass {
		conns = append(dnsConn(from, req), conn{what: "client", from: from, to: dst, port: port, protocol: corev1.ProtocolTCP})
	} else {
		conns = append(conns, conn{what: "client sidecar's xDS", from: from, to: istiodPod, port: istiodXDSPort, portName: "tls-xds", protocol: corev1.ProtocolTCP})
		conns = append(conns, dnsConn(from, req)...)
		switch path.Route {
		case scenario.RouteDirect:
			p := port
			if cp, ok := clusterPort(path.Sidecar.Cluster); ok {
				p = cp
			}
			conns = append(conns, conn{what: "client sidecar", from: from, to: dst, port: p, protocol: corev1.ProtocolTCP})
		case scenario.RouteEgressGateway:
			if g, target, name, ok := gatewayTarget(path.Sidecar.Cluster, gateways); ok {
				gw := netPeer{Name: g.Name, Namespace: g.Namespace, IP: g.PodIP, Labels: g.Labels}
				conns = append(conns, conn{what: "client sidecar", from: from, to: gw, port: target, portName: name, protocol: corev1.ProtocolTCP})
				p := port
				if path.Gateway != nil {
					if cp, ok := clusterPort(path.Gateway.Cluster); ok {
						p = cp
					}
				}
				conns = append(conns, conn{what: "egress gateway", from: gw, to: dst, port: p, protocol: corev1.ProtocolTCP})
			}
		}
	}
	n := Network{Policies: e.policies}
	for _, c := range conns {
		n.Hops = append(n.Hops, e.judge(c))
	}
	return n
}

// gatewayTarget is the gateway pod and target port a sidecar's cluster
// outbound|<port>||<gateway host> reaches.
func gatewayTarget(cluster string, gateways []gatewayDeployment) (gatewayDeployment, int, string, bool) {
	parts := strings.Split(cluster, "|")
	if len(parts) != 4 {
		return gatewayDeployment{}, 0, "", false
	}
	port, err := strconv.Atoi(parts[1])
	if err != nil {
		return gatewayDeployment{}, 0, "", false
	}
	for _, g := range gateways {
		if g.Host() != parts[3] {
			continue
		}
		for _, p := range g.Ports {
			if p.Port == port {
				return g, p.TargetPort, p.Name, true
			}
		}
	}
	return gatewayDeployment{}, 0, "", false
}
