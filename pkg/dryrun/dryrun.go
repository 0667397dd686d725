// Package dryrun computes and prints the cluster tier's plan (DRY_RUN=1) from the
// run's settings, without Ginkgo: the cluster suite prints it when DRY_RUN is set
// and the command's `plan` subcommand prints the same text.
package dryrun

import (
	"io"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/engine"
	"github.com/egress-conformance/egress-conformance/pkg/external"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Print renders what the cluster tier (`make e2e`, `egress-conformance e2e`) would
// do with these settings, touching nothing: no Docker, no cluster, no download. It
// reads the repository's fixtures (the kind config, the Istio overlay), which it
// finds from the working directory, as the suite does.
func Print(w io.Writer, cfg settings.Run, m mesh.Config, scenarios []*scenario.Scenario) error {
	p, err := cluster.Decide(cfg.Cluster)
	if err != nil {
		return err
	}
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
			return err
		}
		kc, err := cluster.KindConfig(path, p.Name, p.NodeImage)
		if err != nil {
			return err
		}
		raw, err := cluster.RenderKindConfig(kc)
		if err != nil {
			return err
		}
		in.Cluster.KindConfig = string(raw)
	}
	overlay, err := mesh.DefaultOverlay()
	if err != nil {
		return err
	}
	in.InstallArgs = mesh.InstallArgs(mesh.InstallOptions{Overlay: overlay, Hub: m.Hub, Context: p.Context})
	if cfg.PreloadImages {
		in.Cluster.Preload = engine.RunImages([]mesh.Config{m}, cfg.External == "cluster")
	}
	if cfg.External == "cluster" {
		// Show what will really be applied: a CA is generated per run, so this one
		// is a sample, but the adapted rules have exactly this shape.
		ca, err := external.GenerateCA()
		if err != nil {
			return err
		}
		st, err := external.New(external.Config{RunID: cfg.RunID}, ca)
		if err != nil {
			return err
		}
		for i, s := range scenarios {
			if scenarios[i], _, err = st.AdaptScenario(s); err != nil {
				return err
			}
		}
		in.Scenarios = scenarios
	}
	for _, s := range scenarios {
		if why, skip := cfg.SkipReason(s); skip {
			in.Skip[s.Name] = why
		}
	}
	if cfg.External == "cluster" {
		in.ExternalNotes = []string{
			"an nginx stand-in outside the mesh (" + versions.Pins["NGINX_IMAGE"] + ") answers /ip like httpbin.org behind its load balancer",
			"CoreDNS rewrites the scenarios' external host names to it; the original Corefile is restored afterwards",
			"TLS: a CA generated for this run signs the stand-in's certificate; DestinationRules that originate TLS trust it",
		}
	} else {
		in.ExternalNotes = []string{"requests go to the real httpbin.org over the internet"}
	}
	return plan.Render(w, in)
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
