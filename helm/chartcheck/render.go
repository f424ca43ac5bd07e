// Package chartcheck renders the smtpbridge Helm chart through Helm's own Go packages (no helm
// binary: building it from source cost minutes of the test command) and decodes every rendered
// manifest strictly into its Kubernetes API type. Its tests are the chart's test; helm/test.sh
// runs them.
package chartcheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The release `helm template ci smtpbridge` renders (what helm/test.sh rendered before).
const (
	ReleaseName = "ci"
	Namespace   = "default"
)

// LoadChart reads the chart directory as `helm template` does.
func LoadChart(dir string) (*chart.Chart, error) {
	return loader.Load(dir)
}

// ReadValuesFile reads a values file (`-f FILE`).
func ReadValuesFile(file string) (map[string]any, error) {
	vals, err := common.ReadValuesFile(file)
	if err != nil {
		return nil, err
	}
	return vals.AsMap(), nil
}

// Render renders the chart with the given values over its defaults, the way `helm template`
// does without a cluster: default capabilities, values checked against values.schema.json, `fail`
// in a template returned as an error. The result maps template paths to their text.
func Render(ch *chart.Chart, vals map[string]any) (map[string]string, error) {
	if vals == nil {
		vals = map[string]any{}
	}
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		return nil, err
	}
	opts := common.ReleaseOptions{Name: ReleaseName, Namespace: Namespace, Revision: 1, IsInstall: true}
	top, err := util.ToRenderValuesWithSchemaValidation(ch, vals, opts, common.DefaultCapabilities.Copy(), false)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, top)
}

// Manifest is one rendered Kubernetes object.
type Manifest struct {
	Template string // template it came from, e.g. smtpbridge/templates/proxy.yaml
	Kind     string
	Name     string
	YAML     []byte // the document as rendered
	Object   any    // strictly decoded: *appsv1.Deployment, *ServiceMonitor, ...
}

// Manifests splits the rendered templates into documents (in template order, as `helm template`
// prints them) and decodes each strictly (DecodeStrict). Partials and NOTES.txt render no object.
func Manifests(rendered map[string]string) ([]Manifest, error) {
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		if ext := path.Ext(name); ext == ".yaml" || ext == ".yml" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []Manifest
	var errs []error
	for _, name := range names {
		reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(rendered[name])))
		for i := 0; ; i++ {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			m, err := DecodeStrict(doc)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s, document %d: %w", name, i, err))
				continue
			}
			m.Template = name
			out = append(out, *m)
		}
	}
	return out, errors.Join(errs...)
}

// stripComments drops whole-line comments, so a document of only comments counts as empty.
func stripComments(doc []byte) []byte {
	var kept [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		trimmed := bytes.TrimSpace(line)
		if bytes.HasPrefix(trimmed, []byte("#")) || bytes.Equal(trimmed, []byte("---")) {
			continue
		}
		kept = append(kept, line)
	}
	return bytes.Join(kept, []byte("\n"))
}
