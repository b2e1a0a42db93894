package main

import (
	"context"
	"errors"
)

func scaleCommand(ctx context.Context, args []string) error { return errors.New("todo") }
func seedCommand(ctx context.Context, args []string) error  { return errors.New("todo") }
