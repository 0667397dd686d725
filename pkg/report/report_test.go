package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRecorderSummaryAndFiles(t *testing.T) {
	r := NewRecorder("run-1", "offline", Istio{Version: "1.31.4", Library: "istio.io/istio v0"}, nil)
	sc := Scenario{Name: "b-scenario", Source: "https://istio.io/x", Labels: []string{"http"}}
	r.Add(sc, Step{Name: "one", Result: Pass})
	r.Add(sc, Step{Name: "two", Result: Fail, Reason: "expect.route: want egress-gateway, got direct\nmore",
		Checks:   []Check{{Field: "expect.sidecarLog.upstreamCluster", Want: "outbound|80|httpbin|gw", Got: "outbound|80||httpbin.org", Outcome: "fail"}},
		Evidence: []string{"client sidecar <- HTTP httpbin.org:80 /ip"}})
	r.Add(Scenario{Name: "a-scenario"}, Step{Name: "only", Result: Skip, Reason: "hermetic mode cannot serve it"})
	rep := r.Finish()

	if rep.Summary != (Summary{Scenarios: 2, Steps: 3, Passed: 1, Failed: 1, Skipped: 1}) {
		t.Errorf("summary %+v", rep.Summary)
	}
	if rep.Scenarios[0].Name != "a-scenario" || rep.Scenarios[0].Result != Skip || rep.Scenarios[1].Result != Fail {
		t.Errorf("scenario results: %+v", rep.Scenarios)
	}
	if got := rep.Scenarios[1].Steps; got[0].Name != "one" || got[1].Name != "two" {
		t.Errorf("steps must keep the order they ran in: %+v", got)
	}

	dir := t.TempDir()
	if err := Write(dir, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	b, err := os.ReadFile(filepath.Join(dir, "conformance.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.APIVersion != APIVersion || back.Kind != Kind || back.Summary != rep.Summary {
		t.Errorf("round trip: %+v", back)
	}
	md, err := os.ReadFile(filepath.Join(dir, "conformance.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"2 scenarios", "1 passed, 1 failed, 1 skipped",
		// Envoy cluster names carry '|', which must not split a table cell.
		"`outbound\\|80\\|httpbin\\|gw`",
		"## b-scenario / two: fail", "hermetic mode cannot serve it",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(string(md), "## b-scenario / one") {
		t.Error("passing steps get a table row only, no section")
	}
}
