// Package external provides hermetic mode (EXTERNAL=cluster; the default is
// EXTERNAL=internet): an in-cluster stand-in for the scenarios' external hosts
// (httpbin.org) so that the cluster tier runs without the internet and with scenario
// files identical in both modes.
//
// The stand-in is nginx (versions.NginxImage; no image is built) outside the mesh: its
// namespace is labelled istio-injection=disabled and its pods
// sidecar.istio.io/inject=false. It answers /ip exactly as httpbin.org does behind its
// load balancer: "origin" is the X-Forwarded-For chain it received followed by the
// peer address it saw, joined with ", " (python httpbin prints X-Forwarded-For, to
// which httpbin.org's load balancer appended the peer). go-httpbin, Istio's sample,
// prints only the first X-Forwarded-For entry and so cannot stand in. See
// renderNginxConf for the other paths and NginxConf for the file itself.
//
// Pieces, each usable alone:
//
//   - Mode, ParseMode, OptionsFromEnv: EXTERNAL and EXTERNAL_ALLOW_EXISTING_CLUSTER.
//   - GenerateCA, IssueServerCert: the run's CA (ECDSA P-256, 24 h) and the stand-in's
//     server certificate for its hosts, served on 443.
//   - New / Manifests / Standin.Objects / RenderYAML: the Kubernetes objects (pure; a
//     dry run prints them). The Service exposes 80 and 443 (the ports the scenarios'
//     ServiceEntries name: Envoy's STRICT_DNS clusters connect to the resolved address
//     on that port) and is hidden from the mesh with exportTo ".".
//   - PatchCorefile / UnpatchCorefile: the CoreDNS rewrite rules that make the hosts
//     resolve to the stand-in (pure text between markers; byte-identical restore).
//   - Standin.Install / Uninstall: apply, wait, edit CoreDNS, wait until a pod resolves
//     the hosts to the stand-in (Standin.WaitResolvable, a check pod: no exec needed).
//     Refused on a cluster the harness did not create unless explicitly allowed
//     (CheckOwnership), because editing CoreDNS touches what the harness does not own.
//   - Supports: which scenarios the stand-in can serve faithfully, and on what
//     conditions (Standin.CurlTrustArgs for HTTPS probes, Standin.AdaptDestinationRule
//     for TLS origination).
package external
