package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/support"
	kinderrors "sigs.k8s.io/kind/pkg/errors"
	kindexec "sigs.k8s.io/kind/pkg/exec"
)

// Provider is a cluster provider that e2e-framework's image envfuncs accept.
var _ support.E2EClusterProviderWithImageLoader = (*Provider)(nil)

// noDocker is a Runner that fails the test if any host command runs.
func noDocker(t *testing.T) Runner {
	return func(_ context.Context, name string, args ...string) ([]byte, []byte, error) {
		t.Errorf("unexpected host command: %s %q", name, args)
		return nil, nil, errors.New("no commands in this test")
	}
}

// Constructing the provider and everything short of Create needs no Docker, runs no
// command and contacts no cluster.
func TestProviderWithoutDocker(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no docker, no kind binary either
	ctx := context.Background()
	var out bytes.Buffer
	p, err := NewProvider(Options{Runner: noDocker(t), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	var e2e support.E2EClusterProvider = p
	e2e = e2e.SetDefaults().WithName("egress-x").WithOpts(WithNodeImage("kindest/node:v1.34.11@sha256:44e2"),
		WithKindConfig("/nowhere/kind.yaml"))

	if got := p.Name(); got != "egress-x" {
		t.Errorf("Name() = %q", got)
	}
	if got := e2e.GetKubectlContext(); got != "kind-egress-x" {
		t.Errorf("GetKubectlContext() = %q, want kind-egress-x", got)
	}
	plan, err := p.Plan()
	if err != nil {
		t.Fatal(err)
	}
	want := Plan{Mode: ModeCreate, Name: "egress-x", NodeImage: "kindest/node:v1.34.11@sha256:44e2", KindConfig: "/nowhere/kind.yaml"}
	if plan != want {
		t.Errorf("Plan() = %+v, want %+v", plan, want)
	}
	if e2e.GetKubeconfig() != "" || e2e.KubernetesRestConfig() != nil || p.Created() || p.NodeImage() != "" {
		t.Error("provider claims a cluster before Create")
	}
	if _, err := e2e.GenerateKubeconfig(); err == nil {
		t.Error("GenerateKubeconfig() before Create: want an error")
	}
	if err := e2e.WaitForControlPlane(ctx, nil); err == nil {
		t.Error("WaitForControlPlane() before Create: want an error")
	}
	if err := e2e.Destroy(ctx); err != nil {
		t.Errorf("Destroy() before Create = %v, want nil (nothing to delete)", err)
	}
	if _, err := e2e.Create(ctx, "--config", "x.yaml"); err == nil || !strings.Contains(err.Error(), "kind CLI arguments") {
		t.Errorf("Create(kind CLI args) = %v, want it refused", err)
	}
	p.SetFailed(true)

	// Settings meant for the kind CLI are refused before anything runs.
	e2e.WithPath("/usr/local/bin/kind")
	if _, err := e2e.Create(ctx); err == nil || !strings.Contains(err.Error(), "WithPath") {
		t.Errorf("Create() after WithPath = %v, want it refused", err)
	}
	e2e.WithPath("")
	e2e.WithVersion("v0.26.0")
	if _, err := e2e.Create(ctx); err == nil || !strings.Contains(err.Error(), "WithVersion") {
		t.Errorf("Create() after WithVersion = %v, want it refused", err)
	}
	if out.Len() != 0 {
		t.Errorf("provider printed %q; want it quiet", out.String())
	}
}

// Without Docker, Create fails in well under a second with the preflight's message,
// after running `docker info` only.
func TestCreateWithoutDocker(t *testing.T) {
	for _, tt := range []struct {
		name string
		run  func(t *testing.T) (Runner, *[][]string)
		want string
	}{
		{
			name: "daemon not running",
			run: func(*testing.T) (Runner, *[][]string) {
				f := &fakeRunner{stderr: daemonDownStderr, err: errors.New("exit status 1")}
				return f.run, &f.calls
			},
			want: "daemon is not running",
		},
		{
			name: "docker not installed (real runner, empty PATH)",
			run: func(t *testing.T) (Runner, *[][]string) {
				t.Setenv("PATH", t.TempDir())
				return nil, nil
			},
			want: "not in PATH",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			run, calls := tt.run(t)
			p, err := NewProvider(Options{Runner: run, Out: &bytes.Buffer{}})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			kubecfg, err := envCreate(p)
			if !errors.Is(err, ErrDockerUnavailable) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Create() = %q, %v; want ErrDockerUnavailable (%s)", kubecfg, err, tt.want)
			}
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("Create() took %s to fail", elapsed)
			}
			if calls != nil && (len(*calls) != 1 || (*calls)[0][1] != "info") {
				t.Errorf("host commands = %q, want only docker info", *calls)
			}
			if p.GetKubeconfig() != "" || p.Created() {
				t.Error("a failed Create left a kubeconfig or claims a cluster")
			}
			if err := p.Destroy(context.Background()); err != nil {
				t.Errorf("Destroy() after a failed Create = %v", err)
			}
		})
	}
}

