package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/sarif"
	"github.com/egress-conformance/egress-conformance/pkg/sarif/schematest"
)

// The command is tested as users run it: the built binary, its exit code, its
// standard output and error. Every check runs the real offline tier (Istio's
// validation, analyzers and xDS simulation linked in), on the repository's own
// catalog and negative corpus.

var binary string

// binaryEnv names an already built binary of this package to test instead of
// building one (make unit passes bin/egress-conformance, which make has just
// brought up to date: linking it again took 10 s of every run). go test still
// reruns these tests whenever the package's sources change, since they are the
// test binary's sources too.
const binaryEnv = "EGRESS_CONFORMANCE_TEST_BINARY"

func TestMain(m *testing.M) {
	if b := os.Getenv(binaryEnv); b != "" {
		if !filepath.IsAbs(b) {
			fmt.Fprintf(os.Stderr, "%s=%s: want an absolute path\n", binaryEnv, b)
			os.Exit(3)
		}
		binary, prebuilt = b, true
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "egress-conformance-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	binary = filepath.Join(dir, "egress-conformance")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the command: %v\n%s", err, out)
		os.Exit(3)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// prebuilt: binary came from binaryEnv. Building it in a new temporary
// directory made every run miss go test's cache; a fixed path does not, so
// the inputs must be recorded instead (readInputs).
var (
	prebuilt   bool
	inputsOnce sync.Once
	inputsErr  error
)

// recordInputs runs readInputs once, before the first run of a prebuilt binary.
func recordInputs(t *testing.T) {
	t.Helper()
	if !prebuilt {
		return
	}
	if inputsOnce.Do(func() { inputsErr = readInputs() }); inputsErr != nil {
		t.Fatal(inputsErr)
	}
}

// readInputs reads every file the tested binary reads in these tests, so that
// go test's cache, which sees only what the test process opens (and only once
// m.Run has started its log), reruns the tests when one changes.
func readInputs() error {
	for _, dir := range []string{"scenarios", "suites/offline/testdata/negative", "examples", "fixtures"} {
		err := filepath.WalkDir(filepath.Join(repo, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = os.ReadFile(path)
			return err
		})
		if err != nil {
			return fmt.Errorf("reading the tests' inputs: %w", err)
		}
	}
	return nil
}

const (
	repo     = "../.."
	seed     = repo + "/scenarios/egress-gateway-http"
	negative = repo + "/suites/offline/testdata/negative"
)

type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the binary in dir ("" = this package's directory) with NO_COLOR unset
// and no terminal: colour and progress must stay off.
func runCmd(t *testing.T, dir string, args ...string) result {
	t.Helper()
	recordInputs(t)
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r result) want(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

func TestCheckPassingScenario(t *testing.T) {
	r := runCmd(t, "", "check", seed)
	r.want(t, exitPass)
	if r.stdout != "" {
		t.Errorf("a passing scenario with no findings prints no problems, got:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "PASS 1 scenarios, 2 steps: 2 passed, 0 failed") || strings.Contains(r.stderr, "\033[") {
		t.Errorf("summary (no colour off a terminal) = %q", r.stderr)
	}
}

// copyCase copies a negative case into a temporary repository root, so that paths
// in the outputs are relative to it, as in a team's repository.
func copyCase(t *testing.T, name string) string {
	t.Helper()
	root := t.TempDir()
	dst := filepath.Join(root, "egress", name)
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(negative, name))); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dst, "negative.yaml")); err != nil {
		t.Fatal(err)
	}
	return root
}

// A failing scenario yields SARIF 2.1.0 results at the bundle file's line Istio's
// analyzer names, and at the scenario.yaml lines of the failed expectations.
func TestCheckSARIFAtFileAndLine(t *testing.T) {
	root := copyCase(t, "allow-any-passthrough-virtualservice-without-serviceentry")
	r := runCmd(t, root, "check", "--format", "sarif", "--junit", "out/junit.xml", "--report", "out/report", "egress")
	r.want(t, exitFail)
	if err := schematest.Validate([]byte(r.stdout)); err != nil {
		t.Fatalf("not SARIF 2.1.0: %v\n%s", err, r.stdout)
	}
	var l sarif.Log
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, res := range l.Runs[0].Results {
		if res.Level != "error" {
			t.Errorf("result %s at %v: level %s", res.RuleID, res.Locations, res.Level)
		}
		got[res.Locations[0].String()] = res.RuleID
	}
	dir := "egress/allow-any-passthrough-virtualservice-without-serviceentry/"
	for loc, rule := range map[string]string{
		// virtualservice.yaml line 16: `host: httpbin.org` of the route's
		// destination, which IST0101 (ReferencedResourceNotFound) is about.
		dir + "virtualservice.yaml:16": "IST0101",
		dir + "scenario.yaml:17":       "expectation", // expect.route
		dir + "scenario.yaml:18":       "expectation", // expect.status
		dir + "scenario.yaml:21":       "expectation", // expect.sidecarLog.upstreamCluster
		dir + "scenario.yaml:15":       "simulation",  // the step's request: cluster not in CDS
	} {
		if got[loc] != rule {
			t.Errorf("no %s result at %s; results: %v", rule, loc, got)
		}
	}
	// The other outputs were written too.
	var junit struct {
		Suite struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	b, err := os.ReadFile(filepath.Join(root, "out/junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, &junit); err != nil {
		t.Fatal(err)
	}
	suite := junit.Suite
	if suite.Tests != 1 || suite.Failures != 1 {
		t.Errorf("junit: %d tests, %d failures; want 1, 1\n%s", suite.Tests, suite.Failures, b)
	}
	js, err := os.ReadFile(filepath.Join(root, "out/report/conformance.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js, []byte(`"failed": 1`)) || !bytes.Contains(js, []byte(`"tier": "offline"`)) {
		t.Errorf("conformance.json:\n%s", js)
	}
}

// Text and GitHub forms: one line per problem, at the same places; a scenario that
// does not load is a failure (exit 1) at the bundle file's line.
func TestCheckTextAndGitHub(t *testing.T) {
	r := runCmd(t, "", "check", negative+"/unknown-field", negative+"/wrong-expectation")
	r.want(t, exitFail)
	for _, want := range []string{
		negative + "/unknown-field/serviceentry.yaml:12: error: spec.resolutoin: unknown field",
		negative + "/wrong-expectation/scenario.yaml:28: error: scenario neg-wrong-expectation step after-routing: expect.route: want direct, got egress-gateway",
	} {
		if !strings.Contains(r.stdout, want+"") {
			t.Errorf("missing %q in:\n%s", want, r.stdout)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.HasPrefix(l, negative) {
			t.Errorf("not a file:line line: %q", l)
		}
	}
	g := runCmd(t, "", "check", "--format", "github", "--quiet", negative+"/wrong-expectation")
	g.want(t, exitFail)
	if !strings.Contains(g.stdout, "::error file="+negative+"/wrong-expectation/scenario.yaml,line=28,title=egress-conformance expectation::scenario neg-wrong-expectation") || g.stderr != "" {
		t.Errorf("github form:\n%s\nstderr (--quiet): %q", g.stdout, g.stderr)
	}
}

func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"check", "does-not-exist"}, exitUsage, "does-not-exist"},
		{[]string{"check", t.TempDir()}, exitUsage, "no scenario here"},
		{[]string{"check", "--format", "yaml", seed}, exitUsage, "--format"},
		{[]string{"check", "--no-such-flag"}, exitUsage, "no-such-flag"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"check", "--label-filter", "tls-passthrough && offline", repo + "/scenarios"}, exitPass, "PASS 2 scenarios, 5 steps"},
		{[]string{"check", "--label-filter", "((", seed}, exitUsage, "--label-filter"},
		{[]string{}, exitUsage, "Exit codes:"},
		{[]string{"help"}, exitPass, "Exit codes:"},
		{[]string{"check", "-h"}, exitPass, "-strict-analysis"},
		{[]string{"version"}, exitPass, "istio.io/istio v0.0.0-"},
	} {
		r := runCmd(t, "", c.args...)
		if r.code != c.code || !strings.Contains(r.stdout+r.stderr, c.out) {
			t.Errorf("%v: exit %d, want %d, and output containing %q:\n%s%s", c.args, r.code, c.code, c.out, r.stdout, r.stderr)
		}
	}
}

