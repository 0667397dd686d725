// Package offline is the harness's only adapter to istio.io/istio. For each scenario
// step it runs, on the step's cumulative bundle and the scenario's mesh settings,
// Istio's own validation (pkg/config/validation, via the schemas' ValidateConfig),
// Istio's analyzers (the `istioctl analyze` engine on a local source that also
// holds the egress gateway and the client), and Istio's xDS generation plus request
// simulation (pilot/test/xds, pilot/pkg/simulation) for the step's request.
//
// istio.io/istio has no stable Go API: it is pinned in go.mod (see pkg/versions)
// and nothing else in the harness imports it, so an Istio bump touches only here.
package offline

import (
	"fmt"
	"slices"
	"strings"

	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/kube/krt"
	istiolog "istio.io/istio/pkg/log"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Options configures the offline tier.
type Options struct {
	// IstioVersion is the version the simulated proxies report; default: the
	// release line of the linked istio.io/istio (versions.IstioLibraryRelease).
	// Proxies claiming a newer Istio than the istiod code generating their config
	// would be a mesh that cannot exist.
	IstioVersion string
	// StrictAnalysis makes analyzer warnings fail a step, as
	// `istioctl analyze --failure-threshold Warning` would.
	StrictAnalysis bool
}

// StepResult is everything Istio's code said about one step.
type StepResult struct {
	Scenario string
	Step     string
	// Validation and Analysis are Istio's validation findings and analyzer messages.
	Validation []Finding
	Analysis   []Finding
	// SkippedAnalyzers lists analyzers Istio skipped for lack of input; it should be
	// empty, since the simulated cluster provides every input they need.
	SkippedAnalyzers []string
	// Path is the simulated request's path; meaningful only when Err is nil.
	Path Path
	// GatewayHosts are the Service hosts of every egress gateway the simulated
	// cluster runs (istioctl's, plus one per Gateway API Gateway of class istio).
	GatewayHosts []string
	// NotObservable says why the offline tier cannot tell the step's route
	// (an uninjected client, a request through an HTTP proxy); empty when it can.
	// Validation and analysis still ran; every check is then not observable.
	NotObservable string
	// Network is the NetworkPolicy verdict on the request's connections: always
	// for a request no sidecar sees, and for one that it does whenever the
	// bundle holds a NetworkPolicy (netpol.go).
	Network *Network
	// NoSidecar: the request leaves the client without passing a sidecar (the
	// client has none, or its annotations exclude the destination from
	// interception); Path then holds the network's verdict alone.
	NoSidecar bool
	// Err is set when the step could not be evaluated at all.
	Err error
}

// Blocking returns the findings that fail the step on their own, whatever it
// expects: validation and analysis errors (and warnings under StrictAnalysis), and
// the configuration problems the simulation found.
func (r StepResult) Blocking(strict bool) []string {
	var out []string
	for _, f := range append(append([]Finding{}, r.Validation...), r.Analysis...) {
		if f.Level == "Error" || (strict && f.Level == "Warning") {
			out = append(out, f.String())
		}
	}
	return append(out, r.Path.Problems...)
}

// Trace is the simulated path, one hop per line, for reports and failure messages.
func (r StepResult) Trace() string {
	if r.NotObservable != "" && r.Path.Sidecar.Proxy == "" {
		return "=> not simulated: " + r.NotObservable
	}
	var lines []string
	if !r.NoSidecar {
		lines = append(lines, r.Path.Sidecar.String())
		if r.Path.Gateway != nil {
			lines = append(lines, r.Path.Gateway.String())
		}
	}
	if r.Network != nil {
		for _, h := range r.Network.Hops {
			lines = append(lines, h.String())
		}
	}
	if r.Path.Waypoint != nil {
		lines = append(lines, r.Path.Waypoint.String())
	}
	lines = append(lines, "=> "+string(r.Path.Route)+": "+r.Path.Why)
	return strings.Join(lines, "\n")
}

func init() {
	Quiet()
	// Every krt collection Istio builds registers itself with the debug handler
	// it is given (maybeRegisterCollectionForDebugging, pkg/kube/krt/debug.go), and
	// Istio's fakes give it krt.GlobalDebugHandler (pilot/test/xds/fake.go,
	// pilot/pkg/networking/core/fake.go, pilot/pkg/config/aggregate/config.go),
	// which only ever appends: the handler then keeps every fake discovery server
	// and analyzer store of the process alive, ~2.6 MB per step. It serves istiod's
	// /debug/krtz, which nothing here serves; nil is "no debugging" to krt, as
	// istiod's own multicluster controller passes it (NewOptionsBuilder(stop, "",
	// nil), pilot/pkg/serviceregistry/kube/controller/multicluster.go).
	krt.GlobalDebugHandler = nil
}

// Quiet silences Istio's log scopes: istiod's generators log at info level on every
// push, which would drown the harness's own output.
func Quiet() {
	for _, s := range istiolog.Scopes() {
		s.SetOutputLevel(istiolog.NoneLevel)
	}
}

// CheckStep evaluates step i of s (0-based) on its cumulative bundle.
func CheckStep(s *scenario.Scenario, i int, opts Options) StepResult {
	step := s.Steps[i]
	r := StepResult{Scenario: s.Name, Step: step.Name}
	if opts.IstioVersion == "" {
		opts.IstioVersion = versions.IstioLibraryRelease
	}
	w := worldFor(s, step.Bundle)
	harness, err := harnessObjects(s, w)
	if err != nil {
		r.Err = err
		return r
	}
	bundle := append(harness, step.Bundle...)
	cfgs, gwAPI, _, findings := convert(bundle, s.Namespace())
	r.Validation = append(append(findings, validate(cfgs)...), validate(gwAPI)...)
	kube, err := kubeObjects(bundle, s.Namespace())
	if err != nil {
		r.Err = fmt.Errorf("scenario %s step %s: %w", s.Name, step.Name, err)
		return r
	}
	have, injected := map[string]bool{}, map[string]bool{}
	for _, ns := range w.Namespaces() {
		have[ns] = true
	}
	for _, ns := range w.InjectedNamespaces() {
		injected[ns] = true
	}
	core, derived, addresses, err := coreObjects(bundle, s.Namespace(), have, injected)
	if err != nil {
		r.Err = fmt.Errorf("scenario %s step %s: %w", s.Name, step.Name, err)
		return r
	}

	gateways := gatewaysFor(w)
	for _, g := range gateways {
		r.GatewayHosts = append(r.GatewayHosts, g.Host())
	}
	// What the simulated cluster runs besides the bundle: the installed mesh,
	// the clients, and the pods of the bundle's Deployments.
	cluster := render(w, gateways) + derived
	analysis, skipped, err := analyze(s, bundle, cluster)
	if err != nil {
		r.Err = fmt.Errorf("scenario %s step %s: %w", s.Name, step.Name, err)
		return r
	}
	r.Analysis, r.SkippedAnalyzers = analysis, skipped

	if why := notObservable(s, step); why != "" {
		r.NotObservable = why
		return r
	}
	nenv, err := newNetEnv(s, w, step.Bundle)
	if err != nil {
		r.Err = fmt.Errorf("scenario %s step %s: %w", s.Name, step.Name, err)
		return r
	}
	call, err := callFor(step.Request)
	if err != nil {
		r.Err = fmt.Errorf("scenario %s step %s: %w", s.Name, step.Name, err)
		return r
	}
	ref := s.ClientFor(step.Request)
	client := clientsFor(w)[slices.Index(s.ClientRefs(), ref)]
	bypass, err := bypassesSidecar(s.AnnotationsOf(ref), call.Address, call.Port)
	if err != nil {
		r.Err = fmt.Errorf("scenario %s step %s: client %s: %w", s.Name, step.Name, ref.Name, err)
		return r
	}
	if (!ref.Injected && !ref.Ambient()) || bypass != "" {
		// No proxy Istio configures sees the request: only the network decides.
		n := networkVerdict(nenv, client, true, step.Request, call.Address, call.Port, Path{}, gateways)
		r.Network, r.NoSidecar = &n, true
		r.Path = noSidecarPath(ref, bypass, step.Request.Proxy, n)
		if step.Request.Proxy != "" {
			r.Path = throughProxy(r.Path, step.Request, call)
		}
		return r
	}
	configs := make([]config.Config, 0, len(cfgs))
	for _, c := range cfgs {
		configs = append(configs, c.cfg)
	}
	var amb *ambientStep
	if s.Ambient() {
		if amb, kube, err = ambientCluster(bundle, s.Namespace()); err != nil {
			r.Err = fmt.Errorf("scenario %s step %s: %w", s.Name, step.Name, err)
			return r
		}
	}
	path, err := simulate(s, w, gateways, configs, cluster+kube+core, addresses, step.Request, ProxyOptions{IstioVersion: opts.IstioVersion}, amb)
	if err != nil {
		r.Err = fmt.Errorf("scenario %s step %s: %w", s.Name, step.Name, err)
		return r
	}
	// A sidecar's connections are judged; ztunnel's (HBONE to a waypoint or
	// out) are not yet: an ambient client's route stays Istio's alone.
	if len(nenv.policies) > 0 && ref.Injected {
		n := networkVerdict(nenv, client, false, step.Request, call.Address, call.Port, path, gateways)
		r.Network = &n
		path = applyNetwork(path, n)
	}
	if step.Request.Proxy != "" {
		path = throughProxy(path, step.Request, call)
	}
	r.Path = path
	r.NotObservable = path.NotObservable
	return r
}

// noSidecarPath is the route of a request no sidecar sees: out on its own (or,
// through proxy, to the proxy) when every connection it needs is allowed,
// blocked by the first one denied.
func noSidecarPath(ref scenario.ClientRef, bypass, proxy string, n Network) Path {
	who := fmt.Sprintf("client %s in %s has no sidecar", ref.Workload, ref.Namespace)
	if bypass != "" {
		who = fmt.Sprintf("client %s in %s: its sidecar does not intercept the request (%s)", ref.Workload, ref.Namespace, bypass)
	}
	if d := n.Denied(); d != nil {
		return Path{Route: scenario.RouteBlocked, Why: who + "; NetworkPolicy denies " + d.What + ": " + d.Why}
	}
	if proxy != "" {
		// The connection goes to the proxy, which may well be in the cluster.
		return Path{Route: scenario.RouteDirect, Why: who + "; no NetworkPolicy stops its connection to the HTTP proxy " + proxy + ", around any egress gateway"}
	}
	return Path{Route: scenario.RouteDirect, Why: who + "; no NetworkPolicy stops it, so it leaves the cluster on its own, around any egress gateway"}
}

// applyNetwork lets the NetworkPolicy verdict overrule the simulated route: a
// denied connection on the path means the request never leaves (the proxy that
// opens it fails to connect: Envoy answers 503 with flag UF). A sidecar cut off
// from istiod never gets its configuration, so its pod is never Ready: a defect
// of the scenario whatever it expects.
func applyNetwork(p Path, n Network) Path {
	d := n.Denied()
	if d == nil {
		return p
	}
	if strings.HasPrefix(d.What, "client sidecar's xDS") {
		p.Problems = append(p.Problems, "NetworkPolicy denies "+d.What+" ("+d.Why+"): the sidecar never gets its configuration and the client pod is never Ready")
		return p
	}
	if p.Route == scenario.RouteBlocked {
		return p
	}
	p.Why = fmt.Sprintf("Istio routes it %s (%s), but NetworkPolicy denies %s: %s", p.Route, p.Why, d.What, d.Why)
	p.Route, p.Status = scenario.RouteBlocked, nil
	return p
}

// notObservable says why the offline tier cannot tell the step's route; it
// can for every request it simulates (a request through an HTTP proxy is the
// client's connection to the proxy, httpproxy.go; an ambient client's,
// walkAmbient), so nothing is refused here today.
func notObservable(s *scenario.Scenario, st scenario.Step) string {
	c := s.ClientFor(st.Request)
	switch {
	case c.Ambient():
		// ztunnel carries the request; istiod's ambient index and the
		// waypoint's configuration decide its route (walkAmbient).
	}
	return ""
}
