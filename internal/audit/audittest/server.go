package audittest

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/audit"
)

// LogServer is a LogService serving a fixed history (a Source's entries
// and checkpoints, tampered or not) the way a hub would: a stand-in for
// the hub until its LogService is wired, and a hub that lies on demand.
type LogServer struct {
	headsupv1.UnimplementedLogServiceServer
	src *Source
}

// Serve starts a gRPC server for src on a loopback port, stopped at the
// end of the test, and returns its address.
func Serve(tb TB, src *Source) string {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := grpc.NewServer()
	headsupv1.RegisterLogServiceServer(s, &LogServer{src: src})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	tb.Cleanup(func() {
		s.Stop()
		<-done
	})
	return lis.Addr().String()
}

// GetCheckpoint serves the largest checkpoint, or the one of a size.
func (l *LogServer) GetCheckpoint(_ context.Context, req *headsupv1.GetCheckpointRequest) (*headsupv1.GetCheckpointResponse, error) {
	var best []byte
	var bestSize uint64
	for _, n := range l.src.Notes {
		size, err := audit.CheckpointSize(n)
		if err != nil {
			continue
		}
		if (req.GetSize() == 0 && (best == nil || size > bestSize)) || (req.GetSize() != 0 && size == req.GetSize()) {
			best, bestSize = n, size
		}
	}
	if best == nil {
		return nil, status.Errorf(codes.NotFound, "no checkpoint at size %d", req.GetSize())
	}
	return &headsupv1.GetCheckpointResponse{Checkpoint: best, LogId: l.src.Info.LogID}, nil
}

// Replay streams every entry.
func (l *LogServer) Replay(req *headsupv1.ReplayRequest, stream headsupv1.LogService_ReplayServer) error {
	if req.GetLogId() != "" && req.GetLogId() != l.src.Info.LogID {
		return status.Errorf(codes.FailedPrecondition, "log_id %q, this log is %q", req.GetLogId(), l.src.Info.LogID)
	}
	info := l.src.Info
	if err := stream.Send(&headsupv1.ReplayResponse{Event: &headsupv1.ReplayResponse_Start{Start: &headsupv1.SubscribeStart{
		LogId: info.LogID, FirstSequence: info.First, LastSequence: info.Last, AfterSequence: req.GetAfterSequence()}}}); err != nil {
		return err
	}
	for _, e := range l.src.Entries {
		if e.Sequence <= req.GetAfterSequence() {
			continue
		}
		at := timestamppb.New(e.StoredAt)
		var r *headsupv1.ReplayResponse
		switch {
		case e.Directory != nil:
			r = &headsupv1.ReplayResponse{Event: &headsupv1.ReplayResponse_Directory{Directory: &headsupv1.DirectoryEntry{
				Sequence: e.Sequence, StoredAt: at, Serial: e.Directory.Serial, SignedDirectory: e.Directory.Signed}}}
		case e.Envelope != nil:
			r = &headsupv1.ReplayResponse{Event: &headsupv1.ReplayResponse_Entry{Entry: &headsupv1.Entry{
				Sequence: e.Sequence, StoredAt: at, Envelope: e.Envelope}}}
		default:
			r = &headsupv1.ReplayResponse{Event: &headsupv1.ReplayResponse_Redacted{Redacted: &headsupv1.RedactedEntry{
				Sequence: e.Sequence, StoredAt: at, Jws: e.RedactedJWS}}}
		}
		if err := stream.Send(r); err != nil {
			return err
		}
	}
	return nil
}
