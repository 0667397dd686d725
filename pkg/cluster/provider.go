package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/support"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Provider is an e2e-framework cluster provider on the kind Go library, with the
// modes of [Decide]. Use it with the stock envfuncs, keyed by [Provider.Name]:
//
//	p, err := cluster.NewProvider(opts)
//	envfuncs.CreateClusterWithConfig(p, p.Name(), "")   // "" = Options.KindConfig
//	envfuncs.LoadImageToCluster(p.Name(), image)
//	envfuncs.DestroyCluster(p.Name())                  // deletes only what it may
//
// Constructing a Provider touches neither Docker nor any cluster; Create does.
type Provider struct {
	opts     Options
	run      Runner
	out      io.Writer
	timeouts Timeouts
	existing *clientcmdapi.Config // ModeExisting: the guarded, minified kubeconfig

	mu        sync.Mutex
	kind      *kindcluster.Provider // created lazily: constructing it must not need Docker
	plan      Plan                  // decided by Create
	dir       string                // harness-owned directory holding kubeconfig
	kubecfg   string                // kubeconfig file handed to e2e-framework
	restCfg   *rest.Config
	created   bool   // this process created the kind cluster
	nodeImage string // node image of the cluster in use (kind modes)
	version   string // WithVersion (unsupported unless it is the linked kind version)
	path      string // WithPath (unsupported)

	failed atomic.Bool
}

var (
	_ support.E2EClusterProvider                = (*Provider)(nil)
	_ support.E2EClusterProviderWithImageLoader = (*Provider)(nil)
)

// ErrExistingCluster is wrapped by operations that only make sense on a kind cluster
// (image loading, node log export) when the provider is in ModeExisting.
var ErrExistingCluster = errors.New("not possible on an existing cluster")

// NewProvider checks opts (the mode decision and, for an existing cluster, the
// context guard) and returns a provider. It runs no command and contacts no cluster.
func NewProvider(opts Options) (*Provider, error) {
	plan, err := Decide(opts)
	if err != nil {
		return nil, err
	}
	p := &Provider{opts: opts, run: opts.Runner, out: opts.Out, timeouts: opts.Timeouts.withDefaults(), plan: plan}
	if p.run == nil {
		p.run = ExecRunner
	}
	if p.out == nil {
		p.out = os.Stderr
	}
	if plan.Mode == ModeExisting {
		if p.existing, err = ExistingConfig(plan.Kubeconfig, plan.Context); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// WithNodeImage overrides the node image, as KIND_NODE_IMAGE does (for WithOpts).
func WithNodeImage(image string) support.ClusterOpts {
	return func(c support.E2EClusterProvider) {
		if p, ok := c.(*Provider); ok {
			p.mu.Lock()
			p.opts.NodeImage = image
			p.mu.Unlock()
		}
	}
}

// WithKindConfig sets the kind config file, as KIND_CONFIG does (for WithOpts).
func WithKindConfig(path string) support.ClusterOpts {
	return func(c support.E2EClusterProvider) {
		if p, ok := c.(*Provider); ok {
			p.mu.Lock()
			p.opts.KindConfig = path
			p.mu.Unlock()
		}
	}
}

// Name is the kind cluster name (in ModeExisting only the e2e-framework context key).
// Pass it to the envfuncs.
func (p *Provider) Name() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return nameOrDefault(p.opts.Name)
}

// Plan is the current decision. Before Create it reflects options changed through
// WithName / WithOpts; Create fixes it.
func (p *Provider) Plan() (Plan, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.currentPlan()
}

func (p *Provider) currentPlan() (Plan, error) {
	if p.kubecfg != "" {
		return p.plan, nil
	}
	return Decide(p.opts)
}

// Created reports whether this process created the kind cluster (false when it was
// reused or is an existing cluster). Only such a cluster is ever deleted.
func (p *Provider) Created() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.created
}

// NodeImage is the node image of the kind cluster in use, for the report ("" for
// an existing cluster, or before Create).
func (p *Provider) NodeImage() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nodeImage
}

// SetFailed records whether the run failed; Destroy keeps the cluster of a failed
// run when KEEP_CLUSTER_ON_FAILURE=1.
func (p *Provider) SetFailed(failed bool) { p.failed.Store(failed) }

