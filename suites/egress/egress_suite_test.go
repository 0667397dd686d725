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
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/engine"
	"github.com/egress-conformance/egress-conformance/pkg/evidence"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
	"github.com/egress-conformance/egress-conformance/pkg/report"
	"github.com/egress-conformance/egress-conformance/pkg/run"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// suite is the state the specs share. The suite runs in one process (see the
// package comment), so plain variables are enough.
var suite struct {
	cfg       config
	provider  *cluster.Provider
	envCfg    *envconf.Config
	mesh      *mesh.Mesh
	restCfg   *rest.Config
	kube      kubernetes.Interface
	cluster   *deploy.Cluster
	exec      probe.Executor
	logs      evidence.LogSource
	recorder  *report.Recorder
	reportDir string
	// outcome says whether anything failed, bring-up included: it decides
	// KEEP_CLUSTER_ON_FAILURE.
	outcome engine.Outcome
}

func TestEgress(t *testing.T) {
	RegisterFailHandler(Fail)
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	suite.cfg = cfg
	scenarios, err := cfg.LoadScenarios()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DryRun {
		if err := printPlan(cfg, scenarios); err != nil {
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
		suite.outcome.Guard("bring-up", func() { bringUp(ctx, scenarios) })
	}, NodeTimeout(nodes().BringUp))

	AfterSuite(func(ctx SpecContext) {
		tearDown(ctx)
	}, NodeTimeout(nodes().TearDown))

	ReportAfterSuite("reports", func(r Report) {
		Expect(run.WriteGinkgoReports(suite.reportDir, r)).To(Succeed())
		Expect(report.Write(suite.reportDir, suite.recorder.Finish())).To(Succeed())
		fmt.Fprintf(os.Stderr, "reports written to %s\n", suite.reportDir)
	})

	for _, s := range scenarios {
		describeScenario(s)
	}
	RunSpecs(t, "egress cluster tier")
}

