package external

import (
	"fmt"
	"strings"
)

// Mode says where the scenarios' external hosts live.
type Mode string

const (
	// ModeInternet: the real hosts on the internet (the default).
	ModeInternet Mode = "internet"
	// ModeCluster: the in-cluster stand-in (hermetic mode).
	ModeCluster Mode = "cluster"
)

// Environment variables read by [OptionsFromEnv].
const (
	// EnvMode selects the Mode: EXTERNAL=internet|cluster.
	EnvMode = "EXTERNAL"
	// EnvAllowExistingCluster=1 lets hermetic mode patch CoreDNS of a cluster the
	// harness did not create (KUBE_CONTEXT mode).
	EnvAllowExistingCluster = "EXTERNAL_ALLOW_EXISTING_CLUSTER"
)

// ParseMode reads a Mode; "" means ModeInternet. Case and surrounding spaces are ignored.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeInternet, nil
	case ModeInternet, ModeCluster:
		return m, nil
	default:
		return "", fmt.Errorf("%s=%q: want %q or %q", EnvMode, s, ModeInternet, ModeCluster)
	}
}

// Hermetic reports whether m is the in-cluster stand-in.
func (m Mode) Hermetic() bool { return m == ModeCluster }

// EnvOptions is what the environment says about external hosts.
type EnvOptions struct {
	Mode Mode
	// AllowExistingCluster: EXTERNAL_ALLOW_EXISTING_CLUSTER=1.
	AllowExistingCluster bool
}

// OptionsFromEnv reads EXTERNAL and EXTERNAL_ALLOW_EXISTING_CLUSTER with getenv
// (os.Getenv in production). Booleans accept 1/true/yes, 0/false/no or empty.
func OptionsFromEnv(getenv func(string) string) (EnvOptions, error) {
	m, err := ParseMode(getenv(EnvMode))
	if err != nil {
		return EnvOptions{}, err
	}
	allow, err := parseBool(EnvAllowExistingCluster, getenv(EnvAllowExistingCluster))
	if err != nil {
		return EnvOptions{}, err
	}
	return EnvOptions{Mode: m, AllowExistingCluster: allow}, nil
}

func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q: want 1/true/yes or 0/false/no", name, v)
}
