//go:build ignore

// entc.go generates the ent client and, through entgql, the GraphQL types
// of the ent schema (graph/schema/ent.graphqls). Run by `make generate`.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	goast "go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"log"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	entschema "entgo.io/ent/schema"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ex, err := entgql.NewExtension(
		// pagination after entgql's own templates, so that its definition
		// wins; first, as WithTemplates replaces the list WithWhereInputs
		// adds to.
		entgql.WithTemplates(append(slices.Clone(entgql.AllTemplates), pagination)...),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("../graph/schema/ent.graphqls"),
		entgql.WithConfigPath("../gqlgen.yml"),
		entgql.WithWhereInputs(true),
		entgql.WithSchemaHook(describe),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	cfg := &gen.Config{
		Features: []gen.Feature{
			gen.FeatureLock,
			gen.FeatureExecQuery,
			gen.FeatureVersionedMigration,
		},
		Hooks: []gen.Hook{toRelay},
	}
	// The "entc" tag gives the schema entgql's annotations
	// (ent/schema/gql).
	if err := entc.Generate("./schema", cfg, entc.Extensions(ex), entc.BuildTags("entc")); err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// pagination replaces the body of every generated <T>Query.Paginate so
// that a page counts the table only when totalCount is selected, and
// hasNextPage/hasPreviousPage come from the page's extra row
// (template/pagination.tmpl says what changed from entgql's).
var pagination = gen.MustParse(gen.NewTemplate("gqlauth_pagination").
	Funcs(entgql.TemplateFuncs).
	ParseFiles("template/pagination.tmpl"))

// toRelay points the generated code at ent/relay, the run-time
// half of entgql, once it is written: entgql's templates import entgql,
// whose package would link its code generator into the server.
func toRelay(next gen.Generator) gen.Generator {
	return gen.GenerateFunc(func(g *gen.Graph) error {
		if err := next.Generate(g); err != nil {
			return err
		}
		files, err := filepath.Glob(filepath.Join(g.Config.Target, "*.go"))
		if err != nil {
			return err
		}
		for _, name := range files {
			generated, err := isGenerated(name)
			if err != nil {
				return err
			}
			if !generated {
				continue
			}
			if err := rewriteImport(name, "entgo.io/contrib/entgql", "github.com/gqlauth/gqlauth/ent/relay"); err != nil {
				return err
			}
		}
		return nil
	})
}

// isGenerated says whether the Go file is generated code (its first line
// is "// Code generated ... DO NOT EDIT."), so that this file and the
// other hand-written ones are left alone.
func isGenerated(name string) (bool, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return false, err
	}
	first, _, _ := bytes.Cut(b, []byte("\n"))
	return bytes.HasPrefix(first, []byte("// Code generated ")) && bytes.HasSuffix(first, []byte(" DO NOT EDIT.")), nil
}

// rewriteImport makes the Go file import newPath where it imports
// oldPath, and refer to it by newPath's name.
func rewriteImport(name, oldPath, newPath string) error {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
	if err != nil {
		return err
	}
	oldName, newName := path.Base(oldPath), path.Base(newPath)
	found := false
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == oldPath && imp.Name == nil {
			imp.Path.Value = strconv.Quote(newPath)
			found = true
		}
	}
	if !found {
		return nil
	}
	goast.Inspect(f, func(n goast.Node) bool {
		if sel, ok := n.(*goast.SelectorExpr); ok {
			if x, ok := sel.X.(*goast.Ident); ok && x.Name == oldName {
				x.Name = newName
			}
		}
		return true
	})
	goast.SortImports(fset, f)
	var buf bytes.Buffer
	if err := format.Node(&buf, fset, f); err != nil {
		return err
	}
	return os.WriteFile(name, buf.Bytes(), 0o644)
}

// enumValues describes the values of the enums entgql generates (ent has
// no place for them). A value missing here fails the generation.
var enumValues = map[string]string{
	"Role.USER":                 "An ordinary account: it manages itself.",
	"Role.ADMIN":                "Manages every account: lists, reads, changes roles, deletes.",
	"UserOrderField.CREATED_AT": "By creation time.",
	"UserOrderField.EMAIL":      "By email address.",
	"UserOrderField.USERNAME":   "By username.",
	"FactorType.TOTP":           "An authenticator app: 6-digit codes every 30 seconds (RFC 6238).",
	"FactorType.PASSKEY":        "A passkey (WebAuthn): signs in alone with user verification, or steps a password session up.",
	"FactorStatus.UNVERIFIED":   "Enrolled, waiting for its first correct code; deleted after an hour.",
	"FactorStatus.VERIFIED":     "Confirmed with a correct code: it signs in.",
}

