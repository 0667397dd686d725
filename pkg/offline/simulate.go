package offline

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/util"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh"
	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/test"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
	"github.com/egress-conformance/egress-conformance/pkg/world"
)

// Hop is what one simulated proxy did with the request: the listener, filter chain,
// route and cluster Envoy would pick, computed by Istio's own xDS generation and
// request simulation (pilot/pkg/simulation).
type Hop struct {
	// Proxy is "client sidecar" or "egress gateway".
	Proxy string
	// Call describes what the proxy received, e.g. "HTTP httpbin.org:80/ip".
	Call        string
	Listener    string
	FilterChain string
	RouteConfig string
	VirtualHost string
	Route       string
	Cluster     string
	// ClusterInCDS is false when the route names a cluster the proxy was not sent:
	// Envoy then answers 503 (NC) instead of forwarding.
	ClusterInCDS bool
	// UpstreamTLS is how the proxy talks to the cluster: "mTLS" (Istio's workload
	// certificate), "TLS" (it originates TLS), or "" (as the client sent it).
	UpstreamTLS string
	// UpstreamCA is what the proxy verifies the server's certificate with when
	// it originates TLS: the name of the SDS validation secret istiod points it
	// to (a DestinationRule's credentialName, e.g. configmap://<ns>/<name>, or
	// istiod's name for the system roots), a file, or "none"; empty without TLS.
	UpstreamCA string
	// Authorization is the outcome of the proxy's RBAC filters (Istio's
	// AuthorizationPolicies), e.g. "denied: rbac_access_denied_matched_policy[...]";
	// empty when the proxy has none.
	Authorization string
	// ResponseCodeDetails is what Envoy logs when the proxy answers itself (an
	// authorization denial); empty otherwise.
	ResponseCodeDetails string
	// SNI is the server name of the TLS the proxy received (Envoy's
	// %REQUESTED_SERVER_NAME%); empty for plaintext.
	SNI string
	// Error is the simulation's verdict when no route was found (no listener, no
	// filter chain, no virtual host, no route).
	Error string
}

func (h Hop) String() string {
	parts := []string{h.Proxy + " <- " + h.Call}
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("listener", h.Listener)
	add("filterChain", h.FilterChain)
	add("routeConfig", h.RouteConfig)
	add("virtualHost", h.VirtualHost)
	add("route", h.Route)
	add("cluster", h.Cluster)
	add("upstreamTLS", h.UpstreamTLS)
	add("upstreamCA", h.UpstreamCA)
	add("authz", h.Authorization)
	add("error", h.Error)
	if h.Cluster != "" && !h.ClusterInCDS {
		parts = append(parts, "cluster NOT in CDS")
	}
	return strings.Join(parts, " ")
}

// Path is the outcome of simulating one request through the client's sidecar and,
// when the sidecar sends it there, the egress gateway.
type Path struct {
	Route scenario.Route
	// Why says in one line how Route follows from the hops.
	Why string
	// Status is the HTTP status the proxies themselves would answer with (502 from
	// block_all, 404 for no route, 503 for a missing cluster); nil when the request
	// leaves the mesh and the status is the external server's to give.
	Status *int
	// Sidecar and Gateway are the hops; Gateway is nil when the request never
	// reached the egress gateway. For an ambient client Sidecar stands for its
	// ztunnel, which is not simulated, and Waypoint is the waypoint's hop (nil
	// when the request does not pass one).
	Sidecar  Hop
	Gateway  *Hop
	Waypoint *Hop
	// NotObservable says why the simulated route cannot be trusted for this
	// request (it states a method or headers, and a matched virtual host routes
	// on them, which the simulation does not evaluate); empty otherwise.
	NotObservable string
	// Problems are defects of the configuration that break the request whatever the
	// scenario expects (a route to a cluster missing from CDS).
	Problems []string
}

// ProxyOptions pins what the simulated proxies claim to be.
type ProxyOptions struct {
	// IstioVersion is the proxy version istiod generates config for. Istio gates
	// features on it; the fake server's default is old (1.23), so it must be pinned.
	IstioVersion string
}

