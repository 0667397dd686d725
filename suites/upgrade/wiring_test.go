package upgrade_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/diag"
	"github.com/egress-conformance/egress-conformance/pkg/engine"
	"github.com/egress-conformance/egress-conformance/pkg/evidence"
	"github.com/egress-conformance/egress-conformance/pkg/external"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
	"github.com/egress-conformance/egress-conformance/pkg/report"
	"github.com/egress-conformance/egress-conformance/pkg/run"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/upgrade"
)

// strategyEnv is one strategy's cluster and everything connected to it.
type strategyEnv struct {
	plan   upgrade.StrategyPlan
	record *upgrade.StrategyRecord

	// Env is the strategy's cluster and its clients (engine.Env: the stages both
	// suites share).
	engine.Env
	istio upgrade.MeshIstio
	// adapted holds each scenario as applied (hermetic mode adapts TLS
	// origination to the stand-in); clients the client Deployments by client.
	adapted map[string]*scenario.Scenario
	clients map[scenario.ClientRef]deploy.ClientPod
	// runs execute each scenario's part of the plan on this cluster.
	runs map[string]*engine.ScenarioRun
	// blocked says why the remaining specs cannot run (an upgrade action failed).
	blocked string
}

// setup are the strategy's bring-up and tear-down stages (upgrade.Plan.Setup):
// what the plan prints, executed by engine.Stages.
func (env *strategyEnv) setup() (up, down []plan.Stage) {
	return suite.plan.Setup(env.plan, commandInputs(), setupInputs())
}

// bringUp creates the strategy's cluster, installs FROM, deploys every client
// and checks every proxy runs FROM, as the plan's stages say.
func (env *strategyEnv) bringUp(ctx context.Context) {
	env.record.Ran = true
	up, _ := env.setup()
	Expect(env.upStages().BringUp(ctx, up, func(l string) { By(l) })).To(Succeed())
	env.record.SetUp = true
}

// envInputs are what the stages this suite shares with the egress suite need.
func (env *strategyEnv) envInputs() engine.EnvInputs {
	cfg := suite.cfg
	return engine.EnvInputs{
		Cluster: withTimeouts(withName(cfg.Cluster, env.plan.Cluster)),
		Require: func(p cluster.Plan) error {
			if p.Mode != cluster.ModeCreate {
				return fmt.Errorf("cluster %s: mode %s; preflight lets only fresh kind clusters through", env.plan.Cluster, p.Mode)
			}
			return nil
		},
		Timeouts: timeouts(),
		Preload: engine.RunImages([]mesh.Config{{Version: cfg.upgrade.From, Hub: cfg.hub}, {Version: cfg.upgrade.To, Hub: cfg.hub}},
			cfg.External == "cluster"),
		Scenarios: suite.scenarios, Modules: deploy.Modules{Go: cfg.Go, Root: cfg.Root}, RunID: cfg.RunID,
		External: env.externalOptions(),
		Failed:   func() bool { return env.blocked != "" || CurrentSpecReport().Failed() },
	}
}

// upStages run the bring-up stages on this strategy's cluster: the shared ones
// (engine.Env), both istioctl versions, FROM's install, the clients and the
// baseline check.
func (env *strategyEnv) upStages() engine.Stages {
	cfg := suite.cfg
	env.Standin, env.Out = suite.standin, GinkgoWriter
	ctls := map[string]mesh.Istioctl{}
	return env.BringUpStages(env.envInputs()).With(engine.Stages{
		plan.StageIstioctl: func(ctx context.Context) error {
			for _, v := range []struct{ version, local string }{{cfg.upgrade.From, cfg.upgrade.IstioctlFrom}, {cfg.upgrade.To, cfg.upgrade.IstioctlTo}} {
				ctl, err := mesh.Acquire(ctx, mesh.Config{Version: v.version, Istioctl: v.local, CacheRoot: cfg.cacheRoot}, mesh.Downloader{}, GinkgoWriter)
				if err != nil {
					return err
				}
				ctls[v.version] = ctl
			}
			return nil
		},
		plan.StageIstio: func(ctx context.Context) error {
			overlay, err := mesh.DefaultOverlay()
			if err != nil {
				return err
			}
			env.istio = upgrade.MeshIstio{Istioctl: ctls, Options: mesh.InstallOptions{Overlay: overlay, Hub: cfg.hub, Kubeconfig: env.EnvCfg.KubeconfigFile()},
				Timeouts: timeouts().Mesh, Kube: env.Kube, Out: GinkgoWriter}
			if err := env.istio.Install(ctx, cfg.upgrade.From, ""); err != nil {
				return err
			}
			return env.istio.WaitReady(ctx, upgrade.DefaultRevision)
		},
		plan.StageClients: func(ctx context.Context) error {
			env.adapted = map[string]*scenario.Scenario{}
			env.clients = map[scenario.ClientRef]deploy.ClientPod{}
			env.runs = map[string]*engine.ScenarioRun{}
			for _, sp := range suite.steps.Scenarios {
				if sp.Skip != "" {
					continue
				}
				r := engine.NewScenarioRun(sp)
				r.Progress = func(l string) { By(l) }
				if err := r.SetUp(ctx, env.ops("")); err != nil {
					return fmt.Errorf("scenario %s: %w", sp.Name(), err)
				}
				env.runs[sp.Name()], env.adapted[sp.Name()] = r, sp.Scenario
				for c, pod := range r.Clients {
					env.clients[c] = pod
				}
			}
			return nil
		},
		plan.StageBaseline: func(ctx context.Context) error {
			checks, err := env.executor().CheckBaseline(ctx, env.plan.Baseline)
			env.record.ProxyChecks = append(env.record.ProxyChecks, checks...)
			if err != nil {
				return fmt.Errorf("before the upgrade every proxy must run FROM, or the version check proves nothing: %w", err)
			}
			return nil
		},
	})
}

