package problem

import (
	"bytes"
	"testing"
)

func TestOneLinePerProblem(t *testing.T) {
	ps := []Problem{
		{Location: Location{File: "s/vs.yaml", Line: 16}, Level: Error, Rule: "IST0101", Message: "Referenced host not found: \"httpbin.org\"", Scenario: "x", Step: "after"},
		{Location: Location{File: "s/scenario.yaml", Line: 28}, Level: Warning, Rule: RuleExpectation, Message: "a message\nover two lines"},
		{Level: Error, Rule: RuleLoad, Message: "no file"},
	}
	var b bytes.Buffer
	if err := WriteText(&b, ps); err != nil {
		t.Fatal(err)
	}
	want := `s/vs.yaml:16: error: scenario x step after: Referenced host not found: "httpbin.org" [IST0101]
s/scenario.yaml:28: warning: a message over two lines [expectation]
error: no file [scenario-load]
`
	if b.String() != want {
		t.Errorf("text:\n%s\nwant\n%s", b.String(), want)
	}
}

// The runner reads `::error file=F,line=L,title=T::message`; property values escape
// % \r \n : , and the message % \r \n (actions/toolkit, packages/core/src/command.ts).
func TestGitHubWorkflowCommands(t *testing.T) {
	ps := []Problem{
		{Location: Location{File: "a,b:c.yaml", Line: 3}, Level: Error, Rule: "IST0101", Message: "100% broken\nsecond line"},
		{Location: Location{File: "d.yaml"}, Level: Note, Rule: RuleLoad, Message: "m"},
	}
	var b bytes.Buffer
	if err := WriteGitHub(&b, ps); err != nil {
		t.Fatal(err)
	}
	want := "::error file=a%2Cb%3Ac.yaml,line=3,title=egress-conformance IST0101::100%25 broken%0Asecond line [IST0101]\n" +
		"::notice file=d.yaml,title=egress-conformance scenario-load::m [scenario-load]\n"
	if b.String() != want {
		t.Errorf("github:\n%s\nwant\n%s", b.String(), want)
	}
}
