// Package plan is what a cluster-tier run will do, computed without touching
// anything: the cluster, the Istio install command, and per scenario the
// namespaces, clients, bundle objects, probes and expectations. `make e2e
// DRY_RUN=1` prints it; the cluster suite follows it, so the printed plan and the
// run cannot drift apart. Pure: no I/O beyond the writer Render is given.
package plan

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/probe"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/world"
	"go.yaml.in/yaml/v3"
	kubeyaml "sigs.k8s.io/yaml"
)

// Istioctl's egress gateway, as fixtures/istio/egress.yaml installs it: pkg/world's
// description, the one the offline tier simulates.
var (
	EgressGatewayNamespace = world.EgressGateway().Namespace
	EgressGatewaySelector  = "istio=" + world.EgressGateway().Labels["istio"]
	EgressGatewayHost      = world.EgressGateway().Host()
)

// Gateway is an egress gateway whose pods' logs a step reads and whose Service
// host marks a request the client sidecar sent to it.
type Gateway struct {
	Namespace string
	// Selector is a label selector for its pods.
	Selector string
	Host     string
}

// Gateways lists the egress gateways of a step: istioctl's, plus one per Gateway
// API Gateway of class istio in the step's cumulative bundle.
func Gateways(s *scenario.Scenario, step scenario.Step) []Gateway {
	out := []Gateway{{Namespace: EgressGatewayNamespace, Selector: EgressGatewaySelector, Host: EgressGatewayHost}}
	for _, g := range step.Bundle.GatewayAPIGateways(s.Namespace()) {
		d := world.GatewayAPIDeployment(g.Name, g.Namespace, nil)
		out = append(out, Gateway{Namespace: d.Namespace, Selector: world.GatewayNameLabel + "=" + g.Name, Host: d.Host()})
	}
	return out
}

// Hosts are the gateways' Service hosts.
func Hosts(gws []Gateway) []string {
	var h []string
	for _, g := range gws {
		h = append(h, g.Host)
	}
	return h
}

// Inputs is everything a plan is computed from.
type Inputs struct {
	RunID string
	// Cluster describes the cluster: mode, name, node image, kind config (already
	// rendered by the caller from pkg/cluster).
	Cluster ClusterInputs
	// IstioVersion, Istioctl (where the binary comes from) and InstallArgs.
	IstioVersion string
	Istioctl     string
	InstallArgs  []string
	// OfflineIstio is the Istio release the offline tier simulates (its library).
	OfflineIstio string
	// External is "internet" or "cluster"; ExternalNotes say what hermetic mode sets up.
	External      string
	ExternalNotes []string
	// Skip maps a scenario to the reason it will be skipped (hermetic mode cannot
	// serve it, skip list); it still appears in the plan, marked.
	Skip map[string]string
	// CurlTimeout is the probe's --max-time; Converge and Consecutive describe
	// when a step passes.
	CurlTimeout time.Duration
	Converge    time.Duration
	Consecutive int
	Scenarios   []*scenario.Scenario
	// NewRequestID makes the request ids shown; default probe.NewRequestID.
	NewRequestID func() string
}

// ClusterInputs describes the cluster part of a plan.
type ClusterInputs struct {
	Mode       string
	Name       string
	NodeImage  string
	KindConfig string // rendered kind config, YAML
	Keep       string // when the cluster is kept afterwards, in words
	// Preload are the images loaded from the host's Docker (PRELOAD_IMAGES=1).
	Preload []string
}

// Render writes the plan for people: every command and manifest the run uses.
func Render(w io.Writer, in Inputs) error {
	p := &printer{w: w}
	p.h1("egress-conformance cluster-tier plan (DRY_RUN: nothing is created)")
	p.kv("run id", in.RunID)

	p.h2("Cluster")
	p.kv("mode", in.Cluster.Mode)
	p.kv("name", in.Cluster.Name)
	if in.Cluster.NodeImage != "" {
		p.kv("node image", in.Cluster.NodeImage)
	}
	p.kv("afterwards", in.Cluster.Keep)
	if len(in.Cluster.Preload) > 0 {
		p.kv("preload images", strings.Join(in.Cluster.Preload, " "))
	}
	if in.Cluster.KindConfig != "" {
		p.block("kind config", in.Cluster.KindConfig)
	}

	p.h2("Istio")
	p.kv("version", in.IstioVersion)
	p.kv("istioctl", in.Istioctl)
	p.kv("install", mesh.FormatCommand("istioctl", in.InstallArgs))
	p.kv("wait for", "Deployments istiod and istio-egressgateway Available, their pods Ready")
	if in.OfflineIstio != "" {
		p.kv("offline tier simulates", "Istio "+in.OfflineIstio)
		if w := mesh.OfflineDivergence(in.IstioVersion, in.OfflineIstio); w != "" {
			p.kv("warning", w)
		}
	}

	p.h2("External")
	p.kv("mode", in.External)
	for _, n := range in.ExternalNotes {
		p.line("  - " + n)
	}

	if p.err != nil {
		return p.err
	}
	return RenderScenarios(w, in)
}

