package expect

import (
	"testing"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/origin"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Real evidence. The access-log entries are built by hand from the real lines next
// to them (the parser is pkg/accesslog's job, tested there); a field printed "-" is
// empty. Each block says where it was recorded.

func intp(i int) *int { return &i }

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// --- Seed scenario egress-gateway-http, step before-routing ---------------------
//
// httpbin.org/ip from a sleep pod (10.244.104.16) with only a ServiceEntry for
// httpbin.org, Istio 1.16.0 demo profile, 2022-12-01: the client sidecar's line and
// httpbin's answer. github.com/cloudzun/istiolabmanual manual.md, "6.Egress".
const (
	lineSidecarDirect = `[2022-12-01T07:55:06.694Z] "GET /ip HTTP/1.1" 200 - via_upstream - "-" 0 31 608 607 "-" "curl/7.81.0-DEV" "e839b6e0-060c-9c78-9f97-26dda40d94d0" "httpbin.org" "54.166.148.227:80" outbound|80||httpbin.org 10.244.104.16:55424 3.215.37.86:80 10.244.104.16:43594 - default`
	bodyIPDirect      = "{\n  \"origin\": \"20.205.45.50\"\n}\n"
	clientIP          = "10.244.104.16"
)

var entrySidecarDirect = accesslog.Entry{
	StartTime: ts("2022-12-01T07:55:06.694Z"), Method: "GET", Path: "/ip", Protocol: "HTTP/1.1",
	ResponseCode: 200, ResponseCodeDetails: "via_upstream", BytesReceived: 0, BytesSent: 31,
	UserAgent: "curl/7.81.0-DEV", RequestID: "e839b6e0-060c-9c78-9f97-26dda40d94d0", Authority: "httpbin.org",
	UpstreamHost: "54.166.148.227:80", UpstreamCluster: "outbound|80||httpbin.org",
	UpstreamLocalAddress: "10.244.104.16:55424", DownstreamLocalAddress: "3.215.37.86:80",
	DownstreamRemoteAddress: "10.244.104.16:43594", RouteName: "default",
}

// --- Seed scenario egress-gateway-http, step after-routing ----------------------
//
// The same pod after Gateway + VirtualService + DestinationRule sent httpbin.org
// through istio-egressgateway: the client sidecar's line and httpbin's answer (the
// client pod's IP, then the node's public IP). Same source as above.
const (
	lineSidecarViaGateway = `[2022-12-01T08:01:34.332Z] "GET /ip HTTP/1.1" 200 - via_upstream - "-" 0 46 614 614 "-" "curl/7.81.0-DEV" "81f48ace-057e-978a-85b4-1bcecdb48e27" "httpbin.org" "10.244.135.13:8080" outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local 10.244.104.16:47570 54.166.148.227:80 10.244.104.16:57680 - -`
	bodyIPViaGateway      = "{\n  \"origin\": \"10.244.104.16, 20.205.45.50\"\n}\n"
)

var entrySidecarViaGateway = accesslog.Entry{
	StartTime: ts("2022-12-01T08:01:34.332Z"), Method: "GET", Path: "/ip", Protocol: "HTTP/1.1",
	ResponseCode: 200, ResponseCodeDetails: "via_upstream", BytesReceived: 0, BytesSent: 46,
	UserAgent: "curl/7.81.0-DEV", RequestID: "81f48ace-057e-978a-85b4-1bcecdb48e27", Authority: "httpbin.org",
	UpstreamHost: "10.244.135.13:8080", UpstreamCluster: "outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local",
	UpstreamLocalAddress: "10.244.104.16:47570", DownstreamLocalAddress: "54.166.148.227:80",
	DownstreamRemoteAddress: "10.244.104.16:57680",
}

// The egress gateway's line for httpbin.org/ip in the same setup (same Gateway,
// VirtualService and DestinationRule), Istio 1.5.1 TEXT format with mixer status,
// 2022-11-13: github.com/dendi875/dendi875.github.io
// source/_posts/Istio-Engress—实现访问外部服务.md. The source above shows no gateway
// line, so this one comes from another run: its request id and client
// (172.17.0.16, printed in X-Forwarded-For and as the downstream peer) differ from
// the sidecar line's. The checks it feeds (method, path, authority, code, upstream
// cluster, presence) do not depend on them.
const lineGateway = `[2022-11-13T09:54:53.829Z] "GET /ip HTTP/2" 200 - "-" "-" 0 46 642 641 "172.17.0.16" "curl/7.83.1" "41f8da95-3e03-999d-ad9c-c3f484d9fc09" "httpbin.org" "54.166.148.227:80" outbound|80||httpbin.org 172.17.0.4:37542 172.17.0.4:80 172.17.0.16:56190 - -`

var entryGateway = accesslog.Entry{
	StartTime: ts("2022-11-13T09:54:53.829Z"), Method: "GET", Path: "/ip", Protocol: "HTTP/2",
	ResponseCode: 200, BytesReceived: 0, BytesSent: 46, XForwardedFor: "172.17.0.16",
	UserAgent: "curl/7.83.1", RequestID: "41f8da95-3e03-999d-ad9c-c3f484d9fc09", Authority: "httpbin.org",
	UpstreamHost: "54.166.148.227:80", UpstreamCluster: "outbound|80||httpbin.org",
	UpstreamLocalAddress: "172.17.0.4:37542", DownstreamLocalAddress: "172.17.0.4:80",
	DownstreamRemoteAddress: "172.17.0.16:56190",
}

// --- REGISTRY_ONLY ---------------------------------------------------------------
//
// A sleep-like pod (10.244.0.27) under outboundTrafficPolicy REGISTRY_ONLY, Istio
// 1.31.1 on kind, 2026-09-28: http://example.com answered 502 by the sidecar's
// block_all route (curl exit 0), https://example.com reset (curl exit 35) with a TCP
// line to BlackHoleCluster. github.com/Hyeonuk02/MUSINSA-PROJECT
// docs/isolation-proof.md (the document wraps each line; joined here with spaces).
const (
	lineBlockAll  = `[2026-09-28T07:46:27.295Z] "GET / HTTP/1.1" 502 - direct_response - "-" 0 0 0 - "-" "curl/8.11.1" "c9627983-150b-9809-b636-f342a4bb2aca" "example.com" "-" - - 104.20.23.154:80 10.244.0.27:35284 - block_all`
	lineBlackHole = `[2026-09-28T07:46:27.363Z] "- - -" 0 UH - - "-" 0 0 0 - "-" "-" "-" "-" "-" BlackHoleCluster - 104.20.23.154:443 10.244.0.27:49692 - -`
)

var (
	entryBlockAll = accesslog.Entry{
		StartTime: ts("2026-09-28T07:46:27.295Z"), Method: "GET", Path: "/", Protocol: "HTTP/1.1",
		ResponseCode: 502, ResponseCodeDetails: "direct_response", UserAgent: "curl/8.11.1",
		RequestID: "c9627983-150b-9809-b636-f342a4bb2aca", Authority: "example.com",
		DownstreamLocalAddress: "104.20.23.154:80", DownstreamRemoteAddress: "10.244.0.27:35284",
		RouteName: "block_all",
	}
	// A TCP line: no request id, so pkg/evidence cannot find it by x-request-id.
	entryBlackHole = accesslog.Entry{
		StartTime: ts("2026-09-28T07:46:27.363Z"), ResponseFlags: "UH", UpstreamCluster: "BlackHoleCluster",
		DownstreamLocalAddress: "104.20.23.154:443", DownstreamRemoteAddress: "10.244.0.27:49692",
	}
)

// --- Authorization denial at the egress gateway -----------------------------------
//
// An AuthorizationPolicy (DENY on connection.sni) at istio-egressgateway; curl -I
// http://developer.yahoo.com from sleep (10.100.0.6) got 403. The gateway's line.
// github.com/istio/istio.io content/en/blog/2022/egress-policies/index.md.
const lineGatewayRBAC = `[2022-05-10T21:51:49.396Z] "HEAD / HTTP/2" 403 - rbac_access_denied_matched_policy[ns[istio-system]-policy[external-deny-developer-yahoo-com]-rule[0]] - "-" 0 0 0 - "10.100.0.6" "curl/7.83.0-DEV" "a503ba03-f09a-914d-85a4-995a0c1d5b16" "developer.yahoo.com" "-" outbound|443||developer.yahoo.com - 10.100.2.6:8080 10.100.0.6:58370 developer.yahoo.com -`

var entryGatewayRBAC = accesslog.Entry{
	StartTime: ts("2022-05-10T21:51:49.396Z"), Method: "HEAD", Path: "/", Protocol: "HTTP/2",
	ResponseCode:        403,
	ResponseCodeDetails: "rbac_access_denied_matched_policy[ns[istio-system]-policy[external-deny-developer-yahoo-com]-rule[0]]",
	XForwardedFor:       "10.100.0.6", UserAgent: "curl/7.83.0-DEV", RequestID: "a503ba03-f09a-914d-85a4-995a0c1d5b16",
	Authority: "developer.yahoo.com", UpstreamCluster: "outbound|443||developer.yahoo.com",
	DownstreamLocalAddress: "10.100.2.6:8080", DownstreamRemoteAddress: "10.100.0.6:58370",
	RequestedServerName: "developer.yahoo.com",
}

// --- ALLOW_ANY without a ServiceEntry --------------------------------------------
//
// curl http://www.baidu.com/aaa from sleep (10.244.96.245), Istio 1.22.1,
// 2024-06-26: the sidecar passes it through. Public Chinese lab notes titled
// "服务入口" (found in the code index; repository not identified).
const linePassthrough = `[2024-06-26T03:31:52.780Z] "GET /aaa HTTP/1.1" 404 - via_upstream - "-" 0 201 19 19 "-" "curl/8.8.0" "5f558197-cf05-969f-b82a-addea5e0e161" "www.baidu.com" "183.2.172.42:80" PassthroughCluster 10.244.96.245:36004 183.2.172.42:80 10.244.96.245:35994 - allow_any`

var entryPassthrough = accesslog.Entry{
	StartTime: ts("2024-06-26T03:31:52.780Z"), Method: "GET", Path: "/aaa", Protocol: "HTTP/1.1",
	ResponseCode: 404, ResponseCodeDetails: "via_upstream", BytesSent: 201, UserAgent: "curl/8.8.0",
	RequestID: "5f558197-cf05-969f-b82a-addea5e0e161", Authority: "www.baidu.com",
	UpstreamHost: "183.2.172.42:80", UpstreamCluster: "PassthroughCluster",
	UpstreamLocalAddress: "10.244.96.245:36004", DownstreamLocalAddress: "183.2.172.42:80",
	DownstreamRemoteAddress: "10.244.96.245:35994", RouteName: "allow_any",
}

// --- The seed scenario's expectations ----------------------------------------------
//
// scenarios/egress-gateway-http/scenario.yaml, written out by hand (the loader is
// tested in pkg/scenario).
var (
	expectBeforeRouting = scenario.Expect{
		Route:  scenario.RouteDirect,
		Status: intp(200),
		Origin: &scenario.Origin{Hops: 1},
		SidecarLog: &scenario.LogExpect{Method: "GET", Path: "/ip", Authority: "httpbin.org", ResponseCode: 200,
			UpstreamCluster: "outbound|80||httpbin.org"},
		GatewayLog: &scenario.LogExpect{Absent: true},
	}
	expectAfterRouting = scenario.Expect{
		Route:      scenario.RouteEgressGateway,
		Status:     intp(200),
		Origin:     &scenario.Origin{Hops: 2, First: scenario.OriginFirstClient},
		SidecarLog: &scenario.LogExpect{UpstreamCluster: "outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local"},
		GatewayLog: &scenario.LogExpect{Method: "GET", Path: "/ip", Authority: "httpbin.org", ResponseCode: 200,
			UpstreamCluster: "outbound|80||httpbin.org"},
	}
)

// withOrigin reads the origin chain from body the way the harness does.
func withOrigin(t *testing.T, ev Evidence, path, body string) Evidence {
	t.Helper()
	ev.Body = body
	ev.Origin, ev.OriginErr = origin.FromBody(path, []byte(body))
	ev.OriginObserved = true
	return ev
}

// Cluster-tier evidence for the two seed steps.
func evidenceBeforeRouting(t *testing.T) Evidence {
	s := entrySidecarDirect
	return withOrigin(t, Evidence{
		Tier: Cluster, RequestID: s.RequestID, Status: intp(200), CurlExit: intp(0), ClientIP: clientIP,
		Sidecar: &s, SidecarRaw: lineSidecarDirect, LogsObserved: true,
	}, "/ip", bodyIPDirect)
}

func evidenceAfterRouting(t *testing.T) Evidence {
	s, g := entrySidecarViaGateway, entryGateway
	return withOrigin(t, Evidence{
		Tier: Cluster, RequestID: s.RequestID, Status: intp(200), CurlExit: intp(0), ClientIP: clientIP,
		Sidecar: &s, SidecarRaw: lineSidecarViaGateway, Gateway: &g, GatewayRaw: lineGateway, LogsObserved: true,
	}, "/ip", bodyIPViaGateway)
}
