package chartcheck

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// `helm lint --strict`: a warning fails as an error does. Linted with the defaults and with each
// ci/ values file.
func TestLintStrict(t *testing.T) {
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			vals := c.vals
			if vals == nil {
				vals = map[string]any{}
			}
			result := lint.RunAll(chartDir, vals, Namespace)
			for _, m := range result.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %v", m)
				}
			}
		})
	}
}

// Every manifest of every values case decodes strictly into its API type (DecodeStrict).
func TestEveryManifestDecodesStrictly(t *testing.T) {
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ms := renderManifests(t, c.vals)
			kinds := map[string]int{}
			for _, m := range ms {
				kinds[m.Kind]++
			}
			t.Logf("%d manifests: %v", len(ms), kinds)
		})
	}
}

func TestFullRenderHasEveryKind(t *testing.T) {
	ms := renderManifests(t, ciValues(t, "full-values.yaml"))
	for _, kind := range []string{"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
		"ConfigMap", "ServiceMonitor", "PodMonitor", "NetworkPolicy", "Certificate", "Pod"} {
		if !slices.ContainsFunc(ms, func(m Manifest) bool { return m.Kind == kind }) {
			t.Errorf("the full render has no %s", kind)
		}
	}
}

// The admin token never travels on a command line (visible in `ps` and the pod spec), in any case.
func TestAdminTokenNeverOnCommandLine(t *testing.T) {
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ms := renderManifests(t, c.vals)
			for _, m := range ms {
				if strings.Contains(string(m.YAML), "--admin-token") {
					t.Errorf("%s %s mentions --admin-token", m.Kind, m.Name)
				}
			}
			for name, spec := range podSpecs(ms) {
				for _, ctr := range slices.Concat(spec.InitContainers, spec.Containers) {
					for _, a := range slices.Concat(ctr.Command, ctr.Args) {
						if strings.HasPrefix(a, "--admin-token") {
							t.Errorf("%s container %s: %q on its command line", name, ctr.Name, a)
						}
					}
				}
			}
		})
	}
}

// `helm test`'s pod presents the admin token (from the Secret, in its environment) over mutual
// TLS: a client certificate and key from a mounted Secret, the CA, and the server name the
// dispatcher's certificate carries.
func TestHelmTestHookPresentsTokenOverMutualTLS(t *testing.T) {
	ms := renderManifests(t, ciValues(t, "full-values.yaml"))
	var hook *corev1.Pod
	for _, m := range ms {
		if pod, ok := m.Object.(*corev1.Pod); ok && pod.Annotations["helm.sh/hook"] == "test" {
			hook = pod
		}
	}
	if hook == nil {
		t.Fatal("no Pod with the helm.sh/hook: test annotation")
	}
	if len(hook.Spec.Containers) != 1 {
		t.Fatalf("test pod has %d containers", len(hook.Spec.Containers))
	}
	ctr := hook.Spec.Containers[0]
	tokenFromSecret := slices.ContainsFunc(ctr.Env, func(e corev1.EnvVar) bool {
		return e.Name == "SMTPBRIDGE_ADMIN_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
			e.ValueFrom.SecretKeyRef.Name == "admin" && e.ValueFrom.SecretKeyRef.Key == "token"
	})
	if !tokenFromSecret {
		t.Errorf("test pod does not take SMTPBRIDGE_ADMIN_TOKEN from Secret admin, key token: %+v", ctr.Env)
	}
	// Each TLS file lies under a mount of a Secret volume.
	secretMounts := map[string]bool{}
	for _, vm := range ctr.VolumeMounts {
		for _, v := range hook.Spec.Volumes {
			if v.Name == vm.Name && v.Secret != nil && v.Secret.SecretName != "" {
				secretMounts[vm.MountPath] = true
			}
		}
	}
	for _, flag := range []string{"tls-cert", "tls-key", "tls-ca"} {
		file, ok := argValue(ctr.Args, flag)
		if !ok {
			t.Errorf("test pod lacks --%s=", flag)
			continue
		}
		if !secretMounts[filepath.Dir(file)] {
			t.Errorf("--%s=%s is not in a mounted Secret (mounts: %v)", flag, file, secretMounts)
		}
	}
	serverName, ok := argValue(ctr.Args, "tls-server-name")
	if !ok {
		t.Fatal("test pod lacks --tls-server-name=")
	}
	cert := find[*Certificate](t, ms, "Certificate", fullName("dispatcher"))
	if !slices.Contains(cert.Spec.DNSNames, serverName) {
		t.Errorf("--tls-server-name=%s is not among the certificate's DNS names %v", serverName, cert.Spec.DNSNames)
	}
	if !slices.Contains(cert.Spec.Usages, "client auth") {
		t.Errorf("the test pod presents the dispatcher's certificate, which lacks client auth: %v", cert.Spec.Usages)
	}
}

