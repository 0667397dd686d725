package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/egress-conformance/egress-conformance/pkg/ambient"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/diag"
	"github.com/egress-conformance/egress-conformance/pkg/evidence"
	"github.com/egress-conformance/egress-conformance/pkg/expect"
	"github.com/egress-conformance/egress-conformance/pkg/external"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Ops is the cluster side of executing a plan's scenarios: Kube is the one a run
// uses, unit tests give a recorder. Each method does exactly one element of the
// plan value it is handed; the order is the engine's (ScenarioRun).
type Ops interface {
	// Namespace creates the client's namespace, labelled, with its Sidecar.
	Namespace(ctx context.Context, n plan.Namespace) error
	// Client deploys the namespace's client and waits until it is Ready.
	Client(ctx context.Context, n plan.Namespace) (deploy.ClientPod, error)
	// Workload deploys an auxiliary workload without a sidecar (creating its
	// namespace when no client lives there) and waits until it is Ready.
	Workload(ctx context.Context, w plan.Workload) (deploy.ClientPod, error)
	// WorkloadLog reads a workload's own log file until it holds the
	// client's line (expect.WorkloadLogCheck) or a bound passes, and judges it.
	WorkloadLog(ctx context.Context, pod deploy.ClientPod, exp *scenario.WorkloadLogExpect, clientIP string) expect.Check
	// CAConfigMap gives a namespace the hermetic stand-in's CA, or returns
	// ErrNoNamespace while the namespace does not exist.
	CAConfigMap(ctx context.Context, namespace string) error
	// Act does one action of a step.
	Act(ctx context.Context, sp *plan.ScenarioPlan, a plan.Action) error
	// Prove probes the step from client until it converges or runs out of time.
	Prove(ctx context.Context, sp *plan.ScenarioPlan, st *plan.StepPlan, client deploy.ClientPod) (runner.Outcome, error)
	// Diagnose collects what is needed to debug a failed step.
	// workloads are the scenario's auxiliary workloads by name (their logs and
	// the files their expectations read are evidence too).
	Diagnose(ctx context.Context, sp *plan.ScenarioPlan, st *plan.StepPlan, client deploy.ClientPod, workloads map[string]deploy.ClientPod)
}

// ScenarioRun executes one scenario of a plan: SetUp before its first step, then
// Step for each of its steps, in the plan's order.
type ScenarioRun struct {
	Plan *plan.ScenarioPlan
	// Clients are the deployed clients, by reference.
	Clients map[scenario.ClientRef]deploy.ClientPod
	// Ledger puts the steps that never ran into the report.
	Ledger *Ledger
	// run is Plan with its variables' run-time values substituted (SetUp,
	// once the workloads are Ready): what Step applies and probes. Plan
	// itself stays as printed.
	run    *plan.ScenarioPlan
	values map[string]string
	// workloads are the deployed workloads' pods, by workloads[].name.
	workloads map[string]deploy.ClientPod
	// Progress, when set, sees every element of the plan as it starts.
	Progress func(line string)
}

// NewScenarioRun starts executing sp.
func NewScenarioRun(sp *plan.ScenarioPlan) *ScenarioRun {
	return &ScenarioRun{Plan: sp, Clients: map[scenario.ClientRef]deploy.ClientPod{}, Ledger: newLedger(sp.Scenario)}
}

func (r *ScenarioRun) say(line string) {
	if r.Progress != nil {
		r.Progress(line)
	}
}

// ErrNoNamespace: the namespace a CA ConfigMap is for does not exist (yet).
var ErrNoNamespace = errors.New("namespace does not exist yet")

