package integration_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/egress-conformance/egress-conformance/pkg/ambient"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/diag"
	"github.com/egress-conformance/egress-conformance/pkg/engine"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/plan"
	"github.com/egress-conformance/egress-conformance/pkg/run"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
)

type namespaces = corev1.NamespaceList

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// What the user had before the run; clean-up must leave every bit of it.
const (
	userNS        = "it-user-space"     // a user's namespace
	userScenarish = "egress-it-users"   // a user's namespace named like a scenario's
	otherRunNS    = "it-other-run"      // left by another run of the harness
	otherRunID    = "someone-elses-run" // its run id
	userCM        = "keep-me"           // a ConfigMap in each of them
	userCRD       = "referencegrants.gateway.networking.k8s.io"
	noInjectionNS = "egress-it-no-injection" // where DeployClient must refuse a pod without istio-proxy
	// meshNS is Istio's namespace, which istioctl creates on a real cluster; bundles put
	// objects there (the egress gateway's DestinationRule). Here the test creates it, as
	// the user's: the run's objects in it must go, the namespace must stay.
	meshNS = "istio-system"
)

// crossNamespace are the bundle objects the catalog put in namespaces the run did
// not create ("Kind namespace/name"): clean-up must delete them one by one.
var crossNamespace []string

// snapshot is what existed before the run, by UID: namespaces and CRDs.
type snapshot map[string]string

func takeSnapshot(ctx SpecContext) snapshot {
	s := snapshot{}
	var nss corev1.NamespaceList
	Expect(it.c.Client.List(ctx, &nss)).To(Succeed())
	for _, ns := range nss.Items {
		if ns.DeletionTimestamp == nil {
			s["Namespace "+ns.Name] = string(ns.UID)
		}
	}
	crds := &unstructured.UnstructuredList{}
	crds.SetGroupVersionKind(crdGVK.GroupVersion().WithKind("CustomResourceDefinitionList"))
	Expect(it.c.Client.List(ctx, crds)).To(Succeed())
	for _, c := range crds.Items {
		s["CustomResourceDefinition "+c.GetName()] = string(c.GetUID())
	}
	return s
}

