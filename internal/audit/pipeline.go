package audit

import (
	"context"
	"io"
	"runtime"
	"sync"

	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
)

// window bounds the entries read ahead of the sequential checks: those
// queued for a worker, being verified, or verified and waiting for their
// turn. When it is full the reader waits, so memory stays bounded however
// long the history (a few hundred envelopes; a directory version, up to
// 16 MiB, is rare).
const window = 256

// job is one entry on its way through the pipeline. Everything a job
// holds is written before done is closed and only read after.
type job struct {
	e   *Entry
	err error // from the source; io.EOF ends the history

	// dir is the key state at the entry's position: the directory opened
	// from the latest directory entry before it (nil before the first).
	// The sequential checks stop at a directory entry that fails, so
	// whenever they reach this job dir is also the version they accepted.
	dir *directory.Directory

	// For a directory entry: the version it holds, opened under the
	// governance key (signature and syntax only; serials are checked in
	// order by the sequential checks).
	opened  *directory.Directory
	openErr error

	// For a notice or redacted entry: envelope.Verify's or
	// envelope.VerifyJWS's outcome under dir at the entry's log time.
	claims   *envelope.Claims
	key      *directory.Key
	checkErr error

	done chan struct{}
}

// pipeline reads a history ahead of the sequential checks and verifies
// envelope signatures and digests on every core. Entries come out of
// ordered in the order the source gave them, each once its job is done,
// so that every order-dependent check (sequences, tree, references,
// checkpoints, log time) still runs on one goroutine, in order, and the
// first failure is the one at the lowest position.
type pipeline struct {
	ordered chan *job // every job, in source order; closed when the reader stops
	work    chan *job // jobs that need a worker
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startPipeline starts the reader and the workers. The caller must call
// stop, which cancels what is still running and waits for it.
func startPipeline(ctx context.Context, src Source, governanceKey string) *pipeline {
	ctx, cancel := context.WithCancel(ctx)
	p := &pipeline{
		ordered: make(chan *job, window),
		work:    make(chan *job, window),
		cancel:  cancel,
	}
	p.wg.Go(func() { p.read(ctx, src, governanceKey) })
	for range max(1, runtime.GOMAXPROCS(0)) {
		p.wg.Go(func() { p.verify(ctx) })
	}
	return p
}

// stop cancels the reader (a source honouring its context returns from
// Next) and the workers, and waits for them.
func (p *pipeline) stop() {
	// Every send of the reader also waits on ctx, so a full window does
	// not keep it; the workers release what is queued without checking it.
	p.cancel()
	p.wg.Wait()
}

// read takes entries from src in order and hands each to the sequential
// checks and, when it needs verifying, to a worker. It keeps the key
// state: a directory entry is opened here, since every entry after it is
// verified under it. It stops at the end of the history, at the first
// error of the source, or when ctx is done.
func (p *pipeline) read(ctx context.Context, src Source, governanceKey string) {
	defer close(p.work)
	defer close(p.ordered)
	var dir *directory.Directory
	for n := 0; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return
		}
		e, err := src.Next(ctx)
		j := &job{e: e, err: err, dir: dir, done: make(chan struct{})}
		select {
		case p.ordered <- j:
		case <-ctx.Done():
			return
		}
		switch {
		case err != nil:
			close(j.done)
			return
		case e.Directory != nil:
			j.opened, j.openErr = directory.Open(e.Directory.Signed, governanceKey)
			if j.openErr == nil {
				dir = j.opened
			}
			close(j.done)
		case dir == nil || (e.Envelope == nil && e.RedactedJWS == ""):
			// Nothing to verify: the sequential checks refuse it.
			close(j.done)
		default:
			select {
			case p.work <- j:
			case <-ctx.Done():
				close(j.done)
				return
			}
		}
	}
}

// verify is a worker: it checks each job's envelope under the job's key
// state. Once ctx is done it only releases the jobs left, unchecked:
// nobody waits for their outcome.
func (p *pipeline) verify(ctx context.Context) {
	for j := range p.work {
		if ctx.Err() == nil {
			j.check()
		}
		close(j.done)
	}
}

func (j *job) check() {
	e := j.e
	if e.Envelope != nil {
		ok, err := envelope.Verify(e.Envelope, j.dir, e.StoredAt)
		if err != nil {
			j.checkErr = err
			return
		}
		j.claims, j.key = &ok.Claims, ok.Key
		return
	}
	j.claims, _, j.key, j.checkErr = envelope.VerifyJWS(e.RedactedJWS, j.dir, e.StoredAt)
}

// next returns the next entry in source order, verified, or the source's
// error (io.EOF at the end). It returns ctx's error when the reader
// stopped for it.
func (p *pipeline) next(ctx context.Context) (*job, error) {
	j, ok := <-p.ordered
	if !ok {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// The reader stops only after handing over an error or when
		// cancelled; reaching here would be a bug.
		return nil, io.ErrUnexpectedEOF
	}
	<-j.done
	if j.err != nil {
		return nil, j.err
	}
	return j, nil
}
