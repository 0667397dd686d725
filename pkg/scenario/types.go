// Package scenario holds the egress-conformance scenario contract (v1alpha1): the
// types of scenario.yaml, the strict loader that reads a scenario directory, and
// the bundle files it names decoded into istio.io/client-go, Gateway API and core
// Kubernetes types.
//
// A scenario is data, never Go code: adding an egress regression check means adding
// a directory under scenarios/. See docs/design.md and README's "Adding a scenario".
package scenario

// APIVersion and Kind identify a scenario file. A file with any other apiVersion or
// kind is refused, so that a future v1beta1 contract cannot be misread as v1alpha1.
const (
	APIVersion = "egress-conformance.io/v1alpha1"
	Kind       = "Scenario"
	// FileName is the name of the scenario file inside a scenario directory.
	FileName = "scenario.yaml"
)

// Route is the path a request takes out of the mesh.
type Route string

const (
	// RouteDirect: the client's sidecar (an ambient client: ztunnel) sends the
	// request straight to the external host.
	RouteDirect Route = "direct"
	// RouteEgressGateway: the client's sidecar sends it to the egress gateway, which
	// sends it to the external host.
	RouteEgressGateway Route = "egress-gateway"
	// RouteWaypoint: the request passes a waypoint proxy (ambient mode: the
	// ServiceEntry's host, or its namespace, uses a waypoint), which sends it to
	// the external host.
	RouteWaypoint Route = "waypoint"
	// RouteBlocked: the request never leaves the mesh (block_all route, BlackHoleCluster,
	// an authorization denial, or no route at all).
	RouteBlocked Route = "blocked"
)

// Routes lists the valid Route values in the order they are documented.
var Routes = []Route{RouteDirect, RouteEgressGateway, RouteWaypoint, RouteBlocked}

// DataPlane is how a client's traffic enters Istio's data plane.
type DataPlane string

const (
	// Sidecar: the client's pod runs Istio's sidecar (its namespace is labelled
	// for injection). The default, and v1alpha1's only mode before ambient.
	Sidecar DataPlane = "sidecar"
	// Ambient: the client's pod runs no sidecar; its namespace is labelled
	// istio.io/dataplane-mode=ambient, ztunnel on its node carries its
	// connections, and a waypoint, where the destination uses one, its requests.
	Ambient DataPlane = "ambient"
)

// DataPlanes lists the valid DataPlane values in the order they are documented.
var DataPlanes = []DataPlane{Sidecar, Ambient}

// OutboundTrafficPolicy is the mesh's outboundTrafficPolicy.mode.
type OutboundTrafficPolicy string

const (
	AllowAny     OutboundTrafficPolicy = "ALLOW_ANY"
	RegistryOnly OutboundTrafficPolicy = "REGISTRY_ONLY"
)

// Scenario is one scenario.yaml, plus where it was read from.
type Scenario struct {
	APIVersion  string   `yaml:"apiVersion"`
	Kind        string   `yaml:"kind"`
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Source      string   `yaml:"source"`
	Labels      []string `yaml:"labels"`
	Mesh        Mesh     `yaml:"mesh"`
	// DataPlane is the data-plane mode of the scenario's clients: sidecar (the
	// default) or ambient. A client may override it (ExtraClient.DataPlane).
	DataPlane DataPlane `yaml:"dataPlane"`
	// Client is the workload under fixtures/workloads/ that sends requests, in the
	// scenario's own namespace, unless a step's request names another client.
	Client string `yaml:"client"`
	// Clients are further clients, each in a namespace of its own, for checks
	// that must tell workloads apart (an authorization policy at the egress gateway
	// that denies one namespace and lets another through).
	Clients []ExtraClient `yaml:"clients"`
	// Workloads are auxiliary workloads outside the mesh that the scenario
	// deploys before its first step (istio.io's http-proxy task: a squid proxy
	// in an uninjected namespace). They send no requests; a Variable may name
	// the IP their pod gets.
	Workloads []Workload `yaml:"workloads"`
	// Variables are values known only at run time (a workload's pod IP) or
	// stated once, substituted as $NAME or ${NAME} into the bundle files and
	// the requests, as the shell substitutes istio.io's $PROXY_IP (vars.go).
	Variables []Variable `yaml:"variables"`
	Steps     []Step     `yaml:"steps"`

	// Dir is the scenario directory; File is Dir/scenario.yaml. Set by the loader.
	Dir  string `yaml:"-"`
	File string `yaml:"-"`
}

