package upgrade

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
)

// MeshIstio is Istio through the istioctl of each version, by way of pkg/mesh:
// the same install arguments, overlay, bounds and ownership rules as the cluster
// tier.
type MeshIstio struct {
	// Istioctl maps a version to its acquired istioctl (mesh.Acquire).
	Istioctl map[string]mesh.Istioctl
	// Options carry the overlay, kubeconfig and context; Revision is set per call.
	Options  mesh.InstallOptions
	Timeouts mesh.Timeouts
	Kube     kubernetes.Interface
	// Out receives istioctl's output; nil: quiet.
	Out io.Writer
}

func (m MeshIstio) mesh(version, rev string) (*mesh.Mesh, error) {
	ctl, ok := m.Istioctl[version]
	if !ok || ctl.Path == "" {
		return nil, fmt.Errorf("no istioctl %s acquired", version)
	}
	o := m.Options
	o.Revision = rev
	// The harness created the cluster and installs every control plane on it.
	return &mesh.Mesh{Istioctl: ctl, Options: o, Timeouts: m.Timeouts, Out: m.Out, Owned: true}, nil
}

// Install implements Istio.
func (m MeshIstio) Install(ctx context.Context, version, rev string) error {
	mm, err := m.mesh(version, revisionOption(rev))
	if err != nil {
		return err
	}
	return mm.Install(ctx)
}

// Uninstall implements Istio. The default revision is named as such
// (`--revision default`): istioctl then prunes only objects labelled
// istio.io/rev=default, never the other revision nor the shared CRDs.
func (m MeshIstio) Uninstall(ctx context.Context, version, rev string) error {
	if rev == "" {
		return fmt.Errorf("uninstall: no revision: the upgrade gate never purges every revision")
	}
	mm, err := m.mesh(version, rev)
	if err != nil {
		return err
	}
	return mm.Uninstall(ctx)
}

// WaitReady implements Istio.
func (m MeshIstio) WaitReady(ctx context.Context, rev string) error {
	return mesh.WaitDeployments(ctx, m.Kube, mesh.Targets(mesh.InstallOptions{Revision: revisionOption(rev)}), m.Timeouts, m.Out)
}

// Precheck implements Istio: version's `istioctl x precheck --from-version
// fromMinor`, bounded by Timeouts.Ready. Its output is returned either way.
func (m MeshIstio) Precheck(ctx context.Context, version, fromMinor string) (string, error) {
	ctl, ok := m.Istioctl[version]
	if !ok || ctl.Path == "" {
		return "", fmt.Errorf("no istioctl %s acquired", version)
	}
	t := m.Timeouts
	if t.Ready <= 0 {
		t.Ready = mesh.DefaultTimeouts().Ready
	}
	ctx, cancel := context.WithTimeout(ctx, t.Ready)
	defer cancel()
	args := precheckArgs(fromMinor, m.Options.Kubeconfig, m.Options.Context)
	var out bytes.Buffer
	w := io.Writer(&out)
	if m.Out != nil {
		fmt.Fprintf(m.Out, "istio: %s\n", mesh.FormatCommand(ctl.Path, args))
		w = io.MultiWriter(&out, m.Out)
	}
	cmd := exec.CommandContext(ctx, ctl.Path, args...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", mesh.FormatCommand(filepath.Base(ctl.Path), args), err, clipOutput(out.String()))
	}
	return out.String(), nil
}
