package offline

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"istio.io/istio/pkg/config/analysis/analyzers"
	"istio.io/istio/pkg/config/analysis/diag"
	"istio.io/istio/pkg/config/analysis/legacy/source/kube"
	"istio.io/istio/pkg/config/analysis/local"
	"istio.io/istio/pkg/config/resource"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// analyze runs every analyzer of `istioctl analyze` over the bundle plus the simulated
// cluster (cluster: its objects as Kubernetes YAML). The bundle is read through Istio's own file reader so that messages
// carry their line. We use the test reader source, not AddReaderKubeSource: the
// latter drops Services and Pods, and 21 analyzers then skip for lack of input,
// which would let a broken gateway selector through unnoticed.
//
// Each bundle object gets a reader of its own with a name no other object shares.
// Istio's file source keeps one set of objects per reader name and replaces it
// when a name comes again (KubeSource.ApplyContent in
// pilot/pkg/config/file/store.go): one name per file would keep only the last
// object of a multi-document file. The name then leads a message straight back to
// the object it is about.
//
// No AddDefaultResources: it adds a default ingress gateway (a pod labelled
// istio=ingressgateway, pkg/config/analysis/local/defaults.go), which the
// installed world does not run (pkg/world: profile minimal), so a Gateway
// selecting it would draw no message offline and select nothing on a cluster.
// The analyzer sees exactly the simulated cluster.
func analyze(s *scenario.Scenario, b scenario.Bundle, cluster string) ([]Finding, []string, error) {
	sa := local.NewSourceAnalyzer(analyzers.AllCombined(), resource.Namespace(s.Namespace()), resource.Namespace(IstioNamespace), nil)

	readers := make([]local.ReaderSource, 0, len(b)+1)
	inserted := make([]int, len(b))
	for i, o := range b {
		doc := o.YAML
		if o.Namespace != "" {
			// An apply entry's namespace (kubectl apply -n): the analyzer
			// places a document that names none in the scenario's namespace.
			doc, inserted[i] = withNamespace(doc, o.Namespace)
		}
		readers = append(readers, local.ReaderSource{Name: readerName(i), Reader: bytes.NewReader(doc)})
	}
	readers = append(readers, local.ReaderSource{Name: simulatedCluster, Reader: strings.NewReader(cluster)})
	if err := sa.AddTestReaderKubeSource(readers); err != nil {
		return nil, nil, fmt.Errorf("loading the bundle into Istio's analyzer: %w", err)
	}
	// Analyze starts the sources' stores and the krt collections joining them,
	// which run until this channel closes (storeCache.Run and memory.Controller.Run
	// in pilot/pkg/config/aggregate and pilot/pkg/config/memory): left open, every
	// step would leave 13 goroutines and ~2.7 MB of live heap behind.
	cancel := make(chan struct{})
	defer close(cancel)
	res, err := sa.Analyze(cancel)
	if err != nil {
		return nil, nil, fmt.Errorf("running Istio's analyzers: %w", err)
	}
	var out []Finding
	for _, m := range res.Messages {
		out = append(out, finding(m, b, inserted))
	}
	return out, res.SkippedAnalyzers, nil
}

// simulatedCluster names the reader of the objects the simulated cluster holds.
const simulatedCluster = "simulated-cluster"

// readerName names the analyzer input of bundle object i.
func readerName(i int) string { return "bundle#" + strconv.Itoa(i) }

// finding places an analyzer message at the bundle object it is about, found by
// the name of the reader that brought the object in, and names that object.
func finding(m diag.Message, b scenario.Bundle, inserted []int) Finding {
	f := Finding{Origin: simulatedCluster, Level: m.Type.Level().String(), Code: m.Type.Code(), Message: fmt.Sprintf(m.Type.Template(), m.Parameters...)}
	if m.Resource == nil {
		return f
	}
	fn := m.Resource.Metadata.FullName
	f.Object = m.Resource.Metadata.Schema.Kind() + " " + fn.String()
	pos, _ := m.Resource.Origin.Reference().(*kube.Position)
	if pos == nil {
		return f
	}
	i, err := strconv.Atoi(strings.TrimPrefix(pos.Filename, "bundle#"))
	if err != nil || !strings.HasPrefix(pos.Filename, "bundle#") || i < 0 || i >= len(b) {
		f.Origin = simulatedCluster + " " + f.Object
		return f
	}
	o := b[i]
	// The reader held this one document: a message's line is a line of o.YAML.
	line := o.Line
	if m.Line > 0 {
		l := m.Line
		if n := inserted[i]; n > 0 && l >= n {
			// Below the namespace line withNamespace added (or on it:
			// then the metadata line above it).
			l--
		}
		line = o.Offset + l
	}
	f.Origin = fmt.Sprintf("%s:%d", o.File, line)
	return f
}

// topMetadata is a block-style metadata key at the top level of a document.
var topMetadata = regexp.MustCompile(`^metadata:\s*(#.*)?$`)

// withNamespace is doc with metadata.namespace set to ns when it names none,
// written as one line right below "metadata:" so that every other line keeps its
// place but shifts by one: inserted is the 1-based line added (0: doc returned
// unchanged, because it names a namespace or its metadata is not in block style).
func withNamespace(doc []byte, ns string) (out []byte, inserted int) {
	lines := strings.SplitAfter(string(doc), "\n")
	for i, l := range lines {
		if !topMetadata.MatchString(strings.TrimRight(l, "\r\n")) {
			continue
		}
		indent := ""
		for _, next := range lines[i+1:] {
			t := strings.TrimLeft(next, " ")
			if strings.TrimSpace(t) == "" || strings.HasPrefix(t, "#") {
				continue
			}
			in := next[:len(next)-len(t)]
			if in == "" {
				break // the next top-level key: metadata ends
			}
			if indent == "" {
				indent = in
			}
			if in == indent && strings.HasPrefix(t, "namespace:") {
				return doc, 0 // names its own: kept, as kubectl keeps it
			}
		}
		if indent == "" {
			return doc, 0
		}
		ins := indent + "namespace: " + ns + "\n"
		return []byte(strings.Join(lines[:i+1], "") + ins + strings.Join(lines[i+1:], "")), i + 2
	}
	return doc, 0
}