// ExtraClient is a client besides the scenario's own.
type ExtraClient struct {
	// Name is how a request refers to it (request.from) and, unless Namespace is
	// set, the suffix of its namespace: egress-<scenario>-<name>.
	Name string `yaml:"name"`
	// Workload is a workload under fixtures/workloads/; default: the scenario's client.
	Workload string `yaml:"workload"`
	// Namespace names the client's namespace explicitly (istio.io's tasks use
	// fixed names such as test-egress or without-istio). The harness still
	// creates, labels and deletes it as it does its own namespaces; it may be the
	// scenario's own namespace or another client's, so that an injected and an
	// uninjected client share one (and one NetworkPolicy).
	Namespace string `yaml:"namespace"`
	// Injected defaults to true. false: the client runs without Istio's sidecar.
	// Its pod carries sidecar.istio.io/inject: "false", and its namespace is
	// labelled for injection only when an injected client shares it.
	Injected *bool `yaml:"injected"`
	// Annotations are pod annotations the harness puts on the client's pod
	// template; only those that change what the sidecar intercepts, so that a
	// scenario can state a sidecar that lets traffic around it
	// (SidecarAnnotations). Only for an injected client.
	Annotations map[string]string `yaml:"annotations,omitempty"`
	// DataPlane overrides the scenario's dataPlane for this client, so that a
	// sidecar client and an ambient client can send the same request side by
	// side. Clients of different data planes never share a namespace: the
	// namespace's labels decide both injection and ambient enrolment.
	DataPlane DataPlane `yaml:"dataPlane"`
}

// Workload is an auxiliary workload: a file under fixtures/workloads/ (a
// Deployment and what it needs, e.g. its ConfigMap) deployed without a sidecar
// into a namespace the harness creates and deletes.
type Workload struct {
	// Name is how a variable refers to it (variables[].podIP) and, unless
	// Namespace is set, the suffix of its namespace: egress-<scenario>-<name>.
	Name string `yaml:"name"`
	// Workload is a workload under fixtures/workloads/.
	Workload string `yaml:"workload"`
	// Namespace names its namespace explicitly (the task's "external"). It may
	// be shared with clients without a sidecar, never with an injected or an
	// ambient client: the workload stands for something outside the mesh.
	Namespace string `yaml:"namespace"`
}

// WorkloadRef is a workload resolved to what the tiers deploy.
type WorkloadRef struct {
	Name      string
	Workload  string
	Namespace string
	// StandinIP is the pod IP the offline tier gives it (StandinPodIP).
	StandinIP string
}

// WorkloadRefs lists the scenario's auxiliary workloads in order.
func (s *Scenario) WorkloadRefs() []WorkloadRef {
	out := make([]WorkloadRef, len(s.Workloads))
	for i, w := range s.Workloads {
		ns := w.Namespace
		if ns == "" {
			ns = s.Namespace() + "-" + w.Name
		}
		out[i] = WorkloadRef{Name: w.Name, Workload: w.Workload, Namespace: ns, StandinIP: StandinPodIP(i)}
	}
	return out
}

// Variable is a value substituted into bundle files and requests. Exactly one
// of PodIP and Value is set.
type Variable struct {
	// Name is written $NAME or ${NAME} where the value goes (a shell variable
	// name: letters, digits and '_', not starting with a digit).
	Name string `yaml:"name"`
	// PodIP names a workload (workloads[].name): the value is its pod's IP,
	// which the cluster tier reads once the pod is Ready and the offline tier
	// stands in for with StandinPodIP.
	PodIP string `yaml:"podIP,omitempty"`
	// Value is a constant (istio.io's PROXY_PORT=3128).
	Value string `yaml:"value,omitempty"`
}

