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
	"github.com/egress-conformance/egress-conformance/pkg/dryrun"
	"github.com/egress-conformance/egress-conformance/pkg/engine"
	"github.com/egress-conformance/egress-conformance/pkg/external"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// standin is the hermetic stand-in for the external hosts (EXTERNAL=cluster).
var standin *external.Standin

// printPlan renders what `make e2e` would do, touching nothing: no Docker, no
// cluster, no download.
func printPlan(cfg config, scenarios []*scenario.Scenario) error {
	return dryrun.Print(os.Stdout, cfg.Run, cfg.mesh, scenarios)
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