// simulate runs the step's request through Istio's xDS generation for the client
// sidecar and the egress gateway. Istio's fake discovery server reports failures
// through a test.Failer; test.Wrap turns those into an error.
//
// kube is every object the fake API server holds, as Kubernetes YAML; addresses
// maps the cluster-local host names of bundle Services to their cluster IPs.
//
// amb is nil unless the scenario has an ambient client: the fake server then
// runs as an ambient install's istiod (ambient's flags, waypoints, IP
// auto-allocation) for every client, and walkAmbient decides an ambient
// client's path.
func simulate(s *scenario.Scenario, w world.World, gateways []gatewayDeployment, cfgs []config.Config, kube string, addresses map[string]string, req scenario.Request, opts ProxyOptions, amb *ambientStep) (Path, error) {
	call, err := callFor(req)
	if err != nil {
		return Path{}, err
	}
	// Cluster DNS answers a Service's host name with its cluster IP, and the
	// sidecar matches the connection on that IP (an <IP>_<port> listener for
	// TCP and TLS ports). A URL naming an IP, or a --resolve pin, skips DNS.
	// Through a proxy curl connects to the proxy, and resolves its name only
	// (--resolve pins the URL's host, which the proxy resolves).
	if host := proxyHost(req); host != "" {
		if a, ok := resolve(addresses, host, s.ClientFor(req).Namespace); ok && net.ParseIP(host) == nil {
			call.Address = a
		}
	} else if _, pinned := req.Resolved(); !pinned && net.ParseIP(urlHost(req.URL)) == nil {
		if a, ok := resolve(addresses, urlHost(req.URL), s.ClientFor(req).Namespace); ok {
			call.Address = a
		}
	}
	var path Path
	defer holdIstioFlags(amb != nil)()
	werr := test.Wrap(func(t test.Failer) {
		modify := installedGatewayAPICRDs
		if amb != nil {
			modify = amb.modifier(t)
		}
		fake := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
			Configs:                cfgs,
			KubernetesObjectString: kube,
			MeshConfig:             meshConfig(w.Mesh),
			KubeClientModifier:     modify,
			KubeClientBuilder:      fakeKubeClient(t),
		})
		if amb != nil {
			if err = amb.ready(fake, s.Namespace()); err != nil {
				return
			}
			if s.ClientFor(req).Ambient() {
				path, err = walkAmbient(fake, s, amb.bundle, amb.waypoints, req, call, opts)
				return
			}
		}
		path, err = walk(fake, s, w, gateways, req, call, opts)
	})
	if werr != nil {
		return Path{}, fmt.Errorf("istio's fake discovery server: %w", werr)
	}
	return path, err
}

// installedGatewayAPICRDs makes the fake API server's Gateway API CRDs look like
// the ones the cluster tier installs: every one carries the bundle-version
// annotation of the pinned release (pkg/versions.GatewayAPI), as the CRDs of
// sigs.k8s.io/gateway-api's config/crd do. istiod ignores a Gateway API kind whose
// CRD lacks the annotation or is older than it requires (TLSRoute >= v1.5.0,
// TCPRoute >= v1.6.0: minimumVersionFilter in pkg/kube/kclient/crdwatcher.go,
// MinimumCRDVersions in pkg/config/schema/gatewayapi). The fake controller
// registers its CRDs without annotations (clienttest.MakeCRD), so without this
// istiod never watches TLSRoutes and the sidecar goes direct although a cluster
// routes the request through the gateway.
func installedGatewayAPICRDs(c kubelib.Client) {
	md, ok := c.Metadata().(*metadatafake.FakeMetadataClient)
	if !ok {
		return
	}
	annotate := func(a clienttesting.Action) (bool, runtime.Object, error) {
		var obj runtime.Object
		switch a := a.(type) {
		case clienttesting.CreateAction:
			obj = a.GetObject()
		case clienttesting.UpdateAction:
			obj = a.GetObject()
		}
		if m, ok := obj.(metav1.Object); ok && strings.HasSuffix(m.GetName(), "."+gatewayAPIGroup) {
			ann := maps.Clone(m.GetAnnotations())
			if ann == nil {
				ann = map[string]string{}
			}
			ann[gatewayAPIBundleVersionAnnotation] = versions.GatewayAPI
			m.SetAnnotations(ann)
		}
		// Not handled: the fake's tracker stores the annotated object.
		return false, nil, nil
	}
	md.PrependReactor("create", "customresourcedefinitions", annotate)
	md.PrependReactor("update", "customresourcedefinitions", annotate)
}

const (
	gatewayAPIGroup = "gateway.networking.k8s.io"
	// gatewayAPIBundleVersionAnnotation is sigs.k8s.io/gateway-api's
	// consts.BundleVersionAnnotation.
	gatewayAPIBundleVersionAnnotation = gatewayAPIGroup + "/bundle-version"
)

