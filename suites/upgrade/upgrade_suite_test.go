// The upgrade gate: install Istio ISTIO_FROM on a fresh kind cluster, prove every
// step of every selected scenario, upgrade to ISTIO_TO (in place, or canary by
// revision), restart what must pick up TO's proxies and check they run it, prove
// every step again, while a background prober measures the disruption. `make
// e2e-upgrade` runs it; `make e2e-upgrade DRY_RUN=1` prints the plan.
//
// The orchestration lives in pkg/upgrade (plan, preflight, actions, prober,
// regressions); this suite only wires it to Ginkgo, the cluster and the report.
// Each strategy is one Ordered container on its own cluster. Its specs are, in
// order: every step of every scenario in phase "from", the upgrade window, every
// step in phase "to" (and, canary, the removal of FROM and phase "final").
// ContinueOnFailure: a failed step never stops the upgrade, but a failed upgrade
// action makes every later spec of that strategy a skip that says why.
package upgrade_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/engine"
	"github.com/egress-conformance/egress-conformance/pkg/external"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/report"
	"github.com/egress-conformance/egress-conformance/pkg/run"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
	"github.com/egress-conformance/egress-conformance/pkg/upgrade"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// suite is the state every strategy shares. The suite runs in one process:
// strategies run one after another, each on its own cluster.
var suite struct {
	cfg       config
	scenarios []*scenario.Scenario
	skip      map[string]string
	plan      upgrade.Plan
	// steps is what every phase proves: the scenarios' part of the plan, the
	// value DRY_RUN prints and the specs below are generated from.
	steps *plan.Plan
	// standin is the hermetic stand-in (EXTERNAL=cluster), installed on every
	// strategy's cluster: the plan's DestinationRules trust its CA.
	standin   *external.Standin
	preflight []upgrade.Finding
	recorder  *report.Recorder
	records   map[upgrade.Strategy]*upgrade.StrategyRecord
	reportDir string
}

