package upgrade

import (
	"errors"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Real evidence, copied verbatim from the public sources named next to it (the
// access lines and bodies are the same, with the same citations, as in
// pkg/runner/data_test.go, pkg/evidence/data_test.go and pkg/accesslog's tests).
// No Istio runs in these tests: the fakes only replay what real proxies, httpbin
// and pilot-agent printed. What is not recorded says so.

// The seed scenario egress-gateway-http, step after-routing, recorded: httpbin.org/ip
// from a sleep pod (10.244.104.16) through istio-egressgateway, Istio 1.16.0 demo
// profile, 2022-12-01. github.com/cloudzun/istiolabmanual manual.md, "6.Egress".
const (
	clientIP         = "10.244.104.16"
	lineSidecarViaGW = `[2022-12-01T08:01:34.332Z] "GET /ip HTTP/1.1" 200 - via_upstream - "-" 0 46 614 614 "-" "curl/7.81.0-DEV" "81f48ace-057e-978a-85b4-1bcecdb48e27" "httpbin.org" "10.244.135.13:8080" outbound|80|httpbin|istio-egressgateway.istio-system.svc.cluster.local 10.244.104.16:47570 54.166.148.227:80 10.244.104.16:57680 - -`
	idViaGW          = "81f48ace-057e-978a-85b4-1bcecdb48e27"
	localAddrViaGW   = "10.244.104.16:57680"
	bodyIPViaGW      = "{\n  \"origin\": \"10.244.104.16, 20.205.45.50\"\n}\n"
)

// The egress gateway's line for httpbin.org/ip in the same setup but from another
// run (Istio 1.5.1, 2022-11-13; its request id and client differ from the sidecar
// line's, the checks it feeds do not depend on them).
// github.com/dendi875/dendi875.github.io source/_posts/Istio-Engress—实现访问外部服务.md
const lineGatewayOtherRun = `[2022-11-13T09:54:53.829Z] "GET /ip HTTP/2" 200 - "-" "-" 0 46 642 641 "172.17.0.16" "curl/7.83.1" "41f8da95-3e03-999d-ad9c-c3f484d9fc09" "httpbin.org" "54.166.148.227:80" outbound|80||httpbin.org 172.17.0.4:37542 172.17.0.4:80 172.17.0.16:56190 - -`

// A failed request as an Envoy sidecar logs it: 503 UF, connection failure before
// the response started (Istio 1.2x). https://github.com/istio/istio/issues/51267
// (the same line is in pkg/accesslog/parse_test.go). It is an inbound line from
// another mesh: here it plays the client sidecar's line of a probe that failed
// while the upgrade rolled the gateway; what the prober must do with it (count a
// failure, keep the line as evidence) does not depend on its direction.
const (
	line503UF = `[2024-05-28T15:12:57.143Z] "POST /plugins/high-availability/event/ref-updated HTTP/1.1" 503 UF upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111} - "delayed_connect_error:_111" 398 152 0 - "-" "Apache-HttpClient/4.5.14 (Java/17.0.10)" "87383523-4754-4ac6-9acd-5e63d4cebb65" "redacted.svc.cluster.local:8080" "100.72.2.83:8080" inbound|8080|| - 100.72.2.83:8080 100.72.9.85:44759 - default`
	id503UF   = "87383523-4754-4ac6-9acd-5e63d4cebb65"
	// Envoy's local reply body for that kind of failure, as pkg/expect's tests use it.
	body503 = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
)

// An exec lost to an unreachable kubelet (message quoted from
// kubernetes/kubernetes#40817), as pkg/runner's tests use it.
var errKubeletDown = errors.New("error dialing backend: dial tcp 172.18.10.229:10250: getsockopt: connection refused")

// `pilot-agent version` run in a sidecar's istio-proxy container, Istio 1.27.0
// (OpenShift Service Mesh build), the long form pilot-agent prints by default.
// A public sidecar-to-ambient migration guide ("Step 3.2 Validate HBONE
// Capability"), found in the code index; repository not identified.
const agentVersion1270 = `client version: version.BuildInfo{Version:"1.27.0", GitRevision:"8dad717f74fbffd463595039148f9ec2148fa5fc", GolangVersion:"go1.24.4 (Red Hat 1.24.4-2.el9) X:strictfipsruntime", BuildStatus:"Clean", GitTag:"1.27.0"}`

// The sidecar.istio.io/status annotation Istio's injector stamped on a bookinfo
// pod (Istio 1.2x, default revision), from a `kubectl get pod -o yaml` in public
// lab notes found in the code index (repository not identified); the same shape
// is Istio's SidecarInjectionStatus (pkg/kube/inject/inject.go).
const injectionStatusDefault = `{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["workload-socket","credential-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"],"imagePullSecrets":null,"revision":"default"}`

// An injection status without "revision", as Istio wrote it before revisions
// (istioctl kube-inject output in public notes found in the code index).
const injectionStatusNoRevision = `{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"],"imagePullSecrets":null}`

func intp(i int) *int { return &i }

// The seed scenario, written out (scenarios/egress-gateway-http/scenario.yaml).
func seedScenario() *scenario.Scenario {
	return &scenario.Scenario{
		Name: "egress-gateway-http", Client: "sleep", Labels: []string{"egress-gateway", "http"},
		Steps: []scenario.Step{
			{
				Name:    "before-routing",
				Request: scenario.Request{URL: "http://httpbin.org/ip"},
				Expect: scenario.Expect{
					Route: scenario.RouteDirect, Status: intp(200), Origin: &scenario.Origin{Hops: 1},
					SidecarLog: &scenario.LogExpect{Method: "GET", Path: "/ip", Authority: "httpbin.org", ResponseCode: 200,
						UpstreamCluster: "outbound|80||httpbin.org"},
					GatewayLog: &scenario.LogExpect{Absent: true},
				},
			},
			{
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
			},
		},
	}
}
