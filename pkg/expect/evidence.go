// Package expect turns a step's expectation and the evidence gathered for it into a
// verdict that lists every check with what it saw, and offers Gomega matchers over
// it. It is pure: no I/O. The evidence is gathered elsewhere (pkg/offline for the
// offline tier; pkg/probe, pkg/evidence and pkg/origin for the cluster tier).
//
// Rules:
//   - Every expectation a step states yields exactly one Check; unstated ones yield none.
//   - A Check passes, fails, or is not observable in the tier. Not observable is
//     neither a pass nor a failure: the offline tier cannot see what only real
//     traffic shows (origin chain, curl exit code, the upstream's status, most
//     access-log fields), and says so instead of guessing.
//   - A failing Check carries the raw evidence it looked at (access-log line, body),
//     so that the failure message alone is enough to debug.
package expect

import (
	"strconv"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/origin"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Tier is where the evidence comes from.
type Tier string

const (
	// Offline evidence comes from Istio's own xDS generation and request simulation.
	Offline Tier = "offline"
	// Cluster evidence comes from real traffic on a cluster.
	Cluster Tier = "cluster"
)

// DefaultGatewayHosts are the egress gateway Service host names a client sidecar's
// upstream cluster is compared with when Evidence.GatewayHosts is empty: the
// istioctl-installed istio-egressgateway.
var DefaultGatewayHosts = []string{"istio-egressgateway.istio-system.svc.cluster.local"}

// Evidence is everything observed for one request of one step.
type Evidence struct {
	Tier Tier

	// RequestID is the x-request-id the probe sent; printed in reports.
	RequestID string

	// Route is the path observed. Offline: from the simulation. Cluster: leave it
	// empty and Evaluate derives it with Classify (or set it from Classify yourself).
	Route scenario.Route
	// RouteWhy is one line on how Route was derived, e.g. "client sidecar upstream
	// cluster outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local".
	RouteWhy string

	// Status is the HTTP status curl reported. nil: no status (cluster: curl got no
	// HTTP answer; offline: the proxy did not decide one itself, the upstream would).
	Status *int
	// CurlExit is curl's exit code; nil when not observed (always, offline).
	CurlExit *int
	// Body is the answer's body (cluster only).
	Body string

	// Origin is the chain read from Body with origin.FromBody; OriginErr is why it
	// could not be read; OriginObserved tells whether an attempt was made at all.
	Origin         origin.Chain
	OriginErr      error
	OriginObserved bool
	// ClientIP is the client pod's IP, for origin.first: client.
	ClientIP string

	// Sidecar and Gateway are the client sidecar's and the egress gateway's
	// access-log entries for RequestID; nil when none was found. Offline, the
	// simulation fills only UpstreamCluster and RouteName, and leaves Gateway nil
	// when the simulated request never reached the gateway.
	Sidecar, Gateway *accesslog.Entry
	// SidecarRaw and GatewayRaw are the raw lines, printed in failures.
	SidecarRaw, GatewayRaw string
	// Waypoint is the waypoint's access-log entry for RequestID (ambient mode),
	// nil when none was found; WaypointRaw is its raw line. Offline, as Gateway.
	Waypoint    *accesslog.Entry
	WaypointRaw string
	// Ambient says the client is in ambient mode: it has no sidecar, and its
	// connection's witness is Ztunnel, the outbound line of the ztunnel on its
	// node (cluster tier only: the offline tier does not simulate ztunnel).
	Ambient    bool
	Ztunnel    *accesslog.ZtunnelEntry
	ZtunnelRaw string
	// LogsObserved is true when the cluster tier read both proxies' logs. When it is
	// false in the cluster tier, a missing line proves nothing and every log check fails.
	LogsObserved bool
	// NoSidecar: the client runs without Istio's sidecar (injected: false), so
	// no sidecar line exists and the route is read from the gateways' logs and
	// curl's result alone (Classify).
	NoSidecar bool

	// GatewayHosts are the egress gateway Service host names (e.g. a Gateway API
	// "<name>-istio.<ns>.svc.cluster.local"); empty means DefaultGatewayHosts.
	GatewayHosts []string
}

func (ev Evidence) gatewayHosts() []string {
	if len(ev.GatewayHosts) == 0 {
		return DefaultGatewayHosts
	}
	return ev.GatewayHosts
}

// ClusterName is an Envoy cluster name as Istio builds it:
// "outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local"
// (direction|port|subset|host). The same key also appears as
// "outbound_.80_.httpbin_.istio-egressgateway.istio-system.svc.cluster.local"
// (SNI and stat-name form).
type ClusterName struct {
	Direction string // "outbound" or "inbound"
	Port      int
	Subset    string
	Host      string
}

// ParseCluster parses an Istio cluster name in either form. Envoy's special
// clusters (PassthroughCluster, BlackHoleCluster, InboundPassthroughCluster...)
// and anything else are not Istio service clusters: ok is false. A trailing ";"
// (the alt_stat_name delimiter that %UPSTREAM_CLUSTER% printed in Istio 1.23's
// JSON access log, istio/istio#54219) is ignored.
func ParseCluster(name string) (ClusterName, bool) {
	name = trimStatDelimiter(name)
	var parts []string
	switch {
	case strings.Count(name, "|") == 3:
		parts = strings.Split(name, "|")
	case strings.Contains(name, "_."):
		parts = strings.SplitN(name, "_.", 4)
		if len(parts) != 4 {
			return ClusterName{}, false
		}
	default:
		return ClusterName{}, false
	}
	if parts[0] != "outbound" && parts[0] != "inbound" {
		return ClusterName{}, false
	}
	port, err := strconv.Atoi(parts[1])
	if err != nil || port <= 0 || port > 65535 {
		return ClusterName{}, false
	}
	return ClusterName{Direction: parts[0], Port: port, Subset: parts[2], Host: parts[3]}, true
}

// String prints the cluster in the pipe form.
func (c ClusterName) String() string {
	return c.Direction + "|" + strconv.Itoa(c.Port) + "|" + c.Subset + "|" + c.Host
}

// SameCluster reports whether two cluster names name the same cluster: equal in
// either form, the host compared without letter case or a trailing dot. Names that
// are not Istio service clusters ("PassthroughCluster") are compared exactly.
func SameCluster(a, b string) bool {
	ca, okA := ParseCluster(a)
	cb, okB := ParseCluster(b)
	if !okA || !okB {
		return trimStatDelimiter(a) == trimStatDelimiter(b)
	}
	return ca.Direction == cb.Direction && ca.Port == cb.Port && ca.Subset == cb.Subset &&
		sameHost(ca.Host, cb.Host)
}

// trimStatDelimiter drops the ";" an alt_stat_name leaves at the end of a
// cluster name printed with %UPSTREAM_CLUSTER%.
func trimStatDelimiter(name string) string { return strings.TrimSuffix(name, ";") }

func sameHost(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// gatewayCluster reports whether an upstream cluster sends to one of hosts.
func gatewayCluster(name string, hosts []string) bool {
	c, ok := ParseCluster(name)
	if !ok || c.Direction != "outbound" {
		return false
	}
	for _, h := range hosts {
		if sameHost(c.Host, h) {
			return true
		}
	}
	return false
}
