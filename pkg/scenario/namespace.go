package scenario

// NamespacePrefix starts the name of every namespace the harness creates for a
// scenario, so that an operator can tell them apart at a glance; the run label
// (egress-conformance.io/run) is what clean-up trusts, never the name.
const NamespacePrefix = "egress-"

// Namespace is the namespace a scenario's client and namespaced bundle objects
// live in, in both tiers: "egress-<name>". Scenario names are DNS-1123 labels of at
// most MaxNameLength characters (validate.go), so the result is always a valid namespace name.
func (s *Scenario) Namespace() string { return NamespacePrefix + s.Name }
