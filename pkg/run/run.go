// Package run holds what every suite's run shares: its id, the directory its
// reports go to, Ginkgo's JUnit and JSON reports, and the conformance report built
// from step verdicts. Suites stay thin by calling it.
package run

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/egress-conformance/egress-conformance/pkg/expect"
	"github.com/egress-conformance/egress-conformance/pkg/report"
)

// ID returns the run id: given, the value of RUN_ID (CI sets it to tie reports to
// a job; settings.RunID reads it), else the UTC time and the tier, which sorts
// and says what ran.
func ID(given, tier string, now time.Time) string {
	if id := strings.TrimSpace(given); id != "" {
		return id
	}
	return now.UTC().Format("20060102-150405") + "-" + tier
}

// ModuleRoot walks up from dir to the directory holding go.mod: `go test` runs a
// suite in its package directory, but reports/ and scenarios/ live at the top.
func ModuleRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		d = parent
	}
}

// ReportDir is reports/<run-id>/ under root, or under base when base is set.
func ReportDir(root, base, runID string) string {
	if base == "" {
		base = filepath.Join(root, "reports")
	}
	return filepath.Join(base, runID)
}

// WriteGinkgoReports writes Ginkgo's JUnit and JSON reports into dir.
func WriteGinkgoReports(dir string, r types.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return errors.Join(
		reporters.GenerateJUnitReport(r, filepath.Join(dir, "junit.xml")),
		reporters.GenerateJSONReport(r, filepath.Join(dir, "ginkgo.json")),
	)
}

// StepFromVerdict turns a verdict into a conformance-report step. Checks the tier
// cannot observe are kept, marked as such, so a reader sees what was not proven.
// passed is the step's overall result, which may fail on more than the verdict
// (e.g. Istio's validation rejected the bundle); reason says why it failed.
func StepFromVerdict(name string, v expect.Verdict, passed bool, reason string, evidence []string) report.Step {
	st := report.Step{Name: name, Result: report.Pass, Reason: reason, Evidence: evidence}
	for _, c := range v.Checks {
		st.Checks = append(st.Checks, report.Check{Field: c.Field, Want: c.Want, Got: c.Got, Outcome: string(c.Outcome)})
	}
	if !passed {
		st.Result = report.Fail
	}
	return st
}
