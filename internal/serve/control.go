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
	"time"

	"github.com/authsmtp/authsmtp/acme"
	"github.com/authsmtp/authsmtp/internal/cli"
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
	go srv.serveControl(ln)
	srv.onStop("control", func(context.Context) error {
		ln.Close()
		os.Remove(path)
		return nil
	})
	return nil
}

// serveControl answers admin commands on the socket until ln is closed.
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
	bw := bufio.NewWriter(c)
	env := &cli.Env{St: srv.st, Args: req.Args, Flags: req.Flags, Stdin: bytes.NewReader(req.Stdin), Out: cli.FrameWriter{W: bw}, Live: srv, Cfg: srv.cfg, TTY: req.TTY}
	err := cli.Exec(cmd, env)
	if err != nil {
		cli.WriteFrame(bw, 'e', []byte(err.Error()))
		cli.WriteFrame(bw, 'x', []byte{1})
	} else {
		cli.WriteFrame(bw, 'x', []byte{0})
	}
	bw.Flush()
	srv.log.Info("admin command", "cmd", req.Words, "ok", err == nil)
}

// removeStaleSocket deletes a socket file nobody answers on.
func removeStaleSocket(path string) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return
	}
	os.Remove(path)
}
