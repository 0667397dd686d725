// Package ambient is what the cluster tier does for Istio's ambient data plane
// (issue 13): the install overlay that adds istio-cni and ztunnel, the namespace
// label that enrols a client, the waypoints a bundle declares, and where the
// evidence of an ambient client is (the ztunnel on its node, the waypoint pods).
// docs/ambient.md gives the decisions and their sources.
//
// The package holds no scenario logic of its own: a scenario is ambient when one
// of its clients is (pkg/scenario), and the offline tier's view of ambient lives
// in pkg/offline.
package ambient
