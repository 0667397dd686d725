// Package dryrun prints the cluster tier's plan (DRY_RUN=1) from the run's
// settings, without Ginkgo: the cluster suite prints it when DRY_RUN is set and
// the command's `plan` subcommand prints the same text. The plan is the value
// engine.Prepare computes, the one a run executes.
package dryrun

import (
	"io"

	"github.com/egress-conformance/egress-conformance/pkg/engine"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/settings"
)

// Print renders what the cluster tier (`make e2e`, `egress-conformance e2e`) would
// do with these settings, touching nothing (engine.Prepare).
func Print(w io.Writer, cfg settings.Run, m mesh.Config, scenarios []*scenario.Scenario) error {
	p, err := engine.Prepare(cfg, m, scenarios)
	if err != nil {
		return err
	}
	return p.Plan.Render(w, nil)
}
