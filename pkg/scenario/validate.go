package scenario

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// MaxNameLength bounds a scenario name. The name becomes the suffix of a namespace
// (a DNS-1123 label, at most 63 characters); 13 characters are left for the
// harness's prefix.
const MaxNameLength = 50

// maxStepNameLength: step names appear in report paths and Ginkgo node texts, not
// in Kubernetes names, so the plain DNS label bound is enough.
const maxStepNameLength = 63

// kebab is a DNS-1123 label: lower-case letters, digits and '-', starting and
// ending with a letter or digit. Scenario names become namespace names, client
// names become file names; the one shape keeps both safe.
var kebab = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

const kebabRule = "lower-case letters, digits and '-', starting and ending with a letter or digit"

// ginkgoLabelReserved are the characters Ginkgo refuses in a label, because its
// label-filter language uses them (ginkgo/v2 types.ValidateAndCleanupLabel, which
// also refuses a leading ':' and an empty value after "key:"). Refusing them here
// turns a failure while the suite builds its tree into an error that names the line.
const ginkgoLabelReserved = "&|!,()/"

// validate checks the rules that are not about the shape of scenario.yaml (the
// decoder checked that): required fields, allowed values, and expectations that
// contradict their route.
func validate(s *Scenario, d *fieldDecoder, opts Options, p *problems) {
	v := &validator{s: s, d: d, p: p}

	switch {
	case s.APIVersion == "":
		v.add("apiVersion", "required; this loader reads %s", APIVersion)
	case s.APIVersion != APIVersion:
		v.add("apiVersion", "%q is not supported; this loader reads %s", s.APIVersion, APIVersion)
	}
	switch {
	case s.Kind == "":
		v.add("kind", "required; must be %s", Kind)
	case s.Kind != Kind:
		v.add("kind", "%q is not %s", s.Kind, Kind)
	}

	switch {
	case s.Name == "":
		v.add("name", "required (%s, at most %d characters)", kebabRule, MaxNameLength)
	case !kebab.MatchString(s.Name):
		v.add("name", "%q is not kebab-case (%s)", s.Name, kebabRule)
	case len(s.Name) > MaxNameLength:
		v.add("name", "%q is %d characters long; at most %d leave room for the namespace prefix", s.Name, len(s.Name), MaxNameLength)
	}

	labels := map[string]string{}
	for i, l := range s.Labels {
		path := indexPath("labels", i)
		switch {
		case strings.TrimSpace(l) == "":
			v.add(path, "empty label")
		case strings.TrimSpace(l) != l:
			v.add(path, "%q has leading or trailing spaces", l)
		case strings.ContainsAny(l, ginkgoLabelReserved):
			v.add(path, "%q contains one of %s, which Ginkgo label filters reserve", l, ginkgoLabelReserved)
		case strings.HasPrefix(l, ":") || strings.HasSuffix(l, ":"):
			v.add(path, "%q: Ginkgo reads key:value labels and needs both", l)
		default:
			if first, dup := labels[l]; dup {
				v.add(path, "%q is repeated (first as %s)", l, first)
			}
			labels[l] = path
		}
	}

	switch s.Mesh.OutboundTrafficPolicy {
	case "":
		// Istio's own default.
		s.Mesh.OutboundTrafficPolicy = AllowAny
	case AllowAny, RegistryOnly:
	default:
		path := "mesh.outboundTrafficPolicy"
		v.add(path, "%q is not one of %s, %s", s.Mesh.OutboundTrafficPolicy, AllowAny, RegistryOnly)
	}

	switch s.DataPlane {
	case "":
		s.DataPlane = Sidecar
	case Sidecar, Ambient:
	default:
		v.add("dataPlane", "%q is not one of %s", s.DataPlane, dataPlaneList())
	}

	v.client(opts)

	if len(s.Steps) == 0 {
		v.add("steps", "at least one step is required")
	}
	stepNames := map[string]string{}
	for i := range s.Steps {
		v.step(i, stepNames)
	}
}

// validator reports rule violations at the line of their field.
type validator struct {
	s *Scenario
	d *fieldDecoder
	p *problems
}

// refused tells whether the decoder already reported path or an ancestor: its
// value is then a zero value standing in for what the user wrote, and a rule
// about it would only repeat the first error in other words.
func (v *validator) refused(path string) bool { return v.d.refusedPath(path) }

