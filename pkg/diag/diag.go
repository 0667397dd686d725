// Package diag writes, when a step fails, everything needed to debug it without
// running it again, under reports/<run-id>/<scenario>/ (see Dir):
//
//	summary.txt                       what was collected, when, and how long it took
//	errors.txt                        every item that could not be collected, and why
//	failure.txt, …                    Target.Files, as given (the step error, the verdict)
//	bundle/applied.yaml               the applied bundle, each document with its file and line
//	<namespace>/pods.yaml             the pods (a v1 List, managedFields dropped)
//	<namespace>/events.txt            the events, oldest first (and events.yaml)
//	<namespace>/logs/<pod>/<container>.log   (+ .previous.log after a restart)
//	<namespace>/envoy/<pod>/config_dump.json Envoy's config with endpoints (EDS)
//	<namespace>/envoy/<pod>/clusters.txt     Envoy's clusters with the resolved hosts
//	<namespace>/envoy/<pod>/server_info.json Envoy's version and state
//	<namespace>/files/<pod>/<container>/<path>  the tail of a file a workload writes
//	                                  instead of logging it (squid's access.log)
//
// for the scenario's namespace (every pod's logs; the Envoy dumps of the client pods),
// the gateway namespace (istio-system: pods, events, the egress gateway pods' logs and
// Envoy dumps, the tail of istiod's log) and any extra namespace (the hermetic
// stand-in's, whose access log shows what reached "the internet"; an auxiliary
// workload's, e.g. the http-proxy scenario's squid).
//
// The Envoy dumps come from `pilot-agent request GET <path>` run in the istio-proxy
// container through an Executor: no port-forward, no istioctl.
//
// Collection is best effort and bounded: each item has its own timeout, the whole
// collection another; a failed item is written to errors.txt and the rest goes on.
package diag

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// Defaults of Target and Collector.
const (
	DefaultGatewayNamespace     = "istio-system"
	DefaultGatewaySelector      = "istio=egressgateway"
	DefaultControlPlaneSelector = "app=istiod"
	// ProxyContainer is the Envoy sidecar's (and gateway's) container.
	ProxyContainer = "istio-proxy"

	DefaultTimeout               = 2 * time.Minute
	DefaultItemTimeout           = 20 * time.Second
	DefaultLogLimitBytes         = 10 << 20
	DefaultControlPlaneTailLines = 2000
)

// DefaultEnvoyPaths are the Envoy admin paths dumped from every proxy, with the file
// each is written to.
var DefaultEnvoyPaths = []EnvoyPath{
	{Path: "config_dump?include_eds", File: "config_dump.json"},
	{Path: "clusters", File: "clusters.txt"},
	{Path: "server_info", File: "server_info.json"},
}

// EnvoyPath is one Envoy admin path and the file its answer goes to.
type EnvoyPath struct{ Path, File string }

// ErrIncomplete is returned (wrapped) when some items could not be collected; they
// are listed in errors.txt.
var ErrIncomplete = errors.New("diagnostics incomplete")

// Dir is where a scenario's diagnostics go: <runDir>/<scenario>, runDir being
// reports/<run-id>.
func Dir(runDir, scenarioName string) string { return filepath.Join(runDir, scenarioName) }

// Target says what to collect.
type Target struct {
	// Namespace is the scenario's namespace: pods, events and every container's log.
	Namespace string
	// ClientSelector selects the client pods in Namespace whose Envoy config is
	// dumped (e.g. "app=sleep"); "" means every pod there with an istio-proxy container.
	ClientSelector string
	// GatewayNamespace (default istio-system): pods and events.
	GatewayNamespace string
	// GatewaySelector selects the egress gateway pods in GatewayNamespace: logs and
	// Envoy dumps (default istio=egressgateway; Gateway API gateways:
	// gateway.networking.k8s.io/gateway-name=<name>, possibly in Namespace, see
	// ExtraGateways).
	GatewaySelector string
	// ExtraGateways are more gateway pods to treat like the egress gateway, as
	// namespace → label selector.
	ExtraGateways map[string]string
	// ControlPlaneSelector selects istiod in GatewayNamespace: the tail of its log
	// (default app=istiod).
	ControlPlaneSelector string
	// ExtraNamespaces get pods, events and every container's log (e.g. the hermetic
	// stand-in's namespace).
	ExtraNamespaces []string
	// ContainerFiles are files inside containers whose tail is copied (through the
	// Executor, `tail -c`): evidence a workload writes to a file, not to its log.
	ContainerFiles []ContainerFile
	// Bundle is what was applied (written to bundle/applied.yaml).
	Bundle scenario.Bundle
	// Files are written as they are under the directory, e.g. "failure.txt" with the
	// step's error. Names are cleaned to stay inside the directory.
	Files map[string][]byte
}

