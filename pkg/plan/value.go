package plan

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/egress-conformance/egress-conformance/pkg/ambient"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Plan is what a cluster-tier run does, as one value: DRY_RUN prints it
// (Render), the cluster suites build their Ginkgo tree from it, and pkg/engine
// executes it, stage by stage and action by action. The model is the Gateway API
// conformance suite (sigs.k8s.io/gateway-api, conformance/utils/suite), whose
// suite value both lists and runs the tests: what is printed is what is run.
type Plan struct {
	RunID   string
	Cluster ClusterInputs
	Istio   Istio
	// External is "internet" or "cluster"; ExternalNotes say what hermetic mode sets up.
	External      string
	ExternalNotes []string
	// BringUp are the stages that bring the cluster and the mesh up, in order;
	// TearDown the stages that take them down, every one run whatever the others
	// did (engine.TearDown). A stage the run does not need is not in the list.
	BringUp  []Stage
	TearDown []Stage
	// Convergence says when a step passes.
	Convergence Convergence
	Scenarios   []*ScenarioPlan
}

// Istio is the mesh part of a plan.
type Istio struct {
	Version string
	// Istioctl says where the binary comes from.
	Istioctl    string
	InstallArgs []string
	// AmbientOverlay is the ambient overlay InstallArgs pass as a further
	// --filename (pkg/ambient); empty: no scenario that runs is ambient.
	AmbientOverlay string
	// Offline is the Istio release the offline tier simulates (its library).
	Offline string
}

// Convergence is the rule a step passes by: its expectation holds for
// Consecutive probes in a row within Within; each curl is bounded by Curl.
type Convergence struct {
	Consecutive int
	Within      time.Duration
	Curl        time.Duration
}

// StageKind names what a stage does; the engine runs each kind with the
// handler its caller gives for it, and refuses a plan with a stage it has no
// handler for (so nothing printed goes unrun).
type StageKind string

// Bring-up and tear-down stages. Further stages (an ambient install, say) are
// further kinds, listed where they run.
const (
	StageDocker   StageKind = "docker"
	StageCluster  StageKind = "cluster"
	StagePreload  StageKind = "preload-images"
	StageIstioctl StageKind = "istioctl"
	StageIstio    StageKind = "istio"
	// StageAmbient waits for ambient's node agents (istio-cni, ztunnel) the
	// install added (pkg/ambient).
	StageAmbient        StageKind = "ambient"
	StageGatewayAPICRDs StageKind = "gateway-api-crds"
	StageExternal       StageKind = "external"
	// StageClients sets up every selected scenario's namespaces and clients
	// before the first phase (the upgrade gate).
	StageClients StageKind = "clients"
	// StageBaseline checks that every proxy runs the version installed (the
	// upgrade gate, before it upgrades anything).
	StageBaseline       StageKind = "baseline"
	StageCleanup        StageKind = "cleanup"
	StageRemoveExternal StageKind = "remove-external"
	StageUninstallIstio StageKind = "uninstall-istio"
	StageDeleteCluster  StageKind = "delete-cluster"
)

// Stage is one stage of bring-up or tear-down.
type Stage struct {
	Kind StageKind
	// Says what it does, in words, as printed and as the run's progress says it.
	Says string
}

// ScenarioPlan is one scenario of the run: the namespaces and clients set up
// before its first step, and its steps.
type ScenarioPlan struct {
	// Scenario is the scenario as the run applies it (in hermetic mode, the
	// stand-in's adapted copy).
	Scenario *scenario.Scenario
	// Skip is why the whole scenario is skipped; empty: it runs.
	Skip string
	// Namespaces are the client namespaces, each with its Sidecar and client, in
	// the order they are set up.
	Namespaces []Namespace
	// Workloads are the auxiliary workloads outside the mesh, deployed after
	// the clients and before the first step (scenario.Scenario.Workloads).
	Workloads []Workload
	// Variables say where each run-time value comes from, as printed.
	Variables []string
	// CANamespaces get the hermetic stand-in's CA ConfigMap (TLS origination).
	CANamespaces []string
	Steps        []*StepPlan
}

// Workload is an auxiliary workload of a scenario: deployed without a sidecar,
// waited for until Ready; its pod's IP is the value of Variables.
type Workload struct {
	Ref   scenario.WorkloadRef
	RunID string
	// File is the workload's manifest, relative to the repository root.
	File string
	// CreateNamespace: no client lives in its namespace, so the run creates it
	// (without the injection label).
	CreateNamespace bool
	// Variables are the names whose value is its pod's IP.
	Variables []string
}

// NamespaceLine is how the plan prints the creation of the workload's own
// namespace, and how a run records it.
func (w Workload) NamespaceLine() string {
	return "namespace: " + w.Ref.Namespace + "  (labels egress-conformance.io/run=" + w.RunID + "; no injection label: only workloads outside the mesh live here)"
}

