package accesslog

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// realLine is an access-log line copied verbatim from a public source, with
// every field of the Entry it must produce.
type realLine struct {
	name string
	line string
	want Entry
}

// ts parses a start time the way the tests expect it to come out.
func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// realLines are grouped by the Istio release that wrote them. Each comment
// names the page or issue the line was copied from. Lines are unchanged
// unless the comment says otherwise.
var realLines = []realLine{
	// ---- Istio 1.0 / early 1.1: no middle fields, no route name ----
	{
		// Sidecar → httpbin.org through a ServiceEntry.
		// https://istio.io/latest/docs/tasks/traffic-management/egress/egress-control/
		// (istio/istio.io content/en/docs/tasks/traffic-management/egress/egress-control/snips.sh,
		// snip_access_an_external_http_service_3_out)
		name: "1.0/1.1 sidecar HTTP to httpbin.org (egress-control task)",
		line: `[2019-01-24T12:17:11.640Z] "GET /headers HTTP/1.1" 200 - 0 599 214 214 "-" "curl/7.60.0" "17fde8f7-fa62-9b39-8999-302324e6def2" "httpbin.org" "35.173.6.94:80" outbound|80||httpbin.org - 35.173.6.94:80 172.30.109.82:55314 -`,
		want: Entry{
			StartTime: ts("2019-01-24T12:17:11.640Z"), Method: "GET", Path: "/headers", Protocol: "HTTP/1.1",
			ResponseCode: 200, UserAgent: "curl/7.60.0", RequestID: "17fde8f7-fa62-9b39-8999-302324e6def2",
			Authority: "httpbin.org", UpstreamHost: "35.173.6.94:80", UpstreamCluster: "outbound|80||httpbin.org",
			DownstreamLocalAddress: "35.173.6.94:80", DownstreamRemoteAddress: "172.30.109.82:55314",
			BytesSent: 599,
		},
	},
	{
		// Sidecar TLS to www.google.com: "- - -", code 0, SNI set.
		// https://istio.io/latest/docs/tasks/traffic-management/egress/egress-control/
		// (snips.sh, snip_access_an_external_https_service_3_out)
		name: "1.0/1.1 sidecar TLS to www.google.com (egress-control task)",
		line: `[2019-01-24T12:48:54.977Z] "- - -" 0 - 601 17766 1289 - "-" "-" "-" "-" "172.217.161.36:443" outbound|443||www.google.com 172.30.109.82:59480 172.217.161.36:443 172.30.109.82:59478 www.google.com`,
		want: Entry{
			StartTime: ts("2019-01-24T12:48:54.977Z"), UpstreamHost: "172.217.161.36:443",
			UpstreamCluster: "outbound|443||www.google.com", UpstreamLocalAddress: "172.30.109.82:59480",
			DownstreamLocalAddress: "172.217.161.36:443", DownstreamRemoteAddress: "172.30.109.82:59478",
			RequestedServerName: "www.google.com", BytesReceived: 601, BytesSent: 17766,
		},
	},
	{
		// Egress gateway, TLS passthrough to edition.cnn.com.
		// https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/
		// (snips.sh, snip_egress_gateway_for_https_traffic_7)
		name: "1.0/1.1 egress gateway TLS passthrough (egress-gateway task)",
		line: `[2019-01-02T11:46:46.981Z] "- - -" 0 - 627 1879689 44 - "-" "-" "-" "-" "151.101.129.67:443" outbound|443||edition.cnn.com 172.30.109.80:41122 172.30.109.80:443 172.30.109.112:59970 edition.cnn.com`,
		want: Entry{
			StartTime: ts("2019-01-02T11:46:46.981Z"), UpstreamHost: "151.101.129.67:443",
			UpstreamCluster: "outbound|443||edition.cnn.com", UpstreamLocalAddress: "172.30.109.80:41122",
			DownstreamLocalAddress: "172.30.109.80:443", DownstreamRemoteAddress: "172.30.109.112:59970",
			RequestedServerName: "edition.cnn.com", BytesReceived: 627, BytesSent: 1879689,
		},
	},

	// ---- Istio 1.1–1.2: "mixer status", no route name ----
	{
		// Sidecar → remote cluster through its gateway (15443).
		// https://istio.io/v1.2/docs/tasks/multicluster/split-horizon-eds/
		// (istio/istio.io, Istio 1.1/1.2 multicluster docs)
		name: "1.2 sidecar HTTP with mixer status (split-horizon EDS task)",
		line: `[2019-05-25T08:06:11.468Z] "GET /hello HTTP/1.1" 200 - "-" 0 60 177 176 "-" "curl/7.60.0" "58cfb92b-b217-4602-af67-7de8f63543d8" "helloworld.sample:5000" "192.168.1.246:15443" outbound|5000||helloworld.sample.svc.cluster.local - 10.107.117.235:5000 10.32.0.10:36840 -`,
		want: Entry{
			StartTime: ts("2019-05-25T08:06:11.468Z"), Method: "GET", Path: "/hello", Protocol: "HTTP/1.1",
			ResponseCode: 200, UserAgent: "curl/7.60.0", RequestID: "58cfb92b-b217-4602-af67-7de8f63543d8",
			Authority: "helloworld.sample:5000", UpstreamHost: "192.168.1.246:15443",
			UpstreamCluster:        "outbound|5000||helloworld.sample.svc.cluster.local",
			DownstreamLocalAddress: "10.107.117.235:5000", DownstreamRemoteAddress: "10.32.0.10:36840",
			BytesSent: 60,
		},
	},

	// ---- Istio 1.3–1.7: "mixer status" "transport failure reason" ----
	{
		// Egress gateway, HTTP/2 from the sidecar, 301 from edition.cnn.com.
		// https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/
		// (snips.sh, snip_egress_gateway_for_http_traffic_9); also quoted in
		// https://github.com/istio/istio.io/issues/5003
		name: "1.3 egress gateway HTTP (egress-gateway task)",
		line: `[2019-09-03T20:57:49.103Z] "GET /politics HTTP/2" 301 - "-" "-" 0 0 90 89 "10.244.2.10" "curl/7.64.0" "ea379962-9b5c-4431-ab66-f01994f5a5a5" "edition.cnn.com" "151.101.65.67:80" outbound|80||edition.cnn.com - 10.244.1.5:80 10.244.2.10:50482 edition.cnn.com -`,
		want: Entry{
			StartTime: ts("2019-09-03T20:57:49.103Z"), Method: "GET", Path: "/politics", Protocol: "HTTP/2",
			ResponseCode: 301, XForwardedFor: "10.244.2.10", UserAgent: "curl/7.64.0",
			RequestID: "ea379962-9b5c-4431-ab66-f01994f5a5a5", Authority: "edition.cnn.com",
			UpstreamHost: "151.101.65.67:80", UpstreamCluster: "outbound|80||edition.cnn.com",
			DownstreamLocalAddress: "10.244.1.5:80", DownstreamRemoteAddress: "10.244.2.10:50482",
			RequestedServerName: "edition.cnn.com",
		},
	},
	{
		// Sidecar TCP to PassthroughCluster (ALLOW_ANY, no ServiceEntry),
		// Istio 1.5. Unescaped from the "original_message" JSON string in
		// https://github.com/nitishm/engarde/pull/8
		name: "1.5 sidecar TCP PassthroughCluster (nitishm/engarde#8)",
		line: `[2020-05-19T19:53:38.151Z] "- - -" 0 - "-" "-" 2279 3059 63 - "-" "-" "-" "-" "1.2.3.4:443" PassthroughCluster 10.0.0.93:37018 1.2.3.4:443 10.0.0.93:39849 - -`,
		want: Entry{
			StartTime: ts("2020-05-19T19:53:38.151Z"), UpstreamHost: "1.2.3.4:443", UpstreamCluster: "PassthroughCluster",
			UpstreamLocalAddress: "10.0.0.93:37018", DownstreamLocalAddress: "1.2.3.4:443",
			DownstreamRemoteAddress: "10.0.0.93:39849", BytesReceived: 2279, BytesSent: 3059,
		},
	},
	{
		// Same shape, read with `kubectl logs --timestamps`: the leading
		// RFC 3339 timestamp is kubectl's, the bracketed one is Envoy's.
		// https://github.com/istio/istio/issues/29109
		name: "1.7 sidecar TCP PassthroughCluster with kubectl --timestamps (istio#29109)",
		line: `2020-11-22T20:04:54.223086877Z [2020-11-22T20:04:33.157Z] "- - -" 0 - "-" "-" 4841 9845236 16230 - "-" "-" "-" "-" "104.20.28.24:443" PassthroughCluster 172.18.0.10:49944 104.20.28.24:443 172.18.0.10:49942 - -`,
		want: Entry{
			StartTime: ts("2020-11-22T20:04:33.157Z"), UpstreamHost: "104.20.28.24:443", UpstreamCluster: "PassthroughCluster",
			UpstreamLocalAddress: "172.18.0.10:49944", DownstreamLocalAddress: "104.20.28.24:443",
			DownstreamRemoteAddress: "172.18.0.10:49942", BytesReceived: 4841, BytesSent: 9845236,
		},
	},

	// ---- Istio 1.8: mixer status gone, "transport failure reason" only ----
	{
		// Inbound line of httpbin, 1.8.0-alpha.2.
		// https://github.com/istio/istio.io/issues/8404 (the quoted test
		// output after "default" is not part of the line)
		name: "1.8 inbound HTTP (istio.io#8404)",
		line: `[2020-10-29T21:51:57.945Z] "GET /status/418 HTTP/1.1" 418 - "-" 0 135 2 2 "-" "curl/7.69.1" "f65c68d3-619a-44c7-a9c1-44384b3055ba" "httpbin:8000" "127.0.0.1:80" inbound|8000|| 127.0.0.1:52328 10.244.0.14:80 10.244.0.13:43430 outbound_.8000_._.httpbin.default.svc.cluster.local default`,
		want: Entry{
			StartTime: ts("2020-10-29T21:51:57.945Z"), Method: "GET", Path: "/status/418", Protocol: "HTTP/1.1",
			ResponseCode: 418, UserAgent: "curl/7.69.1", RequestID: "f65c68d3-619a-44c7-a9c1-44384b3055ba",
			Authority: "httpbin:8000", UpstreamHost: "127.0.0.1:80", UpstreamCluster: "inbound|8000||",
			UpstreamLocalAddress: "127.0.0.1:52328", DownstreamLocalAddress: "10.244.0.14:80",
			DownstreamRemoteAddress: "10.244.0.13:43430",
			RequestedServerName:     "outbound_.8000_._.httpbin.default.svc.cluster.local", RouteName: "default",
			BytesSent: 135,
		},
	},

	// ---- Istio ≥1.9: details, termination details, "transport failure reason" ----
	{
		// Sidecar outbound, sleep → httpbin.
		// https://istio.io/latest/docs/tasks/observability/logs/access-log/
		name: "1.9 sidecar outbound (access-log task, sleep)",
		line: `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`,
		want: Entry{
			StartTime: ts("2020-11-25T21:26:18.409Z"), Method: "GET", Path: "/status/418", Protocol: "HTTP/1.1",
			ResponseCode: 418, ResponseCodeDetails: "via_upstream", UserAgent: "curl/7.73.0-DEV",
			RequestID: "84961386-6d84-929d-98bd-c5aee93b5c88", Authority: "httpbin:8000",
			UpstreamHost: "10.44.1.27:80", UpstreamCluster: "outbound|8000||httpbin.foo.svc.cluster.local",
			UpstreamLocalAddress: "10.44.1.23:37652", DownstreamLocalAddress: "10.0.45.184:8000",
			DownstreamRemoteAddress: "10.44.1.23:46520", RouteName: "default", BytesSent: 135,
		},
	},
	{
		// Same request on the server side.
		// https://istio.io/latest/docs/tasks/observability/logs/access-log/
		name: "1.9 sidecar inbound (access-log task, httpbin)",
		line: `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 3 1 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "127.0.0.1:80" inbound|8000|| 127.0.0.1:41854 10.44.1.27:80 10.44.1.23:37652 outbound_.8000_._.httpbin.foo.svc.cluster.local default`,
		want: Entry{
			StartTime: ts("2020-11-25T21:26:18.409Z"), Method: "GET", Path: "/status/418", Protocol: "HTTP/1.1",
			ResponseCode: 418, ResponseCodeDetails: "via_upstream", UserAgent: "curl/7.73.0-DEV",
			RequestID: "84961386-6d84-929d-98bd-c5aee93b5c88", Authority: "httpbin:8000",
			UpstreamHost: "127.0.0.1:80", UpstreamCluster: "inbound|8000||",
			UpstreamLocalAddress: "127.0.0.1:41854", DownstreamLocalAddress: "10.44.1.27:80",
			DownstreamRemoteAddress: "10.44.1.23:37652",
			RequestedServerName:     "outbound_.8000_._.httpbin.foo.svc.cluster.local", RouteName: "default",
			BytesSent: 135,
		},
	},
	{
		// Sidecar → egress gateway: the cluster names the gateway subset,
		// the shape a scenario's sidecarLog.upstreamCluster expects (docs/design.md).
		// https://istio.io/latest/blog/2022/egress-policies/
		name: "1.13 sidecar to egress gateway subset (egress-policies blog)",
		line: `[2022-05-10T20:36:16.973Z] "HEAD / HTTP/1.1" 200 - via_upstream - "-" 0 0 421 420 "-" "curl/7.83.0-DEV" "5ab0ed38-2e77-92a8-bb44-0a07573cd530" "developers.google.com" "10.100.2.6:8080" outbound|80|google|istio-egressgateway.istio-system.svc.cluster.local 10.100.0.5:48236 173.194.217.101:80 10.100.0.5:48764 - -`,
		want: Entry{
			StartTime: ts("2022-05-10T20:36:16.973Z"), Method: "HEAD", Path: "/", Protocol: "HTTP/1.1",
			ResponseCode: 200, ResponseCodeDetails: "via_upstream", UserAgent: "curl/7.83.0-DEV",
			RequestID: "5ab0ed38-2e77-92a8-bb44-0a07573cd530", Authority: "developers.google.com",
			UpstreamHost:         "10.100.2.6:8080",
			UpstreamCluster:      "outbound|80|google|istio-egressgateway.istio-system.svc.cluster.local",
			UpstreamLocalAddress: "10.100.0.5:48236", DownstreamLocalAddress: "173.194.217.101:80",
			DownstreamRemoteAddress: "10.100.0.5:48764",
		},
	},
	{
		// The same request on the egress gateway: HTTP/2 from the sidecar,
		// XFF holds the client pod, TLS originated to port 443.
		// https://istio.io/latest/blog/2022/egress-policies/
		name: "1.13 egress gateway TLS origination (egress-policies blog)",
		line: `[2022-05-10T20:36:16.981Z] "HEAD / HTTP/2" 200 - via_upstream - "-" 0 0 395 394 "10.100.0.5" "curl/7.83.0-DEV" "5ab0ed38-2e77-92a8-bb44-0a07573cd530" "developers.google.com" "173.194.217.101:443" outbound|443||developers.google.com 10.100.2.6:51492 10.100.2.6:8080 10.100.0.5:48236 developers.google.com -`,
		want: Entry{
			StartTime: ts("2022-05-10T20:36:16.981Z"), Method: "HEAD", Path: "/", Protocol: "HTTP/2",
			ResponseCode: 200, ResponseCodeDetails: "via_upstream", XForwardedFor: "10.100.0.5",
			UserAgent: "curl/7.83.0-DEV", RequestID: "5ab0ed38-2e77-92a8-bb44-0a07573cd530",
			Authority: "developers.google.com", UpstreamHost: "173.194.217.101:443",
			UpstreamCluster: "outbound|443||developers.google.com", UpstreamLocalAddress: "10.100.2.6:51492",
			DownstreamLocalAddress: "10.100.2.6:8080", DownstreamRemoteAddress: "10.100.0.5:48236",
			RequestedServerName: "developers.google.com",
		},
	},
	{
		// Egress gateway denies with an AuthorizationPolicy: the details
		// name the policy, brackets and all.
		// https://istio.io/latest/blog/2022/egress-policies/
		name: "1.13 egress gateway RBAC 403 (egress-policies blog)",
		line: `[2022-05-10T21:51:49.396Z] "HEAD / HTTP/2" 403 - rbac_access_denied_matched_policy[ns[istio-system]-policy[external-deny-developer-yahoo-com]-rule[0]] - "-" 0 0 0 - "10.100.0.6" "curl/7.83.0-DEV" "a503ba03-f09a-914d-85a4-995a0c1d5b16" "developer.yahoo.com" "-" outbound|443||developer.yahoo.com - 10.100.2.6:8080 10.100.0.6:58370 developer.yahoo.com -`,
		want: Entry{
			StartTime: ts("2022-05-10T21:51:49.396Z"), Method: "HEAD", Path: "/", Protocol: "HTTP/2",
			ResponseCode:        403,
			ResponseCodeDetails: "rbac_access_denied_matched_policy[ns[istio-system]-policy[external-deny-developer-yahoo-com]-rule[0]]",
			XForwardedFor:       "10.100.0.6", UserAgent: "curl/7.83.0-DEV",
			RequestID: "a503ba03-f09a-914d-85a4-995a0c1d5b16", Authority: "developer.yahoo.com",
			UpstreamCluster: "outbound|443||developer.yahoo.com", DownstreamLocalAddress: "10.100.2.6:8080",
			DownstreamRemoteAddress: "10.100.0.6:58370", RequestedServerName: "developer.yahoo.com",
		},
	},
	{
		// Gateway API egress gateway; the route name is the HTTPRoute's.
		// https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/
		// (snips.sh, snip_egress_gateway_for_http_traffic_12)
		name: "1.20 Gateway API egress gateway HTTP (egress-gateway task)",
		line: `[2024-01-09T15:35:47.283Z] "GET /politics HTTP/1.1" 301 - via_upstream - "-" 0 0 2 2 "172.30.239.55" "curl/7.87.0-DEV" "6c01d65f-a157-97cd-8782-320a40026901" "edition.cnn.com" "151.101.195.5:80" outbound|80||edition.cnn.com 172.30.239.16:55636 172.30.239.16:80 172.30.239.55:59224 - default.forward-cnn-from-egress-gateway.0`,
		want: Entry{
			StartTime: ts("2024-01-09T15:35:47.283Z"), Method: "GET", Path: "/politics", Protocol: "HTTP/1.1",
			ResponseCode: 301, ResponseCodeDetails: "via_upstream", XForwardedFor: "172.30.239.55",
			UserAgent: "curl/7.87.0-DEV", RequestID: "6c01d65f-a157-97cd-8782-320a40026901",
			Authority: "edition.cnn.com", UpstreamHost: "151.101.195.5:80", UpstreamCluster: "outbound|80||edition.cnn.com",
			UpstreamLocalAddress: "172.30.239.16:55636", DownstreamLocalAddress: "172.30.239.16:80",
			DownstreamRemoteAddress: "172.30.239.55:59224", RouteName: "default.forward-cnn-from-egress-gateway.0",
		},
	},
	{
		// Gateway API egress gateway, TLS passthrough.
		// https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/
		// (snips.sh, snip_egress_gateway_for_https_traffic_9)
		name: "1.20 Gateway API egress gateway TLS (egress-gateway task)",
		line: `[2024-01-11T21:09:42.835Z] "- - -" 0 - - - "-" 839 2504306 231 - "-" "-" "-" "-" "151.101.195.5:443" outbound|443||edition.cnn.com 172.30.239.8:34470 172.30.239.8:443 172.30.239.15:43956 edition.cnn.com -`,
		want: Entry{
			StartTime: ts("2024-01-11T21:09:42.835Z"), UpstreamHost: "151.101.195.5:443",
			UpstreamCluster: "outbound|443||edition.cnn.com", UpstreamLocalAddress: "172.30.239.8:34470",
			DownstreamLocalAddress: "172.30.239.8:443", DownstreamRemoteAddress: "172.30.239.15:43956",
			RequestedServerName: "edition.cnn.com", BytesReceived: 839, BytesSent: 2504306,
		},
	},
	{
		// TCP connection failure with two flags and a transport failure reason.
		// https://github.com/istio/istio/issues/51267
		name: "1.2x TCP UF,URX (istio#51267)",
		line: `[2024-05-28T18:42:53.929Z] "- - -" 0 UF,URX - - "delayed_connect_error:_111" 0 0 0 - "-" "-" "-" "-" "100.72.2.95:7801" InboundPassthroughClusterIpv4 - 100.72.2.95:7801 100.72.9.97:33948 - -`,
		want: Entry{
			StartTime: ts("2024-05-28T18:42:53.929Z"), ResponseFlags: "UF,URX", UpstreamHost: "100.72.2.95:7801",
			UpstreamCluster: "InboundPassthroughClusterIpv4", DownstreamLocalAddress: "100.72.2.95:7801",
			DownstreamRemoteAddress: "100.72.9.97:33948",
		},
	},
	{
		// 503 UF; the user agent contains spaces and parentheses, the
		// details braces and commas.
		// https://github.com/istio/istio/issues/51267
		name: "1.2x inbound 503 UF, user agent with spaces (istio#51267)",
		line: `[2024-05-28T15:12:57.143Z] "POST /plugins/high-availability/event/ref-updated HTTP/1.1" 503 UF upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111} - "delayed_connect_error:_111" 398 152 0 - "-" "Apache-HttpClient/4.5.14 (Java/17.0.10)" "87383523-4754-4ac6-9acd-5e63d4cebb65" "redacted.svc.cluster.local:8080" "100.72.2.83:8080" inbound|8080|| - 100.72.2.83:8080 100.72.9.85:44759 - default`,
		want: Entry{
			StartTime: ts("2024-05-28T15:12:57.143Z"), Method: "POST",
			Path: "/plugins/high-availability/event/ref-updated", Protocol: "HTTP/1.1",
			ResponseCode: 503, ResponseFlags: "UF",
			ResponseCodeDetails: "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}",
			UserAgent:           "Apache-HttpClient/4.5.14 (Java/17.0.10)",
			RequestID:           "87383523-4754-4ac6-9acd-5e63d4cebb65", Authority: "redacted.svc.cluster.local:8080",
			UpstreamHost: "100.72.2.83:8080", UpstreamCluster: "inbound|8080||",
			DownstreamLocalAddress: "100.72.2.83:8080", DownstreamRemoteAddress: "100.72.9.85:44759",
			RouteName: "default", BytesReceived: 398, BytesSent: 152,
		},
	},
	{
		// Egress gateway UH on Istio 1.18.7 (addresses redacted by the
		// reporter). Copied without the Cloud Logging prefix, which the
		// not-access-log table keeps.
		// https://github.com/istio/istio/issues/50075
		name: "1.18 egress gateway TCP UH (istio#50075)",
		line: `[2024-03-25T08:56:41.328Z] "- - -" 0 UH - - "-" 0 0 0 - "-" "-" "-" "-" "-" outbound|443||xxx.segment.xxx - xxxxx:8443 xxxxx:38532 xxxx.segment.xxx -`,
		want: Entry{
			StartTime: ts("2024-03-25T08:56:41.328Z"), ResponseFlags: "UH", UpstreamCluster: "outbound|443||xxx.segment.xxx",
			DownstreamLocalAddress: "xxxxx:8443", DownstreamRemoteAddress: "xxxxx:38532",
			RequestedServerName: "xxxx.segment.xxx",
		},
	},
	{
		// Gateway API egress gateway in 2026 (UPSTREAM_CLUSTER_RAW era).
		// The document wraps the line over four lines; joined with single
		// spaces here. https://github.com/Kuadrant/kuadrant-operator/blob/main/doc/user-guides/egress/observability.md
		// (added in https://github.com/Kuadrant/kuadrant-operator/pull/2108)
		name: "≥1.24 Gateway API egress gateway (kuadrant-operator egress guide)",
		line: `[2026-07-07T14:33:57.697Z] "GET /get HTTP/1.1" 200 - via_upstream - "-" 0 1172 1879 1879 "10.244.0.18" "curl/8.21.0" "4fe1434d-fd3b-4c68-92ac-c15700dfccc7" "httpbin.org" "100.59.144.143:443" outbound|443||httpbin.org 10.244.0.17:40974 10.244.0.17:80 10.244.0.18:43722 - gateway-system.httpbin-external.0`,
		want: Entry{
			StartTime: ts("2026-07-07T14:33:57.697Z"), Method: "GET", Path: "/get", Protocol: "HTTP/1.1",
			ResponseCode: 200, ResponseCodeDetails: "via_upstream", XForwardedFor: "10.244.0.18",
			UserAgent: "curl/8.21.0", RequestID: "4fe1434d-fd3b-4c68-92ac-c15700dfccc7", Authority: "httpbin.org",
			UpstreamHost: "100.59.144.143:443", UpstreamCluster: "outbound|443||httpbin.org",
			UpstreamLocalAddress: "10.244.0.17:40974", DownstreamLocalAddress: "10.244.0.17:80",
			DownstreamRemoteAddress: "10.244.0.18:43722", RouteName: "gateway-system.httpbin-external.0",
			BytesSent: 1172,
		},
	},
	{
		// REGISTRY_ONLY, HTTPS to an unknown host: sidecar TCP line to
		// BlackHoleCluster with UH. Source: a public GitHub markdown file found
		// through the code index's exact-string search, which does not name the
		// repository (tab-indented there; the indentation is kept to exercise
		// trimming). No citable issue or doc line with this shape was found.
		name: "1.1x sidecar BlackHoleCluster UH (REGISTRY_ONLY)",
		line: "\t\t\t\t\t\t\t  " + `[2022-04-26T13:14:30.905Z] "- - -" 0 UH - - "-" 0 0 7 - "-" "-" "-" "-" "-" BlackHoleCluster - 180.97.34.94:443 10.122.158.52:54192 - -`,
		want: Entry{
			StartTime: ts("2022-04-26T13:14:30.905Z"), ResponseFlags: "UH", UpstreamCluster: "BlackHoleCluster",
			DownstreamLocalAddress: "180.97.34.94:443", DownstreamRemoteAddress: "10.122.158.52:54192",
		},
	},
	{
		// REGISTRY_ONLY, plain HTTP to an unknown host: the sidecar answers
		// 502 itself from the block_all route. Same source as the line above.
		name: "1.1x sidecar 502 block_all (REGISTRY_ONLY)",
		line: "\t\t\t\t\t\t\t  " + `[2022-04-26T13:16:32.023Z] "HEAD / HTTP/1.1" 502 - direct_response - "-" 0 0 0 - "-" "curl/7.81.0-DEV" "cb171c15-848a-93d8-88d6-beeadcbb683f" "www.baidu.com" "-" - - 180.97.34.94:80 10.122.158.52:48708 - block_all`,
		want: Entry{
			StartTime: ts("2022-04-26T13:16:32.023Z"), Method: "HEAD", Path: "/", Protocol: "HTTP/1.1",
			ResponseCode: 502, ResponseCodeDetails: "direct_response", UserAgent: "curl/7.81.0-DEV",
			RequestID: "cb171c15-848a-93d8-88d6-beeadcbb683f", Authority: "www.baidu.com",
			DownstreamLocalAddress: "180.97.34.94:80", DownstreamRemoteAddress: "10.122.158.52:48708",
			RouteName: "block_all",
		},
	},

	// ---- JSON encoding ----
	{
		// accessLogEncoding: JSON, Istio 1.9.5, HTTPS blocked under
		// REGISTRY_ONLY: numbers as numbers, nulls, keys unordered. Copied
		// without the "[ubuntu istio-proxy] " prefix of the log viewer (the
		// not-access-log table keeps it) and without the trailing space.
		// https://github.com/istio/istio/issues/33281
		name: "1.9 JSON, blocked TLS with UH (istio#33281)",
		line: `{"response_code":0,"upstream_service_time":null,"upstream_host":null,"upstream_local_address":null,"request_id":null,"downstream_remote_address":"172.17.3.28:35070","bytes_sent":0,"upstream_cluster":null,"upstream_transport_failure_reason":null,"authority":null,"duration":8,"response_code_details":null,"response_flags":"UH","protocol":null,"user_agent":null,"path":null,"connection_termination_details":null,"method":null,"downstream_local_address":"13.249.75.75:443","route_name":null,"x_forwarded_for":null,"requested_server_name":null,"start_time":"2021-06-04T14:35:50.462Z","bytes_received":0}`,
		want: Entry{
			StartTime: ts("2021-06-04T14:35:50.462Z"), ResponseFlags: "UH",
			DownstreamLocalAddress: "13.249.75.75:443", DownstreamRemoteAddress: "172.17.3.28:35070",
		},
	},
	{
		// Istio's JSON encoding as shown (one key per line, no braces, some
		// addresses blanked as "" by the author) in
		// https://shardul.dev/understanding-istio-access-logs/ ; reassembled
		// into one object in the order shown.
		name: "JSON, inbound nginx (shardul.dev)",
		line: `{"response_code_details": "via_upstream", "downstream_remote_address": "", "downstream_local_address": "", "request_id": "e2873f51-0a42-4da4-a8e8-f711b46dea5c", "authority": "nginx", "requested_server_name": "outbound_.80_._.nginx.default.svc.cluster.local", "upstream_cluster": "inbound|80||", "path": "/", "bytes_sent": 37, "user_agent": "curl/7.35.0", "method": "GET", "upstream_local_address": "", "x_forwarded_for": null, "start_time": "2022-10-23T22:15:39.663Z", "response_code": 200, "upstream_transport_failure_reason": null, "duration": 0, "upstream_service_time": "0", "response_flags": "-", "upstream_host": "", "route_name": "default", "bytes_received": 0, "protocol": "HTTP/1.1", "connection_termination_details": null}`,
		want: Entry{
			StartTime: ts("2022-10-23T22:15:39.663Z"), Method: "GET", Path: "/", Protocol: "HTTP/1.1",
			ResponseCode: 200, ResponseCodeDetails: "via_upstream", UserAgent: "curl/7.35.0",
			RequestID: "e2873f51-0a42-4da4-a8e8-f711b46dea5c", Authority: "nginx", UpstreamCluster: "inbound|80||",
			RequestedServerName: "outbound_.80_._.nginx.default.svc.cluster.local", RouteName: "default",
			BytesSent: 37,
		},
	},
	{
		// A custom JSON-shaped format with every value as a string ("200",
		// "59") and "-" placeholders, extra keys, UPSTREAM_CLUSTER_RAW.
		// Printed one key per line in the source; compacted to one line here.
		// https://github.com/ssup2/blog-software/blob/main/content/docs/theory-analysis/istio-sidecar-proxy-access-log/index.md
		// ([Text 2])
		name: "JSON, numbers as strings (ssup2 blog)",
		line: `{"start_time": "2025-12-14T15:04:12.558Z", "method": "GET", "path": "/status/200", "protocol": "HTTP/1.1", "response_code": "200", "response_flags": "-", "response_code_details": "via_upstream", "connection_termination_details": "-", "upstream_transport_failure_reason": "-", "bytes_received": "0", "bytes_sent": "59", "duration": "10", "upstream_service_time": "6", "x_forwarded_for": "-", "user_agent": "curl/8.14.1", "request_id": "0432d33a-0ffb-94fc-98fc-b9b322d5eaa3", "authority": "mock-server:8080", "upstream_host": "10.244.1.4:8080", "upstream_cluster": "outbound|8080||mock-server.default.svc.cluster.local", "upstream_local_address": "10.244.2.3:45178", "downstream_local_address": "10.96.191.168:8080", "downstream_remote_address": "10.244.2.3:34226", "requested_server_name": "-", "route_name": "-", "grpc_status": "-", "upstream_request_attempt_count": "1", "request_duration": "0", "response_duration": "10"}`,
		want: Entry{
			StartTime: ts("2025-12-14T15:04:12.558Z"), Method: "GET", Path: "/status/200", Protocol: "HTTP/1.1",
			ResponseCode: 200, ResponseCodeDetails: "via_upstream", UserAgent: "curl/8.14.1",
			RequestID: "0432d33a-0ffb-94fc-98fc-b9b322d5eaa3", Authority: "mock-server:8080",
			UpstreamHost: "10.244.1.4:8080", UpstreamCluster: "outbound|8080||mock-server.default.svc.cluster.local",
			UpstreamLocalAddress: "10.244.2.3:45178", DownstreamLocalAddress: "10.96.191.168:8080",
			DownstreamRemoteAddress: "10.244.2.3:34226", BytesSent: 59,
		},
	},
}

