package offline

import (
	"strings"
	"testing"
)

// TestBundleServicesReachTheRegistry: Kubernetes Services in a bundle are what
// registers a host under REGISTRY_ONLY, as on a cluster where istiod reads them
// from the API server: an ExternalName Service, a ClusterIP Service backed by a
// bundle Deployment, and a selector-less Service with Endpoints (mirrored to an
// EndpointSlice, which is what istiod reads). Without them in the simulated
// registry the sidecar blocks every one of these requests.
func TestBundleServicesReachTheRegistry(t *testing.T) {
	for _, name := range []string{"kube-externalname", "kube-clusterip-deployment", "kube-endpoints"} {
		t.Run(name, func(t *testing.T) {
			s := loadTestdata(t, name)
			j := Judge(s, 0, Options{})
			if !j.Passed() {
				t.Fatalf("%s", j.Message())
			}
			if len(j.Path.Problems) > 0 {
				t.Errorf("problems: %v", j.Path.Problems)
			}
		})
	}
}

// TestDoubleTLSIsAProblem: a sidecar passing the client's TLS through on a cluster
// that originates TLS breaks the request (istio/istio#17031), though Istio
// accepts the configuration and the route is the expected one.
func TestDoubleTLSIsAProblem(t *testing.T) {
	s := loadTestdata(t, "double-tls")
	j := Judge(s, 0, Options{})
	if j.Passed() {
		t.Fatalf("double TLS passed:\n%s", j.Message())
	}
	found := false
	for _, p := range j.Path.Problems {
		found = found || strings.Contains(p, "double TLS")
	}
	if !found {
		t.Errorf("no double-TLS problem:\n%s", j.Message())
	}
}
