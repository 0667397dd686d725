// Package report writes the conformance report of a run: a versioned JSON document
// for machines and a Markdown page for people, next to Ginkgo's own JUnit and JSON
// reports under reports/<run-id>/. It holds plain data only, so that every tier and
// suite can fill it without depending on each other.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// APIVersion and Kind version the JSON document; consumers must check them.
const (
	APIVersion = "egress-conformance.io/v1alpha1"
	Kind       = "ConformanceReport"
)

// Result is the outcome of a step or a scenario.
type Result string

const (
	Pass Result = "pass"
	Fail Result = "fail"
	Skip Result = "skip"
)

// Report is one run's conformance report.
type Report struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	RunID      string    `json:"runID"`
	Tier       string    `json:"tier"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// Istio says which Istio the verdicts are about: the installed version on a
	// cluster, the linked library version offline.
	Istio Istio `json:"istio"`
	// Cluster is empty for the offline tier.
	Cluster   *Cluster   `json:"cluster,omitempty"`
	Summary   Summary    `json:"summary"`
	Scenarios []Scenario `json:"scenarios"`
	// Upgrade is set by the upgrade gate (tier "upgrade") only: the versions, what
	// each strategy did, the regressions and the disruption windows. Its steps
	// carry Strategy and Phase.
	Upgrade *Upgrade `json:"upgrade,omitempty"`
}

// Istio identifies the Istio under test.
type Istio struct {
	Version string `json:"version"`
	// Library is the istio.io/istio module version, for the offline tier.
	Library string `json:"library,omitempty"`
	// Warnings qualify the verdicts: e.g. the offline tier simulates another Istio
	// release than the one this cluster run tests.
	Warnings []string `json:"warnings,omitempty"`
}

// Cluster describes the cluster the cluster tier ran on.
type Cluster struct {
	Provider          string `json:"provider"`
	NodeImage         string `json:"nodeImage,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	External          string `json:"external,omitempty"`
}

// Summary counts steps by result.
type Summary struct {
	Scenarios int `json:"scenarios"`
	Steps     int `json:"steps"`
	Passed    int `json:"passed"`
	Failed    int `json:"failed"`
	Skipped   int `json:"skipped"`
}

// Scenario is one scenario's results.
type Scenario struct {
	Name   string   `json:"name"`
	Source string   `json:"source,omitempty"`
	Labels []string `json:"labels,omitempty"`
	// Result is fail if any step failed, skip if every step was skipped, else pass.
	Result Result `json:"result"`
	Steps  []Step `json:"steps"`
}

// Step is one step's result with the evidence it was judged on.
type Step struct {
	Name   string `json:"name"`
	Result Result `json:"result"`
	// Reason says why a step failed or was skipped.
	Reason string  `json:"reason,omitempty"`
	Checks []Check `json:"checks,omitempty"`
	// Evidence holds the lines the verdict rests on: access-log lines, httpbin's
	// answer, the simulated path, analyzer findings.
	Evidence []string `json:"evidence,omitempty"`
	// Strategy and Phase place a step of an upgrade run: the upgrade strategy
	// ("in-place", "canary") and the phase it was proven in ("from", "to",
	// "final"). Empty in every other tier.
	Strategy string `json:"strategy,omitempty"`
	Phase    string `json:"phase,omitempty"`
}

// Check is one stated expectation and what was observed.
type Check struct {
	Field   string `json:"field"`
	Want    string `json:"want"`
	Got     string `json:"got"`
	Outcome string `json:"outcome"`
}

// Recorder collects step results from a suite; it is safe for concurrent use
// because Ginkgo may run specs in parallel processes' report hooks.
type Recorder struct {
	mu     sync.Mutex
	report Report
	index  map[string]int
}

// NewRecorder starts a report for a run.
func NewRecorder(runID, tier string, istio Istio, cluster *Cluster) *Recorder {
	return &Recorder{
		report: Report{
			APIVersion: APIVersion, Kind: Kind, RunID: runID, Tier: tier,
			StartedAt: time.Now().UTC(), Istio: istio, Cluster: cluster,
		},
		index: map[string]int{},
	}
}

// Add records a step result under its scenario, creating the scenario on first use.
func (r *Recorder) Add(sc Scenario, step Step) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.index[sc.Name]
	if !ok {
		i = len(r.report.Scenarios)
		r.index[sc.Name] = i
		sc.Steps = nil
		r.report.Scenarios = append(r.report.Scenarios, sc)
	}
	r.report.Scenarios[i].Steps = append(r.report.Scenarios[i].Steps, step)
}

// Finish computes results and the summary and returns the report.
func (r *Recorder) Finish() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.report
	rep.FinishedAt = time.Now().UTC()
	rep.Scenarios = append([]Scenario(nil), rep.Scenarios...)
	sort.SliceStable(rep.Scenarios, func(a, b int) bool { return rep.Scenarios[a].Name < rep.Scenarios[b].Name })
	rep.Summary = Summary{Scenarios: len(rep.Scenarios)}
	for i := range rep.Scenarios {
		sc := &rep.Scenarios[i]
		sc.Result = Skip
		for _, st := range sc.Steps {
			rep.Summary.Steps++
			switch st.Result {
			case Pass:
				rep.Summary.Passed++
				if sc.Result == Skip {
					sc.Result = Pass
				}
			case Fail:
				rep.Summary.Failed++
				sc.Result = Fail
			case Skip:
				rep.Summary.Skipped++
			}
		}
	}
	return rep
}

// Write writes conformance.json and conformance.md into dir, creating it.
func Write(dir string, rep Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report directory: %w", err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the conformance report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conformance.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the conformance report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conformance.md"), []byte(Markdown(rep)), 0o644); err != nil {
		return fmt.Errorf("writing the conformance report: %w", err)
	}
	return nil
}
