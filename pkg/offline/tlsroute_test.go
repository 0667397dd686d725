package offline

import "testing"

// TestTLSRouteReachesTheSimulation: istio.io's "egress gateway for HTTPS traffic"
// with the Gateway API (content/en/docs/tasks/traffic-management/egress/
// egress-gateway/snips.sh, snip_egress_gateway_for_https_traffic_4, run by
// gtwapi_test.sh, which reads the request in the Gateway API gateway's log:
// snip_egress_gateway_for_https_traffic_9). Istio 1.31 watches TLSRoute at v1
// (pilot/pkg/config/kube/gateway/controller.go, gvr.TLSRoute); the page writes
// v1alpha2, which an API server serving both stores as v1. Both spellings must
// route the sidecar to the gateway and the gateway to edition.cnn.com.
func TestTLSRouteReachesTheSimulation(t *testing.T) {
	for _, name := range []string{"tlsroute-v1alpha2", "tlsroute-v1"} {
		t.Run(name, func(t *testing.T) {
			s := loadTestdata(t, name)
			for i := range s.Steps {
				if j := Judge(s, i, Options{StrictAnalysis: true}); !j.Passed() {
					t.Errorf("%s", j.Message())
				}
			}
		})
	}
}
