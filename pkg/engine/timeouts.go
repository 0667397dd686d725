package engine

import (
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/external"
	"github.com/egress-conformance/egress-conformance/pkg/mesh"
	"github.com/egress-conformance/egress-conformance/pkg/runner"
	"github.com/egress-conformance/egress-conformance/pkg/upgrade"
)

// nodeMargin is added to every Ginkgo node bound on top of the waits inside it:
// API calls between the waits, and Ginkgo's own reporting.
const nodeMargin = 2 * time.Minute

// NodeTimeouts are the Ginkgo node timeouts of the cluster suites. Each is derived
// from the bounds of the waits the node runs, so a node never runs out before a
// wait inside it can report what it was waiting for (a node killed by Ginkgo says
// only "timed out").
type NodeTimeouts struct {
	// BringUp: Docker check, kind create and control plane, istioctl download,
	// install and readiness, CRDs, the hermetic stand-in.
	BringUp time.Duration
	// TearDown: the run's clean-up, the stand-in's removal, an uninstall, kind delete.
	TearDown time.Duration
	// ScenarioSetUp: per client a namespace (maybe waiting for a terminating one)
	// and the client's readiness.
	ScenarioSetUp func(clients int) time.Duration
	// ScenarioCleanup: deleting one scenario's objects.
	ScenarioCleanup time.Duration
	// Step: the gateway pods' wait, convergence, diagnostics.
	Step time.Duration

	// The upgrade gate's nodes.
	// UpgradeBringUp: the cluster tier's bring-up, a second istioctl, every
	// client, and the baseline proxy check (a rollout).
	UpgradeBringUp func(clients int) time.Duration
	// UpgradeStep: a step of the cluster tier, and removing what an earlier
	// phase left of its bundle (bounded by Converge).
	UpgradeStep time.Duration
	// BundleRemoval: removing a scenario's bundle after its last step.
	BundleRemoval time.Duration
	// Window: one upgrade window, its background prober's bound and the judging
	// of its last probes.
	Window time.Duration
}

// Timeouts is every bound of a cluster-tier run in one value: the step runner's
// (TIMEOUTS), the upgrade gate's (UPGRADE_TIMEOUTS), and the defaults of the
// cluster, mesh, deploy and hermetic-stand-in waits. Nodes derives the Ginkgo
// node timeouts from it, and the suites hand each component its part, so a
// node's bound and the waits inside it come from the same value.
type Timeouts struct {
	Runner   runner.Timeouts
	Upgrade  upgrade.Timeouts
	Cluster  cluster.Timeouts
	Mesh     mesh.Timeouts
	Deploy   deploy.Timeouts
	External external.Timeouts
}

// DefaultTimeouts takes every component's defaults, r for the step runner and
// u for the upgrade gate (zero fields of u take upgrade.DefaultTimeouts).
func DefaultTimeouts(r runner.Timeouts, u upgrade.Timeouts) Timeouts {
	return Timeouts{Runner: r, Upgrade: u.WithDefaults(), Cluster: cluster.DefaultTimeouts(), Mesh: mesh.DefaultTimeouts(),
		Deploy: deploy.DefaultTimeouts(), External: external.DefaultTimeouts()}
}

// kindDelete bounds `kind delete cluster` (kind's own call takes no context).
const kindDelete = 3 * time.Minute

// Nodes derives the node timeouts.
func (t Timeouts) Nodes() NodeTimeouts {
	c, m, d, e, r, u := t.Cluster, t.Mesh, t.Deploy, t.External, t.Runner, t.Upgrade.WithDefaults()
	n := NodeTimeouts{
		BringUp: c.Docker + c.NodeReady + c.ControlPlane + m.Download + m.Install + m.Ready +
			d.CRDEstablished + e.Ready + e.DNS + nodeMargin,
		TearDown: d.Cleanup + e.Delete + m.Uninstall + kindDelete + nodeMargin,
		ScenarioSetUp: func(clients int) time.Duration {
			return time.Duration(clients)*(d.Namespace+d.ClientReady) + nodeMargin
		},
		ScenarioCleanup: d.Cleanup + nodeMargin,
		// The gateway pods' wait is bounded by Converge too (a Gateway API deployment
		// appears after its Gateway is applied).
		Step: 2*r.Converge + diagnosticsTimeout + nodeMargin,
		// The prober's bound, then judging its last probes.
		Window:        u.Window + 10*time.Minute,
		BundleRemoval: r.Converge + time.Minute,
	}
	n.UpgradeStep = n.Step + r.Converge
	n.UpgradeBringUp = func(clients int) time.Duration {
		return n.BringUp + m.Download + n.ScenarioSetUp(clients) + u.Rollout
	}
	return n
}
