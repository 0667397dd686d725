package scenario

import "k8s.io/apimachinery/pkg/runtime"

// Object is one YAML document of a bundle file, decoded strictly into its typed
// form (istio.io/client-go, Gateway API or core Kubernetes).
type Object struct {
	// File is the bundle file's path relative to the scenario directory; Line is the
	// line of this document's content in it (after any leading comments).
	File string
	Line int
	// Offset is the number of lines of File before YAML: line n of YAML is line
	// Offset+n of File. Tools that read YAML on its own (Istio's analyzer) report
	// lines of YAML; Offset places them in the file.
	Offset int

	APIVersion string
	Kind       string
	Name       string
	// Namespace is empty when the document names none: the harness then applies it
	// in the scenario's own namespace.
	Namespace string

	// Typed is the decoded object, e.g. *networkingv1alpha3.ServiceEntry.
	Typed runtime.Object
	// YAML is the document exactly as written in File, leading comments included
	// (Offset places its lines in File).
	YAML []byte
	// Template is the document as written when it references a variable
	// (Scenario.Variables): YAML and Typed then hold it with the offline
	// tier's stand-in values, and Object.WithValues substitutes the run's.
	// nil for a document without references.
	Template []byte
	// Variables are the names of the scenario's variables Template references,
	// sorted.
	Variables []string
}

// Bundle is the set of objects applied so far, in apply order.
type Bundle []Object
