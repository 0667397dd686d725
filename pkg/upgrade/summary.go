package upgrade

import (
	"github.com/egress-conformance/egress-conformance/pkg/report"
)

// StrategyRecord is what the suite gathered while one strategy ran.
type StrategyRecord struct {
	Plan StrategyPlan
	// Ran: the strategy started; SetUp: its cluster, FROM and clients came up.
	Ran, SetUp  bool
	Actions     []report.UpgradeAction
	Disruptions []report.Disruption
	ProxyChecks []report.ProxyCheck
	Notes       []string
}

// Regressions lists the steps that passed in phase "from" and failed in a later
// phase of the same strategy, with the first such phase and its reason. A step
// that already failed on FROM is not a regression (it is reported as a failure
// in both columns); one skipped after the upgrade (because an upgrade action
// failed) is not either: the failed action is what the report shows.
func Regressions(rep report.Report, plans []StrategyPlan) []report.Regression {
	var out []report.Regression
	for _, sp := range plans {
		phases := sp.Phases()
		for _, sc := range rep.Scenarios {
			type key struct{ step, phase string }
			res := map[key]report.Step{}
			var names []string
			seen := map[string]bool{}
			for _, st := range sc.Steps {
				if st.Strategy != string(sp.Strategy) {
					continue
				}
				res[key{st.Name, st.Phase}] = st
				if !seen[st.Name] {
					seen[st.Name] = true
					names = append(names, st.Name)
				}
			}
			for _, name := range names {
				if res[key{name, PhaseFrom}].Result != report.Pass {
					continue
				}
				for _, ph := range phases {
					if ph.Name == PhaseFrom {
						continue
					}
					if st, ok := res[key{name, ph.Name}]; ok && st.Result == report.Fail {
						out = append(out, report.Regression{Strategy: string(sp.Strategy), Scenario: sc.Name, Step: name,
							Phase: ph.Name, Reason: st.Reason})
						break
					}
				}
			}
		}
	}
	report.SortRegressions(out)
	return out
}

// Summarize builds the report's upgrade section from the finished report (whose
// steps carry strategy and phase), the plan and what each strategy did. A
// strategy fails when one of its upgrade actions failed (advisory ones aside),
// a step regressed, or, for canary, any background probe failed: the canary
// strategy's goal is zero failed requests. In-place disruption is reported
// without failing the strategy: Istio's guides do not promise zero downtime for
// it.
func Summarize(rep report.Report, p Plan, records map[Strategy]*StrategyRecord, preflight []Finding) *report.Upgrade {
	u := &report.Upgrade{From: p.From, To: p.To}
	for _, f := range preflight {
		u.Preflight = append(u.Preflight, f.String())
	}
	u.Regressions = Regressions(rep, p.Strategies)
	regressed := map[string]bool{}
	for _, r := range u.Regressions {
		regressed[r.Strategy] = true
	}
	for _, sp := range p.Strategies {
		us := report.UpgradeStrategy{Name: string(sp.Strategy), Cluster: sp.Cluster, Result: report.Skip}
		for _, ph := range sp.Phases() {
			us.Phases = append(us.Phases, report.UpgradePhase{Name: ph.Name, Description: ph.Description})
		}
		rec := records[sp.Strategy]
		if rec != nil {
			us.Actions, us.Disruptions, us.ProxyChecks, us.Notes = rec.Actions, rec.Disruptions, rec.ProxyChecks, rec.Notes
			switch {
			case rec.Ran && rec.SetUp:
				us.Result = report.Pass
			case rec.Ran:
				us.Result = report.Fail
				us.Notes = append(us.Notes, "setup failed: the cluster, Istio "+p.From+" or the clients did not come up (see the Ginkgo report)")
			}
			for _, a := range rec.Actions {
				if a.Result == report.Fail && !a.Advisory {
					us.Result = report.Fail
				}
			}
			for _, d := range rec.Disruptions {
				if sp.Strategy == Canary && d.Failed > 0 {
					us.Result = report.Fail
				}
			}
			for _, c := range rec.ProxyChecks {
				if !c.OK {
					us.Result = report.Fail
				}
			}
		}
		if regressed[us.Name] {
			us.Result = report.Fail
		}
		u.Strategies = append(u.Strategies, us)
	}
	return u
}