// tearDown runs the plan's tear-down stages: what the run created, then the
// strategy's cluster (as its plan says: KEEP_CLUSTER, KEEP_CLUSTER_ON_FAILURE).
// Every stage runs whatever the others did (engine.TearDown): a failed clean-up
// never leaks the cluster.
func (env *strategyEnv) tearDown(ctx context.Context) {
	_, down := env.setup()
	// Clean-up failures are logged, not fatal: the cluster is deleted anyway, and a
	// failure here must not turn a passing upgrade into a failed one.
	err := env.downStages().TearDown(ctx, down, func(f string, a ...any) { fmt.Fprintf(GinkgoWriter, f+"\n", a...) })
	if err != nil {
		fmt.Fprintf(GinkgoWriter, "tear-down: %v\n", err)
	}
}

// downStages run the tear-down stages (all shared: engine.Env); each does
// nothing when what it removes never came up.
func (env *strategyEnv) downStages() engine.Stages {
	env.Standin, env.Out = suite.standin, GinkgoWriter
	return env.TearDownStages(env.envInputs())
}

// commandInputs name the commands the plan prints for every strategy.
func commandInputs() upgrade.CommandInputs {
	var selected []*scenario.Scenario
	for _, s := range suite.scenarios {
		if _, skip := suite.skip[s.Name]; !skip {
			selected = append(selected, s)
		}
	}
	return upgrade.CommandInputs{Istioctl: func(v string) string { return "istioctl-" + v }, Overlay: mesh.OverlayFile,
		Hub: suite.cfg.hub, Kubeconfig: "<kubeconfig of the strategy's cluster>",
		Clients:    upgrade.ClientDeployments(selected, func(w string) string { return w }),
		Namespaces: upgrade.ClientNamespaces(selected)}
}

// setupInputs say which optional bring-up stages this run has.
func setupInputs() upgrade.SetupInputs {
	return upgrade.SetupInputs{RunID: suite.cfg.RunID, Preload: suite.cfg.PreloadImages,
		GatewayAPI: deploy.NeedsGatewayAPI(suite.scenarios), Hermetic: suite.standin != nil}
}

// kubeOps is the Kubernetes side of the upgrade on this cluster.
func (env *strategyEnv) kubeOps() upgrade.Kube {
	return upgrade.Kube{Client: env.Kube, Exec: env.Exec, RunID: suite.cfg.RunID, Timeouts: timeouts().Upgrade,
		Logf: func(format string, args ...any) { fmt.Fprintf(GinkgoWriter, format+"\n", args...) }}
}

