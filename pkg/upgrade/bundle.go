package upgrade

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// DeleteBundle deletes the objects a scenario's steps applied (its whole
// cumulative bundle) and waits, within timeout, until they are gone, so that the
// scenario can be walked again from its first step and the next scenario starts
// from a mesh without its routing. Unlike deploy.CleanupScenario it keeps the
// scenario's namespaces, the harness Sidecar and the clients: the upgrade gate
// needs the same clients on both sides of the upgrade.
//
// Only objects labelled deploy.RunLabel=runID are deleted, each with its UID as
// a precondition; objects that do not exist are fine.
func DeleteBundle(ctx context.Context, c client.Client, s *scenario.Scenario, runID string, poll, timeout time.Duration) error {
	if err := deploy.ValidateRunID(runID); err != nil {
		return err
	}
	if len(s.Steps) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type target struct {
		gvk             schema.GroupVersionKind
		namespace, name string
	}
	var deleted []target
	var problems []string
	for _, o := range s.Steps[len(s.Steps)-1].Bundle {
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
		}
		tg := target{gvk: gv.WithKind(o.Kind), namespace: o.Namespace, name: o.Name}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(tg.gvk)
		key := client.ObjectKey{Name: o.Name}
		if namespaced, err := c.IsObjectNamespaced(u); err == nil && namespaced {
			if tg.namespace == "" {
				tg.namespace = s.Namespace()
			}
			key.Namespace = tg.namespace
		} else if err != nil && !isNoMatch(err) {
			problems = append(problems, fmt.Sprintf("%s %s: %v", o.Kind, o.Name, err))
			continue
		}
		err = c.Get(ctx, key, u)
		switch {
		case apierrors.IsNotFound(err) || isNoMatch(err):
			continue
		case err != nil:
			problems = append(problems, fmt.Sprintf("get %s %s: %v", o.Kind, describeKey(key), err))
			continue
		case u.GetLabels()[deploy.RunLabel] != runID:
			continue // not this run's: never touched
		}
		uid := u.GetUID()
		err = c.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &uid})
		switch {
		case err == nil:
			deleted = append(deleted, tg)
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		default:
			problems = append(problems, fmt.Sprintf("delete %s %s: %v", o.Kind, describeKey(key), err))
		}
	}
	for {
		var left []string
		for _, tg := range deleted {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(tg.gvk)
			err := c.Get(ctx, client.ObjectKey{Namespace: tg.namespace, Name: tg.name}, u)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				left = append(left, fmt.Sprintf("%s %s: %v", tg.gvk.Kind, tg.name, err))
			default:
				left = append(left, tg.gvk.Kind+" "+describeKey(client.ObjectKey{Namespace: tg.namespace, Name: tg.name}))
			}
		}
		if len(left) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			problems = append(problems, "still present after "+timeout.String()+": "+strings.Join(left, ", "))
		case <-time.After(poll):
			continue
		}
		break
	}
	if len(problems) > 0 {
		return fmt.Errorf("removing scenario %s's bundle: %s", s.Name, strings.Join(problems, "; "))
	}
	return nil
}

func describeKey(k client.ObjectKey) string {
	if k.Namespace == "" {
		return k.Name
	}
	return k.Namespace + "/" + k.Name
}

// isNoMatch: the server does not serve the kind (its CRDs are gone), so no such
// object can exist.
func isNoMatch(err error) bool { return err != nil && meta.IsNoMatchError(err) }
