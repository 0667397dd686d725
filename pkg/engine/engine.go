// Package engine holds the orchestration both cluster suites (suites/egress,
// suites/upgrade) share, as plain functions the suites call and unit tests drive
// with fakes: what to do with a mesh found on the cluster, how to tear a run down
// so that nothing is skipped, which steps never ran and why, and which failures
// keep the cluster. The suites keep the Ginkgo structure (containers, labels,
// node timeouts) and the reporting. docs/engine.md says what has moved here and
// what still lives in the suites.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Action is one piece of a tear-down.
type Action struct {
	Name string
	Run  func(ctx context.Context) error
}

// TearDown runs every action in order, whatever the ones before it returned or
// however they panicked (a suite's Expect panics), each with a context that is
// not cancelled (the run's own may be: a timeout or an interrupt is what often
// ends a run), and returns every failure joined, each named. Put deleting the
// cluster last: a failing per-object clean-up must never leave the kind cluster
// behind, where the next run would find it.
func TearDown(ctx context.Context, logf func(format string, args ...any), actions ...Action) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, a := range actions {
		if err := runAction(ctx, a); err != nil {
			if logf != nil {
				logf("tear-down: %s: %v", a.Name, err)
			}
			errs = append(errs, fmt.Errorf("%s: %w", a.Name, err))
		}
	}
	return errors.Join(errs...)
}

func runAction(ctx context.Context, a Action) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panicked: %v", r)
		}
	}()
	return a.Run(ctx)
}

// diagnosticsTimeout bounds collecting one failed step's diagnostics (logs, config
// dumps, every proxy's config through exec).
const diagnosticsTimeout = 3 * time.Minute

// diagnosticsContext is the context to collect diagnostics of a failed step with:
// not the step's own, which is typically cancelled (the step ran out of time),
// but one bounded by d that carries its values.
func diagnosticsContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

// Outcome records whether a run failed, bring-up included, so that
// KEEP_CLUSTER_ON_FAILURE keeps the cluster of a run whose bring-up failed as
// well as one whose step failed. Safe for concurrent use.
type Outcome struct {
	mu      sync.Mutex
	reasons []string
}

// Fail records a failure.
func (o *Outcome) Fail(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reasons = append(o.reasons, reason)
}

// Failed says whether anything failed.
func (o *Outcome) Failed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.reasons) > 0
}

// Reasons are the recorded failures, in order.
func (o *Outcome) Reasons() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.reasons...)
}

// Guard runs fn, a stage of the run whose failures are panics (Ginkgo's Fail, a
// failed Expect): it records the stage as failed and re-panics, so the suite
// still sees the failure.
func (o *Outcome) Guard(stage string, fn func()) {
	ok := false
	defer func() {
		if !ok {
			o.Fail(stage + " failed")
		}
	}()
	fn()
	ok = true
}

// MeshDecision says what the run does with Istio on its cluster.
type MeshDecision struct {
	// Install: the harness installs (istioctl install is idempotent) and owns the
	// mesh, so it may uninstall it afterwards.
	Install bool
	// Why, in words, for the log and the report.
	Why string
}

// DecideMesh decides whether the harness installs Istio or uses what it found:
//
//   - a kind cluster it creates or reuses (its own, marked) gets the harness's
//     install;
//   - an existing cluster with any part of a mesh (mesh.Discover: istiod, Istio's
//     injection webhooks or API groups — a remote or managed control plane has
//     no istiod) is tested as it is: never installed over, never uninstalled;
//   - an existing cluster without any Istio gets the harness's install, which
//     it then owns and removes afterwards.
func DecideMesh(mode cluster.Mode, found mesh.Installed) MeshDecision {
	switch {
	case mode != cluster.ModeExisting:
		return MeshDecision{Install: true, Why: "the harness's own kind cluster"}
	case found.Any():
		return MeshDecision{Why: "using the mesh already installed (" + found.String() + "); the harness never installs over or removes it"}
	default:
		return MeshDecision{Install: true, Why: "the existing cluster has no Istio: the harness installs it and removes it afterwards"}
	}
}

// NewCluster is the deploy.Cluster a run works through: with REUSE_CLUSTER=1
// (plan mode reuse) EnsureNamespace takes over the namespaces an interrupted run
// of the harness left, as the refusal without it promises.
// Its waits are bounded by t.Deploy.
func NewCluster(cfg *rest.Config, plan cluster.Plan, t Timeouts) (*deploy.Cluster, error) {
	c, err := deploy.NewCluster(cfg)
	if err != nil {
		return nil, err
	}
	c.Reuse = plan.Mode == cluster.ModeReuse
	c.Timeouts = t.Deploy
	return c, nil
}

// RunImages are the images a run pulls onto its nodes: Istio's (per version, from
// the run's hub), the clients' curl image, and the hermetic stand-in's nginx when
// EXTERNAL=cluster. PRELOAD_IMAGES=1 loads them from the host's Docker into kind
// before anything pulls them (no registry pulls from the nodes: pull limits,
// slow or absent networks).
func RunImages(istio []mesh.Config, hermetic bool) []string {
	var out []string
	for _, c := range istio {
		out = append(out, c.Images()...)
	}
	out = append(out, versions.CurlImage)
	if hermetic {
		out = append(out, versions.NginxImage)
	}
	return out
}

// PreloadImages loads every image with load (cluster.Provider.LoadImage: from the
// host's Docker into each kind node that lacks it), trying all of them and
// returning every failure, each naming its image.
func PreloadImages(ctx context.Context, load func(ctx context.Context, image string, args ...string) error, images []string) error {
	var errs []error
	for _, im := range images {
		if err := load(ctx, im); err != nil {
			errs = append(errs, fmt.Errorf("preload %s (pull it on this host first: docker pull %s): %w", im, im, err))
		}
	}
	return errors.Join(errs...)
}
