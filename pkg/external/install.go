package external

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/klient/wait"

	"github.com/egress-conformance/egress-conformance/pkg/cluster"
)

// CoreDNS's ConfigMap, as kubeadm (and so kind) names it.
const (
	CoreDNSNamespace = "kube-system"
	CoreDNSConfigMap = "coredns"
	CorefileKey      = "Corefile"
)

// ErrExistingCluster is returned when hermetic mode is asked for on a cluster the
// harness did not create: it edits CoreDNS, which belongs to whoever owns the cluster.
var ErrExistingCluster = errors.New("hermetic external mode edits CoreDNS and is refused on a cluster egress-conformance did not create")

// InstallOptions say how Install and Uninstall may touch the cluster.
type InstallOptions struct {
	// KindCluster is the name of the kind cluster the harness created (or reuses as
	// its own): its ownership marker (pkg/cluster) must name it. "" means an existing
	// cluster (KUBE_CONTEXT), where Install refuses unless AllowExistingCluster.
	KindCluster string
	// AllowExistingCluster (EXTERNAL_ALLOW_EXISTING_CLUSTER=1) lets Install edit
	// CoreDNS of a cluster the harness did not create.
	AllowExistingCluster bool
	// CheckImage is the image of the DNS check pod (it needs sh and curl); default
	// versions.CurlImage, which the clients use anyway.
	CheckImage string
	Timeouts   Timeouts
	// Out receives one line per long step; nil means quiet.
	Out io.Writer
}

// Timeouts bound every wait of this package; zero fields take DefaultTimeouts.
type Timeouts struct {
	// API bounds single API calls.
	API time.Duration
	// Ready bounds the wait for the stand-in Deployment.
	Ready time.Duration
	// DNS bounds the wait until the hosts resolve to the stand-in from a pod: the
	// kubelet's ConfigMap refresh, CoreDNS's reload interval and its cache TTL.
	DNS time.Duration
	// Delete bounds the wait for the namespace to go away.
	Delete time.Duration
	// Poll is the interval between checks.
	Poll time.Duration
}

// DefaultTimeouts returns the timeouts used for zero fields.
func DefaultTimeouts() Timeouts {
	return Timeouts{API: 30 * time.Second, Ready: 3 * time.Minute, DNS: 4 * time.Minute, Delete: 2 * time.Minute, Poll: 2 * time.Second}
}

func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts()
	for _, p := range []struct{ v, d *time.Duration }{{&t.API, &d.API}, {&t.Ready, &d.Ready}, {&t.DNS, &d.DNS}, {&t.Delete, &d.Delete}, {&t.Poll, &d.Poll}} {
		if *p.v <= 0 {
			*p.v = *p.d
		}
	}
	return t
}

func (o InstallOptions) say(format string, args ...any) {
	if o.Out != nil {
		fmt.Fprintf(o.Out, "external: "+format+"\n", args...)
	}
}

// CheckOwnership is Install's guard: nil when the cluster is the harness's own kind
// cluster (its ownership marker names o.KindCluster) or o.AllowExistingCluster.
func CheckOwnership(ctx context.Context, cs kubernetes.Interface, o InstallOptions) error {
	if o.AllowExistingCluster {
		return nil
	}
	if o.KindCluster == "" {
		return fmt.Errorf("%w: set %s=1 to let it add rewrite rules to %s/%s (they are removed again on clean-up), or run %s=%s",
			ErrExistingCluster, EnvAllowExistingCluster, CoreDNSNamespace, CoreDNSConfigMap, EnvMode, ModeInternet)
	}
	t := o.Timeouts.withDefaults()
	actx, cancel := context.WithTimeout(ctx, t.API)
	defer cancel()
	cm, err := cs.CoreV1().ConfigMaps(cluster.MarkerNamespace).Get(actx, cluster.MarkerName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("external: read the cluster ownership marker: %w", err)
	}
	if _, err := cluster.ParseMarker(cm, o.KindCluster); err != nil {
		return fmt.Errorf("%w: kind cluster %q %v", ErrExistingCluster, o.KindCluster, err)
	}
	return nil
}

