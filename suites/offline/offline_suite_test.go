// The offline tier: every scenario step checked with Istio's own validation,
// analyzers and xDS simulation, no cluster. `make offline SCENARIOS=DIR` runs it on
// any directory of scenarios; `make test` also runs it on the negative corpus, whose
// every scenario must fail for the reason it states.
package offline_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/egress-conformance/egress-conformance/pkg/check"
	"github.com/egress-conformance/egress-conformance/pkg/offline"
	"github.com/egress-conformance/egress-conformance/pkg/report"
	"github.com/egress-conformance/egress-conformance/pkg/run"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
)

// dirs is a flag that may be given several times: `make test` checks the catalog and
// the istio.io corpus in one run, so the Istio-sized test binary is linked once.
type dirs []string

func (d *dirs) String() string     { return strings.Join(*d, ",") }
func (d *dirs) Set(v string) error { *d = append(*d, v); return nil }

var scenariosFlag, negativeFlag dirs

func init() {
	flag.Var(&scenariosFlag, "scenarios", "directory of scenarios (or one scenario directory) to check; repeatable; default <repo>/scenarios")
	flag.Var(&negativeFlag, "negative", "directory of broken scenarios that must each fail for the reason in their negative.yaml; repeatable")
}

var (
	reportsFlag = flag.String("reports", "", "directory that receives <run-id>/; default <repo>/reports")
	strictFlag  = flag.Bool("strict-analysis", false, "fail a step on analyzer warnings too, like istioctl analyze --failure-threshold Warning")
)

var recorder *report.Recorder

func TestOffline(t *testing.T) {
	RegisterFailHandler(Fail)

	root, err := run.ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(scenariosFlag) == 0 {
		scenariosFlag = dirs{filepath.Join(root, "scenarios")}
	}
	runID := settings.RunID(settings.Getenv, "offline", time.Now())
	reportDir := run.ReportDir(root, *reportsFlag, runID)
	recorder = report.NewRecorder(runID, "offline", check.Istio(), nil)
	opts := offline.Options{StrictAnalysis: *strictFlag}

	for _, dir := range scenariosFlag {
		describeCatalog(dir, opts)
	}
	for _, dir := range negativeFlag {
		describeNegative(dir, opts)
	}

	ReportAfterSuite("reports", func(r Report) {
		Expect(run.WriteGinkgoReports(reportDir, r)).To(Succeed())
		Expect(report.Write(reportDir, recorder.Finish())).To(Succeed())
		GinkgoWriter.Printf("reports written to %s\n", reportDir)
	})
	RunSpecs(t, "offline tier")
}

// describeCatalog builds one container per scenario and one spec per step. A
// directory that does not load is itself a failing spec, so `make offline` exits
// non-zero with the loader's file:line:field messages.
func describeCatalog(dir string, opts offline.Options) {
	scenarios, err := scenario.LoadAll(dir)
	if err != nil {
		It("loads the scenarios in "+dir, Label("offline"), func() {
			Fail(err.Error())
		})
		if len(scenarios) == 0 {
			return
		}
	}
	for _, s := range scenarios {
		Describe(s.Name, Ordered, ContinueOnFailure, Label(append([]string{"offline"}, s.Labels...)...), func() {
			for i, step := range s.Steps {
				It(step.Name, func() {
					By("simulating " + step.Request.URL + " with Istio's own code")
					j := offline.Judge(s, i, opts)
					record(s, step, j)
					Expect(j.Passed()).To(BeTrue(), j.Message())
				})
			}
		})
	}
}

// record adds a judgement to the conformance report, as the command does.
func record(s *scenario.Scenario, step scenario.Step, j offline.Judgement) {
	recorder.Add(check.ReportStep(s, step, j))
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(m.Run())
}
