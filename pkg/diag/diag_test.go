package diag

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// The fake clientset stands in for the API server (its GetLogs answers "fake logs");
// fakeExec stands in for pods/exec. Nothing here pretends a cluster ran: the tests
// check what is asked for and where the answers are written.

const scenarioNS = "egress-egress-gateway-http"

func pod(ns, name string, labels map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels,
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "img"})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c})
	}
	return p
}

func event(ns, name, reason, msg string, at time.Time) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "x"},
		Type:           "Warning", Reason: reason, Message: msg, Count: 2,
		LastTimestamp: metav1.NewTime(at),
	}
}

func world() *fake.Clientset {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	client := pod(scenarioNS, "sleep-7d9f", map[string]string{"app": "sleep"}, "sleep", ProxyContainer)
	client.Spec.InitContainers = []corev1.Container{{Name: "istio-init"}}
	client.Status.ContainerStatuses[1].RestartCount = 1
	other := pod(scenarioNS, "helper", map[string]string{"app": "helper"}, "main")
	gw := pod("istio-system", "istio-egressgateway-5c4f", map[string]string{"istio": "egressgateway"}, ProxyContainer)
	istiod := pod("istio-system", "istiod-6b8", map[string]string{"app": "istiod"}, "discovery")
	ingress := pod("istio-system", "istio-ingressgateway-1", map[string]string{"istio": "ingressgateway"}, ProxyContainer)
	standin := pod("egress-conformance-external", "egress-standin-1", map[string]string{"app": "standin"}, "nginx")
	return fake.NewClientset(client, other, gw, istiod, ingress, standin,
		event(scenarioNS, "late", "BackOff", "back-off restarting", t0.Add(time.Minute)),
		event(scenarioNS, "early", "Pulled", "image pulled", t0),
		event("istio-system", "gw", "Unhealthy", "readiness probe failed", t0),
	)
}

// fakeExec answers pilot-agent requests and records them.
type fakeExec struct {
	mu    sync.Mutex
	calls []string
	// fail: pod → exit code for config_dump.
	fail map[string]int
	// block makes every call wait for its context.
	block bool
}

func (f *fakeExec) Exec(ctx context.Context, ns, pod, container string, cmd []string, stdout, stderr io.Writer) (int, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s/%s/%s: %s", ns, pod, container, strings.Join(cmd, " ")))
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return -1, ctx.Err()
	}
	if code := f.fail[pod]; code != 0 && strings.HasPrefix(cmd[len(cmd)-1], "config_dump") {
		fmt.Fprint(stderr, "connection refused")
		return code, nil
	}
	fmt.Fprintf(stdout, `{"path": %q, "pod": %q}`, cmd[len(cmd)-1], pod)
	return 0, nil
}

func read(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return string(b)
}

func exists(dir, rel string) bool {
	_, err := os.Stat(filepath.Join(dir, rel))
	return err == nil
}

func bundle() scenario.Bundle {
	return scenario.Bundle{
		{File: "serviceentry.yaml", Line: 1, Kind: "ServiceEntry", Name: "httpbin", YAML: []byte("kind: ServiceEntry\nmetadata: {name: httpbin}\n")},
		{File: "gateway.yaml", Line: 3, Kind: "Gateway", Name: "gw", Namespace: "istio-system", YAML: []byte("kind: Gateway\nmetadata: {name: gw}")},
	}
}

