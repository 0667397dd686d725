package sarif

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/problem"
	"github.com/egress-conformance/egress-conformance/pkg/sarif/schematest"
)

func sample(dir string) []problem.Problem {
	return []problem.Problem{
		{Location: problem.Location{File: filepath.Join(dir, "scenarios/x/virtualservice.yaml"), Line: 12}, Level: problem.Error,
			Rule: "IST0101", Message: "Referenced host not found: \"httpbin.org\"", Scenario: "x", Step: "after"},
		{Location: problem.Location{File: filepath.Join(dir, "scenarios/x/scenario.yaml"), Line: 28}, Level: problem.Error,
			Rule: problem.RuleExpectation, Message: "expect.route: want egress-gateway, got direct", Scenario: "x", Step: "after",
			Related: []problem.Location{{File: filepath.Join(dir, "scenarios/x/gateway.yaml"), Line: 1}}},
		{Location: problem.Location{File: filepath.Join(dir, "scenarios/x/dr.yaml"), Line: 3}, Level: problem.Warning, Rule: "IST0128", Message: "w"},
		{Level: problem.Error, Rule: problem.RuleLoad, Message: "no file at all"},
		{Location: problem.Location{File: "/elsewhere/a b.yaml"}, Level: problem.Note, Rule: problem.RuleLoad, Message: "outside the root"},
	}
}

func TestWriteIsValidSARIF(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := Write(&buf, sample(dir), Options{ToolName: "egress-conformance", ToolVersion: "v0", Root: dir}); err != nil {
		t.Fatal(err)
	}
	if err := schematest.Validate(buf.Bytes()); err != nil {
		t.Fatalf("invalid SARIF 2.1.0: %v\n%s", err, buf.String())
	}
	var l Log
	if err := json.Unmarshal(buf.Bytes(), &l); err != nil {
		t.Fatal(err)
	}
	rs := l.Runs[0].Results
	if len(rs) != 5 {
		t.Fatalf("%d results, want 5", len(rs))
	}
	if got := rs[0].Locations[0].String(); got != "scenarios/x/virtualservice.yaml:12" || rs[0].Locations[0].PhysicalLocation.ArtifactLocation.URIBaseID != SrcRoot {
		t.Errorf("location = %s (base %q), want scenarios/x/virtualservice.yaml:12 relative to %s", got, rs[0].Locations[0].PhysicalLocation.ArtifactLocation.URIBaseID, SrcRoot)
	}
	if rule := l.Runs[0].Tool.Driver.Rules[rs[0].RuleIndex]; rule.ID != "IST0101" || !strings.HasSuffix(rule.HelpURI, "/analysis/ist0101/") {
		t.Errorf("rule of result 0 = %+v", rule)
	}
	if rs[1].RelatedLocations[0].String() != "scenarios/x/gateway.yaml:1" || !strings.Contains(rs[1].Message.Text, "scenario x step after: expect.route") {
		t.Errorf("result 1 = %+v", rs[1])
	}
	if rs[2].Level != "warning" || rs[3].Locations != nil {
		t.Errorf("results 2, 3 = %+v, %+v", rs[2], rs[3])
	}
	if got := rs[4].Locations[0].PhysicalLocation.ArtifactLocation.URI; got != "file:///elsewhere/a%20b.yaml" {
		t.Errorf("outside the root: uri %q", got)
	}
}

// The validator must be able to fail: a log that breaks the schema is refused.
func TestSchemaRefusesInvalidLogs(t *testing.T) {
	for name, doc := range map[string]string{
		"wrong version":     `{"version": "2.0.0", "runs": []}`,
		"bad level":         `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}, "level": "fatal"}]}]}`,
		"line 0":            `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}, "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a"}, "region": {"startLine": 0}}}]}]}]}`,
		"result no message": `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "r"}]}]}`,
	} {
		if err := schematest.Validate([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
