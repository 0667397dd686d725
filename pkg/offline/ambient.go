package offline

// Ambient mode in the offline tier (issue 13).
//
// An ambient client has no sidecar: ztunnel on its node carries its
// connections, and sends those to a service that uses a waypoint to that
// waypoint (HBONE), which routes and authorizes them as Envoy. ztunnel is not
// Envoy and not simulated here; what decides its choice is istiod's ambient
// index, the very data istiod sends ztunnel (WDS): a Service whose Waypoint is
// set goes through that waypoint, one without goes straight out. The offline
// tier reads that decision from Istio's own index (pilot/pkg/serviceregistry/
// ambient, fetchWaypointForService in waypoints.go: istio.io/use-waypoint on the
// ServiceEntry, else on its namespace, a Gateway of class istio-waypoint with a
// status address) and then simulates the waypoint's own xDS (pilot/pkg/
// networking/core/listener_waypoint.go) for the request, as Istio's tests do
// (pilot/pkg/xds/waypoint_test.go, setupWaypointTest: a fake discovery server
// with the objects given both as config and as Kubernetes objects, and a proxy of
// type Waypoint labelled with the Gateway's name).
//
// What is not simulated is reported, never passed: ztunnel's own L4 path
// (HBONE, its L4 authorization) and anything a step states about it.

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	matcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	internalupstream "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/internal_upstream/v3"
	"google.golang.org/protobuf/proto"
	"istio.io/api/label"
	"istio.io/istio/pilot/pkg/controllers/ipallocate"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/core"
	"istio.io/istio/pilot/pkg/networking/serviceentry"
	"istio.io/istio/pilot/pkg/networking/util"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/schema/gvk"
	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/test"
	"istio.io/istio/pkg/workloadapi"
	"istio.io/istio/pkg/workloadapi/security"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	kubeyaml "sigs.k8s.io/yaml"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/world"
)

// istioFlags guards Istio's feature flags. istiod reads them as package globals
// (pilot/pkg/features), set once from its environment; an ambient install sets
// PILOT_ENABLE_AMBIENT, which also flips the defaults registered with
// registerAmbient (pilot/pkg/features/ambient.go). Steps are simulated
// concurrently (pkg/check), so a step of an ambient scenario holds the flags
// exclusively while its fake discovery server runs, and every other step holds
// them shared: no step ever sees the other install's flags.
var istioFlags sync.RWMutex

// holdIstioFlags takes the flags for one simulation, in ambient mode or not,
// and returns the function that gives them back.
func holdIstioFlags(ambient bool) (release func()) {
	if !ambient {
		istioFlags.RLock()
		return istioFlags.RUnlock
	}
	istioFlags.Lock()
	// The flags whose value PILOT_ENABLE_AMBIENT changes: EnableAmbient and the
	// registerAmbient ones whose default with ambient differs from without.
	flags := []*bool{
		&features.EnableAmbient,
		&features.EnableAmbientWaypoints,
		&features.EnableHBONESend,
		&features.EnableSidecarHBONEListening,
		&features.EnableAmbientStatus,
		&features.EnableIngressWaypointRouting,
		&features.EnableAmbientWaypointMultiNetwork,
	}
	saved := make([]bool, len(flags))
	for i, f := range flags {
		saved[i], *f = *f, true
	}
	return func() {
		for i, f := range flags {
			*f = saved[i]
		}
		istioFlags.Unlock()
	}
}

// waypointDeployment is a Gateway of class istio-waypoint of the bundle as
// istiod's deployment controller runs it (manifests/charts/istio-control/
// istio-discovery/files/waypoint.yaml): a Deployment, a ServiceAccount and a
// Service named after the Gateway (the waypoint class takes no "-istio"
// suffix: istio.io's egress task calls it deploy/waypoint), pods labelled with
// the Gateway's name and gateway.istio.io/managed=istio.io-mesh-controller, the
// Service exposing 15008 (HBONE) and 15021 (status).
type waypointDeployment struct {
	Name, Namespace  string
	ClusterIP, PodIP string
}

func (w waypointDeployment) Host() string { return w.Name + "." + w.Namespace + ".svc.cluster.local" }

