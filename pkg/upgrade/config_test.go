package upgrade

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

func TestCompareVersions(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"1.30.8", "1.31.4", -1},
		{"1.31.4", "1.31.4", 0},
		{"1.31.10", "1.31.9", 1}, // numeric, not lexical
		{"1.32.0-rc.1", "1.32.0", -1},
		{"1.32.0-rc.2", "1.32.0-rc.10", -1},
		{"1.32.0-alpha.1", "1.32.0-rc.1", -1},
		{"1.32.0-rc.1", "1.32.0-rc", 1},
		{"1.32.0-1", "1.32.0-rc", -1}, // a number before a word
		{"2.0.0", "1.99.99", 1},
	} {
		a, err := ParseVersion(tt.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseVersion(tt.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Compare(b); got != tt.want {
			t.Errorf("%s vs %s: got %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := b.Compare(a); got != -tt.want {
			t.Errorf("%s vs %s: got %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
	for _, bad := range []string{"", "1.31", "v1.31.4", "1.31.x", "1.31.4/../x"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q): want an error", bad)
		}
	}
}

func TestRevisionFor(t *testing.T) {
	for v, want := range map[string]string{"1.31.4": "1-31-4", "1.32.0-rc.1": "1-32-0-rc-1", "1.6.8": "1-6-8"} {
		got, err := RevisionFor(v)
		if err != nil || got != want {
			t.Errorf("RevisionFor(%s) = %q, %v; want %q", v, got, err, want)
		}
	}
	if _, err := RevisionFor("1.32.0-RC_1"); err == nil {
		t.Error("a revision that is no DNS-1123 label must be refused")
	}
}

func TestDefaultPair(t *testing.T) {
	from, to, err := DefaultPair([]string{"1.30.7", "1.30.8", "1.31.4", "1.32.0", "1.31.0-rc.1"}, "1.31.4")
	if err != nil || from != "1.30.8" || to != "1.31.4" {
		t.Fatalf("got %s → %s, %v; want 1.30.8 → 1.31.4", from, to, err)
	}
	if _, _, err := DefaultPair([]string{"1.31.4", "1.32.0"}, "1.31.4"); err == nil {
		t.Error("no release of the previous minor: want an error")
	}
	// The pins themselves give the pair the README documents.
	from, to, err = DefaultPair(versions.IstioVersions, versions.Istio)
	if err != nil || from != "1.31.4" || to != "1.32.0" {
		t.Errorf("versions.env gives %s → %s, %v; README says 1.31.4 → 1.32.0", from, to, err)
	}
}

func TestParseStrategies(t *testing.T) {
	for in, want := range map[string]string{"": "in-place,canary", "both": "in-place,canary", "in-place": "in-place", " canary ": "canary"} {
		got, err := ParseStrategies(in)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, g := range got {
			s = append(s, string(g))
		}
		if strings.Join(s, ",") != want {
			t.Errorf("ParseStrategies(%q) = %v, want %s", in, s, want)
		}
	}
	if _, err := ParseStrategies("blue-green"); err == nil || !strings.Contains(err.Error(), "UPGRADE_STRATEGY") {
		t.Errorf("want an error naming the variable, got %v", err)
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnv(t *testing.T) {
	c, err := ConfigFromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.From != "1.31.4" || c.To != versions.Istio || len(c.Strategies) != 2 {
		t.Errorf("defaults: %+v", c)
	}
	if c.Timeouts != DefaultTimeouts() {
		t.Errorf("timeouts: %+v", c.Timeouts)
	}

	c, err = ConfigFromEnv(env(map[string]string{EnvTo: "1.32.0", EnvStrategy: "canary", EnvProbe: "none",
		EnvTimeouts: "Rollout=20m; ProbeInterval=500ms", EnvIstioctlTo: "/opt/istioctl"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.From != "1.31.4" {
		t.Errorf("FROM for TO 1.32.0 = %s, want the newest 1.31 release", c.From)
	}
	if c.Timeouts.Rollout != 20*time.Minute || c.Timeouts.ProbeInterval != 500*time.Millisecond || c.Timeouts.Window != DefaultTimeouts().Window {
		t.Errorf("overrides: %+v", c.Timeouts)
	}
	if c.Probe != "none" || c.IstioctlTo != "/opt/istioctl" || c.Strategies[0] != Canary {
		t.Errorf("config: %+v", c)
	}

	for _, bad := range []map[string]string{
		{EnvTimeouts: "Rollout=soon"},
		{EnvTimeouts: "Converge=1m"},
		{EnvTimeouts: "Poll=0s"},
		{EnvStrategy: "both-ways"},
		{EnvTo: "1.29.0"}, // ISTIO_VERSIONS has no 1.28 release to default FROM to
	} {
		if _, err := ConfigFromEnv(env(bad)); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
	// Given both, nothing is defaulted (the preflight judges the pair).
	c, err = ConfigFromEnv(env(map[string]string{EnvFrom: "1.29.3", EnvTo: "1.29.0"}))
	if err != nil || c.From != "1.29.3" || c.To != "1.29.0" {
		t.Errorf("explicit pair: %+v, %v", c, err)
	}
}

func TestTimeoutsWithDefaults(t *testing.T) {
	got := Timeouts{Rollout: time.Minute}.WithDefaults()
	if got.Rollout != time.Minute || got.Poll != DefaultTimeouts().Poll {
		t.Errorf("got %+v", got)
	}
	var err error = Timeouts{}.Validate()
	if err == nil || !strings.Contains(err.Error(), "Rollout=0s") {
		t.Errorf("zero timeouts: %v", err)
	}
	if errors.Is(err, ErrRefused) {
		t.Error("a timeout error is not a preflight refusal")
	}
}
