package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// ApplyError is a refused object: where it is written and what the API server (or
// the harness) said. Its message reads
// "serviceentry.yaml:3: ServiceEntry httpbin: <API server message>".
type ApplyError struct {
	// File and Line locate the object's document (File relative to the scenario
	// directory for bundle objects).
	File string
	Line int
	Kind string
	Name string
	Err  error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("%s:%d: %s %s: %v", e.File, e.Line, e.Kind, e.Name, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// ApplyBundle runs step (0-based) of s against the cluster: it deletes what the
// step's delete list removes (DeletedObjects), then applies what the step adds
// or replaces (NewObjects), in bundle order. Before them
// it applies the harness's Sidecar for s.Mesh.OutboundTrafficPolicy (mesh.Sidecar) in
// every client namespace of s (s.ClientRefs(), which must exist and be this run's:
// EnsureNamespace), at every step, so that it is there whatever steps a caller
// applies. Objects are applied with server-side apply (field manager FieldManager,
// conflicts forced: the harness owns them), labelled RunLabel=runID; a namespaced
// object that names no namespace goes to s.Namespace(); one that names another
// namespace (istio-system) goes there, which must exist. The first refusal stops it and is returned as an *ApplyError
// naming the file and line, wrapped with the scenario and step.
func ApplyBundle(ctx context.Context, c *Cluster, s *scenario.Scenario, step int, runID string) error {
	if step < 0 || step >= len(s.Steps) {
		return fmt.Errorf("scenario %s: step %d does not exist (it has %d)", s.Name, step, len(s.Steps))
	}
	st := s.Steps[step]
	wrap := func(err error) error {
		return fmt.Errorf("scenario %s step %d (%s): %w", s.Name, step+1, st.Name, err)
	}
	if err := ValidateRunID(runID); err != nil {
		return wrap(err)
	}
	// Every client namespace (the scenario's own first) gets the harness's Sidecar.
	for _, cr := range s.ClientRefs() {
		if err := ownedNamespace(ctx, c, cr.Namespace, runID); err != nil {
			return wrap(err)
		}
		if err := ApplySidecar(ctx, c, cr.Namespace, string(s.Mesh.OutboundTrafficPolicy), runID); err != nil {
			return wrap(err)
		}
	}
	// A step deletes first, then applies (scenario.Step): what it deletes is
	// gone before a replacement or a re-applied file is created.
	if err := DeleteObjects(ctx, c, s, DeletedObjects(s, step), runID); err != nil {
		return wrap(err)
	}
	if err := ApplyObjects(ctx, c, NewObjects(s, step), s.Namespace(), runID); err != nil {
		return wrap(err)
	}
	return nil
}

// ApplyObjects applies bundle objects in order, as ApplyBundle does (server-side
// apply, labelled RunLabel=runID); objects naming no namespace go to defaultNS.
// The first refusal stops it and is returned as an *ApplyError naming the file
// and line. The engine applies a plan's actions through it.
func ApplyObjects(ctx context.Context, c *Cluster, objs scenario.Bundle, defaultNS, runID string) error {
	if err := ValidateRunID(runID); err != nil {
		return err
	}
	for _, o := range objs {
		m, err := bundleManifest(o)
		if err != nil {
			return err
		}
		if err := applyManifest(ctx, c, m, defaultNS, runID); err != nil {
			return err
		}
	}
	return nil
}

// NewObjects are the objects step (0-based) applies: those it adds to the
// scenario's cumulative bundle and those that replace an earlier one in place
// (scenario.Scenario.StepChanges).
func NewObjects(s *scenario.Scenario, step int) scenario.Bundle {
	applied, _ := s.StepChanges(step)
	return applied
}

// DeletedObjects are the objects step (0-based) deletes before it applies
// (scenario.Scenario.StepChanges): what kubectl delete -f of its delete files removes.
func DeletedObjects(s *scenario.Scenario, step int) scenario.Bundle {
	_, deleted := s.StepChanges(step)
	return deleted
}

// DeleteObjects deletes what a step's delete list names (DeletedObjects),
// exactly as the run applied it: only objects labelled RunLabel=runID, each with
// its UID as a precondition (deleteRunObjects), and waits, bounded by
// Timeouts.Cleanup, until they are gone, so that the step's probe never sees
// them. Objects naming no namespace are in s's namespace. Nothing to delete is fine.
func DeleteObjects(ctx context.Context, c *Cluster, s *scenario.Scenario, b scenario.Bundle, runID string) error {
	if len(b) == 0 {
		return nil
	}
	if err := ValidateRunID(runID); err != nil {
		return err
	}
	refs, err := objectRefs(c, s, b)
	if err != nil {
		return err
	}
	if err := c.deleteRunObjects(ctx, refs, runID, c.timeouts().Cleanup); err != nil {
		return fmt.Errorf("deleting what the step's delete list names: %w", err)
	}
	return nil
}

// bundleManifest decodes o's document as written (its exact apiVersion and fields:
// the typed form would re-encode it).
func bundleManifest(o scenario.Object) (manifest, error) {
	u, err := decodeObject(o.YAML)
	if err != nil {
		return manifest{}, &ApplyError{File: o.File, Line: o.Line, Kind: o.Kind, Name: o.Name, Err: err}
	}
	// An apply entry's namespace (scenario.ApplyFile.Namespace) reaches the object
	// through the loader, not its YAML; the YAML's own namespace always wins.
	if u.GetNamespace() == "" && o.Namespace != "" {
		u.SetNamespace(o.Namespace)
	}
	return manifest{File: o.File, Line: o.Line, Obj: u}, nil
}

// ApplySidecar applies the harness's Sidecar (mesh.Sidecar) for mode in namespace,
// which must be this run's. Call it for every namespace a scenario's clients run in.
func ApplySidecar(ctx context.Context, c *Cluster, namespace, mode, runID string) error {
	sc, err := mesh.Sidecar(namespace, mode)
	if err != nil {
		return err
	}
	js, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("sidecar %s: %w", namespace, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return fmt.Errorf("sidecar %s: %w", namespace, err)
	}
	// A Go object carries a null creationTimestamp that apply would refuse.
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	m := manifest{File: "harness Sidecar (pkg/mesh)", Line: 0, Obj: u}
	return applyManifest(ctx, c, m, namespace, runID)
}

// applyManifest server-side applies m, labelled as the run's, in defaultNS when it
// is namespaced and names no namespace.
func applyManifest(ctx context.Context, c *Cluster, m manifest, defaultNS, runID string) error {
	u := m.Obj.DeepCopy()
	fail := func(err error) error {
		return &ApplyError{File: m.File, Line: m.Line, Kind: u.GetKind(), Name: u.GetName(), Err: err}
	}
	namespaced, err := c.Client.IsObjectNamespaced(u)
	if err != nil {
		if meta.IsNoMatchError(err) || errors.Is(err, &meta.NoKindMatchError{}) {
			return fail(fmt.Errorf("the API server serves no kind %s in %s (are its CRDs installed?)", u.GetKind(), u.GetAPIVersion()))
		}
		return fail(err)
	}
	switch {
	case namespaced && u.GetNamespace() == "":
		u.SetNamespace(defaultNS)
	case !namespaced && u.GetNamespace() != "":
		return fail(fmt.Errorf("%s is cluster-scoped but the document names namespace %s", u.GetKind(), u.GetNamespace()))
	}
	addLabels(u, ownedLabels(runID))
	err = c.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership)
	if err != nil {
		return fail(err)
	}
	return nil
}