// notAccessLogLines are lines `kubectl logs -c istio-proxy` (or a log viewer)
// shows that are not access-log lines.
var notAccessLogLines = []struct{ name, line string }{
	{"empty", ""},
	{"blank", " \t\r\n"},
	// pilot-agent, copied with spaces for tabs:
	// https://github.com/istio/istio/issues/11938
	{"pilot-agent 1.1", `2019-02-21T05:38:06.790648Z     info    Envoy proxy is NOT ready: cds updates: 0 successful, 0 rejected; lds updates: 0 successful, 0 rejected`},
	// Envoy's native format also starts with "[" and a date.
	// https://github.com/istio/istio/issues/11938
	{"envoy native 1.1", `[2019-02-21 05:38:48.587][18][warning][config] [bazel-out/k8-opt/bin/external/envoy/source/common/config/_virtual_includes/grpc_stream_lib/common/config/grpc_stream.h:102] gRPC config stream closed: 13,`},
	// https://github.com/istio/istio/issues/22724
	{"envoy native with epoch 1.5", `[Envoy (Epoch 0)] [2020-04-04 11:48:37.328][28][debug][http] [external/envoy/source/common/http/conn_manager_impl.cc:1276] [C628][S4671782020322190055] request end stream`},
	// https://github.com/istio/istio.io/issues/7419
	{"pilot-agent 1.6", `2020-05-28T00:56:58.131273Z     info    transport: loopyWriter.run returning. connection error: desc = "transport is closing"`},
	// Envoy through pilot-agent, real tabs.
	// https://github.com/istio/istio/issues/31208
	{"envoy via pilot-agent 1.9", "2021-03-03T20:15:33.889594Z\twarning\tenvoy runtime\tUnable to use runtime singleton for feature envoy.http.headermap.lazy_map_min_size"},
	{"xdsproxy 1.9", "2021-03-03T20:15:33.934837Z\tinfo\txdsproxy\tEnvoy ADS stream established"},
	// https://github.com/istio/istio/issues/38284
	{"envoy debug 1.13", "2022-04-08T05:06:03.867366Z\tdebug\tenvoy pool\t[C3] using existing connection"},
	// https://github.com/istio/istio/issues/56743
	{"pilot-agent flag 1.26", "2025-06-23T22:32:12.856110Z\tinfo\tFLAG: --concurrency=\"0\""},
	// kubectl --timestamps in front of a pilot-agent line.
	// https://github.com/istio/istio/issues/29109
	{"kubectl timestamps + pilot-agent", "2020-11-22T19:32:17.857583542Z 2020-11-22T19:32:17.857430Z\tinfo\tFLAG: --concurrency=\"2\""},
	// A Cloud Logging export prefix in front of an access line: not ours to
	// strip. https://github.com/istio/istio/issues/50075
	{"cloud logging prefix", `INFO 2024-03-25T08:56:41.897522475Z [resource.labels.containerName: istio-proxy] [2024-03-25T08:56:41.328Z] "- - -" 0 UH - - "-" 0 0 0 - "-" "-" "-" "-" "-" outbound|443||xxx.segment.xxx - xxxxx:8443 xxxxx:38532 xxxx.segment.xxx -`},
	// A log viewer's "[pod container]" prefix, as `kubectl logs --prefix`
	// also adds. https://github.com/istio/istio/issues/33281
	{"viewer prefix before JSON", `[ubuntu istio-proxy] {"response_code":0,"upstream_service_time":null,"upstream_host":null,"upstream_local_address":null,"request_id":null,"downstream_remote_address":"172.17.3.28:35070","bytes_sent":0,"upstream_cluster":null,"upstream_transport_failure_reason":null,"authority":null,"duration":8,"response_code_details":null,"response_flags":"UH","protocol":null,"user_agent":null,"path":null,"connection_termination_details":null,"method":null,"downstream_local_address":"13.249.75.75:443","route_name":null,"x_forwarded_for":null,"requested_server_name":null,"start_time":"2021-06-04T14:35:50.462Z","bytes_received":0} `},
	// Mixer's JSON log entry shares the key "path" with the access log.
	// https://github.com/istio/istio.io/pull/1570
	{"mixer JSON log", `{"level":"info","time":"2018-06-18T13:22:58.317448Z","instance":"egress-access.logentry.istio-system","destination":"edition.cnn.com","path":"/politics","responseCode":200,"responseSize":150448,"source":"sleep","user":"unknown"}`},
	// A fluent-bit flattened record. https://github.com/istio/istio/issues/56053
	{"fluent-bit record", `kubernetes.cluster_name:01-clusterpod_name:abc-7884bd965c-mchk8,response_code:0,downstream_remote_address:172.17.13.48:33180node_name:192.168.4.30,bytes_received:0,bytes_sent:0,logtag:Fresponse_flags:UH, duration:0,start_time:2025-04-24T08:16:28.876Z`},
	// Constructed: pilot-agent's --log_as_json output shape.
	{"pilot-agent JSON", `{"level":"info","time":"2024-01-01T00:00:00.000000Z","scope":"xdsproxy","msg":"connected to upstream XDS server: istiod.istio-system.svc:15012"}`},
	{"garbage", "hello world"},
	{"lone bracket", "["},
	{"empty brackets", "[]"},
	{"bracket not a time", "[not a time] \"GET / HTTP/1.1\" 200"},
}

