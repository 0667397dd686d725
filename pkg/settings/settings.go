// Package settings reads what drives a cluster-tier run (make e2e, make
// e2e-upgrade): the Make variables README documents, which the Makefile passes as
// environment variables, and the suites' own flags. Both cluster suites read them
// through here, so a variable means the same thing in both and every error names
// the variable to fix.
package settings

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/external"
	"github.com/egress-conformance/egress-conformance/pkg/run"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Flags are the suites' command-line flags.
type Flags struct {
	Scenarios string
	Reports   string
	DryRun    bool
}

// Run is the part of a cluster-tier run's settings both suites share.
type Run struct {
	// Root is the module root: scenarios/, fixtures/ and reports/ live there.
	Root string
	// Scenarios is --scenarios, else $SCENARIOS, else <Root>/scenarios.
	Scenarios string
	// Reports is --reports ("" means <Root>/reports).
	Reports string
	RunID   string
	// DryRun is DRY_RUN=1 or --dry-run: print the plan, touch nothing.
	DryRun bool
	// External is EXTERNAL: "internet" (default) or "cluster" (hermetic).
	External string
	// ExternalAllowExistingCluster is EXTERNAL_ALLOW_EXISTING_CLUSTER=1: hermetic
	// mode may edit CoreDNS of a cluster the harness did not create.
	ExternalAllowExistingCluster bool
	// PreloadImages is PRELOAD_IMAGES=1: load the run's images from the host's
	// Docker into kind before anything pulls them (engine.RunImages).
	PreloadImages bool
	Cluster       cluster.Options
	// Timeouts are runner.DefaultTimeouts with TIMEOUTS overrides.
	Timeouts runner.Timeouts
	// Skip maps scenario names to why they are skipped (SKIP_FILE).
	Skip map[string]string
	// Go is GO, the go command (default "go"): it finds the Gateway API's and
	// Istio's modules, whose CRDs the run installs (deploy.Modules).
	Go string
}

// Variables read here besides those of pkg/cluster, pkg/mesh and pkg/external.
const (
	// EnvRunID names the run (CI ties reports to a job with it).
	EnvRunID = "RUN_ID"
	// EnvGo is the go command the Makefile uses.
	EnvGo = "GO"
)

// Getenv reads the process environment. Every variable of the harness is read
// through it, or through a getenv it was handed, so that tests can give any
// environment and `grep os.Getenv` finds this package only.
func Getenv(name string) string { return os.Getenv(name) }

// RunID is the run id: RUN_ID, else the time and the tier (run.ID).
func RunID(getenv func(string) string, tier string, now time.Time) string {
	return run.ID(getenv(EnvRunID), tier, now)
}

// FromEnv reads the shared settings; tier names the run id's suffix.
func FromEnv(getenv func(string) string, tier string, f Flags) (Run, error) {
	var r Run
	var err error
	if r.Root, err = run.ModuleRoot("."); err != nil {
		return r, err
	}
	r.Scenarios = FirstOf(f.Scenarios, getenv("SCENARIOS"), filepath.Join(r.Root, "scenarios"))
	r.Reports = f.Reports
	r.RunID = RunID(getenv, tier, time.Now())
	r.Go = FirstOf(getenv(EnvGo), "go")
	if r.DryRun, err = Bool(getenv, "DRY_RUN"); err != nil {
		return r, err
	}
	r.DryRun = r.DryRun || f.DryRun
	mode, err := external.ParseMode(FirstOf(getenv("EXTERNAL"), string(external.ModeInternet)))
	if err != nil {
		return r, fmt.Errorf("EXTERNAL: %w", err)
	}
	r.External = string(mode)
	if r.ExternalAllowExistingCluster, err = Bool(getenv, "EXTERNAL_ALLOW_EXISTING_CLUSTER"); err != nil {
		return r, err
	}
	if r.PreloadImages, err = Bool(getenv, "PRELOAD_IMAGES"); err != nil {
		return r, err
	}
	if r.PreloadImages && getenv(cluster.EnvKubeContext) != "" {
		return r, fmt.Errorf("PRELOAD_IMAGES=1 loads images into a kind cluster; with KUBE_CONTEXT (an existing cluster) push them to a registry it pulls from and set ISTIO_HUB")
	}
	if r.Cluster, err = cluster.OptionsFromEnv(getenv); err != nil {
		return r, err
	}
	r.Timeouts = runner.DefaultTimeouts()
	if o := getenv("TIMEOUTS"); o != "" {
		if err := r.Timeouts.ParseOverrides(o); err != nil {
			return r, fmt.Errorf("TIMEOUTS=%q: %w", o, err)
		}
	}
	if err := r.Timeouts.Validate(); err != nil {
		return r, fmt.Errorf("TIMEOUTS: %w", err)
	}
	if p := getenv("SKIP_FILE"); p != "" {
		if r.Skip, err = ReadSkipFile(p); err != nil {
			return r, err
		}
	}
	return r, nil
}

// ReadSkipFile reads a skip list: a YAML map from scenario name to the reason it
// is skipped. The reason appears in the conformance report; a skip without one is
// refused.
func ReadSkipFile(path string) (map[string]string, error) {
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

// LoadScenarios loads the scenarios, checking that every client names a workload
// under fixtures/workloads/ and that the skip list names only real scenarios.
func (r Run) LoadScenarios() ([]*scenario.Scenario, error) {
	all, err := scenario.LoadAllWith(r.Scenarios, scenario.Options{WorkloadsDir: filepath.Join(r.Root, "fixtures", "workloads")})
	if err != nil {
		return nil, err
	}
	for name := range r.Skip {
		found := false
		for _, s := range all {
			found = found || s.Name == name
		}
		if !found {
			return nil, fmt.Errorf("SKIP_FILE names scenario %q, which is not in %s", name, r.Scenarios)
		}
	}
	return all, nil
}

// Bool reads a 1/0 variable; anything else is an error naming it.
func Bool(getenv func(string) string, name string) (bool, error) {
	switch v := strings.ToLower(strings.TrimSpace(getenv(name))); v {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	default:
		return false, fmt.Errorf("%s=%q: want 1 or 0", name, v)
	}
}

// FirstOf is the first non-empty value.
func FirstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// SkipReason says whether a scenario is skipped in this run, and why: it is on
// the skip list, or hermetic mode (EXTERNAL=cluster) cannot serve it faithfully.
// The reason goes into the conformance report.
func (r Run) SkipReason(s *scenario.Scenario) (string, bool) {
	if why, ok := r.Skip[s.Name]; ok {
		return "skip list: " + why, true
	}
	if r.External == string(external.ModeCluster) {
		if ok, why := external.Supports(s); !ok {
			return "hermetic mode (EXTERNAL=cluster) cannot serve it: " + why, true
		}
	}
	return "", false
}