var _ = Describe("integration tier", Ordered, ContinueOnFailure, func() {
	var before snapshot

	BeforeAll(func(ctx SpecContext) {
		By("creating what a user already has: namespaces, ConfigMaps, another run's namespace, a CRD")
		for ns, labels := range map[string]map[string]string{
			userNS: nil, userScenarish: nil, otherRunNS: {deploy.RunLabel: otherRunID}, meshNS: nil,
		} {
			Expect(it.c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}})).To(Succeed())
			Expect(it.c.Client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: userCM},
				Data: map[string]string{"owner": "user"}})).To(Succeed())
		}
		// The user installed one Gateway API CRD themselves (from the same release).
		src, err := deploy.Modules{Go: settings.Getenv(settings.EnvGo), Root: it.root}.GatewayAPICRDs(ctx, deploy.ExperimentalChannel)
		Expect(err).NotTo(HaveOccurred())
		crd := readCRD(src, userCRD)
		Expect(it.c.Client.Create(ctx, crd)).To(Succeed())
		before = takeSnapshot(ctx)
	})

	guardSpecs()

	Describe("CRDs from the pinned modules", func() {
		It("installs the missing Istio and Gateway API CRDs, Established, and leaves the user's alone", func(ctx SpecContext) {
			// The experimental channel: the scenario contract accepts Gateway API alpha
			// versions, which only that channel serves (deploy.ChannelFor).
			mods := deploy.Modules{Go: settings.Getenv(settings.EnvGo), Root: it.root}
			gatewayAPI := func(ctx context.Context) (deploy.CRDSource, error) {
				return mods.GatewayAPICRDs(ctx, deploy.ChannelFor([]*scenario.Scenario{everySupportedKind()}))
			}
			for _, get := range []func(context.Context) (deploy.CRDSource, error){mods.IstioCRDs, gatewayAPI} {
				src, err := get(ctx)
				Expect(err).NotTo(HaveOccurred())
				By("installing " + src.Name)
				res, err := deploy.InstallCRDs(ctx, it.c, src, it.runID)
				Expect(err).NotTo(HaveOccurred())
				Expect(res.Created).NotTo(BeEmpty())
				fmt.Fprintf(GinkgoWriter, "%s: created %d, present %v, skipped %v\n", src.Name, len(res.Created), res.Present, res.Skipped)
				if strings.HasPrefix(src.Name, "Gateway API") {
					Expect(res.Present).To(ConsistOf(userCRD))
				}
				By("installing " + src.Name + " again: nothing to create")
				again, err := deploy.InstallCRDs(ctx, it.c, src, it.runID)
				Expect(err).NotTo(HaveOccurred())
				Expect(again.Created).To(BeEmpty())
			}
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(crdGVK)
			Expect(it.c.Client.Get(ctx, client.ObjectKey{Name: userCRD}, u)).To(Succeed())
			Expect(u.GetLabels()).NotTo(HaveKey(deploy.RunLabel), "the user's CRD was not relabelled")
			Expect(it.c.Client.Get(ctx, client.ObjectKey{Name: "serviceentries.networking.istio.io"}, u)).To(Succeed())
			Expect(u.GetLabels()).To(HaveKeyWithValue(deploy.RunLabel, it.runID))
		})
	})

	engineSpecs()

	Describe("namespaces", func() {
		It("refuses a namespace the harness did not create, and leaves it as it was", func(ctx SpecContext) {
			err := deploy.EnsureNamespace(ctx, it.c, userScenarish, it.runID, true)
			Expect(err).To(MatchError(deploy.ErrNotOurs))
			fmt.Fprintf(GinkgoWriter, "refused as expected: %v\n", err)
			err = deploy.EnsureNamespace(ctx, it.c, otherRunNS, it.runID, true)
			Expect(err).To(MatchError(deploy.ErrNotOurs))
			Expect(err.Error()).To(ContainSubstring("REUSE_CLUSTER"))
			var ns corev1.Namespace
			Expect(it.c.Client.Get(ctx, client.ObjectKey{Name: userScenarish}, &ns)).To(Succeed())
			Expect(ns.Labels).NotTo(HaveKey(deploy.RunLabel))
		})
	})

	catalogSpecs()

	apiVersionSpecs()

	Describe("bundles the API server refuses", func() {
		for _, tc := range []struct{ dir, want string }{
			{"cel-duplicate-port", "port number cannot be duplicated"},
			{"schema-missing-hosts", "spec.hosts: Required value"},
		} {
			It("surfaces "+tc.dir+" as an error naming the scenario file and line", func(ctx SpecContext) {
				dir := filepath.Join("testdata", "rejected", tc.dir)
				s, err := scenario.Load(dir)
				Expect(err).NotTo(HaveOccurred(), "the scenario loader accepts it: only the API server can refuse it")
				Expect(deploy.EnsureNamespace(ctx, it.c, s.Namespace(), it.runID, true)).To(Succeed())
				err = deploy.ApplyBundle(ctx, it.c, s, 0, it.runID)
				var ae *deploy.ApplyError
				Expect(errors.As(err, &ae)).To(BeTrue(), "an *deploy.ApplyError, got %v", err)
				o := s.Steps[0].Bundle[0]
				Expect(err.Error()).To(ContainSubstring(fmt.Sprintf("%s:%d: ServiceEntry %s: ", o.File, o.Line, o.Name)))
				Expect(err.Error()).To(ContainSubstring(tc.want))
				Expect(apierrors.IsInvalid(ae.Err)).To(BeTrue(), "the API server's Invalid status: %v", ae.Err)
				fmt.Fprintf(GinkgoWriter, "refused as expected:\n  %v\n", err)
			})
		}
	})

	Describe("client without injection", func() {
		It("fails at once, saying injection did not happen; pkg/diag collects what the API server has", func(ctx SpecContext) {
			Expect(deploy.EnsureNamespace(ctx, it.c, noInjectionNS, it.runID, true)).To(Succeed())
			_, err := deploy.DeployClient(ctx, it.c, workloadFile("sleep"), noInjectionNS, it.runID)
			Expect(err).To(MatchError(deploy.ErrNoSidecar))
			Expect(err.Error()).To(ContainSubstring("istio-injection=enabled"))
			fmt.Fprintf(GinkgoWriter, "refused as expected: %v\n", err)

			By("collecting diagnostics of the induced failure with pkg/diag")
			dir := GinkgoT().TempDir()
			s, lerr := scenario.Load(filepath.Join("testdata", "interrupted"))
			Expect(lerr).NotTo(HaveOccurred())
			// No kubelet here: logs cannot be had (bounded by ItemTimeout) and there is no
			// exec for the Envoy dumps. Both must be reported, not hang.
			derr := diag.Collector{Client: it.clientset, ItemTimeout: 3 * time.Second, Timeout: 30 * time.Second}.
				Collect(ctx, dir, diag.Target{Namespace: noInjectionNS, GatewayNamespace: meshNS,
					Bundle: s.Steps[0].Bundle, Files: map[string][]byte{"failure.txt": []byte(err.Error())}})
			Expect(derr).To(MatchError(diag.ErrIncomplete), "logs and Envoy dumps cannot be collected here")
			pods := string(mustRead(filepath.Join(dir, noInjectionNS, "pods.yaml")))
			Expect(pods).To(ContainSubstring("name: sleep-"))
			Expect(filepath.Join(dir, noInjectionNS, "events.txt")).To(BeAnExistingFile())
			Expect(string(mustRead(filepath.Join(dir, "bundle", "applied.yaml")))).To(ContainSubstring("kind: ServiceEntry"))
			Expect(string(mustRead(filepath.Join(dir, "failure.txt")))).To(ContainSubstring("sidecar injection did not happen"))
			errs := string(mustRead(filepath.Join(dir, "errors.txt")))
			Expect(errs).To(ContainSubstring("sleep"))
			fmt.Fprintf(GinkgoWriter, "diagnostics in %s; errors.txt:\n%s", dir, errs)
		})
	})

	interruptSpecs()

	Describe("clean-up", func() {
		It("removes exactly what this run created, and nothing else", func(ctx SpecContext) {
			var ours corev1.NamespaceList
			Expect(it.c.Client.List(ctx, &ours, client.MatchingLabels{deploy.RunLabel: it.runID})).To(Succeed())
			Expect(ours.Items).NotTo(BeEmpty())

			res, err := deploy.Cleanup(ctx, it.c, it.runID)
			Expect(err).NotTo(HaveOccurred(), "left: %v, notes: %v", res.Left, res.Notes)
			fmt.Fprintf(GinkgoWriter, "deleted %d: %v\nnotes: %v\n", len(res.Deleted), res.Deleted, res.Notes)
			for _, ns := range ours.Items {
				Expect(res.Deleted).To(ContainElement("Namespace " + ns.Name))
			}
			Expect(res.Deleted).To(ContainElement("CustomResourceDefinition serviceentries.networking.istio.io"))
			Expect(res.Deleted).To(ContainElements(crossNamespace))

			By("comparing namespaces and CRDs with what existed before the run, by UID")
			Expect(takeSnapshot(ctx)).To(Equal(before))
			for _, ns := range []string{userNS, userScenarish, otherRunNS, meshNS} {
				var cm corev1.ConfigMap
				Expect(it.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: userCM}, &cm)).To(Succeed())
			}
			By("finding nothing that carries this run's label")
			left, err := deploy.Cleanup(ctx, it.c, it.runID)
			Expect(err).NotTo(HaveOccurred())
			Expect(left.Deleted).To(BeEmpty())
		})
	})

	AfterAll(func(ctx SpecContext) {
		By("removing what the test itself put there as the user")
		for _, ns := range []string{userNS, userScenarish, otherRunNS, meshNS} {
			_ = client.IgnoreNotFound(it.c.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(crdGVK)
		u.SetName(userCRD)
		_ = client.IgnoreNotFound(it.c.Client.Delete(ctx, u))
	})
})

