package external

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// The CoreDNS edit. Hermetic mode keeps scenario files identical by making the
// external host names resolve to the stand-in: one CoreDNS `rewrite` rule per host in
// the root server block of the Corefile (ConfigMap kube-system/coredns), between two
// marker comments:
//
//	.:53 {
//	    # egress-conformance hermetic hosts: begin (pkg/external; removed on clean-up)
//	    rewrite name exact httpbin.org egress-standin.egress-conformance-external.svc.cluster.local
//	    # egress-conformance hermetic hosts: end
//	    errors
//	    ...
//
// Why `rewrite name exact`: the kubernetes plugin then answers the rewritten name
// with the stand-in Service's ClusterIP, and for `exact` rules CoreDNS rewrites the
// answer's name back to the question's (coredns plugin/rewrite README, "Response
// Rewrites"), so the client sees an ordinary A record for httpbin.org. Unlike a
// `hosts` block it needs no IP (it survives the Service being recreated) and it
// cannot clash with a `hosts` directive already there (one per server block).
// rewrite runs before kubernetes and forward whatever the Corefile's order (CoreDNS
// orders plugins by plugin.cfg), so the first lines are as good as any; cache runs
// before rewrite, so an answer for a host cached before the edit (NXDOMAIN offline,
// the real address online) is served until its TTL runs out.
//
// The edit is pure text between markers: UnpatchCorefile removes exactly the lines
// PatchCorefile added, so the restore is byte-identical and does not undo a change
// somebody else made elsewhere in the Corefile meanwhile (restoring a saved copy
// would). CoreDNS's `reload` plugin (present in kubeadm's and so kind's default
// Corefile; required here) picks the change up once the kubelet has refreshed the
// ConfigMap volume: up to about a minute for the volume plus the reload interval
// (30 s + up to 15 s jitter), and answers cached before the edit live on for up to
// the cache TTL (30 s in kubeadm's Corefile). Hence WaitResolvable.

const (
	corefileBegin = "# egress-conformance hermetic hosts: begin (pkg/external; removed on clean-up)"
	corefileEnd   = "# egress-conformance hermetic hosts: end"
	// defaultIndent is used when the root server block has no line to copy it from.
	defaultIndent = "    "
)

// ErrCorefile is wrapped by every error about a Corefile that cannot be patched.
var ErrCorefile = errors.New("Corefile cannot be patched")

// PatchCorefile returns corefile with one `rewrite name exact <host> <target>` line
// per host at the top of the root ("." zone) server block, between marker comments.
// A block left by an earlier patch is replaced, so patching is idempotent:
// PatchCorefile(PatchCorefile(c, h, t), h, t) == PatchCorefile(c, h, t), and
// UnpatchCorefile(PatchCorefile(c, h, t)) == UnpatchCorefile(c).
//
// It refuses a Corefile whose root block lacks `reload` (the edit would never be
// loaded) or `kubernetes` (nothing would answer the rewritten name).
func PatchCorefile(corefile string, hosts []string, target string) (string, error) {
	if len(hosts) == 0 {
		return "", fmt.Errorf("%w: no host names to rewrite", ErrCorefile)
	}
	for _, h := range hosts {
		if err := checkHost(h); err != nil {
			return "", err
		}
	}
	if msgs := validation.IsDNS1123Subdomain(target); len(msgs) > 0 {
		return "", fmt.Errorf("external: rewrite target %q: %s", target, strings.Join(msgs, "; "))
	}
	base, err := UnpatchCorefile(corefile)
	if err != nil {
		return "", err
	}
	lines := strings.SplitAfter(base, "\n")
	header, end, err := rootBlock(lines)
	if err != nil {
		return "", err
	}
	// The block's own directives (depth 1, not inside a plugin's block): their
	// indentation is copied, and reload and kubernetes must be among them.
	indent, indentSeen := defaultIndent, false
	var hasReload, hasKubernetes bool
	depth := 0
	for _, l := range lines[header+1 : end] {
		t := stripComment(l)
		if t != "" && depth == 0 {
			if ws := l[:len(l)-len(strings.TrimLeft(l, " \t"))]; !indentSeen && ws != "" {
				indent, indentSeen = ws, true
			}
			switch directive(t) {
			case "reload":
				hasReload = true
			case "kubernetes":
				hasKubernetes = true
			}
		}
		depth += strings.Count(t, "{") - strings.Count(t, "}")
	}
	if !hasReload {
		return "", fmt.Errorf("%w: its root server block has no `reload` directive, so CoreDNS would never load the edit", ErrCorefile)
	}
	if !hasKubernetes {
		return "", fmt.Errorf("%w: its root server block has no `kubernetes` directive to answer %s", ErrCorefile, target)
	}
	block := []string{indent + corefileBegin + "\n"}
	for _, h := range hosts {
		block = append(block, fmt.Sprintf("%srewrite name exact %s %s\n", indent, h, target))
	}
	block = append(block, indent+corefileEnd+"\n")

	headerLine := lines[header]
	if !strings.HasSuffix(headerLine, "\n") {
		return "", fmt.Errorf("%w: the root server block's opening line is the last line", ErrCorefile)
	}
	out := make([]string, 0, len(lines)+len(block))
	out = append(out, lines[:header+1]...)
	out = append(out, block...)
	out = append(out, lines[header+1:]...)
	return strings.Join(out, ""), nil
}

