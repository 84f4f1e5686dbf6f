package transport

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Keepalive is how the hub and its clients keep idle connections honest
// (DESIGN.md, Delivery; issue 8). The numbers fit together: clients ping
// every ClientPing, which must not be shorter than the hub's MinPing, or
// the hub answers the pings with GOAWAY ("too_many_pings") and the client
// loses its subscription.
type Keepalive struct {
	// MinPing is the shortest interval between client pings the hub
	// tolerates; pings are allowed on connections with no open stream.
	MinPing time.Duration
	// Ping is how long the hub waits on an idle connection before pinging
	// the client, and PingTimeout how long it waits for the answer.
	Ping, PingTimeout time.Duration
	// MaxConnectionAge makes the hub close each connection after about
	// this long (gRPC adds ±10 % jitter), so that clients spread over the
	// hub replicas as they come and go; open streams get
	// MaxConnectionAgeGrace to finish, then end with UNAVAILABLE and the
	// client resumes from its cursor. Zero means never.
	MaxConnectionAge, MaxConnectionAgeGrace time.Duration
}

// ClientPing is how often clients (CLI, agent) ping an idle hub
// connection: at least DefaultKeepalive's MinPing.
const ClientPing = 30 * time.Second

// DefaultKeepalive is the hub's default.
var DefaultKeepalive = Keepalive{
	MinPing:               20 * time.Second,
	Ping:                  time.Minute,
	PingTimeout:           20 * time.Second,
	MaxConnectionAge:      time.Hour,
	MaxConnectionAgeGrace: time.Minute,
}

// ServerOptions are the gRPC server options for k.
func (k Keepalive) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: k.MinPing, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:                  k.Ping,
			Timeout:               k.PingTimeout,
			MaxConnectionAge:      k.MaxConnectionAge,
			MaxConnectionAgeGrace: k.MaxConnectionAgeGrace,
		}),
	}
}

// ClientKeepalive is the dial option every headsup client uses: a ping
// every ClientPing even without an open stream, so that a hub or a
// middlebox that dropped the connection is noticed within a minute rather
// than at the next call.
func ClientKeepalive() grpc.DialOption {
	return grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: ClientPing, Timeout: 20 * time.Second, PermitWithoutStream: true})
}
