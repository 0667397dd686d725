package offline

import (
	"crypto/x509"
	"sync"

	"k8s.io/client-go/applyconfigurations"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

var warmOnce sync.Once

// Warm starts, in the background, the work Istio's fakes do once per process on
// the first step, so that it overlaps with loading scenarios and running the
// analyzers instead of holding up the first simulation while the other core
// waits for the same sync.Once:
//
//   - the structured-merge-diff parser of every Kubernetes type, which client-go's
//     fake clientset builds (applyconfigurations.NewTypeConverter, called by
//     fake.NewClientset, which Istio's kubelib.NewFakeClient calls): ~110 ms CPU;
//   - the system root certificates, which istiod's JWKS resolver loads
//     (x509.SystemCertPool in newJwksResolverWithCABundlePaths,
//     pilot/pkg/model/jwks_resolver.go, called by xds.NewDiscoveryServer): ~50 ms
//     of reading files.
//
// Both are sync.Once-guarded in their packages, so the steps use what Warm built
// (or wait for it to finish) and nothing is computed twice. Calling Warm more
// than once does nothing more.
func Warm() {
	warmOnce.Do(func() {
		go func() { _ = applyconfigurations.NewTypeConverter(clientgoscheme.Scheme) }()
		go func() { _, _ = x509.SystemCertPool() }()
	})
}
