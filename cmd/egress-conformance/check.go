package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/egress-conformance/egress-conformance/pkg/check"
	"github.com/egress-conformance/egress-conformance/pkg/offline"
	"github.com/egress-conformance/egress-conformance/pkg/problem"
	"github.com/egress-conformance/egress-conformance/pkg/report"
	"github.com/egress-conformance/egress-conformance/pkg/sarif"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

var errHelp = flag.ErrHelp

// formats are what --format writes to standard output.
var formats = map[string]string{
	"text":   "one line per problem: file:line: level: message (editors, problem matchers)",
	"github": "GitHub Actions workflow commands: an annotation per problem on the pull request",
	"sarif":  "a SARIF 2.1.0 log (GitHub code scanning)",
	"junit":  "JUnit XML, as the offline Ginkgo suite writes it",
	"json":   "the conformance report (conformance.json)",
	"none":   "nothing (use the file flags)",
}

const checkUsage = `Usage: egress-conformance check [flags] [DIR...]

Checks every step of every scenario under each DIR (default: the current
directory) with the offline tier: strict decoding, Istio's validation, the
analyzers of istioctl analyze, and Istio's xDS generation and request simulation
of the client sidecar and the egress gateway. Steps are checked in parallel.

Problems are placed at the file and line to fix: Istio's findings at the bundle
object, failed expectations at the line of scenario.yaml that states them.
Progress goes to standard error, on a terminal only; a summary line always.

Formats (--format, to standard output):
  text    %s
  github  %s
  sarif   %s
  junit   %s
  json    %s
  none    %s

Flags:
`

type checkFlags struct {
	format, sarifFile, junitFile, reportDir, root, color, labels string
	strict, quiet, verbose                                       bool
	jobs                                                         int
}