// SetUp creates every client namespace with its Sidecar and client, then the
// stand-in's CA ConfigMaps, as the plan lists them. A CA namespace the
// scenario's own bundle creates (istio.io's ambient egress task puts its
// DestinationRule in istio-egress, which its first step creates) gets its
// ConfigMap after the step that creates it (ensureCA).
func (r *ScenarioRun) SetUp(ctx context.Context, ops Ops) error {
	for _, n := range r.Plan.Namespaces {
		r.say(n.Line())
		if err := ops.Namespace(ctx, n); err != nil {
			return fmt.Errorf("%s: %w", n.Client.Namespace, err)
		}
		r.say(n.ClientLine())
		pod, err := ops.Client(ctx, n)
		if err != nil {
			return fmt.Errorf("client %s in %s: %w", n.Client.Workload, n.Client.Namespace, err)
		}
		r.Clients[n.Client] = pod
	}
	ips := map[string]string{}
	for _, w := range r.Plan.Workloads {
		if w.CreateNamespace {
			r.say(w.NamespaceLine())
		}
		r.say(w.Line())
		pod, err := ops.Workload(ctx, w)
		if err != nil {
			return fmt.Errorf("workload %s in %s: %w", w.Ref.Name, w.Ref.Namespace, err)
		}
		ips[w.Ref.Name] = pod.IP
		if r.workloads == nil {
			r.workloads = map[string]deploy.ClientPod{}
		}
		r.workloads[w.Ref.Name] = pod
	}
	if err := r.substitute(ips); err != nil {
		return err
	}
	for _, ns := range r.Plan.CANamespaces {
		r.say(plan.CALine(ns))
	}
	return r.ensureCA(ctx, ops)
}

// ensureCA gives every CA namespace that exists the stand-in's CA ConfigMap:
// before the first step, and again after each step's changes, since a step
// may create the namespace (or delete and create it again).
func (r *ScenarioRun) ensureCA(ctx context.Context, ops Ops) error {
	for _, ns := range r.Plan.CANamespaces {
		if err := ops.CAConfigMap(ctx, ns); err != nil && !errors.Is(err, ErrNoNamespace) {
			return fmt.Errorf("the stand-in's CA in %s: %w", ns, err)
		}
	}
	return nil
}

// Step does st's actions, proves it, and collects diagnostics when it fails. An
// error is a failure before a verdict (an apply refused, no gateway pod).
func (r *ScenarioRun) Step(ctx context.Context, ops Ops, st *plan.StepPlan) (runner.Outcome, error) {
	sp, st, err := r.resolved(st)
	if err != nil {
		return runner.Outcome{}, err
	}
	for _, a := range st.Actions {
		for _, l := range a.Lines() {
			r.say(l)
		}
		if a, err = r.withValues(a); err != nil {
			return runner.Outcome{}, err
		}
		if err := ops.Act(ctx, sp, a); err != nil {
			return runner.Outcome{}, err
		}
	}
	if len(st.Actions) > 0 {
		if err := r.ensureCA(ctx, ops); err != nil {
			return runner.Outcome{}, err
		}
	}
	client, ok := r.Clients[st.Client]
	if !ok {
		return runner.Outcome{}, fmt.Errorf("client %s in %s was not set up", st.Client.Workload, st.Client.Namespace)
	}
	r.say(st.ProbeLine(""))
	out, err := ops.Prove(ctx, sp, st, client)
	if err != nil {
		return out, err
	}
	if w := st.Step.Expect.WorkloadLog; w != nil && out.Passed {
		// Once the probes have converged: the workload's log is the last
		// witness, read as istio.io's page reads squid's access.log.
		pod, ok := r.workloads[w.Workload]
		c := expect.Check{Field: expect.WorkloadLogField, Want: expect.WorkloadLogWant(w), Got: "not read", Outcome: expect.Fail,
			Why: "workload " + w.Workload + " was not deployed"}
		if ok {
			c = ops.WorkloadLog(ctx, pod, w, client.IP)
		}
		out = withCheck(out, c)
	}
	if !out.Passed {
		ops.Diagnose(ctx, sp, st, client, r.workloads)
	}
	return out, nil
}

