// The cluster tier: kind (or a named existing cluster), a pinned Istio with an
// egress gateway, every scenario with real traffic. `make e2e` runs it; `make e2e
// DRY_RUN=1` prints the plan it would follow without Docker.
//
// Scenarios run one after another, never in parallel: they share the istioctl
// egress gateway, and a VirtualService is visible mesh-wide by default, so one
// scenario's routing would change another's. Each scenario's objects are deleted
// before the next one starts.
package egress_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/egress-conformance/egress-conformance/pkg/ambient"
	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/engine"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/report"
	"github.com/egress-conformance/egress-conformance/pkg/run"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
	"github.com/egress-conformance/egress-conformance/pkg/upgrade"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// suite is the state the specs share. The suite runs in one process (see the
// package comment), so plain variables are enough.
var suite struct {
	cfg      config
	prepared engine.Prepared
	// env is the cluster and its clients (engine.Env: the stages both suites share).
	env       engine.Env
	mesh      *mesh.Mesh
	recorder  *report.Recorder
	reportDir string
}

func TestEgress(t *testing.T) {
	RegisterFailHandler(Fail)
	cfg, err := loadConfig(settings.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	suite.cfg = cfg
	scenarios, err := cfg.LoadScenarios()
	if err != nil {
		t.Fatal(err)
	}
	// The plan is computed once; DRY_RUN prints it, and the run below executes it.
	if suite.prepared, err = engine.Prepare(cfg.Run, cfg.mesh, scenarios); err != nil {
		t.Fatal(err)
	}
	pl := suite.prepared.Plan
	// Every stage the plan lists has its handler here, checked before anything
	// runs and in DRY_RUN too (make e2e-plan, part of make test).
	if err := errors.Join(bringUpStages().Check(pl.BringUp), tearDownStages().Check(pl.TearDown)); err != nil {
		t.Fatal(err)
	}
	if cfg.DryRun {
		if err := pl.Render(os.Stdout, nil); err != nil {
			t.Fatal(err)
		}
		return
	}
	if len(scenarios) == 0 {
		t.Fatalf("no scenarios in %s", cfg.Scenarios)
	}

	suite.reportDir = run.ReportDir(cfg.Root, cfg.Reports, cfg.RunID)
	suite.recorder = report.NewRecorder(cfg.RunID, "cluster", engine.IstioUnderTest(cfg.mesh.Version),
		&report.Cluster{Provider: "kind", NodeImage: nodeImage(cfg), External: cfg.External})

	// One process (see the package comment): bring-up connects the clients itself.
	BeforeSuite(func(ctx SpecContext) {
		suite.env.Outcome.Guard("bring-up", func() {
			Expect(bringUpStages().BringUp(ctx, pl.BringUp, func(l string) { By(l) })).To(Succeed())
		})
	}, NodeTimeout(nodes().BringUp))

	AfterSuite(func(ctx SpecContext) {
		By("tearing down")
		Expect(tearDownStages().TearDown(ctx, pl.TearDown, func(f string, a ...any) { fmt.Fprintf(GinkgoWriter, f+"\n", a...) })).To(Succeed())
	}, NodeTimeout(nodes().TearDown))

	ReportAfterSuite("reports", func(r Report) {
		Expect(run.WriteGinkgoReports(suite.reportDir, r)).To(Succeed())
		Expect(report.Write(suite.reportDir, suite.recorder.Finish())).To(Succeed())
		fmt.Fprintf(os.Stderr, "reports written to %s\n", suite.reportDir)
	})

	for _, sp := range pl.Scenarios {
		describeScenario(sp)
	}
	RunSpecs(t, "egress cluster tier")
}

// envInputs are what the stages this suite shares with the upgrade gate need.
func envInputs() engine.EnvInputs {
	cfg := suite.cfg
	p := suite.prepared.ClusterPlan
	var run []*scenario.Scenario
	for _, sp := range suite.prepared.Plan.Scenarios {
		if sp.Skip == "" {
			run = append(run, sp.Scenario)
		}
	}
	return engine.EnvInputs{Cluster: withTimeouts(cfg.Cluster), Plan: &p, Timeouts: timeouts(),
		Preload: suite.prepared.Plan.Cluster.Preload, Scenarios: run, Modules: deploy.Modules{Go: cfg.Go, Root: cfg.Root},
		RunID: cfg.RunID, External: externalOptions(), Failed: func() bool { return CurrentSpecReport().Failed() }}
}

// bringUpStages are how this suite runs the plan's bring-up stages: the shared
// ones (engine.Env), and Istio, installed or found.
func bringUpStages() engine.Stages {
	cfg := suite.cfg
	p := suite.prepared.ClusterPlan
	suite.env.Standin, suite.env.Out = suite.prepared.Standin, GinkgoWriter
	var istioctl mesh.Istioctl
	return suite.env.BringUpStages(envInputs()).With(engine.Stages{
		plan.StageIstioctl: func(ctx context.Context) (err error) {
			istioctl, err = mesh.Acquire(ctx, cfg.mesh, mesh.Downloader{}, GinkgoWriter)
			return err
		},
		plan.StageIstio: func(ctx context.Context) error {
			overlay, err := mesh.DefaultOverlay()
			if err != nil {
				return err
			}
			opts := mesh.InstallOptions{Overlay: overlay, Hub: cfg.mesh.Hub, Kubeconfig: suite.env.EnvCfg.KubeconfigFile()}
			if a := suite.prepared.Plan.Istio.AmbientOverlay; a != "" {
				opts.ExtraOverlays = []string{a}
			}
			if p.Mode == cluster.ModeExisting {
				opts.Context = p.Context
			}
			suite.mesh = &mesh.Mesh{Istioctl: istioctl, Options: opts, Timeouts: timeouts().Mesh, Out: GinkgoWriter}
			found, err := mesh.Discover(ctx, suite.env.Kube)
			if err != nil {
				return err
			}
			decision := engine.DecideMesh(p.Mode, found)
			fmt.Fprintf(GinkgoWriter, "istio: %s\n", decision.Why)
			if decision.Install {
				if err := suite.mesh.Install(ctx); err != nil {
					return err
				}
				return suite.mesh.WaitReady(ctx, suite.env.Kube)
			}
			// An existing cluster's own mesh is what the team wants tested: use it as
			// it is (its revision's injection label, its istiod, if any is here),
			// never reinstall or uninstall it.
			if suite.env.Cluster.Injection, err = found.InjectionLabels(); err != nil {
				return err
			}
			return mesh.WaitDeployments(ctx, suite.env.Kube, found.ControlPlaneTargets(), suite.mesh.Timeouts, GinkgoWriter)
		},
		plan.StageAmbient: func(ctx context.Context) error {
			t := timeouts().Mesh
			return ambient.WaitDaemonSets(ctx, suite.env.Kube, ambient.DaemonSets(), t.Ready, time.Second, GinkgoWriter)
		},
	})
}

// tearDownStages remove what the run created (engine.Env's shared stages) and the
// mesh when the harness owns it and the cluster stays.
func tearDownStages() engine.Stages {
	suite.env.Standin, suite.env.Out = suite.prepared.Standin, GinkgoWriter
	return suite.env.TearDownStages(envInputs()).With(engine.Stages{
		plan.StageUninstallIstio: func(ctx context.Context) error {
			if suite.mesh == nil || !suite.mesh.Owned {
				return nil
			}
			return suite.mesh.Uninstall(ctx)
		},
	})
}

// ops is how this run executes a scenario's plan (engine.Kube).
func ops() engine.Kube {
	e := &suite.env
	return engine.Kube{Cluster: e.Cluster, Kube: e.Kube, Exec: e.Exec, Logs: e.Logs, RunID: suite.cfg.RunID,
		Root: suite.cfg.Root, Timeouts: suite.cfg.Timeouts, Standin: suite.prepared.Standin,
		OnAttempt: func(a runner.Attempt) { fmt.Fprintf(GinkgoWriter, "  %s\n", a.Summary()) },
		DiagDir:   suite.reportDir, Logf: func(f string, a ...any) { fmt.Fprintf(GinkgoWriter, f+"\n", a...) }}
}

// describeScenario is the Ginkgo container of one scenario of the plan: set-up,
// then one spec per step, as the plan lists them.
func describeScenario(sp *plan.ScenarioPlan) {
	s := sp.Scenario
	labels := append([]string{"cluster"}, s.Labels...)
	Describe(s.Name, Ordered, Label(labels...), func() {
		sc := report.Scenario{Name: s.Name, Source: s.Source, Labels: s.Labels}
		r := engine.NewScenarioRun(sp)
		r.Progress = func(l string) { By(l) }
		setUpDone, current := false, ""

		AfterEach(func() {
			// A step that failed before its verdict (an apply, a missing gateway pod).
			if rep := CurrentSpecReport(); rep.Failed() && current != "" && r.Ledger.Record(current, false) {
				suite.recorder.Add(sc, report.Step{Name: current, Result: report.Fail, Reason: "failed before a verdict: " + rep.FailureMessage()})
			}
			current = ""
		})
		AfterAll(func() {
			why := ""
			if !setUpDone {
				why = "see the Ginkgo report for its failure"
			}
			for _, st := range r.Ledger.Unrun(why) {
				suite.recorder.Add(sc, st)
			}
		})

		BeforeAll(func(ctx SpecContext) {
			if sp.Skip != "" {
				for _, st := range s.Steps {
					r.Ledger.Record(st.Name, true)
					suite.recorder.Add(sc, report.Step{Name: st.Name, Result: report.Skip, Reason: sp.Skip})
				}
				setUpDone = true
				Skip(sp.Skip)
			}
			DeferCleanup(func(ctx SpecContext) {
				By("deleting scenario " + s.Name + "'s objects before the next scenario")
				Expect(deploy.CleanupScenario(deploy.CleanupContext(ctx), suite.env.Cluster, s, suite.cfg.RunID)).To(Succeed())
			}, NodeTimeout(nodes().ScenarioCleanup))
			Expect(r.SetUp(ctx, ops())).To(Succeed())
			setUpDone = true
		}, NodeTimeout(nodes().ScenarioSetUp(len(sp.Namespaces))))

		for _, st := range sp.Steps {
			It(st.Name(), func(ctx SpecContext) {
				current = st.Name()
				out, err := r.Step(ctx, ops(), st)
				Expect(err).NotTo(HaveOccurred())
				r.Ledger.Record(st.Name(), out.Passed)
				record(sc, st.Step, out)
				if !out.Passed {
					suite.env.Outcome.Fail("step " + s.Name + "/" + st.Name())
				}
				Expect(out).To(runner.HaveConverged())
			}, SpecTimeout(nodes().Step))
		}
	})
}

// record adds a step outcome to the conformance report.
func record(sc report.Scenario, step scenario.Step, out runner.Outcome) {
	reason := ""
	if !out.Passed {
		reason = out.Reason
	}
	suite.recorder.Add(sc, run.StepFromVerdict(step.Name, out.Last, out.Passed, reason, out.EvidenceLines()))
}

func nodeImage(cfg config) string {
	if cfg.Cluster.NodeImage != "" {
		return cfg.Cluster.NodeImage
	}
	return versions.KindNodeImage
}

// timeouts is every bound of the run (TIMEOUTS and the components' defaults);
// nodes the Ginkgo node timeouts derived from it.
func timeouts() engine.Timeouts {
	return engine.DefaultTimeouts(suite.cfg.Timeouts, upgrade.Timeouts{})
}

// withTimeouts bounds the cluster's waits by the run's timeouts.
func withTimeouts(o cluster.Options) cluster.Options {
	o.Timeouts = timeouts().Cluster
	return o
}
func nodes() engine.NodeTimeouts { return timeouts().Nodes() }
