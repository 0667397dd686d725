package external

import (
	"fmt"
	"slices"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// AdaptScenario returns a copy of s whose DestinationRules that originate TLS to a
// stand-in host trust the run's CA (AdaptDestinationRule), and the namespaces that
// need the CA ConfigMap (CAConfigMap) before those rules are applied. s itself is
// not changed: its objects are shared between steps and with the offline tier.
// The scenario files on disk stay identical in both modes; only what is applied
// differs, and DRY_RUN prints that.
func (st *Standin) AdaptScenario(s *scenario.Scenario) (*scenario.Scenario, []string, error) {
	out := *s
	out.Steps = make([]scenario.Step, len(s.Steps))
	adapted := map[*scenario.Object]scenario.Object{}
	var caNamespaces []string
	for i, step := range s.Steps {
		out.Steps[i] = step
		out.Steps[i].Bundle = make(scenario.Bundle, len(step.Bundle))
		for j := range step.Bundle {
			o := &s.Steps[i].Bundle[j]
			if a, ok := adapted[o]; ok {
				out.Steps[i].Bundle[j] = a
				continue
			}
			a := *o
			if o.Kind == "DestinationRule" {
				y, ns, err := st.AdaptDestinationRule(o.YAML, s.Namespace())
				if err != nil {
					return nil, nil, fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
				}
				a.YAML = y
				if ns != "" && !slices.Contains(caNamespaces, ns) {
					caNamespaces = append(caNamespaces, ns)
				}
			}
			adapted[o] = a
			out.Steps[i].Bundle[j] = a
		}
	}
	return &out, caNamespaces, nil
}