// envCreate runs Create the way envfuncs.CreateClusterWithConfig does.
func envCreate(p *Provider) (string, error) {
	return p.SetDefaults().WithName(p.Name()).WithOpts().CreateWithConfig(context.Background(), "")
}

// Image loading on a kind cluster asks the host's Docker first: a missing image is
// reported with how to get it, before any node is touched.
func TestLoadImageNotLocal(t *testing.T) {
	f := &fakeRunner{stderr: "Error response from daemon: No such image: egress/httpbin:dev\n", err: errors.New("exit status 1")}
	p, err := NewProvider(Options{Runner: f.run, Out: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.LoadImage(context.Background(), "egress/httpbin:dev")
	if err == nil || !strings.Contains(err.Error(), "not in the local Docker (Error response from daemon: No such image: egress/httpbin:dev)") ||
		!strings.Contains(err.Error(), "docker pull egress/httpbin:dev") {
		t.Fatalf("LoadImage() = %v", err)
	}
	if want := []string{"docker", "image", "inspect", "--format", "{{.Id}}", "egress/httpbin:dev"}; len(f.calls) != 1 || !slices.Equal(f.calls[0], want) {
		t.Errorf("host commands = %q, want %q", f.calls, want)
	}
	if err := p.LoadImage(context.Background(), "img", "--nodes", "x"); err == nil {
		t.Error("LoadImage(args) = nil, want arguments refused")
	}
	if err := p.LoadImageArchive(context.Background(), filepath.Join(t.TempDir(), "missing.tar")); err == nil {
		t.Error("LoadImageArchive(missing file) = nil")
	}
}

// fakeAPIServer serves just enough of the Kubernetes API for ModeExisting: the
// version and a node list. It records every request.
type fakeAPIServer struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func newFakeAPIServer(t *testing.T) *fakeAPIServer {
	f := &fakeAPIServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.paths = append(f.paths, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		var body any
		switch r.URL.Path {
		case "/version":
			body = version.Info{Major: "1", Minor: "35", GitVersion: "v1.35.8"}
		case "/api/v1/nodes":
			body = corev1.NodeList{
				TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"},
				Items: []corev1.Node{{
					ObjectMeta: metav1.ObjectMeta{Name: "worker-1"},
					Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
				}},
			}
		default:
			w.WriteHeader(http.StatusNotFound)
			body = metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
				Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound}
		}
		if err := json.NewEncoder(w).Encode(body); err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPIServer) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.paths)
}

// The envfuncs below repeat, step by step, what e2e-framework v0.7.0's
// pkg/envfuncs (provider_funcs.go) do with a provider. That package cannot be
// imported here yet: through pkg/utils it needs github.com/vladimirvivien/gexe,
// which go.mod does not list until a suite imports envfuncs.

// createClusterWithConfig is envfuncs.CreateClusterWithConfig.
func createClusterWithConfig(p support.E2EClusterProvider, name, configFile string, opts ...support.ClusterOpts) env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		k := p.SetDefaults().WithName(name).WithOpts(opts...)
		kubecfg, err := k.CreateWithConfig(ctx, configFile)
		if err != nil {
			return ctx, err
		}
		cfg.WithKubeconfigFile(kubecfg)
		if err := k.WaitForControlPlane(ctx, cfg.Client()); err != nil {
			return ctx, err
		}
		return context.WithValue(ctx, support.ClusterNameContextKey(name), k), nil
	}
}

