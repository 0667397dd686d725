package engine

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/diag"
	"github.com/egress-conformance/egress-conformance/pkg/expect"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
)

// recorder is Ops that records, in the plan's own words, what it was asked to do.
type recorder struct {
	did  []string
	fail map[string]bool // step names whose probe fails
	// missing are namespaces that do not exist until a step applies their
	// Namespace object (CAConfigMap answers ErrNoNamespace for them).
	missing map[string]bool
}

func (r *recorder) Namespace(_ context.Context, n plan.Namespace) error {
	r.did = append(r.did, n.Line())
	return nil
}
func (r *recorder) Client(_ context.Context, n plan.Namespace) (deploy.ClientPod, error) {
	r.did = append(r.did, n.ClientLine())
	return deploy.ClientPod{Namespace: n.Client.Namespace, Deployment: n.Client.Workload, IP: "10.244.1.10"}, nil
}
func (r *recorder) Workload(_ context.Context, w plan.Workload) (deploy.ClientPod, error) {
	if w.CreateNamespace {
		r.did = append(r.did, w.NamespaceLine())
	}
	r.did = append(r.did, w.Line())
	return deploy.ClientPod{Namespace: w.Ref.Namespace, Name: w.Ref.Workload + "-1", Deployment: w.Ref.Workload, Container: w.Ref.Workload, IP: "10.244.1.99"}, nil
}
func (r *recorder) WorkloadLog(_ context.Context, pod deploy.ClientPod, exp *scenario.WorkloadLogExpect, clientIP string) expect.Check {
	r.did = append(r.did, "read "+exp.File+" in "+pod.Namespace+"/"+pod.Deployment)
	// The line the http-proxy page shows, for this client.
	line := "1544160065.248    228 " + clientIP + " TCP_TUNNEL/200 87633 CONNECT httpbin.org:443 - HIER_DIRECT/203.0.113.9 -"
	return expect.WorkloadLogCheck(exp, clientIP, line, nil)
}
func (r *recorder) CAConfigMap(_ context.Context, ns string) error {
	if r.missing[ns] {
		return ErrNoNamespace
	}
	r.did = append(r.did, "CA "+ns)
	return nil
}
func (r *recorder) Act(_ context.Context, _ *plan.ScenarioPlan, a plan.Action) error {
	for _, l := range a.Lines() {
		r.did = append(r.did, l+":")
	}
	if a.Kind == plan.ActionApply {
		for _, o := range a.Objects {
			if o.Kind == "Namespace" {
				delete(r.missing, o.Name)
			}
		}
	}
	return nil
}
func (r *recorder) Prove(_ context.Context, _ *plan.ScenarioPlan, st *plan.StepPlan, c deploy.ClientPod) (runner.Outcome, error) {
	if c.Namespace != st.Client.Namespace {
		return runner.Outcome{}, errors.New("probe from the wrong client")
	}
	if w := st.WaypointLine(); w != "" { // the step runner waits for them before it probes
		r.did = append(r.did, w)
	}
	r.did = append(r.did, st.ProbeLine(testID))
	return runner.Outcome{Passed: !r.fail[st.Name()]}, nil
}
func (r *recorder) Diagnose(_ context.Context, _ *plan.ScenarioPlan, st *plan.StepPlan, _ deploy.ClientPod, _ map[string]deploy.ClientPod) {
	r.did = append(r.did, "diagnose "+st.Name())
}

const testID = "00000000-0000-4000-8000-000000000001"

// printed are the lines of the rendered plan that name something the run does.
func printed(out string) []string {
	var got []string
	section, inProbe := "", false
	for _, l := range strings.Split(out, "\n") {
		// A probe spans lines (curl's --write-out holds a newline) up to its evidence.
		if inProbe && !strings.HasPrefix(l, "evidence: ") {
			got[len(got)-1] += "\n" + l
			continue
		}
		inProbe = strings.HasPrefix(l, "probe: ")
		if strings.HasPrefix(l, "## ") {
			section = l
			continue
		}
		switch {
		case strings.HasPrefix(l, "namespace: "), strings.HasPrefix(l, "  client: "), strings.HasPrefix(l, "  workload: "), strings.HasPrefix(l, "probe: "), strings.HasPrefix(l, "waypoint: "),
			(strings.HasPrefix(l, "apply ") || strings.HasPrefix(l, "delete ")) && strings.HasSuffix(l, ":"):
			got = append(got, l)
		case (section == "## Bring-up" || strings.HasPrefix(section, "## Tear-down")) && l != "":
			got = append(got, l)
		}
	}
	return got
}