// meshConfig is the installed world's mesh-wide configuration (pkg/world, set
// on a cluster by fixtures/istio/egress.yaml) over Istio's defaults. A scenario's
// own policy comes from the per-namespace Sidecar the harness adds
// (harnessObjects), exactly as on a cluster.
func meshConfig(m world.Mesh) *meshconfig.MeshConfig {
	mc := mesh.DefaultMeshConfig()
	mode := meshconfig.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY
	if m.OutboundTrafficPolicy == world.RegistryOnly {
		mode = meshconfig.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY
	}
	mc.OutboundTrafficPolicy = &meshconfig.MeshConfig_OutboundTrafficPolicy{Mode: mode}
	mc.AccessLogFile = m.AccessLogFile
	mc.AccessLogEncoding = meshconfig.MeshConfig_AccessLogEncoding(meshconfig.MeshConfig_AccessLogEncoding_value[m.AccessLogEncoding])
	return mc
}

// resolve is what cluster DNS answers a client in namespace ns for host, when host
// names a bundle Service with a cluster IP: the fully qualified name, or the
// search-path forms <name>.<namespace>, <name>.<namespace>.svc and, in the
// client's own namespace, <name>.
func resolve(addresses map[string]string, host, ns string) (string, bool) {
	for _, fqdn := range []string{host, host + ".svc.cluster.local", host + ".cluster.local", host + "." + ns + ".svc.cluster.local"} {
		if a, ok := addresses[fqdn]; ok {
			return a, true
		}
	}
	return "", false
}

// callFor turns the step's request into the call curl makes through the
// sidecar's iptables redirect: to the URL's IP, or to the address a resolve entry
// pins, else to an external address DNS would give; with the Host header the URL
// implies or the request overrides (the simulation picks the virtual host by it,
// pilot/pkg/simulation/traffic.go); with curl's SNI, the URL's host whatever the
// Host header says.
func callFor(req scenario.Request) (simulation.Call, error) {
	raw := req.URL
	u, err := url.Parse(raw)
	if err != nil {
		return simulation.Call{}, fmt.Errorf("request.url %q: %w", raw, err)
	}
	port := 80
	tls := simulation.Plaintext
	switch u.Scheme {
	case "http":
	case "https":
		port, tls = 443, simulation.TLS
	default:
		return simulation.Call{}, fmt.Errorf("request.url %q: scheme %q is not http or https", raw, u.Scheme)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return simulation.Call{}, fmt.Errorf("request.url %q: port: %w", raw, err)
		}
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if req.Proxy != "" {
		call, err := proxyCall(req, u)
		if err != nil || u.Scheme == "https" {
			// The headers curl -H sets go inside the CONNECT tunnel.
			return call, err
		}
		return withHeaders(call, req), nil
	}
	call := simulation.Call{
		Address:    externalAddress,
		Port:       port,
		Path:       path,
		Protocol:   simulation.HTTP,
		TLS:        tls,
		HostHeader: u.Hostname(),
		CallMode:   simulation.CallModeOutbound,
	}
	if net.ParseIP(u.Hostname()) != nil {
		call.Address = u.Hostname()
	}
	if a, ok := req.Resolved(); ok {
		call.Address = a
	}
	if tls == simulation.TLS {
		call.Sni = u.Hostname()
	}
	return withHeaders(call, req), nil
}

