package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The upgrade fields are additive: a report of another tier encodes and renders
// exactly as before (no upgrade, strategy or phase key, the one-result table).
func TestUpgradeFieldsAreAdditive(t *testing.T) {
	r := NewRecorder("run-1", "cluster", Istio{Version: "1.31.4"}, &Cluster{Provider: "kind"})
	r.Add(Scenario{Name: "egress-gateway-http"}, Step{Name: "after-routing", Result: Pass})
	rep := r.Finish()
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"upgrade"`, `"strategy"`, `"phase"`} {
		if strings.Contains(string(js), key) {
			t.Errorf("a cluster-tier report carries %s: %s", key, js)
		}
	}
	md := Markdown(rep)
	if !strings.Contains(md, "| scenario | step | result | reason |") || strings.Contains(md, "Upgrade") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestWindowOfDisruption(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	t1 := t0.Add(1500 * time.Millisecond)
	for _, tt := range []struct {
		d    Disruption
		want string
	}{
		{Disruption{Probes: 120, Passed: 120}, "no failed request (120 probes)"},
		{Disruption{Probes: 120, Passed: 118, Inconclusive: 2}, "no failed request (120 probes, 2 inconclusive)"},
		{Disruption{Probes: 120, Passed: 118, Failed: 2, FirstFailure: &t0, LastFailure: &t1},
			"2 of 120 probes failed between 12:00:00.000Z and 12:00:01.500Z (1.5s)"},
	} {
		if got := tt.d.WindowOfDisruption(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