// Parallel and serial checks agree, result for result (outputs keep scenario and
// step order, not completion order).
func TestCheckParallelIsDeterministic(t *testing.T) {
	a := runCmd(t, "", "check", "--jobs", "1", "--format", "github", "--quiet", repo+"/scenarios", negative)
	b := runCmd(t, "", "check", "--jobs", "4", "--format", "github", "--quiet", repo+"/scenarios", negative)
	a.want(t, exitFail)
	b.want(t, exitFail)
	if a.stdout != b.stdout {
		t.Errorf("--jobs 1 and --jobs 4 disagree:\n%s\n----\n%s", a.stdout, b.stdout)
	}
}

func TestPlan(t *testing.T) {
	r := runCmd(t, repo, "plan", "scenarios/egress-gateway-http")
	r.want(t, exitPass)
	for _, want := range []string{"## Scenario egress-gateway-http", "egress-conformance-probe=", "node image: kindest/node:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	outside := runCmd(t, t.TempDir(), "plan")
	if outside.code != exitUsage || !strings.Contains(outside.stderr, "--repo") {
		t.Errorf("outside a checkout: exit %d, %s", outside.code, outside.stderr)
	}
}

// e2e starts the cluster suite with go test in the checkout, passing the scenario
// directory and KUBECONFIG only with KUBE_CONTEXT (as make e2e does). The cluster
// run itself needs Docker and is not run here: a stand-in for go records what the
// command starts.
func TestE2EStartsTheSuite(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in is a shell script")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "go")
	rec := filepath.Join(dir, "rec")
	script := "#!/bin/sh\n{ pwd; echo \"$@\"; echo \"SCENARIOS=$SCENARIOS KUBECONFIG=$KUBECONFIG DRY_RUN=$DRY_RUN\"; } > " + rec + "\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	recordInputs(t)
	cmd := exec.Command(binary, "e2e", "--go", fake, "--label-filter", "http", "--dry-run", "scenarios/egress-gateway-http")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "KUBECONFIG=/nowhere", "KUBE_CONTEXT=")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFail {
		t.Fatalf("a failing suite must exit 1: %v\n%s", err, out)
	}
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(repo)
	lines := strings.Split(string(b), "\n")
	if lines[0] != abs || !strings.HasPrefix(lines[1], "test -count=1 -timeout 0 -v ./suites/egress/ -args --ginkgo.v --ginkgo.timeout=180m --ginkgo.label-filter=http") ||
		lines[2] != "SCENARIOS="+filepath.Join(abs, "scenarios/egress-gateway-http")+" KUBECONFIG= DRY_RUN=1" {
		t.Errorf("started:\n%s", b)
	}
}

