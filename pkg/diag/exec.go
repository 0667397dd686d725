package diag

import "github.com/egress-conformance/egress-conformance/pkg/probe"

// Executor runs a command in a container (pilot-agent's config dumps). It is the
// probes' executor: one implementation of pods/exec for the whole harness
// (probe.KubeExecutor; WebSocket first, SPDY when the upgrade is refused).
type Executor = probe.Executor