// RenderScenarios writes the part of the plan that does not depend on how the
// mesh got there: the convergence rule, then per scenario its namespaces, clients,
// and per step the manifests applied, the exact probe and the expectation. Render
// ends with it; the upgrade gate prints it once for every phase it proves.
func RenderScenarios(w io.Writer, in Inputs) error {
	newID := in.NewRequestID
	if newID == nil {
		newID = probe.NewRequestID
	}
	p := &printer{w: w}
	p.h2("Convergence")
	p.line(fmt.Sprintf("A step passes when its expectation holds for %d consecutive probes within %s; curl --max-time %s.",
		in.Consecutive, in.Converge, in.CurlTimeout))

	for _, s := range in.Scenarios {
		p.h2("Scenario " + s.Name)
		if reason, ok := in.Skip[s.Name]; ok {
			p.kv("SKIPPED", reason)
			continue
		}
		p.kv("labels", strings.Join(s.Labels, ", "))
		p.kv("outbound policy", string(s.Mesh.OutboundTrafficPolicy))
		for _, c := range s.ClientRefs() {
			injection := "istio-injection=enabled, "
			if !s.InjectedNamespace(c.Namespace) {
				injection = "no injection label (only clients without a sidecar live here), "
			}
			p.kv("namespace", c.Namespace+"  (labels "+injection+"egress-conformance.io/run="+in.RunID+")")
			sc, err := mesh.Sidecar(c.Namespace, string(s.Mesh.OutboundTrafficPolicy))
			if err != nil {
				return fmt.Errorf("scenario %s: %w", s.Name, err)
			}
			y, err := kubeyaml.Marshal(sc)
			if err != nil {
				return err
			}
			p.block("  harness Sidecar", string(y))
			if a := s.AnnotationsOf(c); len(a) > 0 {
				var kv []string
				for _, k := range slices.Sorted(maps.Keys(a)) {
					kv = append(kv, k+": "+strconv.Quote(a[k]))
				}
				p.kv("  client "+c.Name+" pod annotations", strings.Join(kv, ", "))
			}
			if c.Injected {
				p.kv("  client", "fixtures/workloads/"+c.Workload+".yaml (Ready with container istio-proxy)")
			} else {
				p.kv("  client "+c.Name, "fixtures/workloads/"+c.Workload+".yaml without a sidecar (pod template label and annotation "+
					scenario.InjectAnnotation+`: "false"; Ready without container istio-proxy)`)
			}
		}
		for i, st := range s.Steps {
			p.h3(fmt.Sprintf("step %d: %s", i+1, st.Name))
			added, deleted := s.StepChanges(i)
			for _, o := range deleted {
				ns := o.Namespace
				if ns == "" {
					ns = s.Namespace()
				}
				p.kv("delete", fmt.Sprintf("%s:%d  %s %s/%s (only if labelled egress-conformance.io/run=%s; its UID as a precondition)", o.File, o.Line, o.Kind, ns, o.Name, in.RunID))
			}
			if len(added) == 0 {
				p.line("apply: nothing (the step only probes)")
			}
			for _, o := range added {
				ns := o.Namespace
				if ns == "" {
					ns = s.Namespace()
				}
				p.block(fmt.Sprintf("apply %s:%d  %s %s/%s", o.File, o.Line, o.Kind, ns, o.Name), string(o.YAML))
			}
			c := s.ClientFor(st.Request)
			prober := probe.Prober{Namespace: c.Namespace, Pod: "deploy/" + c.Workload, Container: c.Workload}
			p.kv("probe", prober.Describe(probe.Request{URL: st.Request.URL, RequestID: newID(), Timeout: in.CurlTimeout, Options: st.Request.CurlArgs()}))
			var gws []string
			for _, g := range Gateways(s, st) {
				gws = append(gws, fmt.Sprintf("%s (pods %s in %s)", g.Host, g.Selector, g.Namespace))
			}
			if c.Injected {
				p.kv("evidence", "client sidecar's istio-proxy log; gateway logs of "+strings.Join(gws, "; "))
			} else {
				p.kv("evidence", "curl's result (the client has no sidecar); gateway logs of "+strings.Join(gws, "; "))
			}
			exp, err := yaml.Marshal(st.Expect)
			if err != nil {
				return err
			}
			p.block("expect", string(exp))
		}
	}
	return p.err
}

// sortedSkips lists skip reasons in a stable order, for reports.
func sortedSkips(skip map[string]string) []string {
	var out []string
	for k, v := range skip {
		out = append(out, k+": "+v)
	}
	sort.Strings(out)
	return out
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(s string) {
	if p.err == nil {
		_, p.err = fmt.Fprintln(p.w, s)
	}
}
func (p *printer) h1(s string)    { p.line("# " + s) }
func (p *printer) h2(s string)    { p.line("\n## " + s) }
func (p *printer) h3(s string)    { p.line("\n### " + s) }
func (p *printer) kv(k, v string) { p.line(k + ": " + v) }
func (p *printer) block(title, body string) {
	p.line(title + ":")
	for _, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		p.line("    " + l)
	}
}
