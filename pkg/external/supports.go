package external

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Supports reports whether the default stand-in (DefaultHosts, serving HTTP and
// HTTPS) can stand in faithfully for the external hosts of scenario s. When it
// cannot, reason says why (the suite skips the scenario with it). When it can only
// if the harness does its part, ok is true and reason lists those conditions; it is
// "" when nothing is needed.
//
// What the stand-in serves, and why:
//
//   - plain HTTP to one of its hosts on port 80, direct or through the egress
//     gateway: yes, with the same origin chain shape as httpbin.org (direct: one
//     hop; through the gateway: two, the client pod first). The one hop of a direct
//     request is the client pod's address instead of the node's public address; no
//     expectation can tell them apart except `first: client`, which the internet run
//     would refuse on a direct step anyway.
//   - HTTPS from the client (TLS passthrough through sidecar and gateway): yes, if the
//     probe runs curl with Standin.CurlTrustArgs (the stand-in's key pinned; its
//     certificate is the run's CA's, which curl's system store does not trust, so a
//     plain curl exits 60). The proxies never look inside the TLS, so the route,
//     SNI, log lines and the one-hop origin are what the internet run sees.
//   - TLS origination (`tls.mode: SIMPLE` in a DestinationRule for one of its hosts):
//     yes, through AdaptDestinationRule and Standin.CAConfigMap (the proxies verify
//     the stand-in against the run's CA); with insecureSkipVerify as is. Not when the
//     rule names its own caCertificates or credentialName (not the run's CA), nor
//     MUTUAL (the stand-in does not check client certificates).
//   - hosts it does not impersonate, ports other than 80 and 443, other schemes,
//     ServiceEntry endpoints that send its hosts elsewhere: no.
func Supports(s *scenario.Scenario) (ok bool, reason string) {
	return supports(Config{}.WithDefaults(), true, s)
}

// Supports is the package-level Supports for this stand-in's hosts and TLS.
func (st *Standin) Supports(s *scenario.Scenario) (ok bool, reason string) {
	return supports(st.Config, st.TLS(), s)
}

// Conditions Supports reports on a supported scenario.
const (
	NeedsCurlTrust = "the probe must pass Standin.CurlTrustArgs to curl for HTTPS requests"
	NeedsCAAdapt   = "TLS-originating DestinationRules must be applied through Standin.AdaptDestinationRule, with Standin.CAConfigMap in their namespace"
)

func supports(c Config, tls bool, s *scenario.Scenario) (bool, string) {
	if s == nil {
		return false, "no scenario"
	}
	var notes []string
	note := func(n string) {
		if !slices.Contains(notes, n) {
			notes = append(notes, n)
		}
	}
	for _, st := range s.Steps {
		where := "step " + st.Name
		if why, need := requestSupported(c, tls, st.Request.URL); why != "" {
			return false, where + ": " + why
		} else if need {
			note(NeedsCurlTrust)
		}
		for _, o := range st.Bundle {
			why, need := objectSupported(c, tls, o)
			if why != "" {
				return false, fmt.Sprintf("%s: %s %s (%s:%d): %s", where, o.Kind, o.Name, o.File, o.Line, why)
			}
			if need {
				note(NeedsCAAdapt)
			}
		}
	}
	return true, strings.Join(notes, "; ")
}

// requestSupported checks a step's URL; needTrust is set for HTTPS.
func requestSupported(c Config, tls bool, raw string) (why string, needTrust bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("request URL %q: %v", raw, err), false
	}
	host := strings.ToLower(u.Hostname())
	if !c.Serves(host) {
		return fmt.Sprintf("the stand-in does not impersonate %q (it serves %s)", host, strings.Join(c.Hosts, ", ")), false
	}
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
	default:
		return fmt.Sprintf("scheme %q: the stand-in serves http and https only", u.Scheme), false
	}
	if port != "80" && port != "443" {
		return fmt.Sprintf("port %s: the stand-in listens on 80 and 443 only", port), false
	}
	if u.Scheme == "https" {
		if !tls {
			return "HTTPS request, but the stand-in serves no TLS (no CA)", false
		}
		return "", true
	}
	// Plain HTTP to 443 meets a TLS port, on httpbin.org as on the stand-in.
	return "", false
}

// objectSupported checks one bundle object; needCA is set for a DestinationRule that
// AdaptDestinationRule must adapt.
func objectSupported(c Config, tls bool, o scenario.Object) (why string, needCA bool) {
	switch o.Kind {
	case "DestinationRule", "ServiceEntry":
	default:
		return "", false
	}
	var obj map[string]any
	if err := yaml.Unmarshal(o.YAML, &obj); err != nil {
		return err.Error(), false
	}
	spec, _ := obj["spec"].(map[string]any)
	if o.Kind == "ServiceEntry" {
		return serviceEntrySupported(c, spec), false
	}
	host, _ := spec["host"].(string)
	if !c.Serves(host) {
		return "", false
	}
	for _, ts := range tlsSettings(obj) {
		need, err := needsCA(ts.settings)
		if err != nil {
			return ts.path + ": " + err.Error(), false
		}
		if need && !tls {
			return ts.path + ": TLS origination, but the stand-in serves no TLS (no CA)", false
		}
		needCA = needCA || need
	}
	return "", needCA
}

// serviceEntrySupported refuses a ServiceEntry that sends one of the stand-in's hosts
// to explicit endpoints other than the stand-in's hosts.
func serviceEntrySupported(c Config, spec map[string]any) string {
	hosts, _ := spec["hosts"].([]any)
	served := false
	for _, h := range hosts {
		if hs, _ := h.(string); c.Serves(hs) {
			served = true
		}
	}
	if !served {
		return ""
	}
	eps, _ := spec["endpoints"].([]any)
	for _, e := range eps {
		em, _ := e.(map[string]any)
		addr, _ := em["address"].(string)
		if addr != "" && !c.Serves(addr) {
			return fmt.Sprintf("endpoint %q is not the stand-in (CoreDNS only rewrites the stand-in's host names)", addr)
		}
	}
	return ""
}
