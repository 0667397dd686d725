package scenario

import (
	"path/filepath"
	"slices"
)

// StepChanges is what step i (0-based) does to the cluster, in the order a user
// would type it (kubectl delete -f, then kubectl apply -f):
//
//   - deleted: the objects of the previous step's bundle that this step removes:
//     those its delete files held (kubectl delete -f deletes them even when a
//     later file replaced one), i.e. every earlier object whose kind, namespace and
//     name is no longer in this step's bundle, plus every earlier object of a file
//     the step deletes and applies again (it is deleted, then created anew);
//   - applied: the objects of this step's bundle that it applies: new ones, ones
//     that replace an earlier object in place (same kind, namespace and name, from
//     another document), and every object of a file in the step's apply list.
//
// Both keep bundle order. Out-of-range steps have no changes. The loader has built
// Step.Bundle; StepChanges only compares bundles, so every tier (the cluster's
// apply, DRY_RUN's plan) reads one answer.
func (s *Scenario) StepChanges(i int) (applied, deleted Bundle) {
	if i < 0 || i >= len(s.Steps) {
		return nil, nil
	}
	st := s.Steps[i]
	var prev Bundle
	if i > 0 {
		prev = s.Steps[i-1].Bundle
	}
	clean := func(names []string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[filepath.ToSlash(filepath.Clean(filepath.FromSlash(n)))] = true
		}
		return m
	}
	deletes, applies := clean(st.Delete), clean(st.ApplyFiles())
	now := map[objectKey]bool{}
	for _, o := range st.Bundle {
		now[keyOf(o)] = true
	}
	for _, o := range prev {
		if !now[keyOf(o)] || (deletes[o.File] && applies[o.File]) {
			deleted = append(deleted, o)
		}
	}
	for _, o := range st.Bundle {
		same := slices.ContainsFunc(prev, func(p Object) bool {
			return keyOf(p) == keyOf(o) && p.File == o.File && p.Line == o.Line
		})
		if !same || applies[o.File] {
			applied = append(applied, o)
		}
	}
	return applied, deleted
}
