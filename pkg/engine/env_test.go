package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/plan"
)

// Tear-down after a bring-up that never got far: every shared stage is a no-op,
// none dereferences what was never made (a panic there would skip deleting the
// cluster in a run that did create one).
func TestEnvTearDownOfNothing(t *testing.T) {
	var e Env
	h := e.TearDownStages(EnvInputs{RunID: "run-1"})
	down := []plan.Stage{{Kind: plan.StageCleanup}, {Kind: plan.StageRemoveExternal}, {Kind: plan.StageDeleteCluster}}
	if err := h.Check(down); err != nil {
		t.Fatal(err)
	}
	if err := h.TearDown(context.Background(), down, nil); err != nil {
		t.Errorf("tear-down of nothing: %v", err)
	}
}

// A plan that installs the stand-in needs one: refused with a reason, never a
// nil dereference.
func TestEnvExternalWithoutStandin(t *testing.T) {
	var e Env
	err := e.BringUpStages(EnvInputs{})[plan.StageExternal](context.Background())
	if err == nil || !strings.Contains(err.Error(), "stand-in") {
		t.Errorf("err %v, want one naming the stand-in", err)
	}
}

// With adds a suite's own stages to the shared ones; the suite's win.
func TestStagesWith(t *testing.T) {
	ran := ""
	shared := Stages{plan.StageDocker: func(context.Context) error { ran += "shared "; return nil },
		plan.StageCluster: func(context.Context) error { ran += "cluster "; return nil }}
	own := Stages{plan.StageDocker: func(context.Context) error { ran += "own "; return nil }}
	h := shared.With(own)
	for _, k := range []plan.StageKind{plan.StageDocker, plan.StageCluster} {
		if err := h[k](context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if ran != "own cluster " || len(shared) != 2 {
		t.Errorf("ran %q, shared now has %d stages: With must not change its receiver", ran, len(shared))
	}
}
