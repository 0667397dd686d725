package mesh

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/egress-conformance/egress-conformance/pkg/world"
)

// IstioNamespace is where the overlay installs istiod and the egress gateway
// (pkg/world's description of the installed world).
const IstioNamespace = world.IstioNamespace

// EgressGatewayName is the egress gateway's Deployment and Service name; its pods
// carry istio=egressgateway and app=istio-egressgateway (world.EgressGateway).
const EgressGatewayName = world.EgressGatewayName

// OverlayFile is the IstioOperator overlay, relative to the repository root.
const OverlayFile = "fixtures/istio/egress.yaml"

// ModulePath identifies this repository's go.mod when DefaultOverlay looks for it.
const ModulePath = "github.com/egress-conformance/egress-conformance"

// InstallOptions shape `istioctl install` and `istioctl uninstall`.
type InstallOptions struct {
	// Overlay is the IstioOperator file passed with -f (see DefaultOverlay).
	Overlay string
	// ExtraOverlays are further IstioOperator files, passed after Overlay with
	// their own --filename: istioctl merges files in order, later ones winning
	// (e.g. the ambient overlay, pkg/ambient.OverlayFile).
	ExtraOverlays []string
	// Revision installs a revisioned control plane (istiod-<revision>), for canary
	// upgrades. Empty: the default revision.
	Revision string
	// Hub and Tag override the images' registry and tag (e.g. images preloaded into
	// kind). Empty: the images of istioctl's own version.
	Hub, Tag string
	// Set holds extra `--set path=value` overrides, passed in order.
	Set []string
	// Kubeconfig and Context select the cluster; both are passed when set, so
	// istioctl never falls back to the current kubeconfig context by accident.
	Kubeconfig, Context string
	// ReadinessTimeout is istioctl's own --readiness-timeout; zero leaves
	// istioctl's default.
	ReadinessTimeout time.Duration
}

// Validate reports options istioctl would refuse or misread.
func (o InstallOptions) Validate() error {
	if o.Overlay == "" {
		return errors.New("install options: no overlay file")
	}
	for _, f := range o.ExtraOverlays {
		if f == "" {
			return errors.New("install options: an empty extra overlay file name")
		}
	}
	if o.Revision != "" {
		if errs := validation.IsDNS1123Label(o.Revision); len(errs) > 0 {
			return fmt.Errorf("install options: revision %q: %s", o.Revision, strings.Join(errs, "; "))
		}
	}
	for _, s := range o.Set {
		if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
			return fmt.Errorf("install options: --set %q: want path=value", s)
		}
	}
	return nil
}

// InstallArgs is the exact argument list of `istioctl install` for o.
func InstallArgs(o InstallOptions) []string {
	args := []string{"install", "--skip-confirmation", "--filename", o.Overlay}
	for _, f := range o.ExtraOverlays {
		args = append(args, "--filename", f)
	}
	if o.Revision != "" {
		args = append(args, "--revision", o.Revision)
	}
	if o.Hub != "" {
		args = append(args, "--set", "hub="+o.Hub)
	}
	if o.Tag != "" {
		args = append(args, "--set", "tag="+o.Tag)
	}
	for _, s := range o.Set {
		args = append(args, "--set", s)
	}
	if o.ReadinessTimeout > 0 {
		args = append(args, "--readiness-timeout", o.ReadinessTimeout.String())
	}
	return append(args, kubeArgs(o)...)
}

// UninstallArgs is the exact argument list of `istioctl uninstall` for o: with a
// revision, only that revision's control plane; without, --purge (every revision,
// the gateways and Istio's CRDs). Mesh.Uninstall runs it only on a mesh the
// harness installed.
func UninstallArgs(o InstallOptions) []string {
	args := []string{"uninstall", "--skip-confirmation"}
	if o.Revision != "" {
		args = append(args, "--revision", o.Revision)
	} else {
		args = append(args, "--purge")
	}
	return append(args, kubeArgs(o)...)
}

func kubeArgs(o InstallOptions) []string {
	var args []string
	if o.Kubeconfig != "" {
		args = append(args, "--kubeconfig", o.Kubeconfig)
	}
	if o.Context != "" {
		args = append(args, "--context", o.Context)
	}
	return args
}