// SetDefaults implements E2EClusterProvider; NewProvider already set them.
func (p *Provider) SetDefaults() support.E2EClusterProvider { return p }

// WithName sets the kind cluster name, overriding CLUSTER_NAME ("" keeps it). It
// has no effect after Create.
func (p *Provider) WithName(name string) support.E2EClusterProvider {
	p.mu.Lock()
	defer p.mu.Unlock()
	if name != "" && p.kubecfg == "" {
		p.opts.Name = name
	}
	return p
}

// WithVersion implements E2EClusterProvider. For the kind CLI it picks the kind
// version to install; this provider links kind as a library, so only the pinned
// version (KIND_VERSION in versions.env) is accepted, and Create rejects any other.
func (p *Provider) WithVersion(version string) support.E2EClusterProvider {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.version = version
	return p
}

// WithPath implements E2EClusterProvider. It names a kind binary, which this
// provider does not use: Create rejects a non-empty path.
func (p *Provider) WithPath(path string) support.E2EClusterProvider {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.path = path
	return p
}

// WithOpts applies ClusterOpts such as WithNodeImage and WithKindConfig.
func (p *Provider) WithOpts(opts ...support.ClusterOpts) support.E2EClusterProvider {
	for _, o := range opts {
		o(p)
	}
	return p
}

// Create brings up (or finds) the cluster and returns the path of a kubeconfig
// that holds only its context, as current-context. args are kind CLI flags in
// e2e-framework's kind provider; this provider takes none (use Options or
// CreateWithConfig).
func (p *Provider) Create(ctx context.Context, args ...string) (string, error) {
	if len(args) > 0 {
		return "", fmt.Errorf("cluster provider: Create(%q): kind CLI arguments are not supported by the kind "+
			"library provider; use Options or CreateWithConfig", args)
	}
	return p.create(ctx, "")
}

// CreateWithConfig is Create with the kind config file kindConfig ("" means
// Options.KindConfig, else DefaultKindConfig). In ModeExisting the file is not read.
func (p *Provider) CreateWithConfig(ctx context.Context, kindConfig string) (string, error) {
	return p.create(ctx, kindConfig)
}

