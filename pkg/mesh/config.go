package mesh

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Environment variables Config reads.
const (
	// EnvIstioVersion selects the Istio version (default versions.Istio).
	EnvIstioVersion = "ISTIO_VERSION"
	// EnvIstioctl names an istioctl binary to use instead of downloading one
	// (air-gapped machines). Its version must still equal ISTIO_VERSION.
	EnvIstioctl = "ISTIOCTL"
	// EnvCacheDir replaces the cache root, <user cache dir>/egress-conformance.
	// istioctl lands in $CACHE_DIR/istio/<version>/istioctl.
	EnvCacheDir = "CACHE_DIR"
	// EnvHub replaces the registry Istio's images come from (a mirror, or one
	// without pull limits): istioctl install --set hub=<ISTIO_HUB>. The images
	// there must be Istio's own, under their own names (pilot, proxyv2) and tags.
	EnvHub = "ISTIO_HUB"
)

// DefaultHub is where Istio's release images are published (the hub istioctl of a
// release installs from when none is set).
const DefaultHub = "docker.io/istio"

// Config is what the environment asks of istioctl acquisition.
type Config struct {
	// Version is the Istio version, e.g. "1.31.4" (no leading v).
	Version string
	// Istioctl, when set, is the istioctl binary to use; nothing is downloaded.
	Istioctl string
	// CacheRoot holds istio/<version>/istioctl.
	CacheRoot string
	// Hub is ISTIO_HUB; empty: istioctl's own (DefaultHub for a release).
	Hub string
}

// hubOrDefault is the hub the images come from.
func (c Config) hubOrDefault() string {
	if c.Hub != "" {
		return c.Hub
	}
	return DefaultHub
}

// Images are the images an install of c pulls: istiod's and the proxies'
// (sidecars and gateways), tagged with the version.
func (c Config) Images() []string {
	hub := c.hubOrDefault()
	return []string{hub + "/pilot:" + c.Version, hub + "/proxyv2:" + c.Version}
}

// hubPattern is a registry host with an optional port and path: no scheme, no
// tag, nothing a shell or istioctl's --set would split.
var hubPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([a-z0-9._/-]*[a-z0-9])?)*$`)

// ConfigFromEnv reads ISTIO_VERSION, ISTIOCTL and CACHE_DIR through getenv (pass
// os.Getenv). Unset values take their defaults.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Version:   getenv(EnvIstioVersion),
		Istioctl:  getenv(EnvIstioctl),
		CacheRoot: getenv(EnvCacheDir),
		Hub:       strings.TrimSuffix(getenv(EnvHub), "/"),
	}
	if c.Hub != "" && !hubPattern.MatchString(c.Hub) {
		return Config{}, fmt.Errorf("%s=%q: want a registry and path such as mirror.example.com:5000/istio (no scheme, no tag)", EnvHub, c.Hub)
	}
	if c.Version == "" {
		c.Version = versions.Istio
	}
	if err := ValidateVersion(c.Version); err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvIstioVersion, err)
	}
	if c.CacheRoot == "" {
		root, err := DefaultCacheRoot()
		if err != nil {
			return Config{}, err
		}
		c.CacheRoot = root
	}
	return c, nil
}

// DefaultCacheRoot is <user cache dir>/egress-conformance ($XDG_CACHE_HOME or
// ~/.cache on Linux, ~/Library/Caches on macOS).
func DefaultCacheRoot() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache dir (set %s): %w", EnvCacheDir, err)
	}
	return filepath.Join(dir, "egress-conformance"), nil
}

// IstioctlCachePath is where the istioctl of version is cached under root.
func IstioctlCachePath(root, version string) string {
	return filepath.Join(root, "istio", version, "istioctl")
}

// versionPattern is an Istio release version: 1.31.4, 1.32.0-rc.1. Anchored and
// without '/' or "..", so a version is safe in a path and in a URL.
var versionPattern = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$`)

// ValidateVersion accepts an Istio release version such as 1.31.4 or 1.32.0-rc.1.
func ValidateVersion(v string) error {
	if !versionPattern.MatchString(v) {
		return fmt.Errorf("%q is not an Istio release version (want e.g. %s)", v, versions.Istio)
	}
	return nil
}

// Timeouts bounds every long step of this package. A zero field takes its value
// from DefaultTimeouts.
type Timeouts struct {
	// Download bounds fetching and verifying istioctl.
	Download time.Duration
	// Install bounds one `istioctl install` run.
	Install time.Duration
	// Ready bounds WaitReady, and istioctl's own readiness wait
	// (--readiness-timeout) inside Install. Keep it below Install.
	Ready time.Duration
	// Uninstall bounds one `istioctl uninstall` run.
	Uninstall time.Duration
	// Poll is the interval between two readiness checks.
	Poll time.Duration
}

// DefaultTimeouts are generous enough for a cold kind node pulling every image.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Download:  10 * time.Minute,
		Install:   10 * time.Minute,
		Ready:     5 * time.Minute,
		Uninstall: 5 * time.Minute,
		Poll:      time.Second,
	}
}

func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts()
	if t.Download <= 0 {
		t.Download = d.Download
	}
	if t.Install <= 0 {
		t.Install = d.Install
	}
	if t.Ready <= 0 {
		t.Ready = d.Ready
	}
	if t.Uninstall <= 0 {
		t.Uninstall = d.Uninstall
	}
	if t.Poll <= 0 {
		t.Poll = d.Poll
	}
	return t
}
