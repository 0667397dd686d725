package egress_test

import (
	"context"

	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"sigs.k8s.io/e2e-framework/support"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/diag"
	"github.com/egress-conformance/egress-conformance/pkg/engine"
	"github.com/egress-conformance/egress-conformance/pkg/external"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// standin is the hermetic stand-in for the external hosts (EXTERNAL=cluster).
var standin *external.Standin

// printPlan renders what `make e2e` would do, touching nothing: no Docker, no
// cluster, no download.
func printPlan(cfg config, scenarios []*scenario.Scenario) error {
	p, err := cluster.Decide(cfg.Cluster)
	if err != nil {
		return err
	}
	in := plan.Inputs{
		RunID:        cfg.RunID,
		IstioVersion: cfg.mesh.Version,
		OfflineIstio: versions.IstioLibraryRelease,
		Istioctl:     istioctlSource(cfg.mesh),
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
	in.InstallArgs = mesh.InstallArgs(mesh.InstallOptions{Overlay: overlay, Hub: cfg.mesh.Hub, Context: p.Context})
	if cfg.PreloadImages {
		in.Cluster.Preload = engine.RunImages([]mesh.Config{cfg.mesh}, cfg.External == "cluster")
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
	return plan.Render(os.Stdout, in)
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

// setUpExternal installs the hermetic stand-in when EXTERNAL=cluster.
func setUpExternal(ctx context.Context, scenarios []*scenario.Scenario) error {
	if suite.cfg.External != "cluster" {
		return nil
	}
	By("installing the hermetic stand-in for the external hosts")
	ca, err := external.GenerateCA()
	if err != nil {
		return err
	}
	standin, err = external.New(external.Config{RunID: suite.cfg.RunID}, ca)
	if err != nil {
		return err
	}
	return standin.Install(ctx, suite.kube, externalOptions())
}

func tearDownExternal(ctx context.Context) error {
	if standin == nil || suite.kube == nil {
		return nil
	}
	By("removing the hermetic stand-in and restoring CoreDNS")
	return standin.Uninstall(ctx, suite.kube, externalOptions())
}

func externalOptions() external.InstallOptions {
	o := external.InstallOptions{Out: GinkgoWriter}
	if p, err := suite.provider.Plan(); err == nil && p.Mode != cluster.ModeExisting {
		o.KindCluster = p.Name
	}
	o.AllowExistingCluster = suite.cfg.ExternalAllowExistingCluster
	return o
}

// collectDiagnostics writes everything needed to debug a failed step under
// reports/<run-id>/<scenario>/, without stopping on the first error.
func collectDiagnostics(ctx context.Context, s *scenario.Scenario, step int, client deploy.ClientPod, gateways []plan.Gateway) {
	dir := diag.Dir(suite.reportDir, s.Name)
	By("collecting diagnostics into " + dir)
	extra := map[string]string{}
	for _, g := range gateways[1:] {
		extra[g.Namespace] = g.Selector
	}
	t := diag.Target{
		Namespace:      client.Namespace,
		ClientSelector: "app=" + client.Deployment,
		ExtraGateways:  extra,
		Bundle:         s.Steps[step].Bundle,
		Files: map[string][]byte{
			"failure.txt": []byte(fmt.Sprintf("scenario %s step %s failed at %s; see the conformance report for the checks\n",
				s.Name, s.Steps[step].Name, time.Now().UTC().Format(time.RFC3339))),
		},
	}
	if standin != nil {
		t.ExtraNamespaces = []string{standin.Config.WithDefaults().Namespace}
	}
	// The step's context may be done (it ran out of time): collect with a fresh bound.
	ctx, cancel := engine.DiagnosticsContext(ctx, engine.DiagnosticsTimeout)
	defer cancel()
	c := diag.Collector{Client: suite.kube, Exec: suite.exec}
	if err := c.Collect(ctx, dir, t); err != nil {
		fmt.Fprintf(GinkgoWriter, "diagnostics incomplete (see %s): %v\n", filepath.Join(dir, "errors.txt"), err)
	}
}

// contextWithCluster gives DestroyCluster the provider under the name
// CreateClusterWithConfig stored it, since Ginkgo hands every node its own context.
func contextWithCluster(ctx context.Context) context.Context {
	return context.WithValue(ctx, support.ClusterNameContextKey(suite.provider.Name()), support.E2EClusterProvider(suite.provider))
}

// curlTrustArgs lets probes verify the hermetic stand-in's HTTPS by its public key.
func curlTrustArgs() []string {
	if standin == nil {
		return nil
	}
	return standin.CurlTrustArgs()
}

// applyCAConfigMap gives a namespace the stand-in's CA, labelled with the run.
func applyCAConfigMap(ctx context.Context, namespace string) error {
	return engine.ApplyRunConfigMap(ctx, suite.kube, standin.CAConfigMap(namespace), suite.cfg.RunID)
}
