package upgrade

import (
	"fmt"
	"strings"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Label is the tier label every upgrade scenario carries for LABEL_FILTER.
const Label = "upgrade"

// SelectScenarios keeps the scenarios whose labels (their own plus "upgrade")
// match filter, in Ginkgo's label-filter syntax ('egress-gateway && !tls').
//
// The upgrade suite selects scenarios itself instead of passing the filter to
// Ginkgo: its specs are phases and upgrade windows that belong to no scenario, and
// a Ginkgo label filter on scenario labels would filter them out.
func SelectScenarios(all []*scenario.Scenario, filter string) ([]*scenario.Scenario, error) {
	if strings.TrimSpace(filter) == "" {
		return all, nil
	}
	match, err := types.ParseLabelFilter(filter)
	if err != nil {
		return nil, fmt.Errorf("LABEL_FILTER=%q: %w", filter, err)
	}
	var out []*scenario.Scenario
	for _, s := range all {
		if match(append([]string{Label}, s.Labels...)) {
			out = append(out, s)
		}
	}
	return out, nil
}

// ProbeChoice is the step the background prober repeats during an upgrade window.
type ProbeChoice struct {
	Scenario *scenario.Scenario
	// Step is the step's index: the prober's scenario has its bundle applied up to
	// and including it for the whole window.
	Step int
	// Reason says why there is no probe when Scenario is nil.
	Reason string
}

// Enabled reports whether a probe was chosen.
func (p ProbeChoice) Enabled() bool { return p.Scenario != nil }

func (p ProbeChoice) String() string {
	if !p.Enabled() {
		return "none (" + p.Reason + ")"
	}
	return p.Scenario.Name + "/" + p.Scenario.Steps[p.Step].Name
}

// preferredProbe is the automatic choice when it is selected: the seed scenario's
// step through the egress gateway, plain HTTP, whose every probe is judged on
// both proxies' lines and httpbin's two-hop origin chain.
const preferredProbe = "egress-gateway-http/after-routing"

// ChooseProbe picks the prober's step among the selected, not skipped, scenarios.
// spec is UPGRADE_PROBE: "scenario/step" names one (it must be selected and route
// through the egress gateway), "none" turns the prober off, empty picks
// egress-gateway-http/after-routing if selected, else the first step (in scenario
// order) whose route is egress-gateway and whose request is plain HTTP (so the
// gateway can show the request itself). skip holds the scenarios that will be
// skipped, with why.
func ChooseProbe(scenarios []*scenario.Scenario, skip map[string]string, spec string) (ProbeChoice, error) {
	spec = strings.TrimSpace(spec)
	if spec == "none" {
		return ProbeChoice{Reason: EnvProbe + "=none"}, nil
	}
	find := func(name, step string) (*scenario.Scenario, int) {
		for _, s := range scenarios {
			if s.Name != name {
				continue
			}
			for i, st := range s.Steps {
				if st.Name == step {
					return s, i
				}
			}
		}
		return nil, -1
	}
	if spec != "" {
		name, step, ok := strings.Cut(spec, "/")
		if !ok || name == "" || step == "" {
			return ProbeChoice{}, fmt.Errorf("%s=%q: want scenario/step, or none", EnvProbe, spec)
		}
		s, i := find(name, step)
		switch {
		case s == nil:
			return ProbeChoice{}, fmt.Errorf("%s=%q: no selected scenario %s with a step %s", EnvProbe, spec, name, step)
		case skip[name] != "":
			return ProbeChoice{}, fmt.Errorf("%s=%q: scenario %s is skipped (%s)", EnvProbe, spec, name, skip[name])
		case s.Steps[i].Expect.Route != scenario.RouteEgressGateway:
			return ProbeChoice{}, fmt.Errorf("%s=%q: the step's route is %s; the prober measures the egress gateway's "+
				"disruption, so pick a step whose route is egress-gateway", EnvProbe, spec, s.Steps[i].Expect.Route)
		}
		return ProbeChoice{Scenario: s, Step: i}, nil
	}
	name, step, _ := strings.Cut(preferredProbe, "/")
	if s, i := find(name, step); s != nil && skip[name] == "" && s.Steps[i].Expect.Route == scenario.RouteEgressGateway {
		return ProbeChoice{Scenario: s, Step: i}, nil
	}
	for _, s := range scenarios {
		if skip[s.Name] != "" {
			continue
		}
		for i, st := range s.Steps {
			if st.Expect.Route == scenario.RouteEgressGateway && strings.HasPrefix(st.Request.URL, "http://") {
				return ProbeChoice{Scenario: s, Step: i}, nil
			}
		}
	}
	return ProbeChoice{Reason: "no selected scenario has a plain-HTTP step through the egress gateway"}, nil
}
