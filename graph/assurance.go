package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gqlauth/gqlauth/internal/authn"
	"github.com/gqlauth/gqlauth/internal/policy"
)

// The directives that exempt root fields from the second-factor rules
// (graph/schema/factors.graphqls), read from the schema at start so that
// a new field is guarded unless its schema says otherwise.
const (
	aal1Directive       = "aal1"       // usable by a session still due to step up
	enrollmentDirective = "enrollment" // usable by a user who must enroll a factor first
)

// assuranceFields are the root fields marked @aal1 and @enrollment, keyed
// "Query.me", "Mutation.verifyMfa".
type assuranceFields struct {
	aal1, enrollment map[string]bool
}

// assuranceFieldsOf reads the marks of s's Query and Mutation fields.
func assuranceFieldsOf(s *ast.Schema) assuranceFields {
	a := assuranceFields{aal1: map[string]bool{}, enrollment: map[string]bool{}}
	for _, t := range []*ast.Definition{s.Query, s.Mutation} {
		if t == nil {
			continue
		}
		for _, f := range t.Fields {
			if f.Directives.ForName(aal1Directive) != nil {
				a.aal1[t.Name+"."+f.Name] = true
			}
			if f.Directives.ForName(enrollmentDirective) != nil {
				a.enrollment[t.Name+"."+f.Name] = true
			}
		}
	}
	return a
}

// Assurance tells what an authenticated request still owes
// (authn.MFA.Requirement).
type Assurance func(ctx context.Context, v *policy.Viewer) (authn.Requirement, error)

// requireAssurance is the AAL1 allow-list, the one place it is enforced:
// before a root field of Query or Mutation runs for a signed-in viewer,
// a session that must step up may use only the @aal1 fields (else
// MFA_REQUIRED), and a user who must enroll a factor only the @aal1 and
// @enrollment ones (else MFA_ENROLLMENT_REQUIRED). A request without a
// viewer, or whose token does not verify, goes on: the field itself
// answers as it would (signIn needs none; the others UNAUTHENTICATED).
func requireAssurance(fields assuranceFields, owed Assurance) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || (fc.Object != "Query" && fc.Object != "Mutation") || strings.HasPrefix(fc.Field.Name, "__") {
			return next(ctx)
		}
		key := fc.Object + "." + fc.Field.Name
		if fields.aal1[key] {
			return next(ctx)
		}
		v, err := policy.OptionalViewer(ctx)
		if err != nil || v == nil {
			return next(ctx)
		}
		req, err := owed(ctx, v)
		if err != nil {
			return nil, err
		}
		if req == authn.EnrollmentDue && fields.enrollment[key] {
			return next(ctx)
		}
		if err := authn.MFARequiredError(req); err != nil {
			return nil, err
		}
		return next(ctx)
	}
}