// Line is how the plan prints the workload, and how a run records deploying it.
func (w Workload) Line() string {
	l := "  workload: " + w.Ref.Name + " (" + w.File + ") in " + w.Ref.Namespace + " without a sidecar (pod template label " +
		scenario.InjectLabel + `: "false"; Ready without container istio-proxy)`
	if len(w.Variables) > 0 {
		l += "; its pod IP is $" + strings.Join(w.Variables, ", $")
	}
	return l
}

// Name is the scenario's name.
func (sp *ScenarioPlan) Name() string { return sp.Scenario.Name }

// Namespace is one client's namespace, its harness Sidecar and the client.
type Namespace struct {
	Client scenario.ClientRef
	// RunID labels it.
	RunID string
	// Policy is the outbound traffic policy the Sidecar sets.
	Policy  string
	Sidecar *networkingv1.Sidecar
	// Workload is the client's manifest, relative to the repository root.
	Workload string
	// Injection: the namespace is labelled for sidecar injection, because an
	// injected client lives there (scenario.Scenario.InjectedNamespace); a
	// namespace of clients without a sidecar alone is not.
	Injection bool
	// Annotations go on the client's pod template (clients[].annotations).
	Annotations map[string]string
}

// Line is how the plan prints the namespace, and how a run records creating it.
func (n Namespace) Line() string {
	labels := "istio-injection=enabled"
	switch {
	case n.Client.Ambient():
		labels = ambient.NamespaceLabelsNote()
	case !n.Injection:
		labels = "no injection label: only clients without a sidecar live here"
	}
	return "namespace: " + n.Client.Namespace + "  (labels " + labels + ", egress-conformance.io/run=" + n.RunID + ")"
}

// CALine is how the plan prints, and a run records, giving namespace ns the
// hermetic stand-in's CA for the DestinationRules there that originate TLS.
func CALine(ns string) string {
	return "CA ConfigMap: " + ns + "  (the stand-in's CA, for DestinationRules there that originate TLS; created once the namespace exists, checked again after every step's changes)"
}

// ClientLine is how the plan prints the client, and how a run records deploying it.
func (n Namespace) ClientLine() string {
	if n.Client.Ambient() {
		return "  client: " + n.Workload + " (" + ambient.ClientNote() + "; data plane ambient: the Sidecar above does not reach ztunnel)"
	}
	var ann []string
	for _, k := range slices.Sorted(maps.Keys(n.Annotations)) {
		ann = append(ann, k+": "+strconv.Quote(n.Annotations[k]))
	}
	with := ""
	if len(ann) > 0 {
		with = ", pod annotations " + strings.Join(ann, ", ")
	}
	if !n.Client.Injected {
		return "  client: " + n.Workload + " without a sidecar (pod template label " + scenario.InjectLabel +
			`: "false"` + with + "; Ready without container istio-proxy)"
	}
	return "  client: " + n.Workload + " (Ready with container istio-proxy" + with + ")"
}

// StepPlan is one step: its actions in order, then the probe, evidence and verdict.
type StepPlan struct {
	// Index is the step's position in the scenario (0-based).
	Index int
	Step  scenario.Step
	// Actions change the cluster before the probe, in order.
	Actions []Action
	// Client sends the probe.
	Client scenario.ClientRef
	// Request is the probe without its request id (each attempt gets its own).
	Request probe.Request
	// Gateways are the egress gateways whose logs are evidence.
	Gateways []Gateway
	// Waypoints are the waypoints of the step's bundle (Gateways of class
	// istio-waypoint): an ambient client's probe may pass them.
	Waypoints []ambient.Waypoint
}

// Name is the step's name.
func (st *StepPlan) Name() string { return st.Step.Name }

// Prober is how the plan names the client pod in the printed probe (the run
// execs into the Deployment's Ready pod).
func (st *StepPlan) Prober() probe.Prober {
	return probe.Prober{Namespace: st.Client.Namespace, Pod: "deploy/" + st.Client.Workload, Container: st.Client.Workload}
}

// ProbeLine is the printed probe with request id id.
func (st *StepPlan) ProbeLine(id string) string {
	r := st.Request
	r.RequestID = id
	return "probe: " + st.Prober().Describe(r)
}

// ActionKind names what an action does to the cluster.
type ActionKind string

const (
	// ActionApply applies Objects (server-side apply, labelled with the run).
	ActionApply ActionKind = "apply"
	// ActionRemoveBundle deletes whatever objects of the scenario's bundle an
	// earlier run of its steps left (the upgrade gate proves a scenario in
	// every phase, on the same cluster).
	ActionRemoveBundle ActionKind = "remove"
	// ActionDelete deletes Objects, what the step's delete list removes
	// (scenario.Scenario.StepChanges), before the step applies anything: only
	// objects labelled with the run, each with its UID as a precondition.
	ActionDelete ActionKind = "delete"
)

