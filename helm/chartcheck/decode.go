package chartcheck

import (
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// DecodeStrict decodes one YAML document into the Go type of its apiVersion and kind, refusing
// what the API server would drop or refuse: a field the type does not have, a field named in the
// wrong case (encoding/json matches names case-insensitively, so `clusterIp` would pass it;
// sigs.k8s.io/json, the API server's own strict decoder, does not), a key given twice, a value of
// the wrong type. A kind without a known type is an error too.
func DecodeStrict(doc []byte) (*Manifest, error) {
	data, err := yaml.YAMLToJSONStrict(doc) // refuses duplicate keys
	if err != nil {
		return nil, err
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if head.APIVersion == "" || head.Kind == "" {
		return nil, errors.New("a document without apiVersion or kind")
	}
	obj, err := newObject(head.APIVersion, head.Kind)
	if err != nil {
		return nil, err
	}
	strictErrs, err := sigsjson.UnmarshalStrict(data, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, errors.Join(strictErrs...))
	}
	if v, ok := obj.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return nil, fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, err)
		}
	}
	return &Manifest{Kind: head.Kind, Name: head.Metadata.Name, YAML: doc, Object: obj}, nil
}

// newObject returns a new value of the type of apiVersion/kind: the chart's custom resources from
// crd.go, every built-in kind from client-go's scheme (k8s.io/api's types: apps/v1 Deployment,
// core/v1 Service, autoscaling/v2 HorizontalPodAutoscaler, ...). Helm's packages link that scheme
// anyway (their default capabilities list its API versions).
func newObject(apiVersion, kind string) (any, error) {
	gvk := schema.FromAPIVersionAndKind(apiVersion, kind)
	if newCR, ok := customResources[gvk]; ok {
		return newCR(), nil
	}
	obj, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil, fmt.Errorf("no known API type for %s %s (a custom resource needs a mirror in crd.go): %w", apiVersion, kind, err)
	}
	return obj, nil
}