// ContainerFile is one file in one container of one pod.
type ContainerFile struct {
	Namespace, Pod, Container, Path string
}

func (t Target) withDefaults() Target {
	if t.GatewayNamespace == "" {
		t.GatewayNamespace = DefaultGatewayNamespace
	}
	if t.GatewaySelector == "" {
		t.GatewaySelector = DefaultGatewaySelector
	}
	if t.ControlPlaneSelector == "" {
		t.ControlPlaneSelector = DefaultControlPlaneSelector
	}
	return t
}

// Collector collects diagnostics. Client is required; the zero value of every other
// field takes its default.
type Collector struct {
	Client kubernetes.Interface
	// Exec runs pilot-agent in the proxies; nil skips the Envoy dumps (and says so in
	// errors.txt).
	Exec Executor
	// Timeout bounds the whole collection; ItemTimeout one item (a list, a log, a dump).
	Timeout     time.Duration
	ItemTimeout time.Duration
	// LogLimitBytes caps each container log. The API server keeps the first bytes of
	// the log, so a proxy log that outgrows it loses its newest lines: the default
	// (10 MiB) is far above what a scenario's short-lived pods write.
	LogLimitBytes int64
	// ControlPlaneTailLines is how much of istiod's log is kept.
	ControlPlaneTailLines int64
	// EnvoyPaths to dump; default DefaultEnvoyPaths.
	EnvoyPaths []EnvoyPath
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

func (c Collector) withDefaults() Collector {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ItemTimeout <= 0 {
		c.ItemTimeout = DefaultItemTimeout
	}
	if c.LogLimitBytes <= 0 {
		c.LogLimitBytes = DefaultLogLimitBytes
	}
	if c.ControlPlaneTailLines <= 0 {
		c.ControlPlaneTailLines = DefaultControlPlaneTailLines
	}
	if c.EnvoyPaths == nil {
		c.EnvoyPaths = DefaultEnvoyPaths
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// run is one collection in progress.
type run struct {
	c       Collector
	dir     string
	ctx     context.Context
	errs    []string
	written []string
}

// Collect writes the diagnostics of t under dir (created if needed). It returns an
// error wrapping ErrIncomplete when some items failed (listed in errors.txt), or
// another error when dir itself cannot be written.
func (c Collector) Collect(ctx context.Context, dir string, t Target) error {
	c = c.withDefaults()
	t = t.withDefaults()
	if c.Client == nil {
		return errors.New("diag: Collector.Client is nil")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("diag: %w", err)
	}
	start := c.Now()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	r := &run{c: c, dir: dir, ctx: ctx}

	for name, data := range t.Files {
		r.write(cleanRel(name), data)
	}
	r.bundle(t.Bundle)

	if t.Namespace != "" {
		pods := r.namespace(t.Namespace)
		r.logs(t.Namespace, pods, 0)
		clients := pods
		if t.ClientSelector != "" {
			clients = r.listPods(t.Namespace, t.ClientSelector)
		}
		r.envoy(t.Namespace, withProxy(clients))
	}

	r.namespace(t.GatewayNamespace)
	gateways := r.listPods(t.GatewayNamespace, t.GatewaySelector)
	if len(gateways) == 0 {
		r.fail("gateway pods", fmt.Errorf("no pod in %s matches %q", t.GatewayNamespace, t.GatewaySelector))
	}
	r.logs(t.GatewayNamespace, gateways, 0)
	r.envoy(t.GatewayNamespace, gateways)
	for _, ns := range sortedKeys(t.ExtraGateways) {
		gws := r.listPods(ns, t.ExtraGateways[ns])
		r.logs(ns, gws, 0)
		r.envoy(ns, withProxy(gws))
	}
	r.logs(t.GatewayNamespace, r.listPods(t.GatewayNamespace, t.ControlPlaneSelector), c.ControlPlaneTailLines)

	for _, ns := range t.ExtraNamespaces {
		r.logs(ns, r.namespace(ns), 0)
	}
	for _, f := range t.ContainerFiles {
		r.file(f)
	}

	r.summary(t, start)
	if len(r.errs) > 0 {
		if err := os.WriteFile(filepath.Join(dir, "errors.txt"), []byte(strings.Join(r.errs, "\n")+"\n"), 0o644); err != nil {
			return fmt.Errorf("diag: %w (and %d items failed)", err, len(r.errs))
		}
		return fmt.Errorf("diag: %w: %d items failed, see %s", ErrIncomplete, len(r.errs), filepath.Join(dir, "errors.txt"))
	}
	return nil
}

// item gives one item its own deadline within the collection's.
func (r *run) item() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.ctx, r.c.ItemTimeout)
}

func (r *run) fail(what string, err error) {
	r.errs = append(r.errs, fmt.Sprintf("%s: %v", what, err))
}

func (r *run) write(rel string, data []byte) {
	p := filepath.Join(r.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.fail(rel, err)
		return
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		r.fail(rel, err)
		return
	}
	r.written = append(r.written, rel)
}

// namespace writes pods.yaml and events of ns and returns its pods.
func (r *run) namespace(ns string) []corev1.Pod {
	pods := r.listPods(ns, "")
	if pods != nil {
		r.writePods(ns, pods)
	}
	r.events(ns)
	return pods
}

// listPods lists pods of ns matching selector; nil (and an error recorded) on failure.
func (r *run) listPods(ns, selector string) []corev1.Pod {
	ctx, cancel := r.item()
	defer cancel()
	l, err := r.c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		r.fail(fmt.Sprintf("list pods %s %q", ns, selector), err)
		return nil
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	if l.Items == nil {
		return []corev1.Pod{}
	}
	return l.Items
}

func (r *run) writePods(ns string, pods []corev1.Pod) {
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}}
	for _, p := range pods {
		p = *p.DeepCopy()
		p.APIVersion, p.Kind = "v1", "Pod"
		p.ManagedFields = nil
		list.Items = append(list.Items, p)
	}
	y, err := yaml.Marshal(list)
	if err != nil {
		r.fail(ns+"/pods.yaml", err)
		return
	}
	r.write(filepath.Join(cleanRel(ns), "pods.yaml"), y)
}

