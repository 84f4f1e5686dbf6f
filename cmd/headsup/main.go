// Command headsup is the command line of a headsup federation, for people
// at abuse desks and for their scripts: generate a member key, publish a
// signed notice, follow the log and verify every entry locally.
//
// Every subcommand reads the common flags --hub, --member, --key and
// --directory, also from HEADSUP_HUB, HEADSUP_MEMBER, HEADSUP_KEY and
// HEADSUP_DIRECTORY. An error is one line on stderr that names the field
// or flag at fault; the exit status is 1, or 2 for a usage error.
//
// The connection to the hub is plaintext gRPC for now: TLS and call
// credentials arrive with access control.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v3"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := newApp(stdin, stdout, stderr).Run(ctx, args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "headsup: %v\n", err)
	if errors.As(err, new(*usageError)) {
		return 2
	}
	return 1
}

// usageError is a command line that cannot be run as written.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

func onUsageError(_ context.Context, cmd *cli.Command, err error, _ bool) error {
	if cmd.Root() != cmd {
		err = fmt.Errorf("%s: %w", cmd.Name, err)
	}
	return &usageError{err}
}