// With Secrets made outside the chart: the dispatcher mounts dispatcher.tls.existingSecret, the
// `helm test` pod its own dispatcher.tls.clientSecret, and no Certificate is rendered.
func TestTLSFromExistingSecrets(t *testing.T) {
	ms := renderManifests(t, ciValues(t, "tls-existing-secret-values.yaml"))
	secretVolumes := func(spec *corev1.PodSpec) []string {
		var names []string
		for _, v := range spec.Volumes {
			if v.Secret != nil {
				names = append(names, v.Secret.SecretName)
			}
		}
		return names
	}
	specs := podSpecs(ms)
	if got := secretVolumes(specs["Deployment/"+fullName("dispatcher")]); !slices.Equal(got, []string{"smtpbridge-dispatcher-tls"}) {
		t.Errorf("dispatcher mounts Secrets %v, want the existingSecret", got)
	}
	if got := secretVolumes(specs["Pod/"+fullName("test-health")]); !slices.Equal(got, []string{"smtpbridge-test-client-tls"}) {
		t.Errorf("the test pod mounts Secrets %v, want the clientSecret", got)
	}
	if slices.ContainsFunc(ms, func(m Manifest) bool { return m.Kind == "Certificate" }) {
		t.Error("a Certificate rendered without dispatcher.tls.certManager.enabled")
	}
}

// Grafana's dashboard sidecar finds the ConfigMap by its label; it carries dashboards/smtpbridge.json
// verbatim (tests/integration/dashboard_metrics_test.py checks the metric names it queries).
func TestDashboardConfigMap(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(chartDir, "dashboards", "smtpbridge.json"))
	if err != nil {
		t.Fatal(err)
	}
	ms := renderManifests(t, ciValues(t, "full-values.yaml"))
	cm := find[*corev1.ConfigMap](t, ms, "ConfigMap", fullName("dashboard"))
	if got := cm.Labels["grafana_dashboard"]; got != "1" {
		t.Errorf("label grafana_dashboard = %q, want \"1\"", got)
	}
	got, ok := cm.Data["smtpbridge.json"]
	if !ok {
		t.Fatalf("no smtpbridge.json in the ConfigMap: %v", cm.Data)
	}
	// `|-` drops the file's final newline, nothing else.
	if got != strings.TrimSuffix(string(want), "\n") {
		t.Error("the rendered dashboard differs from dashboards/smtpbridge.json")
	}
	if !json.Valid([]byte(got)) {
		t.Error("the rendered dashboard is not JSON")
	}

	// Namespace and annotations from the values (dashboard-values.yaml).
	ms = renderManifests(t, ciValues(t, "dashboard-values.yaml"))
	cm = find[*corev1.ConfigMap](t, ms, "ConfigMap", fullName("dashboard"))
	if cm.Namespace != "monitoring" || cm.Annotations["grafana_folder"] != "smtpbridge" {
		t.Errorf("namespace %q, annotations %v: not those of dashboard-values.yaml", cm.Namespace, cm.Annotations)
	}
}

// The dispatcher refuses an admin token sent in plaintext from another pod: the chart says so at
// install time instead.
func TestAdminTokenWithoutTLSIsRefused(t *testing.T) {
	_, err := Render(loadChart(t), map[string]any{
		"dispatcher": map[string]any{"adminToken": map[string]any{"existingSecret": "admin"}},
	})
	if err == nil || !strings.Contains(err.Error(), "needs dispatcher.tls.enabled") {
		t.Fatalf("an admin token without TLS rendered (err: %v)", err)
	}
}

// values.schema.json is enforced: a port of 0 is refused before anything renders.
func TestSchemaRefusesPortZero(t *testing.T) {
	_, err := Render(loadChart(t), map[string]any{"dispatcher": map[string]any{"port": 0}})
	if err == nil || !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), "port") {
		t.Fatalf("dispatcher.port=0 was not refused by the schema (err: %v)", err)
	}
}

// Issue #13: hosts reach the dispatchers as dns:/// of a headless Service (DNS answers with every
// ready pod; the client spreads calls with round_robin), and the dispatcher reaches each worker
// pool the same way.
func TestTargetsAreDNSOfHeadlessServices(t *testing.T) {
	proxies := 0
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ms := renderManifests(t, c.vals)
			if proxy := podSpecs(ms)["Deployment/"+fullName("proxy")]; proxy != nil {
				proxies++
				target, ok := argValue(proxy.Containers[0].Args, "dispatcher")
				if !ok {
					t.Fatal("the proxy has no --dispatcher=")
				}
				checkHeadlessTarget(t, ms, "proxy --dispatcher", target, "dispatcher", "grpc")
			}

			cm := find[*corev1.ConfigMap](t, ms, "ConfigMap", fullName("bindings"))
			var bindings struct {
				Bindings []struct {
					Name string `json:"name"`
					Sink string `json:"sink"`
				} `json:"bindings"`
			}
			if err := yaml.Unmarshal([]byte(cm.Data["bindings.yaml"]), &bindings); err != nil {
				t.Fatalf("bindings.yaml: %v", err)
			}
			if len(bindings.Bindings) == 0 {
				t.Fatal("no bindings rendered")
			}
			for _, b := range bindings.Bindings {
				checkHeadlessTarget(t, ms, "binding "+b.Name, b.Sink, "worker-", "grpc")
			}
		})
	}
	if proxies == 0 {
		t.Error("no values case renders the proxy")
	}
}

