package external

import (
	"strings"
	"testing"
)

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeInternet, "internet": ModeInternet, " Cluster ": ModeCluster, "cluster": ModeCluster} {
		got, err := ParseMode(in)
		if err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMode("offline"); err == nil || !strings.Contains(err.Error(), "EXTERNAL") {
		t.Errorf("ParseMode(offline) err = %v", err)
	}
	if !ModeCluster.Hermetic() || ModeInternet.Hermetic() {
		t.Error("Hermetic is wrong")
	}
}

func TestOptionsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	got, err := OptionsFromEnv(env(nil))
	if err != nil || got != (EnvOptions{Mode: ModeInternet}) {
		t.Errorf("empty env: %+v, %v", got, err)
	}
	got, err = OptionsFromEnv(env(map[string]string{EnvMode: "cluster", EnvAllowExistingCluster: "yes"}))
	if err != nil || got != (EnvOptions{Mode: ModeCluster, AllowExistingCluster: true}) {
		t.Errorf("cluster env: %+v, %v", got, err)
	}
	for _, bad := range []map[string]string{{EnvMode: "nope"}, {EnvAllowExistingCluster: "maybe"}} {
		if _, err := OptionsFromEnv(env(bad)); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestConfigDefaultsAndValidate(t *testing.T) {
	c := Config{Hosts: []string{" HTTPBIN.org", "edition.cnn.com", "httpbin.org"}}.WithDefaults()
	if strings.Join(c.Hosts, ",") != "edition.cnn.com,httpbin.org" {
		t.Errorf("Hosts = %q", c.Hosts)
	}
	if c.Namespace != DefaultNamespace || c.ClusterDomain != DefaultClusterDomain || c.Image == "" {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if c.Target() != "egress-standin.egress-conformance-external.svc.cluster.local" {
		t.Errorf("Target = %q", c.Target())
	}
	if !c.Serves("HTTPBIN.ORG.") || c.Serves("example.com") {
		t.Error("Serves is wrong")
	}
	for name, bad := range map[string]Config{
		"namespace":   {Namespace: "Not_A_Namespace"},
		"in-cluster":  {Hosts: []string{"httpbin.default.svc.cluster.local"}},
		"run id":      {RunID: "has spaces"},
		"domain":      {ClusterDomain: "-bad-"},
		"single name": {Hosts: []string{"localhost"}},
	} {
		if err := bad.WithDefaults().Validate(); err == nil {
			t.Errorf("%s: %+v validated", name, bad)
		}
	}
}
