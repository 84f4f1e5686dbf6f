package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/status"

	"github.com/headsup-dev/headsup/internal/calltoken"
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
	creds, err := transport.ClientCredentials(addr, transport.ClientConfig{CAFile: cmd.String("ca"), CertFile: cmd.String("tls-client-cert"), KeyFile: cmd.String("tls-client-key")})
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds), transport.ClientKeepalive()}
	if keyFile := cmd.String("call-key"); keyFile != "" {
		perCall, err := callCredentials(cmd, keyFile, addr)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithPerRPCCredentials(perCall))
	}
	conn, err := grpc.NewClient(addr, append(opts,
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  250 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   5 * time.Second,
			},
			MinConnectTimeout: 5 * time.Second,
		}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("--hub %q: %w", addr, err)
	}
	return conn, nil
}

// callCredentials mints a call token per call from --call-key for
// --member, addressed to --origin (the --hub address by default).
func callCredentials(cmd *cli.Command, keyFile, addr string) (*calltoken.Credentials, error) {
	member := cmd.String("member")
	if member == "" {
		return nil, usagef("--member is required with --call-key")
	}
	key, err := directory.LoadPrivateKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--call-key: %w", err)
	}
	origin := cmd.String("origin")
	if origin == "" {
		origin = addr
	}
	var opts []calltoken.Option
	if cmd.String("ca") == "" && transport.IsLoopback(addr) {
		opts = append(opts, calltoken.AllowInsecureLoopback())
	}
	creds, err := calltoken.NewCredentials(key, member, origin, opts...)
	if err != nil {
		return nil, fmt.Errorf("--call-key: %w", err)
	}
	return creds, nil
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
