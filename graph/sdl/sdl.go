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

// Format returns the SDL of s: Header, then every type and directive
// sorted by name, without gqlgen's code generation directives. s is not
// modified.
func Format(s *ast.Schema) []byte {
	out := *s
	out.Directives = make(map[string]*ast.DirectiveDefinition, len(s.Directives))
	for name, d := range s.Directives {
		if !codegenDirectives[name] {
			out.Directives[name] = d
		}
	}
	out.Types = make(map[string]*ast.Definition, len(s.Types))
	for name, def := range s.Types {
		out.Types[name] = withoutCodegenDirectives(def)
	}
	out.SchemaDirectives = keepDirectives(s.SchemaDirectives)

	var buf bytes.Buffer
	buf.WriteString(Header)
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatSchema(&out)
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
