package database

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/batch"
)

// ShownUserColumns are the users columns besides the id that the GraphQL
// User type can show (never password_hash or username_key): what the hot
// paths that hand out a user read (ReadUser for `me`, and a refresh's
// joined read of its token in internal/session).
var ShownUserColumns = []string{user.FieldCreatedAt, user.FieldUpdatedAt, user.FieldEmail,
	user.FieldEmailVerifiedAt, user.FieldUsername, user.FieldFirstName, user.FieldLastName, user.FieldAge, user.FieldRole}

// userStatements holds the statements that read each set of
// ShownUserColumns (bit i for column i), made on first use: index 0 by
// one id, index 1 by an array of ids (a batch). A `me` selects a few
// fields, and its read sends and scans only their columns. pgx prepares
// each once per connection and reuses it; ids go as [16]byte, which pgx
// encodes as a binary uuid without the text round trip of uuid.UUID's
// driver.Valuer.
var userStatements [2][1 << 9]atomic.Pointer[string]

// allUserColumns is the set of every ShownUserColumns.
const allUserColumns = 1<<9 - 1

// roleColumn is the role's bit in a set of ShownUserColumns.
var roleColumn = uint16(1) << slices.Index(ShownUserColumns, user.FieldRole)

func init() {
	if len(ShownUserColumns) != 9 {
		panic("database: userStatements is sized for 9 shown user columns")
	}
}

// userColumnSet is the set of columns, each one of ShownUserColumns:
// nil is all of them, and so is a list with any other name.
func userColumnSet(columns []string) uint16 {
	if columns == nil {
		return allUserColumns
	}
	var set uint16
	for _, c := range columns {
		i := slices.Index(ShownUserColumns, c)
		if i < 0 {
			return allUserColumns
		}
		set |= 1 << i
	}
	return set
}

// userStatement is the SELECT of the id and the columns in set, by one
// id, or by any of an array of ids.
func userStatement(set uint16, many bool) string {
	kind := 0
	if many {
		kind = 1
	}
	if q := userStatements[kind][set].Load(); q != nil {
		return *q
	}
	match := " = $1"
	if many {
		match = " = ANY($1)"
	}
	q := "SELECT " + strings.Join(selected(set), ", ") + " FROM " + user.Table + " WHERE " + user.FieldID + match
	userStatements[kind][set].Store(&q)
	return q
}

// selected is the id and the columns in set, in the order of
// ShownUserColumns.
func selected(set uint16) []string {
	cols := []string{user.FieldID}
	for i, c := range ShownUserColumns {
		if set&(1<<i) != 0 {
			cols = append(cols, c)
		}
	}
	return cols
}

// userFields are where the id and the columns in set scan to, in u.
func userFields(u *ent.User, set uint16) []any {
	all := [...]any{&u.CreatedAt, &u.UpdatedAt, &u.Email, &u.EmailVerifiedAt, &u.Username,
		&u.FirstName, &u.LastName, &u.Age, (*string)(&u.Role)}
	dest := make([]any, 1, 1+len(all))
	dest[0] = (*[16]byte)(&u.ID)
	for i, d := range all {
		if set&(1<<i) != 0 {
			dest = append(dest, d)
		}
	}
	return dest
}

// userKey is one ReadUser: the id, and the columns to read.
type userKey struct {
	id  uuid.UUID
	set uint16
}

// ReadUser returns the user with id, read from the database now (never
// cached: a change committed by any instance shows at once): its id and
// the given columns of ShownUserColumns, all of them when columns is nil
// or names another column, none when it is empty; the fields of the
// other columns may stay zero. It is the read every authenticated `me`
// makes, so on PostgreSQL it skips ent's query builder and database/sql's
// row machinery (a goroutine per query to watch the context, reflection
// to scan): it borrows a connection of the pool and runs a prepared
// statement through pgx itself, under the statement deadline. When reads
// come faster than PostgreSQL answers them (batch.PerCPU in flight), the
// next ones wait together and go as one statement for all their ids.
// The user it returns carries
// no ent client: read its fields, never its edges. A missing user is
// ent's NotFoundError, as from ent.
func (db *DB) ReadUser(ctx context.Context, id uuid.UUID, columns []string) (*ent.User, error) {
	key := userKey{id: id, set: userColumnSet(columns)}
	if db.users == nil {
		return db.readUsersWithEnt(ctx, key)
	}
	return db.users.Load(ctx, key)
}

// readUsersWithEnt reads key through ent: the SQLite path, and the one
// place a missing user's NotFoundError is made.
func (db *DB) readUsersWithEnt(ctx context.Context, key userKey) (*ent.User, error) {
	return db.User.Query().Where(user.ID(key.id)).Select(selected(key.set)...).Only(ctx)
}

// fetchUsers answers ReadUser's keys on PostgreSQL: one key by its id,
// several with one statement for all their ids that reads every column
// any of them asked for.
func (db *DB) fetchUsers(ctx context.Context, keys []userKey) []batch.Result[*ent.User] {
	out := make([]batch.Result[*ent.User], len(keys))
	var set uint16
	ids := make([][16]byte, 0, len(keys))
	for _, k := range keys {
		set |= k.set
		if !slices.Contains(ids, [16]byte(k.id)) {
			ids = append(ids, [16]byte(k.id))
		}
	}
	users, err := db.queryUsers(ctx, set, ids)
	for i, k := range keys {
		j := slices.IndexFunc(users, func(u *ent.User) bool { return u.ID == k.id })
		switch {
		case err != nil:
			out[i].Err = err
		case j < 0:
			out[i].Value, out[i].Err = db.readUsersWithEnt(ctx, k)
		case k.set&roleColumn != 0 && user.RoleValidator(users[j].Role) != nil:
			// A row ent would refuse fails its own reads, not the batch's.
			out[i].Err = fmt.Errorf("read user: %w", user.RoleValidator(users[j].Role))
		case len(keys) > 1:
			copied := *users[j] // each caller its own
			out[i].Value = &copied
		default:
			out[i].Value = users[j]
		}
	}
	return out
}

// queryUsers reads the id and the columns in set of the users with ids,
// in one statement.
func (db *DB) queryUsers(ctx context.Context, set uint16, ids [][16]byte) ([]*ent.User, error) {
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
	users := make([]*ent.User, 0, len(ids))
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("the pool's driver is %T, not pgx", dc)
		}
		if len(ids) == 1 {
			u := &ent.User{}
			err := c.Conn().QueryRow(ctx, userStatement(set, false), ids[0]).Scan(userFields(u, set)...)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			users = append(users, u)
			return err
		}
		rows, err := c.Conn().Query(ctx, userStatement(set, true), ids)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u := &ent.User{}
			if err := rows.Scan(userFields(u, set)...); err != nil {
				return err
			}
			users = append(users, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	return users, nil
}
