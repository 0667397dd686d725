package scenario

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Run-time values (Scenario.Variables). istio.io's http-proxy task writes its
// ServiceEntry with `addresses: [$PROXY_IP/32]` and `number: $PROXY_PORT`, which
// the shell fills in from the squid pod's IP before kubectl sees the YAML. A
// scenario says the same: the bundle file keeps $PROXY_IP exactly as the page
// writes it, and a variable says where the value comes from. The substitution
// is textual and happens before strict decoding, as the shell's does, so a
// value may stand where YAML wants a number.
//
// Each tier substitutes its own value: the offline tier a deterministic
// stand-in (StandinPodIP: the pod IP the simulated cluster gives the
// workload), at load time, so that Istio's validation and simulation see a
// complete object; the cluster tier the pod's real IP once the pod is Ready,
// before it applies anything (Scenario.WithPodIPs). Object.Template keeps the
// document as written, so the second substitution starts from it.

// varRef is a shell parameter reference: $NAME or ${NAME}. Only declared names
// are substituted; any other $ stays as written (a shell would make an unset
// name empty, but a bundle may hold a $ that is no reference at all: a regex in
// an EnvoyFilter's Lua, say).
var varRef = regexp.MustCompile(`\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)

// varName is a shell variable name.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// StandinPodIP is the pod IP the offline tier gives workload i (0-based) of a
// scenario, and so the value a podIP variable has offline: in the simulated
// cluster's pod range (10.244.0.0/16), in a /24 no other simulated pod uses
// (pkg/offline: 10.244.0-3.x), so that it never collides with one.
func StandinPodIP(i int) string { return fmt.Sprintf("10.244.9.%d", 10+i) }

// substitute replaces every reference to a name in values; used collects the
// names it replaced.
func substitute(text []byte, values map[string]string, used map[string]bool) []byte {
	if len(values) == 0 {
		return text
	}
	return varRef.ReplaceAllFunc(text, func(m []byte) []byte {
		sub := varRef.FindSubmatch(m)
		name := string(sub[1])
		if name == "" {
			name = string(sub[2])
		}
		v, ok := values[name]
		if !ok {
			return m
		}
		if used != nil {
			used[name] = true
		}
		return []byte(v)
	})
}

// substituteRequest substitutes values into every field of r that curl gets.
func substituteRequest(r Request, values map[string]string, used map[string]bool) Request {
	sub := func(s string) string { return string(substitute([]byte(s), values, used)) }
	r.URL, r.Proxy = sub(r.URL), sub(r.Proxy)
	r.Headers = slices.Clone(r.Headers)
	for i := range r.Headers {
		r.Headers[i] = sub(r.Headers[i])
	}
	r.Resolve = slices.Clone(r.Resolve)
	for i := range r.Resolve {
		r.Resolve[i] = sub(r.Resolve[i])
	}
	return r
}

// workloadsAndVariables checks workloads and variables and returns the offline
// stand-in value of every valid variable.
func workloadsAndVariables(s *Scenario, d *fieldDecoder, opts Options, p *problems) map[string]string {
	v := &validator{s: s, d: d, p: p}
	names := map[string]string{}
	clientNS := map[string]ClientRef{}
	for _, c := range s.ClientRefs() {
		if _, seen := clientNS[c.Namespace]; !seen || c.Injected || c.Ambient() {
			clientNS[c.Namespace] = c
		}
	}
	refs := s.WorkloadRefs()
	placed := map[[2]string]string{}
	for _, c := range s.ClientRefs() {
		placed[[2]string{c.Workload, c.Namespace}] = "a client"
	}
	for i, w := range s.Workloads {
		wp := indexPath("workloads", i)
		np := joinPath(wp, "name")
		switch {
		case w.Name == "":
			v.add(np, "required: how variables[].podIP names this workload, and the suffix of its namespace")
		case !kebab.MatchString(w.Name):
			v.add(np, "%q is not kebab-case (%s)", w.Name, kebabRule)
		case w.Namespace == "" && len(refs[i].Namespace) > maxNamespaceLength:
			v.add(np, "%q makes namespace %s longer than %d characters", w.Name, refs[i].Namespace, maxNamespaceLength)
		default:
			if first, dup := names[w.Name]; dup {
				v.add(np, "%q is already the name of %s (line %d)", w.Name, first, d.lineOf(first))
			}
			names[w.Name] = wp
		}
		kp := joinPath(wp, "workload")
		switch {
		case w.Workload == "":
			v.add(kp, "required: the name of a workload under fixtures/workloads/ (e.g. squid)")
		case !kebab.MatchString(w.Workload):
			v.add(kp, "%q is not kebab-case (%s)", w.Workload, kebabRule)
		default:
			v.workload(kp, w.Workload, opts)
		}
		if w.Namespace != "" {
			v.clientNamespace(joinPath(wp, "namespace"), w.Namespace)
		}
		ns := refs[i].Namespace
		if c, ok := clientNS[ns]; ok && (c.Injected || c.Ambient()) {
			path := joinPath(wp, "namespace")
			if w.Namespace == "" {
				path = wp
			}
			v.add(path, "namespace %s holds a client in the mesh (%s); a workload runs outside the mesh, so its namespace holds only clients without a sidecar", ns, clientName(c))
		}
		k := [2]string{w.Workload, ns}
		if first, dup := placed[k]; dup && w.Workload != "" {
			v.add(wp, "workload %s in namespace %s is already %s: one workload file in one namespace is one Deployment", w.Workload, ns, first)
		}
		placed[k] = wp
	}

	standins := map[string]string{}
	seen := map[string]string{}
	for i, vr := range s.Variables {
		vp := indexPath("variables", i)
		np := joinPath(vp, "name")
		ok := true
		switch {
		case vr.Name == "":
			v.add(np, "required: written $NAME or ${NAME} where the value goes")
			ok = false
		case !varName.MatchString(vr.Name):
			v.add(np, "%q is not a shell variable name (letters, digits and '_', not starting with a digit)", vr.Name)
			ok = false
		default:
			if first, dup := seen[vr.Name]; dup {
				v.add(np, "%q is already declared at %s (line %d)", vr.Name, first, d.lineOf(first))
				ok = false
			}
			seen[vr.Name] = vp
		}
		switch {
		case vr.PodIP == "" && vr.Value == "":
			v.add(vp, "one of podIP (a workloads[].name: its pod's IP, known at run time) or value (a constant) is required")
			ok = false
		case vr.PodIP != "" && vr.Value != "":
			v.add(joinPath(vp, "value"), "podIP and value are exclusive: the value comes from one of them")
			ok = false
		case vr.PodIP != "":
			j := slices.IndexFunc(s.Workloads, func(w Workload) bool { return w.Name == vr.PodIP })
			if j < 0 {
				known := []string{}
				for _, w := range s.Workloads {
					known = append(known, w.Name)
				}
				v.add(joinPath(vp, "podIP"), "%q is not a workloads[].name (declared: %v)", vr.PodIP, known)
				ok = false
			} else if ok {
				standins[vr.Name] = refs[j].StandinIP
			}
		case strings.ContainsAny(vr.Value, "\r\n"):
			// A line break would move every later line of a bundle file, and
			// with them the lines errors name.
			v.add(joinPath(vp, "value"), "a value holds no line break")
		default:
			if ok {
				standins[vr.Name] = vr.Value
			}
		}
	}
	return standins
}

// substituteRequests puts the stand-in values into every step's request,
// keeping the request as written for WithPodIPs.
func substituteRequests(s *Scenario, standins map[string]string, used map[string]bool) {
	for i := range s.Steps {
		st := &s.Steps[i]
		mine := map[string]bool{}
		r := substituteRequest(st.Request, standins, mine)
		if len(mine) == 0 {
			continue
		}
		raw := st.Request
		st.rawRequest = &raw
		st.Request = r
		for k := range mine {
			used[k] = true
		}
	}
}

// checkUsed reports a declared variable that nothing references: most likely a
// misspelt reference that then stays in the YAML as written.
func checkUsed(s *Scenario, d *fieldDecoder, used map[string]bool, p *problems) {
	for i, vr := range s.Variables {
		if vr.Name == "" || used[vr.Name] || !varName.MatchString(vr.Name) {
			continue
		}
		path := joinPath(indexPath("variables", i), "name")
		if d.refusedPath(indexPath("variables", i)) {
			continue
		}
		p.add(s.File, d.lineOf(path), path, "%q is declared but no bundle file or request writes $%s or ${%s}", vr.Name, vr.Name, vr.Name)
	}
}

// Values are the run-time values of s's variables, given the IP of each
// workload's pod (by workloads[].name).
func (s *Scenario) Values(podIPs map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range s.Variables {
		if v.PodIP == "" {
			out[v.Name] = v.Value
			continue
		}
		ip, ok := podIPs[v.PodIP]
		if !ok {
			return nil, fmt.Errorf("scenario %s: variable %s: no pod IP for workload %s", s.Name, v.Name, v.PodIP)
		}
		if _, err := netip.ParseAddr(ip); err != nil {
			return nil, fmt.Errorf("scenario %s: variable %s: pod IP %q of workload %s: %w", s.Name, v.Name, ip, v.PodIP, err)
		}
		out[v.Name] = ip
	}
	return out, nil
}

// WithPodIPs is s as the cluster tier applies it: every bundle object and
// request that references a variable substituted again from what was written,
// with the run-time values (Values). s is not changed; objects that reference
// no variable are shared.
func (s *Scenario) WithPodIPs(podIPs map[string]string) (*Scenario, error) {
	if len(s.Variables) == 0 {
		return s, nil
	}
	values, err := s.Values(podIPs)
	if err != nil {
		return nil, err
	}
	c := *s
	c.Steps = slices.Clone(s.Steps)
	done := map[string]Object{}
	for i := range c.Steps {
		st := &c.Steps[i]
		if st.rawRequest != nil {
			st.Request = substituteRequest(*st.rawRequest, values, nil)
		}
		b := slices.Clone(st.Bundle)
		for j, o := range b {
			if o.Template == nil {
				continue
			}
			key := fmt.Sprintf("%s:%d", o.File, o.Line)
			if n, ok := done[key]; ok {
				b[j] = n
				continue
			}
			n, err := o.WithValues(values)
			if err != nil {
				return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
			}
			done[key], b[j] = n, n
		}
		st.Bundle = b
	}
	return &c, nil
}

// WithValues is o with values substituted into its document as written
// (Template), decoded again as strictly as the loader did. The namespace an
// apply entry gave it stays.
func (o Object) WithValues(values map[string]string) (Object, error) {
	if o.Template == nil {
		return o, nil
	}
	var p problems
	text := substitute(o.Template, values, nil)
	n, _, ok := decodeDocument(o.File, o.File, document{offset: o.Offset, text: text}, &p)
	if !ok {
		if err := p.err(); err != nil {
			return Object{}, err
		}
		return Object{}, fmt.Errorf("%s:%d: no object after substituting run-time values", o.File, o.Line)
	}
	if n.Namespace == "" {
		n.Namespace = o.Namespace
	}
	n.Template, n.Variables = o.Template, o.Variables
	return n, nil
}
