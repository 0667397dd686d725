// Command egress-conformance checks Istio egress scenarios: offline in seconds
// with Istio's own validation, analyzers and xDS simulation linked in (`check`),
// and on a cluster by starting the cluster tier's Ginkgo suite (`e2e`, `plan`).
// `init` writes a scenario skeleton from a team's existing Istio YAML.
//
// Exit codes (also in `egress-conformance help`): 0 every scenario passed; 1 a
// scenario failed or did not load; 2 bad usage or input (an unknown flag, a
// directory that does not exist or holds no scenario); 3 internal error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// Exit codes.
const (
	exitPass     = 0
	exitFail     = 1
	exitUsage    = 2
	exitInternal = 3
)

const usage = `egress-conformance checks Istio egress scenarios: which way a request leaves
the mesh (straight from its sidecar, through the egress gateway, or nowhere).

Usage:
  egress-conformance check [flags] [DIR...]   offline tier: Istio's validation, analyzers and
                                              xDS simulation on every step, no cluster (seconds)
  egress-conformance plan  [flags] [DIR]      print the cluster tier's plan (what ` + "`make e2e DRY_RUN=1`" + `
                                              prints), touching nothing
  egress-conformance e2e   [flags] [DIR]      run the cluster tier (kind + pinned Istio + real
                                              traffic) by running its Ginkgo suite from a checkout
  egress-conformance init  [flags] FILE|DIR...  write a scenario skeleton from existing Istio YAML
  egress-conformance version                  print the version and the Istio it links

DIR is a scenario directory (holding scenario.yaml) or a directory of them.
Run 'egress-conformance COMMAND -h' for a command's flags.

Exit codes:
  0  every scenario passed
  1  a scenario failed, or did not load (its problems name file:line)
  2  bad usage or input: unknown command or flag, a DIR that does not exist or holds no scenario
  3  internal error: the harness or Istio's code broke, or results could not be written

Environment: NO_COLOR disables colour (colour is only used on a terminal anyway).
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is bad usage: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// realMain is the whole command; it returns the exit code.
func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	code := exitPass
	switch args[0] {
	case "check":
		code, err = runCheck(args[1:], stdout, stderr)
	case "plan":
		code, err = runPlan(args[1:], stdout, stderr)
	case "e2e":
		code, err = runE2E(args[1:], stdout, stderr)
	case "init", "new":
		code, err = runInit(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionLine())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = usagef("unknown command %q", args[0])
	}
	if err == nil {
		return code
	}
	var ue usageError
	switch {
	case errors.Is(err, errHelp):
		return exitPass
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "egress-conformance: %s\nRun 'egress-conformance help' for usage.\n", ue.msg)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "egress-conformance: %v\n", err)
		if code == exitPass {
			code = exitInternal
		}
		return code
	}
}

// version is the module version `go install …@version` records, "(devel)" in a
// checkout's build.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func versionLine() string {
	var b strings.Builder
	fmt.Fprintf(&b, "egress-conformance %s", version())
	fmt.Fprintf(&b, " (offline tier: istio.io/istio %s, simulating Istio %s; cluster tier default: Istio %s)", istioLibrary(), istioLibraryRelease(), clusterIstio())
	return b.String()
}
