package graph

import (
	"fmt"
	"sort"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/gqlauth/gqlauth/internal/apierr"
)

// checkArguments refuses any string in the operation's arguments (literal
// or variable, however deeply nested in input objects and lists) that is
// not valid UTF-8, holds a control character or NUL, or is longer than
// l.MaxStringBytes; any list longer than l.MaxInputList and any input
// object nested deeper than l.MaxInputDepth (a filter of 20,000 ORs, or
// 5,000 nested NOTs, held PostgreSQL for minutes); and any Time that
// gqlgen could not read (its own error would reach the client as an
// internal error). The error is BAD_USER_INPUT and names the input field,
// as the services' own validation does.
func checkArguments(op *graphql.OperationContext, schema *ast.Schema, l Limits) *gqlerror.Error {
	in := inputCheck{bad: map[string]string{}, schema: schema, maxBytes: l.MaxStringBytes,
		maxList: l.MaxInputList, maxDepth: l.MaxInputDepth}
	seen := map[string]bool{}
	checkArgs := func(args ast.ArgumentList, defs ast.ArgumentDefinitionList) {
		for _, a := range args {
			v, err := a.Value.Value(op.Variables)
			if err != nil {
				continue // coercion reports it
			}
			var typ *ast.Type
			if d := defs.ForName(a.Name); d != nil {
				typ = d.Type
			}
			in.value(inputPath(a.Name), v, typ, 0)
		}
	}
	var walkSet func(ast.SelectionSet)
	walkSet = func(sels ast.SelectionSet) {
		for _, sel := range sels {
			switch s := sel.(type) {
			case *ast.Field:
				var defs ast.ArgumentDefinitionList
				if s.Definition != nil {
					defs = s.Definition.Arguments
				}
				checkArgs(s.Arguments, defs)
				for _, d := range s.Directives {
					var ddefs ast.ArgumentDefinitionList
					if d.Definition != nil {
						ddefs = d.Definition.Arguments
					}
					checkArgs(d.Arguments, ddefs)
				}
				walkSet(s.SelectionSet)
			case *ast.InlineFragment:
				walkSet(s.SelectionSet)
			case *ast.FragmentSpread:
				if !seen[s.Name] {
					seen[s.Name] = true
					if def := op.Doc.Fragments.ForName(s.Name); def != nil {
						walkSet(def.SelectionSet)
					}
				}
			}
		}
	}
	walkSet(op.Operation.SelectionSet)
	return in.err()
}

// inputPath names an argument the way the services name fields: the
// fields of an argument called input stand alone ("email", not
// "input.email").
func inputPath(arg string) string {
	if arg == "input" {
		return ""
	}
	return arg
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// inputCheck collects what is wrong with argument values; a bound of 0
// is off.
type inputCheck struct {
	bad      map[string]string
	schema   *ast.Schema // nil: types unknown, strings checked only
	maxBytes int
	maxList  int // items of a list
	maxDepth int // input objects nested in one another
	// shapeOnly checks lists and nesting alone: raw variables, before
	// coercion (their strings are checked with the arguments).
	shapeOnly bool
}

// err is the BAD_USER_INPUT error naming every bad field, or nil.
func (c inputCheck) err() *gqlerror.Error {
	if len(c.bad) == 0 {
		return nil
	}
	names := make([]string, 0, len(c.bad))
	for k := range c.bad {
		names = append(names, k)
	}
	sort.Strings(names)
	err := gqlerror.Errorf("invalid input: %s %s", names[0], c.bad[names[0]])
	err.Extensions = map[string]any{"code": string(apierr.BadUserInput), "fields": c.bad}
	return err
}

func (c inputCheck) add(path, why string) {
	if path == "" {
		path = "input"
	}
	if _, ok := c.bad[path]; !ok {
		c.bad[path] = why
	}
}

// value checks v, of GraphQL type typ (nil when unknown), at path, inside
// depth input objects.
func (c inputCheck) value(path string, v any, typ *ast.Type, depth int) {
	if typ != nil && typ.Elem == nil && typ.NamedType == "Time" && v != nil {
		if _, err := graphql.UnmarshalTime(v); err != nil {
			c.add(path, "must be an RFC 3339 date-time, like 2026-01-02T15:04:05Z")
			return
		}
	}
	switch x := v.(type) {
	case string:
		if c.shapeOnly {
			return
		}
		if why := badString(x, c.maxBytes); why != "" {
			c.add(path, why)
		}
	case map[string]any:
		if c.maxDepth > 0 && depth >= c.maxDepth {
			c.add(path, fmt.Sprintf("nests input objects more than %d deep", c.maxDepth))
			return
		}
		var def *ast.Definition
		if typ != nil && typ.Elem == nil && c.schema != nil {
			def = c.schema.Types[typ.NamedType]
		}
		for k, e := range x {
			var ft *ast.Type
			if def != nil {
				if f := def.Fields.ForName(k); f != nil {
					ft = f.Type
				}
			}
			c.value(join(path, k), e, ft, depth+1)
		}
	case []any:
		if c.maxList > 0 && len(x) > c.maxList {
			c.add(path, fmt.Sprintf("must have at most %d items, not %d", c.maxList, len(x)))
			return
		}
		var et *ast.Type
		if typ != nil {
			et = typ.Elem
		}
		for i, e := range x {
			c.value(path+"["+strconv.Itoa(i)+"]", e, et, depth)
		}
	}
}

// badString explains what is wrong with an input string, or returns "".
func badString(s string, maxBytes int) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case maxBytes > 0 && len(s) > maxBytes:
		return fmt.Sprintf("must be at most %d bytes", maxBytes)
	}
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			return "is not valid UTF-8 (holds U+FFFD or a lone surrogate)"
		case unicode.IsControl(r):
			return "must not contain control characters"
		}
	}
	return ""
}