func TestCollectEverything(t *testing.T) {
	dir := t.TempDir()
	ex := &fakeExec{}
	c := Collector{Client: world(), Exec: ex}
	err := c.Collect(context.Background(), dir, Target{
		Namespace:       scenarioNS,
		ClientSelector:  "app=sleep",
		ExtraNamespaces: []string{"egress-conformance-external"},
		Bundle:          bundle(),
		Files:           map[string][]byte{"failure.txt": []byte("step after-routing: no gateway line")},
	})
	if err != nil {
		t.Fatalf("Collect: %v\n%s", err, readIfExists(dir, "errors.txt"))
	}
	if exists(dir, "errors.txt") {
		t.Errorf("errors.txt written: %s", read(t, dir, "errors.txt"))
	}

	for _, rel := range []string{
		"failure.txt",
		"bundle/applied.yaml",
		scenarioNS + "/pods.yaml", scenarioNS + "/events.txt", scenarioNS + "/events.yaml",
		scenarioNS + "/logs/sleep-7d9f/sleep.log",
		scenarioNS + "/logs/sleep-7d9f/istio-proxy.log",
		scenarioNS + "/logs/sleep-7d9f/istio-proxy.previous.log",
		scenarioNS + "/logs/sleep-7d9f/istio-init.log",
		scenarioNS + "/logs/helper/main.log",
		scenarioNS + "/envoy/sleep-7d9f/config_dump.json",
		scenarioNS + "/envoy/sleep-7d9f/clusters.txt",
		scenarioNS + "/envoy/sleep-7d9f/server_info.json",
		"istio-system/pods.yaml", "istio-system/events.txt",
		"istio-system/logs/istio-egressgateway-5c4f/istio-proxy.log",
		"istio-system/envoy/istio-egressgateway-5c4f/config_dump.json",
		"istio-system/logs/istiod-6b8/discovery.log",
		"egress-conformance-external/pods.yaml",
		"egress-conformance-external/logs/egress-standin-1/nginx.log",
		"summary.txt",
	} {
		if !exists(dir, rel) {
			t.Errorf("%s not written", rel)
		}
	}
	// Not collected: the other pod's Envoy (not a client), the ingress gateway, the
	// stand-in's Envoy (it has none).
	for _, rel := range []string{
		scenarioNS + "/envoy/helper", "istio-system/logs/istio-ingressgateway-1", "istio-system/envoy/istio-ingressgateway-1",
		"egress-conformance-external/envoy",
	} {
		if exists(dir, rel) {
			t.Errorf("%s written", rel)
		}
	}

	if got := read(t, dir, scenarioNS+"/logs/sleep-7d9f/istio-proxy.log"); got != "fake logs" {
		t.Errorf("log = %q", got)
	}
	if got := read(t, dir, "failure.txt"); got != "step after-routing: no gateway line" {
		t.Errorf("failure.txt = %q", got)
	}
	if got := read(t, dir, scenarioNS+"/envoy/sleep-7d9f/config_dump.json"); got != `{"path": "config_dump?include_eds", "pod": "sleep-7d9f"}` {
		t.Errorf("config dump = %q", got)
	}
	wantCalls := []string{
		scenarioNS + "/sleep-7d9f/istio-proxy: pilot-agent request GET config_dump?include_eds",
		scenarioNS + "/sleep-7d9f/istio-proxy: pilot-agent request GET clusters",
		scenarioNS + "/sleep-7d9f/istio-proxy: pilot-agent request GET server_info",
		"istio-system/istio-egressgateway-5c4f/istio-proxy: pilot-agent request GET config_dump?include_eds",
		"istio-system/istio-egressgateway-5c4f/istio-proxy: pilot-agent request GET clusters",
		"istio-system/istio-egressgateway-5c4f/istio-proxy: pilot-agent request GET server_info",
	}
	if !slices.Equal(ex.calls, wantCalls) {
		t.Errorf("exec calls:\n%s\nwant\n%s", strings.Join(ex.calls, "\n"), strings.Join(wantCalls, "\n"))
	}

	// Pods: a v1 List, without managedFields.
	var pods corev1.PodList
	if err := yaml.Unmarshal([]byte(read(t, dir, scenarioNS+"/pods.yaml")), &pods); err != nil {
		t.Fatal(err)
	}
	if pods.Kind != "List" || len(pods.Items) != 2 || pods.Items[0].Kind != "Pod" || pods.Items[0].ManagedFields != nil {
		t.Errorf("pods.yaml: kind %q, %d items, first %+v", pods.Kind, len(pods.Items), pods.Items[0].TypeMeta)
	}
	// Events oldest first, with counts.
	ev := read(t, dir, scenarioNS+"/events.txt")
	if !strings.HasPrefix(ev, "2026-11-25T12:00:00Z  Warning  Pulled") || !strings.Contains(ev, "BackOff                   Pod/x (x2)  back-off restarting") {
		t.Errorf("events.txt:\n%s", ev)
	}
	// Bundle: each document with its origin.
	want := "# serviceentry.yaml:1 ServiceEntry (scenario namespace)/httpbin\nkind: ServiceEntry\nmetadata: {name: httpbin}\n" +
		"---\n# gateway.yaml:3 Gateway istio-system/gw\nkind: Gateway\nmetadata: {name: gw}\n"
	if got := read(t, dir, "bundle/applied.yaml"); got != want {
		t.Errorf("applied.yaml:\n%s\nwant\n%s", got, want)
	}
	if s := read(t, dir, "summary.txt"); !strings.Contains(s, "items failed: 0") || !strings.Contains(s, "  istio-system/envoy/istio-egressgateway-5c4f/clusters.txt\n") {
		t.Errorf("summary.txt:\n%s", s)
	}
}

