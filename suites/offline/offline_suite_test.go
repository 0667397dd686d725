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

	"github.com/egress-conformance/egress-conformance/pkg/offline"
	"github.com/egress-conformance/egress-conformance/pkg/report"
	"github.com/egress-conformance/egress-conformance/pkg/run"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

var (
	scenariosFlag = flag.String("scenarios", "", "directory of scenarios (or one scenario directory) to check; default <repo>/scenarios")
	negativeFlag  = flag.String("negative", "", "directory of broken scenarios that must each fail for the reason in their negative.yaml")
	reportsFlag   = flag.String("reports", "", "directory that receives <run-id>/; default <repo>/reports")
	strictFlag    = flag.Bool("strict-analysis", false, "fail a step on analyzer warnings too, like istioctl analyze --failure-threshold Warning")
)

var recorder *report.Recorder

func TestOffline(t *testing.T) {
	RegisterFailHandler(Fail)

	root, err := run.ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := *scenariosFlag
	if dir == "" {
		dir = filepath.Join(root, "scenarios")
	}
	runID := run.ID("offline", time.Now())
	reportDir := run.ReportDir(root, *reportsFlag, runID)
	recorder = report.NewRecorder(runID, "offline",
		report.Istio{Version: versions.IstioLibraryRelease, Library: "istio.io/istio " + versions.IstioLibrary}, nil)
	opts := offline.Options{StrictAnalysis: *strictFlag}

	describeCatalog(dir, opts)
	if *negativeFlag != "" {
		describeNegative(*negativeFlag, opts)
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

// record adds a judgement to the conformance report.
func record(s *scenario.Scenario, step scenario.Step, j offline.Judgement) {
	reason := ""
	if !j.Passed() {
		reason = j.Message()
	}
	evidence := strings.Split(j.Trace(), "\n")
	for _, f := range append(append([]offline.Finding{}, j.Validation...), j.Analysis...) {
		evidence = append(evidence, "istio: "+f.String())
	}
	recorder.Add(report.Scenario{Name: s.Name, Source: s.Source, Labels: s.Labels},
		run.StepFromVerdict(step.Name, j.Verdict, j.Passed(), reason, evidence))
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(m.Run())
}