// init writes a skeleton from a team's YAML that loads and passes the offline tier.
func TestInitFromBundleFiles(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, f := range []string{"serviceentry.yaml", "gateway.yaml", "destinationrule.yaml", "virtualservice.yaml"} {
		files = append(files, filepath.Join(seed, f))
	}
	out := filepath.Join(dir, "mine")
	r := runCmd(t, "", append([]string{"init", "--out", out}, files...)...)
	r.want(t, exitPass)
	b, err := os.ReadFile(filepath.Join(out, "scenario.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: httpbin-org-via-egress-gateway", "- name: before-routing\n  apply: [serviceentry.yaml]",
		"- name: after-routing\n  apply: [destinationrule.yaml, gateway.yaml, virtualservice.yaml]", "request: {url: http://httpbin.org/}",
		"route: direct", "route: egress-gateway"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("skeleton lacks %q:\n%s", want, b)
		}
	}
	c := runCmd(t, "", "check", out)
	c.want(t, exitPass)
	again := runCmd(t, "", append([]string{"init", "--out", out}, files...)...)
	again.want(t, exitUsage)
}

// The example team repository's scenarios pass, checked from its own root as its
// workflow and pre-commit hook check them.
func TestExampleTeamRepo(t *testing.T) {
	r := runCmd(t, repo+"/examples/team-repo", "check", "--format", "github", "egress-scenarios")
	r.want(t, exitPass)
	if r.stdout != "" {
		t.Errorf("problems in the example:\n%s", r.stdout)
	}
}
