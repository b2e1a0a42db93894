package database

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/user"
)

// ShownUserColumns are the users columns besides the id that the GraphQL
// User type can show (never password_hash or username_key): what the hot
// paths that hand out a user read (ReadUser for `me`, and a refresh's
// joined read of its token in internal/session).
var ShownUserColumns = []string{user.FieldCreatedAt, user.FieldUpdatedAt, user.FieldEmail,
	user.FieldEmailVerifiedAt, user.FieldUsername, user.FieldFirstName, user.FieldLastName, user.FieldAge, user.FieldRole}

// userByID is the hot read of `me`: one primary-key SELECT of
// ShownUserColumns (ReadUser scans them in this order). pgx prepares it
// once per connection and reuses the statement; the id goes as [16]byte,
// which pgx encodes as a binary uuid without the text round trip of
// uuid.UUID's driver.Valuer.
var userByID = "SELECT " + strings.Join(ShownUserColumns, ", ") + " FROM " + user.Table + " WHERE " + user.FieldID + " = $1"

// userColumns are ShownUserColumns and the id, for the ent query that
// reads them on SQLite.
var userColumns = append([]string{user.FieldID}, ShownUserColumns...)

// ReadUser returns the user with id, read from the database now (never
// cached: a change committed by any instance shows at once). It is the
// read every authenticated `me` makes, so on PostgreSQL it skips ent's
// query builder and database/sql's row machinery (a goroutine per query
// to watch the context, reflection to scan): it borrows a connection of
// the pool and runs one prepared statement through pgx itself, with the
// statement deadline. The user it returns carries no ent client: read
// its fields, never its edges. A missing user is ent's NotFoundError,
// as from ent.
func (db *DB) ReadUser(ctx context.Context, id uuid.UUID) (*ent.User, error) {
	if db.Dialect != dialect.Postgres {
		return db.User.Query().Where(user.ID(id)).Select(userColumns...).Only(ctx)
	}
	if db.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, db.timeout)
		defer cancel()
	}
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	defer conn.Close()
	u := &ent.User{ID: id}
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("read user: the pool's driver is %T, not pgx", dc)
		}
		return c.Conn().QueryRow(ctx, userByID, [16]byte(id)).Scan(&u.CreatedAt, &u.UpdatedAt, &u.Email,
			&u.EmailVerifiedAt, &u.Username, &u.FirstName, &u.LastName, &u.Age, (*string)(&u.Role))
	})
	if errors.Is(err, pgx.ErrNoRows) {
		// ent's own answer, with its NotFoundError: rare, and the one
		// place that error is made.
		return db.User.Query().Where(user.ID(id)).Select(userColumns...).Only(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	if err := user.RoleValidator(u.Role); err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	return u, nil
}