// bringUp creates (or reuses, or connects to) the cluster and installs Istio, or
// uses the mesh an existing cluster has (engine.DecideMesh).
func bringUp(ctx context.Context, scenarios []*scenario.Scenario) {
	cfg := suite.cfg
	var err error
	suite.provider, err = cluster.NewProvider(cfg.Cluster)
	Expect(err).NotTo(HaveOccurred())
	p, err := suite.provider.Plan()
	Expect(err).NotTo(HaveOccurred())

	if p.Mode != cluster.ModeExisting {
		By("checking that Docker is usable")
		Expect(cluster.CheckDocker(ctx)).To(Succeed())
	}

	By(fmt.Sprintf("bringing up the cluster (%s)", p))
	kindConfig, err := cluster.ResolveKindConfig(p.KindConfig)
	Expect(err).NotTo(HaveOccurred())
	suite.envCfg = envconf.New()
	_, err = envfuncs.CreateClusterWithConfig(suite.provider, suite.provider.Name(), kindConfig)(ctx, suite.envCfg)
	Expect(err).NotTo(HaveOccurred(), "creating the cluster")
	kubeconfig := suite.envCfg.KubeconfigFile()
	connect(kubeconfig, p)
	if cfg.PreloadImages {
		By("loading the run's images from this host's Docker into the cluster (PRELOAD_IMAGES=1)")
		Expect(engine.PreloadImages(ctx, suite.provider.LoadImage, engine.RunImages([]mesh.Config{cfg.mesh}, cfg.External == "cluster"))).To(Succeed())
	}

	By("getting istioctl " + cfg.mesh.Version)
	istioctl, err := mesh.Acquire(ctx, cfg.mesh, mesh.Downloader{}, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	overlay, err := mesh.DefaultOverlay()
	Expect(err).NotTo(HaveOccurred())
	opts := mesh.InstallOptions{Overlay: overlay, Hub: cfg.mesh.Hub, Kubeconfig: kubeconfig}
	if p.Mode == cluster.ModeExisting {
		opts.Context = p.Context
	}
	suite.mesh = &mesh.Mesh{Istioctl: istioctl, Options: opts, Timeouts: timeouts().Mesh, Out: GinkgoWriter}

	found, err := mesh.Discover(ctx, suite.kube)
	Expect(err).NotTo(HaveOccurred())
	decision := engine.DecideMesh(p.Mode, found)
	fmt.Fprintf(GinkgoWriter, "istio: %s\n", decision.Why)
	if decision.Install {
		By("installing Istio " + cfg.mesh.Version + " with the egress gateway")
		Expect(suite.mesh.Install(ctx)).To(Succeed())
		By("waiting for istiod and the egress gateway")
		Expect(suite.mesh.WaitReady(ctx, suite.kube)).To(Succeed())
	} else {
		// An existing cluster's own mesh is what the team wants tested: use it as it
		// is (its revision's injection label, its istiod, if any is here), never
		// reinstall or uninstall it.
		suite.cluster.Injection, err = found.InjectionLabels()
		Expect(err).NotTo(HaveOccurred())
		By("waiting for the installed mesh's istiod (if in this cluster) and the egress gateway")
		Expect(mesh.WaitDeployments(ctx, suite.kube, found.ControlPlaneTargets(), suite.mesh.Timeouts, GinkgoWriter)).To(Succeed())
	}

	if deploy.NeedsGatewayAPI(scenarios) {
		By("installing the Gateway API CRDs (pinned) a scenario needs")
		src, err := deploy.GatewayAPICRDs(ctx, suite.cfg.Root, deploy.ChannelFor(scenarios))
		Expect(err).NotTo(HaveOccurred())
		_, err = deploy.InstallCRDs(ctx, suite.cluster, src, cfg.RunID)
		Expect(err).NotTo(HaveOccurred())
	}
	Expect(setUpExternal(ctx, scenarios)).To(Succeed())
}

// connect builds the clients every spec uses.
func connect(kubeconfig string, p cluster.Plan) {
	var err error
	suite.restCfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	suite.kube, err = kubernetes.NewForConfig(suite.restCfg)
	Expect(err).NotTo(HaveOccurred())
	suite.cluster, err = engine.NewCluster(suite.restCfg, p)
	Expect(err).NotTo(HaveOccurred())
	suite.exec, err = probe.NewKubeExecutor(suite.restCfg)
	Expect(err).NotTo(HaveOccurred())
	suite.logs = evidence.NewKubeLogSource(suite.kube)
}

// tearDown removes what the run created, the mesh when the harness owns it and
// the cluster stays, and the cluster as its plan says. Every part runs whatever
// the others did (engine.TearDown): a failed clean-up never leaks the cluster.
func tearDown(ctx context.Context) {
	var actions []engine.Action
	if suite.cluster != nil {
		actions = append(actions, engine.Action{Name: "delete this run's objects (label " + deploy.RunLabel + "=" + suite.cfg.RunID + ")",
			Run: func(ctx context.Context) error {
				res, err := deploy.Cleanup(ctx, suite.cluster, suite.cfg.RunID)
				fmt.Fprintf(GinkgoWriter, "clean-up: deleted %d objects, left %v\n", len(res.Deleted), res.Left)
				return err
			}})
	}
	actions = append(actions, engine.Action{Name: "remove the hermetic stand-in", Run: tearDownExternal})
	if suite.provider != nil && suite.envCfg != nil {
		if suite.mesh != nil && suite.mesh.Owned && providerMode() == cluster.ModeExisting {
			actions = append(actions, engine.Action{Name: "uninstall the Istio the harness installed", Run: suite.mesh.Uninstall})
		}
		actions = append(actions, engine.Action{Name: "delete the cluster (as its plan says)", Run: func(ctx context.Context) error {
			suite.provider.SetFailed(suite.outcome.Failed() || CurrentSpecReport().Failed())
			_, err := envfuncs.DestroyCluster(suite.provider.Name())(contextWithCluster(ctx), suite.envCfg)
			return err
		}})
	}
	By("tearing down: " + actionNames(actions))
	Expect(engine.TearDown(ctx, func(f string, a ...any) { fmt.Fprintf(GinkgoWriter, f+"\n", a...) }, actions...)).To(Succeed())
}

func actionNames(actions []engine.Action) string {
	var names []string
	for _, a := range actions {
		names = append(names, a.Name)
	}
	return strings.Join(names, "; ")
}

func describeScenario(s *scenario.Scenario) {
	labels := append([]string{"cluster"}, s.Labels...)
	Describe(s.Name, Ordered, Label(labels...), func() {
		clients := map[scenario.ClientRef]deploy.ClientPod{}
		sc := report.Scenario{Name: s.Name, Source: s.Source, Labels: s.Labels}
		// ledger puts the steps that never ran into the report (skipped, with why).
		ledger := engine.NewLedger(s)
		setUpDone, current := false, ""

		AfterEach(func() {
			// A step that failed before its verdict (an apply, a missing gateway pod).
			if r := CurrentSpecReport(); r.Failed() && current != "" && ledger.Record(current, false) {
				suite.recorder.Add(sc, report.Step{Name: current, Result: report.Fail, Reason: "failed before a verdict: " + r.FailureMessage()})
			}
			current = ""
		})
		AfterAll(func() {
			why := ""
			if !setUpDone {
				why = "see the Ginkgo report for its failure"
			}
			for _, st := range ledger.Unrun(why) {
				suite.recorder.Add(sc, st)
			}
		})

		BeforeAll(func(ctx SpecContext) {
			if reason, skip := suite.cfg.SkipReason(s); skip {
				for _, st := range s.Steps {
					ledger.Record(st.Name, true)
					suite.recorder.Add(sc, report.Step{Name: st.Name, Result: report.Skip, Reason: reason})
				}
				setUpDone = true
				Skip(reason)
			}
			caNamespaces := []string{}
			if standin != nil {
				// Same files, but DestinationRules that originate TLS trust the
				// stand-in's CA; s now names the adapted copy for every spec below.
				var err error
				s, caNamespaces, err = standin.AdaptScenario(s)
				Expect(err).NotTo(HaveOccurred())
			}
			for _, c := range s.ClientRefs() {
				sidecar := "Ready with istio-proxy"
				if !c.Injected {
					sidecar = "Ready without a sidecar"
				}
				By("creating namespace " + c.Namespace + " with the " + string(s.Mesh.OutboundTrafficPolicy) + " Sidecar; deploying client " + c.Workload + " (" + sidecar + ")")
				pod, err := deploy.EnsureScenarioClient(ctx, suite.cluster, s, c, filepath.Join(suite.cfg.Root, "fixtures", "workloads"), suite.cfg.RunID)
				Expect(err).NotTo(HaveOccurred())
				clients[c] = pod
			}
			for _, ns := range caNamespaces {
				By("giving namespace " + ns + " the stand-in's CA")
				Expect(applyCAConfigMap(ctx, ns)).To(Succeed())
			}
			DeferCleanup(func(ctx SpecContext) {
				By("deleting scenario " + s.Name + "'s objects before the next scenario")
				Expect(deploy.CleanupScenario(deploy.CleanupContext(ctx), suite.cluster, s, suite.cfg.RunID)).To(Succeed())
			}, NodeTimeout(nodes().ScenarioCleanup))
			setUpDone = true
		}, NodeTimeout(nodes().ScenarioSetUp(len(s.ClientRefs()))))

		for i, step := range s.Steps {
			It(step.Name, func(ctx SpecContext) {
				current = step.Name
				if i > 0 || len(step.Apply) > 0 {
					By(fmt.Sprintf("applying %s", strings.Join(step.ApplyFiles(), ", ")))
					Expect(deploy.ApplyBundle(ctx, suite.cluster, s, i, suite.cfg.RunID)).To(Succeed())
				}
				client := clients[s.ClientFor(step.Request)]
				By("finding the egress gateway pods to read logs from")
				t := suite.cfg.Timeouts
				r, gateways, err := stepEnv().StepRunner(ctx, s, i, client)
				Expect(err).NotTo(HaveOccurred())
				By(fmt.Sprintf("probing %s until %d consecutive probes match (at most %s)", step.Request.URL, t.Consecutive, t.Converge))
				out := r.Converge(ctx, step)
				ledger.Record(step.Name, out.Passed)
				record(sc, step, out)
				if !out.Passed {
					suite.outcome.Fail("step " + s.Name + "/" + step.Name)
					collectDiagnostics(ctx, s, i, client, gateways)
				}
				Expect(out).To(runner.HaveConverged())
			}, SpecTimeout(nodes().Step))
		}
	})
}

// stepEnv is how this run proves a step (engine.StepEnv).
func stepEnv() engine.StepEnv {
	return engine.StepEnv{Kube: suite.kube, Exec: suite.exec, Logs: suite.logs, Timeouts: suite.cfg.Timeouts,
		CurlTrustArgs: curlTrustArgs(), OnAttempt: func(a runner.Attempt) { fmt.Fprintf(GinkgoWriter, "  %s\n", a.Summary()) }}
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

func providerMode() cluster.Mode {
	p, err := suite.provider.Plan()
	if err != nil {
		return cluster.ModeExisting // the safe answer: never touch what we may not own
	}
	return p.Mode
}

// timeouts is every bound of the run (TIMEOUTS and the components' defaults);
// nodes the Ginkgo node timeouts derived from it.
func timeouts() engine.Timeouts  { return engine.DefaultTimeouts(suite.cfg.Timeouts) }
func nodes() engine.NodeTimeouts { return timeouts().Nodes() }
