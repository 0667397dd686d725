package engine

import (
	"slices"

	"github.com/egress-conformance/egress-conformance/pkg/ambient"
	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/external"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Prepared is a cluster-tier run before it touches anything: the plan it will
// execute (DRY_RUN prints this very value) and the hermetic stand-in the plan's
// scenarios were adapted to, which bring-up installs.
type Prepared struct {
	Plan *plan.Plan
	// ClusterPlan is pkg/cluster's decision the plan was computed from.
	ClusterPlan cluster.Plan
	// Standin is nil unless EXTERNAL=cluster. Its CA is generated here, once:
	// the DestinationRules in the plan trust it, and bring-up installs it.
	Standin *external.Standin
}

// Prepare computes the plan of `make e2e` from the run's settings, touching
// nothing: no Docker, no cluster, no download. It reads the repository's
// fixtures (the kind config, the Istio overlay), which it finds from the working
// directory, as the suite does.
func Prepare(cfg settings.Run, m mesh.Config, scenarios []*scenario.Scenario) (Prepared, error) {
	var out Prepared
	p, err := cluster.Decide(cfg.Cluster)
	if err != nil {
		return out, err
	}
	out.ClusterPlan = p
	in := plan.Inputs{
		RunID:        cfg.RunID,
		IstioVersion: m.Version,
		OfflineIstio: versions.IstioLibraryRelease,
		Istioctl:     istioctlSource(m),
		External:     cfg.External,
		Skip:         map[string]string{},
		CurlTimeout:  cfg.Timeouts.Curl,
		Converge:     cfg.Timeouts.Converge,
		Consecutive:  cfg.Timeouts.Consecutive,
		Scenarios:    scenarios,
	}
	in.Cluster = plan.ClusterInputs{Mode: p.Mode.String(), Name: p.Name, NodeImage: p.NodeImage, Keep: keepWords(p)}
	if p.Mode == cluster.ModeExisting {
		in.Cluster.Name = "context " + p.Context + " of " + settings.FirstOf(p.Kubeconfig, "~/.kube/config")
	} else {
		path, err := cluster.ResolveKindConfig(p.KindConfig)
		if err != nil {
			return out, err
		}
		kc, err := cluster.KindConfig(path, p.Name, p.NodeImage)
		if err != nil {
			return out, err
		}
		raw, err := cluster.RenderKindConfig(kc)
		if err != nil {
			return out, err
		}
		in.Cluster.KindConfig = string(raw)
	}
	overlay, err := mesh.DefaultOverlay()
	if err != nil {
		return out, err
	}
	var run []*scenario.Scenario
	for _, s := range scenarios {
		if why, skip := cfg.SkipReason(s); skip {
			in.Skip[s.Name] = why
		} else {
			run = append(run, s)
		}
	}
	opts := mesh.InstallOptions{Overlay: overlay, Hub: m.Hub, Context: p.Context}
	if ambient.Needed(run) {
		if in.AmbientOverlay, err = ambient.DefaultOverlay(); err != nil {
			return out, err
		}
		opts.ExtraOverlays = []string{in.AmbientOverlay}
	}
	in.InstallArgs = mesh.InstallArgs(opts)
	if cfg.PreloadImages {
		in.Cluster.Preload = RunImages([]mesh.Config{m}, cfg.External == "cluster")
		if in.AmbientOverlay != "" {
			in.Cluster.Preload = append(in.Cluster.Preload, ambient.Images(m)...)
		}
		in.Cluster.Preload = append(in.Cluster.Preload, WorkloadImages(run)...)
	}
	if deploy.NeedsGatewayAPI(run) {
		in.GatewayAPI = string(deploy.ChannelFor(run)) + " channel, pinned"
	}
	if cfg.External == "cluster" {
		if out.Standin, err = NewStandin(cfg.RunID); err != nil {
			return out, err
		}
		if in.Adapt, err = Adapt(out.Standin, scenarios); err != nil {
			return out, err
		}
		in.ExternalNotes = []string{
			"an nginx stand-in outside the mesh (" + versions.Pins["NGINX_IMAGE"] + ") answers /ip like httpbin.org behind its load balancer",
			"CoreDNS rewrites the scenarios' external host names to it; the original Corefile is restored afterwards",
			"TLS: a CA generated for this run signs the stand-in's certificate; DestinationRules that originate TLS trust it",
		}
	} else {
		in.ExternalNotes = []string{"requests go to the real httpbin.org over the internet"}
	}
	out.Plan, err = plan.Build(in)
	return out, err
}

// NewStandin makes the hermetic stand-in of a run, with a CA of its own.
func NewStandin(runID string) (*external.Standin, error) {
	ca, err := external.GenerateCA()
	if err != nil {
		return nil, err
	}
	return external.New(external.Config{RunID: runID}, ca)
}

// Adapt is every scenario as the stand-in serves it: DestinationRules that
// originate TLS trust its CA, given in the namespaces it names.
func Adapt(st *external.Standin, scenarios []*scenario.Scenario) (map[string]plan.Adapted, error) {
	out := map[string]plan.Adapted{}
	for _, s := range scenarios {
		a, ns, err := st.AdaptScenario(s)
		if err != nil {
			return nil, err
		}
		out[s.Name] = plan.Adapted{Scenario: a, CANamespaces: ns}
	}
	return out, nil
}

func istioctlSource(c mesh.Config) string {
	if c.Istioctl != "" {
		return c.Istioctl + " (ISTIOCTL; must report " + c.Version + ")"
	}
	return mesh.IstioctlCachePath(c.CacheRoot, c.Version) + " (downloaded from the Istio release and checked against its sha256 when missing)"
}

func keepWords(p cluster.Plan) string {
	switch {
	case p.Mode == cluster.ModeExisting:
		return "kept: the harness never deletes a cluster it did not create"
	case p.Mode == cluster.ModeReuse || p.Keep:
		return "kept (REUSE_CLUSTER / KEEP_CLUSTER)"
	case p.KeepOnFailure:
		return "deleted, unless a spec failed (KEEP_CLUSTER_ON_FAILURE)"
	default:
		return "deleted"
	}
}

// workloadImages are the pinned images of the workload fixtures a scenario may
// deploy besides its clients (fixtures/workloads; pkg/versions checks each
// fixture against its pin).
var workloadImages = map[string]string{"squid": versions.SquidImage}

// WorkloadImages are the images of the auxiliary workloads (scenario
// workloads:) of the scenarios that run, once each; a workload of the user's
// own, with no pin here, is pulled by the node as usual.
func WorkloadImages(run []*scenario.Scenario) []string {
	var out []string
	for _, s := range run {
		for _, w := range s.Workloads {
			if img, ok := workloadImages[w.Workload]; ok && !slices.Contains(out, img) {
				out = append(out, img)
			}
		}
	}
	return out
}
