package versions

import (
	"os"
	"regexp"
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