// Identity is the SPIFFE identity the waypoint presents: its ServiceAccount,
// named after the Gateway.
func (w waypointDeployment) Identity() string {
	return "spiffe://cluster.local/ns/" + w.Namespace + "/sa/" + w.Name
}

// placed is the namespace a bundle object lands in: its own, else its apply
// entry's (kubectl apply -n), else the scenario's.
func placed(own string, o scenario.Object, namespace string) string {
	switch {
	case own != "":
		return own
	case o.Namespace != "":
		return o.Namespace
	}
	return namespace
}

// waypointsFor lists the bundle's Gateways of class istio-waypoint.
func waypointsFor(b scenario.Bundle, namespace string) []waypointDeployment {
	var out []waypointDeployment
	for _, o := range b {
		gw, ok := o.Typed.(*gatewayv1.Gateway)
		if !ok || string(gw.Spec.GatewayClassName) != constants.WaypointGatewayClassName {
			continue
		}
		ns := placed(gw.Namespace, o, namespace)
		i := len(out)
		out = append(out, waypointDeployment{Name: gw.Name, Namespace: ns,
			ClusterIP: fmt.Sprintf("10.96.210.%d", 10+i), PodIP: fmt.Sprintf("10.244.3.%d", 10+i)})
	}
	return out
}

// renderWaypoints is what the cluster holds for the bundle's waypoints once
// they are ready: the istio-waypoint GatewayClass istiod creates
// (pilot/pkg/config/kube/gatewaycommon, builtin classes), each waypoint's
// Gateway with the status address istiod writes when its pod is ready (the
// ambient index ignores a waypoint Gateway without one: gatewayToWaypointTransform
// in pilot/pkg/serviceregistry/ambient/waypoints.go), and its Service, pod and
// EndpointSlice. The Gateway objects replace the bundle's as the API server
// would return them after istiod's status write.
func renderWaypoints(b scenario.Bundle, namespace string, wps []waypointDeployment) (string, error) {
	var out strings.Builder
	emit := func(o any) error {
		y, err := kubeyaml.Marshal(o)
		if err != nil {
			return err
		}
		out.WriteString("\n---\n")
		out.Write(y)
		return nil
	}
	out.WriteString("\n---\n" + waypointGatewayClass)
	hostname := gatewayv1.HostnameAddressType
	for _, o := range b {
		gw, ok := o.Typed.(*gatewayv1.Gateway)
		if !ok || string(gw.Spec.GatewayClassName) != constants.WaypointGatewayClassName {
			continue
		}
		g := gw.DeepCopy()
		g.APIVersion, g.Kind = "gateway.networking.k8s.io/v1", "Gateway"
		g.Namespace = placed(g.Namespace, o, namespace)
		wp := waypointDeployment{Name: g.Name, Namespace: g.Namespace}
		g.Status.Addresses = []gatewayv1.GatewayStatusAddress{{Type: &hostname, Value: wp.Host()}}
		if err := emit(g); err != nil {
			return "", fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
		}
	}
	for _, wp := range wps {
		workload := simulatedWorkload{Name: wp.Name, Namespace: wp.Namespace,
			Labels: map[string]string{
				label.IoK8sNetworkingGatewayGatewayName.Name: wp.Name,
				label.GatewayManaged.Name:                    constants.ManagedGatewayMeshControllerLabel,
			},
			Containers: []string{"istio-proxy"},
			Ports: []world.Port{
				{Name: "status-port", Port: 15021, TargetPort: 15021, AppProtocol: "tcp"},
				{Name: "mesh", Port: 15008, TargetPort: 15008, AppProtocol: "hbone"},
			},
			ClusterIP: wp.ClusterIP, PodIP: wp.PodIP}
		var y strings.Builder
		if err := worldTemplate.ExecuteTemplate(&y, "workload", workload); err != nil {
			return "", err
		}
		out.WriteString(y.String())
		sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: wp.Name, Namespace: wp.Namespace}}
		if err := emit(sa); err != nil {
			return "", err
		}
	}
	return out.String(), nil
}

// waypointGatewayClass is the class istiod creates for waypoints
// (constants.WaypointGatewayClassName, controller constants.ManagedGatewayMeshController).
const waypointGatewayClass = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: istio-waypoint
spec:
  controllerName: istio.io/mesh-controller
