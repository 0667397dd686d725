package expect

import (
	"fmt"
	"slices"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// WorkloadLogField is the check of a step's expect.workloadLog.
const WorkloadLogField = "expect.workloadLog"

// WorkloadLogWant is how a workloadLog expectation reads in a check.
func WorkloadLogWant(w *scenario.WorkloadLogExpect) string {
	return fmt.Sprintf("a line of %s in workload %s with the client's IP and %q", w.File, w.Workload, w.Contains)
}

// workloadLog: a workload's own log is read once the step has converged
// (engine.ScenarioRun, WorkloadLogCheck), not by every probe; offline no
// workload runs at all.
func (e *evaluator) workloadLog(w *scenario.WorkloadLogExpect) {
	if w == nil {
		return
	}
	c := Check{Field: WorkloadLogField, Want: WorkloadLogWant(w), Got: "-", Outcome: NotObservable}
	if e.offline() {
		c.Why = notObservableOffline + ": the workload is a program outside Istio that the offline tier does not run"
	} else {
		c.Why = "read once the step's probes have converged"
	}
	e.add(c)
}

// WorkloadLogCheck judges the lines of a workload's log file against w: a line
// that holds clientIP as a whole field (squid's access.log puts the client's
// address third: istio.io's http-proxy page shows
// "1544160065.248    228 172.30.109.89 TCP_TUNNEL/200 87633 CONNECT en.wikipedia.org:443 - ...")
// and w.Contains. readErr is why the file could not be read.
func WorkloadLogCheck(w *scenario.WorkloadLogExpect, clientIP, lines string, readErr error) Check {
	c := Check{Field: WorkloadLogField, Want: WorkloadLogWant(w)}
	switch {
	case readErr != nil:
		c.Outcome, c.Got, c.Why = Fail, "not read", readErr.Error()
		return c
	case clientIP == "":
		c.Outcome, c.Got, c.Why = Fail, "-", "the client's pod IP is unknown, so no line can be told to be its"
		return c
	}
	n := 0
	for l := range strings.SplitSeq(lines, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n++
		if slices.Contains(strings.Fields(l), clientIP) && strings.Contains(l, w.Contains) {
			c.Outcome, c.Got, c.Evidence = Pass, "a line", strings.TrimSpace(l)
			c.Why = "the workload logged the client's request"
			return c
		}
	}
	c.Outcome, c.Got = Fail, "no such line"
	c.Why = fmt.Sprintf("none of the %d lines read holds both %s and %q", n, clientIP, w.Contains)
	c.Evidence = clip(lines)
	return c
}
