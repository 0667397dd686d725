package expect

import (
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Envoy's own answer to a connection it could not open: the request left nowhere,
// as the offline tier says of a connection a NetworkPolicy denies. Real lines from
// public Istio write-ups (repositories not identified):
//   - a VM's sidecar with no IP route to the pods, 2022-02-09: connect failed,
//     Istio's default retries spent (UF,URX), no upstream local address;
//   - a connection refused (errno 111) before the response started, from
//     istio/istio#51267 (an inbound line there; the flags and details read the
//     same on any proxy);
//   - an ingress gateway whose workload certificate had expired, 2022-01-11: the
//     TCP connection was open and the TLS handshake failed; that one did reach
//     its upstream.
const (
	lineConnectFailed = `[2022-02-09T13:34:21.473Z] "GET / HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{connection_failure} - "-" 0 91 24255 - "-" "curl/7.68.0" "5ab981ed-c95f-4730-8732-2fe6fd7f6208" "customer.default.svc.cluster.local:8080" "172.16.0.15:8080" outbound|8080||customer.default.svc.cluster.local - 172.18.2.58:8080 192.168.205.6:34832 - default`
	lineRefused       = `[2024-05-28T15:12:57.143Z] "POST /plugins/high-availability/event/ref-updated HTTP/1.1" 503 UF upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111} - "delayed_connect_error:_111" 398 152 0 - "-" "Apache-HttpClient/4.5.14 (Java/17.0.10)" "87383523-4754-4ac6-9acd-5e63d4cebb65" "redacted.svc.cluster.local:8080" "100.72.2.83:8080" inbound|8080|| - 100.72.2.83:8080 100.72.9.85:44759 - default`
	lineTLSFailed     = `[2022-01-11T06:44:07.918Z] "GET /customer HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{connection_failure,TLS_error:_268436501:SSL_routines:OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_EXPIRED} - "TLS error: 268436501:SSL routines:OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_EXPIRED" 0 201 77 - "192.168.64.90" "curl/7.77.0" "51c9ed69-6ad3-43a4-a183-58229a34d444" "192.168.64.90" "172.16.0.20:8080" outbound|8080|v1|customer.default.svc.cluster.local - 172.16.0.12:8080 192.168.64.90:19213 - -`
)

func TestClassifyNeverConnected(t *testing.T) {
	status503 := 503
	toGateway := envoy(t, lineConnectFailed)
	toGateway.UpstreamCluster = "outbound|80||istio-egressgateway.istio-system.svc.cluster.local"
	for _, tc := range []struct {
		name        string
		sidecar, gw *accesslog.Entry
		want        scenario.Route
		why         string
	}{
		{"sidecar could not connect to the destination (NetworkPolicy, no route)", envoy(t, lineConnectFailed), nil,
			scenario.RouteBlocked, "client sidecar never connected upstream: cluster outbound|8080||customer.default.svc.cluster.local, host 172.16.0.15:8080, response 503, flags UF,URX"},
		{"connection refused", envoy(t, lineRefused), nil,
			scenario.RouteBlocked, "client sidecar never connected upstream: cluster inbound|8080||, host 100.72.2.83:8080, response 503, flags UF (upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111})"},
		{"sidecar could not connect to the egress gateway: nothing reached it", toGateway, nil,
			scenario.RouteBlocked, "client sidecar never connected upstream: cluster outbound|80||istio-egressgateway"},
		{"gateway could not connect out", &entrySidecarViaGateway, envoy(t, lineConnectFailed),
			scenario.RouteBlocked, "egress gateway never connected upstream"},
		{"a TLS error: the connection was open", envoy(t, lineTLSFailed), nil,
			scenario.RouteDirect, "client sidecar sent it to outbound|8080|v1|customer.default.svc.cluster.local"},
		{"a gateway TLS error: through the gateway", &entrySidecarViaGateway, envoy(t, lineTLSFailed),
			scenario.RouteEgressGateway, "egress gateway logged the request id"},
	} {
		route, why := Classify(Evidence{Tier: Cluster, Status: &status503, Sidecar: tc.sidecar, Gateway: tc.gw, LogsObserved: true})
		if route != tc.want || !strings.Contains(why, tc.why) {
			t.Errorf("%s: %q, %q; want %q with %q", tc.name, route, why, tc.want, tc.why)
		}
	}
}