// UnpatchCorefile removes the marked block(s) PatchCorefile added, and nothing else;
// a Corefile without one is returned unchanged. A begin marker without its end marker
// is an error (the Corefile was edited by hand and needs a human).
func UnpatchCorefile(corefile string) (string, error) {
	lines := strings.SplitAfter(corefile, "\n")
	out := make([]string, 0, len(lines))
	inside := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case t == corefileBegin:
			if inside {
				return "", fmt.Errorf("%w: line %d: a second %q before %q", ErrCorefile, i+1, corefileBegin, corefileEnd)
			}
			inside = true
		case t == corefileEnd:
			if !inside {
				return "", fmt.Errorf("%w: line %d: %q without %q", ErrCorefile, i+1, corefileEnd, corefileBegin)
			}
			inside = false
		case !inside:
			out = append(out, l)
		}
	}
	if inside {
		return "", fmt.Errorf("%w: %q without %q", ErrCorefile, corefileBegin, corefileEnd)
	}
	return strings.Join(out, ""), nil
}

// CorefilePatched reports whether corefile holds the marked block.
func CorefilePatched(corefile string) bool {
	for _, l := range strings.Split(corefile, "\n") {
		if strings.TrimSpace(l) == corefileBegin {
			return true
		}
	}
	return false
}

// rootBlock finds the server block serving the root zone: the line that opens it
// (e.g. ".:53 {") and the index of the line that closes it.
func rootBlock(lines []string) (header, end int, err error) {
	header = -1
	depth := 0
	for i, l := range lines {
		t := stripComment(l)
		if header < 0 && depth == 0 && strings.HasSuffix(t, "{") && servesRoot(strings.TrimSuffix(t, "{")) {
			header = i
		}
		depth += strings.Count(t, "{") - strings.Count(t, "}")
		if depth < 0 {
			return 0, 0, fmt.Errorf("%w: line %d: unbalanced '}'", ErrCorefile, i+1)
		}
		if header >= 0 && i > header && depth == 0 {
			return header, i, nil
		}
	}
	if header < 0 {
		return 0, 0, fmt.Errorf("%w: no server block for the root zone (a line such as \".:53 {\")", ErrCorefile)
	}
	return 0, 0, fmt.Errorf("%w: the root server block opened on line %d is never closed", ErrCorefile, header+1)
}

// servesRoot reports whether a server block's keys ("." ".:53" "dns://.:53", several
// separated by spaces or commas) include the root zone.
func servesRoot(keys string) bool {
	for _, k := range strings.FieldsFunc(keys, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' }) {
		k = strings.TrimPrefix(k, "dns://")
		if k == "." || strings.HasPrefix(k, ".:") {
			return true
		}
	}
	return false
}

func stripComment(l string) string {
	if i := strings.Index(l, "#"); i >= 0 {
		l = l[:i]
	}
	return strings.TrimSpace(l)
}

func directive(t string) string {
	if f := strings.Fields(t); len(f) > 0 {
		return strings.TrimSuffix(f[0], "{")
	}
	return ""
}
