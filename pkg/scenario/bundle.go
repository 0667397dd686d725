package scenario

import "k8s.io/apimachinery/pkg/runtime"

// Object is one YAML document of a bundle file, decoded strictly into its typed
// form (istio.io/client-go, Gateway API or core Kubernetes).
type Object struct {
	// File is the bundle file's path relative to the scenario directory; Line is the
	// first line of this document in it.
	File string
	Line int

	APIVersion string
	Kind       string
	Name       string
	// Namespace is empty when the document names none: the harness then applies it
	// in the scenario's own namespace.
	Namespace string

	// Typed is the decoded object, e.g. *networkingv1alpha3.ServiceEntry.
	Typed runtime.Object
	// YAML is the document exactly as written in File, from Line on: comments and
	// blank lines before its content are left out, so that line k of YAML is line
	// Line+k-1 of File (Istio's analyzers number their messages' lines in YAML).
	YAML []byte
}

// Bundle is the set of objects applied so far, in apply order.
type Bundle []Object