// checkHeadlessTarget checks that target is dns:///SERVICE.NAMESPACE.svc.cluster.local:PORT for a
// rendered headless Service (clusterIP: None) whose component starts with component, whose port
// named portName is PORT and whose selector picks a rendered Deployment's pods.
func checkHeadlessTarget(t *testing.T, ms []Manifest, what, target, component, portName string) {
	t.Helper()
	rest, ok := strings.CutPrefix(target, "dns:///")
	if !ok {
		t.Errorf("%s: %q is not a dns:/// target", what, target)
		return
	}
	host, port, ok := strings.Cut(rest, ":")
	if !ok {
		t.Errorf("%s: %q has no port", what, target)
		return
	}
	name, ok := strings.CutSuffix(host, "."+Namespace+".svc.cluster.local")
	if !ok || !strings.HasPrefix(name, fullName(component)) {
		t.Errorf("%s: %q is not a %s Service of the release's namespace", what, target, component)
		return
	}
	svc := find[*corev1.Service](t, ms, "Service", name)
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("%s: Service %s has clusterIP %q, not None (headless)", what, name, svc.Spec.ClusterIP)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
		return p.Name == portName && strconv.Itoa(int(p.Port)) == port
	}) {
		t.Errorf("%s: port %s is not Service %s's %s port %v", what, port, name, portName, svc.Spec.Ports)
	}
	selected := slices.ContainsFunc(ms, func(m Manifest) bool {
		d, ok := m.Object.(*appsv1.Deployment)
		return ok && len(svc.Spec.Selector) > 0 &&
			labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels))
	})
	if !selected {
		t.Errorf("%s: Service %s selects no rendered Deployment's pods (selector %v)", what, name, svc.Spec.Selector)
	}
}

// The dispatcher closes connections after maxConnectionAge (+ grace), so hosts resolve the
// headless Service again and find new replicas (issue #13); the example workers do the same.
func TestMaxConnectionAge(t *testing.T) {
	ch := loadChart(t)
	dv := ch.Values["dispatcher"].(map[string]any)
	age, grace := dv["maxConnectionAge"].(string), dv["maxConnectionAgeGrace"].(string)
	if age == "" || age == "0" || grace == "" {
		t.Fatalf("default values turn the max connection age off: %q + %q", age, grace)
	}
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			specs := podSpecs(renderManifests(t, c.vals))
			d := specs["Deployment/"+fullName("dispatcher")]
			if d == nil {
				t.Fatal("no dispatcher Deployment")
			}
			args := d.Containers[0].Args
			if got, _ := argValue(args, "max-connection-age"); got != age {
				t.Errorf("dispatcher --max-connection-age=%q, want %q", got, age)
			}
			if got, _ := argValue(args, "max-connection-age-grace"); got != grace {
				t.Errorf("dispatcher --max-connection-age-grace=%q, want %q", got, grace)
			}
			w := specs["Deployment/"+fullName("worker-example")]
			if w == nil {
				t.Fatal("no example worker Deployment")
			}
			if !slices.ContainsFunc(w.Containers[0].Args, func(a string) bool {
				return a == "--max-connection-age" || strings.HasPrefix(a, "--max-connection-age=")
			}) {
				t.Errorf("the example worker sets no max connection age: %v", w.Containers[0].Args)
			}
		})
	}
}

// The rendered bindings file loads in the dispatcher's own validating loader (bridgectl's), for
// every values case. Needs the C++ build: SMTPBRIDGE_BIN_DIR names its bin/ (helm/test.sh sets it).
func TestBindingsLoadInDispatcherValidator(t *testing.T) {
	bridgectl := bridgectlPath(t)
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ms := renderManifests(t, c.vals)
			cm := find[*corev1.ConfigMap](t, ms, "ConfigMap", fullName("bindings"))
			file := filepath.Join(t.TempDir(), "bindings.yaml")
			if err := os.WriteFile(file, []byte(cm.Data["bindings.yaml"]), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bridgectl, "--file", file, "enum").CombinedOutput()
			if err != nil {
				t.Fatalf("bridgectl refused the rendered bindings: %v\n%s\n--- bindings.yaml:\n%s", err, out, cm.Data["bindings.yaml"])
			}
		})
	}
}
