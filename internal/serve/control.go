package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/authsmtp/authsmtp/acme"
	"github.com/authsmtp/authsmtp/internal/cli"
	"github.com/authsmtp/authsmtp/internal/listen"
)

// The control socket lets admin commands run inside the running server,
// which holds the bbolt file lock. The protocol and the client are in
// internal/cli; here the server answers, running the same command
// functions the CLI runs when no server is up.

// TLSStatus is the certificate status served now (`authsmtp tls status`
// run through the socket); it makes *server a cli.Live.
func (srv *server) TLSStatus() []acme.CertStatus {
	if srv.tls == nil {
		return nil
	}
	return srv.tls.Status()
}

var _ cli.Live = (*server)(nil)

// startControl listens on the control socket (only the data directory's
// owner may connect).
func (srv *server) startControl() error {
	path := cli.SocketPath(srv.cfg.Data)
	removeStaleSocket(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	gl := srv.guard(ln, "control", nil)
	go srv.serveControl(gl)
	srv.onStop("control", func(context.Context) error {
		gl.Close()
		os.Remove(path)
		return nil
	})
	return nil
}

// serveControl answers admin commands on the socket until ln is closed.
// ln is guarded: out of descriptors, it waits and retries.
func (srv *server) serveControl(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go srv.handleControl(c)
	}
}

func (srv *server) handleControl(c net.Conn) {
	defer c.Close()
	log := srv.log.With("service", "control")
	if lc := listen.Find(c); lc != nil {
		log = log.With("cid", lc.ID)
	}
	c.SetDeadline(time.Now().Add(30 * time.Minute))
	var req cli.Request
	if err := json.NewDecoder(io.LimitReader(c, 64<<20)).Decode(&req); err != nil {
		cli.WriteFrame(c, 'e', []byte("bad control request: "+err.Error()))
		cli.WriteFrame(c, 'x', []byte{2})
		return
	}
	cmd, ok := cli.Find(req.Words)
	if !ok || cmd.Local {
		cli.WriteFrame(c, 'e', []byte("unknown command: "+req.Words))
		cli.WriteFrame(c, 'x', []byte{2})
		return
	}
	out := &lockedWriter{w: bufio.NewWriter(c)}
	stop := heartbeat(out, req.Idle)
	env := &cli.Env{St: srv.st, Args: req.Args, Flags: req.Flags, Stdin: bytes.NewReader(req.Stdin), Out: cli.FrameWriter{W: out}, Live: srv, Cfg: srv.cfg, TTY: req.TTY}
	err := cli.Exec(cmd, env)
	stop()
	if err != nil {
		cli.WriteFrame(out, 'e', []byte(err.Error()))
		cli.WriteFrame(out, 'x', []byte{1})
	} else {
		cli.WriteFrame(out, 'x', []byte{0})
	}
	out.Flush()
	log.Info("admin command", "cmd", req.Words, "ok", err == nil)
}

// heartbeat sends a 'k' frame every cli.HeartbeatEvery(idle) until stop
// is called, so the client can tell a long command from a hung server.
func heartbeat(out *lockedWriter, idle time.Duration) (stop func()) {
	if idle <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(cli.HeartbeatEvery(idle))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				cli.WriteFrame(out, 'k', nil)
				out.Flush()
			}
		}
	}()
	return func() { close(done); <-ended }
}

// lockedWriter lets the command's output and the heartbeat share the
// connection; each frame is one Write.
type lockedWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

// removeStaleSocket deletes a socket file nobody answers on.
func removeStaleSocket(path string) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return
	}
	os.Remove(path)
}
