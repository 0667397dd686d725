package upgrade

import (
	"fmt"
	"io"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Phase names: the key a proven step carries in report.Step.Phase.
const (
	// PhaseFrom: FROM installed (default revision), every proxy on FROM.
	PhaseFrom = "from"
	// PhaseTo: TO installed and every gateway and client restarted onto it. With
	// the canary strategy FROM is still installed beside it.
	PhaseTo = "to"
	// PhaseFinal (canary only): FROM removed, TO alone.
	PhaseFinal = "final"
)

// Window names.
const (
	WindowUpgrade    = "upgrade"
	WindowRemoveFrom = "remove FROM"
)

// ActionKind is one kind of upgrade action.
type ActionKind string

const (
	// ActPrecheck runs TO's `istioctl x precheck --from-version <FROM minor>`.
	// Its findings are reported; it does not stop the upgrade (see Executor).
	ActPrecheck ActionKind = "precheck"
	// ActInstall runs `istioctl install` of Version (with Revision when set).
	ActInstall ActionKind = "install"
	// ActWaitControlPlane waits for istiod[-Revision] and the egress gateway
	// Deployments to be Available with every pod Ready.
	ActWaitControlPlane ActionKind = "wait-control-plane"
	// ActGateway makes the egress gateway run Expect: the install re-renders its
	// Deployment, which rolls it; if the pod template still names another proxy it
	// is restarted; then every pod must run Expect.
	ActGateway ActionKind = "gateway"
	// ActRelabel moves every client namespace from istio-injection=enabled to
	// istio.io/rev=Revision.
	ActRelabel ActionKind = "relabel"
	// ActRestartClients restarts every client Deployment (kubectl rollout restart)
	// and waits until every pod runs Expect.
	ActRestartClients ActionKind = "restart-clients"
	// ActUninstall runs `istioctl uninstall --revision Revision` with Version's
	// istioctl.
	ActUninstall ActionKind = "uninstall"
	// ActWaitGone waits until istiod of Revision is gone.
	ActWaitGone ActionKind = "wait-gone"
	// ActCheckProxies checks, without restarting anything, that the gateway and
	// every client still run Expect and are Ready.
	ActCheckProxies ActionKind = "check-proxies"
)

// ProxyExpectation is the proxy a pod must run after an action.
type ProxyExpectation struct {
	// Version is pilot-agent's version (and the proxy image's tag).
	Version string
	// Revision is the control plane that injected (or, for an istioctl gateway,
	// rendered) it: "default" or the canary revision.
	Revision string
}

func (p ProxyExpectation) String() string {
	return fmt.Sprintf("Istio %s proxy, revision %s", p.Version, p.Revision)
}

// Action is one step of an upgrade window, as data: the Executor runs it and the
// plan prints it.
type Action struct {
	Kind ActionKind
	// Version is the istioctl (and Istio) version the action uses.
	Version string
	// Revision: installed (ActInstall), waited for (ActWaitControlPlane,
	// ActWaitGone), removed (ActUninstall), labelled (ActRelabel).
	Revision string
	// FromMinor is FROM's minor for ActPrecheck.
	FromMinor string
	// Expect is the proxy pods must run after ActGateway, ActRestartClients,
	// ActCheckProxies.
	Expect ProxyExpectation
}

// Title is the action in words.
func (a Action) Title() string {
	switch a.Kind {
	case ActPrecheck:
		return fmt.Sprintf("istioctl %s x precheck --from-version %s", a.Version, a.FromMinor)
	case ActInstall:
		if a.Revision != "" {
			return fmt.Sprintf("install Istio %s as revision %s", a.Version, a.Revision)
		}
		return fmt.Sprintf("install Istio %s (default revision)", a.Version)
	case ActWaitControlPlane:
		return fmt.Sprintf("wait for %s", targetNames(a.Revision))
	case ActGateway:
		return "egress gateway on the " + a.Expect.String()
	case ActRelabel:
		return "move the client namespaces to revision " + a.Revision
	case ActRestartClients:
		return "restart the clients onto the " + a.Expect.String()
	case ActUninstall:
		return fmt.Sprintf("uninstall revision %s with istioctl %s", a.Revision, a.Version)
	case ActWaitGone:
		return fmt.Sprintf("wait until istiod of revision %s is gone", a.Revision)
	case ActCheckProxies:
		return "gateway and clients still Ready on the " + a.Expect.String()
	}
	return string(a.Kind)
}

func targetNames(revision string) string {
	var n []string
	for _, t := range mesh.Targets(mesh.InstallOptions{Revision: revisionOption(revision)}) {
		n = append(n, t.String())
	}
	return strings.Join(n, " and ")
}

// revisionOption maps the default revision to istioctl's "no --revision".
func revisionOption(rev string) string {
	if rev == DefaultRevision {
		return ""
	}
	return rev
}

// Window is a stretch of upgrade actions during which the background prober runs.
type Window struct {
	Name    string
	Actions []Action
}

// Phase is a point at which every step of every selected scenario is proven.
type Phase struct {
	Name        string
	Description string
}

// Stage is either a phase to prove or a window of upgrade actions.
type Stage struct {
	Prove  *Phase
	Window *Window
}

// StrategyPlan is everything one strategy does, on its own cluster.
type StrategyPlan struct {
	Strategy Strategy
	// Cluster is the kind cluster name.
	Cluster string
	// Baseline is the proxy every gateway and client must run once FROM is
	// installed, checked before the first phase.
	Baseline ProxyExpectation
	Stages   []Stage
}

// Phases lists the strategy's phases in order.
func (sp StrategyPlan) Phases() []Phase {
	var out []Phase
	for _, st := range sp.Stages {
		if st.Prove != nil {
			out = append(out, *st.Prove)
		}
	}
	return out
}

// Plan is an upgrade run: both versions, each strategy's stages, the prober.
type Plan struct {
	From, To string
	// ToRevision is the canary revision of TO.
	ToRevision string
	Strategies []StrategyPlan
	Probe      ProbeChoice
}

// PlanInputs is what NewPlan needs.
type PlanInputs struct {
	From, To   string
	Strategies []Strategy
	// ClusterBase is CLUSTER_NAME; each strategy's cluster is <base>-<strategy>.
	ClusterBase string
	Probe       ProbeChoice
}

// NewPlan lays out the run. It is pure. The decisions it encodes:
//
//   - in-place: TO's istioctl installs over FROM (`istioctl install`; in 1.31
//     `istioctl upgrade` is documented as "an alias for the install command" and
//     runs the same code, operator/cmd/mesh/upgrade.go), which rolls istiod and
//     the egress gateway; the clients are restarted. Phases: from, to.
//   - canary: TO is installed as revision <to-rev>. Istio gateways "do not run
//     revision-specific instances, but are instead in-place upgraded to use the new
//     control plane revision" (istio.io docs/setup/upgrade/canary): the istioctl
//     egress gateway keeps its name, Service and pod labels (istio=egressgateway),
//     so evidence collection finds it unchanged, and rolls onto TO with
//     istio.io/rev=<to-rev>. The client namespaces move from istio-injection to
//     istio.io/rev=<to-rev> (the injection label must go: it takes precedence),
//     the clients restart, every step is proven (phase to), then FROM is removed
//     with `istioctl uninstall --revision default`, which prunes only objects
//     labelled istio.io/rev=default (operator/pkg/uninstall/prune.go) and so
//     leaves the re-rendered gateway alone, and every step is proven again
//     (phase final).
//   - Each window is watched by the background prober.
func NewPlan(in PlanInputs) (Plan, error) {
	from, err := ParseVersion(in.From)
	if err != nil {
		return Plan{}, err
	}
	if _, err := ParseVersion(in.To); err != nil {
		return Plan{}, err
	}
	rev, err := RevisionFor(in.To)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{From: in.From, To: in.To, ToRevision: rev, Probe: in.Probe}
	base := in.ClusterBase
	if base == "" {
		base = "egress-conformance"
	}
	onFrom := ProxyExpectation{Version: in.From, Revision: DefaultRevision}
	for _, s := range in.Strategies {
		sp := StrategyPlan{Strategy: s, Cluster: base + "-" + string(s), Baseline: onFrom}
		fromPhase := &Phase{Name: PhaseFrom, Description: fmt.Sprintf("Istio %s (default revision); gateway and clients on its proxy", in.From)}
		precheck := Action{Kind: ActPrecheck, Version: in.To, FromMinor: from.minorString()}
		switch s {
		case InPlace:
			onTo := ProxyExpectation{Version: in.To, Revision: DefaultRevision}
			sp.Stages = []Stage{
				{Prove: fromPhase},
				{Window: &Window{Name: WindowUpgrade, Actions: []Action{
					precheck,
					{Kind: ActInstall, Version: in.To},
					{Kind: ActWaitControlPlane, Version: in.To, Revision: DefaultRevision},
					{Kind: ActGateway, Version: in.To, Expect: onTo},
					{Kind: ActRestartClients, Version: in.To, Expect: onTo},
				}}},
				{Prove: &Phase{Name: PhaseTo, Description: fmt.Sprintf("Istio %s installed over %s in place (default revision); gateway and clients restarted on its proxy", in.To, in.From)}},
			}
		case Canary:
			onTo := ProxyExpectation{Version: in.To, Revision: rev}
			sp.Stages = []Stage{
				{Prove: fromPhase},
				{Window: &Window{Name: WindowUpgrade, Actions: []Action{
					precheck,
					{Kind: ActInstall, Version: in.To, Revision: rev},
					{Kind: ActWaitControlPlane, Version: in.To, Revision: rev},
					{Kind: ActGateway, Version: in.To, Expect: onTo},
					{Kind: ActRelabel, Version: in.To, Revision: rev},
					{Kind: ActRestartClients, Version: in.To, Expect: onTo},
				}}},
				{Prove: &Phase{Name: PhaseTo, Description: fmt.Sprintf("Istio %s as revision %s beside %s; gateway and clients moved to %s and restarted", in.To, rev, in.From, rev)}},
				{Window: &Window{Name: WindowRemoveFrom, Actions: []Action{
					{Kind: ActUninstall, Version: in.To, Revision: DefaultRevision},
					{Kind: ActWaitGone, Version: in.To, Revision: DefaultRevision},
					{Kind: ActCheckProxies, Version: in.To, Expect: onTo},
				}}},
				{Prove: &Phase{Name: PhaseFinal, Description: fmt.Sprintf("Istio %s (revision %s) alone: %s removed", in.To, rev, in.From)}},
			}
		default:
			return Plan{}, fmt.Errorf("unknown strategy %q", s)
		}
		p.Strategies = append(p.Strategies, sp)
	}
	return p, nil
}

// CommandInputs is what turns actions into exact commands for people.
type CommandInputs struct {
	// Istioctl maps a version to how its istioctl is named in commands.
	Istioctl func(version string) string
	// Overlay, Hub (ISTIO_HUB), Kubeconfig and Context go into istioctl's arguments.
	Overlay, Hub, Kubeconfig, Context string
	// Clients are the client Deployments (namespace/name) restarted;
	// Namespaces the client namespaces relabelled.
	Clients    []string
	Namespaces []string
}

// Commands are the exact commands (or API changes, written as the kubectl
// command that does the same) of an action.
func (a Action) Commands(in CommandInputs) []string {
	istioctl := "istioctl-" + a.Version
	if in.Istioctl != nil {
		istioctl = in.Istioctl(a.Version)
	}
	opts := mesh.InstallOptions{Overlay: in.Overlay, Hub: in.Hub, Revision: revisionOption(a.Revision), Kubeconfig: in.Kubeconfig, Context: in.Context}
	kube := func(args ...string) []string {
		if in.Kubeconfig != "" {
			args = append(args, "--kubeconfig", in.Kubeconfig)
		}
		if in.Context != "" {
			args = append(args, "--context", in.Context)
		}
		return args
	}
	switch a.Kind {
	case ActPrecheck:
		return []string{mesh.FormatCommand(istioctl, precheckArgs(a.FromMinor, in.Kubeconfig, in.Context))}
	case ActInstall:
		return []string{mesh.FormatCommand(istioctl, mesh.InstallArgs(opts))}
	case ActUninstall:
		// Revision "default" is passed as such: without --revision istioctl would
		// need --purge, which removes every revision.
		return []string{mesh.FormatCommand(istioctl, kube("uninstall", "--skip-confirmation", "--revision", a.Revision))}
	case ActWaitControlPlane:
		return []string{"wait: Deployments " + targetNames(a.Revision) + " Available, every pod Ready"}
	case ActWaitGone:
		return []string{fmt.Sprintf("wait: Deployment %s/istiod%s gone", mesh.IstioNamespace, suffix(revisionOption(a.Revision)))}
	case ActGateway:
		return []string{
			fmt.Sprintf("if the pod template of %s/%s does not name the %s: kubectl rollout restart deployment/%s --namespace %s",
				mesh.IstioNamespace, mesh.EgressGatewayName, a.Expect, mesh.EgressGatewayName, mesh.IstioNamespace),
			fmt.Sprintf("wait: every pod of %s/%s Ready, %s", mesh.IstioNamespace, mesh.EgressGatewayName, checkWords(a.Expect)),
		}
	case ActRelabel:
		var out []string
		for _, ns := range in.Namespaces {
			out = append(out, mesh.FormatCommand("kubectl", []string{"label", "namespace", ns, InjectionLabel + "-", RevisionLabel + "=" + a.Revision}))
		}
		return out
	case ActRestartClients:
		var out []string
		for _, c := range in.Clients {
			ns, name, _ := strings.Cut(c, "/")
			out = append(out, mesh.FormatCommand("kubectl", []string{"rollout", "restart", "deployment/" + name, "--namespace", ns}))
		}
		return append(out, "wait: every client pod Ready, "+checkWords(a.Expect))
	case ActCheckProxies:
		return []string{"check: the egress gateway's and every client's pods Ready, " + checkWords(a.Expect)}
	}
	return nil
}

func checkWords(e ProxyExpectation) string {
	return fmt.Sprintf("container istio-proxy running image tag %s, revision %s (sidecar.istio.io/status or label istio.io/rev), "+
		"`pilot-agent version` reporting %s", e.Version, e.Revision, e.Version)
}

func suffix(rev string) string {
	if rev == "" {
		return ""
	}
	return "-" + rev
}

// precheckArgs is `istioctl x precheck --from-version <minor>` with the cluster
// arguments.
func precheckArgs(fromMinor, kubeconfig, context string) []string {
	args := []string{"x", "precheck", "--from-version", fromMinor}
	if kubeconfig != "" {
		args = append(args, "--kubeconfig", kubeconfig)
	}
	if context != "" {
		args = append(args, "--context", context)
	}
	return args
}

// RenderInputs is what the DRY_RUN plan prints besides the Plan itself.
type RenderInputs struct {
	Commands CommandInputs
	// Preflight are the preflight findings, printed first.
	Preflight []Finding
	// Cluster describes how each strategy's cluster is made (node image, kind
	// config); Istioctl says where each version's istioctl comes from.
	NodeImage string
	// KindConfig renders the kind config of a cluster by name.
	KindConfig func(cluster string) (string, error)
	Istioctl   map[string]string
	// ProbeCommand is the prober's curl, rendered; ProbeEvery its cadence.
	ProbeCommand string
	ProbeEvery   string
	// Scenarios are rendered once with pkg/plan: every phase proves them alike.
	Scenarios *plan.Plan
	// NewRequestID makes the request ids shown; nil: probe.NewRequestID.
	NewRequestID func() string
	// Setup says which optional bring-up stages the strategies have (Plan.Setup).
	Setup SetupInputs
}

// SetupInputs say which optional stages a strategy's bring-up has.
type SetupInputs struct {
	RunID string
	// Preload: PRELOAD_IMAGES=1. GatewayAPI: a scenario needs the Gateway API
	// CRDs. Hermetic: EXTERNAL=cluster.
	Preload, GatewayAPI, Hermetic bool
}

// Setup lists a strategy's bring-up and tear-down stages, in order: what the
// plan prints and the suite executes (engine.Stages).
func (p Plan) Setup(sp StrategyPlan, c CommandInputs, in SetupInputs) (up, down []plan.Stage) {
	up = append(up, plan.Stage{Kind: plan.StageDocker, Says: "check that Docker is usable"},
		plan.Stage{Kind: plan.StageIstioctl, Says: "get istioctl " + p.From + " and " + p.To + " (before the cluster: a missing release fails in seconds)"},
		plan.Stage{Kind: plan.StageCluster, Says: "create kind cluster " + sp.Cluster})
	if in.Preload {
		up = append(up, plan.Stage{Kind: plan.StagePreload, Says: "load both versions' images from this host's Docker into the cluster (PRELOAD_IMAGES=1)"})
	}
	install := mesh.FormatCommand("istioctl-"+p.From, mesh.InstallArgs(mesh.InstallOptions{Overlay: c.Overlay, Hub: c.Hub, Kubeconfig: c.Kubeconfig}))
	up = append(up, plan.Stage{Kind: plan.StageIstio, Says: install + "; wait for istiod and the egress gateway"})
	if in.GatewayAPI {
		up = append(up, plan.Stage{Kind: plan.StageGatewayAPICRDs, Says: "install the Gateway API CRDs (pinned) a scenario needs"})
	}
	if in.Hermetic {
		up = append(up, plan.Stage{Kind: plan.StageExternal, Says: "install the hermetic stand-in for the external hosts"})
	}
	up = append(up, plan.Stage{Kind: plan.StageClients, Says: "namespaces (labels istio-injection=enabled, run label), harness Sidecars, clients Ready with istio-proxy"},
		plan.Stage{Kind: plan.StageBaseline, Says: fmt.Sprintf("check the egress gateway and every client run the %s (%s)", sp.Baseline, checkWords(sp.Baseline))})
	down = append(down, plan.Stage{Kind: plan.StageCleanup, Says: "delete this run's objects (label egress-conformance.io/run=" + in.RunID + ")"})
	if in.Hermetic {
		down = append(down, plan.Stage{Kind: plan.StageRemoveExternal, Says: "remove the hermetic stand-in and restore CoreDNS"})
	}
	down = append(down, plan.Stage{Kind: plan.StageDeleteCluster, Says: "delete the cluster (unless KEEP_CLUSTER, or KEEP_CLUSTER_ON_FAILURE and a failure)"})
	return up, down
}

// Render writes the whole upgrade plan for people: preflight, versions, per
// strategy every stage with its exact commands, the prober, then every scenario
// and step (pkg/plan's rendering), which each phase proves in the same way.
func (p Plan) Render(w io.Writer, in RenderInputs) error {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# egress-conformance upgrade plan (DRY_RUN: nothing is created)")
	line("run id: %s", in.Scenarios.RunID)
	line("upgrade: Istio %s → %s", p.From, p.To)
	line("\n## Preflight")
	for _, f := range in.Preflight {
		line("%s", f)
	}
	line("\n## Istio")
	for _, v := range []string{p.From, p.To} {
		line("istioctl %s: %s", v, in.Istioctl[v])
	}
	line("canary revision of %s: %s", p.To, p.ToRevision)
	line("\n## Background prober")
	if p.Probe.Enabled() {
		line("step: %s (its bundle is applied up to this step for each upgrade window, and removed after)", p.Probe)
		line("probe: %s", in.ProbeCommand)
		line("cadence: one probe every %s, each judged like a step attempt (both proxies' lines, httpbin's origin chain); "+
			"a probe that fails its expectation is a failure, one that could not be sent or observed is inconclusive", in.ProbeEvery)
	} else {
		line("none: %s", p.Probe.Reason)
	}
	for _, sp := range p.Strategies {
		line("\n## Strategy %s", sp.Strategy)
		line("cluster: kind %s (created fresh, deleted afterwards unless KEEP_CLUSTER)", sp.Cluster)
		line("node image: %s", in.NodeImage)
		up, down := p.Setup(sp, in.Commands, in.Setup)
		for i, st := range up {
			line("setup %s", plan.StageLine(i, st))
		}
		for i, st := range down {
			line("teardown %s", plan.StageLine(i, st))
		}
		n := 0
		for _, st := range sp.Stages {
			n++
			switch {
			case st.Prove != nil:
				line("\n### %d. prove phase %q: %s", n, st.Prove.Name, st.Prove.Description)
				line("every selected scenario in turn: its bundle objects removed, then each step applied (cumulatively) and " +
					"proven as in the Scenarios section below, then its bundle objects removed; namespaces and clients stay")
			case st.Window != nil:
				line("\n### %d. window %q (background prober running)", n, st.Window.Name)
				for i, a := range st.Window.Actions {
					line("%d.%d %s", n, i+1, a.Title())
					for _, c := range a.Commands(in.Commands) {
						line("      %s", c)
					}
				}
			}
		}
		if in.KindConfig != nil {
			kc, err := in.KindConfig(sp.Cluster)
			if err != nil {
				return fmt.Errorf("strategy %s: kind config: %w", sp.Strategy, err)
			}
			line("\nkind config:")
			for _, l := range strings.Split(strings.TrimRight(kc, "\n"), "\n") {
				line("    %s", l)
			}
		}
	}
	line("\n## Scenarios (proven in every phase of every strategy)")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	return in.Scenarios.RenderScenarios(w, in.NewRequestID)
}

// ClientDeployments lists namespace/name of every client Deployment of the
// scenarios, given the workload Deployment name of each client workload.
func ClientDeployments(scenarios []*scenario.Scenario, deploymentOf func(workload string) string) []string {
	var out []string
	for _, s := range scenarios {
		for _, c := range s.ClientRefs() {
			out = append(out, c.Namespace+"/"+deploymentOf(c.Workload))
		}
	}
	return out
}

// ClientNamespaces lists every client namespace of the scenarios.
func ClientNamespaces(scenarios []*scenario.Scenario) []string {
	var out []string
	for _, s := range scenarios {
		for _, c := range s.ClientRefs() {
			out = append(out, c.Namespace)
		}
	}
	return out
}
