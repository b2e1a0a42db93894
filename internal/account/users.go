package account

import (
	"context"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/gqlauth/gqlauth/ent/relay"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/predicate"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/validate"
)

// Page sizes of the users connection.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// User returns the account id if the viewer may see it. An admin asking
// for a missing id gets nil, nil; anyone else asking for an account that
// is not theirs is FORBIDDEN, whether it exists or not.
func (s *Service) User(ctx context.Context, id uuid.UUID) (*ent.User, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := v.RequireAccessTo(id); err != nil {
		return nil, err
	}
	u, err := s.db.User.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return u, err
}

// Node returns the user, session or refresh token id names (node(id),
// nodes(ids)), if the viewer may see it: a user by themself or an admin;
// a session, token or second factor by its owner or an admin. As with User, an admin
// asking for a missing id gets nil, nil, and anyone else asking for
// something that is not theirs is FORBIDDEN, whether it exists or not.
func (s *Service) Node(ctx context.Context, id uuid.UUID) (ent.Noder, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if v.CanAccessUser(id) {
		u, err := s.db.User.Get(ctx, id)
		if err == nil {
			return u, nil
		}
		if !ent.IsNotFound(err) {
			return nil, err
		}
	}
	rt, err := s.db.RefreshToken.Get(ctx, id)
	switch {
	case err != nil && !ent.IsNotFound(err):
		return nil, err
	case err == nil && v.CanAccessUser(rt.UserID):
		return rt, nil
	case err == nil:
		return nil, apierr.ErrForbidden
	}
	sess, err := s.db.Session.Get(ctx, id)
	switch {
	case err != nil && !ent.IsNotFound(err):
		return nil, err
	case err == nil && v.CanAccessUser(sess.UserID):
		return sess, nil
	case err == nil:
		return nil, apierr.ErrForbidden
	}
	f, err := s.db.Factor.Get(ctx, id)
	switch {
	case err != nil && !ent.IsNotFound(err):
		return nil, err
	case err == nil && v.CanAccessUser(f.UserID):
		return f, nil
	case err != nil && v.IsAdmin():
		return nil, nil
	}
	return nil, apierr.ErrForbidden
}

// UsersPage is the arguments of the users connection.
type UsersPage struct {
	After   *relay.Cursor[uuid.UUID]
	First   *int
	Before  *relay.Cursor[uuid.UUID]
	Last    *int
	OrderBy *ent.UserOrder
	Where   *ent.UserWhereInput
}

