// Package plan is what a cluster-tier run will do, computed without touching
// anything: the cluster, the Istio install command, and per scenario the
// namespaces, clients, bundle objects, probes and expectations. `make e2e
// DRY_RUN=1` prints it; the cluster suite follows it, so the printed plan and the
// run cannot drift apart. Pure: no I/O beyond the writer Render is given.
package plan

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/ambient"
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
	egressGatewayNamespace = world.EgressGateway().Namespace
	egressGatewaySelector  = "istio=" + world.EgressGateway().Labels["istio"]
	egressGatewayHost      = world.EgressGateway().Host()
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
	out := []Gateway{{Namespace: egressGatewayNamespace, Selector: egressGatewaySelector, Host: egressGatewayHost}}
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
	// GatewayAPI is the channel of the Gateway API CRDs a scenario needs; empty:
	// none needs them.
	GatewayAPI string
	// AmbientOverlay is the ambient install overlay (pkg/ambient.OverlayFile) when
	// a scenario that runs has an ambient client; InstallArgs then pass it, and
	// bring-up waits for the node agents. Empty: no ambient.
	AmbientOverlay string
	// Skip maps a scenario to the reason it will be skipped (hermetic mode cannot
	// serve it, skip list); it still appears in the plan, marked.
	Skip map[string]string
	// Adapt maps a scenario to the copy the run applies (hermetic mode).
	Adapt map[string]Adapted
	// CurlTimeout is the probe's --max-time; Converge and Consecutive describe
	// when a step passes.
	CurlTimeout time.Duration
	Converge    time.Duration
	Consecutive int
	Scenarios   []*scenario.Scenario
	// Cumulative: every step applies the scenario's whole bundle as of that step,
	// and the first removes what an earlier phase left. The upgrade gate proves
	// each scenario once per phase on one cluster, and a step after a failed one
	// must still find the bundle it builds on.
	Cumulative bool
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

// Render writes the plan for people: every command and manifest the run uses,
// each request shown with an id from newID (nil: probe.NewRequestID).
func (pl *Plan) Render(w io.Writer, newID func() string) error {
	p := &printer{w: w}
	p.h1("egress-conformance cluster-tier plan (DRY_RUN: nothing is created)")
	p.kv("run id", pl.RunID)

	p.h2("Cluster")
	p.kv("mode", pl.Cluster.Mode)
	p.kv("name", pl.Cluster.Name)
	if pl.Cluster.NodeImage != "" {
		p.kv("node image", pl.Cluster.NodeImage)
	}
	p.kv("afterwards", pl.Cluster.Keep)
	if len(pl.Cluster.Preload) > 0 {
		p.kv("preload images", strings.Join(pl.Cluster.Preload, " "))
	}
	if pl.Cluster.KindConfig != "" {
		p.block("kind config", pl.Cluster.KindConfig)
	}

	p.h2("Istio")
	p.kv("version", pl.Istio.Version)
	p.kv("istioctl", pl.Istio.Istioctl)
	p.kv("install", mesh.FormatCommand("istioctl", pl.Istio.InstallArgs))
	p.kv("wait for", "Deployments istiod and istio-egressgateway Available, their pods Ready")
	if pl.Istio.AmbientOverlay != "" {
		p.kv("ambient", ambient.InstallNote())
	}
	if pl.Istio.Offline != "" {
		p.kv("offline tier simulates", "Istio "+pl.Istio.Offline)
		if w := mesh.OfflineDivergence(pl.Istio.Version, pl.Istio.Offline); w != "" {
			p.kv("warning", w)
		}
	}

	p.h2("External")
	p.kv("mode", pl.External)
	for _, n := range pl.ExternalNotes {
		p.line("  - " + n)
	}

	p.h2("Bring-up")
	p.stages(pl.BringUp)

	if p.err != nil {
		return p.err
	}
	if err := pl.RenderScenarios(w, newID); err != nil {
		return err
	}
	p.h2("Tear-down (every stage runs whatever the others did)")
	p.stages(pl.TearDown)
	return p.err
}

// StageLine is how the plan prints bring-up or tear-down stage i (0-based), and
// how a run records running it.
func StageLine(i int, st Stage) string { return fmt.Sprintf("%d. %s", i+1, st.Says) }

func (p *printer) stages(ss []Stage) {
	for i, st := range ss {
		p.line(StageLine(i, st))
	}
}

// RenderScenarios writes the part of the plan that does not depend on how the
// mesh got there: the convergence rule, then per scenario its namespaces, clients,
// and per step the manifests applied, the exact probe and the expectation. Render
// includes it; the upgrade gate prints it once for every phase it proves.
func (pl *Plan) RenderScenarios(w io.Writer, newID func() string) error {
	if newID == nil {
		newID = probe.NewRequestID
	}
	p := &printer{w: w}
	c := pl.Convergence
	p.h2("Convergence")
	p.line(fmt.Sprintf("A step passes when its expectation holds for %d consecutive probes within %s; curl --max-time %s.",
		c.Consecutive, c.Within, c.Curl))

	for _, sp := range pl.Scenarios {
		s := sp.Scenario
		p.h2("Scenario " + s.Name)
		if sp.Skip != "" {
			p.kv("SKIPPED", sp.Skip)
			continue
		}
		p.kv("labels", strings.Join(s.Labels, ", "))
		p.kv("outbound policy", string(s.Mesh.OutboundTrafficPolicy))
		for _, n := range sp.Namespaces {
			p.line(n.Line())
			y, err := kubeyaml.Marshal(n.Sidecar)
			if err != nil {
				return err
			}
			p.block("  harness Sidecar", string(y))
			p.line(n.ClientLine())
		}
		for _, w := range sp.Workloads {
			if w.CreateNamespace {
				p.line(w.NamespaceLine())
			}
			p.line(w.Line())
		}
		for _, v := range sp.Variables {
			p.line("variable: " + v)
		}
		for _, ns := range sp.CANamespaces {
			p.line(CALine(ns))
		}
		for _, st := range sp.Steps {
			p.h3(fmt.Sprintf("step %d: %s", st.Index+1, st.Name()))
			if len(st.Actions) == 0 {
				p.line("apply: nothing (the step only probes)")
			}
			for _, a := range st.Actions {
				for i, l := range a.Lines() {
					switch {
					case i < len(a.Objects) && a.Objects[i].Template != nil:
						// As written: the run substitutes its variables
						// once their values are known, before it applies.
						p.block(l, string(a.Objects[i].Template))
						p.line("    (variables substituted before apply: " + "$" + strings.Join(a.Objects[i].Variables, ", $") + ")")
					case i < len(a.Objects):
						p.block(l, string(a.Objects[i].YAML))
					default:
						p.line(l)
					}
				}
			}
			if w := st.WaypointLine(); w != "" {
				p.line(w)
			}
			p.line(st.ProbeLine(newID()))
			p.line(st.evidenceLine())
			exp, err := yaml.Marshal(st.Step.Expect)
			if err != nil {
				return err
			}
			p.block("expect", string(exp))
		}
	}
	return p.err
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