// malformedLines start like access lines but are not complete lines of any
// Istio format.
var malformedLines = []struct{ name, line string }{
	// A docs example cut after %UPSTREAM_HOST%, as it appears in a 2022
	// revision of istio.io's egress TLS origination task (mutual TLS origination
	// section) in istio/istio.io; the current revision no longer has it.
	{"docs line cut after upstream host", `[2022-05-19T10:01:06.795Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 615 1 0 "-" "curl/7.83.1-DEV" "96e8d8a7-92ce-9939-aa47-9f5f530a69fb" "my-nginx.mesh-external.svc.cluster.local:443" "10.107.176.65:443"`},
	// The author of https://shardul.dev/understanding-istio-access-logs/
	// removed the three addresses from a ≥1.9 line.
	{"addresses removed by hand", `[2022-10-23T20:38:15.413Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 37 0 0 "-" "curl/7.35.0" "3ce3e159-9dba-4617-9e85-feb1106a682c" "nginx" "" inbound|80|| outbound_.80_._.nginx.default.svc.cluster.local default`},
	{"only a start time", `[2020-11-25T21:26:18.409Z]`},
	{"start time and space", "[2020-11-25T21:26:18.409Z] x"},
	{"no space after start time", `[2020-11-25T21:26:18.409Z]"GET / HTTP/1.1" 200`},
	{"unterminated quote", `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1`},
	{"request without protocol", `[2018-12-17T07:32:46.204Z] "GET /HTTP/1.1" 503 UH 0 19 0 - "-" "curl/7.52.1" "90268738-bcc8-4990-94ff-3b122f58564d" "test.xxx.com" "-" - - 123.125.115.110:80 10.40.190.180:59570`},
	{"status code not a number", `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" abc - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`},
	{"status code out of range", `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 4180 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`},
	{"negative bytes", `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" -1 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`},
	{"extra field", `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default extra`},
	{"double space", `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418  - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`},
	{"JSON truncated", `{"start_time":"2021-06-04T14:35:50.462Z","response_code":0,"response_flags":"UH","bytes_rec`},
	{"JSON bad start time", `{"start_time":"yesterday","response_code":200,"method":"GET"}`},
	{"JSON code not a number", `{"start_time":"2021-06-04T14:35:50.462Z","response_code":"OK","method":"GET"}`},
	{"JSON negative bytes", `{"start_time":"2021-06-04T14:35:50.462Z","response_code":200,"bytes_sent":-5}`},
	{"JSON fractional code", `{"start_time":"2021-06-04T14:35:50.462Z","response_code":200.5,"method":"GET"}`},
	{"JSON object value", `{"start_time":"2021-06-04T14:35:50.462Z","response_code":200,"method":{"name":"GET"}}`},
	{"JSON bool value", `{"start_time":"2021-06-04T14:35:50.462Z","response_code":200,"method":true}`},
	{"JSON trailing garbage", `{"start_time":"2021-06-04T14:35:50.462Z","response_code":200,"method":"GET"} x`},
	{"not JSON", `{not json}`},
}

