package expect

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// classifyAmbient derives the route of an ambient client's request, which no
// sidecar logged, from the waypoint's line, the egress gateway's, and the outbound
// line of the ztunnel on the client's node. In order:
//
//  1. blocked: the waypoint (or the gateway) denied it (403 rbac_access_denied…),
//     sent it to BlackHoleCluster, or found no route (NR);
//  2. blocked: the last of them to log it never connected upstream (neverConnected,
//     as for a sidecar client);
//  3. blocked: curl got no HTTP answer (exit 7, 35, 52, 56), no proxy line shows
//     an upstream host, and ztunnel's line, if any, carries an error;
//  4. waypoint: the waypoint logged the probe;
//  5. egress-gateway: the egress gateway logged it;
//  6. direct: ztunnel passed the connection through as plain TCP, no HBONE
//     (istio/ztunnel src/proxy/outbound.rs: a destination ztunnel finds no
//     waypoint or meshed workload for is "passthrough"), to its dst.addr;
//  7. unknown otherwise: ztunnel tunnelled the connection (HBONE) yet no waypoint
//     line was found, or there is no ztunnel line at all.
func classifyAmbient(ev Evidence) (scenario.Route, string) {
	wp, gw, zt := ev.Waypoint, ev.Gateway, ev.Ztunnel
	for _, p := range []struct {
		who string
		e   *accesslog.Entry
	}{{"waypoint", wp}, {"egress gateway", gw}} {
		switch e := p.e; {
		case e == nil:
		case e.ResponseCode == 403 && strings.HasPrefix(e.ResponseCodeDetails, "rbac_access_denied"):
			return scenario.RouteBlocked, fmt.Sprintf("%s denied it: 403 %s", p.who, e.ResponseCodeDetails)
		case isCluster(e, blackHoleCluster):
			return scenario.RouteBlocked, fmt.Sprintf("%s sent it to %s", p.who, blackHoleCluster)
		case hasFlag(e.ResponseFlags, "NR"):
			return scenario.RouteBlocked, fmt.Sprintf("%s found no route (response flags %s, %s)", p.who, e.ResponseFlags, orDash(e.ResponseCodeDetails))
		}
	}
	// As for a sidecar client (Classify): the last Envoy on the path that never
	// opened a connection upstream let nothing out.
	if who, e := furthestProxy("waypoint", wp, gw); e != nil && neverConnected(e) {
		return scenario.RouteBlocked, neverConnectedWhy(who, e)
	}
	if ev.Status == nil && ev.CurlExit != nil && slices.Contains(blockedCurlExits, *ev.CurlExit) &&
		!reachedUpstream(wp) && !reachedUpstream(gw) && (zt == nil || zt.Error != "") {
		why := fmt.Sprintf("curl exit %d with no HTTP answer, and no proxy line shows an upstream host", *ev.CurlExit)
		if zt != nil {
			why += "; ztunnel: " + zt.Error
		}
		return scenario.RouteBlocked, why
	}
	switch {
	case wp != nil:
		why := fmt.Sprintf("the waypoint logged the request id (upstream cluster %s)", orDash(wp.UpstreamCluster))
		if zt != nil {
			why = fmt.Sprintf("ztunnel tunnelled the connection to %s (%s); ", zt.DstAddr, orDash(zt.DstIdentity)) + why
		}
		return scenario.RouteWaypoint, why
	case gw != nil:
		return scenario.RouteEgressGateway, fmt.Sprintf("egress gateway logged the request id (upstream cluster %s)", orDash(gw.UpstreamCluster))
	case zt != nil && zt.DstHboneAddr == "":
		return scenario.RouteDirect, fmt.Sprintf("ztunnel passed the connection through as plain TCP to %s (no HBONE, no waypoint)", zt.DstAddr)
	case zt != nil:
		return "", fmt.Sprintf("ztunnel tunnelled the connection to %s (HBONE target %s, %s) but no waypoint line carries request id %s: route unknown",
			zt.DstAddr, zt.DstHboneAddr, orDash(zt.DstIdentity), ev.RequestID)
	}
	return unknownRoute(ev, "no ztunnel line for the client's connection and no waypoint or gateway line", "logs")
}