// withHeaders sets the request's headers on call: Host overrides the host the
// URL implies.
func withHeaders(call simulation.Call, req scenario.Request) simulation.Call {
	if h, ok := req.Header("Host"); ok {
		call.HostHeader = h
	}
	for _, h := range req.Headers {
		k, v, _ := strings.Cut(h, ":")
		if !strings.EqualFold(strings.TrimSpace(k), "host") {
			if call.Headers == nil {
				call.Headers = http.Header{}
			}
			call.Headers.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return call
}

// urlHost is the host of a URL the loader has checked.
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func describe(c simulation.Call) string {
	proto := "HTTP"
	switch {
	case c.TLS == simulation.MTLS:
		proto = "mTLS(" + string(c.Protocol) + ") sni=" + c.Sni
	case c.TLS == simulation.TLS:
		proto = "TLS(" + string(c.Protocol) + ") sni=" + c.Sni
	case c.Protocol == simulation.HTTP2:
		proto = "HTTP/2"
	case c.Protocol == simulation.TCP:
		proto = "TCP"
	}
	return fmt.Sprintf("%s %s %s", proto, net.JoinHostPort(c.HostHeader, strconv.Itoa(c.Port)), c.Path)
}

func walk(fake *xds.FakeDiscoveryServer, s *scenario.Scenario, w world.World, gateways []gatewayDeployment, req scenario.Request, call simulation.Call, opts ProxyOptions) (Path, error) {
	var from simulatedClient
	want := s.ClientFor(req)
	for _, c := range clientsFor(w) {
		if c.Workload == want.Workload && c.Namespace == want.Namespace {
			from = c
		}
	}
	clientLabels := map[string]string{"app": from.Workload, "security.istio.io/tlsMode": "istio"}
	client, sidecarSim, err := proxySimulation(fake, model.SidecarProxy, from.Workload, from.Namespace, from.PodIP, clientLabels, opts)
	if err != nil {
		return Path{}, err
	}
	sidecar, res, err := run(sidecarSim, "client sidecar", call)
	if err != nil {
		return Path{}, err
	}
	path := Path{Sidecar: sidecar}
	path.NotObservable = unsimulatedMatch(sidecarSim, sidecar, req)
	if sidecar.Cluster != "" && !sidecar.ClusterInCDS {
		path.Problems = append(path.Problems, fmt.Sprintf("client sidecar routes to cluster %s, which is not in its CDS: Envoy answers 503 (NC)", sidecar.Cluster))
	}

	// Decide what the sidecar does with the request.
	switch {
	case res.VirtualHostMatched == util.BlackHole || sidecar.Route == util.BlackHole:
		return blocked(path, 502, "client sidecar matched the block_all route (REGISTRY_ONLY): Envoy answers 502"), nil
	case sidecar.Cluster == util.BlackHoleCluster:
		return blocked(path, 0, "client sidecar sends the request to BlackHoleCluster (REGISTRY_ONLY): the connection is reset"), nil
	case res.Error != nil:
		return blocked(path, 0, "client sidecar has no route: "+res.Error.Error()), nil
	case sidecar.Cluster == "":
		return blocked(path, 0, "client sidecar matched a route with no cluster (direct response or redirect)"), nil
	case !sidecar.ClusterInCDS:
		code := clusterNotFoundStatus(sidecarSim, sidecar)
		return blocked(path, code, fmt.Sprintf("client sidecar routes to a cluster missing from CDS: %s", answer(code, "Envoy answers %d", "Envoy closes the connection"))), nil
	}

	if !hasEndpoints(fake, client, sidecarSim, sidecar.Cluster) {
		path.Problems = append(path.Problems, noEndpoints("client sidecar", sidecar.Cluster))
		code := httpOnly(sidecar, 503)
		return blocked(path, code, "client sidecar routes to "+sidecar.Cluster+", which has no endpoints: "+answer(code, "Envoy answers %d (UH)", "Envoy closes the connection (UH)")), nil
	}

	_, _, host, port := model.ParseSubsetKey(sidecar.Cluster)
	var target *gatewayDeployment
	for i := range gateways {
		if gateways[i].Host() == string(host) {
			target = &gateways[i]
		}
	}
	if target == nil {
		path.Route = scenario.RouteDirect
		path.Why = "client sidecar sends the request to " + sidecar.Cluster
		if p := wireMismatch(fake, client, sidecarSim, sidecar, call); p != "" {
			path.Problems = append(path.Problems, "client sidecar "+p)
		}
		return path, nil
	}

	// The sidecar sends it to an egress gateway: simulate the gateway's side, on
	// the port its Envoy listens on (the Service targetPort).
	tp, ok := target.TargetPort(port)
	if !ok {
		return blocked(path, 503, fmt.Sprintf("client sidecar sends the request to %s port %d, which the %s Service does not expose", host, port, target.Display)), nil
	}
	gwCall := call
	gwCall.CallMode = simulation.CallModeGateway
	gwCall.Address = target.PodIP
	gwCall.Port = tp
	gwCall.Alpn = ""
	gwCall.TLS, gwCall.Protocol, gwCall.Sni = nextHop(sidecarSim, sidecar.Cluster, call)
	if gwCall.Protocol == simulation.HTTP2 && !target.HTTP2(port) {
		gwCall.Protocol = simulation.HTTP
	}

	gwLabels := map[string]string{}
	for k, v := range target.Labels {
		gwLabels[k] = v
	}
	gw, gwSim, err := proxySimulation(fake, model.Router, target.Name, target.Namespace, target.PodIP, gwLabels, opts)
	if err != nil {
		return Path{}, err
	}
	gwHop, gwRes, err := run(gwSim, target.Display, gwCall)
	if err != nil {
		return Path{}, err
	}
	path.Gateway = &gwHop
	if path.NotObservable == "" {
		path.NotObservable = unsimulatedMatch(gwSim, gwHop, req)
	}
	if gwRes.Error == nil && gwCall.Protocol != simulation.TCP {
		// Envoy's RBAC filter runs before the router: a denial answers 403 whatever
		// the route's cluster looks like.
		principal := ""
		if gwCall.TLS == simulation.MTLS {
			principal = fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/%s", from.Namespace, from.Workload)
		}
		d, err := authorize(gwSim, gwHop, requestAttributes{
			Principal: principal,
			Headers:   requestHeaders(req, call),
			Port:      gwCall.Port,
			SNI:       gwCall.Sni,
		})
		switch {
		case err != nil:
			path.Problems = append(path.Problems, fmt.Sprintf("%s: authorization cannot be evaluated offline: %v", target.Display, err))
		case d.Denied:
			gwHop.Authorization, gwHop.ResponseCodeDetails = "denied: "+d.Details, d.Details
			path.Gateway = &gwHop
			why := fmt.Sprintf("%s denies the request (%s)", target.Display, d.Details)
			if principal == "" {
				why += "; the sidecar did not use Istio mutual TLS to the gateway, so the gateway saw no client identity"
			}
			return blocked(path, 403, why), nil
		case d.Filters > 0:
			gwHop.Authorization = fmt.Sprintf("allowed by %d RBAC filter(s)", d.Filters)
			if principal == "" {
				gwHop.Authorization += " (no client identity: plaintext from the sidecar)"
			}
			path.Gateway = &gwHop
		}
	}
	if gwHop.Cluster != "" && !gwHop.ClusterInCDS {
		code := clusterNotFoundStatus(gwSim, gwHop)
		path.Problems = append(path.Problems, fmt.Sprintf("%s routes to cluster %s, which is not in its CDS: %s", target.Display, gwHop.Cluster,
			answer(code, "Envoy answers %d (NC)", "Envoy closes the connection")))
	}
	switch {
	case gwRes.Error != nil:
		status := 0
		if errors.Is(gwRes.Error, simulation.ErrNoRoute) || errors.Is(gwRes.Error, simulation.ErrNoVirtualHost) {
			status = 404
		}
		return blocked(path, status, fmt.Sprintf("client sidecar sends the request to the %s (%s), which has no route for it: %v", target.Display, sidecar.Cluster, gwRes.Error)), nil
	case gwHop.Cluster == util.BlackHoleCluster || gwHop.Cluster == "":
		return blocked(path, 0, target.Display+" matched no upstream cluster for the request"), nil
	case !gwHop.ClusterInCDS:
		code := clusterNotFoundStatus(gwSim, gwHop)
		return blocked(path, code, target.Display+" routes to a cluster missing from CDS: "+answer(code, "Envoy answers %d", "Envoy closes the connection")), nil
	case !hasEndpoints(fake, gw, gwSim, gwHop.Cluster):
		path.Problems = append(path.Problems, noEndpoints(target.Display, gwHop.Cluster))
		code := httpOnly(gwHop, 503)
		return blocked(path, code, target.Display+" routes to "+gwHop.Cluster+", which has no endpoints: "+answer(code, "Envoy answers %d (UH)", "Envoy closes the connection (UH)")), nil
	}
	path.Route = scenario.RouteEgressGateway
	path.Why = fmt.Sprintf("client sidecar sends the request to %s; the %s sends it to %s", sidecar.Cluster, target.Display, gwHop.Cluster)
	if p := wireMismatch(fake, gw, gwSim, gwHop, call); p != "" {
		path.Problems = append(path.Problems, target.Display+" "+p)
	}
	return path, nil
}

// requestHeaders are the headers the gateway's RBAC filters see: the request's
// own (lower-case, as HTTP/2 carries them), its method and path, and the
// authority it names (the Host header, overridden or not).
func requestHeaders(req scenario.Request, call simulation.Call) map[string]string {
	h := map[string]string{}
	for k, v := range call.Headers {
		h[strings.ToLower(k)] = strings.Join(v, ",")
	}
	h[":authority"] = authority(call.HostHeader, call.Port, call.TLS != simulation.Plaintext)
	h[":method"] = req.MethodOrGet()
	h[":path"] = call.Path
	return h
}

// unsimulatedMatch explains why a hop's route may be wrong for req: Istio's
// simulation matches routes by path only ("TODO this only handles path - we need
// to add headers, query params, etc", matchRoute in pilot/pkg/simulation/traffic.go),
// so when the request states a method or headers and a route of the virtual host
// it matched looks at headers (:method included), the route picked is a guess.
func unsimulatedMatch(sim *simulation.Simulation, h Hop, req scenario.Request) string {
	if h.VirtualHost == "" || (req.Method == "" && len(req.Headers) == 0) {
		return ""
	}
	for _, r := range matchedVirtualHost(sim, h).GetRoutes() {
		if len(r.GetMatch().GetHeaders()) > 0 || len(r.GetMatch().GetQueryParameters()) > 0 {
			return fmt.Sprintf("%s: virtual host %s has route %s matching on headers, which Istio's simulation does not evaluate (it matches paths only)", h.Proxy, h.VirtualHost, r.GetName())
		}
	}
	return ""
}

// matchedVirtualHost is the virtual host a hop matched, from the route
// configuration it names; nil when there is none.
func matchedVirtualHost(sim *simulation.Simulation, h Hop) *routev3.VirtualHost {
	for _, rc := range sim.Routes {
		if rc.GetName() != h.RouteConfig {
			continue
		}
		for _, vh := range rc.GetVirtualHosts() {
			if vh.GetName() == h.VirtualHost {
				return vh
			}
		}
	}
	return nil
}

func blocked(p Path, status int, why string) Path {
	p.Route = scenario.RouteBlocked
	p.Why = why
	if status != 0 {
		p.Status = &status
	}
	return p
}

// proxySimulation is the simulation of one proxy of the simulated world: a
// client sidecar, a gateway or a waypoint (pod name-0 of workload name, with the
// labels its pod carries), as istiod generates its configuration.
func proxySimulation(fake *xds.FakeDiscoveryServer, typ model.NodeType, name, namespace, podIP string, labels map[string]string, opts ProxyOptions) (*model.Proxy, *simulation.Simulation, error) {
	p := fake.SetupProxy(&model.Proxy{
		Type:            typ,
		ID:              name + "-0." + namespace,
		ConfigNamespace: namespace,
		Labels:          labels,
		IPAddresses:     []string{podIP},
		Metadata: &model.NodeMetadata{
			Namespace:    namespace,
			Labels:       labels,
			IstioVersion: opts.IstioVersion,
		},
	})
	sim, err := simulationFor(fake, p)
	return p, sim, err
}

func simulationFor(fake *xds.FakeDiscoveryServer, p *model.Proxy) (*simulation.Simulation, error) {
	// NewSimulation wants a *testing.T; the fields it fills are exported, so build
	// the same value from the fake server's generators.
	listeners := fake.Listeners(p)
	return &simulation.Simulation{
		Listeners: listeners,
		Clusters:  fake.Clusters(p),
		Routes:    fake.RoutesFromListeners(p, listeners),
	}, nil
}

// run simulates one call. The simulator reports a few impossible inputs by calling
// Fatal on its (here absent) test handle, which panics: turn that into an error.
func run(sim *simulation.Simulation, proxy string, call simulation.Call) (hop Hop, res simulation.Result, err error) {
	call = call.FillDefaults()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("simulating %s for %s: %v", proxy, describe(call), r)
		}
	}()
	res = sim.Run(call)
	hop = Hop{
		Proxy:       proxy,
		Call:        describe(call),
		Listener:    res.ListenerMatched,
		FilterChain: res.FilterChainMatched,
		RouteConfig: res.RouteConfigMatched,
		VirtualHost: res.VirtualHostMatched,
		Route:       res.RouteMatched,
		Cluster:     res.ClusterMatched,
		SNI:         call.Sni,
	}
	if res.Error != nil {
		hop.Error = res.Error.Error()
	}
	if c := findCluster(sim, hop.Cluster); c != nil {
		hop.ClusterInCDS = true
		hop.UpstreamTLS, _ = upstreamTLS(c)
		hop.UpstreamCA = upstreamCA(c)
	}
	return hop, res, nil
}