`

// ambientStep is what an ambient client's step adds to the simulation.
type ambientStep struct {
	bundle    scenario.Bundle
	waypoints []waypointDeployment
	allocator *ipallocate.IPAllocator
	stop      chan struct{}
}

// modifier prepares the fake API server as installedGatewayAPICRDs does, and
// attaches istiod's ServiceEntry IP auto-allocator to it
// (pilot/pkg/controllers/ipallocate, on by default: PILOT_ENABLE_IP_AUTOALLOCATE).
// A ServiceEntry without addresses, such as istio.io's httpbin.org, gets its
// VIP in status.addresses from it; ztunnel matches the connection by that VIP
// (DNS proxying answers the host with it) and the waypoint's filter chains
// match on it. Without it the ambient index holds the service with no address.
func (a *ambientStep) modifier(t test.Failer) func(kubelib.Client) {
	a.stop = make(chan struct{})
	t.Cleanup(func() { close(a.stop) })
	return func(c kubelib.Client) {
		installedGatewayAPICRDs(c)
		a.allocator = ipallocate.NewIPAllocator(a.stop, c)
	}
}

// ready runs the allocator and waits until istiod has seen every address
// it allocates, as a cluster does before the probe (the step converges first).
func (a *ambientStep) ready(fake *xds.FakeDiscoveryServer, namespace string) error {
	go a.allocator.Run(a.stop)
	return a.publishAllocations(fake, namespace)
}

// publishAllocations waits for the allocator's status write on every
// ServiceEntry that gets one and hands the status to istiod's config store.
// On a cluster both read the same API object; the fake discovery server
// feeds its ServiceEntry registry from a separate in-memory store, so the
// status (where istiod's ServiceEntry conversion reads the address:
// GetHostAddressesFromConfig in pilot/pkg/networking/serviceentry) is copied
// there, and the push it causes is waited for, as a cluster waits for the step
// to converge before probing.
func (a *ambientStep) publishAllocations(fake *xds.FakeDiscoveryServer, namespace string) error {
	deadline := time.Now().Add(allocationWait)
	store := fake.Store()
	for _, se := range serviceEntries(a.bundle, namespace) {
		if !serviceentry.ShouldV2AutoAllocateIPFromConfig(config.Config{Meta: config.Meta{Namespace: se.namespace, Labels: se.labels}, Spec: se.spec}) {
			continue
		}
		var status *networkingapi.ServiceEntryStatus
		for status == nil {
			got, err := fake.KubeClient().Istio().NetworkingV1().ServiceEntries(se.namespace).Get(context.Background(), se.name, metav1.GetOptions{})
			if err == nil && len(got.Status.GetAddresses()) > 0 {
				status = &got.Status
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("istiod's IP auto-allocator gave ServiceEntry %s/%s no address within %s", se.namespace, se.name, allocationWait)
			}
			time.Sleep(10 * time.Millisecond)
		}
		cfg := store.Get(gvk.ServiceEntry, se.name, se.namespace)
		if cfg == nil {
			return fmt.Errorf("ServiceEntry %s/%s is not in istiod's config store", se.namespace, se.name)
		}
		c := cfg.DeepCopy()
		c.Status = status
		if _, err := store.UpdateStatus(c); err != nil {
			return fmt.Errorf("ServiceEntry %s/%s: %w", se.namespace, se.name, err)
		}
	}
	// Let every push the updates caused land.
	fake.Discovery.ConfigUpdate(&model.PushRequest{Forced: true, Reason: model.NewReasonStats(model.UnknownTrigger)})
	for c := fake.Discovery.InboundUpdates.Load(); fake.Discovery.CommittedUpdates.Load() < c; {
		if time.Now().After(deadline) {
			return fmt.Errorf("istiod did not push the auto-allocated addresses within %s", allocationWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// allocationWait bounds the wait for istiod's IP auto-allocation; it takes
// milliseconds, the bound only keeps a broken step from hanging the run.
const allocationWait = 10 * time.Second

// ambientCluster is the Kubernetes side of the simulated cluster for an
// ambient client's step: the bundle's objects as kubeObjects renders them,
// except that each waypoint Gateway is the one istiod has written its status
// on, followed by what its deployment runs (renderWaypoints).
func ambientCluster(b scenario.Bundle, namespace string) (*ambientStep, string, error) {
	var rest scenario.Bundle
	for _, o := range b {
		if gw, ok := o.Typed.(*gatewayv1.Gateway); ok && string(gw.Spec.GatewayClassName) == constants.WaypointGatewayClassName {
			continue
		}
		rest = append(rest, o)
	}
	kube, err := kubeObjects(rest, namespace)
	if err != nil {
		return nil, "", err
	}
	policies, err := securityObjects(b, namespace)
	if err != nil {
		return nil, "", err
	}
	kube += policies
	wps := waypointsFor(b, namespace)
	extra, err := renderWaypoints(b, namespace, wps)
	if err != nil {
		return nil, "", err
	}
	return &ambientStep{bundle: b, waypoints: wps}, kube + extra, nil
}

// securityObjects renders the bundle's AuthorizationPolicies and
// PeerAuthentications for the fake API server. An ambient istiod reads them
// from the API server (informers in pilot/pkg/serviceregistry/ambient/
// ambientindex.go), not from its config store, and turns them into the
// policies it sends ztunnel; without them the ambient index holds none, as a
// cluster never would. Istio's CRDs serve every version with conversion None,
// and the index watches v1 (gvr.AuthorizationPolicy, gvr.PeerAuthentication),
// so an object written at v1beta1 reaches the client at v1, as the API server
// would serve it.
func securityObjects(b scenario.Bundle, namespace string) (string, error) {
	var out strings.Builder
	for _, o := range b {
		if o.Kind != "AuthorizationPolicy" && o.Kind != "PeerAuthentication" || !strings.HasPrefix(o.APIVersion, "security.istio.io/") {
			continue
		}
		var m map[string]any
		if err := kubeyaml.Unmarshal(o.YAML, &m); err != nil {
			return "", fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
		}
		m["apiVersion"] = "security.istio.io/v1"
		y, err := kubeyaml.Marshal(m)
		if err != nil {
			return "", fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
		}
		if y, err = asServed(y, placed("", o, namespace)); err != nil {
			return "", fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
		}
		out.WriteString("\n---\n")
		out.Write(y)
	}
	return out.String(), nil
}

// bundleServiceEntry is a ServiceEntry of the bundle, whatever its API version.
type bundleServiceEntry struct {
	name      string
	namespace string
	labels    map[string]string
	spec      *networkingapi.ServiceEntry
}

func serviceEntries(b scenario.Bundle, namespace string) []bundleServiceEntry {
	var out []bundleServiceEntry
	for _, o := range b {
		var meta metav1.ObjectMeta
		var spec *networkingapi.ServiceEntry
		switch t := o.Typed.(type) {
		case *networkingv1.ServiceEntry:
			meta, spec = t.ObjectMeta, &t.Spec
		case *networkingv1beta1.ServiceEntry:
			meta, spec = t.ObjectMeta, &t.Spec
		case *networkingv1alpha3.ServiceEntry:
			meta, spec = t.ObjectMeta, &t.Spec
		default:
			continue
		}
		ns := placed(meta.Namespace, o, namespace)
		out = append(out, bundleServiceEntry{name: meta.Name, namespace: ns, labels: meta.Labels, spec: spec})
	}
	return out
}

// serviceEntryNamespaces are the namespaces of the bundle's ServiceEntries
// that name host: where the ambient index keys the service ("<ns>/<host>").
func serviceEntryNamespaces(b scenario.Bundle, namespace, host string) []string {
	var out []string
	for _, se := range serviceEntries(b, namespace) {
		if slices.Contains(se.spec.GetHosts(), host) && !slices.Contains(out, se.namespace) {
			out = append(out, se.namespace)
		}
	}
	return out
}

// ambientService is the service istiod's ambient index holds for host, keyed
// by the namespace of a bundle ServiceEntry that names it; nil when none.
func ambientService(fake *xds.FakeDiscoveryServer, b scenario.Bundle, namespace, host string) *model.ServiceInfo {
	for _, ns := range serviceEntryNamespaces(b, namespace, host) {
		if info := fake.Env().AmbientIndexes.ServiceInfo(ns + "/" + host); info != nil {
			return info
		}
	}
	return nil
}

// walkAmbient decides the path of an ambient client's request: istiod's
// ambient index says whether the destination service uses a waypoint, and the
// waypoint's generated configuration is simulated for the request. The path
// then says which L4 policies istiod sends ztunnel for the destination, and
// whether any ztunnel can enforce them (ztunnelAuthorization).
func walkAmbient(fake *xds.FakeDiscoveryServer, s *scenario.Scenario, b scenario.Bundle, wps []waypointDeployment, req scenario.Request, call simulation.Call, opts ProxyOptions) (Path, error) {
	path, err := walkAmbientHops(fake, s, b, wps, req, call, opts)
	if err != nil {
		return path, err
	}
	if svc := ambientService(fake, b, s.Namespace(), urlHost(req.URL)); svc != nil {
		if note := ztunnelAuthorization(fake, svc); note != "" {
			path.Why += "; " + note
		}
	}
	return path, nil
}

// walkAmbientHops is walkAmbient's path: ztunnel's choice from the ambient
// index, then the waypoint's hop.
func walkAmbientHops(fake *xds.FakeDiscoveryServer, s *scenario.Scenario, b scenario.Bundle, wps []waypointDeployment, req scenario.Request, call simulation.Call, opts ProxyOptions) (Path, error) {
	from := s.ClientFor(req)
	host := urlHost(req.URL)
	path := Path{Sidecar: Hop{Proxy: "client ztunnel (not simulated)", Call: describe(call.FillDefaults())}}

	svc := ambientService(fake, b, s.Namespace(), host)
	if svc == nil {
		path.Route = scenario.RouteDirect
		path.Why = fmt.Sprintf("istiod's ambient index holds no service for %s, so ztunnel knows no waypoint for it and connects straight out", host)
		return path, nil
	}
	gwAddr := svc.Service.GetWaypoint()
	if gwAddr == nil {
		path.Route = scenario.RouteDirect
		path.Why = fmt.Sprintf("istiod's ambient index gives ztunnel service %s/%s no waypoint", svc.Service.GetNamespace(), svc.Service.GetHostname())
		if st := svc.Waypoint; st.Error != nil {
			path.Why += fmt.Sprintf(" (%s: %s)", st.Error.Reason, st.Error.Message)
		}
		return path, nil
	}
	wpHost := gwAddr.GetHostname().GetHostname()
	var wp *waypointDeployment
	for i := range wps {
		if wps[i].Host() == wpHost {
			wp = &wps[i]
		}
	}
	if wp == nil {
		return Path{}, fmt.Errorf("istiod's ambient index sends %s to waypoint %s, which the simulated cluster does not run", host, wpHost)
	}
	var vip string
	for _, a := range svc.Service.GetAddresses() {
		if ip := net.IP(a.GetAddress()); ip.To4() != nil {
			vip = ip.String()
			break
		}
	}
	if vip == "" {
		return blocked(path, 0, fmt.Sprintf("service %s uses waypoint %s but has no address: ztunnel matches connections by destination address and cannot send this one to the waypoint", host, wpHost)), nil
	}

	labels := map[string]string{
		label.IoK8sNetworkingGatewayGatewayName.Name: wp.Name,
		label.GatewayManaged.Name:                    constants.ManagedGatewayMeshControllerLabel,
	}
	proxy, full, err := proxySimulation(fake, model.Waypoint, wp.Name, wp.Namespace, wp.PodIP, labels, opts)
	if err != nil {
		return Path{}, err
	}
	internal := findListener(full.Listeners, core.MainInternalName)
	if internal == nil {
		return Path{}, fmt.Errorf("waypoint %s has no %s listener", wpHost, core.MainInternalName)
	}
	// ztunnel sends the request to the waypoint inside HBONE addressed to the
	// service's VIP and port; the waypoint's connect_terminate listener hands
	// it to main_internal, whose filter chain matcher picks the chain by that
	// destination (buildWaypointInternal). The simulator matches filter chains
	// by FilterChainMatch only, so the matcher is evaluated here and the chain
	// it names is simulated as the listener's only one.
	chainName, err := matchChain(internal.GetFilterChainMatcher(), vip, call.Port, call.TLS == simulation.Plaintext)
	if err != nil {
		return Path{}, fmt.Errorf("waypoint %s: %w", wpHost, err)
	}
	hop := Hop{Proxy: "waypoint " + wp.Namespace + "/" + wp.Name, Call: describe(call.FillDefaults()), Listener: core.MainInternalName}
	if chainName == "" {
		var names []string
		for _, fc := range internal.GetFilterChains() {
			names = append(names, fc.GetName())
		}
		hop.Error = fmt.Sprintf("no filter chain of %s matches %s:%d (chains: %s)", core.MainInternalName, vip, call.Port, strings.Join(names, ", "))
		path.Waypoint = &hop
		return blocked(path, 0, "the waypoint has no filter chain for the request: it closes the connection"), nil
	}
	var chain *listener.FilterChain
	for _, fc := range internal.GetFilterChains() {
		if fc.GetName() == chainName {
			chain = fc
		}
	}
	if chain == nil {
		return Path{}, fmt.Errorf("waypoint %s: the filter chain matcher names chain %s, which the listener lacks", wpHost, chainName)
	}
	single := &listener.Listener{
		Name:         core.MainInternalName,
		Address:      util.BuildAddress("0.0.0.0", uint32(call.Port)),
		FilterChains: []*listener.FilterChain{{Name: chain.GetName(), Filters: chain.GetFilters(), TransportSocket: chain.GetTransportSocket()}},
	}
	sim := &simulation.Simulation{Listeners: []*listener.Listener{single}, Clusters: full.Clusters, Routes: full.Routes}
	wpCall := call
	wpCall.CallMode = simulation.CallModeGateway
	wpCall.Address = "0.0.0.0"
	wpCall.Alpn = ""
	if call.TLS != simulation.Plaintext {
		wpCall.Protocol = simulation.TCP
	}
	hop, res, err := run(sim, hop.Proxy, wpCall)
	if err != nil {
		return Path{}, err
	}
	if c := findCluster(sim, hop.Cluster); c != nil {
		hop.UpstreamTLS, _ = upstreamTLS(unwrapInternalUpstream(c))
		hop.UpstreamCA = upstreamCA(unwrapInternalUpstream(c))
	}
	path.Waypoint = &hop
	if path.NotObservable == "" {
		path.NotObservable = unsimulatedMatch(sim, hop, req)
	}
	if res.Error == nil && wpCall.Protocol != simulation.TCP {
		// HBONE is mutual TLS: the waypoint sees the client's identity.
		d, err := authorize(sim, hop, requestAttributes{
			Principal: fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/%s", from.Namespace, from.Workload),
			Headers:   requestHeaders(req, call),
			Port:      call.Port,
		})
		switch {
		case err != nil:
			path.Problems = append(path.Problems, fmt.Sprintf("%s: authorization cannot be evaluated offline: %v", hop.Proxy, err))
		case d.Denied:
			hop.Authorization, hop.ResponseCodeDetails = "denied: "+d.Details, d.Details
			path.Waypoint = &hop
			return blocked(path, 403, fmt.Sprintf("%s denies the request (%s)", hop.Proxy, d.Details)), nil
		case d.Filters > 0:
			hop.Authorization = fmt.Sprintf("allowed by %d RBAC filter(s)", d.Filters)
			path.Waypoint = &hop
		}
	}
	switch {
	case res.Error != nil:
		return blocked(path, 0, fmt.Sprintf("%s has no route for the request: %v", hop.Proxy, res.Error)), nil
	case hop.Cluster == "" || hop.Cluster == util.BlackHoleCluster:
		return blocked(path, 0, hop.Proxy+" matched no upstream cluster for the request"), nil
	case !hop.ClusterInCDS:
		code := clusterNotFoundStatus(sim, hop)
		path.Problems = append(path.Problems, fmt.Sprintf("%s routes to cluster %s, which is not in its CDS", hop.Proxy, hop.Cluster))
		return blocked(path, code, hop.Proxy+" routes to a cluster missing from CDS: "+answer(code, "Envoy answers %d", "Envoy closes the connection")), nil
	case !hasEndpoints(fake, proxy, sim, hop.Cluster):
		path.Problems = append(path.Problems, noEndpoints(hop.Proxy, hop.Cluster))
		code := httpOnly(hop, 503)
		return blocked(path, code, hop.Proxy+" routes to "+hop.Cluster+", which has no endpoints: "+answer(code, "Envoy answers %d (UH)", "Envoy closes the connection (UH)")), nil
	}
	path.Route = scenario.RouteWaypoint
	path.Why = fmt.Sprintf("istiod's ambient index gives ztunnel waypoint %s for service %s (VIP %s); the waypoint sends the request to %s", wpHost, host, vip, hop.Cluster)
	if p := wireMismatch(fake, proxy, sim, hop, call); p != "" {
		path.Problems = append(path.Problems, hop.Proxy+" "+p)
	}
	return path, nil
}

// ztunnelAuthorization says which L4 AuthorizationPolicies istiod sends
// ztunnel for the workloads behind svc, and who enforces them; "" when none.
//
// The policies are istiod's own: the ambient index's workloads of the service
// carry the selector policies that select them (buildWorkloadPolicies in
// pilot/pkg/serviceregistry/ambient/workloads.go; a resolution: DNS
// ServiceEntry without endpoints is one workload per host, with the
// ServiceEntry's labels: serviceEntryWorkloadBuilder), and ztunnel adds those
// of the workload's namespace and the global ones (istio/ztunnel src/state.rs,
// ProxyState::assert_rbac: policies by namespace, by the empty namespace, and
// the workload's own).
//
// Who enforces them is ztunnel's code: assert_rbac runs only for a connection
// ztunnel accepts for a workload on its node (src/proxy/inbound.rs,
// inbound_passthrough.rs), never on the way out (src/proxy/outbound.rs does
// not call it). A workload istiod gives only a hostname is a host ztunnel
// resolves by DNS and dials as plain TCP (state.rs,
// pick_workload_destination_or_resolve; outbound.rs, proxy_to_tcp): no ztunnel
// runs in front of it, so its policies are sent and never enforced. For any
// other workload the enforcing ztunnel is not simulated, and the note says so.
func ztunnelAuthorization(fake *xds.FakeDiscoveryServer, svc *model.ServiceInfo) string {
	idx := fake.Env().AmbientIndexes
	key := svc.Service.GetNamespace() + "/" + svc.Service.GetHostname()
	all, _ := idx.AddressInformation(nil)
	scoped := idx.Policies(nil)
	var names, external, meshed []string
	for _, a := range all {
		w := a.GetWorkload()
		if w == nil {
			continue
		}
		if _, ok := w.GetServices()[key]; !ok {
			continue
		}
		pols := slices.Clone(w.GetAuthorizationPolicies())
		for _, p := range scoped {
			az := p.Authorization
			if az.GetScope() == security.Scope_GLOBAL || (az.GetScope() == security.Scope_NAMESPACE && az.GetNamespace() == w.GetNamespace()) {
				pols = append(pols, az.GetNamespace()+"/"+az.GetName())
			}
		}
		if len(pols) == 0 {
			continue
		}
		for _, n := range pols {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		who := w.GetNamespace() + "/" + w.GetName()
		if w.GetHostname() != "" && len(w.GetAddresses()) == 0 && w.GetTunnelProtocol() != workloadapi.TunnelProtocol_HBONE {
			external = append(external, who+" (host "+w.GetHostname()+")")
		} else {
			meshed = append(meshed, who)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	note := fmt.Sprintf("istiod sends ztunnel the L4 policies %s for %s", strings.Join(names, ", "), svc.Service.GetHostname())
	if len(external) > 0 {
		note += fmt.Sprintf(": for workload %s no ztunnel enforces them (ztunnel checks policies only for connections it receives for a workload on its node; this one is a host ztunnel resolves by DNS and dials as plain TCP, without checking)", strings.Join(external, ", "))
	}
	if len(meshed) > 0 {
		note += fmt.Sprintf("; for workload %s the destination's ztunnel enforces them (not simulated)", strings.Join(meshed, ", "))
	}
	return note
}

// unwrapInternalUpstream is c with the transport socket that the waypoint's
// inbound-vip clusters wrap in envoy.transport_sockets.internal_upstream
// (pilot/pkg/networking/core/cluster_waypoint.go; pilot/pkg/xds/waypoint_test.go,
// TestWaypointClusterWithDynamicDNSAndTLSOrigination) in its place, so that the
// TLS a DestinationRule originates reads as it does on any other cluster.
func unwrapInternalUpstream(c *cluster.Cluster) *cluster.Cluster {
	iu := &internalupstream.InternalUpstreamTransport{}
	if c.GetTransportSocket().GetTypedConfig().UnmarshalTo(iu) != nil {
		return c
	}
	out := proto.Clone(c).(*cluster.Cluster)
	out.TransportSocket = iu.GetTransportSocket()
	return out
}

func findListener(ls []*listener.Listener, name string) *listener.Listener {
	for _, l := range ls {
		if l.GetName() == name {
			return l
		}
	}
	return nil
}

// matchChain evaluates the waypoint's filter chain matcher (buildWaypointInternal
// in pilot/pkg/networking/core/listener_waypoint.go) for a connection to ip:port:
// an IP matcher on the destination address, then a map on the destination port,
// then, where the port's protocol must be sniffed, the application protocol
// (plaintext HTTP picks the HTTP chain). It returns the name of the chain, ""
// when none matches, and an error for a matcher shape it does not know, rather
// than guess.
func matchChain(m *matcherv3.Matcher, ip string, port int, http bool) (string, error) {
	for depth := 0; m != nil && depth < 8; depth++ {
		tree := m.GetMatcherTree()
		if tree == nil {
			return "", fmt.Errorf("filter chain matcher of an unknown shape: %v", m)
		}
		var next *matcherv3.Matcher_OnMatch
		input := tree.GetInput().GetName()
		switch {
		case tree.GetCustomMatch() != nil:
			if url := tree.GetInput().GetTypedConfig().GetTypeUrl(); !strings.HasSuffix(url, ".DestinationIPInput") {
				return "", fmt.Errorf("filter chain matcher on %s (%s), which the offline tier does not evaluate", input, url)
			}
			ipm := &matcherv3.IPMatcher{}
			if err := tree.GetCustomMatch().GetTypedConfig().UnmarshalTo(ipm); err != nil {
				return "", fmt.Errorf("filter chain matcher %s: %w", input, err)
			}
			addr := net.ParseIP(ip)
			best := -1
			for _, rm := range ipm.GetRangeMatchers() {
				for _, r := range rm.GetRanges() {
					_, cidr, err := net.ParseCIDR(r.GetAddressPrefix() + "/" + strconv.Itoa(int(r.GetPrefixLen().GetValue())))
					if err == nil && cidr.Contains(addr) && int(r.GetPrefixLen().GetValue()) > best {
						best, next = int(r.GetPrefixLen().GetValue()), rm.GetOnMatch()
					}
				}
			}
		case tree.GetExactMatchMap() != nil:
			// The destination port (its value), or the application protocol
			// (match.NewAppProtocol: 'h2c' and 'http/1.1' to the HTTP chain,
			// anything else to the TCP chain, its OnNoMatch).
			var key string
			switch url := tree.GetInput().GetTypedConfig().GetTypeUrl(); {
			case strings.HasSuffix(url, ".DestinationPortInput"):
				key = strconv.Itoa(port)
			case strings.HasSuffix(url, ".ApplicationProtocolInput"):
				key = "'tcp'"
				if http {
					key = "'http/1.1'"
				}
			default:
				return "", fmt.Errorf("filter chain matcher on %s (%s), which the offline tier does not evaluate", input, url)
			}
			next = tree.GetExactMatchMap().GetMap()[key]
		default:
			return "", fmt.Errorf("filter chain matcher %s of an unknown shape", input)
		}
		if next == nil {
			next = m.GetOnNoMatch()
		}
		if next == nil {
			return "", nil
		}
		if a := next.GetAction(); a != nil {
			// match.ToChain: the action is named after the chain.
			return a.GetName(), nil
		}
		m = next.GetMatcher()
	}
	return "", nil
}
