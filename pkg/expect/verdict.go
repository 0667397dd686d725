package expect

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
)

// Outcome is the result of one Check.
type Outcome string

const (
	Pass Outcome = "pass"
	Fail Outcome = "fail"
	// NotObservable: the tier cannot see this; neither a pass nor a failure.
	NotObservable Outcome = "not-observable"
)

// Check is one stated expectation compared with the evidence.
type Check struct {
	// Field is the expectation's path in scenario.yaml, e.g. "expect.origin.hops",
	// "expect.gatewayLog.upstreamCluster", "expect.gatewayLog" (for absent).
	Field string
	Want  string
	Got   string
	// Outcome is Pass, Fail or NotObservable.
	Outcome Outcome
	// Why is one line on the outcome: how Got was derived, or why it cannot be seen.
	Why string
	// Evidence is what the check looked at: the raw access-log line, the body.
	Evidence string
}

// Verdict is the result of one step's expectation against its evidence.
type Verdict struct {
	Tier   Tier
	Checks []Check
	// Evidence is the evidence the checks looked at, printed by String.
	Evidence Evidence
}

// Passed reports whether no check failed. Not-observable checks do not fail.
func (v Verdict) Passed() bool { return len(v.Failures()) == 0 }

// Failures returns the failed checks.
func (v Verdict) Failures() []Check { return v.with(Fail) }

// NotObservable returns the checks the tier cannot see.
func (v Verdict) NotObservable() []Check { return v.with(NotObservable) }

func (v Verdict) with(o Outcome) []Check {
	var out []Check
	for _, c := range v.Checks {
		if c.Outcome == o {
			out = append(out, c)
		}
	}
	return out
}

// Check returns the check for a field, and whether there is one.
func (v Verdict) Check(field string) (Check, bool) {
	for _, c := range v.Checks {
		if c.Field == field {
			return c, true
		}
	}
	return Check{}, false
}

// String is the human report: a summary line, every check in the order of the
// expectation (with the evidence of each failure), then all the evidence.
func (v Verdict) String() string {
	var b strings.Builder
	status := "PASS"
	if !v.Passed() {
		status = "FAIL"
	}
	fmt.Fprintf(&b, "verdict: %s (%s tier): %d failed, %d passed, %d not observable\n",
		status, v.Tier, len(v.Failures()), len(v.with(Pass)), len(v.NotObservable()))
	for _, c := range v.Checks {
		label := map[Outcome]string{Pass: "PASS", Fail: "FAIL", NotObservable: "N/O "}[c.Outcome]
		fmt.Fprintf(&b, "  %s %s: want %s, got %s\n", label, c.Field, c.Want, c.Got)
		if c.Why != "" {
			writeIndented(&b, "why: ", c.Why)
		}
		if c.Outcome == Fail && c.Evidence != "" {
			writeIndented(&b, "evidence: ", c.Evidence)
		}
	}
	b.WriteString(v.Evidence.String())
	return b.String()
}

func writeIndented(b *strings.Builder, label, text string) {
	const indent = "       "
	pad := indent + strings.Repeat(" ", len(label))
	for i, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if i == 0 {
			b.WriteString(indent + label + line + "\n")
		} else {
			b.WriteString(pad + line + "\n")
		}
	}
}

// String prints the evidence, one item per line, raw lines and body included.
func (ev Evidence) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "evidence (%s tier):\n", ev.Tier)
	item := func(k, v string) { writeItem(&b, k, v) }
	if ev.RequestID != "" {
		item("request id", ev.RequestID)
	}
	route := string(ev.Route)
	if route == "" {
		route = "(not set)"
	}
	if ev.RouteWhy != "" {
		route += ": " + ev.RouteWhy
	}
	item("route", route)
	item("status", intOr(ev.Status, "none"))
	if ev.Tier != Offline {
		item("curl exit", intOr(ev.CurlExit, "not recorded"))
		switch {
		case ev.OriginErr != nil:
			item("origin", "unreadable: "+ev.OriginErr.Error())
		case ev.OriginObserved:
			item("origin", fmt.Sprintf("%q (%s)", ev.Origin.String(), plural(ev.Origin.Hops(), "hop")))
		default:
			item("origin", "not observed")
		}
	}
	if ev.ClientIP != "" {
		item("client IP", ev.ClientIP)
	}
	item("sidecar line", lineOr(ev.Sidecar, ev.SidecarRaw, ev.Tier, ev.LogsObserved))
	item("gateway line", lineOr(ev.Gateway, ev.GatewayRaw, ev.Tier, ev.LogsObserved))
	if len(ev.GatewayHosts) > 0 {
		item("gateway hosts", strings.Join(ev.GatewayHosts, ", "))
	}
	if ev.Body != "" {
		item("body", clip(ev.Body))
	}
	return b.String()
}

func writeItem(b *strings.Builder, k, v string) {
	const width = 14
	pad := strings.Repeat(" ", 2+width)
	for i, line := range strings.Split(strings.TrimRight(v, "\n"), "\n") {
		if i == 0 {
			fmt.Fprintf(b, "  %-*s%s\n", width, k+":", line)
		} else {
			b.WriteString(pad + line + "\n")
		}
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func intOr(p *int, none string) string {
	if p == nil {
		return none
	}
	return strconv.Itoa(*p)
}

// lineOr prints an access-log entry: the raw line when there is one, else the
// fields the entry holds (the offline tier has no raw line).
func lineOr(e *accesslog.Entry, raw string, tier Tier, logsObserved bool) string {
	switch {
	case raw != "":
		return raw
	case e != nil:
		return describeEntry(e)
	case tier == Cluster && !logsObserved:
		return "not read"
	case tier == Offline:
		return "none (not reached in the simulation)"
	default:
		return "none found"
	}
}

// describeEntry prints the fields of an entry that are set.
func describeEntry(e *accesslog.Entry) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("method", e.Method)
	add("path", e.Path)
	add("authority", e.Authority)
	if e.ResponseCode != 0 {
		add("response_code", strconv.Itoa(e.ResponseCode))
	}
	add("response_flags", e.ResponseFlags)
	add("response_code_details", e.ResponseCodeDetails)
	add("upstream_host", e.UpstreamHost)
	add("upstream_cluster", e.UpstreamCluster)
	add("requested_server_name", e.RequestedServerName)
	add("route_name", e.RouteName)
	add("request_id", e.RequestID)
	if len(parts) == 0 {
		return "(an empty entry)"
	}
	return strings.Join(parts, " ")
}

// clip keeps a body short enough for a failure message.
func clip(s string) string {
	const max = 4096
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("\n…(%d bytes in all)", len(s))
}
