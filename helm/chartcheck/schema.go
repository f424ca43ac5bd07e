package chartcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ValuesSchema is the chart's values.schema.json as plain JSON, for the checks Helm's validator
// does not make: which paths it declares, which objects it leaves open. Only what the chart's
// schema uses is understood: properties, items, additionalProperties and local "#/definitions/"
// references.
type ValuesSchema struct {
	root map[string]any
}

// SchemaNode is one (sub)schema, references resolved.
type SchemaNode map[string]any

func LoadValuesSchema(chartDir string) (*ValuesSchema, error) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		return nil, err
	}
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("values.schema.json: %w", err)
	}
	return &ValuesSchema{root: root}, nil
}

// resolve follows a "$ref" to "#/definitions/NAME" (draft-07 ignores a $ref's siblings).
func (s *ValuesSchema) resolve(v any) (SchemaNode, error) {
	n, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a schema that is not an object: %v", v)
	}
	for depth := 0; ; depth++ {
		ref, ok := n["$ref"].(string)
		if !ok {
			return n, nil
		}
		name, ok := strings.CutPrefix(ref, "#/definitions/")
		defs, _ := s.root["definitions"].(map[string]any)
		def, found := defs[name].(map[string]any)
		if !ok || !found || depth > 10 {
			return nil, fmt.Errorf("unresolvable $ref %q", ref)
		}
		n = def
	}
}

// Closed: the object refuses keys it does not list.
func (n SchemaNode) Closed() bool {
	ap, ok := n["additionalProperties"].(bool)
	return ok && !ap
}

// IsObject: the node describes a map (its type is or includes "object", or it lists properties).
func (n SchemaNode) IsObject() bool {
	if _, ok := n["properties"]; ok {
		return true
	}
	switch t := n["type"].(type) {
	case string:
		return t == "object"
	case []any:
		return slices.Contains(t, any("object"))
	}
	return false
}

func (n SchemaNode) Description() string {
	d, _ := n["description"].(string)
	return d
}

// Lookup returns the schema of a values path ("[]": an element of a list, or a value of an open
// map whose values are typed). A key must be listed in "properties": a key inside an open object
// is not declared (the schema would not catch its misspelling).
func (s *ValuesSchema) Lookup(path []string) (SchemaNode, error) {
	n, err := s.resolve(s.root)
	if err != nil {
		return nil, err
	}
	for i, key := range path {
		at := PathString(path[:i])
		if at == "" {
			at = "the top level"
		}
		var next any
		if key == "[]" {
			if items, ok := n["items"]; ok {
				next = items
			} else if ap, ok := n["additionalProperties"].(map[string]any); ok {
				next = ap
			} else {
				return nil, fmt.Errorf("%s is neither a list with items nor a map with typed values", at)
			}
		} else {
			props, _ := n["properties"].(map[string]any)
			p, ok := props[key]
			if !ok {
				return nil, fmt.Errorf("%s does not declare %q", at, key)
			}
			next = p
		}
		if n, err = s.resolve(next); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Walk calls fn for every node reachable through properties, items and typed additionalProperties
// (the root's path is empty), parents before children.
func (s *ValuesSchema) Walk(fn func(path []string, n SchemaNode) error) error {
	var walk func(path []string, v any) error
	walk = func(path []string, v any) error {
		n, err := s.resolve(v)
		if err != nil {
			return fmt.Errorf("%s: %w", PathString(path), err)
		}
		if err := fn(path, n); err != nil {
			return err
		}
		props, _ := n["properties"].(map[string]any)
		keys := make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := walk(append(slices.Clone(path), k), props[k]); err != nil {
				return err
			}
		}
		if items, ok := n["items"]; ok {
			if err := walk(append(slices.Clone(path), "[]"), items); err != nil {
				return err
			}
		}
		if ap, ok := n["additionalProperties"].(map[string]any); ok {
			if err := walk(append(slices.Clone(path), "[]"), ap); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(nil, s.root)
}