func findCluster(sim *simulation.Simulation, name string) *cluster.Cluster {
	for _, c := range sim.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// nextHop derives how the sidecar talks to the egress gateway from the cluster it
// picked: mTLS when the cluster carries Istio's workload certificate (a
// DestinationRule with ISTIO_MUTUAL), TLS when it originates TLS, plaintext
// otherwise, with the SNI the cluster sets (a gateway's ISTIO_MUTUAL server
// matches on it). Auto-mTLS does not apply: istioctl's egress gateway pods carry
// no security.istio.io/tlsMode label. HTTP is upgraded to HTTP/2 because the
// istioctl gateway's port is named http2 (walk downgrades to HTTP/1.1 for ports
// that are not); TLS the client started passes through as TCP, keeping its SNI.
func nextHop(sim *simulation.Simulation, clusterName string, call simulation.Call) (simulation.TLSMode, simulation.Protocol, string) {
	proto := simulation.HTTP2
	if call.TLS != simulation.Plaintext {
		proto = simulation.TCP
	}
	switch mode, sni := upstreamTLS(findCluster(sim, clusterName)); mode {
	case "mTLS":
		return simulation.MTLS, proto, sni
	case "TLS":
		return simulation.TLS, proto, sni
	}
	return call.TLS, proto, call.Sni
}

// upstreamTLS reads a cluster's transport socket: "mTLS" when it presents Istio's
// workload certificate (SDS secret "default"), "TLS" when it originates plain TLS,
// "" when it forwards what it got. Clusters using transport_socket_matches
// (auto-mTLS) count as "": the egress gateway pods do not carry the label that
// turns auto-mTLS on.
func upstreamTLS(c *cluster.Cluster) (mode, sni string) {
	if c.GetTransportSocket() == nil {
		return "", ""
	}
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return "", ""
	}
	for _, sds := range ctx.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
		if sds.GetName() == "default" {
			return "mTLS", ctx.GetSni()
		}
	}
	return "TLS", ctx.GetSni()
}