// truncations cuts a complete line at every field boundary and in the
// middle of fields; none of the cuts may parse, because a cut line would
// hide the fields an expectation is about. A cut inside the last field is
// undetectable by any parser (it is a shorter route name), so the cuts stop
// before it.
func truncations(line string) []string {
	var cuts []string
	for i := 1; i < strings.LastIndexByte(line, ' '); i++ {
		if line[i] == ' ' || line[i] == '"' || i%7 == 0 {
			cuts = append(cuts, line[:i])
		}
	}
	return cuts
}

func TestParseRealLines(t *testing.T) {
	for _, tc := range realLines {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.line)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d := diffEntry(got, tc.want); d != "" {
				t.Errorf("Parse(%q):\n%s", tc.line, d)
			}
		})
	}
}

func TestParseLineEndings(t *testing.T) {
	base := realLines[8] // ≥1.9 sidecar line
	for _, suffix := range []string{"\n", "\r\n", "\r", "  ", " \t\r\n"} {
		got, err := Parse(base.line + suffix)
		if err != nil {
			t.Fatalf("Parse(line+%q): %v", suffix, err)
		}
		if d := diffEntry(got, base.want); d != "" {
			t.Errorf("Parse(line+%q):\n%s", suffix, d)
		}
	}
}

func TestParseNotAccessLog(t *testing.T) {
	for _, tc := range notAccessLogLines {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.line)
			if !errors.Is(err, ErrNotAccessLog) {
				t.Fatalf("Parse(%q) error = %v, want ErrNotAccessLog", tc.line, err)
			}
			if errors.Is(err, ErrMalformed) {
				t.Errorf("error %v matches ErrMalformed too", err)
			}
			if got != (Entry{}) {
				t.Errorf("Parse returned a non-zero Entry with an error: %+v", got)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for _, tc := range malformedLines {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.line)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) error = %v, want ErrMalformed", tc.line, err)
			}
			if errors.Is(err, ErrNotAccessLog) {
				t.Errorf("error %v matches ErrNotAccessLog too", err)
			}
			if got != (Entry{}) {
				t.Errorf("Parse returned a non-zero Entry with an error: %+v", got)
			}
		})
	}
}