// SidecarAnnotations are the pod annotations a client may carry: the ones users
// reach for to let a destination bypass the sidecar (istio-iptables then RETURNs
// those connections before they reach Envoy).
var SidecarAnnotations = []string{
	"traffic.sidecar.istio.io/excludeOutboundPorts",
	"traffic.sidecar.istio.io/excludeOutboundIPRanges",
}

// ClientRef is a client resolved to what the tiers deploy: a workload in a namespace.
type ClientRef struct {
	// Name is empty for the scenario's own client.
	Name      string
	Workload  string
	Namespace string
	// Injected: the client runs Istio's sidecar (a sidecar client does unless it
	// says injected: false; an ambient client never does).
	Injected bool
	// DataPlane is the client's own mode, the scenario's unless it overrides it.
	DataPlane DataPlane
}

// AnnotationsOf are the pod annotations client c declares (ExtraClient.Annotations;
// none for the scenario's own client). ClientRef stays comparable (a map key of
// the suites), so they are looked up here.
func (s *Scenario) AnnotationsOf(c ClientRef) map[string]string {
	if c.Name == "" {
		return nil
	}
	for _, e := range s.Clients {
		if e.Name == c.Name {
			return e.Annotations
		}
	}
	return nil
}

// Ambient tells whether the client is in ambient mode.
func (c ClientRef) Ambient() bool { return c.DataPlane == Ambient }

// InjectLabel is the pod label that keeps Istio's injection webhook from adding
// a sidecar to one pod of an injected namespace. The webhook's object selector
// skips a pod labelled "false" (manifests/charts/istio-control/istio-discovery/
// templates/mutatingwebhook.yaml) and the injector prefers the label to the
// annotation of the same name (pkg/kube/inject/inject.go injectRequired), which
// istioctl analyze reports as deprecated (IST0135).
const InjectLabel = "sidecar.istio.io/inject"

// Clients lists every client of the scenario, its own first.
func (s *Scenario) ClientRefs() []ClientRef {
	dp := s.dataPlane()
	refs := []ClientRef{{Workload: s.Client, Namespace: s.Namespace(), Injected: dp == Sidecar, DataPlane: dp}}
	for _, c := range s.Clients {
		refs = append(refs, s.clientRef(c))
	}
	return refs
}

func (s *Scenario) clientRef(c ExtraClient) ClientRef {
	dp := c.DataPlane
	if dp == "" {
		dp = s.dataPlane()
	}
	r := ClientRef{Name: c.Name, Workload: c.Workload, Namespace: c.Namespace, DataPlane: dp,
		Injected: dp == Sidecar && (c.Injected == nil || *c.Injected)}
	if r.Workload == "" {
		r.Workload = s.Client
	}
	if r.Namespace == "" {
		r.Namespace = s.Namespace() + "-" + c.Name
	}
	return r
}

// dataPlane is the scenario's mode; the loader defaults it to sidecar, and a
// Scenario built in Go without it means the same.
func (s *Scenario) dataPlane() DataPlane {
	if s.DataPlane == "" {
		return Sidecar
	}
	return s.DataPlane
}

// AmbientNamespace tells whether the harness labels ns
// istio.io/dataplane-mode=ambient: when an ambient client lives there (the
// loader refuses a namespace shared by clients of different data planes).
func (s *Scenario) AmbientNamespace(ns string) bool {
	for _, c := range s.ClientRefs() {
		if c.Namespace == ns && c.Ambient() {
			return true
		}
	}
	return false
}

// Ambient tells whether any client of the scenario is in ambient mode: the
// cluster then needs ambient's components (istio-cni, ztunnel).
func (s *Scenario) Ambient() bool {
	for _, c := range s.ClientRefs() {
		if c.Ambient() {
			return true
		}
	}
	return false
}

// InjectedNamespace tells whether the harness labels ns for sidecar injection:
// when at least one injected client lives there.
func (s *Scenario) InjectedNamespace(ns string) bool {
	for _, c := range s.ClientRefs() {
		if c.Namespace == ns && c.Injected {
			return true
		}
	}
	return false
}

