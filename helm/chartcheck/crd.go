package chartcheck

import (
	"fmt"
	"regexp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The custom resources the chart renders have no type in k8s.io/api. These structs mirror ONLY
// the fields the chart sets, named and typed as the projects' CRDs document them (Prometheus
// Operator's monitoring.coreos.com/v1 ServiceMonitor and PodMonitor, cert-manager's
// cert-manager.io/v1 Certificate), plus the enums and patterns those CRDs declare for them. A
// template that sets another field fails the strict decoding: add the field here, checked against
// the CRD, in the same change.
var customResources = map[schema.GroupVersionKind]func() any{
	{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}: func() any { return &ServiceMonitor{} },
	{Group: "monitoring.coreos.com", Version: "v1", Kind: "PodMonitor"}:     func() any { return &PodMonitor{} },
	{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}:          func() any { return &Certificate{} },
}

// ServiceMonitor is monitoring.coreos.com/v1 ServiceMonitor (Prometheus Operator).
type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []MetricsEndpoint    `json:"endpoints"`
	} `json:"spec"`
}

// PodMonitor is monitoring.coreos.com/v1 PodMonitor (Prometheus Operator).
type PodMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []MetricsEndpoint    `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// MetricsEndpoint is the part of a ServiceMonitor's Endpoint and a PodMonitor's
// PodMetricsEndpoint that the chart sets: the named port and the scrape interval.
type MetricsEndpoint struct {
	Port     string `json:"port,omitempty"`
	Interval string `json:"interval,omitempty"`
}

// The CRDs' pattern for a monitoringv1.Duration.
var promDuration = regexp.MustCompile(`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`)

func validateEndpoints(endpoints []MetricsEndpoint) error {
	for _, e := range endpoints {
		if e.Interval != "" && !promDuration.MatchString(e.Interval) {
			return fmt.Errorf("interval %q is not a Prometheus duration", e.Interval)
		}
	}
	return nil
}

func (m *ServiceMonitor) validate() error { return validateEndpoints(m.Spec.Endpoints) }
func (m *PodMonitor) validate() error     { return validateEndpoints(m.Spec.PodMetricsEndpoints) }

// Certificate is cert-manager.io/v1 Certificate (cert-manager).
type Certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretName string   `json:"secretName"`
		CommonName string   `json:"commonName,omitempty"`
		DNSNames   []string `json:"dnsNames,omitempty"`
		Usages     []string `json:"usages,omitempty"`
		PrivateKey *struct {
			Algorithm      string `json:"algorithm,omitempty"`
			Size           int    `json:"size,omitempty"`
			RotationPolicy string `json:"rotationPolicy,omitempty"`
		} `json:"privateKey,omitempty"`
		IssuerRef struct {
			Name  string `json:"name"`
			Kind  string `json:"kind,omitempty"`
			Group string `json:"group,omitempty"`
		} `json:"issuerRef"`
	} `json:"spec"`
}

// cert-manager's KeyUsage enum.
var keyUsages = []string{
	"signing", "digital signature", "content commitment", "key encipherment", "key agreement",
	"data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
	"server auth", "client auth", "code signing", "email protection", "s/mime",
	"ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
	"microsoft sgc", "netscape sgc",
}

func (c *Certificate) validate() error {
	if c.Spec.SecretName == "" || c.Spec.IssuerRef.Name == "" {
		return fmt.Errorf("spec.secretName and spec.issuerRef.name are required")
	}
	for _, u := range c.Spec.Usages {
		if !slices.Contains(keyUsages, u) {
			return fmt.Errorf("usage %q is not one of cert-manager's key usages", u)
		}
	}
	if k := c.Spec.PrivateKey; k != nil {
		if k.Algorithm != "" && !slices.Contains([]string{"RSA", "ECDSA", "Ed25519"}, k.Algorithm) {
			return fmt.Errorf("privateKey.algorithm %q is not RSA, ECDSA or Ed25519", k.Algorithm)
		}
		if k.RotationPolicy != "" && k.RotationPolicy != "Never" && k.RotationPolicy != "Always" {
			return fmt.Errorf("privateKey.rotationPolicy %q is not Never or Always", k.RotationPolicy)
		}
	}
	return nil
}