// refusedPath tells whether the decoder refused path or one of its ancestors.
func (d *fieldDecoder) refusedPath(path string) bool {
	for {
		if d.failed[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

func (v *validator) add(path, format string, args ...any) {
	if !v.refused(path) {
		v.p.add(v.s.File, v.d.lineOf(path), path, format, args...)
	}
}

func (v *validator) wrap(path string, err error, format string, args ...any) {
	if !v.refused(path) {
		v.p.wrap(v.s.File, v.d.lineOf(path), path, err, format, args...)
	}
}

func (v *validator) client(opts Options) {
	s := v.s
	switch {
	case s.Client == "":
		v.add("client", "required: the name of a workload under fixtures/workloads/ (e.g. sleep)")
	case !kebab.MatchString(s.Client):
		// The client names a file; kebab-case also keeps it from naming a path.
		v.add("client", "%q is not kebab-case (%s)", s.Client, kebabRule)
	default:
		v.workload("client", s.Client, opts)
	}

	names := map[string]string{}
	for i, c := range s.Clients {
		cp := indexPath("clients", i)
		np := joinPath(cp, "name")
		switch {
		case c.Name == "":
			v.add(np, "required: how request.from names this client, and the suffix of its namespace")
		case !kebab.MatchString(c.Name):
			v.add(np, "%q is not kebab-case (%s)", c.Name, kebabRule)
		case c.Namespace == "" && len(s.Namespace())+1+len(c.Name) > maxNamespaceLength:
			v.add(np, "%q makes namespace %s-%s longer than %d characters", c.Name, s.Namespace(), c.Name, maxNamespaceLength)
		default:
			if first, dup := names[c.Name]; dup {
				v.add(np, "%q is already the name of %s (line %d)", c.Name, first, v.d.lineOf(first))
			}
			names[c.Name] = cp
		}
		if c.Workload != "" {
			wp := joinPath(cp, "workload")
			if !kebab.MatchString(c.Workload) {
				v.add(wp, "%q is not kebab-case (%s)", c.Workload, kebabRule)
			} else {
				v.workload(wp, c.Workload, opts)
			}
		}
		if c.Namespace != "" {
			v.clientNamespace(joinPath(cp, "namespace"), c.Namespace)
		}
		for _, k := range slices.Sorted(maps.Keys(c.Annotations)) {
			ap := joinPath(joinPath(cp, "annotations"), k)
			switch {
			case !slices.Contains(SidecarAnnotations, k):
				v.add(ap, "%q is not an annotation the harness sets; one of %s", k, strings.Join(SidecarAnnotations, ", "))
			case c.Injected != nil && !*c.Injected, s.clientRef(c).Ambient():
				v.add(ap, "the client runs without a sidecar (injected: false, or ambient): there is no interception to change")
			}
		}
		switch c.DataPlane {
		case "", Sidecar, Ambient:
			if c.Injected != nil && s.clientRef(c).Ambient() {
				v.add(joinPath(cp, "injected"), "an ambient client never runs a sidecar; injected is for sidecar clients (leave it out, or set dataPlane: %s)", Sidecar)
			}
		default:
			v.add(joinPath(cp, "dataPlane"), "%q is not one of %s", c.DataPlane, dataPlaneList())
		}
	}

	// Two clients of one workload in one namespace would be one Deployment.
	placed := map[[2]string]string{{s.Client, s.Namespace()}: "client"}
	named := map[string]bool{}
	for i, c := range s.Clients {
		if c.Name == "" || named[c.Name] || v.refused(indexPath("clients", i)) {
			continue // already reported
		}
		named[c.Name] = true
		r := s.clientRef(c)
		k := [2]string{r.Workload, r.Namespace}
		if first, dup := placed[k]; dup {
			path := indexPath("clients", i)
			v.add(path, "workload %s in namespace %s is already %s (line %d): give this client another workload or namespace", r.Workload, r.Namespace, first, v.d.lineOf(first))
			continue
		}
		placed[k] = indexPath("clients", i)
	}

	// A namespace's labels enrol all its pods: istio-injection=enabled for
	// sidecars, istio.io/dataplane-mode=ambient for ambient. One namespace
	// cannot hold clients of both modes without one of them being what it
	// does not say.
	modes := map[string]string{s.Namespace(): "client"}
	if s.DataPlane != Sidecar && s.DataPlane != Ambient {
		return // already reported
	}
	for i, c := range s.Clients {
		if c.DataPlane != "" && c.DataPlane != Sidecar && c.DataPlane != Ambient {
			continue // already reported
		}
		r := s.clientRef(c)
		path := indexPath("clients", i)
		first, seen := modes[r.Namespace]
		if !seen {
			modes[r.Namespace] = path
			continue
		}
		if other := v.clientAt(first); other.DataPlane != r.DataPlane {
			v.add(path, "%s client in namespace %s, which holds %s client %s (line %d): clients of different data planes need namespaces of their own, since the namespace's label enrols its pods", r.DataPlane, r.Namespace, other.DataPlane, first, v.d.lineOf(first))
		}
	}
}

// clientAt resolves "client" or "clients[i]" to its ClientRef.
func (v *validator) clientAt(path string) ClientRef {
	refs := v.s.ClientRefs()
	var i int
	if _, err := fmt.Sscanf(path, "clients[%d]", &i); err == nil {
		return refs[i+1]
	}
	return refs[0]
}

func dataPlaneList() string {
	out := make([]string, len(DataPlanes))
	for i, d := range DataPlanes {
		out[i] = string(d)
	}
	return strings.Join(out, ", ")
}

// reservedNamespaces are namespaces a client must not claim: the harness
// creates, labels and deletes a client's namespace, and must never do that to
// Kubernetes' or Istio's own.
var reservedNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true, "kube-node-lease": true, IstioNamespace: true}

func (v *validator) clientNamespace(path, ns string) {
	switch {
	case !kebab.MatchString(ns) || len(ns) > maxNamespaceLength:
		v.add(path, "%q is not a namespace name (%s, at most %d characters)", ns, kebabRule, maxNamespaceLength)
	case reservedNamespaces[ns]:
		v.add(path, "%q is Kubernetes' or Istio's own namespace; the harness creates and deletes a client's namespace, so name one of its own", ns)
	}
}

// maxNamespaceLength is Kubernetes' limit on a namespace name (a DNS-1123 label).
const maxNamespaceLength = 63

// workload checks that a workload names a file under opts.WorkloadsDir, when the
// caller asked for that check.
func (v *validator) workload(path, name string, opts Options) {
	if opts.WorkloadsDir == "" {
		return
	}
	w := filepath.Join(opts.WorkloadsDir, name+".yaml")
	info, err := os.Stat(w)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		v.add(path, "%q has no workload file %s", name, w)
	case err != nil:
		v.wrap(path, err, "cannot read the workload file of %q", name)
	case !info.Mode().IsRegular():
		v.add(path, "workload %s is not a regular file", w)
	}
}

func (v *validator) step(i int, names map[string]string) {
	s := v.s
	st := &s.Steps[i]
	sp := indexPath("steps", i)
	field := func(name string) string { return joinPath(sp, name) }

	np := field("name")
	switch {
	case st.Name == "":
		v.add(np, "required (%s)", kebabRule)
	case !kebab.MatchString(st.Name):
		v.add(np, "%q is not kebab-case (%s)", st.Name, kebabRule)
	case len(st.Name) > maxStepNameLength:
		v.add(np, "%q is %d characters long; at most %d", st.Name, len(st.Name), maxStepNameLength)
	default:
		if first, dup := names[st.Name]; dup {
			v.add(np, "%q is already the name of %s (line %d)", st.Name, first, v.d.lineOf(first))
		} else {
			names[st.Name] = sp
		}
	}

	if from := st.Request.From; from != "" {
		known := false
		var declared []string
		for _, c := range s.Clients {
			known = known || c.Name == from
			declared = append(declared, c.Name)
		}
		if !known {
			v.add(field("request.from"), "%q is not one of the scenario's clients (%s)", from, strings.Join(declared, ", "))
		}
	}

	up := field("request.url")
	if st.Request.URL == "" {
		v.add(up, "required: an absolute http:// or https:// URL")
	} else if msg := checkURL(st.Request.URL); msg != "" {
		v.add(up, "%q %s", st.Request.URL, msg)
	} else {
		v.request(i)
	}

	v.expect(i)
}

func checkURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "is not a URL: " + err.Error()
	case u.Scheme != "http" && u.Scheme != "https":
		return "is not an absolute http:// or https:// URL"
	case u.Opaque != "" || u.Hostname() == "":
		return "has no host"
	}
	return ""
}

