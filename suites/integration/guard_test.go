package integration_test

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
)

// guardSpecs: the existing-cluster guard of pkg/cluster, against a real API server:
// the context must be named, must exist, and is the only one the harness can reach.
func guardSpecs() {
	Describe("existing-cluster guard", Label("guard"), func() {
		var kubeconfig string // the user's: hack/apiserver.sh's kubeconfig plus a decoy

		BeforeEach(func() {
			cfg, err := clientcmd.LoadFromFile(os.Getenv(cluster.EnvKubeconfig))
			Expect(err).NotTo(HaveOccurred())
			// A decoy that is the current-context: nothing listens on port 1.
			cfg.Clusters["decoy"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", InsecureSkipTLSVerify: true}
			cfg.AuthInfos["decoy"] = &clientcmdapi.AuthInfo{Token: "decoy"}
			cfg.Contexts["decoy"] = &clientcmdapi.Context{Cluster: "decoy", AuthInfo: "decoy"}
			cfg.CurrentContext = "decoy"
			kubeconfig = filepath.Join(GinkgoT().TempDir(), "kubeconfig")
			Expect(clientcmd.WriteToFile(*cfg, kubeconfig)).To(Succeed())
		})

		env := func(kv ...string) func(string) string {
			m := map[string]string{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return func(k string) string { return m[k] }
		}

		It("refuses KUBECONFIG without KUBE_CONTEXT", func() {
			opts, err := cluster.OptionsFromEnv(env(cluster.EnvKubeconfig, kubeconfig))
			Expect(err).NotTo(HaveOccurred())
			_, err = cluster.NewProvider(opts)
			Expect(err).To(MatchError(cluster.ErrContextNotNamed))
			Expect(err.Error()).To(ContainSubstring("KUBE_CONTEXT"))
		})

		It("refuses a KUBE_CONTEXT the kubeconfig does not hold", func() {
			opts, err := cluster.OptionsFromEnv(env(cluster.EnvKubeconfig, kubeconfig, cluster.EnvKubeContext, "nope"))
			Expect(err).NotTo(HaveOccurred())
			_, err = cluster.NewProvider(opts)
			Expect(err).To(MatchError(cluster.ErrContextNotFound))
		})

		It("reaches the named context only, never the current-context, and leaves the cluster alone", func(ctx SpecContext) {
			opts, err := cluster.OptionsFromEnv(env(cluster.EnvKubeconfig, kubeconfig, cluster.EnvKubeContext, it.context))
			Expect(err).NotTo(HaveOccurred())
			p, err := cluster.NewProvider(opts)
			Expect(err).NotTo(HaveOccurred())
			written, err := p.Create(ctx) // checks that the API server answers
			Expect(err).NotTo(HaveOccurred())
			cfg, err := clientcmd.LoadFromFile(written)
			Expect(err).NotTo(HaveOccurred())
			Expect(cfg.Contexts).To(HaveLen(1))
			Expect(cfg.Contexts).To(HaveKey(it.context))
			Expect(cfg.CurrentContext).To(Equal(it.context))
			Expect(p.Destroy(ctx)).To(Succeed())

			// The decoy, named explicitly, is used (and fails): the name decides, nothing else.
			opts.KubeContext = "decoy"
			p, err = cluster.NewProvider(opts)
			Expect(err).NotTo(HaveOccurred())
			_, err = p.Create(ctx)
			Expect(err).To(MatchError(ContainSubstring(`context "decoy" (server https://127.0.0.1:1) does not answer`)))

			// Destroy on an existing cluster touched nothing: the API server still answers.
			Expect(p.Destroy(ctx)).To(Succeed())
			Expect(it.c.Client.List(ctx, &namespaces{})).To(Succeed())
		})
	})
}