func (r *run) events(ns string) {
	ctx, cancel := r.item()
	defer cancel()
	l, err := r.c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		r.fail("events "+ns, err)
		return
	}
	evs := l.Items
	sort.SliceStable(evs, func(i, j int) bool { return eventTime(evs[i]).Before(eventTime(evs[j])) })
	var b strings.Builder
	for _, e := range evs {
		count := ""
		if e.Count > 1 {
			count = fmt.Sprintf(" (x%d)", e.Count)
		}
		fmt.Fprintf(&b, "%s  %-7s  %-24s  %s/%s%s  %s\n", eventTime(e).UTC().Format(time.RFC3339),
			e.Type, e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, count, strings.TrimSpace(e.Message))
	}
	if len(evs) == 0 {
		b.WriteString("(no events)\n")
	}
	r.write(filepath.Join(cleanRel(ns), "events.txt"), []byte(b.String()))
	for i := range evs {
		evs[i].ManagedFields = nil
	}
	y, err := yaml.Marshal(corev1.EventList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}, Items: evs})
	if err != nil {
		r.fail("events "+ns, err)
		return
	}
	r.write(filepath.Join(cleanRel(ns), "events.yaml"), y)
}

// eventTime is when an event last happened, whichever field the emitter filled.
func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

// logs writes every container's log of pods (init containers included), and the
// previous instance's after a restart. tail > 0 keeps only the last tail lines.
func (r *run) logs(ns string, pods []corev1.Pod, tail int64) {
	for _, p := range pods {
		restarts := map[string]int32{}
		for _, st := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			restarts[st.Name] = st.RestartCount
		}
		var containers []string
		for _, c := range p.Spec.InitContainers {
			containers = append(containers, c.Name)
		}
		for _, c := range p.Spec.Containers {
			containers = append(containers, c.Name)
		}
		for _, c := range containers {
			base := filepath.Join(cleanRel(ns), "logs", cleanRel(p.Name), cleanRel(c))
			r.log(ns, p.Name, c, false, tail, base+".log")
			if restarts[c] > 0 {
				r.log(ns, p.Name, c, true, tail, base+".previous.log")
			}
		}
	}
}

func (r *run) log(ns, pod, container string, previous bool, tail int64, rel string) {
	ctx, cancel := r.item()
	defer cancel()
	opts := &corev1.PodLogOptions{Container: container, Previous: previous, Timestamps: true, LimitBytes: &r.c.LogLimitBytes}
	if tail > 0 {
		opts.TailLines = &tail
	}
	what := fmt.Sprintf("log %s/%s container %s", ns, pod, container)
	if previous {
		what += " (previous)"
	}
	rc, err := r.c.Client.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		r.fail(what, err)
		return
	}
	defer rc.Close()
	var b bytes.Buffer
	_, err = io.Copy(&b, rc)
	r.write(rel, b.Bytes()) // what arrived, even when cut short
	if err != nil {
		r.fail(what, fmt.Errorf("cut short: %w", err))
	}
}

