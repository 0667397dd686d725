// Package integration_test is the integration tier: the cluster tier's Kubernetes
// plumbing (pkg/cluster's existing-cluster mode and guard, pkg/deploy) against a real
// kube-apiserver, kube-controller-manager and kube-scheduler on loopback, with kwok
// standing in for kubelets. `make integration` (part of `make test`) starts that API
// server with hack/apiserver.sh and stops it afterwards, always.
//
// What this tier does not have, and so does not pretend to test: Istio (its CRDs are
// installed from the pinned module, but no istiod, no injection webhook: client pods
// have no istio-proxy, and DeployClient is told so explicitly), container images,
// exec and logs (no kubelet), and traffic.
package integration_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/run"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
)

var (
	scenariosFlag = flag.String("scenarios", "", "scenario directory (default: <module root>/scenarios)")
)

// noInjection is the reason DeployClient is told not to require istio-proxy here.
const noInjection = "the integration tier's API server has no Istio injection webhook (no istiod): " +
	"client pods run without istio-proxy; the cluster tier (make e2e) requires it"

func TestIntegration(t *testing.T) {
	if mode := os.Getenv(helperEnv); mode != "" {
		// This test binary re-executed as the interrupted-run helper (interrupt_test.go).
		os.Exit(runHelper(mode))
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "integration")
}

// env is what every spec shares: the API server reached through pkg/cluster's
// existing-cluster mode, and this run's id.
type env struct {
	root      string // module root
	scenarios string
	kubecfg   string // the guarded, single-context kubeconfig pkg/cluster wrote
	context   string
	c         *deploy.Cluster
	restCfg   *rest.Config
	clientset kubernetes.Interface // for pkg/diag and pkg/mesh
	runID     string
}

var it env

// timeouts: kwok makes pods Ready within seconds; nothing here waits for images.
var timeouts = deploy.Timeouts{
	Namespace:      60 * time.Second,
	ClientReady:    60 * time.Second,
	CRDEstablished: 60 * time.Second,
	Cleanup:        90 * time.Second,
	Poll:           200 * time.Millisecond,
}

var _ = BeforeSuite(func(ctx SpecContext) {
	opts, err := cluster.OptionsFromEnv(os.Getenv)
	Expect(err).NotTo(HaveOccurred())
	if opts.KubeContext == "" {
		Skip("no API server: KUBE_CONTEXT is not set. Run `make integration`, which starts one on loopback " +
			"with hack/apiserver.sh and sets KUBECONFIG and KUBE_CONTEXT")
	}
	it.root, err = run.ModuleRoot(".")
	Expect(err).NotTo(HaveOccurred())
	it.scenarios = *scenariosFlag
	if it.scenarios == "" {
		it.scenarios = filepath.Join(it.root, "scenarios")
	}
	it.context = opts.KubeContext

	By("connecting through pkg/cluster's existing-cluster mode (KUBE_CONTEXT=" + opts.KubeContext + ")")
	p, err := cluster.NewProvider(opts)
	Expect(err).NotTo(HaveOccurred())
	it.kubecfg, err = p.Create(ctx)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		Expect(p.Destroy(ctx)).To(Succeed())
	})
	Expect(p.WaitForControlPlane(ctx, nil)).To(Succeed(), "a Ready (kwok) node")

	it.restCfg = p.KubernetesRestConfig()
	it.c, err = deploy.NewCluster(it.restCfg)
	Expect(err).NotTo(HaveOccurred())
	it.clientset, err = kubernetes.NewForConfig(p.KubernetesRestConfig())
	Expect(err).NotTo(HaveOccurred())
	it.c.Timeouts = timeouts
	it.c.Logf = func(f string, a ...any) { fmt.Fprintf(GinkgoWriter, f+"\n", a...) }
	it.runID = settings.RunID(settings.Getenv, "integration", time.Now())

	// The safety net: whatever a failed spec left of this run goes, bounded.
	DeferCleanup(func(ctx context.Context) {
		res, err := deploy.Cleanup(deploy.CleanupContext(ctx), it.c, it.runID)
		if err != nil {
			fmt.Fprintf(GinkgoWriter, "final clean-up: %v (left: %v)\n", err, res.Left)
		}
	})
}, NodeTimeout(2*time.Minute))
