package auth

import (
	"context"

	"entgo.io/contrib/entgql"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apierr"
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
	v, err := ViewerFrom(ctx)
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

// UsersPage is the arguments of the users connection.
type UsersPage struct {
	After   *entgql.Cursor[uuid.UUID]
	First   *int
	Before  *entgql.Cursor[uuid.UUID]
	Last    *int
	OrderBy *ent.UserOrder
	Where   *ent.UserWhereInput
}

// Users pages through every account with keyset cursors. Admins only.
func (s *Service) Users(ctx context.Context, p UsersPage) (*ent.UserConnection, error) {
	v, err := ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := v.RequireAdmin(); err != nil {
		return nil, err
	}
	errs := fieldErrors{}
	for name, n := range map[string]*int{"first": p.First, "last": p.Last} {
		if n != nil && (*n < 0 || *n > MaxPageSize) {
			errs.add(name, "must be between 0 and 100")
		}
	}
	if err := errs.err(); err != nil {
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
	q := s.db.User.Query()
	if p.Where != nil {
		if q, err = p.Where.Filter(q); err != nil {
			return nil, apierr.Wrap(apierr.BadUserInput, "invalid where filter", err)
		}
	}
	return q.Paginate(ctx, p.After, p.First, p.Before, p.Last, ent.WithUserOrder(p.OrderBy))
}