// A file a workload writes instead of logging (the http-proxy scenario's squid writes
// access.log) is copied through pods/exec, in the workload's own container, and its
// namespace's pods and logs are collected like the stand-in's.
func TestCollectContainerFiles(t *testing.T) {
	const proxyNS = "egress-http-proxy-external"
	cs := world()
	if _, err := cs.CoreV1().Pods(proxyNS).Create(context.Background(),
		pod(proxyNS, "squid-1", map[string]string{"app": "squid"}, "squid"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	target := Target{
		Namespace:       scenarioNS,
		ExtraNamespaces: []string{proxyNS},
		ContainerFiles:  []ContainerFile{{Namespace: proxyNS, Pod: "squid-1", Container: "squid", Path: "/var/log/squid/access.log"}},
	}

	dir := t.TempDir()
	ex := &fakeExec{}
	if err := (Collector{Client: cs, Exec: ex}).Collect(context.Background(), dir, target); err != nil {
		t.Fatalf("Collect: %v\n%s", err, readIfExists(dir, "errors.txt"))
	}
	wantCall := proxyNS + "/squid-1/squid: tail -c 10485760 /var/log/squid/access.log"
	if !slices.Contains(ex.calls, wantCall) {
		t.Errorf("exec calls:\n%s\nwant among them %q", strings.Join(ex.calls, "\n"), wantCall)
	}
	rel := proxyNS + "/files/squid-1/squid/var/log/squid/access.log"
	if got := read(t, dir, rel); got != `{"path": "/var/log/squid/access.log", "pod": "squid-1"}` {
		t.Errorf("%s = %q", rel, got)
	}
	if !exists(dir, proxyNS+"/logs/squid-1/squid.log") {
		t.Errorf("the workload's container log was not collected")
	}

	// Without an Executor the file cannot be read: said in errors.txt, not skipped quietly.
	dir = t.TempDir()
	err := (Collector{Client: cs}).Collect(context.Background(), dir, target)
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(read(t, dir, "errors.txt"),
		"file /var/log/squid/access.log in "+proxyNS+"/squid-1 container squid: no Executor") {
		t.Errorf("Collect without Executor: %v\n%s", err, readIfExists(dir, "errors.txt"))
	}
}

func readIfExists(dir, rel string) string {
	b, _ := os.ReadFile(filepath.Join(dir, rel))
	return string(b)
}

func TestCollectGoesOnAfterFailures(t *testing.T) {
	dir := t.TempDir()
	cs := world()
	cs.PrependReactor("list", "events", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() == "istio-system" {
			return true, nil, errors.New("etcd is on fire")
		}
		return false, nil, nil
	})
	ex := &fakeExec{fail: map[string]int{"istio-egressgateway-5c4f": 7}}
	err := Collector{Client: cs, Exec: ex}.Collect(context.Background(), dir, Target{Namespace: scenarioNS})
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "2 items failed") {
		t.Fatalf("Collect err = %v", err)
	}
	errs := read(t, dir, "errors.txt")
	for _, want := range []string{
		"events istio-system: etcd is on fire",
		`envoy config_dump?include_eds of istio-system/istio-egressgateway-5c4f: "pilot-agent request GET config_dump?include_eds" exited 7: connection refused`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors.txt lacks %q:\n%s", want, errs)
		}
	}
	// Everything else is there.
	for _, rel := range []string{
		"istio-system/pods.yaml",
		"istio-system/envoy/istio-egressgateway-5c4f/clusters.txt",
		scenarioNS + "/envoy/sleep-7d9f/config_dump.json",
		"istio-system/logs/istiod-6b8/discovery.log",
	} {
		if !exists(dir, rel) {
			t.Errorf("%s not written after an earlier failure", rel)
		}
	}
}