// upstreamCA names what a cluster that originates TLS verifies the server
// with (Hop.UpstreamCA): the validation context's SDS secret, plain or inside
// a combined context (pilot/pkg/networking/core/cluster_tls.go,
// buildUpstreamTLSContext), or an inline context's trusted CA file; "none"
// when the context verifies nothing; "" for a cluster without TLS or with
// Istio's mutual TLS, whose CA is the mesh's.
func upstreamCA(c *cluster.Cluster) string {
	if mode, _ := upstreamTLS(c); mode != "TLS" {
		return ""
	}
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return ""
	}
	common := ctx.GetCommonTlsContext()
	switch {
	case common.GetValidationContextSdsSecretConfig() != nil:
		return common.GetValidationContextSdsSecretConfig().GetName()
	case common.GetCombinedValidationContext() != nil:
		return common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName()
	case common.GetValidationContext().GetTrustedCa() != nil:
		return "file " + common.GetValidationContext().GetTrustedCa().GetFilename()
	}
	return "none"
}

// hasEndpoints reports whether an EDS cluster has at least one endpoint. Other
// cluster types resolve their own upstreams (DNS, original destination, static).
// This catches, among others, a ServiceEntry with resolution NONE used through the
// egress gateway: Istio gives gateways EDS instead of ORIGINAL_DST for it
// ("Gateways cannot use passthrough clusters", pilot/pkg/networking/core/cluster.go),
// and a NONE ServiceEntry has no endpoints, so the gateway answers 503 UH.
func hasEndpoints(fake *xds.FakeDiscoveryServer, p *model.Proxy, sim *simulation.Simulation, name string) bool {
	c := findCluster(sim, name)
	if c.GetType() != cluster.Cluster_EDS {
		return true
	}
	for _, cla := range fake.Endpoints(p) {
		if cla.GetClusterName() != name {
			continue
		}
		for _, le := range cla.GetEndpoints() {
			if len(le.GetLbEndpoints()) > 0 {
				return true
			}
		}
	}
	return false
}

