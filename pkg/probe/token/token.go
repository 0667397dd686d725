// Package token is the probe's correlation token: the request id carried in the
// request's query string as well as in its x-request-id header.
//
// Why both: Istio gateways run Envoy with use_remote_address and without
// preserve_external_request_id, and since Envoy 1.33 (Istio 1.25) an empty
// internal_address_config makes every sidecar an external client of the gateway,
// so the gateway replaces x-request-id with one of its own (istio/istio#55558).
// The query string survives every hop untouched, Istio's default access-log
// format prints it with the path (%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%), and
// Envoy's route and RBAC path matching ignore it, so the token finds the
// gateway's line for a probe without changing where the request goes.
//
// The package has no dependencies so that pure packages (expect) can use it.
package token

import (
	"net/url"
	"strings"
)

// Param is the query parameter that carries the token.
const Param = "egress-conformance-probe"

// Tag returns rawURL with the token added to its query string. A URL that does
// not parse is returned unchanged: the scenario loader has already refused it.
func Tag(rawURL, id string) string {
	u, err := url.Parse(rawURL)
	if err != nil || id == "" {
		return rawURL
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += Param + "=" + url.QueryEscape(id)
	return u.String()
}

// In reports whether a logged path (path and query, as Envoy prints it) carries id.
func In(path, id string) bool {
	if id == "" {
		return false
	}
	_, q, ok := strings.Cut(path, "?")
	if !ok {
		return false
	}
	for _, kv := range strings.Split(q, "&") {
		if kv == Param+"="+url.QueryEscape(id) {
			return true
		}
	}
	return false
}

// Strip removes the token from a logged path, so that a scenario's `path: /ip`
// compares with what the client was asked to fetch.
func Strip(path string) string {
	p, q, ok := strings.Cut(path, "?")
	if !ok {
		return path
	}
	var kept []string
	for _, kv := range strings.Split(q, "&") {
		if !strings.HasPrefix(kv, Param+"=") {
			kept = append(kept, kv)
		}
	}
	if len(kept) == 0 {
		return p
	}
	return p + "?" + strings.Join(kept, "&")
}
