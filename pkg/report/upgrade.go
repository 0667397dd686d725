package report

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Upgrade is the upgrade gate's part of a report (suites/upgrade): the mesh was
// installed at From, every selected scenario proven, the mesh upgraded to To by
// each strategy, and every scenario proven again. The steps themselves stay in
// Report.Scenarios, each with its Strategy and Phase; this section says what was
// done, what regressed and how long traffic was disrupted. pkg/upgrade fills it.
type Upgrade struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Preflight lists the checks made before anything slow ("ok: ...",
	// "warn: ...").
	Preflight []string `json:"preflight,omitempty"`
	// Regressions are steps that passed on From and failed in a later phase of
	// the same strategy: the first thing a reader needs.
	Regressions []Regression      `json:"regressions,omitempty"`
	Strategies  []UpgradeStrategy `json:"strategies"`
}

// Regression is one step that held on From and no longer holds after the upgrade.
type Regression struct {
	Strategy string `json:"strategy"`
	Scenario string `json:"scenario"`
	Step     string `json:"step"`
	// Phase is the first phase after From in which the step failed.
	Phase  string `json:"phase"`
	Reason string `json:"reason,omitempty"`
}

// UpgradeStrategy is what one strategy did, in order.
type UpgradeStrategy struct {
	// Name is "in-place" or "canary".
	Name string `json:"name"`
	// Cluster is the kind cluster the strategy ran on (each strategy gets a fresh one).
	Cluster string `json:"cluster,omitempty"`
	// Result is fail when an action failed, a step regressed or a probe failed
	// during the upgrade; skip when nothing ran.
	Result Result `json:"result"`
	// Phases are the phases in which every step was proven, in order.
	Phases []UpgradePhase `json:"phases"`
	// Actions are the upgrade's own actions (install, relabel, restart, wait,
	// uninstall), with their exact commands and outcomes.
	Actions []UpgradeAction `json:"actions,omitempty"`
	// Disruptions are the background prober's windows (one per upgrade window).
	Disruptions []Disruption `json:"disruptions,omitempty"`
	// ProxyChecks say which proxy each gateway and client pod ran after each
	// restart, and how that was established.
	ProxyChecks []ProxyCheck `json:"proxyChecks,omitempty"`
	Notes       []string     `json:"notes,omitempty"`
}

// UpgradePhase is one phase in which every step is proven.
type UpgradePhase struct {
	// Name is the key steps carry in Step.Phase: "from", "to", "final".
	Name string `json:"name"`
	// Description says what the mesh is in this phase, e.g. "Istio 1.31.4
	// (revision 1-31-4), 1.30.8 still installed".
	Description string `json:"description"`
}

// UpgradeAction is one action of an upgrade window.
type UpgradeAction struct {
	Window string `json:"window"`
	Name   string `json:"name"`
	// Command is the exact command or API change, for people.
	Command  string    `json:"command,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Result   Result    `json:"result"`
	// Error says why it failed; Output holds what it reported (tail).
	Error  string `json:"error,omitempty"`
	Output string `json:"output,omitempty"`
	// Advisory actions (istioctl x precheck) are reported but never fail the
	// strategy: the gate's verdict rests on the traffic evidence.
	Advisory bool `json:"advisory,omitempty"`
}

// Disruption is what the background prober saw during one upgrade window: every
// probe of one egress-gateway step from one client, judged like a step attempt.
type Disruption struct {
	Window   string `json:"window"`
	Scenario string `json:"scenario"`
	Step     string `json:"step"`
	// Client is the client Deployment the probes came from (namespace/name).
	Client   string    `json:"client"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended"`
	Interval string    `json:"interval"`
	// Probes counts every probe; Passed + Failed + Inconclusive == Probes.
	Probes       int `json:"probes"`
	Passed       int `json:"passed"`
	Failed       int `json:"failed"`
	Inconclusive int `json:"inconclusive"`
	// FirstFailure and LastFailure bound the window of disruption (failed probes
	// only: an inconclusive probe proves nothing either way).
	FirstFailure *time.Time `json:"firstFailure,omitempty"`
	LastFailure  *time.Time `json:"lastFailure,omitempty"`
	// Failures holds the first failed and inconclusive probes with their evidence
	// (bounded; the counts above are complete).
	Failures []ProbeFailure `json:"failures,omitempty"`
	// Stopped says why the prober stopped (the window ended, its bound ran out).
	Stopped string `json:"stopped,omitempty"`
}