func (p *Provider) create(ctx context.Context, kindConfig string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kubecfg != "" {
		return p.kubecfg, nil // already set up by this provider
	}
	opts := p.opts
	if kindConfig != "" {
		opts.KindConfig = kindConfig
	}
	plan, err := Decide(opts)
	if err != nil {
		return "", err
	}
	if plan.Mode == ModeExisting {
		return p.useExisting(ctx, plan)
	}

	if p.path != "" {
		return "", fmt.Errorf("cluster provider: WithPath(%q): this provider links the kind Go library and runs "+
			"no kind binary", p.path)
	}
	if pinned := versions.Pins["KIND_VERSION"]; p.version != "" && p.version != pinned {
		return "", fmt.Errorf("cluster provider: WithVersion(%q): kind is linked as a Go library at %s "+
			"(KIND_VERSION in pkg/versions/versions.env and go.mod)", p.version, pinned)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := CheckDockerWith(ctx, p.run, p.timeouts.Docker); err != nil {
		return "", err
	}

	kp := p.kindProvider()
	clusters, err := kp.List()
	if err != nil {
		return "", fmt.Errorf("list kind clusters: %w", kindError(err))
	}
	exists := slices.Contains(clusters, plan.Name)
	if exists && plan.Mode != ModeReuse {
		return "", fmt.Errorf("kind cluster %q already exists: set %s=1 to reuse it (only if the harness "+
			"created it), set CLUSTER_NAME to another name, or delete it: kind delete cluster --name %s",
			plan.Name, EnvReuse, plan.Name)
	}

	if p.dir == "" {
		if p.dir, err = os.MkdirTemp("", "egress-conformance-"+plan.Name+"-"); err != nil {
			return "", fmt.Errorf("kubeconfig directory: %w", err)
		}
	}
	kubecfg := filepath.Join(p.dir, "kubeconfig")
	p.plan = plan
	if exists {
		err = p.reuse(ctx, kp, plan, kubecfg)
	} else {
		err = p.createKind(ctx, kp, plan, kubecfg)
	}
	if err != nil {
		if !p.created {
			p.removeDir()
		}
		return "", err
	}
	p.kubecfg = kubecfg
	return kubecfg, nil
}

// kindProvider returns the kind library provider, creating it on first use.
// Docker is named explicitly: auto-detection would run docker/podman/nerdctl,
// and the preflight and image loading are Docker's anyway.
func (p *Provider) kindProvider() *kindcluster.Provider {
	if p.kind == nil {
		p.kind = kindcluster.NewProvider(
			kindcluster.ProviderWithLogger(&kindLogger{w: p.out}),
			kindcluster.ProviderWithDocker(),
		)
	}
	return p.kind
}

// useExisting writes the guarded single-context kubeconfig and checks that its API
// server answers.
func (p *Provider) useExisting(ctx context.Context, plan Plan) (string, error) {
	kubecfg, rc, err := p.setUpExisting(ctx, plan)
	if err != nil {
		p.removeDir()
		return "", err
	}
	p.plan, p.restCfg, p.kubecfg = plan, rc, kubecfg
	return kubecfg, nil
}

func (p *Provider) setUpExisting(ctx context.Context, plan Plan) (string, *rest.Config, error) {
	if p.dir == "" {
		dir, err := os.MkdirTemp("", "egress-conformance-existing-")
		if err != nil {
			return "", nil, fmt.Errorf("kubeconfig directory: %w", err)
		}
		p.dir = dir
	}
	kubecfg := filepath.Join(p.dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*p.existing, kubecfg); err != nil {
		return "", nil, fmt.Errorf("write kubeconfig for context %q: %w", plan.Context, err)
	}
	rc, err := clientcmd.NewDefaultClientConfig(*p.existing, nil).ClientConfig()
	if err != nil {
		return "", nil, fmt.Errorf("context %q: %w", plan.Context, err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return "", nil, fmt.Errorf("context %q: %w", plan.Context, err)
	}
	actx, cancel := context.WithTimeout(ctx, p.timeouts.API)
	defer cancel()
	if err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(actx).Error(); err != nil {
		return "", nil, fmt.Errorf("context %q (server %s) does not answer: %w", plan.Context, rc.Host, err)
	}
	return kubecfg, rc, nil
}

// reuse adopts an existing kind cluster after checking it is the harness's own and
// runs the requested node image.
func (p *Provider) reuse(ctx context.Context, kp *kindcluster.Provider, plan Plan, kubecfg string) error {
	rc, cs, err := p.writeKindKubeconfig(kp, plan.Name, kubecfg)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, p.timeouts.API)
	defer cancel()
	m, err := readMarker(actx, cs.CoreV1().ConfigMaps(MarkerNamespace), plan.Name)
	if errors.Is(err, ErrNotOurs) {
		return fmt.Errorf("kind cluster %q exists but %w: the harness will neither use nor delete it. "+
			"Delete it yourself (kind delete cluster --name %s) or set CLUSTER_NAME to another name",
			plan.Name, err, plan.Name)
	}
	if err != nil {
		return fmt.Errorf("kind cluster %q exists but its ownership cannot be checked (%w); if its API server is "+
			"down, delete it (kind delete cluster --name %s) and run again", plan.Name, err, plan.Name)
	}
	if m.NodeImage != plan.NodeImage {
		return fmt.Errorf("kind cluster %q runs node image %s, but %s is requested: delete it "+
			"(kind delete cluster --name %s) or unset %s", plan.Name, m.NodeImage, plan.NodeImage, plan.Name, EnvReuse)
	}
	fmt.Fprintf(p.out, "Reusing kind cluster %q (created by egress-conformance at %s)\n",
		plan.Name, m.CreatedAt.Format(time.RFC3339))
	p.restCfg, p.nodeImage, p.created = rc, m.NodeImage, false
	return nil
}

// createKind creates the kind cluster, then marks it as the harness's own.
func (p *Provider) createKind(ctx context.Context, kp *kindcluster.Provider, plan Plan, kubecfg string) error {
	cfg, err := KindConfig(plan.KindConfig, plan.Name, plan.NodeImage)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.out, "Creating kind cluster %q with node image %s (takes a few minutes) ...\n", plan.Name, plan.NodeImage)
	// kind's Create takes no context: it is bounded by WaitForReady, and on failure
	// deletes its nodes itself unless retained.
	err = kp.Create(plan.Name,
		kindcluster.CreateWithV1Alpha4Config(cfg),
		kindcluster.CreateWithNodeImage(plan.NodeImage),
		kindcluster.CreateWithWaitForReady(p.timeouts.NodeReady),
		kindcluster.CreateWithKubeconfigPath(kubecfg), // never the user's ~/.kube/config
		kindcluster.CreateWithRetain(plan.KeepOnFailure),
		kindcluster.CreateWithDisplayUsage(false),
		kindcluster.CreateWithDisplaySalutation(false),
	)
	if err != nil {
		if plan.KeepOnFailure {
			fmt.Fprintf(p.out, "Kept the nodes of the failed kind cluster %q (%s=1); delete them with: "+
				"kind delete cluster --name %s\n", plan.Name, EnvKeepOnFailure, plan.Name)
		}
		return fmt.Errorf("create kind cluster %q: %w", plan.Name, kindError(err))
	}
	p.created, p.nodeImage = true, plan.NodeImage

	err = p.markOwned(ctx, kp, plan, kubecfg)
	if err == nil {
		return nil
	}
	if plan.DeleteAfterFailedCreate() {
		if derr := kp.Delete(plan.Name, kubecfg); derr != nil {
			err = fmt.Errorf("%w; deleting the cluster failed too: %v (run: kind delete cluster --name %s)",
				err, kindError(derr), plan.Name)
		}
		p.created = false
	} else {
		fmt.Fprintf(p.out, "Kept kind cluster %q after the failure; delete it with: kind delete cluster --name %s\n",
			plan.Name, plan.Name)
	}
	return fmt.Errorf("set up kind cluster %q: %w", plan.Name, err)
}