// FormatCommand renders a command line for humans (dry runs, logs): arguments
// with shell-special characters are single-quoted.
func FormatCommand(bin string, args []string) string {
	parts := make([]string, 0, len(args)+1)
	for _, a := range append([]string{bin}, args...) {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// DefaultOverlay finds fixtures/istio/egress.yaml by walking up from the working
// directory to this repository's go.mod (Ginkgo runs suites from their own
// directory).
func DefaultOverlay() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if IsRepoRoot(dir) {
			p := filepath.Join(dir, filepath.FromSlash(OverlayFile))
			if _, err := os.Stat(p); err != nil {
				return "", err
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found: no go.mod of %s above the working directory", OverlayFile, ModulePath)
		}
		dir = parent
	}
}

// IsRepoRoot reports whether dir holds the go.mod of this repository's module.
func IsRepoRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.TrimSpace(mod) == ModulePath
		}
	}
	return false
}

// pipeWaitDelay bounds the wait for istioctl's output pipes after it exits or is
// killed (a child may still hold them).
const pipeWaitDelay = 10 * time.Second

// Mesh is one Istio installation driven by istioctl.
type Mesh struct {
	Istioctl Istioctl
	Options  InstallOptions
	Timeouts Timeouts
	// Out receives progress and istioctl's own output; nil: quiet.
	Out io.Writer
	// Owned says the harness installed this mesh, so Uninstall may remove it.
	// Install sets it as soon as it starts istioctl, so a half-done install is
	// still cleaned up. Set it yourself only for a mesh the harness provably
	// installed (e.g. in a cluster it created); never for a mesh found in an
	// existing cluster (see Guard).
	Owned bool
}

// Install runs `istioctl install` with InstallArgs(m.Options), bounded by
// Timeouts.Install; istioctl's own readiness wait gets Timeouts.Ready unless
// Options.ReadinessTimeout is set. Call Guard first against an existing cluster.
func (m *Mesh) Install(ctx context.Context) error {
	if err := m.Options.Validate(); err != nil {
		return err
	}
	t := m.Timeouts.withDefaults()
	opts := m.Options
	if opts.ReadinessTimeout == 0 {
		// Shorter than the process bound, so istioctl itself reports which
		// resources are not ready before it would be killed.
		opts.ReadinessTimeout = t.Ready
	}
	m.Owned = true
	if err := m.run(ctx, t.Install, InstallArgs(opts)); err != nil {
		return fmt.Errorf("install Istio %s: %w", m.Istioctl.Version, err)
	}
	return nil
}

// Uninstall removes the mesh with UninstallArgs(m.Options) if the harness
// installed it (Owned), and otherwise leaves it alone and says so.
func (m *Mesh) Uninstall(ctx context.Context) error {
	out := orDiscard(m.Out)
	if !m.Owned {
		fmt.Fprintf(out, "istio: leaving the mesh in place: the harness did not install it\n")
		return nil
	}
	if err := m.run(ctx, m.Timeouts.withDefaults().Uninstall, UninstallArgs(m.Options)); err != nil {
		return fmt.Errorf("uninstall Istio %s: %w", m.Istioctl.Version, err)
	}
	return nil
}

// run runs istioctl with args, streaming its output to m.Out; on failure the error
// carries the end of that output.
func (m *Mesh) run(ctx context.Context, timeout time.Duration, args []string) error {
	if m.Istioctl.Path == "" {
		return errors.New("no istioctl: call Acquire first")
	}
	out := orDiscard(m.Out)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fmt.Fprintf(out, "istio: %s\n", FormatCommand(m.Istioctl.Path, args))
	var captured bytes.Buffer
	w := io.MultiWriter(out, &captured)
	cmd := exec.CommandContext(ctx, m.Istioctl.Path, args...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = pipeWaitDelay
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (bound %s)", ctx.Err(), timeout)
		}
		return fmt.Errorf("%s: %w\n%s", FormatCommand(filepath.Base(m.Istioctl.Path), args), err, tail(captured.Bytes()))
	}
	return nil
}
