// Package versions exposes every pinned version of the harness. The values live in
// versions.env beside this file, which the Makefile includes too, so Make and Go can
// never disagree.
package versions

import (
	_ "embed"
	"fmt"
	"strings"
)

//go:embed versions.env
var envFile string

// Pins is the parsed versions.env.
var Pins = mustParse(envFile)

// Istio is the Istio version the cluster tier installs by default.
var Istio = Pins["ISTIO_VERSION"]

// IstioVersions are the Istio versions the harness knows, oldest first.
var IstioVersions = strings.Fields(Pins["ISTIO_VERSIONS"])

// KindNodeImage is the kind node image, pinned by digest.
var KindNodeImage = Pins["KIND_NODE_IMAGE"]

// IstioLibrary is the istio.io/istio module version the offline tier links.
var IstioLibrary = Pins["ISTIO_LIBRARY_VERSION"]

// IstioLibraryRelease is the Istio release line of IstioLibrary ("1.31"): the
// Istio the offline tier simulates, whatever the cluster tier installs.
var IstioLibraryRelease = Pins["ISTIO_LIBRARY_RELEASE"]

// CurlImage is the image of the curl client workloads.
var CurlImage = Pins["CURL_IMAGE"]

// SquidImage is the image of the HTTPS proxy workload (fixtures/workloads/squid.yaml).
var SquidImage = Pins["SQUID_IMAGE"]

// NginxImage is the image of the hermetic external stand-in (pkg/external).
var NginxImage = Pins["NGINX_IMAGE"]

// GatewayAPI is the Gateway API version whose CRDs the harness installs; it equals
// sigs.k8s.io/gateway-api's version in go.mod (versions_test.go checks).
var GatewayAPI = Pins["GATEWAY_API_VERSION"]

// APIServerKube, APIServerEtcd and Kwok are the versions of the integration tier's
// loopback API server (hack/apiserver.sh).
var (
	APIServerKube = Pins["APISERVER_KUBE_VERSION"]
	APIServerEtcd = Pins["APISERVER_ETCD_VERSION"]
	Kwok          = Pins["KWOK_VERSION"]
)

func mustParse(s string) map[string]string {
	m, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Parse reads KEY=value lines; blank lines and '#' comments are skipped.
func Parse(s string) (map[string]string, error) {
	m := map[string]string{}
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("versions.env line %d: want KEY=value, got %q", i+1, line)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("versions.env line %d: %s is set twice", i+1, k)
		}
		m[k] = v
	}
	return m, nil
}
