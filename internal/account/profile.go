package account

import (
	"context"
	"reflect"
	"slices"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/predicate"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/validate"
)

// Me returns the signed-in user, read fresh from the database (never
// cached, so a change committed anywhere shows at once): its id and the
// given columns of database.ShownUserColumns, all of them when columns is
// nil (the others may stay zero).
func (s *Service) Me(ctx context.Context, columns []string) (*ent.User, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.readUser(ctx, v.UserID, columns)
	if ent.IsNotFound(err) {
		return nil, apierr.New(apierr.Unauthenticated, "the account no longer exists")
	}
	return u, err
}

// Change is one field of a partial update. Set says the client gave the
// field at all; a Set change whose Value is nil clears the field.
type Change[T any] struct {
	Set   bool
	Value *T
}

// ProfileUpdate is the updateProfile mutation's input: the fields to
// change. A text field set to an empty string is cleared like a nil one.
type ProfileUpdate struct {
	Email     Change[string]
	Username  Change[string]
	FirstName Change[string]
	LastName  Change[string]
	Age       Change[int]
}

// UpdateProfile changes the signed-in user's profile. Values are checked
// as in SignUp, and every invalid field is reported at once, together
// with "an email or a username is required" when the change would leave
// neither. A taken email or username is CONFLICT, decided by the
// database's unique indexes. The access token's email and username
// claims catch up at the next refresh.
//
// With the email flows on, the email is changed only by
// RequestEmailChange, which verifies the new address and tells nobody
// whether it is taken; here it is BAD_USER_INPUT unless it stays the
// same. With EMAIL_VERIFICATION=off a new email is stored unverified.
func (s *Service) UpdateProfile(ctx context.Context, in ProfileUpdate) (*ent.User, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	errs := validate.Errors{}
	p := validate.Profile(errs, in.Email.Value, in.Username.Value, in.FirstName.Value, in.LastName.Value, in.Age.Value)
	var out *ent.User
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		// The row lock makes concurrent updates of one user take turns, so
		// two of them cannot together clear both email and username.
		u, err := tx.User.Query().Where(user.ID(v.UserID), predicate.User(database.ForUpdate)).Unique(false).Only(ctx)
		if ent.IsNotFound(err) {
			return errAccountGone
		}
		if err != nil {
			return err
		}
		upd := tx.User.UpdateOne(u)
		email, username := u.Email, u.Username
		if in.Email.Set && !sameEmail(u.Email, p.Email) {
			if s.flowsOn() {
				errs.Add("email", "is changed with requestEmailChange, which verifies the new address")
			}
			email = p.Email
			upd.ClearEmailVerifiedAt()
			if p.Email != nil {
				upd.SetEmail(*p.Email)
			} else {
				upd.ClearEmail()
			}
		}
		if in.Username.Set {
			username = p.Username
			if p.Username != nil {
				upd.SetUsername(*p.Username).SetUsernameKey(*p.UsernameKey)
			} else {
				upd.ClearUsername().ClearUsernameKey()
			}
		}
		if in.FirstName.Set {
			upd.SetNillableFirstName(p.FirstName)
			if p.FirstName == nil {
				upd.ClearFirstName()
			}
		}
		if in.LastName.Set {
			upd.SetNillableLastName(p.LastName)
			if p.LastName == nil {
				upd.ClearLastName()
			}
		}
		if in.Age.Set {
			upd.SetNillableAge(p.Age)
			if p.Age == nil {
				upd.ClearAge()
			}
		}
		validate.RequireEmailOrUsername(errs, email, username)
		if err := errs.Err(); err != nil {
			return err
		}
		if out, err = upd.Save(ctx); err != nil {
			return conflictOr(err)
		}
		return s.audit.Record(ctx, tx, profileEvents(u, out)...)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// profileEvents are the audit events of a profile update from before to
// after: user.profile_updated naming the fields that changed (not their
// values), and user.email_changed when the email did.
func profileEvents(before, after *ent.User) []audit.Event {
	var fields []string
	changed := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			fields = append(fields, name)
		}
	}
	changed("email", before.Email, after.Email)
	changed("username", before.Username, after.Username)
	changed("firstName", before.FirstName, after.FirstName)
	changed("lastName", before.LastName, after.LastName)
	changed("age", before.Age, after.Age)
	if len(fields) == 0 {
		return nil
	}
	events := []audit.Event{{Type: audit.UserProfileUpdated, UserID: after.ID, Details: map[string]any{"fields": fields}}}
	if slices.Contains(fields, "email") {
		events = append(events, audit.Event{Type: audit.UserEmailChanged, UserID: after.ID})
	}
	return events
}

// sameEmail reports whether two optional addresses are the same.
func sameEmail(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}