// Install deploys the stand-in, waits for it, adds its rewrite rules to CoreDNS and
// waits until a pod resolves every host to it. It is idempotent. Call Uninstall when
// done, also when Install failed half-way: it removes whatever was done.
func (s *Standin) Install(ctx context.Context, cs kubernetes.Interface, o InstallOptions) error {
	if err := CheckOwnership(ctx, cs, o); err != nil {
		return err
	}
	t := o.Timeouts.withDefaults()
	o.say("deploying the stand-in for %v in namespace %s", s.Config.Hosts, s.Config.Namespace)
	for _, obj := range s.Objects() {
		if err := apply(ctx, cs, obj, t.API); err != nil {
			return err
		}
	}
	if err := waitDeployment(ctx, cs, s.Config.Namespace, Name, t); err != nil {
		return err
	}
	changed, err := s.PatchCoreDNS(ctx, cs, t)
	if err != nil {
		return err
	}
	if changed {
		o.say("added rewrite rules to %s/%s; waiting for CoreDNS to reload them", CoreDNSNamespace, CoreDNSConfigMap)
	}
	return s.WaitResolvable(ctx, cs, o)
}

// Uninstall removes the CoreDNS rules and the stand-in's namespace. It only deletes
// a namespace that carries the harness's managed-by label, and tolerates what is
// already gone. Errors of one part do not stop the other.
func (s *Standin) Uninstall(ctx context.Context, cs kubernetes.Interface, o InstallOptions) error {
	t := o.Timeouts.withDefaults()
	_, errDNS := UnpatchCoreDNS(ctx, cs, t)
	return errors.Join(errDNS, deleteNamespace(ctx, cs, s.Config.Namespace, t))
}

// PatchCoreDNS adds the stand-in's rewrite rules to the Corefile (PatchCorefile),
// retrying on update conflicts. changed is false when they were there already.
func (s *Standin) PatchCoreDNS(ctx context.Context, cs kubernetes.Interface, t Timeouts) (changed bool, err error) {
	return editCorefile(ctx, cs, t.withDefaults(), false, func(cf string) (string, error) {
		return PatchCorefile(cf, s.Config.Hosts, s.Config.Target())
	})
}

// UnpatchCoreDNS removes the marked block from the Corefile (UnpatchCorefile).
// A missing ConfigMap or block is not an error.
func UnpatchCoreDNS(ctx context.Context, cs kubernetes.Interface, t Timeouts) (changed bool, err error) {
	return editCorefile(ctx, cs, t.withDefaults(), true, UnpatchCorefile)
}

func editCorefile(ctx context.Context, cs kubernetes.Interface, t Timeouts, missingOK bool, edit func(string) (string, error)) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		actx, cancel := context.WithTimeout(ctx, t.API)
		defer cancel()
		cms := cs.CoreV1().ConfigMaps(CoreDNSNamespace)
		cm, err := cms.Get(actx, CoreDNSConfigMap, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && missingOK {
			return nil
		}
		if err != nil {
			return err
		}
		cf, ok := cm.Data[CorefileKey]
		if !ok {
			if missingOK {
				return nil
			}
			return fmt.Errorf("%w: ConfigMap %s/%s has no key %q", ErrCorefile, CoreDNSNamespace, CoreDNSConfigMap, CorefileKey)
		}
		out, err := edit(cf)
		if err != nil {
			return err
		}
		if out == cf {
			return nil
		}
		cm = cm.DeepCopy()
		cm.Data[CorefileKey] = out
		if _, err := cms.Update(actx, cm, metav1.UpdateOptions{}); err != nil {
			return err
		}
		changed = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("external: edit %s/%s: %w", CoreDNSNamespace, CoreDNSConfigMap, err)
	}
	return changed, nil
}

