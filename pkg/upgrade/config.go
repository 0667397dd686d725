package upgrade

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Strategy is how the mesh goes from FROM to TO.
type Strategy string

const (
	// InPlace installs TO over FROM with TO's istioctl (same default revision):
	// istiod and the egress gateway are rolled in place, the clients restarted.
	InPlace Strategy = "in-place"
	// Canary installs TO beside FROM as revision <to-rev>, which also moves the
	// istioctl egress gateway to it, relabels the client namespaces to that
	// revision, restarts the clients, and then removes FROM.
	Canary Strategy = "canary"
)

// Strategies is every strategy, in the order "both" runs them.
var Strategies = []Strategy{InPlace, Canary}

// Environment variables ConfigFromEnv reads.
const (
	EnvFrom     = "ISTIO_FROM"
	EnvTo       = "ISTIO_TO"
	EnvStrategy = "UPGRADE_STRATEGY"
	// EnvProbe picks the background prober's step, "scenario/step"; "none"
	// turns the prober off; empty chooses automatically (ChooseProbe).
	EnvProbe = "UPGRADE_PROBE"
	// EnvIstioctlFrom and EnvIstioctlTo name local istioctl binaries (air-gapped),
	// as ISTIOCTL does for the cluster tier; each must report its version.
	EnvIstioctlFrom = "ISTIOCTL_FROM"
	EnvIstioctlTo   = "ISTIOCTL_TO"
	// EnvTimeouts overrides Timeouts, e.g. "Rollout=10m,ProbeInterval=500ms".
	EnvTimeouts = "UPGRADE_TIMEOUTS"
)

// ParseStrategies reads UPGRADE_STRATEGY: in-place, canary, or both (the
// default, also for an empty value).
func ParseStrategies(s string) ([]Strategy, error) {
	switch v := strings.TrimSpace(s); v {
	case "", "both":
		return append([]Strategy(nil), Strategies...), nil
	case string(InPlace), string(Canary):
		return []Strategy{Strategy(v)}, nil
	default:
		return nil, fmt.Errorf("%s=%q: want in-place, canary or both", EnvStrategy, s)
	}
}

// Config is what an upgrade run is asked to do.
type Config struct {
	From, To   string
	Strategies []Strategy
	// Probe is EnvProbe as given.
	Probe string
	// IstioctlFrom and IstioctlTo are local istioctl binaries, or empty to
	// download (pkg/mesh.Acquire).
	IstioctlFrom, IstioctlTo string
	Timeouts                 Timeouts
}

// ConfigFromEnv reads ISTIO_FROM, ISTIO_TO, UPGRADE_STRATEGY, UPGRADE_PROBE,
// ISTIOCTL_FROM, ISTIOCTL_TO and UPGRADE_TIMEOUTS through getenv. Empty versions
// take DefaultPair's. It does not judge the pair: Preflight does.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		From:         strings.TrimSpace(getenv(EnvFrom)),
		To:           strings.TrimSpace(getenv(EnvTo)),
		Probe:        strings.TrimSpace(getenv(EnvProbe)),
		IstioctlFrom: strings.TrimSpace(getenv(EnvIstioctlFrom)),
		IstioctlTo:   strings.TrimSpace(getenv(EnvIstioctlTo)),
		Timeouts:     DefaultTimeouts(),
	}
	var err error
	if c.Strategies, err = ParseStrategies(getenv(EnvStrategy)); err != nil {
		return c, err
	}
	if c.To == "" {
		c.To = versions.Istio
	}
	if c.From == "" {
		from, _, err := DefaultPair(versions.IstioVersions, c.To)
		if err != nil {
			return c, fmt.Errorf("%s is not set and has no default: %w", EnvFrom, err)
		}
		c.From = from
	}
	if o := getenv(EnvTimeouts); o != "" {
		if err := c.Timeouts.ParseOverrides(o); err != nil {
			return c, fmt.Errorf("%s=%q: %w", EnvTimeouts, o, err)
		}
	}
	if err := c.Timeouts.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", EnvTimeouts, err)
	}
	return c, nil
}