// withCheck puts c in place of the verdict's check of the same field; a failed
// check fails the step.
func withCheck(out runner.Outcome, c expect.Check) runner.Outcome {
	checks := slices.Clone(out.Last.Checks)
	if i := slices.IndexFunc(checks, func(x expect.Check) bool { return x.Field == c.Field }); i >= 0 {
		checks[i] = c
	} else {
		checks = append(checks, c)
	}
	out.Last.Checks = checks
	if c.Outcome == expect.Fail {
		out.Passed = false
		out.Reason = strings.TrimSpace(out.Reason + " " + c.Field + ": want " + c.Want + ", got " + c.Got + " (" + c.Why + ").")
	}
	return out
}

// substitute makes the run's copy of the plan once the workloads' pod IPs are
// known: the scenario with every variable's run-time value
// (scenario.Scenario.WithPodIPs). A scenario without variables runs as printed.
func (r *ScenarioRun) substitute(ips map[string]string) error {
	s := r.Plan.Scenario
	if len(s.Variables) == 0 {
		return nil
	}
	values, err := s.Values(ips)
	if err != nil {
		return err
	}
	run, err := s.WithPodIPs(ips)
	if err != nil {
		return err
	}
	sp := *r.Plan
	sp.Scenario = run
	sp.Steps = make([]*plan.StepPlan, len(r.Plan.Steps))
	for i, st := range r.Plan.Steps {
		c := *st
		c.Step = run.Steps[st.Index]
		sp.Steps[i] = &c
	}
	r.run, r.values = &sp, values
	return nil
}

// resolved is st as the run does it: with its variables' values (its step, and
// so the request the runner sends). Its Request, the probe as printed, stays
// as written.
func (r *ScenarioRun) resolved(st *plan.StepPlan) (*plan.ScenarioPlan, *plan.StepPlan, error) {
	if r.run == nil {
		if len(r.Plan.Scenario.Variables) > 0 {
			return nil, nil, fmt.Errorf("scenario %s: its variables have no values: SetUp has not deployed its workloads", r.Plan.Name())
		}
		return r.Plan, st, nil
	}
	for _, s := range r.run.Steps {
		if s.Index == st.Index {
			return r.run, s, nil
		}
	}
	return nil, nil, fmt.Errorf("scenario %s: step %d is not in its plan", r.Plan.Name(), st.Index+1)
}

// withValues is a with its objects' variables substituted (scenario.Object.WithValues).
func (r *ScenarioRun) withValues(a plan.Action) (plan.Action, error) {
	if r.values == nil {
		return a, nil
	}
	objs := make(scenario.Bundle, len(a.Objects))
	for i, o := range a.Objects {
		n, err := o.WithValues(r.values)
		if err != nil {
			return a, fmt.Errorf("scenario %s: %w", r.Plan.Name(), err)
		}
		objs[i] = n
	}
	a.Objects = objs
	return a, nil
}

// Kube executes plans on a cluster: both cluster suites prove their steps
// through it, so a step means the same in `make e2e` and in every phase of the
// upgrade gate.
type Kube struct {
	Cluster *deploy.Cluster
	Kube    kubernetes.Interface
	Exec    probe.Executor
	Logs    evidence.LogSource
	RunID   string
	// Root is the repository root (fixtures/workloads).
	Root     string
	Timeouts runner.Timeouts
	// Standin is the hermetic stand-in, nil unless EXTERNAL=cluster.
	Standin *external.Standin
	// OnAttempt sees every attempt (progress lines).
	OnAttempt func(runner.Attempt)
	// ResolveClient, when set, looks the client's pod up again before a probe
	// (the upgrade gate restarts clients between phases).
	ResolveClient func(ctx context.Context, namespace, deployment string) (deploy.ClientPod, error)
	// DiagDir is where a failed step's diagnostics go (diag.Dir under it), and
	// DiagNote starts its failure.txt.
	DiagDir  string
	DiagNote string
	Logf     func(format string, args ...any)
	// GatewayPoll is the interval of the wait for gateway pods; zero: 2 s.
	GatewayPoll time.Duration
}

