// Package accesslog parses the access-log lines Envoy writes for Istio proxies:
// Istio's TEXT format of every era (1.3–1.7 with mixer status, 1.8, ≥1.9 with
// response-code details, ≥1.24 with UPSTREAM_CLUSTER_RAW), TCP/TLS lines, and the
// JSON encoding. It is pure: no I/O.
package accesslog

import "time"

// Entry is one access-log line. A field Envoy printed as "-" or null is empty
// (0 for numbers).
//
// The string fields of an Entry parsed from a TEXT line share memory with that
// line (no copies are made), so keeping one Entry keeps its whole line alive.
type Entry struct {
	StartTime               time.Time // %START_TIME%
	Method                  string    // %REQ(:METHOD)%; empty on TCP/TLS lines
	Path                    string    // %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%
	Protocol                string    // %PROTOCOL%, e.g. HTTP/1.1, HTTP/2
	ResponseCode            int       // %RESPONSE_CODE%; 0 on TCP/TLS lines
	ResponseFlags           string    // %RESPONSE_FLAGS%, e.g. UH, NR, "UF,URX"
	ResponseCodeDetails     string    // %RESPONSE_CODE_DETAILS% (Istio ≥1.9 only)
	XForwardedFor           string    // %REQ(X-FORWARDED-FOR)%
	UserAgent               string    // %REQ(USER-AGENT)%
	RequestID               string    // %REQ(X-REQUEST-ID)%
	Authority               string    // %REQ(:AUTHORITY)%
	UpstreamHost            string    // %UPSTREAM_HOST%
	UpstreamCluster         string    // %UPSTREAM_CLUSTER_RAW% (≥1.24) or %UPSTREAM_CLUSTER%
	UpstreamLocalAddress    string    // %UPSTREAM_LOCAL_ADDRESS%
	DownstreamLocalAddress  string    // %DOWNSTREAM_LOCAL_ADDRESS%
	DownstreamRemoteAddress string    // %DOWNSTREAM_REMOTE_ADDRESS%
	RequestedServerName     string    // %REQUESTED_SERVER_NAME% (SNI)
	RouteName               string    // %ROUTE_NAME% (Istio ≥1.3), e.g. block_all
	BytesReceived           int64     // %BYTES_RECEIVED%
	BytesSent               int64     // %BYTES_SENT%
}
