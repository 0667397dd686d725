package versions

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGatewayAPIMatchesGoMod: the Gateway API CRDs the harness installs come from the
// module cache at go.mod's version, so the pin and go.mod must agree.
func TestGatewayAPIMatchesGoMod(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*sigs\.k8s\.io/gateway-api (\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require sigs.k8s.io/gateway-api")
	}
	if got := string(m[1]); got != GatewayAPI {
		t.Errorf("go.mod requires sigs.k8s.io/gateway-api %s, versions.env pins GATEWAY_API_VERSION=%s", got, GatewayAPI)
	}
}

func TestAPIServerPins(t *testing.T) {
	for k, v := range map[string]string{"APISERVER_KUBE_VERSION": APIServerKube, "APISERVER_ETCD_VERSION": APIServerEtcd, "KWOK_VERSION": Kwok} {
		if !regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(v) {
			t.Errorf("%s=%q: want a module version like v1.2.3", k, v)
		}
	}
}

// TestIstioLibraryRelease: ISTIO_LIBRARY_RELEASE must be what the linked istio.io/istio
// says it is (the VERSION file at its module root), and ISTIO_LIBRARY_VERSION must be
// go.mod's: the offline report names this release as the Istio it simulates.
func TestIstioLibraryRelease(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*istio\.io/istio (\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require istio.io/istio")
	}
	if got := string(m[1]); got != IstioLibrary {
		t.Fatalf("go.mod requires istio.io/istio %s, versions.env pins ISTIO_LIBRARY_VERSION=%s", got, IstioLibrary)
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(strings.TrimSpace(string(out)), "istio.io", "istio@"+IstioLibrary, "VERSION")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run `go mod download istio.io/istio`)", err)
	}
	if got := strings.TrimSpace(string(b)); got != IstioLibraryRelease {
		t.Errorf("%s says %s, versions.env pins ISTIO_LIBRARY_RELEASE=%s", file, got, IstioLibraryRelease)
	}
}