// TestParseTruncatedRealLines cuts TEXT lines of the eras whose last field
// is mandatory (1.3–1.7 and ≥1.9). A cut can never yield an Entry.
func TestParseTruncatedRealLines(t *testing.T) {
	for _, i := range []int{4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20} {
		tc := realLines[i]
		line := trimSpace(tc.line)
		for _, cut := range truncations(line) {
			if e, err := Parse(cut); err == nil {
				t.Errorf("%s: Parse(%q) = %+v, want an error", tc.name, cut, e)
			} else if e != (Entry{}) {
				t.Errorf("%s: Parse(%q) returned a non-zero Entry with an error", tc.name, cut)
			}
		}
	}
}

// TestParseStatDelimiter covers a custom TEXT format that still prints
// %UPSTREAM_CLUSTER%: since Istio 1.22/1.23 that is the alt_stat_name with a
// trailing ";". Derived from the egress-gateway task line above.
func TestParseStatDelimiter(t *testing.T) {
	const line = `[2024-01-09T15:35:47.283Z] "GET /politics HTTP/1.1" 301 - via_upstream - "-" 0 0 2 2 "172.30.239.55" "curl/7.87.0-DEV" "6c01d65f-a157-97cd-8782-320a40026901" "edition.cnn.com" "151.101.195.5:80" outbound|80||edition.cnn.com; 172.30.239.16:55636 172.30.239.16:80 172.30.239.55:59224 - default.forward-cnn-from-egress-gateway.0`
	e, err := Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	if e.UpstreamCluster != "outbound|80||edition.cnn.com" {
		t.Errorf("UpstreamCluster = %q, want the delimiter stripped", e.UpstreamCluster)
	}
	j, err := Parse(`{"start_time":"2024-01-09T15:35:47.283Z","response_code":301,"upstream_cluster":"BlackHoleCluster;"}`)
	if err != nil {
		t.Fatal(err)
	}
	if j.UpstreamCluster != "BlackHoleCluster" {
		t.Errorf("JSON UpstreamCluster = %q, want the delimiter stripped", j.UpstreamCluster)
	}
}

