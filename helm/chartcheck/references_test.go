package chartcheck

import (
	"fmt"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// What the objects point at exists in the same render: a selector that picks no pod, a port name
// no container has or a ConfigMap that is not rendered decodes fine and applies fine, and then
// routes nothing (a Service with no endpoints, a NetworkPolicy that guards nothing, a PDB that
// protects nothing).
func TestReferencesResolve(t *testing.T) {
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ms := renderManifests(t, c.vals)
			for _, m := range ms {
				for _, err := range danglingReferences(m, ms) {
					t.Errorf("%s %s: %v", m.Kind, m.Name, err)
				}
			}
		})
	}
}

// podTemplate is a workload's pod labels and containers.
type podTemplate struct {
	owner  string
	labels labels.Set
	spec   *corev1.PodSpec
}

func podTemplates(ms []Manifest) []podTemplate {
	var out []podTemplate
	for _, m := range ms {
		if d, ok := m.Object.(*appsv1.Deployment); ok {
			out = append(out, podTemplate{m.Kind + "/" + m.Name, d.Spec.Template.Labels, &d.Spec.Template.Spec})
		}
	}
	return out
}

// selectedPods returns the workloads whose pods the selector picks (none for an empty or invalid one).
func selectedPods(ms []Manifest, sel *metav1.LabelSelector) []podTemplate {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil
	}
	var out []podTemplate
	for _, p := range podTemplates(ms) {
		if s.Matches(p.labels) {
			out = append(out, p)
		}
	}
	return out
}

func hasContainerPort(pods []podTemplate, name string) bool {
	return slices.ContainsFunc(pods, func(p podTemplate) bool {
		return slices.ContainsFunc(p.spec.Containers, func(c corev1.Container) bool {
			return slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == name })
		})
	})
}

func rendered(ms []Manifest, kind, name string) bool {
	return slices.ContainsFunc(ms, func(m Manifest) bool { return m.Kind == kind && m.Name == name })
}

func danglingReferences(m Manifest, ms []Manifest) []error {
	var errs []error
	switch o := m.Object.(type) {
	case *corev1.Service:
		pods := selectedPods(ms, &metav1.LabelSelector{MatchLabels: o.Spec.Selector})
		if len(pods) == 0 {
			errs = append(errs, fmt.Errorf("selector %v picks no rendered pods", o.Spec.Selector))
		}
		for _, p := range o.Spec.Ports {
			if name := p.TargetPort.StrVal; name != "" && !hasContainerPort(pods, name) {
				errs = append(errs, fmt.Errorf("targetPort %q is no container port of its pods", name))
			}
		}
	case *policyv1.PodDisruptionBudget:
		if len(selectedPods(ms, o.Spec.Selector)) == 0 {
			errs = append(errs, fmt.Errorf("selector picks no rendered pods"))
		}
	case *autoscalingv2.HorizontalPodAutoscaler:
		if ref := o.Spec.ScaleTargetRef; !rendered(ms, ref.Kind, ref.Name) {
			errs = append(errs, fmt.Errorf("scales %s %s, which is not rendered", ref.Kind, ref.Name))
		}
	case *networkingv1.NetworkPolicy:
		if len(selectedPods(ms, &o.Spec.PodSelector)) == 0 {
			errs = append(errs, fmt.Errorf("podSelector guards no rendered pods"))
		}
		for _, rule := range o.Spec.Ingress {
			for _, peer := range rule.From {
				// An empty podSelector means every pod of the namespace (the hosts); a non-empty one
				// must pick pods the chart runs.
				if peer.PodSelector != nil && len(peer.PodSelector.MatchLabels) > 0 && len(selectedPods(ms, peer.PodSelector)) == 0 {
					errs = append(errs, fmt.Errorf("ingress from %v: no rendered pods", peer.PodSelector.MatchLabels))
				}
			}
		}
	case *ServiceMonitor:
		var services []*corev1.Service
		sel, err := metav1.LabelSelectorAsSelector(&o.Spec.Selector)
		for _, s := range ms {
			if svc, ok := s.Object.(*corev1.Service); ok && err == nil && len(o.Spec.Selector.MatchLabels) > 0 && sel.Matches(labels.Set(svc.Labels)) {
				services = append(services, svc)
			}
		}
		if len(services) == 0 {
			errs = append(errs, fmt.Errorf("selector picks no rendered Service (by the Services' own labels)"))
		}
		for _, e := range o.Spec.Endpoints {
			if !slices.ContainsFunc(services, func(svc *corev1.Service) bool {
				return slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port })
			}) {
				errs = append(errs, fmt.Errorf("endpoint port %q is on none of the selected Services", e.Port))
			}
		}
	case *PodMonitor:
		pods := selectedPods(ms, &o.Spec.Selector)
		if len(pods) == 0 {
			errs = append(errs, fmt.Errorf("selector picks no rendered pods"))
		}
		for _, e := range o.Spec.PodMetricsEndpoints {
			if !hasContainerPort(pods, e.Port) {
				errs = append(errs, fmt.Errorf("endpoint port %q is no container port of its pods", e.Port))
			}
		}
	}
	if d, ok := m.Object.(*appsv1.Deployment); ok {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			errs = append(errs, fmt.Errorf("selector does not pick its own pod template (%v)", err))
		}
	}
	// Volumes: a ConfigMap the chart renders must be the one mounted.
	for _, p := range podSpecs([]Manifest{m}) {
		for _, v := range p.Volumes {
			if v.ConfigMap != nil && !rendered(ms, "ConfigMap", v.ConfigMap.Name) {
				errs = append(errs, fmt.Errorf("volume %s mounts ConfigMap %s, which is not rendered", v.Name, v.ConfigMap.Name))
			}
		}
	}
	return errs
}
