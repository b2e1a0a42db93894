// Package sdl prints gqlauth's GraphQL schema as the one SDL document
// clients read: the parts in graph/schema merged into one, without the
// directives that only steer gqlgen's code generation. `make generate`
// writes it to graph/schema.graphql and the server serves the same bytes
// at /schema.graphql, so the published file and the running server agree.
package sdl

import (
	"bytes"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
)

// Header starts the published SDL, telling readers where it comes from.
const Header = "# gqlauth GraphQL schema, merged from graph/schema/*.graphqls by `make generate`.\n" +
	"# Do not edit: change the parts and regenerate. Served at /schema.graphql.\n\n"

// codegenDirectives are gqlgen's own directives (entgql writes them into
// ent.graphqls). They tell gqlgen which Go types to bind and mean nothing
// to a client, whose tools would reject them as undefined if the
// definitions were dropped and the uses kept, so both go.
var codegenDirectives = map[string]bool{
	"goModel":      true,
	"goField":      true,
	"goTag":        true,
	"goEnum":       true,
	"goExtraField": true,
}

// unservedDirectives are built-in directives gqlparser declares that
// gqlauth cannot honour, so it must not advertise them: @defer needs an
// incremental-delivery transport (multipart/mixed or SSE), and gqlauth
// answers every request with one JSON response.
var unservedDirectives = map[string]bool{
	"defer": true,
}

// Public returns the schema clients see, in introspection and in the SDL:
// s without gqlgen's code generation directives and without the built-in
// directives gqlauth does not serve (a document using @defer then fails
// validation instead of silently losing its deferred fields). s is not
// modified; the server executes with the copy.
func Public(s *ast.Schema) *ast.Schema {
	out := *s
	out.Directives = make(map[string]*ast.DirectiveDefinition, len(s.Directives))
	for name, d := range s.Directives {
		if !codegenDirectives[name] && !unservedDirectives[name] {
			out.Directives[name] = d
		}
	}
	out.Types = make(map[string]*ast.Definition, len(s.Types))
	for name, def := range s.Types {
		out.Types[name] = withoutCodegenDirectives(def)
	}
	// The roots and the type relations point at the copies.
	same := func(def *ast.Definition) *ast.Definition {
		if def == nil {
			return nil
		}
		return out.Types[def.Name]
	}
	out.Query, out.Mutation, out.Subscription = same(s.Query), same(s.Mutation), same(s.Subscription)
	relink := func(m map[string][]*ast.Definition) map[string][]*ast.Definition {
		r := make(map[string][]*ast.Definition, len(m))
		for k, defs := range m {
			for _, d := range defs {
				r[k] = append(r[k], same(d))
			}
		}
		return r
	}
	out.PossibleTypes = relink(s.PossibleTypes)
	out.Implements = relink(s.Implements)
	out.SchemaDirectives = keepDirectives(s.SchemaDirectives)
	return &out
}

// Format returns the SDL of Public(s): Header, then every type and
// directive sorted by name. s is not modified.
func Format(s *ast.Schema) []byte {
	var buf bytes.Buffer
	buf.WriteString(Header)
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatSchema(Public(s))
	return buf.Bytes()
}

// withoutCodegenDirectives is a copy of def whose type, fields, arguments
// and enum values carry no codegen directive.
func withoutCodegenDirectives(def *ast.Definition) *ast.Definition {
	c := *def
	c.Directives = keepDirectives(def.Directives)
	if def.Fields != nil {
		c.Fields = make(ast.FieldList, len(def.Fields))
		for i, f := range def.Fields {
			fc := *f
			fc.Directives = keepDirectives(f.Directives)
			if f.Arguments != nil {
				fc.Arguments = make(ast.ArgumentDefinitionList, len(f.Arguments))
				for j, a := range f.Arguments {
					ac := *a
					ac.Directives = keepDirectives(a.Directives)
					fc.Arguments[j] = &ac
				}
			}
			c.Fields[i] = &fc
		}
	}
	if def.EnumValues != nil {
		c.EnumValues = make(ast.EnumValueList, len(def.EnumValues))
		for i, v := range def.EnumValues {
			vc := *v
			vc.Directives = keepDirectives(v.Directives)
			c.EnumValues[i] = &vc
		}
	}
	return &c
}

// keepDirectives is list without the codegen directives.
func keepDirectives(list ast.DirectiveList) ast.DirectiveList {
	var kept ast.DirectiveList
	for _, d := range list {
		if !codegenDirectives[d.Name] {
			kept = append(kept, d)
		}
	}
	return kept
}