// TestParseJSONMissingKeys: a key that is absent reads like null, and a
// number may come as a JSON number, a string, or a float with no fraction.
func TestParseJSONMissingKeys(t *testing.T) {
	e, err := Parse(`{"start_time":"2021-06-04T14:35:50.462Z","response_code":"404","bytes_sent":1.9e1,"method":"GET","path":"/x\"y\u00e9"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{StartTime: ts("2021-06-04T14:35:50.462Z"), ResponseCode: 404, BytesSent: 19, Method: "GET", Path: `/x"yé`}
	if d := diffEntry(e, want); d != "" {
		t.Error(d)
	}
}

// TestParseAll: one stream mixing eras, formats and non-access
// lines, as a `kubectl logs` across an upgrade would show: the format is
// decided for each line on its own.
func TestParseAll(t *testing.T) {
	lines := []string{
		notAccessLogLines[2].line,  // pilot-agent
		realLines[4].line,          // 1.3–1.7
		notAccessLogLines[3].line,  // Envoy native
		realLines[7].line + "\r",   // 1.8, CRLF
		"",                         // empty
		malformedLines[1].line,     // malformed, line 6
		realLines[18].line,         // ≥1.24
		realLines[22].line,         // JSON
		notAccessLogLines[6].line,  // pilot-agent with tabs
		malformedLines[0].line,     // malformed, line 10
		realLines[6].line,          // kubectl --timestamps
		notAccessLogLines[10].line, // kubectl --timestamps + pilot-agent
		realLines[1].line,          // 1.0–1.1
	}
	entries, err := ParseAll(strings.NewReader(strings.Join(lines, "\n") + "\n"))
	wantIdx := []int{4, 7, 18, 22, 6, 1}
	if len(entries) != len(wantIdx) {
		t.Fatalf("got %d entries, want %d (err %v)", len(entries), len(wantIdx), err)
	}
	for i, idx := range wantIdx {
		if d := diffEntry(entries[i], realLines[idx].want); d != "" {
			t.Errorf("entry %d (%s):\n%s", i, realLines[idx].name, d)
		}
	}
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	for _, s := range []string{"line 6:", "line 10:"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("err %q does not name %q", err, s)
		}
	}
	if errors.Is(err, ErrNotAccessLog) {
		t.Errorf("skipped lines leaked into the error: %v", err)
	}
}

