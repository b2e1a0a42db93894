package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// OperationReport is what the GraphQL handler learned of one request, for
// the access log and the metrics of the HTTP layer, which owns it and
// hands it over through HandlerOptions.Report.
type OperationReport struct {
	// Answered is set when the handler answered the request; Name and
	// Code are set with it.
	Answered bool
	// Name is the operation's name: operationName, else the name in the
	// document ("" for an anonymous operation).
	Name string
	// Code is "OK", or the extensions.code of the first error ("UNKNOWN"
	// when it has none).
	Code string
	// Executed: the operation passed parsing, validation, variable
	// coercion and every document limit, and was executed.
	Executed bool
}

// operationObserver is a gqlgen extension that tells the HTTP layer which
// operation a request ran and how it ended: "OK", or the extensions.code
// of the first error.
type operationObserver struct {
	report func(context.Context) *OperationReport // nil: nothing to tell
}

var (
	_ graphql.HandlerExtension     = operationObserver{}
	_ graphql.OperationInterceptor = operationObserver{}
	_ graphql.ResponseInterceptor  = operationObserver{}
)

// ExtensionName implements graphql.HandlerExtension.
func (operationObserver) ExtensionName() string { return "OperationObserver" }

// Validate implements graphql.HandlerExtension.
func (operationObserver) Validate(graphql.ExecutableSchema) error { return nil }

// reportOf is the report of the request in ctx, or nil.
func (o operationObserver) reportOf(ctx context.Context) *OperationReport {
	if o.report == nil {
		return nil
	}
	return o.report(ctx)
}

// InterceptOperation implements graphql.OperationInterceptor. gqlgen
// calls it only for an operation it is about to execute: one that parsed,
// validated, had its variables coerced and passed every document limit.
// A document refused before that never gets here, so its name, which the
// client chose, cannot take one of the metrics' operation label slots.
func (o operationObserver) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if out := o.reportOf(ctx); out != nil {
		out.Executed = true
	}
	return next(ctx)
}

// InterceptResponse implements graphql.ResponseInterceptor.
func (o operationObserver) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	out := o.reportOf(ctx)
	if out == nil {
		return resp
	}
	out.Answered = true
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		out.Name = oc.OperationName
		switch {
		case out.Name != "":
		case oc.Operation != nil:
			out.Name = oc.Operation.Name
		case oc.RawQuery != "":
			// The document failed validation, so gqlgen kept no parsed
			// copy; parse it (syntax only) to name it all the same.
			if doc, err := parser.ParseQuery(&ast.Source{Input: oc.RawQuery}); err == nil {
				if op := doc.Operations.ForName(""); op != nil {
					out.Name = op.Name
				}
			}
		}
	}
	out.Code = "OK"
	if resp != nil && len(resp.Errors) > 0 {
		out.Code = "UNKNOWN"
		if c, ok := resp.Errors[0].Extensions["code"].(string); ok && c != "" {
			out.Code = c
		}
	}
	return resp
}
