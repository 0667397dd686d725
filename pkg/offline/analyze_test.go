package offline

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

func loadTestdata(t testing.TB, name string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lineOf is the 1-based line of the first line of file that contains text.
func lineOf(t testing.TB, file, text string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line with %q", file, text)
	return 0
}

// TestMultiObjectFileReachesAnalyzer: the egress-gateway walk-through in one file.
// The VirtualService names the Gateway of the same file, so Istio's analyzer must
// not report IST0101 ("Referenced gateway not found"): it would if only one object
// of the file reached it (Istio's file source keeps one object set per reader
// name, pilot/pkg/config/file/store.go, KubeSource.ApplyContent).
func TestMultiObjectFileReachesAnalyzer(t *testing.T) {
	s := loadTestdata(t, "multi-object")
	j := Judge(s, 0, Options{StrictAnalysis: true})
	if !j.Passed() {
		t.Fatalf("the walk-through in one file must pass:\n%s", j.Message())
	}
	if len(j.Analysis) > 0 {
		t.Errorf("Istio's analyzer must be silent on the walk-through, it said %v", j.Analysis)
	}
}

// wantAnalyzerError checks that Istio's analyzer reports code at level Error on
// step 0 of testdata scenario name, at the first line of file containing at,
// naming object (relative to the scenario namespace), with a message containing msg.
func wantAnalyzerError(t *testing.T, name, file, at, code, object, msg string) {
	t.Helper()
	s := loadTestdata(t, name)
	r := CheckStep(s, 0, Options{})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	want := Finding{
		Origin: file + ":" + strconv.Itoa(lineOf(t, filepath.Join(s.Dir, file), at)),
		Level:  "Error", Code: code, Object: strings.Replace(object, "/", " "+s.Namespace()+"/", 1),
	}
	for _, f := range r.Analysis {
		if f.Code == want.Code && f.Origin == want.Origin && f.Object == want.Object && f.Level == want.Level && strings.Contains(f.Message, msg) {
			if !strings.Contains(f.String(), want.Object) || !strings.Contains(f.String(), want.Origin) {
				t.Errorf("the finding's text must name the object and its place: %s", f)
			}
			return
		}
	}
	t.Fatalf("want %+v (message with %q) among the analyzer's messages, got %v", want, msg, r.Analysis)
}

// TestFirstObjectErrorIsReportedAtItsLine: the first object of a file is wrong and
// the last is right. The analyzer's IST0101 must be reported, at the line of the
// bad gateway reference in the first object, naming that object.
func TestFirstObjectErrorIsReportedAtItsLine(t *testing.T) {
	wantAnalyzerError(t, "multi-object-first-error", "egress.yaml", "- no-such-gateway", "IST0101", "VirtualService/httpbin", "no-such-gateway")
}

// TestNoIngressGatewayInTheWorld: the installed world has no ingress gateway
// (pkg/world.Profile), so Istio's gateway analyzer reports a Gateway selecting
// istio=ingressgateway: IST0101 "Referenced selector not found"
// (pkg/config/analysis/analyzers/gateway/gateway.go). Istio's
// AddDefaultResources would add a dummy ingress gateway pod and hide it.
func TestNoIngressGatewayInTheWorld(t *testing.T) {
	wantAnalyzerError(t, "ingress-selector", "gateway.yaml", "istio: ingressgateway", "IST0101", "Gateway/httpbin-gateway", "istio=ingressgateway")
}