// ProbeFailure is one probe that failed or was inconclusive.
type ProbeFailure struct {
	At           time.Time `json:"at"`
	RequestID    string    `json:"requestID,omitempty"`
	Inconclusive bool      `json:"inconclusive,omitempty"`
	Reason       string    `json:"reason"`
	Evidence     []string  `json:"evidence,omitempty"`
}

// ProxyCheck is which proxy one pod ran, established from its running
// istio-proxy image, the revision Istio stamped on it, and pilot-agent's own
// version (exec).
type ProxyCheck struct {
	Phase        string `json:"phase"`
	Role         string `json:"role"` // gateway or client
	Namespace    string `json:"namespace"`
	Pod          string `json:"pod"`
	Image        string `json:"image,omitempty"`
	Revision     string `json:"revision,omitempty"`
	AgentVersion string `json:"agentVersion,omitempty"`
	OK           bool   `json:"ok"`
	Problem      string `json:"problem,omitempty"`
}

// WindowOfDisruption is the disruption in one line: no failure, or the span
// from the first to the last failed probe and the count.
func (d Disruption) WindowOfDisruption() string {
	if d.Failed == 0 || d.FirstFailure == nil || d.LastFailure == nil {
		s := fmt.Sprintf("no failed request (%d probes", d.Probes)
		if d.Inconclusive > 0 {
			s += fmt.Sprintf(", %d inconclusive", d.Inconclusive)
		}
		return s + ")"
	}
	span := d.LastFailure.Sub(*d.FirstFailure).Round(time.Millisecond)
	return fmt.Sprintf("%d of %d probes failed between %s and %s (%s)", d.Failed, d.Probes,
		d.FirstFailure.UTC().Format("15:04:05.000Z"), d.LastFailure.UTC().Format("15:04:05.000Z"), span)
}