func TestUpgrade(t *testing.T) {
	RegisterFailHandler(Fail)
	cfg, err := loadConfig(settings.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	suite.cfg = cfg
	if suite.scenarios, err = loadScenarios(cfg); err != nil {
		t.Fatal(err)
	}
	suite.skip = skipReasons(cfg, suite.scenarios)
	probe, err := upgrade.ChooseProbe(suite.scenarios, suite.skip, cfg.upgrade.Probe)
	if err != nil {
		t.Fatal(err)
	}
	clusterPlan, err := cluster.Decide(cfg.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	suite.plan, err = upgrade.NewPlan(upgrade.PlanInputs{From: cfg.upgrade.From, To: cfg.upgrade.To,
		Strategies: cfg.upgrade.Strategies, ClusterBase: clusterPlan.Name, Probe: probe})
	if err != nil {
		t.Fatal(err)
	}
	// Preflight: before anything slow, and in a dry run too.
	var refused error
	suite.preflight, refused = upgrade.Preflight(upgrade.PreflightInput{
		From: cfg.upgrade.From, To: cfg.upgrade.To, Strategies: cfg.upgrade.Strategies,
		NodeImage: clusterPlan.NodeImage, ClusterMode: clusterPlan.Mode.String(), OfflineIstio: versions.IstioLibraryRelease,
	})
	if refused == nil {
		for _, sp := range suite.plan.Strategies {
			if _, err := cluster.Decide(withName(cfg.Cluster, sp.Cluster)); err != nil {
				refused = fmt.Errorf("%w: strategy %s: %v", upgrade.ErrRefused, sp.Strategy, err)
			}
		}
	}
	if suite.steps, suite.standin, err = scenarioPlan(cfg); err != nil {
		t.Fatal(err)
	}
	// Every stage the plan lists has its handler here, checked before anything
	// runs and in DRY_RUN too (make e2e-upgrade-plan, part of make test).
	for _, sp := range suite.plan.Strategies {
		env := &strategyEnv{plan: sp}
		up, down := env.setup()
		if err := errors.Join(env.upStages().Check(up), env.downStages().Check(down)); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.DryRun {
		if err := printPlan(cfg, clusterPlan); err != nil {
			t.Fatal(err)
		}
		if refused != nil {
			t.Fatal(refused)
		}
		return
	}
	if refused != nil {
		t.Fatal(refused)
	}
	for _, f := range suite.preflight {
		if f.Level == upgrade.Warn {
			fmt.Fprintf(os.Stderr, "preflight %s\n", f)
		}
	}
	if len(suite.scenarios) == 0 {
		t.Fatalf("no scenario in %s matches LABEL_FILTER=%q", cfg.Scenarios, cfg.labelFilter)
	}

	suite.reportDir = run.ReportDir(cfg.Root, cfg.Reports, cfg.RunID)
	suite.recorder = report.NewRecorder(cfg.RunID, "upgrade", engine.IstioUnderTest(cfg.upgrade.To),
		&report.Cluster{Provider: "kind", NodeImage: clusterPlan.NodeImage, External: cfg.External})
	suite.records = map[upgrade.Strategy]*upgrade.StrategyRecord{}

	ReportAfterSuite("reports", func(r Report) {
		Expect(run.WriteGinkgoReports(suite.reportDir, r)).To(Succeed())
		rep := suite.recorder.Finish()
		rep.Upgrade = upgrade.Summarize(rep, suite.plan, suite.records, suite.preflight)
		Expect(report.Write(suite.reportDir, rep)).To(Succeed())
		fmt.Fprintf(os.Stderr, "reports written to %s\n", suite.reportDir)
	})

	for _, sp := range suite.plan.Strategies {
		describeStrategy(sp)
	}
	RunSpecs(t, "egress upgrade gate "+cfg.upgrade.From+" → "+cfg.upgrade.To)
}

// describeStrategy builds one strategy's Ordered container from its plan.
func describeStrategy(sp upgrade.StrategyPlan) {
	rec := &upgrade.StrategyRecord{Plan: sp}
	suite.records[sp.Strategy] = rec
	env := &strategyEnv{plan: sp, record: rec}
	Describe("upgrade "+string(sp.Strategy), Ordered, ContinueOnFailure, Label(upgrade.Label, string(sp.Strategy)), func() {
		BeforeAll(func(ctx SpecContext) {
			DeferCleanup(func(ctx SpecContext) { env.tearDown(ctx) }, NodeTimeout(nodes().TearDown))
			env.Outcome.Guard("bring-up", func() { env.bringUp(ctx) })
		}, NodeTimeout(nodes().UpgradeBringUp(clientCount())))

		for i, st := range sp.Stages {
			switch {
			case st.Prove != nil:
				phase := *st.Prove
				for _, sp := range suite.steps.Scenarios {
					for _, step := range sp.Steps {
						It(fmt.Sprintf("%s: %s / %s", phase.Name, sp.Name(), step.Name()), func(ctx SpecContext) {
							env.proveStep(ctx, phase, sp, step)
						}, SpecTimeout(nodes().UpgradeStep))
					}
				}
			case st.Window != nil:
				w := *st.Window
				next := nextPhase(sp.Stages[i+1:])
				It("window "+w.Name, func(ctx SpecContext) {
					env.runWindow(ctx, w, next)
				}, SpecTimeout(nodes().Window))
			}
		}
	})
}

// nextPhase is the phase proven after a window: where its proxies end up.
func nextPhase(rest []upgrade.Stage) string {
	for _, st := range rest {
		if st.Prove != nil {
			return st.Prove.Name
		}
	}
	return ""
}

func withName(o cluster.Options, name string) cluster.Options {
	o.Name = name
	return o
}

// withTimeouts bounds the cluster's waits by the run's timeouts.
func withTimeouts(o cluster.Options) cluster.Options {
	o.Timeouts = timeouts().Cluster
	return o
}

// scenarioPlan is the scenarios' part of the plan, cumulative: every phase
// proves each scenario from a clean bundle on the same cluster.
func scenarioPlan(cfg config) (*plan.Plan, *external.Standin, error) {
	in := plan.Inputs{RunID: cfg.RunID, Skip: suite.skip, CurlTimeout: cfg.Timeouts.Curl, Converge: cfg.Timeouts.Converge,
		Consecutive: cfg.Timeouts.Consecutive, Scenarios: suite.scenarios, Cumulative: true}
	var st *external.Standin
	if cfg.External == string(external.ModeCluster) {
		var err error
		if st, err = engine.NewStandin(cfg.RunID); err != nil {
			return nil, nil, err
		}
		if in.Adapt, err = engine.Adapt(st, suite.scenarios); err != nil {
			return nil, nil, err
		}
		in.External = cfg.External
	}
	p, err := plan.Build(in)
	return p, st, err
}

// printPlan renders the whole upgrade plan, touching nothing.
func printPlan(cfg config, cp cluster.Plan) error {
	var b bytes.Buffer
	in, err := renderInputs(cfg, cp)
	if err != nil {
		return err
	}
	if err := suite.plan.Render(&b, in); err != nil {
		return err
	}
	_, err = os.Stdout.Write(b.Bytes())
	return err
}

// nodeImage is the node image every strategy's cluster runs.
func nodeImage(cfg config) string {
	if cfg.Cluster.NodeImage != "" {
		return cfg.Cluster.NodeImage
	}
	return versions.KindNodeImage
}

// timeouts is every bound of the run (TIMEOUTS and the components' defaults);
// nodes the Ginkgo node timeouts derived from it.
func timeouts() engine.Timeouts {
	return engine.DefaultTimeouts(suite.cfg.Timeouts, suite.cfg.upgrade.Timeouts)
}
func nodes() engine.NodeTimeouts { return timeouts().Nodes() }

// clientCount is how many clients one strategy's bring-up deploys.
func clientCount() int {
	n := 0
	for _, sp := range suite.steps.Scenarios {
		if sp.Skip == "" {
			n += len(sp.Namespaces)
		}
	}
	return n
}
