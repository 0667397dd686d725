package external

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/e2e-framework/klient/wait"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// How the harness knows the CoreDNS edit is live, without exec: a short-lived pod in
// the stand-in's namespace (outside the mesh, like the stand-in) that asks for
// http://<host>/ip (and https://<host>/ip, trusting the run's CA, when the stand-in
// serves TLS) until every answer carries StandinHeader with the stand-in's namespace,
// i.e. until the name resolves, through the cluster DNS every pod uses, to the
// stand-in and nothing else. The pod polls by itself (every checkInterval) and exits
// 0 on success; the harness waits for the pod's phase and reads its log on failure.
// Both ends are bounded: the pod by activeDeadlineSeconds, the harness by Timeouts.DNS.

// CheckPodName is the DNS check pod (in the stand-in's namespace).
const CheckPodName = "egress-standin-dns-check"

const checkInterval = 2 * time.Second

// CheckScript is the shell script of the DNS check pod: it succeeds once every host
// is answered by the stand-in of namespace ns over HTTP (and HTTPS with tls), trying
// at most attempts times.
func CheckScript(hosts []string, ns string, tls bool, attempts int) string {
	var b strings.Builder
	w := func(s string) { b.WriteString(s + "\n") }
	w("set -u")
	w("attempt=1")
	w("while :; do")
	w("  ok=1")
	w("  for h in " + strings.Join(hosts, " ") + "; do")
	schemes := []string{"http"}
	if tls {
		schemes = append(schemes, "https")
	}
	for _, scheme := range schemes {
		flags := "-sS --max-time 5 -D - -o /dev/null"
		if scheme == "https" {
			flags += " --cacert " + caDir + "/" + CAKey
		}
		w(fmt.Sprintf("    if ! curl %s %q 2>&1 | grep -qi '^%s: %s'; then", flags, scheme+"://$h/ip", StandinHeader, ns))
		w(fmt.Sprintf(`      echo "attempt $attempt: %s://$h/ip is not answered by the stand-in yet"; ok=0`, scheme))
		w("    fi")
	}
	w("  done")
	w(`  if [ "$ok" = 1 ]; then echo "every host is answered by the stand-in"; exit 0; fi`)
	w("  attempt=$((attempt+1))")
	w("  if [ \"$attempt\" -gt " + strconv.Itoa(attempts) + " ]; then")
	w(`    echo "giving up"`)
	for _, h := range hosts {
		// The last answer in full, for the report.
		w(fmt.Sprintf("    curl -sS --max-time 5 -i %q 2>&1 | head -n 20", "http://"+h+"/ip"))
	}
	w("    exit 1")
	w("  fi")
	w("  sleep " + strconv.Itoa(int(checkInterval/time.Second)))
	w("done")
	return b.String()
}

// CheckPod is the DNS check pod for the stand-in, running image (default
// versions.CurlImage) for at most timeout.
func (s *Standin) CheckPod(image string, timeout time.Duration) *corev1.Pod {
	if image == "" {
		image = versions.CurlImage
	}
	attempts := int(timeout / checkInterval)
	if attempts < 1 {
		attempts = 1
	}
	c := s.Config
	labels := c.labels()
	labels[AppLabel] = CheckPodName
	labels["sidecar.istio.io/inject"] = "false"
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: CheckPodName, Namespace: c.Namespace, Labels: labels,
			Annotations: map[string]string{"sidecar.istio.io/inject": "false"},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         ptr.To(int64(timeout/time.Second) + 10),
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](100), // curl_user of the curl image
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            "check",
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"/bin/sh", "-c", CheckScript(c.Hosts, c.Namespace, s.TLS(), attempts)},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
	if s.TLS() {
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "ca", MountPath: caDir, ReadOnly: true}}
		pod.Spec.Volumes = []corev1.Volume{{Name: "ca", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: CAConfigMapName},
		}}}}
	}
	return pod
}

// WaitResolvable runs the DNS check pod and waits (at most o.Timeouts.DNS) until it
// has seen every host answered by the stand-in. The pod is deleted afterwards; on
// failure its log is part of the error.
func (s *Standin) WaitResolvable(ctx context.Context, cs kubernetes.Interface, o InstallOptions) error {
	t := o.Timeouts.withDefaults()
	pods := cs.CoreV1().Pods(s.Config.Namespace)
	if err := deletePod(ctx, cs, s.Config.Namespace, CheckPodName, t); err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, t.API)
	_, err := pods.Create(actx, s.CheckPod(o.CheckImage, t.DNS), metav1.CreateOptions{})
	cancel()
	if err != nil {
		return fmt.Errorf("external: create the DNS check pod: %w", err)
	}
	defer func() {
		// Best effort: a leftover check pod dies with the namespace anyway.
		_ = deletePod(context.WithoutCancel(ctx), cs, s.Config.Namespace, CheckPodName, t)
	}()

	var phase corev1.PodPhase
	var reason string
	err = wait.For(func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, CheckPodName, metav1.GetOptions{})
		if err != nil {
			reason = err.Error()
			return false, nil
		}
		phase, reason = p.Status.Phase, podWaitingReason(p)
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, nil
	}, wait.WithContext(ctx), wait.WithTimeout(t.DNS), wait.WithInterval(t.Poll), wait.WithImmediate())
	if err == nil && phase == corev1.PodSucceeded {
		o.say("every host of %v resolves to the stand-in", s.Config.Hosts)
		return nil
	}
	log := podLog(context.WithoutCancel(ctx), cs, s.Config.Namespace, CheckPodName, t.API)
	if err != nil {
		return fmt.Errorf("external: %v did not resolve to the stand-in within %s (check pod phase %q %s): %w; check pod log:\n%s",
			s.Config.Hosts, t.DNS, phase, reason, err, log)
	}
	return fmt.Errorf("external: %v do not resolve to the stand-in (check pod %s); check pod log:\n%s", s.Config.Hosts, phase, log)
}

// podWaitingReason explains a pod that is not running yet (image pull errors …).
func podWaitingReason(p *corev1.Pod) string {
	for _, st := range p.Status.ContainerStatuses {
		if w := st.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason + ": " + w.Message
		}
	}
	return ""
}

func podLog(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rc, err := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{LimitBytes: ptr.To[int64](16 << 10)}).Stream(ctx)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, rc); err != nil {
		fmt.Fprintf(&b, "\n(log cut: %v)", err)
	}
	return b.String()
}

func deletePod(ctx context.Context, cs kubernetes.Interface, ns, name string, t Timeouts) error {
	pods := cs.CoreV1().Pods(ns)
	actx, cancel := context.WithTimeout(ctx, t.API)
	err := pods.Delete(actx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	cancel()
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("external: delete pod %s/%s: %w", ns, name, err)
	}
	err = wait.For(func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}, wait.WithContext(ctx), wait.WithTimeout(t.Delete), wait.WithInterval(t.Poll), wait.WithImmediate())
	if err != nil {
		return fmt.Errorf("external: pod %s/%s still there after %s: %w", ns, name, t.Delete, err)
	}
	return nil
}
