package external

import (
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// TLS origination in hermetic mode. A DestinationRule that originates TLS to an
// external host (`tls.mode: SIMPLE`) and names no CA makes the proxy verify the
// server against its system roots (Istio's VERIFY_CERTIFICATE_AT_CLIENT default),
// which trust httpbin.org's public certificate but never the run's CA. So that such a
// scenario stays identical on disk, the harness adapts the applied object, not the
// file: AdaptDestinationRule sets
//
//	credentialName: configmap://<the rule's namespace>/egress-conformance-external-ca
//
// and the harness creates that ConfigMap (Standin.CAConfigMap) in the rule's
// namespace. Why `configmap://` and not a Secret: Istio ignores a Secret
// credentialName on sidecars unless the DestinationRule has a workloadSelector (it
// then sends no TLS at all), but serves a `configmap://` CA to sidecars and gateways
// alike; its namespace must be the rule's own (istio release-1.31:
// pilot/pkg/networking/core/cluster_tls.go buildUpstreamClusterTLSContext,
// pkg/config/validation/agent/validation.go ValidateTLS,
// pilot/pkg/credentials/kube/secrets.go GetConfigMapCaCert, key "ca.crt" or
// "cacert"). Not verified against Istio 1.30 or older.
//
// A rule that already says how to verify (caCertificates, credentialName) or not to
// (insecureSkipVerify: true) is left alone; Supports refuses the first two, since the
// CA they name is not the run's. MUTUAL (client certificates) is not supported: the
// stand-in does not verify client certificates.

// ErrUnsupportedTLS is returned for TLS settings the stand-in cannot honour.
var ErrUnsupportedTLS = errors.New("TLS origination the stand-in cannot serve")

// CACredentialName is the credentialName AdaptDestinationRule writes for namespace ns.
func CACredentialName(ns string) string { return "configmap://" + ns + "/" + CAConfigMapName }

// AdaptDestinationRule returns doc (one YAML document) with every SIMPLE TLS setting
// of a DestinationRule for one of the stand-in's hosts made to trust the run's CA
// (see above); namespace is where the rule is applied when its metadata names none.
// Any other document, or a rule that needs no change, comes back byte for byte.
// caNamespace is the namespace that then needs Standin.CAConfigMap ("" when
// unchanged).
func (s *Standin) AdaptDestinationRule(doc []byte, namespace string) (out []byte, caNamespace string, err error) {
	var obj map[string]any
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		return nil, "", fmt.Errorf("external: %w", err)
	}
	if kind, _ := obj["kind"].(string); kind != "DestinationRule" {
		return doc, "", nil
	}
	spec, _ := obj["spec"].(map[string]any)
	host, _ := spec["host"].(string)
	if !s.Config.Serves(host) {
		return doc, "", nil
	}
	meta, _ := obj["metadata"].(map[string]any)
	if ns, _ := meta["namespace"].(string); ns != "" {
		namespace = ns
	}
	name, _ := meta["name"].(string)
	changed := false
	for _, ts := range tlsSettings(obj) {
		need, err := needsCA(ts.settings)
		if err != nil {
			return nil, "", fmt.Errorf("external: DestinationRule %s %s: %w", name, ts.path, err)
		}
		if !need {
			continue
		}
		if !s.TLS() {
			return nil, "", fmt.Errorf("external: DestinationRule %s %s originates TLS but the stand-in serves no TLS (no CA)", name, ts.path)
		}
		if namespace == "" {
			return nil, "", fmt.Errorf("external: DestinationRule %s: no namespace to put the CA in", name)
		}
		ts.settings["credentialName"] = CACredentialName(namespace)
		changed = true
	}
	if !changed {
		return doc, "", nil
	}
	out, err = yaml.Marshal(obj)
	if err != nil {
		return nil, "", fmt.Errorf("external: DestinationRule %s: %w", name, err)
	}
	return out, namespace, nil
}

// needsCA reports whether TLS settings would verify the stand-in against the proxy's
// system roots; an error for settings the stand-in cannot serve.
func needsCA(tls map[string]any) (bool, error) {
	mode, _ := tls["mode"].(string)
	switch strings.ToUpper(mode) {
	case "", "DISABLE", "ISTIO_MUTUAL":
		return false, nil
	case "MUTUAL":
		return false, fmt.Errorf("%w: mode MUTUAL (the stand-in does not verify client certificates)", ErrUnsupportedTLS)
	case "SIMPLE":
	default:
		return false, fmt.Errorf("%w: unknown mode %q", ErrUnsupportedTLS, mode)
	}
	if skip, _ := tls["insecureSkipVerify"].(bool); skip {
		return false, nil
	}
	if ca, _ := tls["caCertificates"].(string); ca != "" {
		return false, fmt.Errorf("%w: caCertificates %q names a file in the proxy, which holds a real CA, not the run's", ErrUnsupportedTLS, ca)
	}
	if cn, _ := tls["credentialName"].(string); cn != "" {
		if strings.HasPrefix(cn, "configmap://") && strings.HasSuffix(cn, "/"+CAConfigMapName) {
			return false, nil // already adapted
		}
		return false, fmt.Errorf("%w: credentialName %q names credentials that are not the run's CA", ErrUnsupportedTLS, cn)
	}
	return true, nil
}

type tlsAt struct {
	path     string
	settings map[string]any
}

// tlsSettings finds every ClientTLSSettings map of a DestinationRule: spec.trafficPolicy
// and each subset's trafficPolicy, each with its portLevelSettings.
func tlsSettings(obj map[string]any) []tlsAt {
	var out []tlsAt
	spec, _ := obj["spec"].(map[string]any)
	policy := func(prefix string, tp map[string]any) {
		if tp == nil {
			return
		}
		if tls, ok := tp["tls"].(map[string]any); ok {
			out = append(out, tlsAt{prefix + ".tls", tls})
		}
		pls, _ := tp["portLevelSettings"].([]any)
		for i, p := range pls {
			pm, _ := p.(map[string]any)
			if tls, ok := pm["tls"].(map[string]any); ok {
				out = append(out, tlsAt{fmt.Sprintf("%s.portLevelSettings[%d].tls", prefix, i), tls})
			}
		}
	}
	tp, _ := spec["trafficPolicy"].(map[string]any)
	policy("spec.trafficPolicy", tp)
	subsets, _ := spec["subsets"].([]any)
	for i, s := range subsets {
		sm, _ := s.(map[string]any)
		tp, _ := sm["trafficPolicy"].(map[string]any)
		policy(fmt.Sprintf("spec.subsets[%d].trafficPolicy", i), tp)
	}
	return out
}
