package upgrade

import (
	"strings"
	"testing"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/report"
)

// recordRun fills a recorder as the suite does: every step of every phase,
// with its strategy and phase.
func recordRun(results map[string]report.Result) report.Report {
	r := report.NewRecorder("run-1", "upgrade", report.Istio{Version: "1.31.4"}, nil)
	sc := report.Scenario{Name: "egress-gateway-http"}
	for _, strategy := range []string{"in-place", "canary"} {
		for _, phase := range []string{PhaseFrom, PhaseTo, PhaseFinal} {
			if strategy == "in-place" && phase == PhaseFinal {
				continue
			}
			for _, step := range []string{"before-routing", "after-routing"} {
				res, ok := results[strategy+"/"+phase+"/"+step]
				if !ok {
					res = report.Pass
				}
				st := report.Step{Name: step, Result: res, Strategy: strategy, Phase: phase}
				if res == report.Fail {
					st.Reason = "the expectation did not hold for 3 consecutive probes within 1m0s; last: expect.route want egress-gateway got direct"
				}
				r.Add(sc, st)
			}
		}
	}
	return r.Finish()
}

func TestRegressions(t *testing.T) {
	p, err := NewPlan(PlanInputs{From: "1.30.8", To: "1.31.4", Strategies: Strategies})
	if err != nil {
		t.Fatal(err)
	}
	rep := recordRun(map[string]report.Result{
		// Passed on FROM, fails after the in-place upgrade: a regression.
		"in-place/to/after-routing": report.Fail,
		// Already failing on FROM: a failure, not a regression.
		"canary/from/before-routing": report.Fail,
		"canary/to/before-routing":   report.Fail,
		// Holds beside FROM, fails once FROM is gone: a regression in phase final.
		"canary/final/after-routing": report.Fail,
		// Skipped after a failed window: not a regression.
	})
	got := Regressions(rep, p.Strategies)
	if len(got) != 2 {
		t.Fatalf("regressions %+v", got)
	}
	if got[0].Strategy != "canary" || got[0].Step != "after-routing" || got[0].Phase != PhaseFinal ||
		got[1].Strategy != "in-place" || got[1].Phase != PhaseTo || !strings.Contains(got[1].Reason, "got direct") {
		t.Errorf("regressions %+v", got)
	}
	rep = recordRun(map[string]report.Result{"in-place/to/after-routing": report.Skip})
	if got := Regressions(rep, p.Strategies); len(got) != 0 {
		t.Errorf("a skip is no regression: %+v", got)
	}
}