// ClientFor is the client that sends a request: the one it names in from, else the
// scenario's own. The loader has checked that from names a declared client.
func (s *Scenario) ClientFor(r Request) ClientRef {
	refs := s.ClientRefs()
	for _, c := range refs[1:] {
		if c.Name == r.From {
			return c
		}
	}
	return refs[0]
}

// Mesh holds the mesh settings a scenario needs.
type Mesh struct {
	// OutboundTrafficPolicy defaults to ALLOW_ANY, Istio's own default.
	OutboundTrafficPolicy OutboundTrafficPolicy `yaml:"outboundTrafficPolicy"`
}

// Step is one request with its expectation. Steps run in order; the files a step
// applies are added to those of the steps before it (bundles are cumulative).
// A step first deletes the objects of the files in Delete (kubectl delete -f),
// then applies the files in Apply (kubectl apply -f): an object with the kind,
// namespace and name of one already applied by an earlier step replaces it.
type Step struct {
	Name    string      `yaml:"name"`
	Apply   []ApplyFile `yaml:"apply"`
	Delete  []string    `yaml:"delete"`
	Request Request     `yaml:"request"`
	Expect  Expect      `yaml:"expect"`

	// Line is the line of the step in scenario.yaml, for error messages.
	Line int `yaml:"-"`
	// lineOf is LineOf's source, set by the loader.
	lineOf func(field string) int
	// Bundle is the cumulative bundle after this step's files were applied. Set by the loader.
	Bundle Bundle `yaml:"-"`
	// rawRequest is Request as written when it references a variable
	// (Request then holds the offline stand-in values); nil otherwise.
	rawRequest *Request
}

// RequestAsWritten is the step's request before variables were substituted.
func (st Step) RequestAsWritten() Request {
	if st.rawRequest != nil {
		return *st.rawRequest
	}
	return st.Request
}

// ApplyFile is one entry of a step's apply list: a bundle file, written as its
// bare name, or as a mapping {file, namespace} to put the objects that name no
// namespace of their own into Namespace (kubectl apply -n), e.g. istio-system.
type ApplyFile struct {
	File      string `yaml:"file"`
	Namespace string `yaml:"namespace,omitempty"`

	// mapping: written as a mapping, so its problems are the file field's.
	mapping bool
}

// ApplyFiles are the names of the files the step applies, in order, as written.
func (st Step) ApplyFiles() []string {
	out := make([]string, len(st.Apply))
	for i, a := range st.Apply {
		out[i] = a.File
	}
	return out
}

// MarshalYAML writes an entry without a namespace back as its bare file name.
func (a ApplyFile) MarshalYAML() (any, error) {
	if a.Namespace == "" {
		return a.File, nil
	}
	type fields ApplyFile // without this method
	return fields(a), nil
}

// Request is what the client sends: curl's options, by their meaning.
type Request struct {
	// URL is what curl is given, e.g. http://httpbin.org/ip.
	URL string `yaml:"url"`
	// From names the client that sends it (one of the scenario's clients); empty:
	// the scenario's own client.
	From string `yaml:"from"`
	// Method defaults to GET; HEAD is sent as curl -I, any other as -X.
	Method string `yaml:"method,omitempty"`
	// Headers are "Name: value" lines (curl -H); "Host: x" overrides the Host
	// header the URL implies.
	Headers []string `yaml:"headers,omitempty"`
	// Resolve pins host:port to an address, "host:port:address" (curl --resolve):
	// curl connects there and keeps the URL's host in Host and SNI.
	Resolve []string `yaml:"resolve,omitempty"`
	// Proxy sends the request through an HTTP proxy (curl -x), e.g.
	// http://10.0.0.5:3128; an https:// URL then goes through CONNECT.
	Proxy string `yaml:"proxy,omitempty"`
	// FollowRedirects follows 3xx answers (curl -L); false, as curl, by default.
	FollowRedirects bool `yaml:"followRedirects,omitempty"`
}

