// Package sarif writes problems (pkg/problem) as a SARIF 2.1.0 log, the format
// GitHub code scanning reads to show each problem inline, at its file and line, on
// a pull request. Only the part of SARIF the harness needs is modelled; the test
// validates the output against the OASIS SARIF 2.1.0 JSON schema.
package sarif

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/problem"
)

// Version and Schema identify the format written (the schema's own id).
const (
	Version = "2.1.0"
	Schema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	// SrcRoot is the uriBaseId every artifact location is relative to: the
	// directory given as Options.Root (the repository's root in CI).
	SrcRoot = "SRCROOT"
)

// Options describe the tool and where paths are relative to.
type Options struct {
	ToolName       string
	ToolVersion    string
	InformationURI string
	// Root is the directory file paths are made relative to (GitHub resolves them
	// against the repository's root); empty: the current directory.
	Root string
}

// Log is a SARIF log (sarifLog).
type Log struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []Run  `json:"runs"`
}

// Run is one run of one tool.
type Run struct {
	Tool               Tool                        `json:"tool"`
	OriginalURIBaseIDs map[string]ArtifactLocation `json:"originalUriBaseIds,omitempty"`
	Results            []Result                    `json:"results"`
}

type Tool struct {
	Driver Driver `json:"driver"`
}

type Driver struct {
	Name           string `json:"name"`
	Version        string `json:"version,omitempty"`
	InformationURI string `json:"informationUri,omitempty"`
	Rules          []Rule `json:"rules"`
}

type Rule struct {
	ID               string   `json:"id"`
	ShortDescription *Message `json:"shortDescription,omitempty"`
	HelpURI          string   `json:"helpUri,omitempty"`
}

type Message struct {
	Text string `json:"text"`
}

type Result struct {
	RuleID           string     `json:"ruleId"`
	RuleIndex        int        `json:"ruleIndex"`
	Level            string     `json:"level"`
	Message          Message    `json:"message"`
	Locations        []Location `json:"locations,omitempty"`
	RelatedLocations []Location `json:"relatedLocations,omitempty"`
}

type Location struct {
	ID               *int             `json:"id,omitempty"`
	PhysicalLocation PhysicalLocation `json:"physicalLocation"`
	Message          *Message         `json:"message,omitempty"`
}

type PhysicalLocation struct {
	ArtifactLocation ArtifactLocation `json:"artifactLocation"`
	Region           *Region          `json:"region,omitempty"`
}

type ArtifactLocation struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type Region struct {
	StartLine int `json:"startLine"`
}

// ruleText describes the harness's own rules.
var ruleText = map[string]string{
	problem.RuleLoad:        "The scenario directory does not load: the scenario contract or a bundle file's strict decoding",
	problem.RuleValidation:  "Istio's validation (the code behind istiod's validating webhook) rejects an object",
	problem.RuleExpectation: "The request simulated with Istio's own xDS does not take the path the step expects",
	problem.RuleSimulation:  "A configuration defect found by the simulation breaks the request whatever the step expects",
	problem.RuleEvaluation:  "The step could not be evaluated",
}

// FromProblems builds the log of one run.
func FromProblems(ps []problem.Problem, o Options) (Log, error) {
	root := o.Root
	if root == "" {
		root = "."
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return Log{}, err
	}
	run := Run{
		Tool:    Tool{Driver: Driver{Name: o.ToolName, Version: o.ToolVersion, InformationURI: o.InformationURI, Rules: []Rule{}}},
		Results: []Result{},
		OriginalURIBaseIDs: map[string]ArtifactLocation{
			SrcRoot: {URI: (&url.URL{Scheme: "file", Path: filepath.ToSlash(absRoot) + "/"}).String()},
		},
	}
	ids := map[string]bool{}
	for _, p := range ps {
		ids[ruleID(p)] = true
	}
	var sorted []string
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	index := map[string]int{}
	for i, id := range sorted {
		index[id] = i
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rule(id))
	}
	for _, p := range ps {
		id := ruleID(p)
		r := Result{RuleID: id, RuleIndex: index[id], Level: string(p.Level), Message: Message{Text: text(p)}}
		if p.File != "" {
			loc, err := location(absRoot, p.Location)
			if err != nil {
				return Log{}, err
			}
			r.Locations = []Location{loc}
		}
		for i, rel := range p.Related {
			loc, err := location(absRoot, rel)
			if err != nil {
				return Log{}, err
			}
			id := i + 1
			loc.ID = &id
			loc.Message = &Message{Text: "applied by step " + p.Step}
			r.RelatedLocations = append(r.RelatedLocations, loc)
		}
		run.Results = append(run.Results, r)
	}
	return Log{Schema: Schema, Version: Version, Runs: []Run{run}}, nil
}

// Write writes the log of ps as indented JSON.
func Write(w io.Writer, ps []problem.Problem, o Options) error {
	l, err := FromProblems(ps, o)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(l)
}

func ruleID(p problem.Problem) string {
	if p.Rule == "" {
		return problem.RuleEvaluation
	}
	return p.Rule
}

func rule(id string) Rule {
	if t, ok := ruleText[id]; ok {
		return Rule{ID: id, ShortDescription: &Message{Text: t}}
	}
	if strings.HasPrefix(id, "IST") {
		// Istio's analyzer messages each have a reference page named by their code.
		return Rule{ID: id, ShortDescription: &Message{Text: "Istio analyzer message " + id},
			HelpURI: "https://istio.io/latest/docs/reference/config/analysis/" + strings.ToLower(id) + "/"}
	}
	return Rule{ID: id}
}

// text is the result's message: the step it is about, then the problem.
func text(p problem.Problem) string {
	if p.Scenario == "" {
		return p.Message
	}
	where := "scenario " + p.Scenario
	if p.Step != "" {
		where += " step " + p.Step
	}
	return where + ": " + p.Message
}

// location is l relative to root, as SARIF wants a URI: forward slashes, escaped.
// A file outside root keeps an absolute file: URI.
func location(absRoot string, l problem.Location) (Location, error) {
	abs, err := filepath.Abs(l.File)
	if err != nil {
		return Location{}, err
	}
	var art ArtifactLocation
	rel, err := filepath.Rel(absRoot, abs)
	if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		art = ArtifactLocation{URI: (&url.URL{Path: filepath.ToSlash(rel)}).String(), URIBaseID: SrcRoot}
	} else {
		art = ArtifactLocation{URI: (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()}
	}
	loc := Location{PhysicalLocation: PhysicalLocation{ArtifactLocation: art}}
	if l.Line > 0 {
		loc.PhysicalLocation.Region = &Region{StartLine: l.Line}
	}
	return loc, nil
}

// String is for debugging.
func (l Location) String() string {
	if l.PhysicalLocation.Region != nil {
		return fmt.Sprintf("%s:%d", l.PhysicalLocation.ArtifactLocation.URI, l.PhysicalLocation.Region.StartLine)
	}
	return l.PhysicalLocation.ArtifactLocation.URI
}