func TestSummarize(t *testing.T) {
	p, err := NewPlan(PlanInputs{From: "1.30.8", To: "1.31.4", Strategies: Strategies, ClusterBase: "ec"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	first, last := t0.Add(2*time.Second), t0.Add(4*time.Second)
	disrupted := report.Disruption{Window: WindowUpgrade, Probes: 60, Passed: 57, Failed: 3, FirstFailure: &first, LastFailure: &last}
	records := map[Strategy]*StrategyRecord{
		InPlace: {Ran: true, SetUp: true, Disruptions: []report.Disruption{disrupted},
			Actions: []report.UpgradeAction{{Name: "precheck", Result: report.Fail, Advisory: true}, {Name: "install", Result: report.Pass}}},
		Canary: {Ran: true, SetUp: true, Disruptions: []report.Disruption{disrupted}},
	}
	findings, _ := Preflight(PreflightInput{From: "1.30.8", To: "1.31.4", Strategies: Strategies, NodeImage: node135, ClusterMode: "create"})
	u := Summarize(recordRun(nil), p, records, findings)
	if u.From != "1.30.8" || u.To != "1.31.4" || len(u.Preflight) != len(findings) || len(u.Regressions) != 0 {
		t.Fatalf("%+v", u)
	}
	// In place: disruption and an advisory precheck are reported, not failing;
	// canary: its goal is zero failed requests.
	if u.Strategies[0].Result != report.Pass || u.Strategies[1].Result != report.Fail {
		t.Errorf("results %s, %s", u.Strategies[0].Result, u.Strategies[1].Result)
	}
	if u.Strategies[1].Cluster != "ec-canary" || len(u.Strategies[1].Phases) != 3 || u.Strategies[1].Phases[2].Name != PhaseFinal {
		t.Errorf("canary %+v", u.Strategies[1])
	}

	// A strategy whose setup failed, one that never ran, a failed action, a
	// pod on the wrong proxy.
	records = map[Strategy]*StrategyRecord{InPlace: {Ran: true}}
	u = Summarize(recordRun(nil), p, records, nil)
	if u.Strategies[0].Result != report.Fail || !strings.Contains(strings.Join(u.Strategies[0].Notes, " "), "setup failed") ||
		u.Strategies[1].Result != report.Skip {
		t.Errorf("%+v", u.Strategies)
	}
	records = map[Strategy]*StrategyRecord{
		InPlace: {Ran: true, SetUp: true, Actions: []report.UpgradeAction{{Name: "install", Result: report.Fail, Error: "exit 1"}}},
		Canary:  {Ran: true, SetUp: true, ProxyChecks: []report.ProxyCheck{{Pod: "sleep-1", OK: false, Problem: "pilot-agent reports 1.30.8"}}},
	}
	u = Summarize(recordRun(map[string]report.Result{"canary/to/after-routing": report.Fail}), p, records, nil)
	if u.Strategies[0].Result != report.Fail || u.Strategies[1].Result != report.Fail || len(u.Regressions) != 1 {
		t.Errorf("%+v / %+v", u.Strategies, u.Regressions)
	}
}

// The Markdown report puts regressions first and shows one column per strategy
// and phase; existing tiers' reports are unchanged (pkg/report's own tests).
func TestUpgradeMarkdown(t *testing.T) {
	p, _ := NewPlan(PlanInputs{From: "1.30.8", To: "1.31.4", Strategies: Strategies})
	rep := recordRun(map[string]report.Result{"in-place/to/after-routing": report.Fail})
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	first, last := t0.Add(2*time.Second), t0.Add(4500*time.Millisecond)
	rep.Upgrade = Summarize(rep, p, map[Strategy]*StrategyRecord{
		InPlace: {Ran: true, SetUp: true, Disruptions: []report.Disruption{{Window: WindowUpgrade, Scenario: "egress-gateway-http",
			Step: "after-routing", Client: clientN + "/sleep", Interval: "1s", Probes: 60, Passed: 57, Failed: 3,
			FirstFailure: &first, LastFailure: &last,
			Failures: []report.ProbeFailure{{At: first, RequestID: id503UF, Reason: "expect.status want 200 got 503", Evidence: []string{"sidecar: " + line503UF}}}}}},
		Canary: {Ran: true, SetUp: true},
	}, nil)
	md := report.Markdown(rep)
	reg := strings.Index(md, "**Regressions: 1**")
	matrix := strings.Index(md, "| scenario | step | in-place: from | in-place: to | canary: from | canary: to | canary: final |")
	if reg < 0 || matrix < 0 || reg > matrix {
		t.Fatalf("regressions must come first, then the matrix:\n%s", md)
	}
	for _, want := range []string{
		"| `in-place` | `egress-gateway-http` | `after-routing` | `to` |",
		"| `egress-gateway-http` | `after-routing` | ✅ pass | ❌ fail | ✅ pass | ✅ pass | ✅ pass |",
		"Disruption during upgrade (egress-gateway-http / after-routing from egress-egress-gateway-http/sleep, one probe every 1s): 3 of 60 probes failed between 12:00:02.000Z and 12:00:04.500Z (2.5s)",
		"12:00:02.000Z FAILED request id " + id503UF,
		"## egress-gateway-http / after-routing (in-place, to): fail",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Log(md)
	}
}
