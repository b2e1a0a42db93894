package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/gqlauth/gqlauth/internal/config"
)

// userCommand manages accounts from the command line.
func userCommand(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	return errors.New("user: not implemented yet")
}
