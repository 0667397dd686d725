package deploy

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// ClientPod is the client workload's pod, Ready.
type ClientPod struct {
	Namespace  string
	Deployment string
	// Name and IP of the pod.
	Name string
	IP   string
	// Container is the workload's own container (the first one that is not
	// istio-proxy): where curl runs.
	Container string
	// Sidecar says how the istio-proxy requirement was met: "istio-proxy present",
	// or "not checked: <reason>" when WithoutSidecar was given, or "none: ..."
	// for an Uninjected client.
	Sidecar string
	// NoSidecar: the client was deployed Uninjected and runs without istio-proxy,
	// so there is no client sidecar whose log could be read.
	NoSidecar bool
	// hasSidecar: the pod has istio-proxy (clientReady's finding).
	hasSidecar bool
}

// ClientOption changes what DeployClient requires.
type ClientOption func(*clientOptions)

type clientOptions struct {
	noSidecar       bool
	noSidecarReason string
	// uninjected: the pod must run without istio-proxy (scenario clients with
	// injected: false).
	uninjected bool
	// annotations go on the Deployment's pod template.
	annotations map[string]string
}

// WithPodAnnotations puts annotations on the client Deployment's pod template
// (a scenario client's annotations: traffic.sidecar.istio.io/excludeOutboundPorts
// and the like, read by Istio's injector when the pod is created).
func WithPodAnnotations(a map[string]string) ClientOption {
	return func(o *clientOptions) { o.annotations = a }
}

// Uninjected deploys the client without Istio's sidecar, as a scenario's client
// with injected: false: the Deployment's pod template gets the label
// sidecar.istio.io/inject: "false" (not the annotation of the same name, which
// istioctl analyze reports as deprecated, IST0135), and a pod that has
// istio-proxy all the same fails at once. The label is what Istio's injector
// reads first (istio.io/istio pkg/kube/inject/inject.go injectRequired: "The label
// is the new API; if both are present we prefer the label"), and the sidecar
// injector webhook's object selector skips pods carrying it before the webhook is
// even called (manifests/charts/istio-control/istio-discovery/templates/
// mutatingwebhook.yaml). It is needed when an injected client shares the
// namespace; a namespace of uninjected clients alone is also left without the
// injection label (EnsureScenarioClient).
func Uninjected() ClientOption {
	return func(o *clientOptions) { o.uninjected = true }
}

// ErrUnexpectedSidecar is wrapped when a client deployed Uninjected got istio-proxy.
var ErrUnexpectedSidecar = errors.New("a client declared without a sidecar got one")

// WithoutSidecar drops the requirement that the client pod has an istio-proxy
// container, for an API server without Istio's injection webhook (the integration
// tier). reason says why, and ClientPod.Sidecar repeats it; it must not be empty.
func WithoutSidecar(reason string) ClientOption {
	return func(o *clientOptions) { o.noSidecar, o.noSidecarReason = true, strings.TrimSpace(reason) }
}

// ErrNoSidecar is wrapped when the client pod was created without istio-proxy.
var ErrNoSidecar = errors.New("sidecar injection did not happen")

