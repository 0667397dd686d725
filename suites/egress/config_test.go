package egress_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/run"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

var (
	scenariosFlag = flag.String("scenarios", "", "directory of scenarios (or one scenario directory); default $SCENARIOS, else <repo>/scenarios")
	reportsFlag   = flag.String("reports", "", "directory that receives <run-id>/; default <repo>/reports")
	dryRunFlag    = flag.Bool("dry-run", false, "print the plan and exit without touching Docker or a cluster (also DRY_RUN=1)")
)

// config is everything a cluster-tier run is driven by. It comes from the Make
// variables README documents (as environment variables) and the suite's flags;
// nothing else.
type config struct {
	root      string
	scenarios string
	reports   string
	runID     string
	dryRun    bool
	external  string
	cluster   cluster.Options
	mesh      mesh.Config
	timeouts  runner.Timeouts
	// skip maps scenario names to why they are skipped (SKIP_FILE).
	skip map[string]string
}

// loadConfig reads the environment and flags; every error names the variable.
func loadConfig(getenv func(string) string) (config, error) {
	var c config
	var err error
	if c.root, err = run.ModuleRoot("."); err != nil {
		return c, err
	}
	c.scenarios = firstOf(*scenariosFlag, getenv("SCENARIOS"), filepath.Join(c.root, "scenarios"))
	c.reports = *reportsFlag
	c.runID = run.ID("cluster", time.Now())
	if c.dryRun, err = boolVar(getenv, "DRY_RUN"); err != nil {
		return c, err
	}
	c.dryRun = c.dryRun || *dryRunFlag

	switch c.external = firstOf(getenv("EXTERNAL"), "internet"); c.external {
	case "internet", "cluster":
	default:
		return c, fmt.Errorf("EXTERNAL=%q: want internet (the real httpbin.org) or cluster (the in-cluster stand-in)", c.external)
	}
	if c.cluster, err = cluster.OptionsFromEnv(getenv); err != nil {
		return c, err
	}
	if c.mesh, err = mesh.ConfigFromEnv(getenv); err != nil {
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

// readSkipFile reads a skip list: a YAML map from scenario name to the reason it
// is skipped. The reason appears in the conformance report.
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

// loadScenarios loads the scenarios and checks every client names a workload.
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
	return all, nil
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