// fromContext is envfuncs.GetClusterFromContext.
func fromContext(ctx context.Context, name string) (support.E2EClusterProvider, bool) {
	c, ok := ctx.Value(support.ClusterNameContextKey(name)).(support.E2EClusterProvider)
	return c, ok
}

// loadImage, loadImageArchive, exportLogs and destroy are envfuncs'
// LoadImageToCluster, LoadImageArchiveToCluster, ExportClusterLogs, DestroyCluster.
func loadImage(name, image string) env.Func {
	return func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		c, ok := ctx.Value(support.ClusterNameContextKey(name)).(support.E2EClusterProviderWithImageLoader)
		if !ok {
			return ctx, errors.New("cluster provider does not support LoadImage")
		}
		return ctx, c.LoadImage(ctx, image)
	}
}

func loadImageArchive(name, archive string) env.Func {
	return func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		c, ok := ctx.Value(support.ClusterNameContextKey(name)).(support.E2EClusterProviderWithImageLoader)
		if !ok {
			return ctx, errors.New("cluster provider does not support LoadImageArchive")
		}
		return ctx, c.LoadImageArchive(ctx, archive)
	}
}

func exportLogs(name, dest string) env.Func {
	return func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		c, ok := fromContext(ctx, name)
		if !ok {
			return ctx, errors.New("no cluster in context")
		}
		return ctx, c.ExportLogs(ctx, dest)
	}
}

func destroy(name string) env.Func {
	return func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		c, ok := fromContext(ctx, name)
		if !ok {
			return ctx, errors.New("no cluster in context")
		}
		return ctx, c.Destroy(ctx)
	}
}