func noEndpoints(proxy, name string) string {
	return fmt.Sprintf("%s routes to EDS cluster %s, which has no endpoints: Envoy has no healthy upstream (UH)", proxy, name)
}

// httpOnly is code for a hop Envoy handled as HTTP, and 0 (no HTTP status: the
// connection is closed) for one it proxied as TCP.
func httpOnly(h Hop, code int) int {
	if h.VirtualHost == "" {
		return 0
	}
	return code
}

// clusterNotFoundStatus is what Envoy answers when the matched route names a
// cluster it does not have: the route's cluster_not_found_response_code, which
// Istio sets to 500 for Gateway API routes and leaves at 503 otherwise.
func clusterNotFoundStatus(sim *simulation.Simulation, h Hop) int {
	if h.VirtualHost == "" {
		return 0
	}
	for _, r := range matchedVirtualHost(sim, h).GetRoutes() {
		if r.GetName() != h.Route {
			continue
		}
		switch r.GetRoute().GetClusterNotFoundResponseCode() {
		case routev3.RouteAction_NOT_FOUND:
			return 404
		case routev3.RouteAction_INTERNAL_SERVER_ERROR:
			return 500
		}
	}
	return 503
}

// answer phrases what the client gets: an HTTP status, or a closed connection.
func answer(code int, withStatus, without string) string {
	if code == 0 {
		return without
	}
	return fmt.Sprintf(withStatus, code)
}