func TestCollectWithoutExecutor(t *testing.T) {
	dir := t.TempDir()
	err := Collector{Client: world()}.Collect(context.Background(), dir, Target{Namespace: scenarioNS, GatewaySelector: "istio=nothing"})
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("err = %v", err)
	}
	errs := read(t, dir, "errors.txt")
	if !strings.Contains(errs, "no Executor: Envoy dumps skipped") || !strings.Contains(errs, `no pod in istio-system matches "istio=nothing"`) {
		t.Errorf("errors.txt:\n%s", errs)
	}
	if !exists(dir, scenarioNS+"/logs/sleep-7d9f/istio-proxy.log") {
		t.Error("logs not collected")
	}
}

func TestCollectIsBounded(t *testing.T) {
	dir := t.TempDir()
	ex := &fakeExec{block: true}
	start := time.Now()
	err := Collector{Client: world(), Exec: ex, Timeout: 300 * time.Millisecond, ItemTimeout: 50 * time.Millisecond}.
		Collect(context.Background(), dir, Target{Namespace: scenarioNS})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Collect took %s with a 300ms bound", took)
	}
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(read(t, dir, "errors.txt"), "deadline exceeded") {
		t.Errorf("err = %v", err)
	}
	if !exists(dir, "summary.txt") || !exists(dir, scenarioNS+"/pods.yaml") {
		t.Error("a slow executor stopped the rest")
	}
}

func TestCollectRefusals(t *testing.T) {
	if err := (Collector{}).Collect(context.Background(), t.TempDir(), Target{}); err == nil {
		t.Error("nil client accepted")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (Collector{Client: fake.NewClientset()}).Collect(context.Background(), filepath.Join(file, "sub"), Target{}); err == nil || errors.Is(err, ErrIncomplete) {
		t.Errorf("unwritable dir: %v", err)
	}
}

func TestFilesStayInside(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "scenario")
	_ = Collector{Client: fake.NewClientset(), Exec: &fakeExec{}}.Collect(context.Background(), sub, Target{
		Files: map[string][]byte{"../../evil.txt": []byte("x"), "/etc/passwd": []byte("y"), "notes/a b.txt": []byte("z")},
	})
	for _, rel := range []string{"evil.txt", "etc/passwd", "notes/a_b.txt"} {
		if !exists(sub, rel) {
			t.Errorf("%s not under the directory", rel)
		}
	}
	if exists(dir, "evil.txt") {
		t.Error("a file escaped the directory")
	}
}

func TestCleanRel(t *testing.T) {
	for in, want := range map[string]string{
		"a/b.log": "a/b.log", "../x": "x", "..": "_", "": "_", "a//./b": "a/b", "pod name:1": "pod_name_1", "...": "...",
	} {
		if got := filepath.ToSlash(cleanRel(in)); got != want {
			t.Errorf("cleanRel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDir(t *testing.T) {
	if got := Dir(filepath.Join("reports", "run-1"), "egress-gateway-http"); got != filepath.Join("reports", "run-1", "egress-gateway-http") {
		t.Errorf("Dir = %q", got)
	}
}