var _ Ops = Kube{}

func (k Kube) Namespace(ctx context.Context, n plan.Namespace) error {
	// An ambient client's namespace is enrolled instead of labelled for
	// injection: a pod created with a sidecar is not redirected to ztunnel. A
	// namespace of clients without a sidecar alone is not labelled either.
	if err := deploy.EnsureNamespace(ctx, k.Cluster, n.Client.Namespace, k.RunID, n.Injection && !n.Client.Ambient()); err != nil {
		return err
	}
	if n.Client.Ambient() {
		if err := ambient.Enrol(ctx, k.Cluster, n.Client.Namespace, k.RunID); err != nil {
			return err
		}
	}
	return deploy.ApplySidecar(ctx, k.Cluster, n.Client.Namespace, n.Policy, k.RunID)
}

func (k Kube) Client(ctx context.Context, n plan.Namespace) (deploy.ClientPod, error) {
	file := filepath.Join(k.Root, filepath.FromSlash(n.Workload))
	if !n.Client.Ambient() {
		var opts []deploy.ClientOption
		if !n.Client.Injected {
			opts = append(opts, deploy.Uninjected())
		}
		if len(n.Annotations) > 0 {
			opts = append(opts, deploy.WithPodAnnotations(n.Annotations))
		}
		return deploy.DeployClient(ctx, k.Cluster, file, n.Client.Namespace, k.RunID, opts...)
	}
	pod, err := deploy.DeployClient(ctx, k.Cluster, file, n.Client.Namespace, k.RunID,
		deploy.WithoutSidecar("ambient client: ztunnel carries its traffic, istio-cni redirects it"))
	if err != nil {
		return pod, err
	}
	t := k.Cluster.Timeouts
	if t.ClientReady <= 0 || t.Poll <= 0 {
		d := deploy.DefaultTimeouts()
		t.ClientReady, t.Poll = d.ClientReady, d.Poll
	}
	return pod, ambient.WaitRedirected(ctx, k.Kube, pod.Namespace, pod.Name, t.ClientReady, t.Poll)
}

// Workload deploys w without a sidecar, into its namespace (created here when
// no client lives in it, never labelled for injection), and waits until Ready.
func (k Kube) Workload(ctx context.Context, w plan.Workload) (deploy.ClientPod, error) {
	if w.CreateNamespace {
		if err := deploy.EnsureNamespace(ctx, k.Cluster, w.Ref.Namespace, k.RunID, false); err != nil {
			return deploy.ClientPod{}, err
		}
	}
	file := filepath.Join(k.Root, filepath.FromSlash(w.File))
	return deploy.DeployClient(ctx, k.Cluster, file, w.Ref.Namespace, k.RunID, deploy.Uninjected())
}

// WorkloadLog reads exp.File in the workload's container (tail, as istio.io's
// http-proxy page reads squid's access.log) every second until a line is the
// client's, for at most plan.WorkloadLogWait: squid logs a CONNECT when the
// tunnel closes, which is after curl has its answer.
func (k Kube) WorkloadLog(ctx context.Context, pod deploy.ClientPod, exp *scenario.WorkloadLogExpect, clientIP string) expect.Check {
	deadline := time.Now().Add(plan.WorkloadLogWait)
	for {
		var stdout, stderr strings.Builder
		code, err := k.Exec.Exec(ctx, pod.Namespace, pod.Name, pod.Container, []string{"tail", "-n", "2000", exp.File}, &stdout, &stderr)
		if err == nil && code != 0 {
			err = fmt.Errorf("tail %s in %s/%s exited %d: %s", exp.File, pod.Namespace, pod.Name, code, strings.TrimSpace(stderr.String()))
		}
		c := expect.WorkloadLogCheck(exp, clientIP, stdout.String(), err)
		if c.Outcome == expect.Pass || time.Now().After(deadline) || ctx.Err() != nil {
			return c
		}
		select {
		case <-ctx.Done():
			return c
		case <-time.After(time.Second):
		}
	}
}

