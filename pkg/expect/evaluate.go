package expect

import (
	"fmt"
	"github.com/egress-conformance/egress-conformance/pkg/probe/token"
	"strconv"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Reasons printed for checks the offline tier cannot see.
const (
	notObservableOffline = "not observable in the offline tier"
	noLine               = "no line with this request id"
	logsNotRead          = "the access logs were not read, so a line's presence or absence proves nothing"
)

// Evaluate compares a step's expectation with the evidence. Every stated
// expectation yields exactly one Check, in the order of scenario.Expect; unstated
// ones yield none. In the cluster tier an empty ev.Route is derived with Classify.
func Evaluate(exp scenario.Expect, ev Evidence) Verdict {
	if ev.Tier == Cluster && ev.Route == "" {
		ev.Route, ev.RouteWhy = Classify(ev)
	}
	e := evaluator{ev: ev}
	if ev.Tier != Offline && ev.Tier != Cluster {
		e.add(Check{Field: "evidence.tier", Want: "offline or cluster", Got: strconv.Quote(string(ev.Tier)),
			Outcome: Fail, Why: "the evidence names no known tier: a harness bug"})
	}
	e.route(exp.Route)
	if exp.Status != nil {
		e.status(*exp.Status)
	}
	if exp.CurlExit != nil {
		e.curlExit(*exp.CurlExit)
	}
	if exp.Origin != nil {
		if exp.Origin.Hops != 0 {
			e.originHops(exp.Origin.Hops)
		}
		if exp.Origin.First != "" {
			e.originFirst(exp.Origin.First)
		}
	}
	e.log("sidecarLog", "client sidecar", exp.SidecarLog, ev.Sidecar, ev.SidecarRaw)
	e.log("gatewayLog", "egress gateway", exp.GatewayLog, ev.Gateway, ev.GatewayRaw)
	if ev.Tier == Cluster && !ev.Ambient && ev.Waypoint == nil && exp.WaypointLog != nil {
		// The cluster tier reads waypoint logs for an ambient client's step only
		// (evidence.AmbientCollector): for a sidecar client no waypoint log was
		// read, so neither a line nor its absence is proven.
		e.add(Check{Field: "expect.waypointLog", Want: waypointWant(exp.WaypointLog), Got: "not read", Outcome: NotObservable,
			Why: "the cluster tier reads waypoint logs only for an ambient client's step; this step's client runs a sidecar"})
	} else {
		e.log("waypointLog", "waypoint", exp.WaypointLog, ev.Waypoint, ev.WaypointRaw)
	}
	e.ztunnelLog(exp.ZtunnelLog)
	e.workloadLog(exp.WorkloadLog)
	return Verdict{Tier: ev.Tier, Checks: e.checks, Evidence: ev}
}

type evaluator struct {
	ev     Evidence
	checks []Check
}

func (e *evaluator) add(c Check) { e.checks = append(e.checks, c) }

func (e *evaluator) offline() bool { return e.ev.Tier == Offline }

// lines is the evidence printed for route and status checks: both raw lines.
func (e *evaluator) lines() string {
	ev := e.ev
	if ev.Ambient {
		return "ztunnel: " + ztunnelLineOr(ev) +
			"\nwaypoint: " + lineOr(ev.Waypoint, ev.WaypointRaw, ev.Tier, ev.LogsObserved) +
			"\ngateway: " + lineOr(ev.Gateway, ev.GatewayRaw, ev.Tier, ev.LogsObserved)
	}
	return "sidecar: " + lineOr(ev.Sidecar, ev.SidecarRaw, ev.Tier, ev.LogsObserved) +
		"\ngateway: " + lineOr(ev.Gateway, ev.GatewayRaw, ev.Tier, ev.LogsObserved)
}

func (e *evaluator) route(want scenario.Route) {
	c := Check{Field: "expect.route", Want: string(want), Got: string(e.ev.Route), Why: e.ev.RouteWhy, Evidence: e.lines()}
	switch {
	case want == "":
		c.Want = "(no route stated)"
		c.Outcome = Fail
		c.Why = "expect.route is required; the scenario loader should have refused this step"
	case e.ev.Route == "":
		c.Got = "unknown"
		c.Outcome = Fail
	case e.ev.Route == want:
		c.Outcome = Pass
	default:
		c.Outcome = Fail
	}
	e.add(c)
}

func (e *evaluator) status(want int) {
	c := Check{Field: "expect.status", Want: strconv.Itoa(want), Got: intOr(e.ev.Status, "no HTTP status")}
	switch {
	case e.ev.Status == nil && e.offline():
		c.Outcome, c.Got = NotObservable, "-"
		c.Why = notObservableOffline + ": the simulated proxy decides no status itself here, the upstream would"
	case e.ev.Status == nil:
		c.Outcome = Fail
		c.Why = "curl got no HTTP answer (curl exit " + intOr(e.ev.CurlExit, "not recorded") + ")"
		c.Evidence = e.lines()
	case *e.ev.Status == want:
		c.Outcome = Pass
	default:
		c.Outcome = Fail
		c.Evidence = e.lines()
		if e.ev.Body != "" {
			c.Evidence += "\nbody: " + clip(e.ev.Body)
		}
	}
	e.add(c)
}

func (e *evaluator) curlExit(want int) {
	c := Check{Field: "expect.curlExit", Want: strconv.Itoa(want), Got: intOr(e.ev.CurlExit, "not recorded")}
	switch {
	case e.offline():
		c.Outcome, c.Got, c.Why = NotObservable, "-", notObservableOffline
	case e.ev.CurlExit == nil:
		c.Outcome, c.Why = Fail, "the probe recorded no curl exit code"
	case *e.ev.CurlExit == want:
		c.Outcome = Pass
	default:
		c.Outcome = Fail
		c.Evidence = e.lines()
	}
	e.add(c)
}

// originReadable fills c and returns false when the origin chain cannot be compared.
func (e *evaluator) originReadable(c *Check) bool {
	switch {
	case e.offline():
		c.Outcome, c.Got, c.Why = NotObservable, "-", notObservableOffline+": the origin chain needs real traffic"
	case e.ev.OriginErr != nil:
		c.Outcome, c.Got, c.Why = Fail, "unreadable", e.ev.OriginErr.Error()
		c.Evidence = "body: " + clip(e.ev.Body)
	case !e.ev.OriginObserved:
		c.Outcome, c.Got, c.Why = Fail, "not observed", "no httpbin answer was read for the origin chain"
		c.Evidence = "body: " + clip(e.ev.Body)
	default:
		return true
	}
	return false
}

func (e *evaluator) originHops(want int) {
	c := Check{Field: "expect.origin.hops", Want: strconv.Itoa(want)}
	if e.originReadable(&c) {
		c.Got = strconv.Itoa(e.ev.Origin.Hops())
		c.Why = fmt.Sprintf("origin %q", e.ev.Origin.String())
		c.Outcome = Pass
		if e.ev.Origin.Hops() != want {
			c.Outcome = Fail
			c.Evidence = "body: " + clip(e.ev.Body)
		}
	}
	e.add(c)
}

func (e *evaluator) originFirst(want string) {
	c := Check{Field: "expect.origin.first", Want: want}
	target := want
	if want == scenario.OriginFirstClient {
		target = e.ev.ClientIP
		if target != "" {
			c.Want = fmt.Sprintf("%s (%s)", want, target)
		}
	}
	if e.originReadable(&c) {
		first := e.ev.Origin.First()
		c.Got = first.Raw
		if c.Got == "" {
			c.Got = "(empty chain)"
		}
		c.Why = fmt.Sprintf("origin %q", e.ev.Origin.String())
		switch {
		case target == "":
			c.Outcome = Fail
			c.Why = "the client pod's IP is unknown: nothing to compare the first hop with"
		case first.Is(target):
			c.Outcome = Pass
		default:
			c.Outcome = Fail
		}
		if c.Outcome == Fail {
			c.Evidence = "body: " + clip(e.ev.Body)
		}
	}
	e.add(c)
}

// logField is one field of a LogExpect: its YAML name, the wanted value (empty:
// not stated), and how to read and compare the entry's value.
type logField struct {
	name string
	want string
	got  func(*accesslog.Entry) string
	same func(want, got string) bool
	// offline: the offline tier fills this field.
	offline bool
}

func logFields(le *scenario.LogExpect) []logField {
	exact := func(a, b string) bool { return a == b }
	fold := func(a, b string) bool { return strings.EqualFold(a, b) }
	code := ""
	if le.ResponseCode != 0 {
		code = strconv.Itoa(le.ResponseCode)
	}
	return []logField{
		{"method", le.Method, func(x *accesslog.Entry) string { return x.Method }, exact, false},
		// The probe's correlation token is the harness's, not the scenario's.
		{"path", le.Path, func(x *accesslog.Entry) string { return token.Strip(x.Path) }, exact, false},
		{"authority", le.Authority, func(x *accesslog.Entry) string { return x.Authority }, fold, false},
		{"responseCode", code, func(x *accesslog.Entry) string { return strconv.Itoa(x.ResponseCode) }, exact, false},
		{"responseFlags", le.ResponseFlags, func(x *accesslog.Entry) string { return x.ResponseFlags }, exact, false},
		{"responseCodeDetails", le.ResponseCodeDetails, func(x *accesslog.Entry) string { return x.ResponseCodeDetails }, exact, false},
		{"upstreamCluster", le.UpstreamCluster, func(x *accesslog.Entry) string { return x.UpstreamCluster }, SameCluster, true},
		{"requestedServerName", le.RequestedServerName, func(x *accesslog.Entry) string { return x.RequestedServerName }, fold, false},
		// The simulation matches the very routes istiod generates, so the route
		// name it reports is the one Envoy prints as %ROUTE_NAME%.
		{"routeName", le.RouteName, func(x *accesslog.Entry) string { return x.RouteName }, exact, true},
	}
}

func (e *evaluator) log(key, who string, le *scenario.LogExpect, entry *accesslog.Entry, raw string) {
	if le == nil {
		return
	}
	field := "expect." + key
	line := lineOr(entry, raw, e.ev.Tier, e.ev.LogsObserved)
	cluster := e.ev.Tier == Cluster

	if le.Absent {
		c := Check{Field: field, Want: scenario.AbsentValue, Evidence: line}
		switch {
		case cluster && !e.ev.LogsObserved:
			c.Outcome, c.Got, c.Why = Fail, "not read", logsNotRead
		case entry == nil:
			c.Outcome, c.Got = Pass, "absent"
			if e.offline() {
				c.Why = "the simulated request never reached the " + who
			} else {
				c.Why = noLine + " in the " + who + "'s log"
			}
		default:
			c.Outcome, c.Got = Fail, "a line"
			c.Why = "the " + who + " handled the request"
		}
		e.add(c)
		return
	}

	stated := 0
	for _, f := range logFields(le) {
		if f.want == "" {
			continue
		}
		stated++
		c := Check{Field: field + "." + f.name, Want: f.want, Evidence: line}
		switch {
		case e.offline() && !f.offline && !decidedOffline(f, entry):
			c.Outcome, c.Got, c.Why = NotObservable, "-", notObservableOffline+": only upstream clusters and route names are simulated"
		case cluster && !e.ev.LogsObserved:
			c.Outcome, c.Got, c.Why = Fail, "not read", logsNotRead
		case entry == nil && e.offline():
			c.Outcome, c.Got, c.Why = Fail, "no line", "the simulated request never reached the "+who
		case entry == nil:
			c.Outcome, c.Got, c.Why = Fail, noLine, noLine+" in the "+who+"'s log"
		default:
			c.Got = f.got(entry)
			c.Outcome = Fail
			if f.same(f.want, c.Got) {
				c.Outcome = Pass
			}
			if c.Got == "" || c.Got == "0" {
				c.Got = "-"
			}
		}
		e.add(c)
	}
	if stated > 0 {
		return
	}
	// A LogExpect with no field and not absent: a line must exist.
	c := Check{Field: field, Want: "a line", Evidence: line}
	switch {
	case cluster && !e.ev.LogsObserved:
		c.Outcome, c.Got, c.Why = Fail, "not read", logsNotRead
	case entry != nil:
		c.Outcome, c.Got = Pass, "a line"
	case e.offline():
		c.Outcome, c.Got, c.Why = Fail, "no line", "the simulated request never reached the "+who
	default:
		c.Outcome, c.Got, c.Why = Fail, noLine, noLine+" in the "+who+"'s log"
	}
	e.add(c)
}

// decidedOffline reports whether the offline tier filled a field it does not
// always observe: the simulation sets a proxy's own answer (an authorization
// denial's response code and details) only when the proxy decides it, so a filled
// field is observed and an empty one is not.
func decidedOffline(f logField, entry *accesslog.Entry) bool {
	if entry == nil {
		return false
	}
	got := f.got(entry)
	return got != "" && got != "0"
}