// getCreateUpdate is the part of a typed client-go client apply needs.
type getCreateUpdate[T client.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// apply creates obj, or updates it when it exists and carries the harness's label.
func apply(ctx context.Context, cs kubernetes.Interface, obj client.Object, timeout time.Duration) error {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var err error
	switch o := obj.(type) {
	case *corev1.Namespace:
		err = createOrUpdate(actx, cs.CoreV1().Namespaces(), o, nil)
	case *corev1.ConfigMap:
		err = createOrUpdate(actx, cs.CoreV1().ConfigMaps(o.Namespace), o, nil)
	case *corev1.Secret:
		err = createOrUpdate(actx, cs.CoreV1().Secrets(o.Namespace), o, nil)
	case *corev1.Service:
		err = createOrUpdate(actx, cs.CoreV1().Services(o.Namespace), o, func(cur, want *corev1.Service) {
			// Immutable once allocated.
			want.Spec.ClusterIP = cur.Spec.ClusterIP
			want.Spec.ClusterIPs = cur.Spec.ClusterIPs
			want.Spec.IPFamilies = cur.Spec.IPFamilies
			want.Spec.IPFamilyPolicy = cur.Spec.IPFamilyPolicy
		})
	case *appsv1.Deployment:
		err = createOrUpdate(actx, cs.AppsV1().Deployments(o.Namespace), o, nil)
	default:
		err = fmt.Errorf("no client for %T", obj)
	}
	if err != nil {
		return fmt.Errorf("external: apply %s: %w", describe(obj), err)
	}
	return nil
}

func createOrUpdate[T client.Object](ctx context.Context, c getCreateUpdate[T], want T, merge func(cur, want T)) error {
	_, err := c.Create(ctx, want, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.Get(ctx, want.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !isOurs(cur.GetLabels()) {
			return ErrNotOurs
		}
		upd := want.DeepCopyObject().(T)
		upd.SetResourceVersion(cur.GetResourceVersion())
		if merge != nil {
			merge(cur, upd)
		}
		_, err = c.Update(ctx, upd, metav1.UpdateOptions{})
		return err
	})
}

// waitDeployment waits until the Deployment's current generation is rolled out and
// available.
func waitDeployment(ctx context.Context, cs kubernetes.Interface, ns, name string, t Timeouts) error {
	var last string
	err := wait.For(func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready, why := deploymentReady(d)
		last = why
		return ready, nil
	}, wait.WithContext(ctx), wait.WithTimeout(t.Ready), wait.WithInterval(t.Poll), wait.WithImmediate())
	if err != nil {
		return fmt.Errorf("external: Deployment %s/%s not ready within %s (%s): %w", ns, name, t.Ready, last, err)
	}
	return nil
}

func deploymentReady(d *appsv1.Deployment) (bool, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	switch {
	case st.ObservedGeneration < d.Generation:
		return false, fmt.Sprintf("generation %d not observed yet (at %d)", d.Generation, st.ObservedGeneration)
	case st.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
	case st.AvailableReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas available", st.AvailableReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas still running", st.Replicas-st.UpdatedReplicas)
	}
	return true, "ready"
}

// deleteNamespace deletes namespace ns if it is the harness's and waits until it is gone.
func deleteNamespace(ctx context.Context, cs kubernetes.Interface, ns string, t Timeouts) error {
	actx, cancel := context.WithTimeout(ctx, t.API)
	cur, err := cs.CoreV1().Namespaces().Get(actx, ns, metav1.GetOptions{})
	cancel()
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("external: namespace %s: %w", ns, err)
	}
	if !isOurs(cur.Labels) {
		return fmt.Errorf("external: namespace %s %w: not deleting it", ns, ErrNotOurs)
	}
	actx, cancel = context.WithTimeout(ctx, t.API)
	err = cs.CoreV1().Namespaces().Delete(actx, ns, metav1.DeleteOptions{})
	cancel()
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("external: delete namespace %s: %w", ns, err)
	}
	err = wait.For(func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}, wait.WithContext(ctx), wait.WithTimeout(t.Delete), wait.WithInterval(t.Poll), wait.WithImmediate())
	if err != nil {
		return fmt.Errorf("external: namespace %s still there after %s: %w", ns, t.Delete, err)
	}
	return nil
}
