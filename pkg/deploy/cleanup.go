package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CleanupResult says what Cleanup removed and what it could not.
type CleanupResult struct {
	// Deleted names every object Cleanup deleted ("Namespace egress-x",
	// "CustomResourceDefinition gateways.gateway.networking.k8s.io",
	// "ServiceEntry istio-system/foo"); objects inside a deleted namespace are not
	// listed one by one.
	Deleted []string
	// Left names what still existed when the bound ran out, with why when the server
	// says (a namespace's conditions).
	Left []string
	// Notes are kinds that could not be looked at (discovery or list failures).
	Notes []string
}

// owned is an object carrying the run label.
type owned struct {
	gvk       schema.GroupVersionKind
	namespace string
	name      string
	uid       types.UID
}

func (o owned) String() string {
	if o.namespace != "" {
		return o.gvk.Kind + " " + o.namespace + "/" + o.name
	}
	return o.gvk.Kind + " " + o.name
}

var (
	namespaceGVK = corev1.SchemeGroupVersion.WithKind("Namespace")
)

// Cleanup deletes every namespace and every other object that carries
// RunLabel=runID, and nothing else, then waits (Timeouts.Cleanup) until they are
// gone. With c.Discovery it finds labelled objects of every kind the server serves
// (cluster-scoped ones, and namespaced ones outside the run's namespaces); without,
// only namespaces and CRDs. Deletion uses the object's UID as a precondition, so an
// object re-created meanwhile by someone else is never deleted.
//
// It never hangs: when the bound runs out it returns what is left (CleanupResult.Left)
// and an error naming it. Pass a context that an interrupt has not cancelled
// (CleanupContext).
func Cleanup(ctx context.Context, c *Cluster, runID string) (CleanupResult, error) {
	var res CleanupResult
	if err := ValidateRunID(runID); err != nil {
		return res, err
	}
	t := c.timeouts()
	start := time.Now()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, t.Cleanup)
	defer cancel()
	sel := client.MatchingLabels{RunLabel: runID}

	// Namespaces first: their contents go with them.
	var nsList corev1.NamespaceList
	if err := c.Client.List(ctx, &nsList, sel); err != nil {
		return res, fmt.Errorf("clean-up of run %s: list namespaces: %w", runID, err)
	}
	ours := map[string]bool{}
	var namespaces []owned
	for _, ns := range nsList.Items {
		if ns.Labels[RunLabel] != runID { // a fake or a misbehaving server: never trust blindly
			continue
		}
		ours[ns.Name] = true
		namespaces = append(namespaces, owned{gvk: namespaceGVK, name: ns.Name, uid: ns.UID})
	}

	var namespaced, cluster, crds []owned
	kinds, notes := ownedKinds(c.Discovery)
	res.Notes = append(res.Notes, notes...)
	for _, k := range kinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(k.gvk.GroupVersion().WithKind(k.gvk.Kind + "List"))
		if err := c.Client.List(ctx, list, sel); err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("clean-up of run %s: %w", runID, ctx.Err())
			}
			res.Notes = append(res.Notes, fmt.Sprintf("list %s: %v", k.gvk, err))
			continue
		}
		for _, u := range list.Items {
			if u.GetLabels()[RunLabel] != runID || (u.GetNamespace() != "" && ours[u.GetNamespace()]) {
				continue
			}
			o := owned{gvk: k.gvk, namespace: u.GetNamespace(), name: u.GetName(), uid: u.GetUID()}
			switch {
			case k.gvk == crdGVK:
				crds = append(crds, o)
			case k.namespaced:
				namespaced = append(namespaced, o)
			default:
				cluster = append(cluster, o)
			}
		}
	}

	// Objects elsewhere, then namespaces, cluster-scoped objects, CRDs last (deleting a
	// CRD deletes its objects everywhere, and those of this run are already going).
	var deleted []owned
	for _, group := range [][]owned{namespaced, namespaces, cluster, crds} {
		for _, o := range group {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(o.gvk)
			u.SetNamespace(o.namespace)
			u.SetName(o.name)
			uid := o.uid
			err := c.Client.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationBackground),
				client.Preconditions{UID: &uid})
			switch {
			case err == nil:
				deleted = append(deleted, o)
				res.Deleted = append(res.Deleted, o.String())
			case apierrors.IsNotFound(err), apierrors.IsConflict(err):
				// gone already, or re-created by someone else (UID precondition failed)
			default:
				res.Notes = append(res.Notes, fmt.Sprintf("delete %s: %v", o, err))
				deleted = append(deleted, o) // still wait for it: it may be going
			}
		}
	}
	if len(deleted) > 0 {
		c.logf("clean-up of run %s: deleted %d object(s), waiting until they are gone", runID, len(deleted))
	}

	var left []string
	err := poll(parent, t.Poll, t.Cleanup-time.Since(start), func(ctx context.Context) (bool, string, error) {
		left = left[:0]
		for _, o := range deleted {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(o.gvk)
			err := c.Client.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: o.name}, u)
			switch {
			case apierrors.IsNotFound(err):
				continue
			case err != nil:
				return false, "", err
			case u.GetUID() != o.uid:
				continue // ours is gone; this one is someone else's
			}
			left = append(left, o.String()+stuck(u))
		}
		if len(left) > 0 {
			return false, "still present: " + strings.Join(left, "; "), nil
		}
		return true, "", nil
	})
	res.Left = slices.Clone(left)
	if err != nil {
		if len(res.Left) == 0 {
			res.Left = []string{"(not known: " + err.Error() + ")"}
		}
		return res, fmt.Errorf("clean-up of run %s: %w", runID, err)
	}
	return res, nil
}

// stuck says why a terminating object is not gone, when the server tells.
func stuck(u *unstructured.Unstructured) string {
	var why []string
	if u.GetDeletionTimestamp() == nil {
		why = append(why, "not terminating")
	}
	if f := u.GetFinalizers(); len(f) > 0 {
		why = append(why, "finalizers "+strings.Join(f, ","))
	}
	if u.GetKind() == "Namespace" {
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if s, _ := m["status"].(string); s == "True" {
				if msg, _ := m["message"].(string); msg != "" {
					why = append(why, msg)
				}
			}
		}
	}
	if len(why) == 0 {
		return ""
	}
	return " (" + strings.Join(why, "; ") + ")"
}

type kind struct {
	gvk        schema.GroupVersionKind
	namespaced bool
}

// ownedKinds lists the kinds Cleanup looks for labelled objects in: every kind the
// server serves that can be listed and deleted (its preferred version), but
// namespaces (listed apart). Without a discovery client: CRDs only.
func ownedKinds(d discovery.DiscoveryInterface) ([]kind, []string) {
	if d == nil {
		return []kind{{gvk: crdGVK}}, nil
	}
	var notes []string
	lists, err := discovery.ServerPreferredResources(d)
	if err != nil {
		var gdf *discovery.ErrGroupDiscoveryFailed
		if !errors.As(err, &gdf) {
			return []kind{{gvk: crdGVK}}, []string{"discovery failed, looked at namespaces and CRDs only: " + err.Error()}
		}
		notes = append(notes, "discovery incomplete: "+err.Error())
	}
	var out []kind
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			gvk := gv.WithKind(r.Kind)
			if gvk == namespaceGVK {
				continue
			}
			out = append(out, kind{gvk: gvk, namespaced: r.Namespaced})
		}
	}
	slices.SortFunc(out, func(a, b kind) int { return strings.Compare(a.gvk.String(), b.gvk.String()) })
	return out, notes
}