func (p *Provider) markOwned(ctx context.Context, kp *kindcluster.Provider, plan Plan, kubecfg string) error {
	rc, cs, err := p.writeKindKubeconfig(kp, plan.Name, kubecfg)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, p.timeouts.API)
	defer cancel()
	m := Marker{Cluster: plan.Name, NodeImage: plan.NodeImage, CreatedAt: time.Now()}
	if err := writeMarker(actx, cs.CoreV1().ConfigMaps(MarkerNamespace), m); err != nil {
		return err
	}
	p.restCfg = rc
	return nil
}

// writeKindKubeconfig writes the kubeconfig of kind cluster name (host address,
// current-context kind-<name>) to path and returns clients for it.
func (p *Provider) writeKindKubeconfig(kp *kindcluster.Provider, name, path string) (*rest.Config, kubernetes.Interface, error) {
	raw, err := kp.KubeConfig(name, false)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig of kind cluster %q: %w", name, kindError(err))
	}
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		return nil, nil, fmt.Errorf("write kubeconfig of kind cluster %q: %w", name, err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig of kind cluster %q: %w", name, err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("client for kind cluster %q: %w", name, err)
	}
	return rc, cs, nil
}

// GetKubeconfig is the kubeconfig file written by Create ("" before).
func (p *Provider) GetKubeconfig() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kubecfg
}

// GenerateKubeconfig rewrites the kubeconfig file from its source (kind, or the
// guarded existing context) and returns its path. It takes no arguments.
func (p *Provider) GenerateKubeconfig(args ...string) (string, error) {
	if len(args) > 0 {
		return "", fmt.Errorf("cluster provider: GenerateKubeconfig(%q): arguments are not supported", args)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kubecfg == "" {
		return "", errors.New("cluster provider: GenerateKubeconfig before Create")
	}
	if p.plan.Mode == ModeExisting {
		if err := clientcmd.WriteToFile(*p.existing, p.kubecfg); err != nil {
			return "", fmt.Errorf("write kubeconfig for context %q: %w", p.plan.Context, err)
		}
		return p.kubecfg, nil
	}
	rc, _, err := p.writeKindKubeconfig(p.kindProvider(), p.plan.Name, p.kubecfg)
	if err != nil {
		return "", err
	}
	p.restCfg = rc
	return p.kubecfg, nil
}

// GetKubectlContext is the context name in the kubeconfig: kind-<name>, or
// KUBE_CONTEXT for an existing cluster.
func (p *Provider) GetKubectlContext() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	plan, err := p.currentPlan()
	if err == nil && plan.Mode == ModeExisting {
		return plan.Context
	}
	return "kind-" + nameOrDefault(p.opts.Name)
}

