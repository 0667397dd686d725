package offline

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"istio.io/api/annotation"
	"istio.io/istio/pkg/kube/inject"
)

// bypassesSidecar tells whether the client's pod annotations keep a connection
// to address:port away from its sidecar, and which annotation does. Istio's
// injector hands them to istio-iptables as OUTBOUND_PORTS_EXCLUDE and
// OUTBOUND_IP_RANGES_EXCLUDE, and istio-iptables RETURNs such connections in its
// ISTIO_OUTPUT chain before the redirect to Envoy (istio.io/istio
// tools/istio-iptables/pkg/capture/run.go: "Apply port based exclusions", and the
// ipv4RangesExclude rules): the application's connection goes straight out, and
// no proxy Istio configures ever sees it. The values are checked with the
// injector's own validators (pkg/kube/inject/validate.go) and split on commas, as
// istio-iptables splits them (tools/common/config Split; that package is not
// linked here: it pulls in netlink).
func bypassesSidecar(annotations map[string]string, address string, port int) (string, error) {
	for _, key := range []string{annotation.SidecarTrafficExcludeOutboundPorts.Name, annotation.SidecarTrafficExcludeOutboundIPRanges.Name} {
		v, ok := annotations[key]
		if !ok {
			continue
		}
		if validate := inject.AnnotationValidation[key]; validate != nil {
			if err := validate(v); err != nil {
				return "", fmt.Errorf("annotation %s: %w", key, err)
			}
		}
	}
	if v := annotations[annotation.SidecarTrafficExcludeOutboundPorts.Name]; v != "" {
		if slices.Contains(split(v), strconv.Itoa(port)) {
			return fmt.Sprintf("%s: %q excludes port %d", annotation.SidecarTrafficExcludeOutboundPorts.Name, v, port), nil
		}
	}
	if v := annotations[annotation.SidecarTrafficExcludeOutboundIPRanges.Name]; v != "" {
		addr, err := netip.ParseAddr(address)
		if err != nil {
			return "", fmt.Errorf("destination address %q: %w", address, err)
		}
		for _, cidr := range split(v) {
			p, err := netip.ParsePrefix(cidr)
			if err != nil {
				return "", fmt.Errorf("annotation %s: %w", annotation.SidecarTrafficExcludeOutboundIPRanges.Name, err)
			}
			if p.Contains(addr) {
				return fmt.Sprintf("%s: %q holds %s", annotation.SidecarTrafficExcludeOutboundIPRanges.Name, v, address), nil
			}
		}
	}
	return "", nil
}

// split is istio-iptables' list split: commas, empty items dropped, spaces kept
// (the injector's validators refuse them).
func split(v string) []string {
	return slices.DeleteFunc(strings.Split(v, ","), func(s string) bool { return s == "" })
}