// DeployClient applies the workload file (fixtures/workloads/<client>.yaml: one
// Deployment, plus e.g. its ServiceAccount and Service) into namespace, which must be
// this run's, labelled RunLabel=runID, and waits, bounded by Timeouts.ClientReady,
// until the Deployment has rolled out and its pod is Ready. The pod must have an
// istio-proxy container (injection happened; as a native sidecar, an init container,
// too): a pod without it fails at once, since injection happens only at creation.
// WithoutSidecar turns that requirement off.
func DeployClient(ctx context.Context, c *Cluster, workloadFile, namespace, runID string, opts ...ClientOption) (ClientPod, error) {
	var o clientOptions
	for _, f := range opts {
		f(&o)
	}
	if o.noSidecar && o.noSidecarReason == "" {
		return ClientPod{}, fmt.Errorf("WithoutSidecar: say why the istio-proxy requirement is dropped")
	}
	sidecarRequired := !o.noSidecar && !o.uninjected
	fail := func(err error) (ClientPod, error) {
		return ClientPod{}, fmt.Errorf("client %s in namespace %s: %w", filepath.Base(workloadFile), namespace, err)
	}
	if err := ValidateRunID(runID); err != nil {
		return fail(err)
	}
	if err := ownedNamespace(ctx, c, namespace, runID); err != nil {
		return fail(err)
	}
	ms, err := readManifests(workloadFile, workloadFile)
	if err != nil {
		return fail(err)
	}
	var deploy string
	for _, m := range ms {
		if m.Obj.GetNamespace() != "" && m.Obj.GetNamespace() != namespace {
			return fail(fmt.Errorf("%s: names namespace %s; a workload file must name none", m.where(), m.Obj.GetNamespace()))
		}
		if m.Obj.GetAPIVersion() == "apps/v1" && m.Obj.GetKind() == "Deployment" {
			if deploy != "" {
				return fail(fmt.Errorf("%s: a second Deployment (%s is the first): a workload file holds one", m.where(), deploy))
			}
			deploy = m.Obj.GetName()
		}
	}
	if deploy == "" {
		return fail(fmt.Errorf("%s holds no apps/v1 Deployment", workloadFile))
	}
	for _, m := range ms {
		if m.Obj.GetAPIVersion() == "apps/v1" && m.Obj.GetKind() == "Deployment" && len(o.annotations) > 0 {
			m.Obj = m.Obj.DeepCopy()
			for k, v := range o.annotations {
				if err := unstructured.SetNestedField(m.Obj.Object, v, "spec", "template", "metadata", "annotations", k); err != nil {
					return fail(fmt.Errorf("%s: pod template annotation %s: %w", m.where(), k, err))
				}
			}
		}
		if o.uninjected && m.Obj.GetAPIVersion() == "apps/v1" && m.Obj.GetKind() == "Deployment" {
			m.Obj = m.Obj.DeepCopy()
			if err := unstructured.SetNestedField(m.Obj.Object, "false", "spec", "template", "metadata", "labels", scenario.InjectLabel); err != nil {
				return fail(fmt.Errorf("%s: pod template label %s: %w", m.where(), scenario.InjectLabel, err))
			}
		}
		if err := applyManifest(ctx, c, m, namespace, runID); err != nil {
			return fail(err)
		}
	}
	t := c.timeouts()
	var pod ClientPod
	err = poll(ctx, t.Poll, t.ClientReady, func(ctx context.Context) (bool, string, error) {
		p, state, err := clientReady(ctx, c.Client, namespace, deploy, sidecarRequired)
		if err != nil {
			return false, state, err
		}
		if p == nil {
			return false, state, nil
		}
		if o.uninjected && p.hasSidecar {
			return false, "", fmt.Errorf("pod %s has %s although its template says %s: \"false\": %w",
				p.Name, SidecarContainer, scenario.InjectLabel, ErrUnexpectedSidecar)
		}
		pod = *p
		return true, "", nil
	})
	if err != nil {
		return fail(fmt.Errorf("Deployment %s: %w", deploy, err))
	}
	switch {
	case o.uninjected:
		pod.Sidecar = "none: deployed with " + scenario.InjectLabel + `: "false"`
		pod.NoSidecar = true
	case sidecarRequired:
		pod.Sidecar = SidecarContainer + " present"
	default:
		pod.Sidecar = "not checked: " + o.noSidecarReason
	}
	return pod, nil
}

// clientReady looks once: the Ready pod of a rolled-out Deployment, or nil and a
// description of what is missing. A pod without istio-proxy when one is required
// is an error.
func clientReady(ctx context.Context, cl client.Client, namespace, name string, sidecarRequired bool) (*ClientPod, string, error) {
	var d appsv1.Deployment
	if err := cl.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &d); err != nil {
		return nil, "", err
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, "", fmt.Errorf("selector: %w", err)
	}
	var pods corev1.PodList
	if err := cl.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, "", err
	}
	live := slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
	slices.SortFunc(live, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	if sidecarRequired {
		for i := range live {
			if !hasSidecar(&live[i]) {
				var nsObj corev1.Namespace
				labels := "?"
				if err := cl.Get(ctx, client.ObjectKey{Name: namespace}, &nsObj); err == nil {
					labels = fmt.Sprint(nsObj.Labels)
				}
				return nil, "", fmt.Errorf("pod %s has no %s container (containers: %s): %w; is Istio installed "+
					"with its injection webhook, and does the namespace carry %s=enabled (its labels: %s)?",
					live[i].Name, SidecarContainer, containerNames(&live[i]), ErrNoSidecar, InjectionLabel, labels)
			}
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	rolled := d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
		d.Status.ReadyReplicas == want && d.Status.Replicas == want
	var ready []corev1.Pod
	for _, p := range live {
		if podReady(&p) && p.Status.PodIP != "" {
			ready = append(ready, p)
		}
	}
	if !rolled || len(ready) == 0 {
		return nil, describeRollout(ctx, cl, &d, want, live), nil
	}
	p := ready[0]
	return &ClientPod{
		Namespace: namespace, Deployment: name, Name: p.Name, IP: p.Status.PodIP,
		Container: workloadContainer(&p), hasSidecar: hasSidecar(&p),
	}, "", nil
}

func hasSidecar(p *corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		if c.Name == SidecarContainer {
			return true
		}
	}
	for _, c := range p.Spec.InitContainers { // native sidecar (restartPolicy: Always)
		if c.Name == SidecarContainer && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return true
		}
	}
	return false
}

