package expect

import (
	"fmt"

	"github.com/onsi/gomega/types"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// HaveVerdictPassed succeeds when the actual Verdict (or *Verdict) has no failed
// check. Its failure message is the whole verdict: every check, the evidence.
//
//	Expect(expect.Evaluate(step.Expect, ev)).To(expect.HaveVerdictPassed())
func HaveVerdictPassed() types.GomegaMatcher { return verdictMatcher{} }

// SatisfyExpectation succeeds when the actual Evidence (or *Evidence) meets exp,
// i.e. Evaluate(exp, evidence) passes. Its failure message is the whole verdict.
//
//	Eventually(probe).Should(expect.SatisfyExpectation(step.Expect))
func SatisfyExpectation(exp scenario.Expect) types.GomegaMatcher {
	return evidenceMatcher{exp: exp}
}

type verdictMatcher struct{}

func toVerdict(actual any) (Verdict, error) {
	switch v := actual.(type) {
	case Verdict:
		return v, nil
	case *Verdict:
		if v == nil {
			return Verdict{}, fmt.Errorf("HaveVerdictPassed: got a nil *expect.Verdict")
		}
		return *v, nil
	}
	return Verdict{}, fmt.Errorf("HaveVerdictPassed: want an expect.Verdict, got %T", actual)
}

func (verdictMatcher) Match(actual any) (bool, error) {
	v, err := toVerdict(actual)
	if err != nil {
		return false, err
	}
	return v.Passed(), nil
}

func (verdictMatcher) FailureMessage(actual any) string {
	v, err := toVerdict(actual)
	if err != nil {
		return err.Error()
	}
	return "Expected the step's expectation to hold, but it does not.\n" + v.String()
}

func (verdictMatcher) NegatedFailureMessage(actual any) string {
	v, err := toVerdict(actual)
	if err != nil {
		return err.Error()
	}
	return "Expected the step's expectation not to hold, but it does.\n" + v.String()
}

type evidenceMatcher struct{ exp scenario.Expect }

func (m evidenceMatcher) verdict(actual any) (Verdict, error) {
	switch ev := actual.(type) {
	case Evidence:
		return Evaluate(m.exp, ev), nil
	case *Evidence:
		if ev == nil {
			return Verdict{}, fmt.Errorf("SatisfyExpectation: got a nil *expect.Evidence")
		}
		return Evaluate(m.exp, *ev), nil
	}
	return Verdict{}, fmt.Errorf("SatisfyExpectation: want an expect.Evidence, got %T", actual)
}

func (m evidenceMatcher) Match(actual any) (bool, error) {
	v, err := m.verdict(actual)
	if err != nil {
		return false, err
	}
	return v.Passed(), nil
}

func (m evidenceMatcher) FailureMessage(actual any) string {
	v, err := m.verdict(actual)
	if err != nil {
		return err.Error()
	}
	return "Expected the evidence to satisfy the step's expectation, but it does not.\n" + v.String()
}

func (m evidenceMatcher) NegatedFailureMessage(actual any) string {
	v, err := m.verdict(actual)
	if err != nil {
		return err.Error()
	}
	return "Expected the evidence not to satisfy the step's expectation, but it does.\n" + v.String()
}
