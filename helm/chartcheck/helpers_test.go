package chartcheck

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The chart under test, relative to this package.
var chartDir = filepath.Join("..", "smtpbridge")

// valuesCase is one way of installing the chart: its defaults, or a values file of ci/.
type valuesCase struct {
	name string
	vals map[string]any
}

// valuesCases are the defaults and every values file in the chart's ci/ folder.
func valuesCases(t *testing.T) []valuesCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no values files in %s/ci", chartDir)
	}
	sort.Strings(files)
	cases := []valuesCase{{name: "default"}}
	for _, f := range files {
		vals, err := ReadValuesFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cases = append(cases, valuesCase{name: strings.TrimSuffix(filepath.Base(f), ".yaml"), vals: vals})
	}
	return cases
}

// ciValues reads one values file of ci/.
func ciValues(t *testing.T, name string) map[string]any {
	t.Helper()
	vals, err := ReadValuesFile(filepath.Join(chartDir, "ci", name))
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := LoadChart(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// renderManifests renders the chart (freshly loaded: rendering may touch it) and decodes every
// manifest strictly, failing the test on any error.
func renderManifests(t *testing.T, vals map[string]any) []Manifest {
	t.Helper()
	rendered, err := Render(loadChart(t), vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	ms, err := Manifests(rendered)
	if err != nil {
		t.Fatalf("strict decoding:\n%v", err)
	}
	if len(ms) == 0 {
		t.Fatal("the chart rendered no manifest")
	}
	return ms
}

// find returns the manifest of that kind and name, failing the test when there is none.
func find[T any](t *testing.T, ms []Manifest, kind, name string) T {
	t.Helper()
	for _, m := range ms {
		if m.Kind == kind && m.Name == name {
			obj, ok := m.Object.(T)
			if !ok {
				t.Fatalf("%s %s decoded as %T", kind, name, m.Object)
			}
			return obj
		}
	}
	t.Fatalf("no %s %s in the rendered chart", kind, name)
	var zero T
	return zero
}

// podSpecs returns the pod spec of every workload and Pod, by "Kind/name".
func podSpecs(ms []Manifest) map[string]*corev1.PodSpec {
	specs := map[string]*corev1.PodSpec{}
	for _, m := range ms {
		switch o := m.Object.(type) {
		case *appsv1.Deployment:
			specs[m.Kind+"/"+m.Name] = &o.Spec.Template.Spec
		case *appsv1.StatefulSet:
			specs[m.Kind+"/"+m.Name] = &o.Spec.Template.Spec
		case *appsv1.DaemonSet:
			specs[m.Kind+"/"+m.Name] = &o.Spec.Template.Spec
		case *corev1.Pod:
			specs[m.Kind+"/"+m.Name] = &o.Spec
		}
	}
	return specs
}

// fullName is the chart's resource name prefix for release "ci".
func fullName(component string) string {
	return ReleaseName + "-smtpbridge-" + component
}

// argValue returns the value of --name=VALUE in args.
func argValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// bridgectlPath is the C++ build's bridgectl, from SMTPBRIDGE_BIN_DIR (helm/test.sh sets it); the
// test is skipped without it.
func bridgectlPath(t *testing.T) string {
	t.Helper()
	binDir := os.Getenv("SMTPBRIDGE_BIN_DIR")
	if binDir == "" {
		t.Skip("SMTPBRIDGE_BIN_DIR is not set: nothing is checked with bridgectl " +
			"(helm/test.sh sets it to build/release/bin)")
	}
	bridgectl := filepath.Join(binDir, "bridgectl")
	if _, err := os.Stat(bridgectl); err != nil {
		t.Fatalf("SMTPBRIDGE_BIN_DIR=%s: %v (build it: cmake --build --preset release --target bridgectl)", binDir, err)
	}
	return bridgectl
}
