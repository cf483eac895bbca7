package serve

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// run starts every service and then waits for signals: SIGTERM or SIGINT
// stop the server gracefully, SIGHUP re-reads the certificate files.
//
// A graceful stop: every service stops accepting at once and lets its
// open sessions finish (a message in DATA is committed and answered)
// within --grace; a second SIGTERM cuts the grace short. Then the queue
// state is on disk, the database is fsynced and closed, and only then
// does the process exit, so systemd or docker never kill it mid-commit
// if their stop timeout is longer than --grace.
func (srv *server) run() error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.start(ctx); err != nil {
		sctx, scancel := context.WithTimeout(context.Background(), srv.cfg.Grace)
		srv.stopAll(sctx)
		scancel()
		return err
	}
	var sig os.Signal
	for sig = range sigs {
		if sig != syscall.SIGHUP {
			break
		}
		srv.reload()
	}
	start := time.Now()
	srv.log.Info("shutting down", "signal", sig.String(), "grace", srv.cfg.Grace.String())
	sctx, scancel := context.WithTimeout(context.Background(), srv.cfg.Grace)
	defer scancel()
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGHUP {
					continue
				}
				srv.log.Warn("second signal: not waiting for open sessions", "signal", s.String())
				scancel()
				return
			case <-sctx.Done():
				return
			}
		}
	}()
	cancel()
	srv.stopAll(sctx)
	if err := srv.st.Sync(); err != nil {
		srv.log.Error("flushing the database", "err", err)
	}
	if err := srv.st.Close(); err != nil {
		return fmt.Errorf("closing the database: %w", err)
	}
	srv.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// stopAll stops every service at once, so all of them stop accepting at
// the same moment, and waits until they are done or ctx ends (plus a
// short margin for services that return late).
func (srv *server) stopAll(ctx context.Context) {
	srv.mu.Lock()
	ss := srv.stoppers
	srv.stoppers = nil
	srv.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			if err := s.stop(ctx); err != nil {
				srv.log.Warn("stopping", "service", s.name, "err", err, "took", time.Since(t0).Round(time.Millisecond).String())
				return
			}
			srv.log.Debug("stopped", "service", s.name, "took", time.Since(t0).Round(time.Millisecond).String())
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done:
		case <-time.After(drainTimeout):
			srv.log.Error("some services did not stop in time; closing the database anyway")
		}
	}
}

// reload re-reads the certificate files (SIGHUP).
func (srv *server) reload() {
	r, ok := any(srv.tls).(interface{ Reload() error })
	if srv.tls == nil || !ok {
		srv.log.Warn("SIGHUP: this certificate source cannot be reloaded")
		return
	}
	if err := r.Reload(); err != nil {
		srv.log.Error("SIGHUP: reloading certificates failed; the old ones stay in use", "err", err)
		return
	}
	srv.log.Info("SIGHUP: certificates reloaded")
}