// withProxy keeps the pods that run an istio-proxy container (sidecar or gateway).
func withProxy(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if hasContainer(p, ProxyContainer) {
			out = append(out, p)
		}
	}
	return out
}

func hasContainer(p corev1.Pod, name string) bool {
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		if c.Name == name {
			return true
		}
	}
	return false
}

// envoy dumps the Envoy admin paths of every pod through pilot-agent.
func (r *run) envoy(ns string, pods []corev1.Pod) {
	for _, p := range pods {
		for _, ep := range r.c.EnvoyPaths {
			what := fmt.Sprintf("envoy %s of %s/%s", ep.Path, ns, p.Name)
			if r.c.Exec == nil {
				r.fail(what, errors.New("no Executor: Envoy dumps skipped"))
				continue
			}
			r.exec(what, ns, p.Name, ProxyContainer, []string{"pilot-agent", "request", "GET", ep.Path},
				filepath.Join(cleanRel(ns), "envoy", cleanRel(p.Name), cleanRel(ep.File)))
		}
	}
}

// file copies the last LogLimitBytes of a file in a container.
func (r *run) file(f ContainerFile) {
	what := fmt.Sprintf("file %s in %s/%s container %s", f.Path, f.Namespace, f.Pod, f.Container)
	if r.c.Exec == nil {
		r.fail(what, errors.New("no Executor: container files skipped"))
		return
	}
	r.exec(what, f.Namespace, f.Pod, f.Container, []string{"tail", "-c", fmt.Sprint(r.c.LogLimitBytes), f.Path},
		filepath.Join(cleanRel(f.Namespace), "files", cleanRel(f.Pod), cleanRel(f.Container), cleanRel(f.Path)))
}

func (r *run) exec(what, ns, pod, container string, cmd []string, rel string) {
	ctx, cancel := r.item()
	defer cancel()
	var stdout, stderr bytes.Buffer
	code, err := r.c.Exec.Exec(ctx, ns, pod, container, cmd, &stdout, &stderr)
	if stdout.Len() > 0 {
		r.write(rel, stdout.Bytes())
	}
	switch {
	case err != nil:
		r.fail(what, err)
	case code != 0:
		r.fail(what, fmt.Errorf("%q exited %d: %s", strings.Join(cmd, " "), code, strings.TrimSpace(stderr.String())))
	}
}

// bundle writes the applied documents as one YAML stream, each headed by where it
// came from.
func (r *run) bundle(b scenario.Bundle) {
	if len(b) == 0 {
		return
	}
	var out bytes.Buffer
	for i, o := range b {
		if i > 0 {
			out.WriteString("---\n")
		}
		ns := o.Namespace
		if ns == "" {
			ns = "(scenario namespace)"
		}
		fmt.Fprintf(&out, "# %s:%d %s %s/%s\n", o.File, o.Line, o.Kind, ns, o.Name)
		out.Write(o.YAML)
		if len(o.YAML) > 0 && o.YAML[len(o.YAML)-1] != '\n' {
			out.WriteByte('\n')
		}
	}
	r.write(filepath.Join("bundle", "applied.yaml"), out.Bytes())
}

func (r *run) summary(t Target, start time.Time) {
	var b strings.Builder
	fmt.Fprintf(&b, "collected: %s (took %s)\n", start.UTC().Format(time.RFC3339), r.c.Now().Sub(start).Round(time.Millisecond))
	fmt.Fprintf(&b, "scenario namespace: %s\n", t.Namespace)
	fmt.Fprintf(&b, "gateways: %s in %s\n", t.GatewaySelector, t.GatewayNamespace)
	if len(t.ExtraNamespaces) > 0 {
		fmt.Fprintf(&b, "extra namespaces: %s\n", strings.Join(t.ExtraNamespaces, ", "))
	}
	fmt.Fprintf(&b, "items failed: %d (errors.txt)\n", len(r.errs))
	b.WriteString("files:\n")
	files := append([]string(nil), r.written...)
	sort.Strings(files)
	for _, f := range files {
		fmt.Fprintf(&b, "  %s\n", filepath.ToSlash(f))
	}
	if err := os.WriteFile(filepath.Join(r.dir, "summary.txt"), []byte(b.String()), 0o644); err != nil {
		r.fail("summary.txt", err)
	}
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// cleanRel turns a name into a relative path that stays inside the directory: each
// element keeps only safe characters, and "." / ".." elements are dropped.
func cleanRel(name string) string {
	var parts []string
	for _, p := range strings.Split(filepath.ToSlash(name), "/") {
		p = unsafeChars.ReplaceAllString(p, "_")
		if p == "" || p == "." || p == ".." {
			continue
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "_"
	}
	return filepath.Join(parts...)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
