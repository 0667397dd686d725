// Package problem is one problem found in a team's scenarios, placed at a file and
// line, and its plain one-line forms: `file:line: message` for editors and problem
// matchers, and GitHub Actions workflow commands for inline annotations. SARIF
// (pkg/sarif) is written from the same values, so every output format names the
// same places.
package problem

import (
	"fmt"
	"io"
	"strings"
)

// Level is how serious a problem is, with SARIF's names for its result levels.
type Level string

const (
	// Error fails the check (exit code 1).
	Error Level = "error"
	// Warning is reported and does not fail the check (analyzer warnings, unless
	// --strict-analysis).
	Warning Level = "warning"
	// Note is informational (analyzer Info messages).
	Note Level = "note"
)

// Location is a line of a file. File is the path as the user gave it (joined with
// the scenario directory), so it opens from the directory the command ran in.
type Location struct {
	File string
	// Line is 1-based; 0 when the problem is about the whole file.
	Line int
}

func (l Location) String() string {
	if l.Line > 0 {
		return fmt.Sprintf("%s:%d", l.File, l.Line)
	}
	return l.File
}

// Problem is one problem: what is wrong, where, and which rule found it.
type Problem struct {
	Location
	Level Level
	// Rule identifies the kind of problem: Istio's analyzer code (IST0101) or one of
	// the Rule* constants.
	Rule string
	// Message is one line (newlines are folded by the writers).
	Message string
	// Scenario and Step say what was being checked; empty for a scenario that did
	// not load.
	Scenario string
	Step     string
	// Related are further places that explain the problem: the bundle files the
	// failing step applied.
	Related []Location
}

// Rules the harness itself reports; Istio's analyzers report their own codes.
const (
	// RuleLoad: the scenario directory does not load (the contract, strict decoding).
	RuleLoad = "scenario-load"
	// RuleValidation: Istio's validation (its validating webhook's code) rejects an object.
	RuleValidation = "istio-validation"
	// RuleExpectation: the simulated request does not do what the step expects.
	RuleExpectation = "expectation"
	// RuleSimulation: the simulation found a configuration defect that breaks the
	// request whatever the step expects (a route to a cluster missing from CDS).
	RuleSimulation = "simulation"
	// RuleEvaluation: the step could not be evaluated at all.
	RuleEvaluation = "evaluation"
)

// String is the `file:line: level: message` form (`level: message` for the rare
// problem that has no file).
func (p Problem) String() string {
	if p.File == "" {
		return fmt.Sprintf("%s: %s", p.Level, oneLine(p.text()))
	}
	return fmt.Sprintf("%s: %s: %s", p.Location, p.Level, oneLine(p.text()))
}

// text is the message with its rule and the step it is about.
func (p Problem) text() string {
	var b strings.Builder
	if p.Scenario != "" {
		b.WriteString("scenario " + p.Scenario)
		if p.Step != "" {
			b.WriteString(" step " + p.Step)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Rule != "" {
		b.WriteString(" [" + p.Rule + "]")
	}
	return b.String()
}

// oneLine folds a message onto one line, so that every problem is exactly one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// WriteText writes one `file:line: level: message` line per problem, the form
// compilers print (Vim's errorformat, Emacs' compilation mode and GitHub problem
// matchers read it).
func WriteText(w io.Writer, ps []Problem) error {
	for _, p := range ps {
		if _, err := fmt.Fprintln(w, p.String()); err != nil {
			return err
		}
	}
	return nil
}

// WriteGitHub writes one GitHub Actions workflow command per problem
// (`::error file=F,line=L,title=T::message`), which the runner turns into an
// annotation at that line of the pull request's diff. Values are escaped as the
// runner's toolkit does (actions/toolkit packages/core/src/command.ts: escapeData,
// escapeProperty).
func WriteGitHub(w io.Writer, ps []Problem) error {
	for _, p := range ps {
		cmd := "notice"
		switch p.Level {
		case Error:
			cmd = "error"
		case Warning:
			cmd = "warning"
		}
		var props []string
		if p.File != "" {
			props = append(props, "file="+escapeProperty(p.File))
		}
		if p.Line > 0 {
			props = append(props, fmt.Sprintf("line=%d", p.Line))
		}
		if p.Rule != "" {
			props = append(props, "title="+escapeProperty("egress-conformance "+p.Rule))
		}
		if len(props) > 0 {
			cmd += " " + strings.Join(props, ",")
		}
		if _, err := fmt.Fprintf(w, "::%s::%s\n", cmd, escapeData(p.text())); err != nil {
			return err
		}
	}
	return nil
}

func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