// Action is one change a step makes before its probe.
type Action struct {
	Kind ActionKind
	// Objects are what the action applies, each with its file and line.
	Objects scenario.Bundle
	// DefaultNamespace is where objects that name none go.
	DefaultNamespace string
}

// Lines are how the plan prints the action, and how a run records doing it: one
// title per object.
func (a Action) Lines() []string {
	if a.Kind == ActionRemoveBundle {
		return []string{"remove: every object of the scenario's bundle an earlier phase left (the scenario's namespaces and clients stay)"}
	}
	var out []string
	for _, o := range a.Objects {
		ns := o.Namespace
		if ns == "" {
			ns = a.DefaultNamespace
		}
		out = append(out, fmt.Sprintf("%s %s:%d  %s %s/%s", a.Kind, o.File, o.Line, o.Kind, ns, o.Name))
	}
	return out
}

// Build computes the plan from its inputs, touching nothing.
func Build(in Inputs) (*Plan, error) {
	p := &Plan{
		RunID:   in.RunID,
		Cluster: in.Cluster,
		Istio: Istio{Version: in.IstioVersion, Istioctl: in.Istioctl, InstallArgs: in.InstallArgs, Offline: in.OfflineIstio,
			AmbientOverlay: in.AmbientOverlay},
		External:      in.External,
		ExternalNotes: in.ExternalNotes,
		Convergence:   Convergence{Consecutive: in.Consecutive, Within: in.Converge, Curl: in.CurlTimeout},
	}
	p.BringUp, p.TearDown = stages(in)
	for _, s := range in.Scenarios {
		sp, err := buildScenario(in, s)
		if err != nil {
			return nil, err
		}
		p.Scenarios = append(p.Scenarios, sp)
	}
	return p, nil
}

// stages lists bring-up and tear-down as the inputs call for them.
func stages(in Inputs) (up, down []Stage) {
	existing := in.Cluster.Mode == "existing"
	if !existing {
		up = append(up, Stage{StageDocker, "check that Docker is usable"})
	}
	up = append(up, Stage{StageCluster, "bring up the cluster (" + in.Cluster.Mode + " " + in.Cluster.Name + ")"})
	if len(in.Cluster.Preload) > 0 {
		up = append(up, Stage{StagePreload, "load the run's images from this host's Docker into the cluster (PRELOAD_IMAGES=1)"})
	}
	up = append(up, Stage{StageIstioctl, "get istioctl " + in.IstioVersion})
	if existing {
		up = append(up, Stage{StageIstio, "use the mesh the cluster has (never installed over or removed), else install Istio " + in.IstioVersion + " and wait for it"})
	} else {
		up = append(up, Stage{StageIstio, "install Istio " + in.IstioVersion + " with the egress gateway and wait for it"})
	}
	if in.AmbientOverlay != "" {
		up = append(up, Stage{StageAmbient, "wait for ambient's node agents (DaemonSets " + ambient.CNI.String() + " and " +
			ambient.Ztunnel.String() + ") on every node"})
	}
	if in.GatewayAPI != "" {
		up = append(up, Stage{StageGatewayAPICRDs, "install the Gateway API CRDs (" + in.GatewayAPI + ") a scenario needs"})
	}
	if in.External == "cluster" {
		up = append(up, Stage{StageExternal, "install the hermetic stand-in for the external hosts"})
	}
	down = append(down, Stage{StageCleanup, "delete this run's objects (label egress-conformance.io/run=" + in.RunID + ")"})
	if in.External == "cluster" {
		down = append(down, Stage{StageRemoveExternal, "remove the hermetic stand-in and restore CoreDNS"})
	}
	if existing {
		down = append(down, Stage{StageUninstallIstio, "uninstall Istio if the harness installed it"})
	}
	down = append(down, Stage{StageDeleteCluster, "delete the cluster (" + in.Cluster.Keep + ")"})
	return up, down
}

