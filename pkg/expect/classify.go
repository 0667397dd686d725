package expect

import (
	"fmt"
	"slices"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Envoy's special clusters and the route Istio uses for REGISTRY_ONLY.
const (
	blackHoleCluster   = "BlackHoleCluster"
	passthroughCluster = "PassthroughCluster"
	blockAllRoute      = "block_all"
)

// blockedCurlExits are the curl exit codes of a request that got no HTTP answer
// because the mesh refused it: 7 could not connect, 35 TLS handshake failed (the
// sidecar reset a TLS connection to BlackHoleCluster), 52 empty reply, 56 receive
// failure (reset).
var blockedCurlExits = []int{7, 35, 52, 56}

// networkBlockedCurlExits are the exits of a client without a sidecar whose
// connection the network refused: 7 (a REJECT, connection refused) and 28 (the
// SYN was dropped, so curl's connect timed out). A NetworkPolicy dataplane drops
// or rejects; which, is the plugin's choice (kube-network-policies, kind's,
// gives the packet an nfqueue verdict of drop).
var networkBlockedCurlExits = []int{7, 28}

// Classify derives the route a request took from cluster-tier evidence, with one
// line saying why. It returns "" (unknown) with the reason when the evidence does
// not decide; Evaluate turns that into a failed expect.route, never a pass.
//
// In order:
//  1. blocked: a line sends to BlackHoleCluster (REGISTRY_ONLY, TCP/TLS), the client
//     sidecar matched the block_all route (REGISTRY_ONLY, HTTP: the sidecar answers
//     502 itself), a proxy found no route (flag NR), or the egress gateway denied it
//     (403 with response_code_details rbac_access_denied...);
//  2. blocked: the furthest proxy that logged the request (the gateway if it did,
//     else the client sidecar) never opened a connection upstream: flag UF without a
//     TLS error (connect refused or timed out: a NetworkPolicy, or no route to the
//     host) or UH (no healthy upstream: no endpoints), and Envoy answered itself
//     (503, or 0 on a TCP line); or curl gave up while it was still connecting
//     (DC, no status, no upstream local address). Nothing left through it, which
//     is also what the offline tier says of a connection a NetworkPolicy denies
//     or a cluster without endpoints. A TLS error is different: the connection was open, and the request
//     reached the destination's port before the handshake failed;
//  3. blocked: curl got no HTTP answer (exit 7, 35, 52 or 56) and no line shows an
//     upstream host was reached; or no proxy logged it at all and curl's connect
//     was refused or timed out (exit 7, 28): it went around the sidecar (or the
//     client has none, classifyWithoutSidecar) and the network stopped it;
//  4. egress-gateway: the gateway logged the request id, or the client sidecar's
//     upstream cluster is an egress gateway Service (Evidence.GatewayHosts);
//  5. direct: the client sidecar logged it with any other upstream cluster;
//  6. unknown otherwise.
//
// An ambient client's evidence (Evidence.Ambient) is classified by
// classifyAmbient instead.
func Classify(ev Evidence) (scenario.Route, string) {
	if ev.Ambient {
		return classifyAmbient(ev)
	}
	sc, gw := ev.Sidecar, ev.Gateway
	switch {
	case sc != nil && isCluster(sc, blackHoleCluster):
		return scenario.RouteBlocked, fmt.Sprintf("client sidecar sent it to %s (response flags %s)", blackHoleCluster, orDash(sc.ResponseFlags))
	case sc != nil && sc.RouteName == blockAllRoute:
		return scenario.RouteBlocked, fmt.Sprintf("client sidecar matched route %s and answered %d itself (%s)", blockAllRoute, sc.ResponseCode, orDash(sc.ResponseCodeDetails))
	case sc != nil && hasFlag(sc.ResponseFlags, "NR"):
		return scenario.RouteBlocked, fmt.Sprintf("client sidecar found no route (response flags %s, %s)", sc.ResponseFlags, orDash(sc.ResponseCodeDetails))
	case gw != nil && gw.ResponseCode == 403 && strings.HasPrefix(gw.ResponseCodeDetails, "rbac_access_denied"):
		return scenario.RouteBlocked, fmt.Sprintf("egress gateway denied it: 403 %s", gw.ResponseCodeDetails)
	case gw != nil && isCluster(gw, blackHoleCluster):
		return scenario.RouteBlocked, fmt.Sprintf("egress gateway sent it to %s", blackHoleCluster)
	case gw != nil && hasFlag(gw.ResponseFlags, "NR"):
		return scenario.RouteBlocked, fmt.Sprintf("egress gateway found no route (response flags %s, %s)", gw.ResponseFlags, orDash(gw.ResponseCodeDetails))
	}
	if who, e := furthestProxy("client sidecar", sc, gw); e != nil && neverConnected(e) {
		return scenario.RouteBlocked, neverConnectedWhy(who, e)
	}
	if ev.NoSidecar && gw == nil {
		return classifyWithoutSidecar(ev)
	}
	if sc == nil && gw == nil && ev.LogsObserved && ev.Status == nil && ev.CurlExit != nil && slices.Contains(networkBlockedCurlExits, *ev.CurlExit) {
		// The sidecar never saw the connection (its pod annotations exclude the
		// destination from interception) and the network refused or dropped it.
		return scenario.RouteBlocked, fmt.Sprintf("no proxy logged the request and curl exit %d (connection refused or timed out): it went around the sidecar and the network stopped it", *ev.CurlExit)
	}
	if ev.Status == nil && ev.CurlExit != nil && slices.Contains(blockedCurlExits, *ev.CurlExit) &&
		!reachedUpstream(sc) && !reachedUpstream(gw) {
		why := fmt.Sprintf("curl exit %d with no HTTP answer, and no access line shows an upstream host", *ev.CurlExit)
		if !ev.LogsObserved {
			why += " (access logs were not read)"
		}
		return scenario.RouteBlocked, why
	}
	hosts := ev.gatewayHosts()
	switch {
	case gw != nil:
		why := fmt.Sprintf("egress gateway logged the request id (gateway upstream cluster %s)", orDash(gw.UpstreamCluster))
		if sc != nil {
			why = fmt.Sprintf("client sidecar upstream cluster %s; ", orDash(sc.UpstreamCluster)) + why
		}
		return scenario.RouteEgressGateway, why
	case sc != nil && gatewayCluster(sc.UpstreamCluster, hosts):
		return scenario.RouteEgressGateway, fmt.Sprintf("client sidecar upstream cluster %s is an egress gateway Service (no gateway line found)", sc.UpstreamCluster)
	case sc != nil:
		why := fmt.Sprintf("client sidecar sent it to %s, not to an egress gateway Service %v", orDash(sc.UpstreamCluster), hosts)
		if isCluster(sc, passthroughCluster) {
			why += " (ALLOW_ANY passthrough: no ServiceEntry matched)"
		}
		return scenario.RouteDirect, why
	}
	return unknownRoute(ev, "no client sidecar line and no egress gateway line", "access logs")
}

// unknownRoute is the route no line decides: why names the lines that were
// missing, for the probe's request id, and says when the logs (which) were not
// read at all.
func unknownRoute(ev Evidence, why, logs string) (scenario.Route, string) {
	if ev.RequestID != "" {
		why += " for request id " + ev.RequestID
	}
	if !ev.LogsObserved {
		why += " (" + logs + " were not read)"
	}
	return "", why + ": route unknown"
}

// classifyWithoutSidecar: a client without a sidecar, whose request no egress
// gateway logged. Only the network stands between it and the outside: an HTTP
// answer means it got out on its own (direct, around the gateway); a refused or
// timed-out connect means the network blocked it.
func classifyWithoutSidecar(ev Evidence) (scenario.Route, string) {
	observed := ""
	if !ev.LogsObserved {
		observed = " (the gateways' logs were not read: a gateway line's absence is not proven)"
	}
	switch {
	case !ev.LogsObserved:
		return "", "client without a sidecar" + observed + ": route unknown"
	case ev.Status != nil:
		return scenario.RouteDirect, fmt.Sprintf("client without a sidecar got HTTP %d and no egress gateway logged the request: it left on its own", *ev.Status)
	case ev.CurlExit != nil && slices.Contains(networkBlockedCurlExits, *ev.CurlExit):
		return scenario.RouteBlocked, fmt.Sprintf("client without a sidecar: curl exit %d (connection refused or timed out) and no egress gateway line: the network stopped it", *ev.CurlExit)
	}
	return "", fmt.Sprintf("client without a sidecar: curl exit %s with no HTTP answer and no egress gateway line: route unknown", intOr(ev.CurlExit, "not recorded"))
}

func hasFlag(flags, flag string) bool {
	for f := range strings.SplitSeq(flags, ",") {
		if strings.TrimSpace(f) == flag {
			return true
		}
	}
	return false
}

// furthestProxy is the last proxy on the path that logged the request: the egress
// gateway when it did, else the first proxy (the client sidecar, or an ambient
// client's waypoint), named first.
func furthestProxy(first string, e, gw *accesslog.Entry) (string, *accesslog.Entry) {
	if gw != nil {
		return "egress gateway", gw
	}
	if e != nil {
		return first, e
	}
	return "", nil
}

// neverConnectedWhy says which proxy could not get out, with its line's fields.
func neverConnectedWhy(who string, e *accesslog.Entry) string {
	return fmt.Sprintf("%s never connected upstream: cluster %s, host %s, response %d, flags %s (%s): nothing left the mesh through it",
		who, orDash(e.UpstreamCluster), orDash(e.UpstreamHost), e.ResponseCode, e.ResponseFlags, orDash(e.ResponseCodeDetails))
}

// neverConnected reports whether a line is Envoy's own answer to a connection it
// could not open: UF (upstream connection failure: refused, reset or timed out
// while connecting; "UF,URX" once Istio's default retries are spent) or UH (no
// healthy upstream), with a 503 (HTTP) or no status (TCP). A TLS error also sets
// UF, with the reason in the details (upstream_reset_before_response_started
// {connection_failure,TLS_error:...}), after the TCP connection was open.
//
// Or the client gave up first: no status, DC (downstream disconnect) and no
// upstream local address, which Envoy records once a connection upstream is
// open. A connection a NetworkPolicy drops usually ends so: curl's --max-time
// (10 s) is as long as Istio's default connectTimeout (10 s,
// pkg/config/mesh/mesh.go DefaultMeshConfig), so curl leaves before Envoy
// reports UF.
func neverConnected(e *accesslog.Entry) bool {
	if e.ResponseCode == 0 && hasFlag(e.ResponseFlags, "DC") && e.UpstreamLocalAddress == "" {
		return true
	}
	if !hasFlag(e.ResponseFlags, "UF") && !hasFlag(e.ResponseFlags, "UH") {
		return false
	}
	if e.ResponseCode != 503 && e.ResponseCode != 0 {
		return false
	}
	return !strings.Contains(e.ResponseCodeDetails, "TLS_error")
}

// reachedUpstream reports whether a line shows a connection to an upstream host.
func reachedUpstream(e *accesslog.Entry) bool {
	return e != nil && e.UpstreamHost != "" && !isCluster(e, blackHoleCluster)
}

// isCluster reports whether a line's upstream cluster is the special cluster name.
func isCluster(e *accesslog.Entry, name string) bool {
	return trimStatDelimiter(e.UpstreamCluster) == name
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
