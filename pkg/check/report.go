package check

import (
	"strings"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/egress-conformance/egress-conformance/pkg/offline"
	"github.com/egress-conformance/egress-conformance/pkg/report"
	"github.com/egress-conformance/egress-conformance/pkg/run"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// ReportStep is a judged step as the conformance report records it: the verdict's
// checks, the simulated path and Istio's findings as evidence. The offline suite
// and the command record steps through it, so their reports agree.
func ReportStep(s *scenario.Scenario, step scenario.Step, j offline.Judgement) (report.Scenario, report.Step) {
	reason := ""
	if !j.Passed() {
		reason = j.Message()
	}
	evidence := strings.Split(j.Trace(), "\n")
	for _, f := range append(append([]offline.Finding{}, j.Validation...), j.Analysis...) {
		evidence = append(evidence, "istio: "+f.String())
	}
	return report.Scenario{Name: s.Name, Source: s.Source, Labels: s.Labels},
		run.StepFromVerdict(step.Name, j.Verdict, j.Passed(), reason, evidence)
}

// Istio is the Istio the offline tier's verdicts are about: the linked library.
func Istio() report.Istio {
	return report.Istio{Version: versions.IstioLibraryRelease, Library: "istio.io/istio " + versions.IstioLibrary}
}

// Report is the conformance report of the check (tier "offline"). Scenarios that
// did not load have no steps to report; their problems are in Problems.
func (r Result) Report(runID string) report.Report {
	rec := report.NewRecorder(runID, "offline", Istio(), nil)
	for _, sr := range r.Steps {
		sc, st := ReportStep(sr.Scenario, sr.Step(), sr.Judgement)
		rec.Add(sc, st)
	}
	rep := rec.Finish()
	rep.StartedAt = r.Started.UTC()
	rep.FinishedAt = r.Started.Add(r.Duration).UTC()
	return rep
}

// GinkgoReport is the check in the shape of a Ginkgo suite report — one container
// per scenario, one spec per step, one failed spec per scenario that did not load
// — so that Ginkgo's own JUnit writer produces the same junit.xml the offline
// suite writes.
func (r Result) GinkgoReport() types.Report {
	rep := types.Report{
		SuitePath:        strings.Join(r.Dirs, ","),
		SuiteDescription: "offline tier",
		SuiteSucceeded:   r.Passed(),
		StartTime:        r.Started,
		EndTime:          r.Started.Add(r.Duration),
		RunTime:          r.Duration,
	}
	for _, e := range r.LoadErrors {
		p := loadProblem(e)
		rep.SpecReports = append(rep.SpecReports, types.SpecReport{
			LeafNodeType: types.NodeTypeIt,
			LeafNodeText: "loads " + p.Location.String(),
			State:        types.SpecStateFailed,
			Failure: types.Failure{Message: e.Error(), FailureNodeType: types.NodeTypeIt,
				Location: types.CodeLocation{FileName: p.File, LineNumber: p.Line}},
		})
	}
	for _, sr := range r.Steps {
		step := sr.Step()
		spec := types.SpecReport{
			ContainerHierarchyTexts:  []string{sr.Scenario.Name},
			ContainerHierarchyLabels: [][]string{append([]string{"offline"}, sr.Scenario.Labels...)},
			LeafNodeType:             types.NodeTypeIt,
			LeafNodeText:             step.Name,
			LeafNodeLocation:         types.CodeLocation{FileName: sr.Scenario.File, LineNumber: step.Line},
			State:                    types.SpecStatePassed,
			StartTime:                r.Started,
			RunTime:                  sr.Duration,
		}
		spec.EndTime = spec.StartTime.Add(sr.Duration)
		if !sr.Judgement.Passed() {
			spec.State = types.SpecStateFailed
			spec.Failure = types.Failure{Message: sr.Judgement.Message(), FailureNodeType: types.NodeTypeIt,
				Location: spec.LeafNodeLocation}
		}
		rep.SpecReports = append(rep.SpecReports, spec)
	}
	return rep
}

// WriteJUnit writes the check's JUnit report to path with Ginkgo's writer.
func (r Result) WriteJUnit(path string) error {
	return reporters.GenerateJUnitReport(r.GinkgoReport(), path)
}
