package runner

import (
	"fmt"

	"github.com/onsi/gomega/types"
)

// HaveConverged succeeds when the actual Outcome (or *Outcome) passed. Its
// failure message is the whole report: every kept attempt, the last verdict with
// its evidence, the log search's notes.
//
//	Expect(r.Converge(ctx, step)).To(runner.HaveConverged())
func HaveConverged() types.GomegaMatcher { return convergedMatcher{} }

type convergedMatcher struct{}

func toOutcome(actual any) (Outcome, error) {
	switch o := actual.(type) {
	case Outcome:
		return o, nil
	case *Outcome:
		if o == nil {
			return Outcome{}, fmt.Errorf("HaveConverged: got a nil *runner.Outcome")
		}
		return *o, nil
	}
	return Outcome{}, fmt.Errorf("HaveConverged: want a runner.Outcome, got %T", actual)
}

func (convergedMatcher) Match(actual any) (bool, error) {
	o, err := toOutcome(actual)
	if err != nil {
		return false, err
	}
	return o.Passed, nil
}

func (convergedMatcher) FailureMessage(actual any) string {
	o, err := toOutcome(actual)
	if err != nil {
		return err.Error()
	}
	return "Expected the step to converge, but it did not.\n" + o.String()
}

func (convergedMatcher) NegatedFailureMessage(actual any) string {
	o, err := toOutcome(actual)
	if err != nil {
		return err.Error()
	}
	return "Expected the step not to converge, but it did.\n" + o.String()
}
