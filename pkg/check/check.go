// Package check runs the offline tier over directories of scenarios, the way the
// command-line tool does: every step judged by pkg/offline (the engine the offline
// Ginkgo suite uses) on a bounded pool of workers, and the results turned into
// located problems (pkg/problem), the conformance report (pkg/report) and JUnit.
package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/offline"
	"github.com/egress-conformance/egress-conformance/pkg/problem"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Options configures a check.
type Options struct {
	Offline offline.Options
	// Jobs is how many steps are judged at once; 0 means GOMAXPROCS.
	Jobs int
	// Select, when set, keeps only the scenarios it returns true for (the
	// command's --label-filter).
	Select func(*scenario.Scenario) bool
	// Progress, when set, is called after each step with the number of steps done,
	// the total and the step's result. Calls are serialised.
	Progress func(done, total int, r StepResult)
}

// StepResult is one judged step.
type StepResult struct {
	Scenario  *scenario.Scenario
	Index     int
	Judgement offline.Judgement
	Duration  time.Duration
	// Internal is set when Istio's code panicked on the step: a defect of the
	// harness or of Istio, not of the scenario (the command exits 3).
	Internal bool
}

// Step is the scenario step the result is about.
func (r StepResult) Step() scenario.Step { return r.Scenario.Steps[r.Index] }

// Result is everything a check found.
type Result struct {
	// Dirs are the directories checked, as given.
	Dirs []string
	// Scenarios are the scenarios that loaded, in the order of Dirs then name.
	Scenarios []*scenario.Scenario
	// LoadErrors are the problems that kept scenarios from loading, each a
	// *scenario.FieldError when the loader could place it.
	LoadErrors []error
	// Steps holds one result per step of every loaded scenario, in scenario and
	// step order (not completion order), so outputs are deterministic.
	Steps    []StepResult
	Started  time.Time
	Duration time.Duration
}

// Passed reports whether every scenario loaded and every step passed.
func (r Result) Passed() bool {
	if len(r.LoadErrors) > 0 {
		return false
	}
	for _, s := range r.Steps {
		if !s.Judgement.Passed() {
			return false
		}
	}
	return true
}

// Failed counts the steps that failed.
func (r Result) Failed() int {
	n := 0
	for _, s := range r.Steps {
		if !s.Judgement.Passed() {
			n++
		}
	}
	return n
}

// UsageError is a problem with what the command was given rather than with a
// scenario: a directory that does not exist or holds no scenario.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Load loads every scenario under dirs (each a scenario directory or a directory
// of them, as scenario.LoadAll reads it). Scenarios that do not load are returned
// as load errors beside the others; a directory that does not exist or holds no
// scenario at all is a *UsageError.
func Load(dirs []string) (scenarios []*scenario.Scenario, loadErrors []error, err error) {
	seen := map[string]string{}
	for _, dir := range dirs {
		info, statErr := os.Stat(dir)
		if statErr != nil {
			return nil, nil, &UsageError{fmt.Errorf("%s: %w", dir, statErr)}
		}
		if !info.IsDir() {
			return nil, nil, &UsageError{fmt.Errorf("%s: not a directory (give a scenario directory or a directory of them)", dir)}
		}
		if !hasScenario(dir) {
			return nil, nil, &UsageError{fmt.Errorf("%s: no scenario here (no %s in it or in its subdirectories)", dir, scenario.FileName)}
		}
		ss, lerr := scenario.LoadAll(dir)
		if lerr != nil {
			loadErrors = append(loadErrors, unjoin(lerr)...)
		}
		for _, s := range ss {
			// Names are unique within a directory (LoadAll); across the
			// directories given they name reports and namespaces too.
			if first, dup := seen[s.Name]; dup {
				loadErrors = append(loadErrors, &scenario.FieldError{File: s.File, Line: 1, Field: "name",
					Msg: fmt.Sprintf("%q is also the name of %s; scenario names are unique (they name namespaces)", s.Name, first)})
				continue
			}
			seen[s.Name] = s.File
			scenarios = append(scenarios, s)
		}
	}
	return scenarios, loadErrors, nil
}

