package chartcheck

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template/parse"
)

// ValuesRef is one .Values path a template reads, e.g. "dispatcher.tls.enabled" or, inside
// `range .Values.workers`, "workers[].port" ("[]" is an element of a list or map).
type ValuesRef struct {
	Path     []string
	Template string // file under templates/
	// Scoped: the path is only entered (the subject of range or with), not read as a whole; what
	// the block reads under it is recorded on its own.
	Scoped bool
}

func (r ValuesRef) String() string { return PathString(r.Path) }

// PathString writes a values path as the docs do: dispatcher.tls.enabled, workers[].port.
func PathString(path []string) string {
	var b strings.Builder
	for i, k := range path {
		if k != "[]" && i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(k)
	}
	return b.String()
}

// TemplateValuesRefs parses every template of the chart (templates/, partials included) with Go's
// text/template parser and returns every .Values path they read: `.Values.a.b`, `$.Values.a.b`,
// `$root.Values.a.b`, and the fields read relative to a dot or variable that range or with
// moved into the values (`range .Values.workers` ... `.port` is workers[].port). Functions are not
// resolved (Helm's and sprig's names are not needed to find the paths).
func TemplateValuesRefs(chartDir string) ([]ValuesRef, error) {
	dir := filepath.Join(chartDir, "templates")
	var refs []ValuesRef
	err := filepath.WalkDir(dir, func(file string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		text, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, file)
		tree := parse.New(rel)
		tree.Mode = parse.SkipFuncCheck
		trees := map[string]*parse.Tree{}
		if _, err := tree.Parse(string(text), "", "", trees); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		// The file's body and each {{ define }} in it; a define's dot is whatever its caller passes,
		// so only absolute paths (.Values..., $root.Values...) are found at its top.
		for _, t := range trees {
			w := &refWalker{template: rel}
			w.list(t.Root, nil, map[string][]string{})
			refs = append(refs, w.refs...)
		}
		return nil
	})
	return refs, err
}

// refWalker collects the values paths of one template. A nil dot (or variable) is not in the
// values: the root context, a list passed to a define, a string.
type refWalker struct {
	template string
	refs     []ValuesRef
}

func (w *refWalker) record(path []string, scoped bool) {
	if len(path) > 0 {
		w.refs = append(w.refs, ValuesRef{Path: slices.Clone(path), Template: w.template, Scoped: scoped})
	}
}

func (w *refWalker) list(l *parse.ListNode, dot []string, vars map[string][]string) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		w.node(n, dot, vars)
	}
}

func (w *refWalker) node(n parse.Node, dot []string, vars map[string][]string) {
	switch n := n.(type) {
	case *parse.ActionNode:
		w.pipe(n.Pipe, dot, vars, false)
	case *parse.IfNode:
		w.pipe(n.Pipe, dot, vars, false)
		w.list(n.List, dot, vars)
		w.list(n.ElseList, dot, vars)
	case *parse.RangeNode:
		// range binds its element (and index) in a scope of its own.
		inner := copyVars(vars)
		p := w.pipe(n.Pipe, dot, inner, true)
		var elem []string
		if p != nil {
			elem = append(slices.Clone(p), "[]")
		}
		if decl := n.Pipe.Decl; len(decl) > 0 {
			for _, v := range decl {
				delete(inner, v.Ident[0])
			}
			inner[decl[len(decl)-1].Ident[0]] = elem
		}
		w.list(n.List, elem, inner)
		w.list(n.ElseList, dot, vars)
	case *parse.WithNode:
		inner := copyVars(vars)
		p := w.pipe(n.Pipe, dot, inner, true)
		w.list(n.List, p, inner)
		w.list(n.ElseList, dot, vars)
	case *parse.TemplateNode:
		w.pipe(n.Pipe, dot, vars, false)
	case *parse.ListNode:
		w.list(n, dot, vars)
	}
}

// pipe records the paths a pipeline reads and returns the values path it evaluates to, if it is
// a single path (what range and with move the dot to); declared variables are bound to it.
// scoped: the pipeline is a range's or with's subject.
func (w *refWalker) pipe(p *parse.PipeNode, dot []string, vars map[string][]string, scoped bool) []string {
	if p == nil {
		return nil
	}
	var result []string
	single := len(p.Cmds) == 1 && len(p.Cmds[0].Args) == 1
	for _, cmd := range p.Cmds {
		for _, arg := range cmd.Args {
			path := w.arg(arg, dot, vars)
			if single {
				result = path
			}
			w.record(path, scoped && single)
		}
	}
	for _, v := range p.Decl {
		vars[v.Ident[0]] = result
	}
	return result
}

// arg returns the values path an argument reads (nil if none) and records those of nested
// pipelines.
func (w *refWalker) arg(n parse.Node, dot []string, vars map[string][]string) []string {
	switch n := n.(type) {
	case *parse.FieldNode:
		return relative(n.Ident, dot)
	case *parse.VariableNode:
		name, fields := n.Ident[0], n.Ident[1:]
		if name == "$" {
			return relative(fields, nil)
		}
		if base, ok := vars[name]; ok && base != nil {
			return append(slices.Clone(base), fields...)
		}
		return relative(fields, nil) // $root.Values.x: a variable holding the root context
	case *parse.DotNode:
		return dot
	case *parse.ChainNode:
		var base []string
		if p, ok := n.Node.(*parse.PipeNode); ok {
			base = w.pipe(p, dot, vars, false)
		} else {
			base = w.arg(n.Node, dot, vars)
		}
		if base == nil {
			return relative(n.Field, nil)
		}
		return append(slices.Clone(base), n.Field...)
	case *parse.PipeNode:
		return w.pipe(n, dot, vars, false)
	}
	return nil
}

// relative resolves field names read from a context: .Values.a.b from anywhere; .a.b from a dot
// that is in the values.
func relative(fields []string, dot []string) []string {
	if len(fields) > 0 && fields[0] == "Values" {
		return slices.Clone(fields[1:])
	}
	if dot == nil || len(fields) == 0 {
		return nil
	}
	return append(slices.Clone(dot), fields...)
}

func copyVars(vars map[string][]string) map[string][]string {
	out := make(map[string][]string, len(vars))
	for k, v := range vars {
		out[k] = v
	}
	return out
}
