package mesh

import (
	"context"
	"fmt"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Installed is what of an Istio mesh a cluster already has. A mesh is more than
// an istiod Deployment: a remote or managed control plane (istiod outside the
// cluster, e.g. a primary-remote install or a cloud's managed Istio) leaves only
// Istio's API groups and its injection webhooks here. The harness must not
// install over any of these, nor `uninstall --purge` them.
type Installed struct {
	// ControlPlanes are the istiod Deployments (label app=istiod), namespace/name.
	ControlPlanes []string
	// Revisions are the revisions of those Deployments and of the injection
	// webhooks (label istio.io/rev; "default" for the default revision).
	Revisions []string
	// Injectors are Istio's sidecar-injection MutatingWebhookConfigurations: the
	// chart labels them app=sidecar-injector (istio-discovery
	// templates/mutatingwebhook.yaml), revision tags istio.io/tag.
	Injectors []admissionv1.MutatingWebhookConfiguration
	// APIGroups are the Istio API groups the server serves (*.istio.io).
	APIGroups []string
}

// Any says whether any part of a mesh is there.
func (in Installed) Any() bool {
	return len(in.ControlPlanes) > 0 || len(in.Injectors) > 0 || len(in.APIGroups) > 0
}

// Remote says the mesh's control plane runs elsewhere: Istio's API or its
// injection webhooks are here, istiod is not.
func (in Installed) Remote() bool { return in.Any() && len(in.ControlPlanes) == 0 }

func (in Installed) String() string {
	if !in.Any() {
		return "no Istio"
	}
	var parts []string
	if len(in.ControlPlanes) > 0 {
		parts = append(parts, "istiod "+strings.Join(in.ControlPlanes, ", "))
	} else {
		parts = append(parts, "no istiod (a remote or managed control plane)")
	}
	if len(in.Revisions) > 0 {
		parts = append(parts, "revisions "+strings.Join(in.Revisions, ", "))
	}
	var names []string
	for _, w := range in.Injectors {
		names = append(names, w.Name)
	}
	if len(names) > 0 {
		parts = append(parts, "injection webhooks "+strings.Join(names, ", "))
	}
	if len(in.APIGroups) > 0 {
		parts = append(parts, "API groups "+strings.Join(in.APIGroups, ", "))
	}
	return strings.Join(parts, "; ")
}

// Discover reads what of Istio the cluster has: istiod Deployments, Istio's
// injection webhooks and the Istio API groups served.
func Discover(ctx context.Context, client kubernetes.Interface) (Installed, error) {
	var in Installed
	var err error
	if in.ControlPlanes, err = findControlPlanes(ctx, client); err != nil {
		return in, err
	}
	revs := map[string]bool{}
	deps, err := client.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return in, fmt.Errorf("list istiod deployments: %w", err)
	}
	for _, d := range deps.Items {
		revs[revisionOf(d.Labels)] = true
	}
	hooks, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsForbidden(err) {
		return in, fmt.Errorf("list mutating webhook configurations: %w", err)
	}
	if err == nil {
		for _, w := range hooks.Items {
			if w.Labels["app"] != "sidecar-injector" && w.Labels["istio.io/tag"] == "" {
				continue
			}
			in.Injectors = append(in.Injectors, w)
			if w.Labels["istio.io/tag"] == "" {
				revs[revisionOf(w.Labels)] = true
			}
		}
	}
	groups, err := client.Discovery().ServerGroups()
	if err != nil {
		return in, fmt.Errorf("list API groups: %w", err)
	}
	for _, g := range groups.Groups {
		if strings.HasSuffix(g.Name, ".istio.io") {
			in.APIGroups = append(in.APIGroups, g.Name)
		}
	}
	for r := range revs {
		in.Revisions = append(in.Revisions, r)
	}
	sort.Strings(in.Revisions)
	sort.Strings(in.APIGroups)
	return in, nil
}

func revisionOf(l map[string]string) string {
	if r := l["istio.io/rev"]; r != "" {
		return r
	}
	return "default"
}

// InjectionLabels are the namespace labels under which this mesh injects a
// sidecar into a pod that carries no injection label of its own: the first of
// istio-injection=enabled, then istio.io/rev=<revision> for each revision, that a
// webhook of in.Injectors selects (its namespaceSelector matches the namespace
// and its objectSelector an unlabelled pod). Deciding by the webhooks themselves
// covers the default revision, revisioned control planes and revision tags
// alike. It is an error when no candidate is selected: the scenarios' clients
// would run without a sidecar.
func (in Installed) InjectionLabels() (map[string]string, error) {
	candidates := []map[string]string{{"istio-injection": "enabled"}}
	for _, r := range in.Revisions {
		candidates = append(candidates, map[string]string{"istio.io/rev": r})
	}
	// Tags are revisions too, for a namespace.
	for _, w := range in.Injectors {
		if t := w.Labels["istio.io/tag"]; t != "" {
			candidates = append(candidates, map[string]string{"istio.io/rev": t})
		}
	}
	for _, c := range candidates {
		ok, err := in.injects(c)
		if err != nil {
			return nil, err
		}
		if ok {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no sidecar injection webhook of the installed mesh (%s) selects a namespace labelled "+
		"istio-injection=enabled or istio.io/rev=<revision>: the clients would run without a sidecar", in)
}

func (in Installed) injects(nsLabels map[string]string) (bool, error) {
	for _, cfg := range in.Injectors {
		for _, w := range cfg.Webhooks {
			ns, err := selects(w.NamespaceSelector, nsLabels)
			if err != nil {
				return false, fmt.Errorf("webhook %s/%s namespaceSelector: %w", cfg.Name, w.Name, err)
			}
			obj, err := selects(w.ObjectSelector, map[string]string{})
			if err != nil {
				return false, fmt.Errorf("webhook %s/%s objectSelector: %w", cfg.Name, w.Name, err)
			}
			if ns && obj {
				return true, nil
			}
		}
	}
	return false, nil
}

// selects applies a webhook's label selector as the API server does: nil selects
// everything.
func selects(sel *metav1.LabelSelector, l map[string]string) (bool, error) {
	if sel == nil {
		return true, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	return s.Matches(labels.Set(l)), nil
}

// ControlPlaneTargets are the istiod Deployments of an installed mesh as
// readiness targets (none for a remote control plane), followed by the egress
// gateway the scenarios route through.
func (in Installed) ControlPlaneTargets() []Target {
	var out []Target
	for _, cp := range in.ControlPlanes {
		ns, name, _ := strings.Cut(cp, "/")
		out = append(out, Target{Namespace: ns, Name: name})
	}
	return append(out, Target{Namespace: IstioNamespace, Name: EgressGatewayName})
}
