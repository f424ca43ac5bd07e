package chartcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func loadSchema(t *testing.T) *ValuesSchema {
	t.Helper()
	s, err := LoadValuesSchema(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func templateRefs(t *testing.T) []ValuesRef {
	t.Helper()
	refs, err := TemplateValuesRefs(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	// The extraction itself: paths of each form it must understand (absolute, $-rooted inside a
	// range, relative to a range's element, to a with's dot, through a define's $root).
	found := map[string]bool{}
	for _, r := range refs {
		found[r.String()] = true
	}
	for _, want := range []string{"dispatcher.tls.certManager.issuerRef", "workers[].port", "workers[].resources",
		"imagePullSecrets", "bindings[]", "bindings[].sink", "workers[].name", "grafanaDashboard.annotations",
		"nameOverride", "dispatcher.adminToken.existingSecret"} {
		if !found[want] {
			t.Errorf("the template scan missed .Values.%s (found %d paths)", want, len(found))
		}
	}
	return refs
}

// Issue #13: every .Values path a template reads is declared in values.schema.json, down to the
// key (a key read inside an open object would not be caught misspelt).
func TestSchemaDeclaresEveryPathTheTemplatesRead(t *testing.T) {
	s := loadSchema(t)
	for _, r := range templateRefs(t) {
		if _, err := s.Lookup(r.Path); err != nil {
			t.Errorf("templates/%s reads .Values.%s, which values.schema.json does not declare: %v", r.Template, r, err)
		}
	}
}

// And the other way: the schema declares nothing no template reads (a stale key would be
// accepted and do nothing, the very thing closing the schema is for). A key counts as read when a
// template reads it or something under it, or reads an object above it whole (toYaml of
// resources, the bindings copied into the bindings file); entering an object with range or with
// reads only what the block reads.
func TestSchemaDeclaresOnlyWhatTheTemplatesRead(t *testing.T) {
	refs := templateRefs(t)
	read := func(path []string) bool {
		return slices.ContainsFunc(refs, func(r ValuesRef) bool {
			if len(r.Path) >= len(path) {
				return slices.Equal(r.Path[:len(path)], path)
			}
			return !r.Scoped && slices.Equal(path[:len(r.Path)], r.Path)
		})
	}
	err := loadSchema(t).Walk(func(path []string, n SchemaNode) error {
		if len(path) > 0 && path[len(path)-1] != "[]" && !read(path) {
			t.Errorf("values.schema.json declares %s, which no template reads", PathString(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every object of the schema refuses unknown keys, or its description says why it is open (a map
// the user owns, a Kubernetes structure passed verbatim).
func TestSchemaObjectsAreClosedOrSayWhyOpen(t *testing.T) {
	s := loadSchema(t)
	objects := 0
	err := s.Walk(func(path []string, n SchemaNode) error {
		if !n.IsObject() {
			return nil
		}
		objects++
		if !n.Closed() && !strings.Contains(n.Description(), "open") {
			t.Errorf("%q: an object without additionalProperties: false and no description saying why it is open", PathString(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if root, err := s.Lookup(nil); err != nil || !root.Closed() {
		t.Errorf("the top level is not closed (%v)", err)
	}
	if objects < 10 {
		t.Errorf("only %d objects in the schema walk", objects)
	}
}

// Issue #13: a misspelt key is refused before anything renders, with a message naming the key and
// where it is; at the top level, nested, and inside list items.
func TestSchemaRefusesMisspeltKeys(t *testing.T) {
	worker := func(extra map[string]any) []any {
		w := map[string]any{"name": "example", "port": 50051}
		for k, v := range extra {
			w[k] = v
		}
		return []any{w}
	}
	binding := func(extra map[string]any) []any {
		b := map[string]any{"name": "b", "event": "INBOUND_COMMAND", "sink": "worker:example"}
		for k, v := range extra {
			b[k] = v
		}
		return []any{b}
	}
	cases := []struct {
		name, key, at string
		vals          map[string]any
	}{
		{"top level", "proxyy", "", map[string]any{"proxyy": map[string]any{"enabled": true}}},
		{"top level scalar", "fullNameOverride", "", map[string]any{"fullNameOverride": "x"}},
		{"dispatcher", "replicas", "/dispatcher", map[string]any{"dispatcher": map[string]any{"replicas": 3}}},
		{"proxy", "enabeld", "/proxy", map[string]any{"proxy": map[string]any{"enabeld": true}}},
		{"nested three deep", "enable", "/dispatcher/tls/certManager",
			map[string]any{"dispatcher": map[string]any{"tls": map[string]any{"certManager": map[string]any{"enable": true}}}}},
		{"cert-manager issuerRef", "Kind", "/dispatcher/tls/certManager/issuerRef",
			map[string]any{"dispatcher": map[string]any{"tls": map[string]any{"certManager": map[string]any{
				"issuerRef": map[string]any{"name": "ca", "Kind": "ClusterIssuer"}}}}}},
		{"autoscaling", "maxReplica", "/dispatcher/autoscaling",
			map[string]any{"dispatcher": map[string]any{"autoscaling": map[string]any{"maxReplica": 4}}}},
		{"worker item", "replicas", "/workers/0", map[string]any{"workers": worker(map[string]any{"replicas": 3})}},
		{"binding item", "on_eror", "/bindings/0", map[string]any{"bindings": binding(map[string]any{"on_eror": "reject"})}},
		{"binding tls", "ca", "/bindings/0/tls", map[string]any{"bindings": binding(map[string]any{"tls": map[string]any{"ca": "x"}})}},
		{"proxy service", "annotations", "/proxy/service",
			map[string]any{"proxy": map[string]any{"service": map[string]any{"annotations": map[string]any{}}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Render(loadChart(t), c.vals)
			if err == nil {
				t.Fatalf("%s at %q was accepted", c.key, c.at)
			}
			msg := err.Error()
			if !strings.Contains(msg, "schema") || !strings.Contains(msg, "'"+c.key+"'") || !strings.Contains(msg, "'"+c.at+"'") {
				t.Errorf("the error does not name the schema, key %q and its place %q:\n%s", c.key, c.at, msg)
			}
		})
	}
}

// What the user owns stays open: any keys in nodeSelector, annotations, security contexts,
// resources, affinity, tolerations and a binding's sink_properties render, and reach the objects.
func TestSchemaKeepsUserOwnedMapsOpen(t *testing.T) {
	vals := map[string]any{
		"dispatcher": map[string]any{
			"nodeSelector": map[string]any{"example.com/pool": "mail"},
			"tolerations":  []any{map[string]any{"key": "mail", "operator": "Exists", "effect": "NoSchedule"}},
			"affinity": map[string]any{"nodeAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
				"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{
					map[string]any{"key": "example.com/pool", "operator": "In", "values": []any{"mail"}}}}}}}},
			"resources": map[string]any{"requests": map[string]any{"cpu": "1", "ephemeral-storage": "1Gi"}},
		},
		"podSecurityContext": map[string]any{"runAsNonRoot": true, "supplementalGroups": []any{1000}},
		"securityContext":    map[string]any{"privileged": false},
		"grafanaDashboard":   map[string]any{"enabled": true, "annotations": map[string]any{"example.com/any-key": "v"}},
		"imagePullSecrets":   []any{map[string]any{"name": "registry"}},
		"bindings": []any{map[string]any{"name": "b", "event": "INBOUND_COMMAND", "sink": "worker:example",
			"sink_properties": map[string]any{"any_name": "v", "list": []any{"a", "b"}}}},
	}
	ms := renderManifests(t, vals)
	d := podSpecs(ms)["Deployment/"+fullName("dispatcher")]
	if d == nil || d.NodeSelector["example.com/pool"] != "mail" || len(d.Tolerations) != 1 || d.Affinity.NodeAffinity == nil ||
		d.SecurityContext.SupplementalGroups == nil || len(d.ImagePullSecrets) != 1 {
		t.Errorf("the dispatcher's pod spec lacks the user's maps: %+v", d)
	}
	cm := find[*corev1.ConfigMap](t, ms, "ConfigMap", fullName("bindings"))
	if !strings.Contains(cm.Data["bindings.yaml"], "any_name") {
		t.Errorf("sink_properties did not reach the bindings file:\n%s", cm.Data["bindings.yaml"])
	}
}

// The defaults and every ci/ values file pass the closed schema (renderManifests fails on any
// schema error; said here on its own so a schema change that breaks one names it).
func TestEveryValuesCasePassesSchema(t *testing.T) {
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Render(loadChart(t), c.vals); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// values.yaml documents every key of the schema with a `## @param` line (its own or an
// ancestor's: a list's items are documented with the list), and documents no key the schema lacks.
func TestValuesYamlDocumentsEverySchemaKey(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*## @param (\S+)`).FindAllStringSubmatch(string(text), -1) {
		params[m[1]] = true
	}
	s := loadSchema(t)
	for p := range params {
		if _, err := s.Lookup(strings.Split(p, ".")); err != nil {
			t.Errorf("values.yaml documents %s, which the schema does not declare: %v", p, err)
		}
	}
	err = s.Walk(func(path []string, n SchemaNode) error {
		if len(path) == 0 || slices.Contains(path, "[]") || n.Closed() {
			return nil // list items go with their list; a closed object is documented key by key
		}
		for i := len(path); i > 0; i-- {
			if params[strings.Join(path[:i], ".")] {
				return nil
			}
		}
		t.Errorf("values.yaml has no `## @param %s` (nor one for an object above it)", PathString(path))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A binding's keys in the schema are exactly those the dispatcher's bindings loader accepts (its
// "unknown key (expected one of: ...)" answer, asked through bridgectl), and so are those of a
// binding's tls: the schema must not refuse a valid bindings file, nor let through a key the
// dispatcher would refuse at startup.
func TestSchemaBindingKeysAreTheLoaders(t *testing.T) {
	bridgectl := bridgectlPath(t)
	file := filepath.Join(t.TempDir(), "bindings.yaml")
	probe := "bindings:\n  - {name: b, event: INBOUND_COMMAND, sink: \"dns:///w:1\", zz_probe: 1, tls: {zz_probe: 1}}\n"
	if err := os.WriteFile(file, []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(bridgectl, "--file", file, "enum").CombinedOutput()
	loader := map[string][]string{}
	for _, m := range regexp.MustCompile(`bindings\[0\]\.(\S*?)\.?zz_probe: unknown key \(expected one of: ([^)]*)\)`).FindAllStringSubmatch(string(out), -1) {
		keys := strings.Split(m[2], ", ")
		slices.Sort(keys)
		loader[m[1]] = keys
	}
	s := loadSchema(t)
	for at, path := range map[string][]string{"": {"bindings", "[]"}, "tls": {"bindings", "[]", "tls"}} {
		want, ok := loader[at]
		if !ok {
			t.Fatalf("bridgectl did not list the keys of bindings[0].%s:\n%s", at, out)
		}
		n, err := s.Lookup(path)
		if err != nil {
			t.Fatal(err)
		}
		if !n.Closed() {
			t.Errorf("%s is not closed", PathString(path))
		}
		props, _ := n["properties"].(map[string]any)
		var got []string
		for k := range props {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s declares %v; the bindings loader accepts %v", PathString(path), got, want)
		}
	}
}

// The forms the schema's bounds and patterns allow render (and decode strictly), and values the
// templates would turn into something else are refused.
func TestSchemaBounds(t *testing.T) {
	renderManifests(t, map[string]any{
		"dispatcher": map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": "50%"}, "maxConnectionAge": "0"},
		"bindings": []any{map[string]any{"name": "b", "event": "INBOUND_COMMAND", "sink": "worker:example",
			"priority": 10, "timeout": 20, "hedge_after": "5ms", "on_error": "tempfail", "on_error_reply": "451 4.7.1 Try again later"}},
	})
	for name, vals := range map[string]map[string]any{
		// `.replicaCount | default 1` reads 0 as unset: refused rather than silently one replica.
		"worker replicaCount 0": {"workers": []any{map[string]any{"name": "example", "port": 50051, "replicaCount": 0}}},
		"binding name":          {"bindings": []any{map[string]any{"name": "-b", "event": "INBOUND_COMMAND", "sink": "x"}}},
		"sink with a space":     {"bindings": []any{map[string]any{"name": "b", "event": "INBOUND_COMMAND", "sink": "a b"}}},
		"duration without unit": {"dispatcher": map[string]any{"maxConnectionAge": "1 minute"}},
		"minAvailable":          {"dispatcher": map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": "half"}}},
	} {
		if _, err := Render(loadChart(t), vals); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s: not refused by the schema (err: %v)", name, err)
		}
	}
}
