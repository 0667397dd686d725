package offline

import "testing"

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