func (v *validator) expect(i int) {
	s := v.s
	e := &s.Steps[i].Expect
	ep := joinPath(indexPath("steps", i), "expect")
	field := func(name string) string { return joinPath(ep, name) }
	routes := make([]string, len(Routes))
	for j, r := range Routes {
		routes[j] = string(r)
	}
	routeList := strings.Join(routes, ", ")

	rp := field("route")
	routeOK := false
	switch {
	case e.Route == "":
		v.add(rp, "required: one of %s", routeList)
	case !isRoute(e.Route):
		v.add(rp, "%q is not one of %s", e.Route, routeList)
	default:
		routeOK = true
	}

	if e.Status != nil && (*e.Status < 100 || *e.Status > 599) {
		v.add(field("status"), "%d is not an HTTP status (100..599)", *e.Status)
	}
	if e.CurlExit != nil {
		cp := field("curlExit")
		switch {
		case *e.CurlExit < 1 || *e.CurlExit > 99:
			v.add(cp, "%d is not a curl failure exit code (1..99); a request that got an answer states status instead", *e.CurlExit)
		case e.Status != nil:
			v.add(cp, "status and curlExit exclude each other: curl either got an HTTP answer or failed")
		}
	}

	if o := e.Origin; o != nil {
		op := field("origin")
		hp, fp := joinPath(op, "hops"), joinPath(op, "first")
		if o.Hops < 1 {
			v.add(hp, "%d: an origin chain has at least 1 hop", o.Hops)
		}
		if o.First != "" && o.First != OriginFirstClient {
			v.add(fp, "%q is not supported; the only value is %q (the client pod's IP)", o.First, OriginFirstClient)
		}
		switch {
		case s.Steps[i].Request.Method == "HEAD":
			v.add(op, "contradicts method HEAD: the answer has no body, so httpbin's origin chain cannot be read")
		case routeOK && e.Route == RouteBlocked:
			v.add(op, "contradicts route blocked: nothing reaches httpbin, so there is no origin chain")
		case e.CurlExit != nil:
			v.add(op, "contradicts curlExit %d: curl got no answer, so httpbin reports no origin chain", *e.CurlExit)
		case routeOK && e.Route == RouteDirect && o.First == OriginFirstClient:
			v.add(fp, "%q contradicts route direct: a direct request never carries the client pod's IP", o.First)
		case routeOK && e.Route == RouteDirect && o.Hops > 1:
			v.add(hp, "%d contradicts route direct: a sidecar does not append to X-Forwarded-For, so a direct request has 1 hop", o.Hops)
		case o.First == OriginFirstClient && o.Hops == 1:
			v.add(fp, "%q needs at least 2 hops: a single hop is the address httpbin's load balancer saw, never the client pod's IP", o.First)
		}
	}

	checkLog := func(name string, l *LogExpect) {
		if l == nil || l.Absent {
			return
		}
		if l.ResponseCode != 0 && (l.ResponseCode < 100 || l.ResponseCode > 599) {
			rc := joinPath(field(name), "responseCode")
			v.add(rc, "%d is not an HTTP status (100..599); leave it out to not check it", l.ResponseCode)
		}
	}
	checkLog("sidecarLog", e.SidecarLog)
	checkLog("gatewayLog", e.GatewayLog)
	checkLog("waypointLog", e.WaypointLog)

	validateZtunnelLog(v.add, field, s.ClientFor(s.Steps[i].Request), e.Route, routeOK, e.ZtunnelLog)
	if w := e.WorkloadLog; w != nil {
		wp := field("workloadLog")
		if !slices.ContainsFunc(s.Workloads, func(x Workload) bool { return x.Name == w.Workload }) {
			v.add(joinPath(wp, "workload"), "%q is not a workloads[].name", w.Workload)
		}
		if !strings.HasPrefix(w.File, "/") {
			v.add(joinPath(wp, "file"), "%q: the absolute path of the log file in the workload's container (e.g. /var/log/squid/access.log)", w.File)
		}
		if strings.TrimSpace(w.Contains) == "" {
			v.add(joinPath(wp, "contains"), "required: what the line holds besides the client's IP (e.g. \"CONNECT httpbin.org:443\")")
		}
		if routeOK && e.Route == RouteBlocked {
			v.add(wp, "contradicts route blocked: a blocked request never reaches the workload")
		}
	}
	if e.SidecarLog != nil {
		if c := s.ClientFor(s.Steps[i].Request); c.Ambient() {
			v.add(field("sidecarLog"), "client %s is in ambient mode and runs no sidecar, so there is no sidecar line (state waypointLog for the waypoint's)", clientName(c))
		}
	}
	if routeOK {
		// A proxy's line must be absent on a direct route, and present on the
		// route through that proxy, which logs every request it handles.
		proxyLine := func(name, who string, through Route, l *LogExpect) {
			switch {
			case l == nil:
			case e.Route == RouteDirect && !l.Absent:
				v.add(field(name), "a %s line contradicts route direct: a direct request never passes the %s (write %s: %s)", who, who, name, AbsentValue)
			case e.Route == through && l.Absent:
				v.add(field(name), "%s contradicts route %s: the request passes the %s, which logs it", AbsentValue, through, who)
			}
		}
		proxyLine("gatewayLog", "gateway", RouteEgressGateway, e.GatewayLog)
		proxyLine("waypointLog", "waypoint", RouteWaypoint, e.WaypointLog)
	}
}

// clientName names a client in messages: its name, or "client" for the scenario's own.
func clientName(c ClientRef) string {
	if c.Name == "" {
		return "client"
	}
	return c.Name
}

func isRoute(r Route) bool {
	for _, k := range Routes {
		if r == k {
			return true
		}
	}
	return false
}

// describeStep names a step for messages that point back at an earlier one.
func describeStep(s *Scenario, i int) string {
	name := s.Steps[i].Name
	if name == "" {
		return indexPath("steps", i)
	}
	return fmt.Sprintf("step %s", name)
}
