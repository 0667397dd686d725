package upgrade_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/external"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/run"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/upgrade"
)

var (
	scenariosFlag = flag.String("scenarios", "", "directory of scenarios (or one scenario directory); default $SCENARIOS, else <repo>/scenarios")
	reportsFlag   = flag.String("reports", "", "directory that receives <run-id>/; default <repo>/reports")
	dryRunFlag    = flag.Bool("dry-run", false, "print the plan and exit without touching Docker or a cluster (also DRY_RUN=1)")
)

// config is everything an upgrade run is driven by: the cluster tier's variables
// (README) plus ISTIO_FROM, ISTIO_TO, UPGRADE_STRATEGY, UPGRADE_PROBE,
// ISTIOCTL_FROM/_TO, UPGRADE_TIMEOUTS, and LABEL_FILTER (which selects scenarios
// here, see upgrade.SelectScenarios).
type config struct {
	root        string
	scenarios   string
	reports     string
	runID       string
	dryRun      bool
	external    string
	labelFilter string
	cluster     cluster.Options
	cacheRoot   string
	upgrade     upgrade.Config
	timeouts    runner.Timeouts
	skip        map[string]string
}

func loadConfig(getenv func(string) string) (config, error) {
	var c config
	var err error
	if c.root, err = run.ModuleRoot("."); err != nil {
		return c, err
	}
	c.scenarios = firstOf(*scenariosFlag, getenv("SCENARIOS"), filepath.Join(c.root, "scenarios"))
	c.reports = *reportsFlag
	c.runID = run.ID("upgrade", time.Now())
	if c.dryRun, err = boolVar(getenv, "DRY_RUN"); err != nil {
		return c, err
	}
	c.dryRun = c.dryRun || *dryRunFlag
	c.labelFilter = getenv("LABEL_FILTER")
	mode, err := external.ParseMode(firstOf(getenv("EXTERNAL"), "internet"))
	if err != nil {
		return c, fmt.Errorf("EXTERNAL: %w", err)
	}
	c.external = string(mode)
	if c.cluster, err = cluster.OptionsFromEnv(getenv); err != nil {
		return c, err
	}
	if c.cacheRoot = getenv(mesh.EnvCacheDir); c.cacheRoot == "" {
		if c.cacheRoot, err = mesh.DefaultCacheRoot(); err != nil {
			return c, err
		}
	}
	if c.upgrade, err = upgrade.ConfigFromEnv(getenv); err != nil {
		return c, err
	}
	c.timeouts = runner.DefaultTimeouts()
	if o := getenv("TIMEOUTS"); o != "" {
		if err := c.timeouts.ParseOverrides(o); err != nil {
			return c, fmt.Errorf("TIMEOUTS=%q: %w", o, err)
		}
	}
	if err := c.timeouts.Validate(); err != nil {
		return c, fmt.Errorf("TIMEOUTS: %w", err)
	}
	if f := getenv("SKIP_FILE"); f != "" {
		if c.skip, err = readSkipFile(f); err != nil {
			return c, err
		}
	}
	return c, nil
}

// readSkipFile reads a YAML map of scenario name → reason, as `make e2e` does.
func readSkipFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("SKIP_FILE: %w", err)
	}
	m := map[string]string{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("SKIP_FILE %s: want a map of scenario name to reason: %w", path, err)
	}
	for k, v := range m {
		if strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("SKIP_FILE %s: scenario %s has no reason; a skip must say why", path, k)
		}
	}
	return m, nil
}

// loadScenarios loads every scenario, checks the skip list names real ones, and
// keeps those LABEL_FILTER selects.
func loadScenarios(c config) ([]*scenario.Scenario, error) {
	all, err := scenario.LoadAllWith(c.scenarios, scenario.Options{WorkloadsDir: filepath.Join(c.root, "fixtures", "workloads")})
	if err != nil {
		return nil, err
	}
	for name := range c.skip {
		found := false
		for _, s := range all {
			found = found || s.Name == name
		}
		if !found {
			return nil, fmt.Errorf("SKIP_FILE names scenario %q, which is not in %s", name, c.scenarios)
		}
	}
	return upgrade.SelectScenarios(all, c.labelFilter)
}

// skipReasons says which scenarios will be skipped, and why: the skip list, and
// in hermetic mode the scenarios the stand-in cannot serve.
func skipReasons(c config, scenarios []*scenario.Scenario) map[string]string {
	out := map[string]string{}
	for _, s := range scenarios {
		if r, ok := c.skip[s.Name]; ok {
			out[s.Name] = "skip list: " + r
		} else if c.external == string(external.ModeCluster) {
			if ok, why := external.Supports(s); !ok {
				out[s.Name] = "hermetic mode (EXTERNAL=cluster) cannot serve it: " + why
			}
		}
	}
	return out
}

func boolVar(getenv func(string) string, name string) (bool, error) {
	switch v := strings.ToLower(strings.TrimSpace(getenv(name))); v {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	default:
		return false, fmt.Errorf("%s=%q: want 1 or 0", name, v)
	}
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