// The run executes the plan DRY_RUN prints: every stage, namespace, client,
// applied object and probe, in the printed order, and nothing else.
func TestRunExecutesThePrintedPlan(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root) // the fixtures are found from the working directory, as in the suite
	for _, external := range []string{"internet", "cluster"} {
		t.Run(external, func(t *testing.T) {
			prep := prepare(t, root, filepath.Join(root, "scenarios"), external)
			var b strings.Builder
			if err := prep.Plan.Render(&b, func() string { return testID }); err != nil {
				t.Fatal(err)
			}
			want := printed(b.String())

			rec := &recorder{fail: map[string]bool{"after-routing": true}}
			var ran []string
			stages := func(ss []plan.Stage) Stages {
				h := Stages{}
				for _, st := range ss {
					kind := st.Kind
					h[kind] = func(context.Context) error { ran = append(ran, string(kind)); return nil }
				}
				return h
			}
			var got []string
			say := func(l string) { got = append(got, l) }
			ctx := context.Background()
			if err := stages(prep.Plan.BringUp).BringUp(ctx, prep.Plan.BringUp, say); err != nil {
				t.Fatal(err)
			}
			for _, sp := range prep.Plan.Scenarios {
				if sp.Skip != "" {
					continue
				}
				r := NewScenarioRun(sp)
				if err := r.SetUp(ctx, rec); err != nil {
					t.Fatal(err)
				}
				for _, st := range sp.Steps {
					if _, err := r.Step(ctx, rec, st); err != nil {
						t.Fatal(err)
					}
				}
			}
			var diagnosed []string
			for _, l := range rec.did {
				switch {
				case strings.HasPrefix(l, "diagnose "):
					diagnosed = append(diagnosed, l)
				case strings.HasPrefix(l, "CA "), strings.HasPrefix(l, "read "): // evidence, printed in the evidence line
				default:
					got = append(got, l)
				}
			}
			if err := stages(prep.Plan.TearDown).TearDown(ctx, prep.Plan.TearDown, nil); err != nil {
				t.Fatal(err)
			}
			for i, st := range prep.Plan.TearDown {
				got = append(got, plan.StageLine(i, st))
			}
			if len(ran) != len(prep.Plan.BringUp)+len(prep.Plan.TearDown) {
				t.Errorf("ran stages %v", ran)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("executed:\n%s\n\nprinted:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if len(want) < 50 || len(diagnosed) == 0 {
				t.Errorf("%d printed lines, diagnosed %v: the comparison proves little", len(want), diagnosed)
			}
		})
	}
}

// A stage the plan prints but the run has no handler for is refused before
// anything runs; tear-down still runs every other stage.
func TestStagesWithoutHandler(t *testing.T) {
	ran := ""
	h := Stages{plan.StageDocker: func(context.Context) error { ran += "docker "; return nil },
		plan.StageDeleteCluster: func(context.Context) error { ran += "delete "; return nil }}
	up := []plan.Stage{{Kind: plan.StageDocker}, {Kind: plan.StageKind("not-implemented")}}
	if err := h.BringUp(context.Background(), up, nil); err == nil || ran != "" {
		t.Errorf("err %v, ran %q: a stage without a handler must stop bring-up before it starts", err, ran)
	}
	down := []plan.Stage{{Kind: plan.StageCleanup}, {Kind: plan.StageDeleteCluster}}
	if err := h.TearDown(context.Background(), down, nil); err == nil || ran != "delete " {
		t.Errorf("err %v, ran %q: the cluster is deleted even when an earlier stage cannot run", err, ran)
	}
}

// prepare plans the scenarios under dir as a run with EXTERNAL=external would.
func prepare(t *testing.T, root, dir, external string) Prepared {
	t.Helper()
	cfg := settings.Run{Root: root, Scenarios: dir, RunID: "run-1", External: external, Timeouts: runner.DefaultTimeouts()}
	all, err := cfg.LoadScenarios()
	if err != nil {
		t.Fatal(err)
	}
	prep, err := Prepare(cfg, meshConfig(), all)
	if err != nil {
		t.Fatal(err)
	}
	return prep
}