func newFlagSet(name, help string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags given before, between and after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func runCheck(args []string, stdout, stderr io.Writer) (int, error) {
	var f checkFlags
	fs := newFlagSet("check", fmt.Sprintf(checkUsage, formats["text"], formats["github"], formats["sarif"],
		formats["junit"], formats["json"], formats["none"]), stdout)
	fs.StringVar(&f.format, "format", "text", "what to write to standard output: text, github, sarif, junit, json or none")
	fs.StringVar(&f.sarifFile, "sarif", "", "also write a SARIF 2.1.0 log to this file")
	fs.StringVar(&f.junitFile, "junit", "", "also write a JUnit XML report to this file")
	fs.StringVar(&f.reportDir, "report", "", "also write the conformance report (conformance.json, conformance.md) and junit.xml into this directory")
	fs.StringVar(&f.labels, "label-filter", "", "check only the scenarios whose labels (plus \"offline\") match this Ginkgo label filter, e.g. 'egress-gateway && !tls-passthrough'")
	fs.StringVar(&f.root, "root", "", "directory SARIF paths are relative to: the repository's root (default: the current directory)")
	fs.BoolVar(&f.strict, "strict-analysis", false, "analyzer warnings fail a step too, like istioctl analyze --failure-threshold Warning")
	fs.IntVar(&f.jobs, "jobs", 0, "steps checked at once (default: the number of CPUs Go may use, GOMAXPROCS)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress and no summary on standard error")
	fs.BoolVar(&f.verbose, "v", false, "print every failed step's full explanation (simulated path, Istio's findings) to standard error")
	fs.StringVar(&f.color, "color", "auto", "colour: auto (only on a terminal, never with NO_COLOR set), always or never")
	dirs, err := parse(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if _, ok := formats[f.format]; !ok {
		return exitUsage, usagef("--format %q: want text, github, sarif, junit, json or none", f.format)
	}
	if f.jobs < 0 {
		return exitUsage, usagef("--jobs %d: want 0 (all CPUs) or more", f.jobs)
	}
	if f.color != "auto" && f.color != "always" && f.color != "never" {
		return exitUsage, usagef("--color %q: want auto, always or never", f.color)
	}
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	outColor := useColor(f.color, stdout)
	errColor := useColor(f.color, stderr)
	progress := !f.quiet && isTerminal(stderr)

	opts := check.Options{Offline: offline.Options{StrictAnalysis: f.strict}, Jobs: f.jobs}
	if f.labels != "" {
		// Ginkgo's own parser, so the filter means what LABEL_FILTER means to the suites.
		match, err := types.ParseLabelFilter(f.labels)
		if err != nil {
			return exitUsage, usagef("--label-filter: %v", err)
		}
		opts.Select = func(s *scenario.Scenario) bool { return match(append([]string{"offline"}, s.Labels...)) }
	}
	if progress {
		opts.Progress = func(done, total int, r check.StepResult) {
			fmt.Fprintf(stderr, "\r\033[K[%d/%d] %s %s/%s", done, total, mark(r.Judgement.Passed(), errColor), r.Scenario.Name, r.Step().Name)
		}
	}
	res, err := check.Run(dirs, opts)
	if progress {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		var ue *check.UsageError
		if errors.As(err, &ue) {
			return exitUsage, usageError{ue.Error()}
		}
		return exitInternal, err
	}
	problems := res.Problems(f.strict)

	if err := writeOutputs(f, res, problems, stdout, outColor); err != nil {
		return exitInternal, err
	}
	if f.verbose {
		for _, sr := range res.Steps {
			if !sr.Judgement.Passed() {
				fmt.Fprint(stderr, sr.Judgement.Message())
			}
		}
	}
	if !f.quiet {
		fmt.Fprintln(stderr, summary(res, errColor))
	}
	switch {
	case res.Internal():
		return exitInternal, nil
	case !res.Passed():
		return exitFail, nil
	}
	return exitPass, nil
}

func summary(res check.Result, color bool) string {
	failed := res.Failed()
	s := fmt.Sprintf("%d scenarios, %d steps: %d passed, %d failed", len(res.Scenarios), len(res.Steps), len(res.Steps)-failed, failed)
	if len(res.LoadErrors) > 0 {
		s += fmt.Sprintf("; %d problems kept scenarios from loading", len(res.LoadErrors))
	}
	s += fmt.Sprintf(" (%s)", res.Duration.Round(time.Millisecond))
	return "egress-conformance check: " + mark(res.Passed(), color) + " " + s
}

func mark(pass, color bool) string {
	switch {
	case pass && color:
		return "\033[32mPASS\033[0m"
	case pass:
		return "PASS"
	case color:
		return "\033[31mFAIL\033[0m"
	default:
		return "FAIL"
	}
}

func writeOutputs(f checkFlags, res check.Result, problems []problem.Problem, stdout io.Writer, color bool) error {
	sarifOpts := sarif.Options{ToolName: "egress-conformance", ToolVersion: version(),
		InformationURI: "https://github.com/egress-conformance/egress-conformance", Root: f.root}
	runID := settings.RunID(settings.Getenv, "offline", res.Started)
	if f.sarifFile != "" {
		if err := writeFile(f.sarifFile, func(w io.Writer) error { return sarif.Write(w, problems, sarifOpts) }); err != nil {
			return err
		}
	}
	if f.junitFile != "" {
		if err := mkdirFor(f.junitFile); err != nil {
			return err
		}
		if err := res.WriteJUnit(f.junitFile); err != nil {
			return fmt.Errorf("writing %s: %w", f.junitFile, err)
		}
	}
	if f.reportDir != "" {
		if err := report.Write(f.reportDir, res.Report(runID)); err != nil {
			return err
		}
		if err := res.WriteJUnit(filepath.Join(f.reportDir, "junit.xml")); err != nil {
			return err
		}
	}
	switch f.format {
	case "text":
		if !color {
			return problem.WriteText(stdout, problems)
		}
		for _, p := range problems {
			line := p.String()
			line = strings.Replace(line, ": "+string(p.Level)+": ", ": "+colorLevel(p.Level)+": ", 1)
			if _, err := fmt.Fprintln(stdout, line); err != nil {
				return err
			}
		}
		return nil
	case "github":
		return problem.WriteGitHub(stdout, problems)
	case "sarif":
		return sarif.Write(stdout, problems, sarifOpts)
	case "junit":
		// Ginkgo's writer writes files only: write one and copy it out.
		tmp, err := os.CreateTemp("", "egress-conformance-junit-*.xml")
		if err != nil {
			return err
		}
		tmp.Close()
		defer os.Remove(tmp.Name())
		if err := res.WriteJUnit(tmp.Name()); err != nil {
			return err
		}
		b, err := os.ReadFile(tmp.Name())
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res.Report(runID))
	}
	return nil
}

func colorLevel(l problem.Level) string {
	switch l {
	case problem.Error:
		return "\033[1;31merror\033[0m"
	case problem.Warning:
		return "\033[1;33mwarning\033[0m"
	}
	return "\033[1;36m" + string(l) + "\033[0m"
}

func mkdirFor(path string) error {
	if dir := filepath.Dir(path); dir != "." {
		return os.MkdirAll(dir, 0o755)
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	if err := mkdirFor(path); err != nil {
		return err
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(fh); err != nil {
		fh.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return fh.Close()
}

func istioLibrary() string { return versions.IstioLibrary }

// istioLibraryRelease is the Istio release the offline tier simulates; clusterIstio
// is what the cluster tier installs by default. They differ when the module proxy
// serves no library of the newest release.
func istioLibraryRelease() string { return versions.IstioLibraryRelease }
func clusterIstio() string        { return versions.Istio }