// writeUpgrade renders the upgrade section: regressions first, then each
// strategy's actions and disruption, then a matrix with one column per strategy
// and phase.
func writeUpgrade(b *strings.Builder, rep Report) {
	u := rep.Upgrade
	fmt.Fprintf(b, "## Upgrade %s → %s\n\n", u.From, u.To)
	if len(u.Regressions) == 0 {
		b.WriteString("**Regressions: none.** No step that passed on " + u.From + " failed after the upgrade.\n\n")
	} else {
		fmt.Fprintf(b, "**Regressions: %d** (passed on %s, failed after the upgrade):\n\n", len(u.Regressions), u.From)
		b.WriteString("| strategy | scenario | step | failed in phase | reason |\n|---|---|---|---|---|\n")
		for _, r := range u.Regressions {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", cell(r.Strategy), cell(r.Scenario), cell(r.Step), cell(r.Phase), cell(firstLine(r.Reason)))
		}
		b.WriteString("\n")
	}
	for _, l := range u.Preflight {
		fmt.Fprintf(b, "- preflight %s\n", l)
	}
	if len(u.Preflight) > 0 {
		b.WriteString("\n")
	}

	type col struct{ strategy, phase string }
	var cols []col
	for _, s := range u.Strategies {
		fmt.Fprintf(b, "### Strategy %s: %s\n\n", s.Name, resultMark(s.Result))
		if s.Cluster != "" {
			fmt.Fprintf(b, "- Cluster: `%s`\n", s.Cluster)
		}
		for _, p := range s.Phases {
			fmt.Fprintf(b, "- Phase `%s`: %s\n", p.Name, p.Description)
			cols = append(cols, col{s.Name, p.Name})
		}
		for _, d := range s.Disruptions {
			fmt.Fprintf(b, "- Disruption during %s (%s / %s from %s, one probe every %s): %s\n",
				d.Window, d.Scenario, d.Step, d.Client, d.Interval, d.WindowOfDisruption())
		}
		for _, n := range s.Notes {
			fmt.Fprintf(b, "- %s\n", n)
		}
		if len(s.Actions) > 0 {
			b.WriteString("\n| window | action | result | took | command / error |\n|---|---|---|---|---|\n")
			for _, a := range s.Actions {
				what := a.Command
				if a.Error != "" {
					what = a.Error
				}
				mark := resultMark(a.Result)
				if a.Advisory && a.Result == Fail {
					mark = "⚠ advisory"
				}
				fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", cell(a.Window), cell(a.Name), mark,
					a.Finished.Sub(a.Started).Round(time.Second), cell(firstLine(what)))
			}
		}
		var bad []ProxyCheck
		for _, c := range s.ProxyChecks {
			if !c.OK {
				bad = append(bad, c)
			}
		}
		if len(s.ProxyChecks) > 0 {
			fmt.Fprintf(b, "\nProxy checks: %d pods, %d not on the expected proxy.\n", len(s.ProxyChecks), len(bad))
			for _, c := range bad {
				fmt.Fprintf(b, "- %s %s/%s (phase %s): %s\n", c.Role, c.Namespace, c.Pod, c.Phase, c.Problem)
			}
		}
		for _, d := range s.Disruptions {
			if len(d.Failures) == 0 {
				continue
			}
			fmt.Fprintf(b, "\nProbes that failed during %s (first %d):\n\n```\n", d.Window, len(d.Failures))
			for _, f := range d.Failures {
				kind := "FAILED"
				if f.Inconclusive {
					kind = "INCONCLUSIVE"
				}
				fmt.Fprintf(b, "%s %s request id %s: %s\n", f.At.UTC().Format("15:04:05.000Z"), kind, f.RequestID, firstLine(f.Reason))
				for _, e := range f.Evidence {
					b.WriteString("    " + e + "\n")
				}
			}
			b.WriteString("```\n")
		}
		b.WriteString("\n")
	}

	// The matrix: one row per scenario step, one column per strategy and phase.
	b.WriteString("| scenario | step |")
	sep := "|---|---|"
	for _, c := range cols {
		fmt.Fprintf(b, " %s: %s |", c.strategy, c.phase)
		sep += "---|"
	}
	b.WriteString("\n" + sep + "\n")
	for _, sc := range rep.Scenarios {
		results := map[string]map[col]Result{}
		var order []string
		for _, st := range sc.Steps {
			if results[st.Name] == nil {
				results[st.Name] = map[col]Result{}
				order = append(order, st.Name)
			}
			results[st.Name][col{st.Strategy, st.Phase}] = st.Result
		}
		for _, name := range order {
			fmt.Fprintf(b, "| %s | %s |", cell(sc.Name), cell(name))
			for _, c := range cols {
				r, ok := results[name][c]
				if !ok {
					b.WriteString(" — |")
					continue
				}
				fmt.Fprintf(b, " %s |", resultMark(r))
			}
			b.WriteString("\n")
		}
	}
}

// stepPlace names a step's strategy and phase in a heading, when it has them.
func stepPlace(st Step) string {
	var parts []string
	for _, p := range []string{st.Strategy, st.Phase} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// SortRegressions orders regressions by strategy, scenario and step.
func SortRegressions(rs []Regression) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.Strategy != b.Strategy {
			return a.Strategy < b.Strategy
		}
		if a.Scenario != b.Scenario {
			return a.Scenario < b.Scenario
		}
		return a.Step < b.Step
	})
}
