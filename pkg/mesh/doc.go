// Package mesh installs, checks and removes the Istio mesh the cluster tier runs
// against, at a pinned version:
//
//   - Acquire finds istioctl for ISTIO_VERSION: a cached copy, a fresh download from
//     the Istio GitHub release verified against the release's published sha256, or
//     the binary ISTIOCTL names (air-gapped), whose own version must match.
//   - InstallArgs / UninstallArgs are the exact istioctl argument lists (pure, so a
//     dry run can print them); Mesh.Install, Mesh.Uninstall and Mesh.WaitReady run
//     and check them. Uninstall only removes a mesh the harness installed.
//   - Sidecar renders the per-namespace Sidecar that sets a scenario's
//     outboundTrafficPolicy (docs/mesh.md says why it is per namespace).
//   - SupportsKubernetes is Istio's published Kubernetes support table.
//
// Long steps report progress to an io.Writer; nil means quiet.
package mesh
