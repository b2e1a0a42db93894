// Command codegen is gqlauth's typed-client example: a Go program whose
// GraphQL client genqlient generated from the published SDL. It signs up,
// reads `me`, refreshes the tokens and logs out against a running gqlauth:
//
//	make run    # in another terminal
//	go run ./examples/codegen -url http://localhost:8080/graphql
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/gqlauth/gqlauth/examples/codegen/gqlauthclient"
)

func main() {
	endpoint := flag.String("url", "http://localhost:8080/graphql", "gqlauth's GraphQL endpoint")
	email := flag.String("email", fmt.Sprintf("codegen-%d@example.com", time.Now().Unix()), "email of the account to create")
	flag.Parse()
	// The password comes from the environment, not a flag that ps shows.
	password := os.Getenv("EXAMPLE_PASSWORD")
	if password == "" {
		password = "correct horse battery"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := run(ctx, *endpoint, http.DefaultClient, *email, password, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "codegen example:", err)
		os.Exit(1)
	}
}

// bearerClient sends the access token it holds with every request: the
// genqlient client takes any Doer, so authentication is a small wrapper.
type bearerClient struct {
	http        *http.Client
	accessToken string
}

// Do sends req, with the access token when there is one.
func (c *bearerClient) Do(req *http.Request) (*http.Response, error) {
	if c.accessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.accessToken)
	}
	return c.http.Do(req)
}

// endedSession is the last session run had before logging out: its
// tokens must no longer work.
type endedSession struct {
	AccessToken, RefreshToken string
}

// run signs up, reads me, refreshes and logs out, printing each step to
// out. It returns the first failure, with gqlauth's error code.
func run(ctx context.Context, endpoint string, hc *http.Client, email, password string, out io.Writer) (*endedSession, error) {
	auth := &bearerClient{http: hc}
	gql := graphql.NewClient(endpoint, auth)

	signUp, err := gqlauthclient.SignUp(ctx, gql, gqlauthclient.SignUpInput{Email: &email, Password: password})
	if err != nil {
		return nil, fmt.Errorf("signUp: %w", describe(err))
	}
	auth.accessToken = signUp.SignUp.AccessToken
	fmt.Fprintf(out, "signed up as %s (user %s, role %s)\n", email, signUp.SignUp.User.Id, signUp.SignUp.User.Role)

	me, err := gqlauthclient.Me(ctx, gql)
	if err != nil {
		return nil, fmt.Errorf("me: %w", describe(err))
	}
	fmt.Fprintf(out, "me: %s, created %s\n", deref(me.Me.Email), me.Me.CreatedAt.Format(time.RFC3339))

	if signUp.SignUp.RefreshToken == nil {
		return nil, errors.New("signUp returned no refresh token: is REFRESH_TOKEN_IN_BODY=false?")
	}
	refreshed, err := gqlauthclient.Refresh(ctx, gql, *signUp.SignUp.RefreshToken)
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", describe(err))
	}
	auth.accessToken = refreshed.Refresh.AccessToken
	fmt.Fprintf(out, "refreshed: new access token valid for %ds\n", refreshed.Refresh.ExpiresIn)

	loggedOut, err := gqlauthclient.Logout(ctx, gql, gqlauthclient.LogoutScopeLocal)
	if err != nil {
		return nil, fmt.Errorf("logout: %w", describe(err))
	}
	fmt.Fprintf(out, "logged out: %t\n", loggedOut.Logout)
	return &endedSession{AccessToken: refreshed.Refresh.AccessToken, RefreshToken: deref(refreshed.Refresh.RefreshToken)}, nil
}

// errorCode is the extensions.code of the first GraphQL error in err, or "".
func errorCode(err error) string {
	var list gqlerror.List
	if !errors.As(err, &list) || len(list) == 0 {
		return ""
	}
	code, _ := list[0].Extensions["code"].(string)
	return code
}

// describe adds gqlauth's extensions.code to GraphQL errors.
func describe(err error) error {
	var list gqlerror.List
	if !errors.As(err, &list) {
		return err
	}
	msgs := make([]string, 0, len(list))
	for _, e := range list {
		msgs = append(msgs, fmt.Sprintf("%v: %s", e.Extensions["code"], e.Message))
	}
	return fmt.Errorf("%w (%s)", err, strings.Join(msgs, "; "))
}

// deref is *s, or "" for nil (nullable fields are pointers).
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