func containerNames(p *corev1.Pod) string {
	var n []string
	for _, c := range p.Spec.InitContainers {
		n = append(n, c.Name+" (init)")
	}
	for _, c := range p.Spec.Containers {
		n = append(n, c.Name)
	}
	return strings.Join(n, ", ")
}

func workloadContainer(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		if c.Name != SidecarContainer {
			return c.Name
		}
	}
	return ""
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// describeRollout says why the client is not ready yet: Deployment status, each
// pod's phase and waiting containers, and the newest warning events of the pods.
func describeRollout(ctx context.Context, cl client.Client, d *appsv1.Deployment, want int32, pods []corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Deployment %s: %d/%d updated, %d ready", d.Name, d.Status.UpdatedReplicas, want, d.Status.ReadyReplicas)
	for _, c := range d.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			fmt.Fprintf(&b, "; %s: %s", c.Type, c.Message)
		}
	}
	if len(pods) == 0 {
		b.WriteString("; no pod yet")
	}
	for i := range pods {
		p := &pods[i]
		fmt.Fprintf(&b, "; pod %s %s", p.Name, p.Status.Phase)
		if p.Spec.NodeName == "" {
			b.WriteString(" (not scheduled)")
		}
		for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			if w := cs.State.Waiting; w != nil {
				fmt.Fprintf(&b, ", %s waiting: %s %s", cs.Name, w.Reason, w.Message)
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue && c.Message != "" {
				fmt.Fprintf(&b, ", %s: %s", c.Type, c.Message)
			}
		}
		var evs corev1.EventList
		if err := cl.List(ctx, &evs, client.InNamespace(p.Namespace)); err == nil {
			var warn []string
			for _, e := range evs.Items {
				if e.InvolvedObject.Name == p.Name && e.Type == corev1.EventTypeWarning {
					warn = append(warn, e.Reason+": "+e.Message)
				}
			}
			if len(warn) > 3 {
				warn = warn[len(warn)-3:]
			}
			for _, w := range warn {
				fmt.Fprintf(&b, ", event %s", w)
			}
		}
	}
	return b.String()
}

// EnsureScenarioClient prepares one client of a scenario and deploys it: its
// namespace (this run's; labelled for injection only when an injected client of
// s lives there, scenario.Scenario.InjectedNamespace, so a namespace of
// uninjected clients alone has no injection label at all), the harness Sidecar
// for s's outbound policy, and the workload (fixtures/workloads/<workload>.yaml
// under workloadDir), Uninjected when the client says injected: false. The
// harness never labels or edits a namespace it did not create (EnsureNamespace).
func EnsureScenarioClient(ctx context.Context, c *Cluster, s *scenario.Scenario, cr scenario.ClientRef, workloadDir, runID string, opts ...ClientOption) (ClientPod, error) {
	if err := EnsureNamespace(ctx, c, cr.Namespace, runID, s.InjectedNamespace(cr.Namespace)); err != nil {
		return ClientPod{}, err
	}
	if err := ApplySidecar(ctx, c, cr.Namespace, string(s.Mesh.OutboundTrafficPolicy), runID); err != nil {
		return ClientPod{}, err
	}
	if !cr.Injected && !cr.Ambient() {
		opts = append(opts, Uninjected())
	}
	if a := s.AnnotationsOf(cr); len(a) > 0 {
		opts = append(opts, WithPodAnnotations(a))
	}
	return DeployClient(ctx, c, filepath.Join(workloadDir, cr.Workload+".yaml"), cr.Namespace, runID, opts...)
}
