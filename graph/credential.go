package graph

import (
	"cmp"
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/request"
)

// credentialDirective marks the credential fields in the schema
// (graph/schema/auth.graphqls): the mutations that check a password, a
// code or a token, or that tell whether an account exists. An operation
// may select them at most GRAPHQL_MAX_CREDENTIAL_FIELDS times (aliases
// could otherwise batch guesses into one request), and each costs a token
// of the client's RATE_LIMIT_AUTH bucket. A mutation is covered by being
// marked; TestSecretArgumentsAreCredentialFields fails when one that takes
// a secret is not.
//
// updateProfile is one too: it answers CONFLICT when the username (or,
// with EMAIL_VERIFICATION=off, the email) it sets belongs to another
// account, which tells whether that account exists. It is once per
// document, and costs a token when it sets an email or username
// (identifierChange); with the email flows on, emails change through
// requestEmailChange, which answers the same for taken addresses.
const credentialDirective = "credential"

// credentialFields are the Mutation fields marked @credential, read from
// the schema once at start.
type credentialFields struct {
	marked map[string]bool
	names  string // for error messages: "signUp, signIn, … and changePassword"
}

// credentialFieldsOf reads the fields of s's Mutation type marked
// @credential.
func credentialFieldsOf(s *ast.Schema) credentialFields {
	c := credentialFields{marked: map[string]bool{}}
	if s.Mutation == nil {
		return c
	}
	var names []string
	for _, f := range s.Mutation.Fields {
		if f.Directives.ForName(credentialDirective) != nil {
			c.marked[f.Name] = true
			names = append(names, f.Name)
		}
	}
	if n := len(names); n > 1 {
		c.names = strings.Join(names[:n-1], ", ") + " and " + names[n-1]
	} else {
		c.names = strings.Join(names, "")
	}
	return c
}

// identifierChange reports whether an updateProfile call, with its
// arguments as the client sent them, sets an email or username: the
// changes that can probe for accounts, and so cost a token of the
// client's auth bucket. Every other credential field always costs one.
// The field's description in graph/schema/users.graphqls says so.
func identifierChange(field string, args map[string]any) bool {
	if field != "updateProfile" {
		return true
	}
	in, _ := args["input"].(map[string]any)
	return in["email"] != nil || in["username"] != nil
}

// count counts the credential fields that op, the operation that runs,
// would execute: its root fields with fragments
// expanded, each distinct response key once. Aliases are distinct keys, so
// two aliases of signIn count two, whether written in op or in its
// fragments; a field written twice under one key runs once and counts
// once. Other operations of the document do not run and do not count,
// so a client may send one document holding signIn and refresh (GraphiQL,
// generated clients) and pick one with operationName.
//
// Only the root selection set is walked: credential fields are fields of
// Mutation, and no field returns Mutation (TestNoFieldReturnsMutation), so
// a mutation's root is the only place they can be.
func (c credentialFields) count(doc *ast.QueryDocument, op *ast.OperationDefinition) int {
	keys := map[string]bool{}
	eachRootField(doc, op, func(f *ast.Field) {
		if c.marked[f.Name] && f.ObjectDefinition != nil && f.ObjectDefinition.Name == "Mutation" {
			keys[cmp.Or(f.Alias, f.Name)] = true
		}
	})
	return len(keys)
}

// ClientLimiter is a token bucket per client address
// (internal/ratelimit.Buckets, in Redis or in process).
type ClientLimiter interface {
	// Allow takes a token of key's bucket; it returns 0 when the request
	// may go ahead, else how long to wait.
	Allow(ctx context.Context, key string) (time.Duration, error)
}

// rateLimitCredentials takes a token of the client's bucket before each
// credential field (marked @credential) runs, so one address can try at
// most RATE_LIMIT_AUTH passwords, sign-ups, refreshes or identifier
// changes a minute. IPv6 clients are counted by
// their /64, the block one host usually has.
func rateLimitCredentials(creds credentialFields, clients ClientLimiter) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || fc.Object != "Mutation" || !creds.marked[fc.Field.Name] {
			return next(ctx)
		}
		if op := graphql.GetOperationContext(ctx); !identifierChange(fc.Field.Name, fc.Field.ArgumentMap(op.Variables)) {
			return next(ctx)
		}
		wait, err := clients.Allow(ctx, "auth:"+clientKey(request.From(ctx).IP))
		if err != nil {
			return nil, apierr.Wrap(apierr.ServiceUnavailable, "rate limiting is unavailable; try again later", err)
		}
		if wait > 0 {
			return nil, &apierr.Error{
				Code:       apierr.TooManyRequests,
				Message:    "too many requests from this address; try again later",
				RetryAfter: wait,
			}
		}
		return next(ctx)
	}
}

// clientKey is the rate-limit key of a client address: the address
// itself for IPv4, its /64 for IPv6.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