func TestParseAllClean(t *testing.T) {
	entries, err := ParseAll(strings.NewReader(realLines[8].line + "\n" + notAccessLogLines[7].line))
	if err != nil || len(entries) != 1 {
		t.Fatalf("ParseAll = %d entries, %v; want 1, nil", len(entries), err)
	}
}

// TestParseAllocs pins the hot path at zero allocations: the fields are
// substrings of the line and the tokens live on the stack.
func TestParseAllocs(t *testing.T) {
	line := realLines[18].line // ≥1.24
	if n := testing.AllocsPerRun(200, func() { _, _ = Parse(line) }); n != 0 {
		t.Errorf("Parse of a current TEXT line allocates %.0f times, want 0", n)
	}
	// Most lines of an istio-proxy log are pilot-agent's; ParseAll skips
	// them, and skipping must be free too.
	for _, other := range []string{notAccessLogLines[2].line, notAccessLogLines[6].line, ""} {
		if n := testing.AllocsPerRun(200, func() { _, _ = Parse(other) }); n != 0 {
			t.Errorf("rejecting %q allocates %.0f times, want 0", other, n)
		}
	}
}

// diffEntry lists the fields that differ; StartTime is compared with Equal
// since a time.Time's location pointer is not part of its value.
func diffEntry(got, want Entry) string {
	var b strings.Builder
	if !got.StartTime.Equal(want.StartTime) {
		fmt.Fprintf(&b, "  StartTime: got %v, want %v\n", got.StartTime, want.StartTime)
	}
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		name := gv.Type().Field(i).Name
		if name == "StartTime" {
			continue
		}
		if g, w := gv.Field(i).Interface(), wv.Field(i).Interface(); g != w {
			fmt.Fprintf(&b, "  %s: got %q, want %q\n", name, fmt.Sprint(g), fmt.Sprint(w))
		}
	}
	return b.String()
}
