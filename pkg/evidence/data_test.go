package evidence

// Real access-log lines, copied verbatim from the public sources named next to
// them (the same lines, with the same citations, are in pkg/accesslog/parse_test.go
// and pkg/expect/evidence_data_test.go). None of them was produced by this
// repository: no Istio runs in these tests. The one line that is not real says so.

// One request seen by both proxies: sleep (10.100.0.5) → istio-egressgateway pod
// (10.100.2.6, port 8080) → developers.google.com, Istio 1.13. The two lines share
// the request id; the gateway's downstream peer 10.100.0.5:48236 is the sidecar's
// upstream local address. https://istio.io/latest/blog/2022/egress-policies/
// (istio/istio.io content/en/blog/2022/egress-policies/index.md)
const (
	policiesSidecar   = `[2022-05-10T20:36:16.973Z] "HEAD / HTTP/1.1" 200 - via_upstream - "-" 0 0 421 420 "-" "curl/7.83.0-DEV" "5ab0ed38-2e77-92a8-bb44-0a07573cd530" "developers.google.com" "10.100.2.6:8080" outbound|80|google|istio-egressgateway.istio-system.svc.cluster.local 10.100.0.5:48236 173.194.217.101:80 10.100.0.5:48764 - -`
	policiesGateway   = `[2022-05-10T20:36:16.981Z] "HEAD / HTTP/2" 200 - via_upstream - "-" 0 0 395 394 "10.100.0.5" "curl/7.83.0-DEV" "5ab0ed38-2e77-92a8-bb44-0a07573cd530" "developers.google.com" "173.194.217.101:443" outbound|443||developers.google.com 10.100.2.6:51492 10.100.2.6:8080 10.100.0.5:48236 developers.google.com -`
	policiesRequestID = "5ab0ed38-2e77-92a8-bb44-0a07573cd530"
	policiesGatewayIP = "10.100.2.6"
	// Another request at the same gateway (same blog): an AuthorizationPolicy
	// denial for sleep 10.100.0.6. Here it is a neighbour's line.
	policiesGatewayRBAC = `[2022-05-10T21:51:49.396Z] "HEAD / HTTP/2" 403 - rbac_access_denied_matched_policy[ns[istio-system]-policy[external-deny-developer-yahoo-com]-rule[0]] - "-" 0 0 0 - "10.100.0.6" "curl/7.83.0-DEV" "a503ba03-f09a-914d-85a4-995a0c1d5b16" "developer.yahoo.com" "-" outbound|443||developer.yahoo.com - 10.100.2.6:8080 10.100.0.6:58370 developer.yahoo.com -`
)

// The seed scenario's before-routing step, recorded: httpbin.org/ip straight from
// the sidecar of sleep 10.244.104.16, Istio 1.16.0, 2022-12-01.
// github.com/cloudzun/istiolabmanual manual.md, "6.Egress".
const (
	directSidecar   = `[2022-12-01T07:55:06.694Z] "GET /ip HTTP/1.1" 200 - via_upstream - "-" 0 31 608 607 "-" "curl/7.81.0-DEV" "e839b6e0-060c-9c78-9f97-26dda40d94d0" "httpbin.org" "54.166.148.227:80" outbound|80||httpbin.org 10.244.104.16:55424 3.215.37.86:80 10.244.104.16:43594 - default`
	directRequestID = "e839b6e0-060c-9c78-9f97-26dda40d94d0"
)

// An egress gateway's line for httpbin.org/ip from another run (Istio 1.5.1,
// client 172.17.0.16): in these tests a neighbour's line the Collector must not
// take. github.com/dendi875/dendi875.github.io
// source/_posts/Istio-Engress—实现访问外部服务.md
const otherGatewayLine = `[2022-11-13T09:54:53.829Z] "GET /ip HTTP/2" 200 - "-" "-" 0 46 642 641 "172.17.0.16" "curl/7.83.1" "41f8da95-3e03-999d-ad9c-c3f484d9fc09" "httpbin.org" "54.166.148.227:80" outbound|80||httpbin.org 172.17.0.4:37542 172.17.0.4:80 172.17.0.16:56190 - -`

// REGISTRY_ONLY on Istio 1.31.1 (kind, 2026-09-28), pod 10.244.0.27: plain HTTP
// answered 502 by block_all, then HTTPS reset with a TCP line to BlackHoleCluster
// whose downstream peer is curl's local address. github.com/Hyeonuk02/MUSINSA-PROJECT
// docs/isolation-proof.md (wrapped lines joined with spaces).
const (
	registryOnlyBlockAll  = `[2026-09-28T07:46:27.295Z] "GET / HTTP/1.1" 502 - direct_response - "-" 0 0 0 - "-" "curl/8.11.1" "c9627983-150b-9809-b636-f342a4bb2aca" "example.com" "-" - - 104.20.23.154:80 10.244.0.27:35284 - block_all`
	registryOnlyBlackHole = `[2026-09-28T07:46:27.363Z] "- - -" 0 UH - - "-" 0 0 0 - "-" "-" "-" "-" "-" BlackHoleCluster - 104.20.23.154:443 10.244.0.27:49692 - -`
	blackHoleLocalAddr    = "10.244.0.27:49692"
)

// The Gateway API egress gateway's line for TLS passthrough to edition.cnn.com
// (gateway pod 172.30.239.8, client sidecar's end 172.30.239.15:43956).
// https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/
// (snips.sh, snip_egress_gateway_for_https_traffic_9)
const (
	passthroughGateway   = `[2024-01-11T21:09:42.835Z] "- - -" 0 - - - "-" 839 2504306 231 - "-" "-" "-" "-" "151.101.195.5:443" outbound|443||edition.cnn.com 172.30.239.8:34470 172.30.239.8:443 172.30.239.15:43956 edition.cnn.com -`
	passthroughGatewayIP = "172.30.239.8"
	// CONSTRUCTED, not recorded: no public source shows the client sidecar's line
	// for this connection. Built in the ≥1.9 TCP layout of the real lines above:
	// upstream host the gateway pod's 8443 target port, upstream local address the
	// gateway line's downstream peer, downstream peer curl's (invented) local
	// address 172.30.239.15:51000, cluster as the task's DestinationRule names it.
	passthroughSidecarConstructed = `[2024-01-11T21:09:42.800Z] "- - -" 0 - - - "-" 839 2504306 240 - "-" "-" "-" "-" "172.30.239.8:443" outbound|443||cnn-egress-gateway-istio.default.svc.cluster.local 172.30.239.15:43956 151.101.195.5:443 172.30.239.15:51000 edition.cnn.com -`
	passthroughLocalAddr          = "172.30.239.15:51000"
)

// Lines of an istio-proxy log that are not access lines (pilot-agent, Envoy).
// https://github.com/istio/istio/issues/31208 and /11938
const (
	pilotAgentLine = "2021-03-03T20:15:33.934837Z\tinfo\txdsproxy\tEnvoy ADS stream established"
	envoyNative    = `[2019-02-21 05:38:48.587][18][warning][config] [bazel-out/k8-opt/bin/external/envoy/source/common/config/_virtual_includes/grpc_stream_lib/common/config/grpc_stream.h:102] gRPC config stream closed: 13,`
)

// A malformed access line: a docs example cut after %UPSTREAM_HOST% (a 2022
// revision of istio.io's egress TLS origination task).
const malformedLine = `[2022-05-19T10:01:06.795Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 615 1 0 "-" "curl/7.83.1-DEV" "96e8d8a7-92ce-9939-aa47-9f5f530a69fb" "my-nginx.mesh-external.svc.cluster.local:443" "10.107.176.65:443"`