func meshConfig() mesh.Config { return mesh.Config{Version: "1.32.0", CacheRoot: "/cache"} }

// capture is a recorder that keeps what the run applies and the request it probes.
type capture struct {
	recorder
	applied []string
	proxies []string
}

func (c *capture) Act(ctx context.Context, sp *plan.ScenarioPlan, a plan.Action) error {
	for _, o := range a.Objects {
		c.applied = append(c.applied, string(o.YAML))
	}
	return c.recorder.Act(ctx, sp, a)
}

func (c *capture) Prove(ctx context.Context, sp *plan.ScenarioPlan, st *plan.StepPlan, cl deploy.ClientPod) (runner.Outcome, error) {
	c.proxies = append(c.proxies, st.Step.Request.Proxy+" "+sp.Scenario.Steps[st.Index].Request.Proxy)
	return c.recorder.Prove(ctx, sp, st, cl)
}

// otherClient's workload logged another client's request only.
type otherClient struct{ capture }

func (o *otherClient) WorkloadLog(_ context.Context, _ deploy.ClientPod, exp *scenario.WorkloadLogExpect, clientIP string) expect.Check {
	return expect.WorkloadLogCheck(exp, clientIP, "1544160065.248    228 10.244.7.7 TCP_TUNNEL/200 87633 CONNECT httpbin.org:443 - HIER_DIRECT/203.0.113.9 -", nil)
}

// diagnosing records what a failed step's diagnostics would read of the workloads.
type diagnosing struct {
	otherClient
	namespaces []string
	files      []diag.ContainerFile
}

func (d *diagnosing) Diagnose(_ context.Context, sp *plan.ScenarioPlan, _ *plan.StepPlan, client deploy.ClientPod, workloads map[string]deploy.ClientPod) {
	d.namespaces, d.files = workloadEvidence(sp, client.Namespace, workloads)
}

// When an http-proxy step fails, its diagnostics hold what squid saw: the proxy's
// namespace (pods, events, logs) and its access.log, read in squid's container,
// since squid writes the file and not its container log.
func TestDiagnosticsReadTheWorkloads(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	sp := prepare(t, root, filepath.Join(root, "scenarios", "http-proxy"), "internet").Plan.Scenarios[0]
	d := &diagnosing{}
	r := NewScenarioRun(sp)
	ctx := context.Background()
	if err := r.SetUp(ctx, d); err != nil {
		t.Fatal(err)
	}
	last := sp.Steps[len(sp.Steps)-1]
	if last.Client.Namespace == "egress-http-proxy-external" {
		t.Fatalf("the last step's client shares the proxy's namespace; this test needs one that does not")
	}
	if out, err := r.Step(ctx, d, last); err != nil || out.Passed {
		t.Fatalf("step %s: passed %v, err %v; want a failure (squid logged another client)", last.Name(), out.Passed, err)
	}
	if !slices.Equal(d.namespaces, []string{"egress-http-proxy-external"}) {
		t.Errorf("diagnostics namespaces %q, want the proxy's", d.namespaces)
	}
	want := []diag.ContainerFile{{Namespace: "egress-http-proxy-external", Pod: "squid-1", Container: "squid", Path: "/var/log/squid/access.log"}}
	if !slices.Equal(d.files, want) {
		t.Errorf("diagnostics files %+v, want %+v", d.files, want)
	}
	// A client in the proxy's own namespace: that namespace is collected as the client's.
	if ns, _ := workloadEvidence(sp, "egress-http-proxy-external", r.workloads); len(ns) != 0 {
		t.Errorf("namespaces %q collected twice", ns)
	}
}