// hasScenario reports whether dir is a scenario directory or holds one (or a
// misnamed scenario.yml, which the loader explains).
func hasScenario(dir string) bool {
	for _, pattern := range []string{scenario.FileName, "*/" + scenario.FileName, "*/scenario.yml"} {
		if m, _ := filepath.Glob(filepath.Join(dir, pattern)); len(m) > 0 {
			return true
		}
	}
	return false
}

// unjoin flattens errors.Join's tree into its leaves.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// Run loads dirs and judges every step of every scenario that loaded.
//
// Steps are independent (each is simulated on its own cumulative bundle in a
// fresh fake discovery server), so they are judged on a pool of Jobs workers,
// finer-grained than one worker per scenario so that a long scenario does not
// leave a core idle. Istio runs its fake discovery servers concurrently in its own
// tests (pilot/pkg/networking/core/sidecar_simulation_test.go, TestSidecarRoutes,
// t.Parallel()); pkg/offline changes no Istio global after init (offline.Quiet).
func Run(dirs []string, opts Options) (Result, error) {
	res := Result{Dirs: dirs, Started: time.Now()}
	// Istio's once-per-process set-up runs on the other core while the scenarios
	// load and the first steps are analysed.
	offline.Warm()
	var err error
	res.Scenarios, res.LoadErrors, err = Load(dirs)
	if err != nil {
		return res, err
	}
	if opts.Select != nil {
		var kept []*scenario.Scenario
		for _, s := range res.Scenarios {
			if opts.Select(s) {
				kept = append(kept, s)
			}
		}
		res.Scenarios = kept
	}
	type job struct {
		s *scenario.Scenario
		i int
	}
	var jobs []job
	for _, s := range res.Scenarios {
		for i := range s.Steps {
			jobs = append(jobs, job{s, i})
		}
	}
	res.Steps = make([]StepResult, len(jobs))
	workers := opts.Jobs
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(len(jobs), 1))

	next := make(chan int)
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				j := jobs[k]
				start := time.Now()
				r := StepResult{Scenario: j.s, Index: j.i}
				r.Judgement, r.Internal = judge(j.s, j.i, opts.Offline)
				r.Duration = time.Since(start)
				res.Steps[k] = r
				if opts.Progress != nil {
					mu.Lock()
					done++
					opts.Progress(done, len(jobs), r)
					mu.Unlock()
				}
			}
		}()
	}
	for k := range jobs {
		next <- k
	}
	close(next)
	wg.Wait()
	res.Duration = time.Since(res.Started)
	return res, nil
}

// judge is offline.Judge, with a panic inside Istio's code turned into the step's
// error: one broken step must not take the other scenarios' results down with it.
func judge(s *scenario.Scenario, i int, opts offline.Options) (j offline.Judgement, internal bool) {
	defer func() {
		if p := recover(); p != nil {
			j = offline.Judgement{StepResult: offline.StepResult{Scenario: s.Name, Step: s.Steps[i].Name,
				Err: fmt.Errorf("internal error while simulating the step: %v", p)}}
			internal = true
		}
	}()
	return offline.Judge(s, i, opts), false
}

// Internal reports whether a step hit an internal error.
func (r Result) Internal() bool {
	for _, s := range r.Steps {
		if s.Internal {
			return true
		}
	}
	return false
}