// readCRD returns the CRD called name from src, unlabelled, as a user would apply it.
func readCRD(src deploy.CRDSource, name string) *unstructured.Unstructured {
	for _, f := range src.Files {
		if strings.Contains(filepath.Base(f), strings.Split(name, ".")[0]) {
			u := &unstructured.Unstructured{}
			data := mustRead(f)
			Expect(yamlToObject(data, u)).To(Succeed())
			Expect(u.GetName()).To(Equal(name))
			return u
		}
	}
	Fail("no CRD " + name + " in " + strings.Join(src.Files, ", "))
	return nil
}

func workloadFile(client string) string {
	return filepath.Join(it.root, "fixtures", "workloads", client+".yaml")
}

// catalogSpecs: every scenario of the catalog, in step order: its namespace, its
// client Ready, each step's objects applied and read back.
func catalogSpecs() {
	root, err := run.ModuleRoot(".")
	if err != nil {
		panic(err)
	}
	dir := *scenariosFlag
	if dir == "" {
		dir = filepath.Join(root, "scenarios")
	}
	all, loadErr := scenario.LoadAllWith(dir, scenario.Options{WorkloadsDir: filepath.Join(root, "fixtures", "workloads")})
	Describe("catalog "+dir, func() {
		It("loads", func() { Expect(loadErr).NotTo(HaveOccurred()) })
		for _, s := range all {
			Describe(s.Name, Label(s.Labels...), func() {
				ns := s.Namespace()
				// run is s as the cluster tier applies it: with its workloads'
				// pod IPs once they are Ready (engine.ScenarioRun.SetUp).
				run := s
				var values map[string]string
				It("gets its namespaces and Ready clients", func(ctx SpecContext) {
					for _, cr := range s.ClientRefs() {
						// As the cluster tier does (engine.Kube.Namespace): an ambient
						// client's namespace is enrolled, not labelled for injection.
						Expect(deploy.EnsureNamespace(ctx, it.c, cr.Namespace, it.runID, s.InjectedNamespace(cr.Namespace))).To(Succeed())
						if cr.Ambient() {
							Expect(ambient.Enrol(ctx, it.c, cr.Namespace, it.runID)).To(Succeed())
							var got corev1.Namespace
							Expect(it.c.Client.Get(ctx, client.ObjectKey{Name: cr.Namespace}, &got)).To(Succeed())
							Expect(got.Labels).To(HaveKeyWithValue(ambient.DataplaneModeLabel, ambient.DataplaneModeAmbient))
							Expect(got.Labels).NotTo(HaveKey(deploy.InjectionLabel))
						}
						By("deploying client " + cr.Workload + " in " + cr.Namespace + " without requiring istio-proxy: " + noInjection)
						pod, err := deploy.EnsureScenarioClient(ctx, it.c, s, cr, filepath.Dir(workloadFile(cr.Workload)), it.runID, deploy.WithoutSidecar(noInjection))
						Expect(err).NotTo(HaveOccurred())
						Expect(pod.IP).NotTo(BeEmpty())
						var nsObj corev1.Namespace
						Expect(it.c.Client.Get(ctx, client.ObjectKey{Name: cr.Namespace}, &nsObj)).To(Succeed())
						if s.InjectedNamespace(cr.Namespace) {
							Expect(nsObj.Labels).To(HaveKeyWithValue(deploy.InjectionLabel, "enabled"))
						} else {
							Expect(nsObj.Labels).NotTo(HaveKey(deploy.InjectionLabel), "a namespace of uninjected clients alone")
						}
						if cr.Injected || cr.Ambient() {
							Expect(pod.Sidecar).To(HavePrefix("not checked: "))
						} else {
							// What keeps Istio's webhook away on a real cluster: the
							// pod the API server created carries the opt-out label.
							Expect(pod.NoSidecar).To(BeTrue())
							var p corev1.Pod
							Expect(it.c.Client.Get(ctx, client.ObjectKey{Namespace: cr.Namespace, Name: pod.Name}, &p)).To(Succeed())
							Expect(p.Labels).To(HaveKeyWithValue(scenario.InjectLabel, "false"))
							Expect(p.Annotations).NotTo(HaveKey(scenario.InjectLabel), "the deprecated annotation (IST0135)")
						}
						fmt.Fprintf(GinkgoWriter, "client pod %s/%s Ready at %s (container %s)\n", cr.Namespace, pod.Name, pod.IP, pod.Container)
					}
				})
				if len(s.Workloads) > 0 {
					It("gets its workloads Ready without a sidecar, and its variables their pod IPs", func(ctx SpecContext) {
						// As engine.Kube.Workload does, with kwok's fake pod IPs.
						p, err := plan.Build(plan.Inputs{RunID: it.runID, Scenarios: []*scenario.Scenario{s}})
						Expect(err).NotTo(HaveOccurred())
						k := engine.Kube{Cluster: it.c, Kube: it.clientset, RunID: it.runID, Root: root}
						ips := map[string]string{}
						for _, w := range p.Scenarios[0].Workloads {
							By(w.Line())
							pod, err := k.Workload(ctx, w)
							Expect(err).NotTo(HaveOccurred())
							Expect(pod.NoSidecar).To(BeTrue())
							Expect(pod.IP).NotTo(BeEmpty())
							Expect(pod.IP).NotTo(Equal(w.Ref.StandinIP), "kwok gave the pod the offline stand-in's IP: the substitution below would prove nothing")
							ips[w.Ref.Name] = pod.IP
						}
						run, err = s.WithPodIPs(ips)
						Expect(err).NotTo(HaveOccurred())
						values, err = s.Values(ips)
						Expect(err).NotTo(HaveOccurred())
					})
				}
				for i, st := range s.Steps {
					files := "nothing new"
					if len(st.Apply) > 0 {
						files = strings.Join(st.ApplyFiles(), ", ")
					}
					if len(st.Delete) > 0 {
						files = "deletes " + strings.Join(st.Delete, ", ") + ", " + files
					}
					It(fmt.Sprintf("step %d %s applies %s", i+1, st.Name, files), func(ctx SpecContext) {
						s := run // with the workloads' pod IPs, when it has variables
						Expect(deploy.ApplyBundle(ctx, it.c, s, i, it.runID)).To(Succeed())
						applied := deploy.NewObjects(s, i)
						for _, o := range deploy.DeletedObjects(s, i) {
							if slices.ContainsFunc(applied, func(a scenario.Object) bool {
								return a.Kind == o.Kind && a.Namespace == o.Namespace && a.Name == o.Name
							}) {
								continue // deleted, then applied again by the same step
							}
							u := &unstructured.Unstructured{}
							u.SetAPIVersion(o.APIVersion)
							u.SetKind(o.Kind)
							on := o.Namespace
							if on == "" {
								on = ns
							}
							err := it.c.Client.Get(ctx, client.ObjectKey{Namespace: on, Name: o.Name}, u)
							Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s:%d %s %s/%s should be deleted, got %v", o.File, o.Line, o.Kind, on, o.Name, err)
						}
						for _, cr := range s.ClientRefs() {
							sc := &unstructured.Unstructured{}
							sc.SetAPIVersion("networking.istio.io/v1")
							sc.SetKind("Sidecar")
							Expect(it.c.Client.Get(ctx, client.ObjectKey{Namespace: cr.Namespace, Name: mesh.SidecarName}, sc)).To(Succeed())
						}
						for _, o := range deploy.NewObjects(s, i) {
							u := &unstructured.Unstructured{}
							u.SetAPIVersion(o.APIVersion) // read back in the version it was written in
							u.SetKind(o.Kind)
							on := o.Namespace
							if on == "" {
								on = ns
							}
							Expect(it.c.Client.Get(ctx, client.ObjectKey{Namespace: on, Name: o.Name}, u)).To(Succeed(), "%s:%d", o.File, o.Line)
							Expect(u.GetLabels()).To(HaveKeyWithValue(deploy.RunLabel, it.runID))
							if o.Template != nil {
								// The API server holds the run's values, never the
								// offline stand-in's.
								js, err := u.MarshalJSON()
								Expect(err).NotTo(HaveOccurred())
								for _, v := range o.Variables {
									Expect(string(js)).To(ContainSubstring(values[v]), "%s:%d: $%s", o.File, o.Line, v)
								}
								for _, w := range s.WorkloadRefs() {
									Expect(string(js)).NotTo(ContainSubstring(w.StandinIP), "%s:%d", o.File, o.Line)
								}
							}
							// Only a namespace the run did not create keeps its objects
							// one by one; one a bundle's Namespace object created (the
							// ambient catalog's istio-egress) is deleted whole.
							var onNS corev1.Namespace
							Expect(it.c.Client.Get(ctx, client.ObjectKey{Name: on}, &onNS)).To(Succeed())
							if on != ns && onNS.Labels[deploy.RunLabel] != it.runID {
								crossNamespace = append(crossNamespace, o.Kind+" "+on+"/"+o.Name)
							}
						}
					})
				}
			})
		}
	})
}

func mustRead(path string) []byte {
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	return data
}

func yamlToObject(data []byte, u *unstructured.Unstructured) error {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	return u.UnmarshalJSON(js)
}
