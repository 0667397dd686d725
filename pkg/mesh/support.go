package mesh

import (
	"fmt"
	"strconv"
	"strings"
)

// k8sRange is an inclusive range of Kubernetes 1.x minors. max 0 means Istio has
// published no upper bound yet: only the floor is known.
type k8sRange struct{ min, max int }

// kubernetesSupport maps an Istio 1.x minor to the Kubernetes minors it is
// officially supported on. docs/versions.md says how each entry was checked.
//
// Sources (checked 2026-12):
//   - 1.26–1.30: istio/istio.io data/compatibility/supportStatus.yml (master, after
//     the 1.30 entry was added in istio/istio.io#17347, "Min k8s 1.32, range
//     1.32-1.36"), the data behind istio.io/latest/docs/releases/supported-releases.
//     1.30 also: content/en/news/releases/1.30.x/announcing-1.30/_index.md,
//     "Istio 1.30.0 is officially supported on Kubernetes versions 1.32 to 1.36."
//   - 1.31: istio/istio.io content/en/news/releases/1.31.x/announcing-1.31/_index.md,
//     "Istio 1.31.0 is officially supported on Kubernetes versions 1.32 to 1.36.";
//     istio release-1.31 istioctl/pkg/install/k8sversion/version.go has
//     MinK8SVersion = 32.
//   - 1.32: floor only. istio/istio master at VERSION 1.32 (commit 86c9f01fd735,
//     2026-08-22, after release-1.31 was cut) has MinK8SVersion = 32 in
//     istioctl/pkg/install/k8sversion/version.go, the floor istioctl install itself
//     warns below. No istio.io announcement or supportStatus.yml entry for 1.32 was
//     found in the sources available (istio.io's announcement-1.32 page is absent),
//     so the upper bound is unknown: SupportsKubernetes accepts 1.32 on 1.32 or newer
//     and says the upper bound is unpublished. Replace {32, 0} with the published
//     range when istio.io has it.
var kubernetesSupport = map[int]k8sRange{
	26: {29, 33},
	27: {29, 33},
	28: {30, 34},
	29: {31, 35},
	30: {32, 36},
	31: {32, 36},
	32: {32, 0},
}

// String is "1.32–1.36", or "1.32 or newer (no published upper bound)".
func (r k8sRange) String() string {
	if r.max == 0 {
		return fmt.Sprintf("1.%d or newer (no published upper bound)", r.min)
	}
	return fmt.Sprintf("1.%d–1.%d", r.min, r.max)
}

// SupportsKubernetes says whether Istio istioVersion ("1.31", "1.31.4") is
// officially supported on Kubernetes k8sMinor ("1.35", "v1.35.8"), and gives the
// supported range ("1.32–1.36"). The range is empty when the table has no entry
// for that Istio minor or a version does not parse; CheckKubernetes says which.
// For an Istio minor whose upper bound is not published only the floor is checked.
func SupportsKubernetes(istioVersion, k8sMinor string) (bool, string) {
	im, err := minorOf(istioVersion)
	if err != nil {
		return false, ""
	}
	r, ok := kubernetesSupport[im]
	if !ok {
		return false, ""
	}
	rng := r.String()
	km, err := minorOf(k8sMinor)
	if err != nil {
		return false, rng
	}
	return r.min <= km && (r.max == 0 || km <= r.max), rng
}

// UpperBoundPublished says whether Istio has published the newest Kubernetes
// minor istioVersion supports (false for a minor known only by its floor, and for
// one the table does not know).
func UpperBoundPublished(istioVersion string) bool {
	im, err := minorOf(istioVersion)
	if err != nil {
		return false
	}
	r, ok := kubernetesSupport[im]
	return ok && r.max != 0
}

// CheckKubernetes is SupportsKubernetes as an error that says what is wrong: an
// unparsable version, an Istio minor without support data, or a Kubernetes
// version outside the supported range.
func CheckKubernetes(istioVersion, k8sVersion string) error {
	if _, err := minorOf(istioVersion); err != nil {
		return fmt.Errorf("bad Istio version: %w", err)
	}
	if _, err := minorOf(k8sVersion); err != nil {
		return fmt.Errorf("bad Kubernetes version: %w", err)
	}
	ok, rng := SupportsKubernetes(istioVersion, k8sVersion)
	switch {
	case rng == "":
		return fmt.Errorf("no Kubernetes support data for Istio %s: add it to pkg/mesh/support.go from istio.io's supported-releases page", istioVersion)
	case !ok:
		return fmt.Errorf("unsupported pair: Istio %s is supported on Kubernetes %s, not %s", istioVersion, rng, k8sVersion)
	}
	return nil
}

// minorOf returns the minor of a 1.x version: "1.31", "1.31.4", "v1.35.8",
// "1.32.0-rc.1".
func minorOf(v string) (int, error) {
	s := strings.TrimPrefix(strings.TrimSpace(v), "v")
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 || parts[0] != "1" {
		return 0, fmt.Errorf("%q is not a 1.x version", v)
	}
	minor := parts[1]
	if i := strings.IndexAny(minor, "-+"); i >= 0 {
		minor = minor[:i]
	}
	n, err := strconv.Atoi(minor)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a 1.x version", v)
	}
	return n, nil
}

// OfflineDivergence says, when the cluster tier tests Istio installed but the
// offline tier's linked library is another release line (the module proxy serves
// istio.io/istio only up to release-1.31 while the cluster default is 1.32), that
// an offline verdict is evidence about the library's Istio, not the installed one.
// library is the library's release line ("1.31"); it returns "" when the minors agree.
func OfflineDivergence(installed, library string) string {
	im, err1 := minorOf(installed)
	lm, err2 := minorOf(library)
	if err1 == nil && err2 == nil && im == lm {
		return ""
	}
	return fmt.Sprintf("the offline tier simulates Istio %s (the istio.io/istio library it links), this run tests Istio %s: "+
		"an offline pass is evidence about %s, and a scenario that passes offline but fails here may be a change between the two releases",
		library, installed, library)
}
