// Package makefile_test checks what the Makefile and the CI workflows promise about
// variables: facts no Go package can check from inside a suite.
package makefile_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

const root = "../.."

// makeHelp runs `make help` with env added to the environment and returns what it prints.
func makeHelp(t *testing.T, env ...string) string {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "-s", "help")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	return string(out)
}

// An exported ISTIO_VERSION or KIND_NODE_IMAGE (a CI job's env:, a shell export) must
// reach the suites; versions.env only gives the defaults.
func TestExportedPinsAreHonoured(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	const image = "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d"
	out := makeHelp(t, "ISTIO_VERSION=1.31.4", "KIND_NODE_IMAGE="+image)
	if !strings.Contains(out, "ISTIO_VERSION=1.31.4 ") || !strings.Contains(out, "KIND_NODE_IMAGE="+image) {
		t.Errorf("exported ISTIO_VERSION/KIND_NODE_IMAGE ignored; make help says:\n%s", out)
	}
	// Unset, the pins apply.
	out = makeHelp(t, "ISTIO_VERSION=", "KIND_NODE_IMAGE=")
	if !strings.Contains(out, "ISTIO_VERSION="+versions.Istio+" ") || !strings.Contains(out, "KIND_NODE_IMAGE="+versions.KindNodeImage) {
		t.Errorf("empty variables must fall back to versions.env; make help says:\n%s", out)
	}
}

// workflowJob is the part of a GitHub Actions job these checks read.
type workflowJob struct {
	TimeoutMinutes int               `yaml:"timeout-minutes"`
	Env            map[string]string `yaml:"env"`
}

func readJob(t *testing.T, file, job string) workflowJob {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ".github", "workflows", file))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]workflowJob `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	j, ok := wf.Jobs[job]
	if !ok {
		t.Fatalf("%s has no job %q", file, job)
	}
	return j
}

// makeDefault is the Makefile's `NAME ?= value` default.
func makeDefault(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + ` \?= (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("Makefile sets no default for %s", name)
	}
	return string(m[1])
}

// A CI job killed by its own timeout-minutes writes no report and deletes no cluster:
// the suite's own bound (Ginkgo's --ginkgo.timeout, from E2E_TIMEOUT or
// E2E_UPGRADE_TIMEOUT) must run out first, with room for the steps before it and the
// clean-up after it.
func TestWorkflowTimeoutsLeaveRoomForReports(t *testing.T) {
	const margin = 5 * time.Minute
	for _, c := range []struct{ file, job, variable string }{
		{"e2e.yml", "e2e", "E2E_TIMEOUT"},
		{"upgrade.yml", "upgrade", "E2E_UPGRADE_TIMEOUT"},
	} {
		j := readJob(t, c.file, c.job)
		v := j.Env[c.variable]
		if v == "" {
			v = makeDefault(t, c.variable)
		}
		suite, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s %s=%q: %v", c.file, c.variable, v, err)
		}
		job := time.Duration(j.TimeoutMinutes) * time.Minute
		if job == 0 || suite+margin > job {
			t.Errorf("%s job %s: timeout-minutes %s, but the suite may run %s (%s): the job would be killed before the reports are written",
				c.file, c.job, job, suite, c.variable)
		}
	}
}
