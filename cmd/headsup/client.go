package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/status"

	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/transport"
)

// dial connects to the hub named by --hub: TLS verified against --ca (or
// the system roots) for every hub off loopback, plaintext only to a
// loopback hub without --ca (transport.ClientCredentials). gRPC reconnects with a short backoff, so that a hub that comes back is
// found within one retry of publish rather than after gRPC's default two
// minutes.
func dial(cmd *cli.Command) (*grpc.ClientConn, error) {
	addr := cmd.String("hub")
	if addr == "" {
		return nil, usagef("--hub: empty address")
	}
	creds, err := transport.ClientCredentials(addr, cmd.String("ca"))
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  250 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   5 * time.Second,
			},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("--hub %q: %w", addr, err)
	}
	return conn, nil
}

// loadDirectory loads --directory, or returns nil when it is not given.
func loadDirectory(cmd *cli.Command) (*directory.Directory, error) {
	path := cmd.String("directory")
	if path == "" {
		return nil, nil
	}
	d, err := directory.Load(path)
	if err != nil {
		return nil, fmt.Errorf("--directory: %w", err)
	}
	return d, nil
}

// rpcError spells a gRPC error as "<Code>: <message>".
func rpcError(err error) error {
	if s, ok := status.FromError(err); ok {
		return fmt.Errorf("%s: %s", s.Code(), s.Message())
	}
	return err
}
