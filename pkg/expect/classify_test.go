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
//   - a sidecar whose client (curl, after ~1 s) gave up while the connection
//     upstream was still being opened, 2022-12-05: 0 DC, no upstream host, no
//     upstream local address;
//   - an inbound sidecar whose client left while the application was slow,
//     2022-07-20: 0 DC as well, but with an upstream local address: it was
//     connected, so it keeps its route;
//   - an ingress gateway whose workload certificate had expired, 2022-01-11: the
//     TCP connection was open and the TLS handshake failed; that one did reach
//     its upstream.
const (
	lineConnectFailed    = `[2022-02-09T13:34:21.473Z] "GET / HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{connection_failure} - "-" 0 91 24255 - "-" "curl/7.68.0" "5ab981ed-c95f-4730-8732-2fe6fd7f6208" "customer.default.svc.cluster.local:8080" "172.16.0.15:8080" outbound|8080||customer.default.svc.cluster.local - 172.18.2.58:8080 192.168.205.6:34832 - default`
	lineRefused          = `[2024-05-28T15:12:57.143Z] "POST /plugins/high-availability/event/ref-updated HTTP/1.1" 503 UF upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111} - "delayed_connect_error:_111" 398 152 0 - "-" "Apache-HttpClient/4.5.14 (Java/17.0.10)" "87383523-4754-4ac6-9acd-5e63d4cebb65" "redacted.svc.cluster.local:8080" "100.72.2.83:8080" inbound|8080|| - 100.72.2.83:8080 100.72.9.85:44759 - default`
	lineGaveUpConnecting = `[2022-12-05T07:32:05.788Z] "GET /hello HTTP/1.1" 0 DC downstream_remote_disconnect - "-" 0 0 999 - "-" "curl/7.81.0" "29a2f777-744a-4b3e-acc2-72d434cceb78" "helloworld.sample.svc:5000" "-" outbound|5000||helloworld.sample.svc.cluster.local - 10.96.137.147:5000 10.244.0.13:45588 - default`
	lineGaveUpConnected  = `[2022-07-20T12:34:35.400Z] "GET /reviews/0 HTTP/1.1" 0 DC downstream_remote_disconnect - "-" 0 0 497 - "-" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/103.0.0.0 Safari/537.36" "a9f0f4d6-fd4d-9ecd-a4ec-fd03ff8b0774" "reviews:9080" "10.0.2.12:9080" inbound|9080|| 127.0.0.6:38479 10.0.2.12:9080 10.0.2.10:44922 outbound_.9080_.v2_.reviews.default.svc.cluster.local default`
	lineTLSFailed        = `[2022-01-11T06:44:07.918Z] "GET /customer HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{connection_failure,TLS_error:_268436501:SSL_routines:OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_EXPIRED} - "TLS error: 268436501:SSL routines:OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_EXPIRED" 0 201 77 - "192.168.64.90" "curl/7.77.0" "51c9ed69-6ad3-43a4-a183-58229a34d444" "192.168.64.90" "172.16.0.20:8080" outbound|8080|v1|customer.default.svc.cluster.local - 172.16.0.12:8080 192.168.64.90:19213 - -`
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
		curlGaveUp  bool // curl exit 28, no status
	}{
		{"sidecar could not connect to the destination (NetworkPolicy, no route)", envoy(t, lineConnectFailed), nil,
			scenario.RouteBlocked, "client sidecar never connected upstream: cluster outbound|8080||customer.default.svc.cluster.local, host 172.16.0.15:8080, response 503, flags UF,URX", false},
		{"connection refused", envoy(t, lineRefused), nil,
			scenario.RouteBlocked, "client sidecar never connected upstream: cluster inbound|8080||, host 100.72.2.83:8080, response 503, flags UF (upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111})", false},
		{"sidecar could not connect to the egress gateway: nothing reached it", toGateway, nil,
			scenario.RouteBlocked, "client sidecar never connected upstream: cluster outbound|80||istio-egressgateway", false},
		{"gateway could not connect out", &entrySidecarViaGateway, envoy(t, lineConnectFailed),
			scenario.RouteBlocked, "egress gateway never connected upstream", false},
		{"curl gave up while the sidecar was connecting", envoy(t, lineGaveUpConnecting), nil,
			scenario.RouteBlocked, "client sidecar never connected upstream: cluster outbound|5000||helloworld.sample.svc.cluster.local, host -, response 0, flags DC", true},
		{"curl gave up on a connected request", envoy(t, lineGaveUpConnected), nil,
			scenario.RouteDirect, "client sidecar sent it to inbound|9080||", true},
		{"a TLS error: the connection was open", envoy(t, lineTLSFailed), nil,
			scenario.RouteDirect, "client sidecar sent it to outbound|8080|v1|customer.default.svc.cluster.local", false},
		{"a gateway TLS error: through the gateway", &entrySidecarViaGateway, envoy(t, lineTLSFailed),
			scenario.RouteEgressGateway, "egress gateway logged the request id", false},
	} {
		ev := Evidence{Tier: Cluster, Status: &status503, Sidecar: tc.sidecar, Gateway: tc.gw, LogsObserved: true}
		if tc.curlGaveUp {
			ev.Status, ev.CurlExit = nil, intp(28)
		}
		route, why := Classify(ev)
		if route != tc.want || !strings.Contains(why, tc.why) {
			t.Errorf("%s: %q, %q; want %q with %q", tc.name, route, why, tc.want, tc.why)
		}
	}
}

// An ambient client's waypoint that never connected out let nothing out either,
// as the offline tier says of a waypoint cluster without endpoints (UH).
func TestClassifyAmbientNeverConnected(t *testing.T) {
	status503 := 503
	ev := Evidence{Tier: Cluster, Ambient: true, Status: &status503, Waypoint: envoy(t, lineConnectFailed), LogsObserved: true}
	if route, why := Classify(ev); route != scenario.RouteBlocked || !strings.HasPrefix(why, "waypoint never connected upstream") {
		t.Errorf("waypoint UF: %q, %q", route, why)
	}
	ev.Waypoint = envoy(t, lineTLSFailed)
	if route, why := Classify(ev); route != scenario.RouteWaypoint {
		t.Errorf("waypoint TLS error: %q, %q; the connection was open", route, why)
	}
}
