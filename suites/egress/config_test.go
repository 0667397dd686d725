package egress_test

import (
	"flag"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
)

var (
	scenariosFlag = flag.String("scenarios", "", "directory of scenarios (or one scenario directory); default $SCENARIOS, else <repo>/scenarios")
	reportsFlag   = flag.String("reports", "", "directory that receives <run-id>/; default <repo>/reports")
	dryRunFlag    = flag.Bool("dry-run", false, "print the plan and exit without touching Docker or a cluster (also DRY_RUN=1)")
)

// config is everything a cluster-tier run is driven by: the settings both cluster
// suites share (pkg/settings) and the Istio to install.
type config struct {
	settings.Run
	mesh mesh.Config
}

// loadConfig reads the environment and flags; every error names the variable.
func loadConfig(getenv func(string) string) (config, error) {
	var c config
	var err error
	if c.Run, err = settings.FromEnv(getenv, "cluster", settings.Flags{Scenarios: *scenariosFlag, Reports: *reportsFlag, DryRun: *dryRunFlag}); err != nil {
		return c, err
	}
	if c.mesh, err = mesh.ConfigFromEnv(getenv); err != nil {
		return c, err
	}
	return c, nil
}
