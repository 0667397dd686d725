package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/dryrun"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
)

// modulePath is this repository's module: the cluster tier runs from a checkout of it.
const modulePath = mesh.ModulePath

const clusterNote = `The cluster tier needs a checkout of egress-conformance: its Ginkgo suite
(suites/egress) is the engine and its fixtures (kind config, Istio overlay, client
workloads) are files of the repository. The checkout is --repo, else
$EGRESS_CONFORMANCE_REPO, else the directory holding go.mod of ` + modulePath + `
above the current directory. Your scenarios can live anywhere (DIR).

The variables of make e2e are read from the environment, with the same meaning
(README, "Make variables and suite flags"): ISTIO_VERSION, EXTERNAL, CLUSTER_NAME,
REUSE_CLUSTER, KEEP_CLUSTER, KEEP_CLUSTER_ON_FAILURE, ISTIOCTL, CACHE_DIR,
TIMEOUTS, SKIP_FILE, RUN_ID, KIND_NODE_IMAGE, KIND_CONFIG, KUBECONFIG together
with KUBE_CONTEXT, EXTERNAL_ALLOW_EXISTING_CLUSTER.

Flags:
`

const planUsage = `Usage: egress-conformance plan [flags] [DIR]

Prints the cluster tier's whole plan (what make e2e DRY_RUN=1 prints): the kind
config and node image digest, istioctl and its install arguments, and per scenario
and step every manifest, the exact kubectl exec … curl and the expectations.
Touches nothing: no Docker, no cluster, no download. DIR defaults to the
checkout's scenarios/.

` + clusterNote

const e2eUsage = `Usage: egress-conformance e2e [flags] [DIR]

Runs the cluster tier on DIR (default: the checkout's scenarios/): creates a kind
cluster, installs the pinned Istio with an egress gateway, runs every scenario with
real traffic, writes reports/<run-id>/ (conformance.json, conformance.md,
junit.xml) and deletes the cluster. Needs Docker, and Go to run the suite: it runs
  go test -count=1 -timeout 0 -v ./suites/egress/ -args --ginkgo.v ...
in the checkout, exactly as make e2e does, and exits with its status (1 when a
spec failed).

` + clusterNote

// findRepo returns the checkout of this repository: flag, then environment, then
// the nearest go.mod above the working directory that declares this module.
func findRepo(flagValue string) (string, error) {
	for _, d := range []string{flagValue, settings.Getenv("EGRESS_CONFORMANCE_REPO")} {
		if d == "" {
			continue
		}
		if !mesh.IsRepoRoot(d) {
			return "", usagef("%s is not a checkout of %s (no go.mod declaring it)", d, modulePath)
		}
		return filepath.Abs(d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if mesh.IsRepoRoot(d) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", usagef("no checkout of %s here: run from one, or give --repo DIR (or EGRESS_CONFORMANCE_REPO)", modulePath)
		}
	}
}

// clusterArgs parses the flags plan and e2e share; it returns the checkout and
// the scenario directory made absolute (the run happens in the checkout).
func clusterArgs(fs *flag.FlagSet, args []string, repoFlag *string) (repo, scenarios string, err error) {
	pos, err := parse(fs, args)
	if err != nil {
		return "", "", err
	}
	if len(pos) > 1 {
		return "", "", usagef("one scenario directory, got %d: %s", len(pos), strings.Join(pos, " "))
	}
	if repo, err = findRepo(*repoFlag); err != nil {
		return "", "", err
	}
	if len(pos) == 1 {
		if scenarios, err = filepath.Abs(pos[0]); err != nil {
			return "", "", err
		}
		if st, err := os.Stat(scenarios); err != nil || !st.IsDir() {
			return "", "", usagef("%s: not a directory", pos[0])
		}
	}
	return repo, scenarios, nil
}

func runPlan(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("plan", planUsage, stdout)
	repoFlag := fs.String("repo", "", "the egress-conformance checkout (default: found from the current directory)")
	repo, scenarios, err := clusterArgs(fs, args, repoFlag)
	if err != nil {
		return exitUsage, err
	}
	// The plan reads the checkout's fixtures relative to the working directory, as
	// the suite does when go test runs it there.
	if err := os.Chdir(repo); err != nil {
		return exitInternal, err
	}
	cfg, err := settings.FromEnv(settings.Getenv, "cluster", settings.Flags{Scenarios: scenarios, DryRun: true})
	if err != nil {
		return exitUsage, usageError{err.Error()}
	}
	m, err := mesh.ConfigFromEnv(settings.Getenv)
	if err != nil {
		return exitUsage, usageError{err.Error()}
	}
	ss, err := cfg.LoadScenarios()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail, nil
	}
	if err := dryrun.Print(stdout, cfg, m, ss); err != nil {
		return exitUsage, usageError{err.Error()}
	}
	return exitPass, nil
}

func runE2E(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("e2e", e2eUsage, stdout)
	repoFlag := fs.String("repo", "", "the egress-conformance checkout (default: found from the current directory)")
	labels := fs.String("label-filter", "", "Ginkgo label filter, e.g. 'egress-gateway && !tls-passthrough' (LABEL_FILTER)")
	timeout := fs.String("timeout", "180m", "the suite's timeout (Ginkgo's, so reports are still written and clusters deleted when it runs out)")
	dry := fs.Bool("dry-run", false, "print the plan through the suite and touch nothing (as DRY_RUN=1; see also: plan)")
	goBin := fs.String("go", "go", "the go command that runs the suite")
	repo, scenarios, err := clusterArgs(fs, args, repoFlag)
	if err != nil {
		return exitUsage, err
	}
	if _, err := exec.LookPath(*goBin); err != nil {
		return exitUsage, usagef("e2e runs the cluster suite with %q, which is not installed: %v", *goBin, err)
	}
	goArgs := []string{"test", "-count=1", "-timeout", "0", "-v", "./suites/egress/", "-args", "--ginkgo.v", "--ginkgo.timeout=" + *timeout}
	if *labels != "" {
		goArgs = append(goArgs, "--ginkgo.label-filter="+*labels)
	}
	cmd := exec.Command(*goBin, goArgs...)
	cmd.Dir = repo
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = e2eEnv(os.Environ(), scenarios, *dry)
	fmt.Fprintf(stderr, "egress-conformance e2e: running the cluster suite in %s: %s %s\n", repo, *goBin, strings.Join(goArgs, " "))
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return exitFail, nil
		}
		return exitInternal, fmt.Errorf("the cluster suite: %w", err)
	}
	return exitPass, nil
}

// e2eEnv is the environment of the suite, as the Makefile's e2e_env builds it:
// KUBECONFIG reaches the suite only together with KUBE_CONTEXT, so that an exported
// KUBECONFIG alone neither blocks a kind run nor points the harness at a cluster
// nobody named.
func e2eEnv(env []string, scenarios string, dry bool) []string {
	var out []string
	hasContext := false
	for _, kv := range env {
		if strings.HasPrefix(kv, "KUBE_CONTEXT=") && kv != "KUBE_CONTEXT=" {
			hasContext = true
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "KUBECONFIG=") && !hasContext {
			continue
		}
		if strings.HasPrefix(kv, "SCENARIOS=") && scenarios != "" {
			continue
		}
		out = append(out, kv)
	}
	if scenarios != "" {
		out = append(out, "SCENARIOS="+scenarios)
	}
	if dry {
		out = append(out, "DRY_RUN=1")
	}
	return out
}
