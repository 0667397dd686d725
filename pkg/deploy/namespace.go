package deploy

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ErrNotOurs is wrapped by every refusal to touch something the run did not create.
var ErrNotOurs = errors.New("not created by this run of egress-conformance")

// EnsureNamespace makes namespace name exist, labelled with RunLabel=runID and
// ManagedByLabel (and, when inject, c.Injection or InjectionLabel=enabled). It creates it when it
// does not exist (after waiting, bounded, for a terminating one of the same name to
// go). An existing namespace is used only when it carries RunLabel: with runID, it
// is this run's; with another run's id it is taken over only when c.Reuse is set.
// A namespace without RunLabel is the user's and is never used.
func EnsureNamespace(ctx context.Context, c *Cluster, name, runID string, inject bool) error {
	if err := ValidateRunID(runID); err != nil {
		return err
	}
	want := ownedLabels(runID)
	if inject {
		for k, v := range c.injection() {
			want[k] = v
		}
	}
	t := c.timeouts()
	var ns corev1.Namespace
	err := poll(ctx, t.Poll, t.Namespace, func(ctx context.Context) (bool, string, error) {
		err := c.Client.Get(ctx, client.ObjectKey{Name: name}, &ns)
		switch {
		case apierrors.IsNotFound(err):
			create := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: want}}
			err := c.Client.Create(ctx, create)
			if apierrors.IsAlreadyExists(err) {
				return false, "", nil // created meanwhile: look again
			}
			if err != nil {
				return false, "", fmt.Errorf("namespace %s: create: %w", name, err)
			}
			ns = *create
			return true, "", nil
		case err != nil:
			return false, "", fmt.Errorf("namespace %s: %w", name, err)
		}
		if err := checkOwner(&ns, runID, c.Reuse); err != nil {
			return false, "", err
		}
		if ns.DeletionTimestamp != nil {
			c.logf("namespace %s is terminating (left by run %s): waiting until it is gone", name, ns.Labels[RunLabel])
			return false, fmt.Sprintf("namespace %s is still terminating", name), nil
		}
		return true, "", nil
	})
	if err != nil {
		if errors.Is(err, ErrNotOurs) {
			return err
		}
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	// Ours (or taken over): make the labels what this run wants.
	changed := false
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	for k, v := range want {
		if ns.Labels[k] != v {
			ns.Labels[k] = v
			changed = true
		}
	}
	if changed {
		if err := c.Client.Update(ctx, &ns); err != nil {
			return fmt.Errorf("namespace %s: label: %w", name, err)
		}
	}
	return nil
}

// injection is c.Injection, or InjectionLabel=enabled.
func (c *Cluster) injection() map[string]string {
	if len(c.Injection) > 0 {
		return c.Injection
	}
	return map[string]string{InjectionLabel: "enabled"}
}

// checkOwner refuses a namespace this run may not use.
func checkOwner(ns *corev1.Namespace, runID string, reuse bool) error {
	owner, ok := ns.Labels[RunLabel]
	switch {
	case !ok:
		return fmt.Errorf("namespace %s already exists without the label %s, so it is %w: the harness never "+
			"uses or deletes a namespace it did not create; rename the scenario or remove the namespace yourself",
			ns.Name, RunLabel, ErrNotOurs)
	case owner == runID:
		return nil
	case !reuse:
		return fmt.Errorf("namespace %s belongs to another run (%s=%s), it is %w; delete it "+
			"(kubectl delete namespace %s) or set REUSE_CLUSTER=1 to take it over", ns.Name, RunLabel, owner, ErrNotOurs, ns.Name)
	}
	return nil
}

// ownedNamespace returns an error unless namespace name exists and carries RunLabel=runID.
func ownedNamespace(ctx context.Context, c *Cluster, name, runID string) error {
	var ns corev1.Namespace
	if err := c.Client.Get(ctx, client.ObjectKey{Name: name}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace %s does not exist: call EnsureNamespace first", name)
		}
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	if ns.Labels[RunLabel] != runID {
		return fmt.Errorf("namespace %s: %s=%q, want %q: it is %w", name, RunLabel, ns.Labels[RunLabel], runID, ErrNotOurs)
	}
	return nil
}
