package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// CleanupScenario deletes what one scenario applied, before the next scenario
// starts: its client namespaces (with everything in them) and the bundle objects
// it applied elsewhere (an AuthorizationPolicy or DestinationRule in istio-system).
// Scenarios must not overlap: a VirtualService is visible mesh-wide by default and
// a Gateway binds to the shared egress gateway, so a leftover object of one
// scenario would change another's routing.
//
// Only objects carrying RunLabel=runID are deleted, with their UID as a
// precondition, so an object someone else created (or re-created meanwhile) is
// never touched. It waits, bounded by Timeouts.Cleanup, until they are gone.
func CleanupScenario(ctx context.Context, c *Cluster, s *scenario.Scenario, runID string) error {
	if err := ValidateRunID(runID); err != nil {
		return err
	}
	namespaces := map[string]bool{}
	var targets []objectRef
	for _, ref := range s.ClientRefs() {
		namespaces[ref.Namespace] = true
		targets = append(targets, objectRef{gvk: namespaceGVK, name: ref.Namespace})
	}
	bundle, err := bundleRefs(c, s)
	if err != nil {
		return err
	}
	for _, r := range bundle {
		if !namespaces[r.namespace] {
			targets = append(targets, r) // in a client namespace it goes with the namespace
		}
	}
	if err := c.deleteRunObjects(ctx, targets, runID, c.timeouts().Cleanup); err != nil {
		return fmt.Errorf("clean-up of scenario %s: %w", s.Name, err)
	}
	return nil
}

// DeleteBundle deletes the objects a scenario's steps applied (its whole
// cumulative bundle) and waits, within timeout, until they are gone, so that the
// scenario can be walked again from its first step and the next scenario starts
// from a mesh without its routing. Unlike CleanupScenario it keeps the scenario's
// namespaces, the harness Sidecar and the clients: the upgrade gate needs the same
// clients on both sides of the upgrade. Same rules: only RunLabel=runID objects,
// UID preconditions, absent objects and kinds the server no longer serves are fine.
func DeleteBundle(ctx context.Context, c *Cluster, s *scenario.Scenario, runID string, timeout time.Duration) error {
	if err := ValidateRunID(runID); err != nil {
		return err
	}
	targets, err := bundleRefs(c, s)
	if err != nil {
		return err
	}
	if err := c.deleteRunObjects(ctx, targets, runID, timeout); err != nil {
		return fmt.Errorf("removing scenario %s's bundle: %w", s.Name, err)
	}
	return nil
}

// objectRef names one object to delete.
type objectRef struct {
	gvk             schema.GroupVersionKind
	namespace, name string
}

// bundleRefs are the objects of s's cumulative bundle; a namespaced object without
// a namespace is in the scenario's namespace. A kind the server does not serve is
// taken as namespaced (no such object can exist anyway).
func bundleRefs(c *Cluster, s *scenario.Scenario) ([]objectRef, error) {
	n := len(s.Steps)
	if n == 0 {
		return nil, nil
	}
	return objectRefs(c, s, s.Steps[n-1].Bundle)
}

// objectRefs names the objects of b as the API server holds them.
func objectRefs(c *Cluster, s *scenario.Scenario, b scenario.Bundle) ([]objectRef, error) {
	var out []objectRef
	for _, o := range b {
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
		}
		r := objectRef{gvk: gv.WithKind(o.Kind), namespace: o.Namespace, name: o.Name}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(r.gvk)
		namespaced, err := c.Client.IsObjectNamespaced(u)
		if err != nil && !meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("%s:%d: %s %s: %w", o.File, o.Line, o.Kind, o.Name, err)
		}
		if (namespaced || err != nil) && r.namespace == "" {
			r.namespace = s.Namespace()
		}
		if !namespaced && err == nil {
			r.namespace = ""
		}
		out = append(out, r)
	}
	return out, nil
}

// deleteRunObjects deletes every target that carries RunLabel=runID (UID as a
// precondition; absent objects and unserved kinds are fine) and waits, bounded by
// timeout, until the deleted ones are gone. It returns every problem at once.
func (c *Cluster) deleteRunObjects(ctx context.Context, targets []objectRef, runID string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var deleted []objectRef
	var problems []string
	for _, tg := range targets {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(tg.gvk)
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: tg.namespace, Name: tg.name}, u)
		switch {
		case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
			continue
		case err != nil:
			problems = append(problems, fmt.Sprintf("get %s %s: %v", tg.gvk.Kind, key(tg.namespace, tg.name), err))
			continue
		case u.GetLabels()[RunLabel] != runID:
			// Not ours (or not this run's): leave it alone.
			continue
		}
		uid := u.GetUID()
		err = c.Client.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &uid})
		switch {
		case err == nil:
			deleted = append(deleted, tg)
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		default:
			problems = append(problems, fmt.Sprintf("delete %s %s: %v", tg.gvk.Kind, key(tg.namespace, tg.name), err))
		}
	}

	err := poll(ctx, c.timeouts().Poll, time.Until(deadline(ctx)), func(ctx context.Context) (bool, string, error) {
		var left []string
		for _, tg := range deleted {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(tg.gvk)
			switch err := c.Client.Get(ctx, client.ObjectKey{Namespace: tg.namespace, Name: tg.name}, u); {
			case apierrors.IsNotFound(err):
			case err != nil:
				return false, "", err
			default:
				left = append(left, tg.gvk.Kind+" "+key(tg.namespace, tg.name)+stuck(u))
			}
		}
		if len(left) > 0 {
			return false, "still present: " + strings.Join(left, "; "), nil
		}
		return true, "", nil
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func key(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(time.Minute)
	}
	return d
}