// ztunnelLog checks expect.ztunnelLog: ztunnel's line is never observable
// offline (the offline tier simulates Envoy's configuration, not ztunnel).
func (e *evaluator) ztunnelLog(z *scenario.ZtunnelLogExpect) {
	if z == nil {
		return
	}
	const field = "expect.ztunnelLog"
	ev := e.ev
	line := "ztunnel: " + ztunnelLineOr(ev)
	notOffline := notObservableOffline + ": ztunnel's L4 path (HBONE, passthrough, identities) is not simulated"
	// unseen settles c when ztunnel's line cannot be looked at: offline, or
	// its log was not read.
	unseen := func(c *Check) bool {
		switch {
		case e.offline():
			c.Outcome, c.Got, c.Why = NotObservable, "-", notOffline
		case !ev.LogsObserved:
			c.Outcome, c.Got, c.Why = Fail, "not read", logsNotRead
		default:
			return false
		}
		return true
	}
	if z.Absent {
		c := Check{Field: field, Want: scenario.AbsentValue, Evidence: line}
		switch {
		case unseen(&c):
		case ev.Ztunnel == nil:
			c.Outcome, c.Got, c.Why = Pass, "absent", "no outbound line from the client's address in ztunnel's log"
		default:
			c.Outcome, c.Got, c.Why = Fail, "a line", "ztunnel carried the client's connection"
		}
		e.add(c)
		return
	}
	type zf struct {
		name, want string
		got        func(*accesslog.ZtunnelEntry) string
		same       func(want, got string) bool
	}
	eq := func(w, g string) bool { return w == g }
	var fields []zf
	add := func(name, want string, got func(*accesslog.ZtunnelEntry) string, same func(string, string) bool) {
		if want != "" {
			fields = append(fields, zf{name, want, got, same})
		}
	}
	add("srcIdentity", z.SrcIdentity, func(l *accesslog.ZtunnelEntry) string { return l.SrcIdentity }, eq)
	add("dstService", z.DstService, func(l *accesslog.ZtunnelEntry) string { return l.DstService }, eq)
	add("dstIdentity", z.DstIdentity, func(l *accesslog.ZtunnelEntry) string { return l.DstIdentity }, eq)
	add("dstHboneAddr", z.DstHboneAddr, func(l *accesslog.ZtunnelEntry) string { return l.DstHboneAddr }, eq)
	if z.HBONE != nil {
		add("hbone", strconv.FormatBool(*z.HBONE), func(l *accesslog.ZtunnelEntry) string {
			return strconv.FormatBool(l.DstHboneAddr != "")
		}, eq)
	}
	add("error", z.Error, func(l *accesslog.ZtunnelEntry) string { return l.Error }, func(w, g string) bool { return strings.Contains(g, w) })
	if len(fields) == 0 {
		fields = append(fields, zf{name: "", want: "a line"})
	}
	for _, f := range fields {
		c := Check{Field: field, Want: f.want, Evidence: line}
		if f.name != "" {
			c.Field += "." + f.name
		}
		switch {
		case unseen(&c):
		case ev.Ztunnel == nil:
			c.Outcome, c.Got, c.Why = Fail, "no line", "no outbound line from the client's address in ztunnel's log"
		case f.got == nil:
			c.Outcome, c.Got = Pass, "a line"
		default:
			c.Got = f.got(ev.Ztunnel)
			c.Outcome = Fail
			if f.same(f.want, c.Got) {
				c.Outcome = Pass
			}
			if c.Got == "" {
				c.Got = "-"
			}
		}
		e.add(c)
	}
}

func ztunnelLineOr(ev Evidence) string {
	switch {
	case ev.ZtunnelRaw != "":
		return ev.ZtunnelRaw
	case ev.Tier == Offline:
		return "(not simulated)"
	case !ev.LogsObserved:
		return "(logs not read)"
	}
	return "(none)"
}

// waypointWant renders a waypointLog expectation for a check that cannot look.
func waypointWant(l *scenario.LogExpect) string {
	if l.Absent {
		return scenario.AbsentValue
	}
	return "a line"
}
