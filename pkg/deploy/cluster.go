package deploy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/klient/wait"
)

// Cluster is the API server connection every function of this package takes, with
// the run's policy.
type Cluster struct {
	// Client reads and writes objects, typed and unstructured.
	Client client.Client
	// Discovery lists the kinds the server serves, so that Cleanup finds every object
	// carrying the run label. nil: Cleanup looks only at namespaces and CRDs.
	Discovery discovery.DiscoveryInterface
	// Reuse lets EnsureNamespace take over a namespace that another run of the
	// harness created (REUSE_CLUSTER=1). A namespace without the run label is never
	// taken over.
	Reuse bool
	// Injection are the namespace labels that make the mesh inject sidecars
	// (mesh.Installed.InjectionLabels: istio.io/rev=<revision> for a
	// revision-installed mesh). nil: InjectionLabel=enabled, what the harness's own
	// install selects.
	Injection map[string]string
	// Timeouts bound every wait; zero fields take DefaultTimeouts.
	Timeouts Timeouts
	// Logf receives progress lines of long waits; nil: silent.
	Logf func(format string, args ...any)
}

// Timeouts bounds every wait of this package; nothing else hard-codes a duration.
type Timeouts struct {
	// Namespace bounds waiting for a terminating namespace of the same name to go
	// before EnsureNamespace creates it anew.
	Namespace time.Duration
	// ClientReady bounds DeployClient's wait for the client pod to be Ready.
	ClientReady time.Duration
	// CRDEstablished bounds InstallCRDs' wait for every CRD to be Established.
	CRDEstablished time.Duration
	// Cleanup bounds Cleanup: deleting and waiting until everything is gone.
	Cleanup time.Duration
	// Poll is the interval between two checks of every wait.
	Poll time.Duration
}

// DefaultTimeouts are generous enough for a kind node pulling the client image.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Namespace:      2 * time.Minute,
		ClientReady:    3 * time.Minute,
		CRDEstablished: time.Minute,
		Cleanup:        3 * time.Minute,
		Poll:           500 * time.Millisecond,
	}
}

func (c *Cluster) timeouts() Timeouts {
	t, d := c.Timeouts, DefaultTimeouts()
	if t.Namespace <= 0 {
		t.Namespace = d.Namespace
	}
	if t.ClientReady <= 0 {
		t.ClientReady = d.ClientReady
	}
	if t.CRDEstablished <= 0 {
		t.CRDEstablished = d.CRDEstablished
	}
	if t.Cleanup <= 0 {
		t.Cleanup = d.Cleanup
	}
	if t.Poll <= 0 {
		t.Poll = d.Poll
	}
	return t
}

func (c *Cluster) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// Client-side rate limits of NewCluster's clients: client-go's defaults (5 QPS, burst
// 10) make every wait and clean-up of a few dozen objects take seconds per round.
const (
	clientQPS   = 50
	clientBurst = 100
)

// NewCluster connects to the API server of cfg. It makes no request. Unless cfg sets
// higher limits (or its own RateLimiter), its clients may send 50 requests a second.
func NewCluster(cfg *rest.Config) (*Cluster, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.RateLimiter == nil && cfg.QPS < clientQPS {
		cfg.QPS, cfg.Burst = clientQPS, clientBurst
	}
	cl, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	return &Cluster{Client: cl, Discovery: dc}, nil
}

// runIDPattern is a valid label value that is never empty.
var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)

// ValidateRunID accepts a run id that can be the value of RunLabel.
func ValidateRunID(runID string) error {
	if !runIDPattern.MatchString(runID) {
		return fmt.Errorf("run id %q is not a valid label value (1-63 characters [A-Za-z0-9-_.], "+
			"starting and ending with a letter or digit)", runID)
	}
	return nil
}

// poll calls check every interval until it reports done, returns an error, or
// timeout passes; then the error carries the last state check described. A
// cancelled ctx (an interrupt) ends it at once with ctx's error. e2e-framework's
// klient/wait.For does the polling; what it cannot do, say what the wait was
// waiting for when it gives up, the closure keeps.
func poll(ctx context.Context, interval, timeout time.Duration, check func(ctx context.Context) (done bool, state string, err error)) error {
	var state string
	deadline := time.Now().Add(timeout)
	err := wait.For(func(ctx context.Context) (bool, error) {
		done, s, err := check(ctx)
		if s != "" {
			state = s
		}
		return done, err
	}, wait.WithContext(ctx), wait.WithTimeout(max(timeout, time.Nanosecond)), wait.WithInterval(interval), wait.WithImmediate())
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case !time.Now().Before(deadline) || errors.Is(err, context.DeadlineExceeded):
		if state == "" {
			return fmt.Errorf("not done after %s", timeout)
		}
		return fmt.Errorf("not done after %s: %s", timeout, state)
	}
	return err
}