// wireMismatch checks the hop that leaves the mesh: what the proxy puts on the wire
// (TLS it originates, or the client's own TLS it forwards untouched) against what
// the destination port speaks by convention, 443 TLS and 80 plaintext. Istio
// accepts both mistakes without a word — a DestinationRule originating TLS on the
// wrong port, a ServiceEntry without targetPort 443, a gateway forwarding plaintext
// to :443 — and the request then fails at the server (400, or a failed handshake:
// 503 UF). The port is the one the cluster really dials: the endpoint's, after
// ServiceEntry targetPort. A third mistake is port-independent: a proxy that
// passes the client's own TLS through (no HTTP virtual host) on a cluster that
// originates TLS wraps it in a second TLS session, "double TLS" (istio/istio#17031:
// a DestinationRule with tls SIMPLE for the whole host applies to its TLS port too,
// pilot/pkg/networking/core/cluster_tls.go).
func wireMismatch(fake *xds.FakeDiscoveryServer, p *model.Proxy, sim *simulation.Simulation, h Hop, call simulation.Call) string {
	c := findCluster(sim, h.Cluster)
	if c == nil {
		return ""
	}
	port := endpointPort(fake, p, c, call.Port)
	forwardsClientTLS := h.VirtualHost == "" && call.TLS != simulation.Plaintext
	onWireTLS := h.UpstreamTLS != "" || forwardsClientTLS
	_, _, host, _ := model.ParseSubsetKey(h.Cluster)
	switch {
	case forwardsClientTLS && h.UpstreamTLS == "TLS":
		return fmt.Sprintf("originates TLS (cluster %s) around the TLS the client already sends to %s: the server receives a TLS handshake inside TLS and the request fails (double TLS, istio/istio#17031); originate TLS only on the plain-HTTP port (DestinationRule portLevelSettings)", h.Cluster, host)
	case port == 443 && !onWireTLS:
		return fmt.Sprintf("sends plaintext to %s:443 (cluster %s): the server expects TLS there and rejects it (400 or a reset); originate TLS with a DestinationRule for the port it sends from", host, h.Cluster)
	case port == 80 && h.UpstreamTLS != "":
		return fmt.Sprintf("originates TLS to %s:80 (cluster %s), which speaks plain HTTP: the handshake fails (503 UF); send it to 443 (ServiceEntry targetPort) or drop the TLS setting", host, h.Cluster)
	}
	return ""
}

// endpointPort is the port a cluster's connections go to: from its load
// assignment (DNS clusters), its EDS endpoints, or, for an original-destination
// cluster, the port the client called.
func endpointPort(fake *xds.FakeDiscoveryServer, p *model.Proxy, c *cluster.Cluster, callPort int) int {
	first := func(cla *endpoint.ClusterLoadAssignment) int {
		for _, le := range cla.GetEndpoints() {
			for _, lb := range le.GetLbEndpoints() {
				if port := lb.GetEndpoint().GetAddress().GetSocketAddress().GetPortValue(); port != 0 {
					return int(port)
				}
			}
		}
		return 0
	}
	switch c.GetType() {
	case cluster.Cluster_ORIGINAL_DST:
		return callPort
	case cluster.Cluster_EDS:
		for _, cla := range fake.Endpoints(p) {
			if cla.GetClusterName() == c.GetName() {
				return first(cla)
			}
		}
		return 0
	default:
		return first(c.GetLoadAssignment())
	}
}

// authorize evaluates the RBAC filters of the filter chain the gateway hop went
// through. The simulator reports the chain by name only, and unnamed chains are
// common, so the chain is picked as Envoy would for the request's SNI.
func authorize(sim *simulation.Simulation, hop Hop, a requestAttributes) (rbacDecision, error) {
	var chains []*listener.FilterChain
	for _, l := range sim.Listeners {
		if l.GetName() == hop.Listener {
			chains = l.GetFilterChains()
		}
	}
	var exact, wildcard, named []*listener.FilterChain
	for _, fc := range chains {
		if hop.FilterChain != "" && fc.GetName() == hop.FilterChain {
			named = append(named, fc)
		}
		names := fc.GetFilterChainMatch().GetServerNames()
		switch {
		case len(names) == 0:
			wildcard = append(wildcard, fc)
		case slices.Contains(names, a.SNI):
			exact = append(exact, fc)
		}
	}
	var fc *listener.FilterChain
	switch {
	case len(named) == 1:
		fc = named[0]
	case len(exact) == 1:
		fc = exact[0]
	case len(exact) == 0 && len(wildcard) == 1:
		fc = wildcard[0]
	default:
		return rbacDecision{}, fmt.Errorf("listener %s: cannot tell which of %d filter chains handled the request", hop.Listener, len(chains))
	}
	filters, err := rbacFilters(fc)
	if err != nil {
		return rbacDecision{}, err
	}
	return evaluateRBAC(filters, a)
}
