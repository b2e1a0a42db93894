package auth

import "context"

// Identity is who a bearer token speaks for: what the forward-auth
// endpoint hands a proxy's upstream.
type Identity struct {
	UserID    string
	SessionID string
	// Role is the token's role; an ADMIN's is re-read from the database.
	Role string
	// Email is the token's email claim, empty when it has none.
	Email string
}

// Identify verifies a bearer token as every authenticated request does
// (signature, claims, deny list, an admin's role): UNAUTHENTICATED when it
// is not valid, SERVICE_UNAVAILABLE when the deny list cannot be asked.
func (s *Service) Identify(ctx context.Context, bearer string) (Identity, error) {
	v, err := s.authenticate(ctx, bearer)
	if err != nil {
		return Identity{}, err
	}
	return Identity{UserID: v.UserID.String(), SessionID: v.SessionID.String(), Role: string(v.Role), Email: v.Claims.Email}, nil
}