// KubernetesRestConfig is the REST config of the cluster (nil before Create).
func (p *Provider) KubernetesRestConfig() *rest.Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restCfg
}

// WaitForControlPlane waits, at most Timeouts.ControlPlane, until the cluster can
// take the suites: for kind, every node and the kube-system pods (control plane,
// kube-proxy, kindnet, CoreDNS) Ready; for an existing cluster, a Ready node.
func (p *Provider) WaitForControlPlane(ctx context.Context, client klient.Client) error {
	p.mu.Lock()
	kind := p.plan.Mode != ModeExisting
	rc := p.restCfg
	p.mu.Unlock()
	if client != nil && client.RESTConfig() != nil {
		rc = client.RESTConfig()
	}
	if rc == nil {
		return errors.New("cluster provider: WaitForControlPlane before Create")
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("wait for control plane: %w", err)
	}
	return waitReady(ctx, cs, kind, p.timeouts)
}

// Destroy deletes the kind cluster if, and only if, this process created it and
// the plan does not keep it (see Plan.DeleteAfterRun); otherwise it says why the
// cluster is kept and how to use or delete it. An existing cluster is never touched.
func (p *Provider) Destroy(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kubecfg == "" {
		return nil // nothing was set up
	}
	plan := p.plan
	if plan.Mode == ModeExisting {
		p.removeDir()
		return nil
	}
	if reason := plan.keepReason(p.created, p.failed.Load()); reason != "" {
		fmt.Fprintf(p.out, "Keeping kind cluster %q: %s.\n  use it:    kubectl --kubeconfig %s get pods -A\n"+
			"  delete it: kind delete cluster --name %s\n", plan.Name, reason, p.kubecfg, plan.Name)
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete kind cluster %q: %w (delete it with: kind delete cluster --name %s)", plan.Name, err, plan.Name)
	}
	fmt.Fprintf(p.out, "Deleting kind cluster %q ...\n", plan.Name)
	if err := p.kindProvider().Delete(plan.Name, p.kubecfg); err != nil {
		return fmt.Errorf("delete kind cluster %q: %w (delete it with: kind delete cluster --name %s)",
			plan.Name, kindError(err), plan.Name)
	}
	p.removeDir()
	p.created, p.restCfg = false, nil
	return nil
}

func (p *Provider) removeDir() {
	if p.dir != "" {
		_ = os.RemoveAll(p.dir)
	}
	p.dir, p.kubecfg = "", ""
}

// ExportLogs collects the kind nodes' logs (journal, kubelet, containerd, pods'
// /var/log) into dest. For an existing cluster it returns ErrExistingCluster.
func (p *Provider) ExportLogs(ctx context.Context, dest string) error {
	kp, name, err := p.kindTarget("export node logs")
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(p.out, "Exporting logs of kind cluster %q to %s ...\n", name, dest)
	if err := kp.CollectLogs(name, dest); err != nil {
		return fmt.Errorf("export logs of kind cluster %q: %w", name, kindError(err))
	}
	return nil
}

// kindTarget returns the kind provider and cluster name for kind-only operations.
func (p *Provider) kindTarget(what string) (*kindcluster.Provider, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	plan, err := p.currentPlan()
	if err != nil {
		return nil, "", err
	}
	if plan.Mode == ModeExisting {
		return nil, "", fmt.Errorf("%s: %w (context %q)", what, ErrExistingCluster, plan.Context)
	}
	return p.kindProvider(), plan.Name, nil
}

// kindError adds the output of a failed command, which kind keeps out of Error().
func kindError(err error) error {
	if re := runError(err); re != nil && len(re.Output) > 0 {
		return fmt.Errorf("%w: %s", err, lastLines(string(re.Output), 20))
	}
	return err
}

// runError finds the kind command error inside err, through both Unwrap (fmt, and
// pkg/errors which kind uses) and pkg/errors' Cause.
func runError(err error) *kindexec.RunError {
	var re *kindexec.RunError
	if errors.As(err, &re) {
		return re
	}
	return kindexec.RunErrorForError(err)
}

// lastLines returns the last n non-empty lines of s (the end of a command's output
// is where its error is), one per line as printed.
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimRight(l, " \t\r"); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