func buildScenario(in Inputs, s *scenario.Scenario) (*ScenarioPlan, error) {
	sp := &ScenarioPlan{Scenario: s, Skip: in.Skip[s.Name]}
	if a, ok := in.Adapt[s.Name]; ok {
		sp.Scenario, sp.CANamespaces = a.Scenario, a.CANamespaces
	}
	s = sp.Scenario
	for _, c := range s.ClientRefs() {
		sc, err := mesh.Sidecar(c.Namespace, string(s.Mesh.OutboundTrafficPolicy))
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		sp.Namespaces = append(sp.Namespaces, Namespace{Client: c, RunID: in.RunID, Policy: string(s.Mesh.OutboundTrafficPolicy), Sidecar: sc,
			Workload: "fixtures/workloads/" + c.Workload + ".yaml", Injection: s.InjectedNamespace(c.Namespace), Annotations: s.AnnotationsOf(c)})
	}
	sp.Workloads, sp.Variables = workloads(in, s)
	for i, st := range s.Steps {
		c := s.ClientFor(st.Request)
		// The probe as written: a variable's value is known only once the run
		// has deployed the workload it names (engine.ScenarioRun substitutes).
		req := st.RequestAsWritten()
		stp := &StepPlan{Index: i, Step: st, Client: c, Gateways: Gateways(s, st), Waypoints: ambient.Waypoints(st.Bundle, s.Namespace()),
			Request: probe.Request{URL: req.URL, Timeout: in.CurlTimeout, Options: req.CurlArgs()}}
		if in.Cumulative && i == 0 {
			stp.Actions = append(stp.Actions, Action{Kind: ActionRemoveBundle, DefaultNamespace: s.Namespace()})
		}
		// A step deletes first, then applies what it adds or replaces.
		added, deleted := s.StepChanges(i)
		if in.Cumulative {
			// Every phase walks the steps again: apply the step's whole
			// bundle; what the step deletes is removed all the same.
			added = st.Bundle
		}
		if len(deleted) > 0 {
			stp.Actions = append(stp.Actions, Action{Kind: ActionDelete, Objects: deleted, DefaultNamespace: s.Namespace()})
		}
		if len(added) > 0 {
			stp.Actions = append(stp.Actions, Action{Kind: ActionApply, Objects: added, DefaultNamespace: s.Namespace()})
		}
		sp.Steps = append(sp.Steps, stp)
	}
	return sp, nil
}

// workloads are s's auxiliary workloads as the run deploys them, and where
// each variable's value comes from.
func workloads(in Inputs, s *scenario.Scenario) ([]Workload, []string) {
	clientNS := map[string]bool{}
	for _, c := range s.ClientRefs() {
		clientNS[c.Namespace] = true
	}
	var out []Workload
	for _, w := range s.WorkloadRefs() {
		out = append(out, Workload{Ref: w, RunID: in.RunID, File: "fixtures/workloads/" + w.Workload + ".yaml", CreateNamespace: !clientNS[w.Namespace]})
		clientNS[w.Namespace] = true // two workloads in one namespace: created once
	}
	var vars []string
	for _, v := range s.Variables {
		if v.PodIP == "" {
			vars = append(vars, "$"+v.Name+" = "+strconv.Quote(v.Value))
			continue
		}
		for i := range out {
			if out[i].Ref.Name == v.PodIP {
				out[i].Variables = append(out[i].Variables, v.Name)
				vars = append(vars, "$"+v.Name+" = the pod IP of workload "+v.PodIP+", read once it is Ready (the offline tier stands in "+out[i].Ref.StandinIP+")")
			}
		}
	}
	return out, vars
}

// WorkloadLogWait bounds the run's wait for a workload's log line
// (expect.workloadLog): squid, for one, logs a CONNECT when the tunnel closes.
const WorkloadLogWait = 15 * time.Second

// Adapted is a scenario as the run applies it, and the namespaces that need the
// stand-in's CA for it (external.Standin.AdaptScenario).
type Adapted struct {
	Scenario     *scenario.Scenario
	CANamespaces []string
}

// evidenceLine is how the plan prints a step's evidence.
func (st *StepPlan) evidenceLine() string {
	var gws []string
	for _, g := range st.Gateways {
		gws = append(gws, fmt.Sprintf("%s (pods %s in %s)", g.Host, g.Selector, g.Namespace))
	}
	if st.Client.Ambient() {
		return "evidence: " + ambient.EvidenceNote(st.Waypoints) + "; gateway logs of " + strings.Join(gws, "; ")
	}
	line := "evidence: client sidecar's istio-proxy log; gateway logs of " + strings.Join(gws, "; ")
	if !st.Client.Injected {
		line = "evidence: curl's result (the client has no sidecar); gateway logs of " + strings.Join(gws, "; ")
	}
	if w := st.Step.Expect.WorkloadLog; w != nil {
		line += fmt.Sprintf("; once the probes converge, workload %s's %s (tail, for at most %s): a line with the client's IP and %q", w.Workload, w.File, WorkloadLogWait, w.Contains)
	}
	return line
}

// WaypointLine is how the plan prints the wait for the waypoints of a step's
// bundle, which the run does before it probes from an ambient client (the
// waypoints' logs are that client's evidence); "" for a sidecar client or a
// bundle without waypoints.
func (st *StepPlan) WaypointLine() string {
	if !st.Client.Ambient() {
		return ""
	}
	if w := ambient.WaypointsNote(st.Waypoints); w != "" {
		return "waypoint: " + w
	}
	return ""
}