// executor runs the plan's upgrade actions on this cluster.
func (env *strategyEnv) executor() upgrade.Executor {
	var clients []upgrade.ProxyTarget
	var namespaces, names []string
	for _, s := range suite.scenarios {
		as, ok := env.adapted[s.Name]
		if !ok {
			continue
		}
		for _, c := range as.ClientRefs() {
			if !c.Injected {
				// No sidecar (injected: false, or an ambient client, which the gate
				// skips today): no proxy to check or restart onto TO.
				continue
			}
			pod := env.clients[c]
			clients = append(clients, upgrade.ProxyTarget{Role: upgrade.RoleClient, Namespace: c.Namespace, Deployment: pod.Deployment})
			names = append(names, c.Namespace+"/"+pod.Deployment)
			namespaces = append(namespaces, c.Namespace)
		}
	}
	return upgrade.Executor{
		Istio: env.istio, Kube: env.kubeOps(), Clients: clients, Namespaces: namespaces,
		Commands: upgrade.CommandInputs{Istioctl: func(v string) string { return "istioctl-" + v }, Overlay: mesh.OverlayFile,
			Clients: names, Namespaces: namespaces},
		Logf: func(format string, args ...any) { fmt.Fprintf(GinkgoWriter, format+"\n", args...) },
	}
}

// skipIfBlocked records and skips a step when an upgrade action failed.
func (env *strategyEnv) skipIfBlocked(record func(report.Step)) {
	if env.blocked == "" {
		return
	}
	reason := "not run: " + env.blocked
	record(report.Step{Result: report.Skip, Reason: reason})
	Skip(reason)
}

// proveStep executes a step of the plan (cumulative: the first step removes
// what an earlier phase left, every step applies the bundle as of that step) as
// the cluster tier does, and records it under this strategy and phase. After the
// last step the bundle is removed again, so the next scenario (and the next
// phase) starts clean while namespaces and clients stay.
func (env *strategyEnv) proveStep(ctx context.Context, phase upgrade.Phase, sp *plan.ScenarioPlan, st *plan.StepPlan) {
	s := sp.Scenario
	sc := report.Scenario{Name: s.Name, Source: s.Source, Labels: s.Labels}
	record := func(r report.Step) {
		r.Name, r.Strategy, r.Phase = st.Name(), string(env.plan.Strategy), phase.Name
		suite.recorder.Add(sc, r)
	}
	if sp.Skip != "" {
		record(report.Step{Result: report.Skip, Reason: sp.Skip})
		Skip(sp.Skip)
	}
	env.skipIfBlocked(record)
	if st.Index == len(sp.Steps)-1 {
		// Whatever happens to this step: a leftover VirtualService would route the
		// next scenario's requests.
		bundleTimeout := suite.cfg.Timeouts.Converge
		DeferCleanup(func(ctx SpecContext) {
			By("removing " + s.Name + "'s bundle before the next scenario")
			Expect(deploy.DeleteBundle(ctx, env.Cluster, s, suite.cfg.RunID, bundleTimeout)).To(Succeed())
		}, NodeTimeout(nodes().BundleRemoval))
	}
	t := suite.cfg.Timeouts
	By(fmt.Sprintf("[%s, phase %s] %s: until %d consecutive probes match (at most %s)",
		env.plan.Strategy, phase.Name, st.Name(), t.Consecutive, t.Converge))
	out, err := env.runs[s.Name].Step(ctx, env.ops(phase.Name), st)
	Expect(err).NotTo(HaveOccurred())
	reason := ""
	if !out.Passed {
		reason = out.Reason
		env.Outcome.Fail("step " + s.Name + "/" + st.Name())
	}
	record(run.StepFromVerdict(st.Name(), out.Last, out.Passed, reason, out.EvidenceLines()))
	Expect(out).To(runner.HaveConverged())
}

// ops is how this strategy executes the plan (engine.Kube): clients are looked
// up again before every probe (the upgrade restarts them), and a failed step's
// diagnostics go under reports/<run-id>/<strategy>-<phase>/.
func (env *strategyEnv) ops(phase string) engine.Kube {
	logf := func(format string, args ...any) { fmt.Fprintf(GinkgoWriter, format+"\n", args...) }
	return engine.Kube{Cluster: env.Cluster, Kube: env.Kube, Exec: env.Exec, Logs: env.Logs, RunID: suite.cfg.RunID,
		Root: suite.cfg.Root, Timeouts: suite.cfg.Timeouts, Standin: env.Standin,
		OnAttempt:     func(a runner.Attempt) { fmt.Fprintf(GinkgoWriter, "  %s\n", a.Summary()) },
		ResolveClient: env.kubeOps().ResolveClient,
		DiagDir:       filepath.Join(suite.reportDir, string(env.plan.Strategy)+"-"+phase),
		DiagNote:      fmt.Sprintf("strategy %s phase %s:", env.plan.Strategy, phase),
		Logf:          logf}
}

