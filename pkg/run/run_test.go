package run

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/expect"
	"github.com/egress-conformance/egress-conformance/pkg/report"
)

func TestID(t *testing.T) {
	now := time.Date(2026, 11, 25, 20, 42, 41, 0, time.UTC)
	if got := ID("", "offline", now); got != "20261125-204241-offline" {
		t.Errorf("ID = %q", got)
	}
	if got := ID(" gh-123-1.31.4 ", "offline", now); got != "gh-123-1.31.4" {
		t.Errorf("ID with RUN_ID = %q", got)
	}
}

func TestModuleRoot(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "suites", "offline")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ModuleRoot(deep)
	if err != nil || got != root {
		t.Errorf("ModuleRoot = %q, %v; want %q", got, err, root)
	}
	if _, err := ModuleRoot("/"); err == nil {
		t.Error("no go.mod above / must be an error")
	}
	if got := ReportDir(root, "", "r1"); got != filepath.Join(root, "reports", "r1") {
		t.Errorf("ReportDir = %q", got)
	}
}

func TestStepFromVerdict(t *testing.T) {
	v := expect.Verdict{Checks: []expect.Check{
		{Field: "expect.route", Want: "direct", Got: "direct", Outcome: expect.Pass},
		{Field: "expect.origin.hops", Want: "1", Outcome: expect.NotObservable},
	}}
	st := StepFromVerdict("before-routing", v, true, "", []string{"line"})
	if st.Result != report.Pass || len(st.Checks) != 2 || st.Checks[1].Outcome != "not-observable" {
		t.Errorf("%+v", st)
	}
	// A step can fail on more than its verdict, e.g. Istio's validation.
	if st := StepFromVerdict("x", v, false, "rejected by validation", nil); st.Result != report.Fail {
		t.Errorf("%+v", st)
	}
}
