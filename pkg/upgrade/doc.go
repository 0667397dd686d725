// Package upgrade is the upgrade gate's orchestration (suites/upgrade is its thin
// Ginkgo wiring): install Istio FROM, prove every step of every selected
// scenario, upgrade to TO, restart what must pick up TO's proxies and check that
// it runs them, prove every step again, and measure the disruption meanwhile.
//
//   - Config, Preflight: ISTIO_FROM/ISTIO_TO/UPGRADE_STRATEGY and the rules checked
//     before anything slow (versions, minor gap, Kubernetes support of the node
//     image, cluster mode).
//   - NewPlan: the run as data (per strategy: phases to prove, windows of upgrade
//     actions); Plan.Render prints it for DRY_RUN with pkg/plan's scenario section.
//   - Executor: runs a window's actions through Istio (MeshIstio: the istioctl of
//     each version, by way of pkg/mesh) and Kube (namespaces, rollout restarts,
//     proxy checks by image, revision and pilot-agent's own version).
//   - Disruption: the background prober of a window.
//   - Regressions, Summarize: the report's upgrade section.
//
// Nothing here imports istio.io/istio. docs/upgrade.md says why it works this way.
package upgrade