// runWindow runs an upgrade window's actions with the background prober
// watching, and records both.
func (env *strategyEnv) runWindow(ctx context.Context, w upgrade.Window, phase string) {
	if env.blocked != "" {
		Skip("not run: " + env.blocked)
	}
	var mon *upgrade.Monitor
	var proberErr error
	if pc := suite.plan.Probe; pc.Enabled() {
		mon, proberErr = env.startProber(ctx, w, pc)
		if proberErr != nil {
			env.record.Notes = append(env.record.Notes, fmt.Sprintf("window %s: background prober not started: %v", w.Name, proberErr))
		}
	} else {
		env.record.Notes = append(env.record.Notes, "background prober off: "+pc.Reason)
	}
	By(fmt.Sprintf("[%s] window %s: %d actions", env.plan.Strategy, w.Name, len(w.Actions)))
	res := env.executor().RunWindow(ctx, w, phase)
	env.record.Actions = append(env.record.Actions, res.Actions...)
	env.record.ProxyChecks = append(env.record.ProxyChecks, res.ProxyChecks...)
	var disrupted, cleanup error
	if mon != nil {
		d := mon.Stop()
		env.record.Disruptions = append(env.record.Disruptions, d)
		fmt.Fprintf(GinkgoWriter, "disruption during %s: %s\n", w.Name, d.WindowOfDisruption())
		if env.plan.Strategy == upgrade.Canary {
			disrupted = upgrade.DisruptionErr(d)
		}
	}
	if res.Err != nil {
		env.blocked = res.Err.Error()
		env.collectMeshDiagnostics(ctx, w.Name)
	}
	if pc := suite.plan.Probe; pc.Enabled() && env.adapted[pc.Scenario.Name] != nil {
		cleanup = deploy.DeleteBundle(context.WithoutCancel(ctx), env.Cluster, env.adapted[pc.Scenario.Name], suite.cfg.RunID,
			suite.cfg.Timeouts.Converge)
	}
	Expect(errors.Join(res.Err, proberErr, disrupted, cleanup)).NotTo(HaveOccurred())
}

// startProber puts the prober's scenario in place up to its step, waits until
// that step holds (so the first probes do not measure Istio's config push), and
// starts probing.
func (env *strategyEnv) startProber(ctx context.Context, w upgrade.Window, pc upgrade.ProbeChoice) (*upgrade.Monitor, error) {
	s := env.adapted[pc.Scenario.Name]
	step := s.Steps[pc.Step]
	By(fmt.Sprintf("putting %s in place for the background prober", pc))
	if err := deploy.DeleteBundle(ctx, env.Cluster, s, suite.cfg.RunID, suite.cfg.Timeouts.Converge); err != nil {
		return nil, err
	}
	for j := 0; j <= pc.Step; j++ {
		if err := deploy.ApplyBundle(ctx, env.Cluster, s, j, suite.cfg.RunID); err != nil {
			return nil, err
		}
	}
	resolve := func(ctx context.Context) (upgrade.ProbeTarget, error) { return env.probeTarget(ctx, s, pc.Step) }
	t, err := resolve(ctx)
	if err != nil {
		return nil, err
	}
	r := runner.Runner{Prober: t.Prober, Collector: t.Collector, ClientIP: t.ClientIP, GatewayHosts: t.GatewayHosts,
		CurlTrustArgs: env.curlTrustArgs(), Timeouts: suite.cfg.Timeouts}
	if out := r.Converge(ctx, step); !out.Passed {
		return nil, fmt.Errorf("%s did not hold before the window: %w", pc, out.Err())
	}
	ut := timeouts().Upgrade
	ref := s.ClientFor(step.Request)
	d := upgrade.Disruption{
		Window: w.Name, Scenario: s, Step: pc.Step, Client: ref.Namespace + "/" + env.clients[ref].Deployment,
		Resolve: resolve, Interval: ut.ProbeInterval, Bound: ut.Window,
		Curl: suite.cfg.Timeouts.Curl, TrustArgs: env.curlTrustArgs(),
		Logf: func(format string, args ...any) { fmt.Fprintf(GinkgoWriter, format+"\n", args...) },
	}
	By(fmt.Sprintf("background prober: %s every %s", pc, ut.ProbeInterval))
	return d.Start(ctx), nil
}