// Users pages through every account with keyset cursors. Admins only.
func (s *Service) Users(ctx context.Context, p UsersPage) (*ent.UserConnection, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := v.RequireAdmin(); err != nil {
		return nil, err
	}
	errs := validate.Errors{}
	for name, n := range map[string]*int{"first": p.First, "last": p.Last} {
		if n != nil && (*n < 0 || *n > MaxPageSize) {
			errs.Add(name, "must be between 0 and 100")
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if p.First == nil && p.Last == nil {
		n := DefaultPageSize
		if p.Before != nil {
			p.Last = &n
		} else {
			p.First = &n
		}
	}
	if p.First != nil && p.Last != nil {
		return nil, apierr.Invalid(map[string]string{"last": "give first or last, not both"})
	}
	if err := checkCursors(p); err != nil {
		return nil, err
	}
	q := s.db.User.Query()
	if p.Where != nil {
		if q, err = p.Where.Filter(q); err != nil {
			return nil, apierr.Wrap(apierr.BadUserInput, "invalid where filter", err)
		}
	}
	if col := nullableOrderColumn(p.OrderBy); col != "" {
		return paginateNullable(ctx, q, col, p)
	}
	return q.Paginate(ctx, p.After, p.First, p.Before, p.Last, ent.WithUserOrder(p.OrderBy))
}

// foreignCursorReason is the field error of a cursor made for another ordering.
const foreignCursorReason = "is not a cursor of this ordering"

// checkCursors refuses cursors whose value cannot come from the requested
// ordering (a cursor of another ordering would compare, say, a time with
// an email), so that they get BAD_USER_INPUT rather than an SQL error.
func checkCursors(p UsersPage) error {
	errs := validate.Errors{}
	for name, c := range map[string]*relay.Cursor[uuid.UUID]{"after": p.After, "before": p.Before} {
		if c == nil {
			continue
		}
		ok := false
		switch v := c.Value.(type) {
		case nil:
			ok = p.OrderBy == nil || nullableOrderColumn(p.OrderBy) != ""
		case string:
			ok = nullableOrderColumn(p.OrderBy) != ""
		case time.Time:
			ok = p.OrderBy != nil && p.OrderBy.Field != nil && p.OrderBy.Field.String() == "CREATED_AT" && !v.IsZero()
		}
		if !ok {
			errs.Add(name, foreignCursorReason)
		}
	}
	return errs.Err()
}

// nullableOrderColumn is the column of an ordering on a field that may be
// NULL (EMAIL, USERNAME), or "" for the others.
func nullableOrderColumn(o *ent.UserOrder) string {
	if o == nil || o.Field == nil {
		return ""
	}
	switch o.Field.String() {
	case "EMAIL":
		return user.FieldEmail
	case "USERNAME":
		return user.FieldUsername
	}
	return ""
}

// paginateNullable pages through users ordered by a column that may be
// NULL. entgql's keyset cursors compare (column, id) > (value, id), which
// never matches a NULL and so would skip every user without an email (or
// username), and the databases disagree on where NULLs sort. Here the
// order is (column IS NULL, column, id) in the requested direction: users
// without a value come after all others in ascending order, before them in
// descending order, by id among themselves, on SQLite and PostgreSQL
// alike. The cursor predicates below follow that order; ent's Paginate
// does the rest (limit, field collection, edges, page info).
func paginateNullable(ctx context.Context, q *ent.UserQuery, col string, p UsersPage) (*ent.UserConnection, error) {
	ascending := p.OrderBy.Direction == relay.OrderDirectionAsc
	base := q.Clone()
	if p.After != nil {
		q.Where(beyond(col, p.After, ascending))
	}
	if p.Before != nil {
		q.Where(beyond(col, p.Before, !ascending))
	}
	// Paginate reverses the order to serve `last`; the NULL term follows.
	nullsLast := ascending == (p.Last == nil)
	q.Order(func(s *sql.Selector) {
		dir := "DESC"
		if nullsLast {
			dir = "ASC"
		}
		s.OrderExpr(sql.ExprFunc(func(b *sql.Builder) {
			b.WriteString("(").Ident(s.C(col)).WriteString(" IS NULL) ").WriteString(dir)
		}))
	})
	conn, err := q.Paginate(ctx, nil, p.First, nil, p.Last, ent.WithUserOrder(p.OrderBy))
	if err != nil {
		return nil, err
	}
	// Paginate saw no cursors: put back what they tell, and count the
	// whole result rather than what lies beyond the cursors (only when
	// asked for: the ent template's rule, ent/template/pagination.tmpl).
	conn.PageInfo.HasNextPage = conn.PageInfo.HasNextPage || p.Before != nil
	conn.PageInfo.HasPreviousPage = conn.PageInfo.HasPreviousPage || p.After != nil
	if (p.After != nil || p.Before != nil) && selected(ctx, "totalCount") {
		if conn.TotalCount, err = base.Count(ctx); err != nil {
			return nil, err
		}
	}
	return conn, nil
}

// selected reports whether the GraphQL field being resolved selects the
// sub-field name (or ctx comes from no GraphQL request).
func selected(ctx context.Context, name string) bool {
	if graphql.GetFieldContext(ctx) == nil {
		return true
	}
	for _, f := range graphql.CollectFieldsCtx(ctx, nil) {
		if f.Name == name {
			return true
		}
	}
	return false
}

// beyond matches the users that come after cursor c in the order
// (col IS NULL, col, id), ascending when up, else descending.
func beyond(col string, c *relay.Cursor[uuid.UUID], up bool) predicate.User {
	return func(s *sql.Selector) {
		column, id := s.C(col), s.C(user.FieldID)
		idBeyond := sql.GT(id, c.ID)
		if !up {
			idBeyond = sql.LT(id, c.ID)
		}
		switch {
		case c.Value == nil && up: // only the NULLs after this one
			s.Where(sql.And(sql.IsNull(column), idBeyond))
		case c.Value == nil: // every value, and the NULLs before this one
			s.Where(sql.Or(sql.NotNull(column), sql.And(sql.IsNull(column), idBeyond)))
		case up: // greater values, equal values with a greater id, every NULL
			s.Where(sql.Or(sql.IsNull(column), sql.GT(column, c.Value),
				sql.And(sql.EQ(column, c.Value), idBeyond)))
		default: // smaller values, equal values with a smaller id
			s.Where(sql.And(sql.NotNull(column), sql.Or(sql.LT(column, c.Value),
				sql.And(sql.EQ(column, c.Value), idBeyond))))
		}
	}
}