// describe replaces what entgql writes as boilerplate ("Role is enum for
// the field role", "email field predicates", a dead link to the Relay
// spec) and fills in what it leaves empty, so that every type, field,
// argument and enum value a client sees says what it is
// (graph/sdl/docs_test.go checks). Object types take the ent schema's
// schema.Comment annotation.
func describe(g *gen.Graph, s *ast.Schema) error {
	for _, n := range g.Nodes {
		if def := s.Types[n.Name]; def != nil && def.Kind == ast.Object {
			def.Description = typeComment(n)
		}
	}
	if def := s.Types["Cursor"]; def != nil {
		def.Description = "An opaque position in a connection: pass a page's endCursor as after " +
			"(or its startCursor as before) to get the next (or previous) page."
		def.Directives = append(def.Directives, specifiedBy("https://relay.dev/graphql/connections.htm#sec-Cursor"))
	}
	if def := s.Types["PageInfo"]; def != nil {
		def.Description = "Where a page of a connection stands: whether there are more items, and the " +
			"cursors to page on (https://relay.dev/graphql/connections.htm#sec-PageInfo)."
	}
	if def := s.Types["Query"]; def != nil {
		def.Description = "What can be read: the signed-in user, accounts and sessions."
	}
	for _, def := range s.Types {
		switch {
		case def.Kind == ast.Enum:
			if strings.Contains(def.Description, "is enum for the field") {
				def.Description = enumComment(g, def.Name)
			}
			for _, v := range def.EnumValues {
				if v.Description == "" {
					v.Description = enumValues[def.Name+"."+v.Name]
				}
				if v.Description == "" {
					return fmt.Errorf("describe: no description for enum value %s.%s: add it to enumValues in ent/entc.go", def.Name, v.Name)
				}
			}
		case strings.HasSuffix(def.Name, "WhereInput"):
			describeWhereInput(def)
		}
	}
	return nil
}

// typeComment is the text of a node's schema.Comment annotation.
func typeComment(n *gen.Type) string {
	var c entschema.CommentAnnotation
	if raw, ok := n.Annotations[c.Name()]; ok {
		b, _ := json.Marshal(raw)
		_ = json.Unmarshal(b, &c)
	}
	return c.Text
}

// enumComment describes an enum generated from an ent enum field by the
// comment of that field.
func enumComment(g *gen.Graph, enum string) string {
	for _, n := range g.Nodes {
		for _, f := range n.Fields {
			if !f.IsEnum() {
				continue
			}
			var ant entgql.Annotation
			if raw, ok := f.Annotations[ant.Name()]; ok {
				b, _ := json.Marshal(raw)
				_ = json.Unmarshal(b, &ant)
			}
			name := n.Name + f.StructField()
			if ant.Type != "" {
				name = ant.Type
			}
			if name == enum {
				return f.Comment()
			}
		}
	}
	return ""
}

// whereOps are the suffixes of entgql's predicate fields, longest first,
// with what each one matches.
var whereOps = []struct{ suffix, text string }{
	{"ContainsFold", "%s contains the value, ignoring case."},
	{"EqualFold", "%s equals the value, ignoring case."},
	{"HasPrefix", "%s starts with the value."},
	{"HasSuffix", "%s ends with the value."},
	{"Contains", "%s contains the value."},
	{"NotNil", "When true, %s is set."},
	{"IsNil", "When true, %s is not set."},
	{"NotIn", "%s is none of the values."},
	{"NEQ", "%s does not equal the value."},
	{"GTE", "%s is greater than or equal to the value (later, for times)."},
	{"LTE", "%s is less than or equal to the value (earlier, for times)."},
	{"GT", "%s is greater than the value (later, for times)."},
	{"LT", "%s is less than the value (earlier, for times)."},
	{"In", "%s is one of the values."},
}

// describeWhereInput describes a generated filter input and each of its
// predicates.
func describeWhereInput(def *ast.Definition) {
	of := strings.TrimSuffix(def.Name, "WhereInput")
	def.Description = fmt.Sprintf("A filter of %s objects: one matches when every predicate given holds. "+
		"Combine filters with not, and and or.", of)
	fields := map[string]bool{}
	for _, f := range def.Fields {
		fields[f.Name] = true
	}
	for _, f := range def.Fields {
		switch f.Name {
		case "not":
			f.Description = "Matches what this filter does not match."
			continue
		case "and":
			f.Description = "Matches what every one of these filters matches."
			continue
		case "or":
			f.Description = "Matches what at least one of these filters matches."
			continue
		}
		f.Description = fmt.Sprintf("%s equals the value.", f.Name)
		for _, op := range whereOps {
			if base, ok := strings.CutSuffix(f.Name, op.suffix); ok && fields[base] {
				f.Description = fmt.Sprintf(op.text, base)
				break
			}
		}
	}
}

// specifiedBy is @specifiedBy(url: url), for a custom scalar.
func specifiedBy(url string) *ast.Directive {
	return &ast.Directive{Name: "specifiedBy", Arguments: ast.ArgumentList{{
		Name:  "url",
		Value: &ast.Value{Kind: ast.StringValue, Raw: url},
	}}}
}
