package integration_test

import (
	"fmt"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/egress-conformance/egress-conformance/pkg/deploy"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// minimalSpecs is, per kind, the smallest body the API server accepts (everything
// after apiVersion/kind/metadata). Every kind the scenario contract accepts
// (scenario.SupportedKinds) must have one.
var minimalSpecs = map[string]string{
	"ServiceEntry":          "spec:\n  hosts: [av.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n",
	"Gateway/istio":         "spec:\n  selector: {istio: egressgateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n",
	"VirtualService":        "spec:\n  hosts: [av.example.com]\n  http: [{route: [{destination: {host: av.example.com}}]}]\n",
	"DestinationRule":       "spec:\n  host: av.example.com\n",
	"Sidecar":               "spec:\n  workloadSelector: {labels: {app: apiversions}}\n  egress: [{hosts: ['./*']}]\n",
	"WorkloadEntry":         "spec:\n  address: 10.1.2.3\n",
	"AuthorizationPolicy":   "spec:\n  selector: {matchLabels: {app: apiversions}}\n  action: ALLOW\n  rules: [{}]\n",
	"PeerAuthentication":    "spec:\n  selector: {matchLabels: {app: apiversions}}\n  mtls: {mode: PERMISSIVE}\n",
	"RequestAuthentication": "spec:\n  selector: {matchLabels: {app: apiversions}}\n  jwtRules: [{issuer: 'https://issuer.example.com'}]\n",
	"Gateway/gateway":       "spec:\n  gatewayClassName: istio\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n",
	"HTTPRoute":             "spec:\n  parentRefs: [{name: av}]\n  rules: [{backendRefs: [{name: av, port: 80}]}]\n",
	"GRPCRoute":             "spec:\n  parentRefs: [{name: av}]\n  rules: [{backendRefs: [{name: av, port: 80}]}]\n",
	"TCPRoute":              "spec:\n  parentRefs: [{name: av}]\n  rules: [{backendRefs: [{name: av, port: 80}]}]\n",
	"TLSRoute":              "spec:\n  parentRefs: [{name: av}]\n  hostnames: [av.example.com]\n  rules: [{backendRefs: [{name: av, port: 443}]}]\n",
	"ReferenceGrant":        "spec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: elsewhere}]\n  to: [{group: '', kind: Service}]\n",
	"BackendTLSPolicy":      "spec:\n  targetRefs: [{group: '', kind: Service, name: av}]\n  validation: {hostname: av.example.com, wellKnownCACertificates: System}\n",
	"ConfigMap":             "data: {a: b}\n",
	"Secret":                "data: {a: Yg==}\n",
	"Service":               "spec:\n  selector: {app: apiversions}\n  ports: [{port: 80}]\n",
	"ServiceAccount":        "",
	"Namespace":             "",
	"Endpoints":             "subsets: [{addresses: [{ip: 192.0.2.1}], ports: [{port: 80}]}]\n",
	"EndpointSlice":         "addressType: IPv4\nendpoints: [{addresses: [192.0.2.1]}]\nports: [{port: 80}]\n",
	"NetworkPolicy":         "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n",
	"Role":                  "rules: [{apiGroups: [''], resources: [secrets], verbs: [get]}]\n",
	"RoleBinding":           "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: role-v1}\nsubjects: [{kind: ServiceAccount, name: default}]\n",
	"EnvoyFilter":           "spec:\n  configPatches: []\n",
	"Deployment": "spec:\n  selector: {matchLabels: {app: apiversions}}\n  template:\n    metadata: {labels: {app: apiversions}}\n" +
		"    spec: {containers: [{name: c, image: example.invalid/none:1}]}\n",
}

func apiVersionSpecs() {
	Describe("every apiVersion the scenario contract accepts", func() {
		It("is served by the pinned CRDs of the channel ChannelFor picks, and applied by ApplyBundle", func(ctx SpecContext) {
			s := everySupportedKind()
			Expect(deploy.EnsureNamespace(ctx, it.c, s.Namespace(), it.runID, true)).To(Succeed())
			var notServed []string
			for i, st := range s.Steps {
				err := deploy.ApplyBundle(ctx, it.c, s, i, it.runID)
				if err != nil && strings.Contains(err.Error(), "the API server serves no kind") {
					notServed = append(notServed, st.Name)
					continue
				}
				Expect(err).NotTo(HaveOccurred(), st.Name)
			}
			fmt.Fprintf(GinkgoWriter, "applied %d of %d apiVersion/kinds; not served by the installed CRDs: %v\n",
				len(s.Steps)-len(notServed), len(s.Steps), notServed)
			// Every version the contract accepts must be served by the channel
			// deploy.ChannelFor picks, or a scenario could pass offline and fail here.
			Expect(notServed).To(BeEmpty())
		})
	})
}

// everySupportedKind is a scenario with one step per apiVersion/kind the scenario
// contract accepts (scenario.SupportedKinds), each adding a minimal object.
func everySupportedKind() *scenario.Scenario {
	s := &scenario.Scenario{Name: "it-apiversions"}
	var bundle scenario.Bundle
	for i, ak := range scenario.SupportedKinds() {
		apiVersion, kind, _ := strings.Cut(ak, " ")
		key := kind
		if kind == "Gateway" && strings.Contains(apiVersion, "istio.io") {
			key = "Gateway/istio"
		} else if kind == "Gateway" {
			key = "Gateway/gateway"
		}
		body, ok := minimalSpecs[key]
		Expect(ok).To(BeTrue(), "no minimal object for %s in apiversions_test.go: add one", ak)
		version := apiVersion[strings.LastIndex(apiVersion, "/")+1:]
		name := strings.ToLower(kind) + "-" + version
		if kind == "Namespace" {
			name = "egress-it-apiversions-made-by-bundle"
		}
		doc := fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata:\n  name: %s\n%s", apiVersion, kind, name, body)
		bundle = append(bundle, scenario.Object{File: "generated.yaml", Line: i + 1, APIVersion: apiVersion,
			Kind: kind, Name: name, YAML: []byte(doc)})
		s.Steps = append(s.Steps, scenario.Step{Name: ak, Bundle: slices.Clone(bundle)})
	}
	return s
}