// probeTarget looks up, for one background probe, the client pod to send from
// and the gateway pods whose logs judge it: the upgrade restarts both.
func (env *strategyEnv) probeTarget(ctx context.Context, s *scenario.Scenario, i int) (upgrade.ProbeTarget, error) {
	step := s.Steps[i]
	ref := s.ClientFor(step.Request)
	client, err := env.kubeOps().ResolveClient(ctx, ref.Namespace, env.clients[ref].Deployment)
	if err != nil {
		return upgrade.ProbeTarget{}, err
	}
	gateways := plan.Gateways(s, step)
	var proxies []evidence.Proxy
	for _, g := range gateways {
		got, err := evidence.GatewayProxies(ctx, env.Kube, g.Namespace, g.Selector)
		if err != nil {
			return upgrade.ProbeTarget{}, err
		}
		proxies = append(proxies, got...)
	}
	t := suite.cfg.Timeouts
	return upgrade.ProbeTarget{
		Prober:       runner.NewProber(env.Exec, client.Namespace, client.Name, client.Container, t),
		Collector:    runner.NewCollector(env.Logs, evidence.Proxy{Namespace: client.Namespace, Pod: client.Name, Container: evidence.ProxyContainer, IP: client.IP}, proxies, t),
		ClientIP:     client.IP,
		Client:       client.Namespace + "/" + client.Name,
		GatewayHosts: plan.Hosts(gateways),
	}, nil
}

func (env *strategyEnv) externalOptions() external.InstallOptions {
	return external.InstallOptions{Out: GinkgoWriter, KindCluster: env.plan.Cluster, Timeouts: timeouts().External, AllowExistingCluster: suite.cfg.ExternalAllowExistingCluster}
}

func (env *strategyEnv) curlTrustArgs() []string { return env.ops("").CurlTrustArgs() }

// collectMeshDiagnostics writes the mesh's state after a failed upgrade window.
func (env *strategyEnv) collectMeshDiagnostics(ctx context.Context, window string) {
	dir := filepath.Join(suite.reportDir, string(env.plan.Strategy)+"-window-"+strings.ReplaceAll(window, " ", "-"))
	By("collecting diagnostics into " + dir)
	var namespaces []string
	for _, s := range env.adapted {
		for _, c := range s.ClientRefs() {
			namespaces = append(namespaces, c.Namespace)
		}
	}
	t := diag.Target{Namespace: mesh.IstioNamespace, ExtraNamespaces: namespaces,
		Files: map[string][]byte{"failure.txt": []byte(fmt.Sprintf("strategy %s: window %s failed: %s\n", env.plan.Strategy, window, env.blocked))}}
	env.ops("").Collect(ctx, dir, t)
}

// renderInputs gathers what the DRY_RUN plan prints.
func renderInputs(cfg config, cp cluster.Plan) (upgrade.RenderInputs, error) {
	kc, err := cluster.ResolveKindConfig(cp.KindConfig)
	if err != nil {
		return upgrade.RenderInputs{}, err
	}
	kindConfig := func(name string) (string, error) {
		kind, err := cluster.KindConfig(kc, name, cp.NodeImage)
		if err != nil {
			return "", err
		}
		raw, err := cluster.RenderKindConfig(kind)
		return string(raw), err
	}
	istioctl := map[string]string{}
	for _, v := range []struct{ version, local string }{{cfg.upgrade.From, cfg.upgrade.IstioctlFrom}, {cfg.upgrade.To, cfg.upgrade.IstioctlTo}} {
		if v.local != "" {
			istioctl[v.version] = v.local + " (must report " + v.version + ")"
		} else {
			istioctl[v.version] = mesh.IstioctlCachePath(cfg.cacheRoot, v.version) + " (downloaded from the Istio release and checked against its sha256 when missing)"
		}
	}
	in := upgrade.RenderInputs{
		Commands: commandInputs(), Setup: setupInputs(),
		Preflight: suite.preflight, NodeImage: nodeImage(cfg), KindConfig: kindConfig, Istioctl: istioctl, Scenarios: suite.steps,
		ProbeEvery: timeouts().Upgrade.ProbeInterval.String(),
	}
	if pc := suite.plan.Probe; pc.Enabled() {
		step := pc.Scenario.Steps[pc.Step]
		c := pc.Scenario.ClientFor(step.Request)
		p := probe.Prober{Namespace: c.Namespace, Pod: "<the client Deployment's Ready pod at the time: deploy/" + c.Workload + ">", Container: c.Workload}
		in.ProbeCommand = p.Describe(probe.Request{URL: step.Request.URL, RequestID: probe.NewRequestID(), Timeout: cfg.Timeouts.Curl})
	}
	return in, nil
}
