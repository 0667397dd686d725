package upgrade_test

import (
	"flag"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
	"github.com/egress-conformance/egress-conformance/pkg/upgrade"
)

var (
	scenariosFlag = flag.String("scenarios", "", "directory of scenarios (or one scenario directory); default $SCENARIOS, else <repo>/scenarios")
	reportsFlag   = flag.String("reports", "", "directory that receives <run-id>/; default <repo>/reports")
	dryRunFlag    = flag.Bool("dry-run", false, "print the plan and exit without touching Docker or a cluster (also DRY_RUN=1)")
)

// config is everything an upgrade run is driven by: the settings both cluster
// suites share (pkg/settings) plus ISTIO_FROM, ISTIO_TO, UPGRADE_STRATEGY,
// UPGRADE_PROBE, ISTIOCTL_FROM/_TO, UPGRADE_TIMEOUTS, and LABEL_FILTER (which
// selects scenarios here, see upgrade.SelectScenarios).
type config struct {
	settings.Run
	labelFilter string
	cacheRoot   string
	// hub is ISTIO_HUB (mesh.EnvHub): where both versions' images come from.
	hub     string
	upgrade upgrade.Config
}

func loadConfig(getenv func(string) string) (config, error) {
	var c config
	var err error
	if c.Run, err = settings.FromEnv(getenv, "upgrade", settings.Flags{Scenarios: *scenariosFlag, Reports: *reportsFlag, DryRun: *dryRunFlag}); err != nil {
		return c, err
	}
	c.labelFilter = getenv("LABEL_FILTER")
	m, err := mesh.ConfigFromEnv(getenv)
	if err != nil {
		return c, err
	}
	c.cacheRoot, c.hub = m.CacheRoot, m.Hub
	if c.upgrade, err = upgrade.ConfigFromEnv(getenv); err != nil {
		return c, err
	}
	return c, nil
}

// loadScenarios loads every scenario (pkg/settings checks workloads and the skip
// list) and keeps those LABEL_FILTER selects.
func loadScenarios(c config) ([]*scenario.Scenario, error) {
	all, err := c.LoadScenarios()
	if err != nil {
		return nil, err
	}
	return upgrade.SelectScenarios(all, c.labelFilter)
}

// skipReasons says which scenarios will be skipped, and why.
func skipReasons(c config, scenarios []*scenario.Scenario) map[string]string {
	out := map[string]string{}
	for _, s := range scenarios {
		if why, skip := c.SkipReason(s); skip {
			out[s.Name] = why
		} else if why, skip := upgrade.SkipAmbient(s); skip {
			out[s.Name] = why
		}
	}
	return out
}