func (k Kube) CAConfigMap(ctx context.Context, namespace string) error {
	if k.Standin == nil {
		return errors.New("no hermetic stand-in in this run")
	}
	err := ApplyRunConfigMap(ctx, k.Kube, k.Standin.CAConfigMap(namespace), k.RunID)
	if apierrors.IsNotFound(err) {
		// Creating an object in a namespace that does not exist is NotFound
		// (the API server's NamespaceLifecycle admission).
		return fmt.Errorf("%w: %v", ErrNoNamespace, err)
	}
	return err
}

func (k Kube) Act(ctx context.Context, sp *plan.ScenarioPlan, a plan.Action) error {
	switch a.Kind {
	case plan.ActionApply:
		return deploy.ApplyObjects(ctx, k.Cluster, a.Objects, a.DefaultNamespace, k.RunID)
	case plan.ActionDelete:
		return deploy.DeleteObjects(ctx, k.Cluster, sp.Scenario, a.Objects, k.RunID)
	case plan.ActionRemoveBundle:
		return deploy.DeleteBundle(ctx, k.Cluster, sp.Scenario, k.RunID, k.Timeouts.WithDefaults().Converge)
	default:
		return fmt.Errorf("scenario %s: action %q has no implementation", sp.Name(), a.Kind)
	}
}

func (k Kube) Prove(ctx context.Context, sp *plan.ScenarioPlan, st *plan.StepPlan, client deploy.ClientPod) (runner.Outcome, error) {
	if k.ResolveClient != nil {
		var err error
		if client, err = k.ResolveClient(ctx, client.Namespace, client.Deployment); err != nil {
			return runner.Outcome{}, err
		}
	}
	r, _, err := k.runnerEnv().stepRunner(ctx, sp.Scenario, st.Index, client)
	if err != nil {
		return runner.Outcome{}, err
	}
	return r.Converge(ctx, st.Step), nil
}

func (k Kube) runnerEnv() stepEnv {
	return stepEnv{Kube: k.Kube, Exec: k.Exec, Logs: k.Logs, Timeouts: k.Timeouts, CurlTrustArgs: k.CurlTrustArgs(),
		OnAttempt: k.OnAttempt, GatewayPoll: k.GatewayPoll}
}

// CurlTrustArgs let curl verify the hermetic stand-in's certificate.
func (k Kube) CurlTrustArgs() []string {
	if k.Standin == nil {
		return nil
	}
	return k.Standin.CurlTrustArgs()
}

// Diagnose writes everything needed to debug a failed step under
// DiagDir/<scenario>/, without stopping on the first error, with a context of
// its own (the step's is typically done: it ran out of time).
func (k Kube) Diagnose(ctx context.Context, sp *plan.ScenarioPlan, st *plan.StepPlan, client deploy.ClientPod, workloads map[string]deploy.ClientPod) {
	dir := diag.Dir(k.DiagDir, sp.Name())
	extra := map[string]string{}
	for _, g := range st.Gateways[1:] {
		extra[g.Namespace] = g.Selector
	}
	note := strings.TrimSpace(k.DiagNote + " scenario " + sp.Name() + " step " + st.Name())
	t := diag.Target{
		Namespace:      client.Namespace,
		ClientSelector: "app=" + client.Deployment,
		ExtraGateways:  extra,
		Bundle:         st.Step.Bundle,
		Files: map[string][]byte{"failure.txt": []byte(fmt.Sprintf("%s failed at %s; see the conformance report for the checks\n",
			note, time.Now().UTC().Format(time.RFC3339)))},
	}
	t.ExtraNamespaces, t.ContainerFiles = workloadEvidence(sp, client.Namespace, workloads)
	k.Collect(ctx, dir, t)
}

