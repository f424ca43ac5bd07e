package chartcheck

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// The strict decoding is what makes the render test worth having: prove it refuses what the API
// server would drop or refuse, and accepts the same documents without the mistake.
func TestStrictDecodingRefusesMistakes(t *testing.T) {
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  %s
  selector:
    matchLabels: {app: d}
  template:
    metadata:
      labels: {app: d}
    spec:
      containers:
        - name: c
          image: i
`
	cases := []struct {
		name, doc, wantErr string
	}{
		{"misspelled field", strings.Replace(deployment, "%s", "replcas: 2", 1), `unknown field "spec.replcas"`},
		{"field in the wrong case", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIp: None}\n", `unknown field "spec.clusterIp"`},
		{"key given twice", strings.Replace(deployment, "%s", "replicas: 2\n  replicas: 3", 1), "replicas"},
		{"wrong type", strings.Replace(deployment, "%s", "replicas: two", 1), "replicas"},
		{"unknown kind", strings.Replace(strings.Replace(deployment, "%s", "replicas: 2", 1), "Deployment", "Deploymnet", 1), "no known API type"},
		{"kind at the wrong version", strings.Replace(strings.Replace(deployment, "%s", "replicas: 2", 1), "apps/v1", "apps/v2", 1), "no known API type"},
		{"misspelled field of a custom resource", `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: m}
spec:
  selector: {matchLabels: {app: d}}
  endpoint: [{port: metrics}]
`, `unknown field "spec.endpoint"`},
		{"custom resource field the mirror lacks", `apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: c}
spec: {secretName: s, issuerRef: {name: ca}, dnsName: [a]}
`, `unknown field "spec.dnsName"`},
		{"value outside a CRD enum", `apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: c}
spec: {secretName: s, issuerRef: {name: ca}, usages: [server-auth]}
`, "not one of cert-manager's key usages"},
		{"no kind", "apiVersion: v1\nmetadata: {name: x}\n", "without apiVersion or kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := DecodeStrict([]byte(c.doc))
			if err == nil {
				t.Fatalf("decoded as %T, want an error containing %q", m.Object, c.wantErr)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %q does not contain %q", err, c.wantErr)
			}
		})
	}

	// The same Deployment without the mistake decodes, into apps/v1's type.
	m, err := DecodeStrict([]byte(strings.Replace(deployment, "%s", "replicas: 2", 1)))
	if err != nil {
		t.Fatalf("the correct Deployment: %v", err)
	}
	d, ok := m.Object.(*appsv1.Deployment)
	if !ok || *d.Spec.Replicas != 2 || m.Name != "d" {
		t.Fatalf("decoded %#v", m)
	}
}
