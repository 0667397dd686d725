package upgrade

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/egress-conformance/egress-conformance/pkg/report"
)

// Labels and annotations Istio puts on what it installs and injects.
const (
	// InjectionLabel on a namespace turns on injection by the default revision;
	// it takes precedence over RevisionLabel, so a canary move removes it.
	InjectionLabel = "istio-injection"
	// RevisionLabel names a revision: on a namespace, which control plane
	// injects its pods; on an istioctl gateway's pods, which one rendered them.
	RevisionLabel = "istio.io/rev"
	// InjectionStatusAnnotation is the JSON the injector stamps on every pod it
	// injects (pkg/kube/inject/inject.go, SidecarInjectionStatus), whose
	// "revision" names the injecting control plane.
	InjectionStatusAnnotation = "sidecar.istio.io/status"
	// ProxyContainer is Istio's proxy container in sidecars and gateways.
	ProxyContainer = "istio-proxy"
	// RestartedAtAnnotation is what `kubectl rollout restart` sets on a pod
	// template to roll a Deployment; the harness sets the same.
	RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
)

// AgentVersionCommand asks the proxy container's pilot-agent for its version.
// The path is the proxyv2 image's entrypoint (pilot/docker/Dockerfile.proxyv2:
// COPY … /usr/local/bin/pilot-agent), so no PATH or shell is needed, which the
// distroless variant lacks.
var AgentVersionCommand = []string{"/usr/local/bin/pilot-agent", "version"}

// agentVersionRE finds the version in `pilot-agent version` output: the long
// form `client version: version.BuildInfo{Version:"1.27.0", …}` (the default) and
// the short form `client version: 1.27.0` (--short), both printed by
// pkg/version/cobra.go.
var (
	agentLongRE  = regexp.MustCompile(`Version:"([^"]+)"`)
	agentShortRE = regexp.MustCompile(`(?m)^client version:\s*([0-9][^\s{]*)\s*$`)
)

// ParseAgentVersion reads pilot-agent's own version from `pilot-agent version`.
func ParseAgentVersion(out string) (string, error) {
	if m := agentLongRE.FindStringSubmatch(out); m != nil {
		return m[1], nil
	}
	if m := agentShortRE.FindStringSubmatch(out); m != nil {
		return m[1], nil
	}
	return "", fmt.Errorf("no version in pilot-agent's output %q", clipLine(out))
}

// injectionRevision reads the "revision" of a pod's sidecar.istio.io/status
// annotation; ok is false when the pod has none (not injected: an istioctl
// gateway) or the JSON carries no revision (Istio before revisions).
func injectionRevision(pod *corev1.Pod) (rev string, ok bool, err error) {
	raw, found := pod.Annotations[InjectionStatusAnnotation]
	if !found {
		return "", false, nil
	}
	var st struct {
		Revision *string `json:"revision"`
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return "", false, fmt.Errorf("pod %s/%s: %s is not JSON: %w", pod.Namespace, pod.Name, InjectionStatusAnnotation, err)
	}
	if st.Revision == nil {
		return "", false, nil
	}
	return *st.Revision, true, nil
}

// PodRevision is the revision that gave a pod its proxy: the injector's stamp
// when the pod was injected (sidecars, Gateway API gateways), else the pod's
// istio.io/rev label (istioctl gateways, whose chart sets it on the pod template:
// manifests/charts/gateways/istio-egress/templates/deployment.yaml). "" when it
// carries neither.
func PodRevision(pod *corev1.Pod) (string, string, error) {
	rev, ok, err := injectionRevision(pod)
	if err != nil {
		return "", "", err
	}
	if ok {
		return rev, InjectionStatusAnnotation, nil
	}
	if rev, ok := pod.Labels[RevisionLabel]; ok {
		return rev, "label " + RevisionLabel, nil
	}
	return "", "", nil
}

// ProxyImage is the image the pod's istio-proxy container runs: the container
// status's image when the kubelet reported one (what runs), else the spec's.
// Native sidecars (an init container with restartPolicy Always) count too.
func ProxyImage(pod *corev1.Pod) (string, bool) {
	for _, cs := range append(append([]corev1.ContainerStatus(nil), pod.Status.ContainerStatuses...), pod.Status.InitContainerStatuses...) {
		if cs.Name == ProxyContainer && cs.Image != "" {
			return cs.Image, true
		}
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == ProxyContainer {
			return c.Image, true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == ProxyContainer && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return c.Image, true
		}
	}
	return "", false
}

// imageVariants are the proxy image variants Istio publishes as tag suffixes
// (the charts append "-<variant>" to the tag).
var imageVariants = []string{"distroless", "debug"}

// ImageTagVersion is the Istio version an image's tag names, without a variant
// suffix: docker.io/istio/proxyv2:1.31.4-distroless → 1.31.4. ok is false when the
// tag is no release version (a digest only, "latest", a custom tag): then the tag
// says nothing and pilot-agent's own answer decides.
func ImageTagVersion(image string) (string, bool) {
	name, _, _ := strings.Cut(image, "@")
	i := strings.LastIndex(name, ":")
	if i < 0 || i < strings.LastIndex(name, "/") {
		return "", false
	}
	tag := name[i+1:]
	for _, v := range imageVariants {
		tag = strings.TrimSuffix(tag, "-"+v)
	}
	if _, err := ParseVersion(tag); err != nil {
		return "", false
	}
	return tag, true
}

// CheckProxy judges one pod against want from its spec and status and from
// pilot-agent's answer (agentOut, agentErr of the exec; both empty when it was not
// run). A pod passes when it is Ready, its revision is want's, its image tag (when
// it names a version) is want's version and pilot-agent reports want's version.
func CheckProxy(pod *corev1.Pod, role, phase string, want ProxyExpectation, agentOut string, agentErr error) report.ProxyCheck {
	c := report.ProxyCheck{Phase: phase, Role: role, Namespace: pod.Namespace, Pod: pod.Name}
	var problems []string
	img, ok := ProxyImage(pod)
	if !ok {
		problems = append(problems, "no "+ProxyContainer+" container")
	}
	c.Image = img
	if v, ok := ImageTagVersion(img); ok && v != want.Version {
		problems = append(problems, fmt.Sprintf("image %s is Istio %s, not %s", img, v, want.Version))
	}
	rev, from, err := PodRevision(pod)
	switch {
	case err != nil:
		problems = append(problems, err.Error())
	case from == "":
		problems = append(problems, "no revision: neither "+InjectionStatusAnnotation+" nor label "+RevisionLabel)
	case rev != want.Revision:
		problems = append(problems, fmt.Sprintf("revision %s (%s), not %s", rev, from, want.Revision))
	}
	c.Revision = rev
	switch {
	case agentErr != nil:
		problems = append(problems, "pilot-agent version: "+agentErr.Error())
	case agentOut == "":
		problems = append(problems, "pilot-agent version not asked")
	default:
		v, err := ParseAgentVersion(agentOut)
		c.AgentVersion = v
		switch {
		case err != nil:
			problems = append(problems, err.Error())
		case v != want.Version:
			problems = append(problems, fmt.Sprintf("pilot-agent reports %s, not %s", v, want.Version))
		}
	}
	if why := podNotReady(pod); why != "" {
		problems = append(problems, why)
	}
	c.OK = len(problems) == 0
	c.Problem = strings.Join(problems, "; ")
	return c
}

func podNotReady(p *corev1.Pod) string {
	if p.Status.Phase != corev1.PodRunning {
		return "pod is " + string(p.Status.Phase)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return ""
		}
	}
	return "pod is not Ready"
}

func clipLine(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
