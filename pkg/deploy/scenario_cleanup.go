package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	t := c.timeouts()
	ctx, cancel := context.WithTimeout(ctx, t.Cleanup)
	defer cancel()

	type target struct {
		gvk             schema.GroupVersionKind
		namespace, name string
	}
	namespaces := map[string]bool{}
	var targets []target
	for _, ref := range s.ClientRefs() {
		namespaces[ref.Namespace] = true
		targets = append(targets, target{gvk: namespaceGVK, name: ref.Namespace})
	}
	if n := len(s.Steps); n > 0 {
		for _, o := range s.Steps[n-1].Bundle {
			ns := o.Namespace
			if ns == "" {
				ns = s.Namespace()
			}
			if namespaces[ns] {
				continue // goes with its namespace
			}
			gv, err := schema.ParseGroupVersion(o.APIVersion)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
			}
			targets = append(targets, target{gvk: gv.WithKind(o.Kind), namespace: ns, name: o.Name})
		}
	}

	var deleted []target
	var problems []string
	for _, tg := range targets {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(tg.gvk)
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: tg.namespace, Name: tg.name}, u)
		switch {
		case apierrors.IsNotFound(err):
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

	err := poll(ctx, t.Poll, time.Until(deadline(ctx)), func(ctx context.Context) (bool, string, error) {
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
		return fmt.Errorf("clean-up of scenario %s: %s", s.Name, strings.Join(problems, "; "))
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
