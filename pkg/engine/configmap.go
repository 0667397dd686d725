package engine

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/egress-conformance/egress-conformance/pkg/deploy"
)

// ApplyRunConfigMap creates cm labelled with the run, or updates it when this run
// created it already (an earlier scenario sharing the namespace). A ConfigMap of
// that name that is not this run's is never changed: the harness touches only
// what it created. Both cluster suites give namespaces the hermetic stand-in's CA
// through it.
func ApplyRunConfigMap(ctx context.Context, kube kubernetes.Interface, cm *corev1.ConfigMap, runID string) error {
	cm = cm.DeepCopy()
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels[deploy.RunLabel] = runID
	cms := kube.CoreV1().ConfigMaps(cm.Namespace)
	_, err := cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: deploy.FieldManager})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur, err := cms.Get(ctx, cm.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if cur.Labels[deploy.RunLabel] != runID {
		return fmt.Errorf("ConfigMap %s/%s exists and is not this run's (%s=%q): %w", cm.Namespace, cm.Name,
			deploy.RunLabel, cur.Labels[deploy.RunLabel], deploy.ErrNotOurs)
	}
	cm.ResourceVersion = cur.ResourceVersion
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: deploy.FieldManager})
	return err
}