// DefaultPair is the upgrade the gate checks by default for TO (by default the
// pinned Istio, versions.env ISTIO_VERSION): FROM is the newest release in
// ISTIO_VERSIONS of the minor before TO, the one-minor step both strategies
// support.
func DefaultPair(known []string, pin string) (from, to string, err error) {
	t, err := ParseVersion(pin)
	if err != nil {
		return "", "", fmt.Errorf("ISTIO_VERSION pin: %w", err)
	}
	var best *Version
	for _, k := range known {
		v, err := ParseVersion(k)
		if err != nil {
			return "", "", fmt.Errorf("ISTIO_VERSIONS: %w", err)
		}
		if v.Major == t.Major && v.Minor == t.Minor-1 && v.Pre == "" && (best == nil || v.Compare(*best) > 0) {
			best = &v
		}
	}
	if best == nil {
		return "", pin, fmt.Errorf("ISTIO_VERSIONS (%s) has no release of the minor before %s", strings.Join(known, " "), pin)
	}
	return best.String(), pin, nil
}

// Timeouts holds every duration of the upgrade orchestration; nothing else in
// this package hard-codes one. Step proofs keep runner.Timeouts, istioctl runs
// keep mesh.Timeouts.
type Timeouts struct {
	// Rollout bounds waiting for a restarted Deployment (gateway, client) to roll
	// out with every pod on the expected proxy.
	Rollout time.Duration
	// Gone bounds waiting for a removed control plane's Deployment to disappear.
	Gone time.Duration
	// AgentExec bounds one `pilot-agent version` exec in an istio-proxy container.
	AgentExec time.Duration
	// Poll is the interval between two looks at a rollout.
	Poll time.Duration
	// ProbeInterval is the time between the starts of two background probes.
	ProbeInterval time.Duration
	// Window bounds one upgrade window's background prober, whatever happens to
	// the upgrade itself: the prober never outlives it.
	Window time.Duration
}

// DefaultTimeouts: a kind node may pull every image of TO during a rollout.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Rollout:       10 * time.Minute,
		Gone:          3 * time.Minute,
		AgentExec:     30 * time.Second,
		Poll:          2 * time.Second,
		ProbeInterval: time.Second,
		Window:        45 * time.Minute,
	}
}

// WithDefaults fills zero fields from DefaultTimeouts.
func (t Timeouts) WithDefaults() Timeouts {
	d := DefaultTimeouts()
	tv, dv := reflect.ValueOf(&t).Elem(), reflect.ValueOf(d)
	for i := range tv.NumField() {
		if tv.Field(i).IsZero() {
			tv.Field(i).Set(dv.Field(i))
		}
	}
	return t
}

// Validate refuses durations the orchestration cannot work with.
func (t Timeouts) Validate() error {
	var bad []string
	v := reflect.ValueOf(t)
	for i := range v.NumField() {
		if d := v.Field(i).Interface().(time.Duration); d <= 0 {
			bad = append(bad, fmt.Sprintf("%s=%s must be above zero", v.Type().Field(i).Name, d))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("upgrade timeouts: %s", strings.Join(bad, "; "))
	}
	return nil
}

// ParseOverrides sets fields from "Name=duration" pairs separated by commas or
// semicolons. Unknown names and bad values are errors.
func (t *Timeouts) ParseOverrides(s string) error {
	v := reflect.ValueOf(t).Elem()
	for pair := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ';' }) {
		name, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return fmt.Errorf("%q is not Name=duration", pair)
		}
		f := v.FieldByName(strings.TrimSpace(name))
		if !f.IsValid() || !f.CanSet() {
			return fmt.Errorf("no setting %q (have %s)", strings.TrimSpace(name), strings.Join(timeoutNames(), ", "))
		}
		d, err := time.ParseDuration(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		f.SetInt(int64(d))
	}
	return nil
}

func timeoutNames() []string {
	var out []string
	typ := reflect.TypeOf(Timeouts{})
	for i := range typ.NumField() {
		out = append(out, typ.Field(i).Name)
	}
	return out
}