// workloadEvidence is what diagnostics read of the auxiliary workloads: every
// container's log in their namespaces (other than the client's, collected anyway),
// and each file a step of the scenario expects a workload to have written
// (expect.workloadLog), whichever step failed: squid's access.log says what the
// proxy saw before the failing step too.
func workloadEvidence(sp *plan.ScenarioPlan, clientNamespace string, workloads map[string]deploy.ClientPod) ([]string, []diag.ContainerFile) {
	var namespaces []string
	seen := map[string]bool{clientNamespace: true}
	for _, w := range sp.Workloads {
		pod, ok := workloads[w.Ref.Name]
		if ok && !seen[pod.Namespace] {
			seen[pod.Namespace] = true
			namespaces = append(namespaces, pod.Namespace)
		}
	}
	var files []diag.ContainerFile
	for _, st := range sp.Steps {
		w := st.Step.Expect.WorkloadLog
		if w == nil {
			continue
		}
		pod, ok := workloads[w.Workload]
		if !ok {
			continue
		}
		f := diag.ContainerFile{Namespace: pod.Namespace, Pod: pod.Name, Container: pod.Container, Path: w.File}
		if !slices.Contains(files, f) {
			files = append(files, f)
		}
	}
	return namespaces, files
}

// Collect writes t's diagnostics into dir with a fresh, bounded context, the
// stand-in's namespace included.
func (k Kube) Collect(ctx context.Context, dir string, t diag.Target) {
	if k.Standin != nil {
		t.ExtraNamespaces = append(t.ExtraNamespaces, k.Standin.Config.WithDefaults().Namespace)
	}
	ctx, cancel := diagnosticsContext(ctx, diagnosticsTimeout)
	defer cancel()
	c := diag.Collector{Client: k.Kube, Exec: k.Exec}
	if err := c.Collect(ctx, dir, t); err != nil && k.Logf != nil {
		k.Logf("diagnostics incomplete (see %s): %v", filepath.Join(dir, "errors.txt"), err)
	}
}

// Stages are the handlers of a plan's bring-up or tear-down stages, by kind.
type Stages map[plan.StageKind]func(ctx context.Context) error

// Check refuses stages a handler is missing for, before anything runs: a stage
// the plan prints is a stage the run runs.
func (h Stages) Check(stages []plan.Stage) error {
	var missing []string
	for _, st := range stages {
		if h[st.Kind] == nil {
			missing = append(missing, string(st.Kind))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the plan has stages this run cannot execute: %s", strings.Join(missing, ", "))
	}
	return nil
}

// BringUp runs the stages in the plan's order, each announced by say with the
// line the plan prints for it, and stops at the first failure.
func (h Stages) BringUp(ctx context.Context, stages []plan.Stage, say func(string)) error {
	if err := h.Check(stages); err != nil {
		return err
	}
	for i, st := range stages {
		if say != nil {
			say(plan.StageLine(i, st))
		}
		if err := h[st.Kind](ctx); err != nil {
			return fmt.Errorf("%s: %w", st.Says, err)
		}
	}
	return nil
}

// TearDown runs every stage whatever the others did (engine.TearDown); one
// without a handler is a failure that does not stop the others (the cluster's
// deletion must never be skipped).
func (h Stages) TearDown(ctx context.Context, stages []plan.Stage, logf func(format string, args ...any)) error {
	var actions []Action
	for i, st := range stages {
		run := h[st.Kind]
		if run == nil {
			kind := st.Kind
			run = func(context.Context) error { return fmt.Errorf("no handler for stage %s", kind) }
		}
		actions = append(actions, Action{Name: plan.StageLine(i, st), Run: run})
	}
	return TearDown(ctx, logf, actions...)
}