// Expect is a step's expectation. Only Route is required; every other field is
// checked only when it is stated.
type Expect struct {
	Route Route `yaml:"route"`
	// Status is the HTTP status curl reports.
	Status *int `yaml:"status,omitempty"`
	// CurlExit is curl's exit code, for requests that never get an HTTP answer
	// (35: the TLS connection was reset).
	CurlExit *int `yaml:"curlExit,omitempty"`
	// Origin is the origin chain httpbin reports.
	Origin *Origin `yaml:"origin,omitempty"`
	// SidecarLog is the client sidecar's access-log line for the request.
	SidecarLog *LogExpect `yaml:"sidecarLog,omitempty"`
	// GatewayLog is the egress gateway's line for the request, or Absent.
	GatewayLog *LogExpect `yaml:"gatewayLog,omitempty"`
	// WaypointLog is the waypoint's line for the request, or Absent. A waypoint
	// is Envoy with Istio's access-log format, so the fields are the gateway's.
	WaypointLog *LogExpect `yaml:"waypointLog,omitempty"`
	// ZtunnelLog is the line of the ztunnel on an ambient client's node for the
	// probe's connection, or Absent (ZtunnelLogExpect; cluster tier only).
	ZtunnelLog *ZtunnelLogExpect `yaml:"ztunnelLog,omitempty"`
	// WorkloadLog is a line a workload (workloads[].name) must have logged for
	// the client's request: istio.io's http-proxy task reads squid's
	// access.log. Cluster tier only: not observable offline.
	WorkloadLog *WorkloadLogExpect `yaml:"workloadLog,omitempty"`
}

// WorkloadLogExpect is a line of a workload's own log file: one that holds the
// client pod's IP as a whole field (squid's client address) and Contains.
type WorkloadLogExpect struct {
	// Workload is a workloads[].name.
	Workload string `yaml:"workload"`
	// File is the log file in the workload's container, read as the page does
	// (kubectl exec ... tail), e.g. /var/log/squid/access.log.
	File string `yaml:"file"`
	// Contains is a substring of the line, e.g. "CONNECT httpbin.org:443".
	Contains string `yaml:"contains"`
}

// OriginFirstClient is the only symbolic value Origin.First takes: the client pod's IP.
const OriginFirstClient = "client"

// Origin is the expected origin chain httpbin reports.
type Origin struct {
	// Hops is the number of addresses in the chain.
	Hops int `yaml:"hops"`
	// First, when set, is what the first hop must be: "client" (the client pod's IP).
	First string `yaml:"first,omitempty"`
}

// LogExpect is an expected access-log line. The zero value of each field means
// "not checked". Absent means no line for the request must exist at all: it is
// written in YAML as the bare scalar `absent`.
type LogExpect struct {
	Absent bool `yaml:"-"`

	Method              string `yaml:"method,omitempty"`
	Path                string `yaml:"path,omitempty"`
	Authority           string `yaml:"authority,omitempty"`
	ResponseCode        int    `yaml:"responseCode,omitempty"`
	ResponseFlags       string `yaml:"responseFlags,omitempty"`
	ResponseCodeDetails string `yaml:"responseCodeDetails,omitempty"`
	UpstreamCluster     string `yaml:"upstreamCluster,omitempty"`
	RequestedServerName string `yaml:"requestedServerName,omitempty"`
	RouteName           string `yaml:"routeName,omitempty"`
}

// AbsentValue is the YAML scalar that says a log line must not exist.
const AbsentValue = "absent"

// MarshalYAML writes an absent line back as the bare scalar `absent`, as users
// write it (DRY_RUN prints expectations).
func (l LogExpect) MarshalYAML() (any, error) {
	if l.Absent {
		return AbsentValue, nil
	}
	type fields LogExpect // without this method
	return fields(l), nil
}

// LineOf is the line in scenario.yaml of a field of the step, e.g.
// "expect.route" or "expect.sidecarLog.upstreamCluster" (the names pkg/expect
// gives its checks), or of its nearest written ancestor when the field itself is
// not written: a failed check is then reported where its expectation is stated.
// Steps the loader did not read answer Line.
func (st Step) LineOf(field string) int {
	if st.lineOf == nil {
		return st.Line
	}
	return st.lineOf(field)
}
