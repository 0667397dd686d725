package offline

import (
	"bytes"
	"fmt"
	"strings"

	"istio.io/istio/pkg/config/analysis/analyzers"
	"istio.io/istio/pkg/config/analysis/diag"
	"istio.io/istio/pkg/config/analysis/local"
	"istio.io/istio/pkg/config/resource"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// analyze runs every analyzer of `istioctl analyze` over the bundle plus the simulated
// cluster. The bundle files are read through Istio's own file reader so that messages
// carry their file and line. We use the test reader source, not AddReaderKubeSource:
// the latter drops Services and Pods, and 21 analyzers then skip for lack of input
// (FACTS.md), which would let a broken gateway selector through unnoticed.
func analyze(s *scenario.Scenario, b scenario.Bundle, gateways []gatewayDeployment) ([]Finding, []string, error) {
	sa := local.NewSourceAnalyzer(analyzers.AllCombined(), resource.Namespace(s.Namespace()), resource.Namespace(IstioNamespace), nil)

	// One reader per bundle document, named by its file: a message's line is then
	// relative to the document, and the document's own line places it in the file.
	var readers []local.ReaderSource
	for _, o := range b {
		readers = append(readers, local.ReaderSource{Name: o.File, Reader: bytes.NewReader(o.YAML)})
	}
	readers = append(readers, local.ReaderSource{Name: "simulated-cluster", Reader: strings.NewReader(world(s, gateways))})
	if err := sa.AddTestReaderKubeSource(readers); err != nil {
		return nil, nil, fmt.Errorf("loading the bundle into Istio's analyzer: %w", err)
	}
	// Must come after our sources: default resources fill in only what is missing.
	if err := sa.AddDefaultResources(); err != nil {
		return nil, nil, fmt.Errorf("adding Istio's default analysis resources: %w", err)
	}
	cancel := make(chan struct{})
	res, err := sa.Analyze(cancel)
	if err != nil {
		return nil, nil, fmt.Errorf("running Istio's analyzers: %w", err)
	}
	byName := map[string]scenario.Object{}
	for _, o := range b {
		byName[objectKey(o.Kind, o.Namespace, o.Name, s.Namespace())] = o
	}
	var out []Finding
	for _, m := range res.Messages {
		out = append(out, finding(m, byName, s.Namespace()))
	}
	return out, res.SkippedAnalyzers, nil
}

// finding places an analyzer message at the bundle object it is about.
func finding(m diag.Message, byName map[string]scenario.Object, namespace string) Finding {
	origin := "simulated-cluster"
	if m.Resource != nil {
		fn := m.Resource.Metadata.FullName
		kind := m.Resource.Metadata.Schema.Kind()
		if o, ok := byName[objectKey(kind, fn.Namespace.String(), fn.Name.String(), namespace)]; ok {
			line := o.Line
			if m.Line > 0 {
				line += m.Line - 1
			}
			origin = fmt.Sprintf("%s:%d", o.File, line)
		} else {
			origin = fmt.Sprintf("simulated-cluster %s %s", kind, m.Resource.Metadata.FullName)
		}
	}
	return Finding{Origin: origin, Level: m.Type.Level().String(), Code: m.Type.Code(), Message: fmt.Sprintf(m.Type.Template(), m.Parameters...)}
}

// objectKey identifies an object by kind, namespace and name, an empty namespace
// standing for the scenario's own.
func objectKey(kind, ns, name, defaultNamespace string) string {
	if ns == "" {
		ns = defaultNamespace
	}
	return kind + "/" + ns + "/" + name
}
