package integration_test

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/engine"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/upgrade"
)

// engineSpecs: pkg/engine's and pkg/mesh's decisions against a real API server. Run
// after the Istio CRDs are installed: the server then serves Istio's API with no
// istiod, exactly what a remote or managed control plane looks like from inside the
// cluster.
func engineSpecs() {
	Describe("engine", func() {
		It("sees Istio's API without istiod as a mesh it did not install, and never installs over it", func(ctx SpecContext) {
			found, err := mesh.Discover(ctx, it.clientset)
			Expect(err).NotTo(HaveOccurred())
			fmt.Fprintf(GinkgoWriter, "discovered: %s\n", found)
			Expect(found.APIGroups).To(ContainElement("networking.istio.io"))
			Expect(found.Remote()).To(BeTrue())
			Expect(engine.DecideMesh(cluster.ModeExisting, found).Install).To(BeFalse())
			Expect((&mesh.Mesh{}).Guard(ctx, it.clientset)).To(MatchError(mesh.ErrForeignMesh))
		})

		It("labels namespaces by the revision a revision-only mesh's injection webhook selects", func(ctx SpecContext) {
			ignore := admissionv1.Ignore
			none := admissionv1.SideEffectClassNone
			path := "/inject"
			// Shaped like istio-discovery's revisioned injector; it never gets to call its
			// (absent) service for anything but this run's namespace, and failurePolicy
			// Ignore keeps even that harmless.
			hook := &admissionv1.MutatingWebhookConfiguration{
				ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector-1-32-0-" + it.runID,
					Labels: map[string]string{"app": "sidecar-injector", "istio.io/rev": "1-32-0", deploy.RunLabel: it.runID}},
				Webhooks: []admissionv1.MutatingWebhook{{
					Name: "rev.namespace.sidecar-injector.istio.io",
					ClientConfig: admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{
						Namespace: "istio-system", Name: "istiod-1-32-0", Path: &path}},
					NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "istio.io/rev", Operator: metav1.LabelSelectorOpIn, Values: []string{"1-32-0"}},
						{Key: "istio-injection", Operator: metav1.LabelSelectorOpDoesNotExist}}},
					ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "sidecar.istio.io/inject", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"false"}}}},
					Rules: []admissionv1.RuleWithOperations{{Operations: []admissionv1.OperationType{admissionv1.Create},
						Rule: admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
					FailurePolicy: &ignore, SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
				}},
			}
			Expect(it.c.Client.Create(ctx, hook)).To(Succeed())
			DeferCleanup(func(ctx context.Context) { Expect(client.IgnoreNotFound(it.c.Client.Delete(ctx, hook))).To(Succeed()) })

			found, err := mesh.Discover(ctx, it.clientset)
			Expect(err).NotTo(HaveOccurred())
			Expect(found.Revisions).To(ContainElement("1-32-0"))
			labels, err := found.InjectionLabels()
			Expect(err).NotTo(HaveOccurred())
			Expect(labels).To(Equal(map[string]string{"istio.io/rev": "1-32-0"}))

			c := *it.c
			c.Injection = labels
			ns := "egress-engine-by-revision"
			Expect(deploy.EnsureNamespace(ctx, &c, ns, it.runID, true)).To(Succeed())
			var got corev1.Namespace
			Expect(it.c.Client.Get(ctx, client.ObjectKey{Name: ns}, &got)).To(Succeed())
			Expect(got.Labels).To(HaveKeyWithValue("istio.io/rev", "1-32-0"))
			Expect(got.Labels).NotTo(HaveKey(deploy.InjectionLabel))
		})

		It("takes over an interrupted run's namespace with REUSE_CLUSTER, as the refusal promises", func(ctx SpecContext) {
			ns := "egress-engine-interrupted"
			Expect(it.c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
				Labels: map[string]string{deploy.RunLabel: it.runID + "-interrupted"}}})).To(Succeed())
			err := deploy.EnsureNamespace(ctx, it.c, ns, it.runID, true)
			Expect(err).To(MatchError(deploy.ErrNotOurs))
			Expect(err.Error()).To(ContainSubstring("REUSE_CLUSTER=1"))

			reuse, err := engine.NewCluster(it.restCfg, cluster.Plan{Mode: cluster.ModeReuse}, engine.DefaultTimeouts(runner.DefaultTimeouts(), upgrade.Timeouts{}))
			Expect(err).NotTo(HaveOccurred())
			reuse.Timeouts = timeouts
			Expect(deploy.EnsureNamespace(ctx, reuse, ns, it.runID, true)).To(Succeed())
			var got corev1.Namespace
			Expect(it.c.Client.Get(ctx, client.ObjectKey{Name: ns}, &got)).To(Succeed())
			Expect(got.Labels).To(HaveKeyWithValue(deploy.RunLabel, it.runID), "now this run's, so its clean-up removes it")
		})

		It("never changes a ConfigMap this run did not create", func(ctx SpecContext) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: userNS, Name: userCM}, Data: map[string]string{"owner": "harness"}}
			Expect(engine.ApplyRunConfigMap(ctx, it.clientset, cm, it.runID)).To(MatchError(deploy.ErrNotOurs))
			var got corev1.ConfigMap
			Expect(it.c.Client.Get(ctx, client.ObjectKey{Namespace: userNS, Name: userCM}, &got)).To(Succeed())
			Expect(got.Data).To(HaveKeyWithValue("owner", "user"))
		})

		// The plan's elements, executed by engine.Kube on a real API server: the
		// namespace with its Sidecar, every step's apply action, and the upgrade
		// gate's removal of an earlier phase's bundle. (Clients need a kubelet.)
		It("executes a scenario plan's namespaces and actions, and removes the bundle again", func(ctx SpecContext) {
			// The engine's mechanics on one known catalog scenario, whatever --scenarios
			// selects (a directory of ambient scenarios has no egress-gateway-http).
			catalog := filepath.Join("..", "..", "scenarios")
			all, err := scenario.LoadAll(catalog)
			Expect(err).NotTo(HaveOccurred())
			var s *scenario.Scenario
			for _, x := range all {
				if x.Name == "egress-gateway-http" {
					s = x
				}
			}
			Expect(s).NotTo(BeNil(), "egress-gateway-http in "+catalog)
			p, err := plan.Build(plan.Inputs{RunID: it.runID, Scenarios: []*scenario.Scenario{s}, Cumulative: true})
			Expect(err).NotTo(HaveOccurred())
			sp := p.Scenarios[0]
			k := engine.Kube{Cluster: it.c, Kube: it.clientset, RunID: it.runID, Timeouts: runner.Timeouts{Converge: time.Minute}}
			for _, n := range sp.Namespaces {
				Expect(k.Namespace(ctx, n)).To(Succeed())
			}
			last := sp.Steps[len(sp.Steps)-1]
			for _, st := range sp.Steps {
				for _, a := range st.Actions {
					Expect(k.Act(ctx, sp, a)).To(Succeed(), "%s", a.Lines())
				}
			}
			for _, o := range last.Step.Bundle {
				u := &unstructured.Unstructured{}
				u.SetAPIVersion(o.APIVersion)
				u.SetKind(o.Kind)
				Expect(it.c.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace(), Name: o.Name}, u)).To(Succeed(), o.Kind+" "+o.Name)
				Expect(u.GetLabels()).To(HaveKeyWithValue(deploy.RunLabel, it.runID))
			}
			sidecars := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "SidecarList"}}
			Expect(it.c.Client.List(ctx, sidecars, client.InNamespace(s.Namespace()))).To(Succeed())
			Expect(sidecars.Items).To(HaveLen(1), "the namespace's harness Sidecar")

			remove := sp.Steps[0].Actions[0]
			Expect(remove.Kind).To(Equal(plan.ActionRemoveBundle))
			Expect(k.Act(ctx, sp, remove)).To(Succeed())
			for _, o := range last.Step.Bundle {
				u := &unstructured.Unstructured{}
				u.SetAPIVersion(o.APIVersion)
				u.SetKind(o.Kind)
				err := it.c.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace(), Name: o.Name}, u)
				Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s %s after the removal: %v", o.Kind, o.Name, err)
			}
		})
	})
}
