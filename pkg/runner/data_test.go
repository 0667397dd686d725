package runner

import (
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Real evidence, copied verbatim from the public sources named next to it (the
// same lines and bodies, with the same citations, are in
// pkg/expect/evidence_data_test.go and pkg/accesslog/parse_test.go). No Istio
// runs in these tests; the fakes only replay what real proxies and httpbin wrote.

// The seed scenario egress-gateway-http, recorded: httpbin.org/ip from a sleep pod
// (10.244.104.16), Istio 1.16.0 demo profile, 2022-12-01, first with only a
// ServiceEntry (straight out of the sidecar), then through istio-egressgateway.
// github.com/cloudzun/istiolabmanual manual.md, "6.Egress".
const (
	clientIP = "10.244.104.16"

	lineSidecarDirect   = `[2022-12-01T07:55:06.694Z] "GET /ip HTTP/1.1" 200 - via_upstream - "-" 0 31 608 607 "-" "curl/7.81.0-DEV" "e839b6e0-060c-9c78-9f97-26dda40d94d0" "httpbin.org" "54.166.148.227:80" outbound|80||httpbin.org 10.244.104.16:55424 3.215.37.86:80 10.244.104.16:43594 - default`
	idDirect            = "e839b6e0-060c-9c78-9f97-26dda40d94d0"
	localAddrDirect     = "10.244.104.16:43594"
	bodyIPDirect        = "{\n  \"origin\": \"20.205.45.50\"\n}\n"
	lineSidecarViaGW    = `[2022-12-01T08:01:34.332Z] "GET /ip HTTP/1.1" 200 - via_upstream - "-" 0 46 614 614 "-" "curl/7.81.0-DEV" "81f48ace-057e-978a-85b4-1bcecdb48e27" "httpbin.org" "10.244.135.13:8080" outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local 10.244.104.16:47570 54.166.148.227:80 10.244.104.16:57680 - -`
	idViaGW             = "81f48ace-057e-978a-85b4-1bcecdb48e27"
	localAddrViaGW      = "10.244.104.16:57680"
	bodyIPViaGW         = "{\n  \"origin\": \"10.244.104.16, 20.205.45.50\"\n}\n"
	gatewayPodIPSeedRun = "10.244.135.13"
)

// The egress gateway's line for httpbin.org/ip in the same setup but from another
// run (Istio 1.5.1, 2022-11-13; its request id and client differ from the sidecar
// line's, the checks it feeds do not depend on them). github.com/dendi875/dendi875.github.io
// source/_posts/Istio-Engress—实现访问外部服务.md
const lineGatewayOtherRun = `[2022-11-13T09:54:53.829Z] "GET /ip HTTP/2" 200 - "-" "-" 0 46 642 641 "172.17.0.16" "curl/7.83.1" "41f8da95-3e03-999d-ad9c-c3f484d9fc09" "httpbin.org" "54.166.148.227:80" outbound|80||httpbin.org 172.17.0.4:37542 172.17.0.4:80 172.17.0.16:56190 - -`

// One request seen by both proxies, same request id: sleep 10.100.0.5 →
// istio-egressgateway pod 10.100.2.6 → developers.google.com, Istio 1.13.
// https://istio.io/latest/blog/2022/egress-policies/
const (
	linePoliciesSidecar = `[2022-05-10T20:36:16.973Z] "HEAD / HTTP/1.1" 200 - via_upstream - "-" 0 0 421 420 "-" "curl/7.83.0-DEV" "5ab0ed38-2e77-92a8-bb44-0a07573cd530" "developers.google.com" "10.100.2.6:8080" outbound|80|google|istio-egressgateway.istio-system.svc.cluster.local 10.100.0.5:48236 173.194.217.101:80 10.100.0.5:48764 - -`
	linePoliciesGateway = `[2022-05-10T20:36:16.981Z] "HEAD / HTTP/2" 200 - via_upstream - "-" 0 0 395 394 "10.100.0.5" "curl/7.83.0-DEV" "5ab0ed38-2e77-92a8-bb44-0a07573cd530" "developers.google.com" "173.194.217.101:443" outbound|443||developers.google.com 10.100.2.6:51492 10.100.2.6:8080 10.100.0.5:48236 developers.google.com -`
	idPolicies          = "5ab0ed38-2e77-92a8-bb44-0a07573cd530"
)

// REGISTRY_ONLY, Istio 1.31.1 on kind, pod 10.244.0.27, 2026-09-28: plain HTTP
// answered 502 by block_all; HTTPS reset (curl exit 35) with a TCP line to
// BlackHoleCluster whose downstream peer is curl's local address.
// github.com/Hyeonuk02/MUSINSA-PROJECT docs/isolation-proof.md
const (
	lineBlockAll         = `[2026-09-28T07:46:27.295Z] "GET / HTTP/1.1" 502 - direct_response - "-" 0 0 0 - "-" "curl/8.11.1" "c9627983-150b-9809-b636-f342a4bb2aca" "example.com" "-" - - 104.20.23.154:80 10.244.0.27:35284 - block_all`
	lineBlackHole        = `[2026-09-28T07:46:27.363Z] "- - -" 0 UH - - "-" 0 0 0 - "-" "-" "-" "-" "-" BlackHoleCluster - 104.20.23.154:443 10.244.0.27:49692 - -`
	localAddrBlackHole   = "10.244.0.27:49692"
	clientIPRegistryOnly = "10.244.0.27"
)

func parse(t *testing.T, line string) *accesslog.Entry {
	t.Helper()
	e, err := accesslog.Parse(line)
	if err != nil {
		t.Fatalf("parse real line: %v\n%s", err, line)
	}
	return &e
}

func intp(i int) *int { return &i }

// The seed scenario's steps (scenarios/egress-gateway-http/scenario.yaml, as
// written out in pkg/expect's tests).
var (
	stepBeforeRouting = scenario.Step{
		Name:    "before-routing",
		Request: scenario.Request{URL: "http://httpbin.org/ip"},
		Expect: scenario.Expect{
			Route:  scenario.RouteDirect,
			Status: intp(200),
			Origin: &scenario.Origin{Hops: 1},
			SidecarLog: &scenario.LogExpect{Method: "GET", Path: "/ip", Authority: "httpbin.org", ResponseCode: 200,
				UpstreamCluster: "outbound|80||httpbin.org"},
			GatewayLog: &scenario.LogExpect{Absent: true},
		},
	}
	stepAfterRouting = scenario.Step{
		Name:    "after-routing",
		Request: scenario.Request{URL: "http://httpbin.org/ip"},
		Expect: scenario.Expect{
			Route:      scenario.RouteEgressGateway,
			Status:     intp(200),
			Origin:     &scenario.Origin{Hops: 2, First: scenario.OriginFirstClient},
			SidecarLog: &scenario.LogExpect{UpstreamCluster: "outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local"},
			GatewayLog: &scenario.LogExpect{Method: "GET", Path: "/ip", Authority: "httpbin.org", ResponseCode: 200,
				UpstreamCluster: "outbound|80||httpbin.org"},
		},
	}
	// REGISTRY_ONLY, HTTPS to an unregistered host.
	stepRegistryOnlyHTTPS = scenario.Step{
		Name:    "https-blocked",
		Request: scenario.Request{URL: "https://example.com"},
		Expect: scenario.Expect{
			Route:      scenario.RouteBlocked,
			CurlExit:   intp(35),
			SidecarLog: &scenario.LogExpect{UpstreamCluster: "BlackHoleCluster", ResponseFlags: "UH"},
			GatewayLog: &scenario.LogExpect{Absent: true},
		},
	}
)