// The existing-cluster mode driven the way e2e-framework's envfuncs drive a
// provider: only the named context is used (never the current one), nothing needs
// Docker, and destroying leaves the cluster alone.
func TestExistingClusterThroughEnvfuncSteps(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	ci := newFakeAPIServer(t)
	prod := newFakeAPIServer(t)

	cfg := clientcmdapi.NewConfig()
	for name, srv := range map[string]*fakeAPIServer{"prod": prod, "ci": ci} {
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: srv.URL}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: "token-" + name}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	cfg.CurrentContext = "prod"
	userKubeconfig := filepath.Join(t.TempDir(), "config")
	if err := clientcmd.WriteToFile(*cfg, userKubeconfig); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(userKubeconfig)
	if err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	p, err := NewProvider(Options{Kubeconfig: userKubeconfig, KubeContext: "ci", Runner: noDocker(t), Out: &out,
		Timeouts: Timeouts{ControlPlane: 20 * time.Second, Poll: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	envCfg := envconf.New()
	ctx, err = createClusterWithConfig(p, p.Name(), "")(ctx, envCfg)
	if err != nil {
		t.Fatalf("CreateClusterWithConfig: %v (ci API requests %q)", err, ci.requests())
	}
	if got, ok := fromContext(ctx, p.Name()); !ok || got != support.E2EClusterProvider(p) {
		t.Fatalf("GetClusterFromContext() = %v, %v", got, ok)
	}

	kubecfg := envCfg.KubeconfigFile()
	if kubecfg == "" || kubecfg != p.GetKubeconfig() || kubecfg == userKubeconfig {
		t.Fatalf("envconf kubeconfig = %q, provider's = %q; want the provider's own copy", kubecfg, p.GetKubeconfig())
	}
	written, err := clientcmd.LoadFromFile(kubecfg)
	if err != nil {
		t.Fatal(err)
	}
	if written.CurrentContext != "ci" || len(written.Contexts) != 1 || written.Clusters["ci"] == nil {
		t.Errorf("written kubeconfig: current-context %q, %d contexts; want only ci", written.CurrentContext, len(written.Contexts))
	}
	if host := p.KubernetesRestConfig().Host; host != ci.URL {
		t.Errorf("rest config host = %q, want %q", host, ci.URL)
	}
	if got := p.GetKubectlContext(); got != "ci" {
		t.Errorf("GetKubectlContext() = %q", got)
	}
	if path, err := p.GenerateKubeconfig(); err != nil || path != kubecfg {
		t.Errorf("GenerateKubeconfig() = %q, %v", path, err)
	}

	// Kind-only operations say so instead of pretending.
	if _, err := loadImage(p.Name(), "img:dev")(ctx, envCfg); !errors.Is(err, ErrExistingCluster) {
		t.Errorf("LoadImageToCluster = %v, want ErrExistingCluster", err)
	}
	if _, err := loadImageArchive(p.Name(), "img.tar")(ctx, envCfg); !errors.Is(err, ErrExistingCluster) {
		t.Errorf("LoadImageArchiveToCluster = %v, want ErrExistingCluster", err)
	}
	if _, err := exportLogs(p.Name(), t.TempDir())(ctx, envCfg); !errors.Is(err, ErrExistingCluster) {
		t.Errorf("ExportClusterLogs = %v, want ErrExistingCluster", err)
	}

	p.SetFailed(true)
	if _, err := destroy(p.Name())(ctx, envCfg); err != nil {
		t.Fatalf("DestroyCluster: %v", err)
	}
	if _, err := os.Stat(kubecfg); !os.IsNotExist(err) {
		t.Errorf("the provider's kubeconfig copy %s survived Destroy (stat: %v)", kubecfg, err)
	}
	after, err := os.ReadFile(userKubeconfig)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the user's kubeconfig changed (err %v)", err)
	}

	if got := prod.requests(); len(got) != 0 {
		t.Errorf("the current-context's cluster was contacted: %q", got)
	}
	for _, r := range ci.requests() {
		if !strings.HasPrefix(r, "GET ") {
			t.Errorf("the existing cluster got a write: %s", r)
		}
	}
	if !slices.Contains(ci.requests(), "GET /api/v1/nodes") {
		t.Errorf("WaitForControlPlane did not look at the nodes: %q", ci.requests())
	}
	if out.Len() != 0 {
		t.Errorf("provider printed %q; want it quiet", out.String())
	}
}

func TestExistingClusterUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more

	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["ci"] = &clientcmdapi.Cluster{Server: url}
	cfg.AuthInfos["ci"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["ci"] = &clientcmdapi.Context{Cluster: "ci", AuthInfo: "ci"}
	path := filepath.Join(t.TempDir(), "config")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	p, err := NewProvider(Options{Kubeconfig: path, KubeContext: "ci", Runner: noDocker(t),
		Timeouts: Timeouts{API: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the provider's kubeconfig copy would go
	_, err = p.Create(context.Background())
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf(`context "ci" (server %s) does not answer`, url)) {
		t.Fatalf("Create() = %v", err)
	}
	if left, _ := os.ReadDir(tmp); p.GetKubeconfig() != "" || len(left) != 0 {
		t.Errorf("a failed Create left a kubeconfig: %q, %v", p.GetKubeconfig(), left)
	}
}

func TestKindErrorOutput(t *testing.T) {
	run := &kindexec.RunError{
		Command: []string{"docker", "exec", "--privileged", "-i", "c-control-plane", "ctr", "images", "import"},
		Output:  []byte("unpacking docker.io/library/busybox:stable...\nctr: content digest sha256:b1addbe7: not found\n"),
		Inner:   errors.New("exit status 1"),
	}
	err := fmt.Errorf("node c-control-plane: %w", kinderrors.Wrap(run, "failed to load image"))
	if !needsPlatformRetry(err) {
		t.Error("needsPlatformRetry() = false for ctr's missing-content error")
	}
	if got := kindError(err).Error(); !strings.Contains(got, "failed to load image") || !strings.Contains(got, "ctr: content digest sha256:b1addbe7: not found") {
		t.Errorf("kindError() = %q, want the command output", got)
	}
	if needsPlatformRetry(errors.New("failed to load image: exit status 1")) {
		t.Error("needsPlatformRetry() = true for an unrelated error")
	}
	if got := lastLines("a\n\nb\nc\n", 2); got != "...\nb\nc" {
		t.Errorf("lastLines() = %q", got)
	}
}

func TestKindLogger(t *testing.T) {
	var b bytes.Buffer
	l := &kindLogger{w: &b}
	l.V(0).Infof("Creating cluster %q ...\n", "c")
	l.V(0).Info(" ✓ Starting control-plane")
	l.V(1).Info("debug noise")
	l.Warnf("cluster name %q is probably too long", "x")
	want := "Creating cluster \"c\" ...\n ✓ Starting control-plane\nWARNING: cluster name \"x\" is probably too long\n"
	if b.String() != want {
		t.Errorf("kind logger wrote %q, want %q", b.String(), want)
	}
}