// The run applies and probes with the workload's real pod IP where the plan
// prints $PROXY_IP, and never with the offline tier's stand-in.
func TestRunSubstitutesRunTimeValues(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	prep := prepare(t, root, filepath.Join(root, "scenarios", "http-proxy"), "internet")
	sp := prep.Plan.Scenarios[0]
	var b strings.Builder
	if err := prep.Plan.RenderScenarios(&b, func() string { return testID }); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  workload: proxy (fixtures/workloads/squid.yaml) in egress-http-proxy-external without a sidecar",
		"its pod IP is $PROXY_IP", "variable: $PROXY_IP = the pod IP of workload proxy", "- $PROXY_IP/32",
		"(variables substituted before apply: $PROXY_IP)", "-x 'http://$PROXY_IP:3128'"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the printed plan lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "10.244.9.10/32") {
		t.Errorf("the printed plan applies the offline stand-in:\n%s", b.String())
	}

	c := &capture{}
	r := NewScenarioRun(sp)
	ctx := context.Background()
	if _, err := r.Step(ctx, c, sp.Steps[0]); err == nil {
		t.Error("a step ran before SetUp gave the variables their values")
	}
	if err := r.SetUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, st := range sp.Steps {
		out, err := r.Step(ctx, c, st)
		if err != nil {
			t.Fatal(err)
		}
		// The recorder's squid line is the client's: the workload log check passes.
		wc, ok := out.Last.Check(expect.WorkloadLogField)
		if st.Step.Expect.WorkloadLog != nil && (!ok || wc.Outcome != expect.Pass || !out.Passed) {
			t.Errorf("step %s: workload log check %+v, passed %v", st.Name(), wc, out.Passed)
		}
	}
	if !slices.Contains(c.did, "read /var/log/squid/access.log in egress-http-proxy-external/squid") {
		t.Errorf("the run never read squid's log: %q", c.did)
	}
	// A squid line from another client fails the step.
	last := sp.Steps[len(sp.Steps)-1]
	bad := &otherClient{capture: capture{}}
	r2 := NewScenarioRun(sp)
	if err := r2.SetUp(ctx, bad); err != nil {
		t.Fatal(err)
	}
	if out, err := r2.Step(ctx, bad, last); err != nil || out.Passed || !strings.Contains(out.Reason, "expect.workloadLog") {
		t.Errorf("a squid line from another client: passed %v, reason %q, err %v", out.Passed, out.Reason, err)
	}
	if len(c.applied) != 1 || !strings.Contains(c.applied[0], "- 10.244.1.99/32") {
		t.Errorf("applied %q, want the ServiceEntry with the pod's IP", c.applied)
	}
	for _, p := range c.proxies {
		if p != "http://10.244.1.99:3128 http://10.244.1.99:3128" {
			t.Errorf("probed through %q, want the pod's IP", p)
		}
	}
	if sp.Scenario.Steps[2].Request.Proxy != "http://10.244.9.10:3128" {
		t.Error("the run changed the plan it was given")
	}
}

// A DestinationRule that originates TLS in a namespace the scenario's own
// bundle creates (istio.io's ambient egress task: istio-egress) gets the
// stand-in's CA once its first step has created the namespace, before the
// probe of the step that applies the rule; SetUp does not fail on it.
func TestCAAfterTheBundleCreatesItsNamespace(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	prep := prepare(t, root, filepath.Join(root, "scenarios", "ambient-egress-waypoint"), "cluster")
	sp := prep.Plan.Scenarios[0]
	if strings.Join(sp.CANamespaces, ",") != "istio-egress" {
		t.Fatalf("CA namespaces %v, want istio-egress (the DestinationRule's)", sp.CANamespaces)
	}
	var b strings.Builder
	if err := prep.Plan.Render(&b, func() string { return testID }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\n"+plan.CALine("istio-egress")+"\n") {
		t.Errorf("the plan does not print %q", plan.CALine("istio-egress"))
	}
	rec := &recorder{missing: map[string]bool{"istio-egress": true}}
	r := NewScenarioRun(sp)
	ctx := context.Background()
	if err := r.SetUp(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for _, st := range sp.Steps {
		if _, err := r.Step(ctx, rec, st); err != nil {
			t.Fatal(err)
		}
	}
	first, tls := -1, -1
	for i, l := range rec.did {
		switch {
		case l == "CA istio-egress" && first < 0:
			first = i
		case strings.HasPrefix(l, "probe: ") && strings.Contains(l, "/get") && tls < 0 && first >= 0:
			tls = i
		}
	}
	if first < 0 || !strings.Contains(strings.Join(rec.did[:first], "\n"), "Namespace egress-ambient-egress-waypoint/istio-egress") {
		t.Errorf("the CA ConfigMap is not created right after the namespace:\n%s", strings.Join(rec.did, "\n"))
	}
	if tls < 0 {
		t.Errorf("no probe after the CA ConfigMap:\n%s", strings.Join(rec.did, "\n"))
	}
}