// Problems lists every problem found, each at the file and line to fix: load
// errors where the loader placed them; Istio's validation and analyzer findings
// at the bundle object they are about; failed expectations at the line of
// scenario.yaml that states them, with the bundle files the step applied as
// related places. A finding repeated by later steps (bundles are cumulative) is
// listed once. Problems are sorted by file and line.
func (r Result) Problems(strict bool) []problem.Problem {
	var out []problem.Problem
	for _, e := range r.LoadErrors {
		out = append(out, loadProblem(e))
	}
	seen := map[string]bool{}
	add := func(p problem.Problem) {
		k := fmt.Sprintf("%s\x00%s\x00%s\x00%s", p.Location, p.Level, p.Rule, p.Message)
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	for _, sr := range r.Steps {
		s, step, j := sr.Scenario, sr.Step(), sr.Judgement
		at := func(field string) problem.Location {
			return problem.Location{File: s.File, Line: step.LineOf(field)}
		}
		base := problem.Problem{Scenario: s.Name, Step: step.Name, Related: applied(s, sr.Index)}
		if j.Err != nil {
			p := base
			p.Location, p.Level, p.Rule, p.Message = at(""), problem.Error, problem.RuleEvaluation, j.Err.Error()
			add(p)
			continue
		}
		for _, f := range append(append([]offline.Finding{}, j.Validation...), j.Analysis...) {
			p := findingProblem(s, f, strict)
			if p.Rule == "" {
				p.Rule = problem.RuleValidation
			}
			if p.File == "" {
				// About an object the harness simulates (the client, the gateway):
				// placed at the step, which applied its cause.
				p.Location = at("apply")
			}
			// The first step that reports it names it; later steps repeat it.
			p.Scenario, p.Step = s.Name, step.Name
			add(p)
		}
		for _, pr := range j.Path.Problems {
			p := base
			p.Location, p.Level, p.Rule, p.Message = at("request"), problem.Error, problem.RuleSimulation, pr
			add(p)
		}
		for _, c := range j.Verdict.Failures() {
			p := base
			msg := fmt.Sprintf("%s: want %s, got %s", c.Field, c.Want, c.Got)
			if c.Why != "" {
				msg += " (" + c.Why + ")"
			}
			p.Location, p.Level, p.Rule, p.Message = at(c.Field), problem.Error, problem.RuleExpectation, msg
			add(p)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].File != out[b].File {
			return out[a].File < out[b].File
		}
		return out[a].Line < out[b].Line
	})
	return out
}

// applied are the bundle files step i applies, each at its first line: where a
// failed expectation's cause most likely is.
func applied(s *scenario.Scenario, i int) []problem.Location {
	var out []problem.Location
	for _, f := range s.Steps[i].Apply {
		out = append(out, problem.Location{File: filepath.Join(s.Dir, filepath.FromSlash(f.File)), Line: 1})
	}
	return out
}

// findingProblem places an Istio finding. Its Origin is "<file>:<line>" relative to
// the scenario directory, or a description of a simulated object (no file).
func findingProblem(s *scenario.Scenario, f offline.Finding, strict bool) problem.Problem {
	p := problem.Problem{Rule: f.Code, Message: f.Message}
	switch f.Level {
	case "Error":
		p.Level = problem.Error
	case "Warning":
		p.Level = problem.Warning
		if strict {
			p.Level = problem.Error
		}
	default:
		p.Level = problem.Note
	}
	file, line, ok := splitOrigin(f.Origin)
	if ok {
		p.Location = problem.Location{File: filepath.Join(s.Dir, filepath.FromSlash(file)), Line: line}
	} else {
		p.Message = f.Origin + ": " + f.Message
	}
	return p
}

func splitOrigin(o string) (string, int, bool) {
	i := strings.LastIndexByte(o, ':')
	if i <= 0 || strings.HasPrefix(o, "simulated-cluster") {
		return "", 0, false
	}
	var line int
	if _, err := fmt.Sscanf(o[i+1:], "%d", &line); err != nil {
		return "", 0, false
	}
	return o[:i], line, true
}

func loadProblem(e error) problem.Problem {
	var fe *scenario.FieldError
	if errors.As(e, &fe) {
		msg := fe.Msg
		if fe.Field != "" {
			msg = fe.Field + ": " + msg
		}
		if fe.Err != nil {
			msg += ": " + fe.Err.Error()
		}
		return problem.Problem{Location: problem.Location{File: fe.File, Line: fe.Line}, Level: problem.Error, Rule: problem.RuleLoad, Message: msg}
	}
	return problem.Problem{Level: problem.Error, Rule: problem.RuleLoad, Message: e.Error()}
}
