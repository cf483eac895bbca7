package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The control socket lets admin commands run inside a running server,
// which holds the bbolt file lock. Protocol: the client sends one JSON
// request line; the server answers with frames of 1 type byte and a 4-byte
// big-endian length: 'o' output, 'e' error text, 'x' exit status (1 byte).

const socketName = "authsmtp.sock"

type controlRequest struct {
	Words string            `json:"words"`
	Args  []string          `json:"args"`
	Flags map[string]string `json:"flags,omitempty"`
	Stdin []byte            `json:"stdin,omitempty"`
	TTY   bool              `json:"tty,omitempty"` // the client's output is a terminal
}

func socketPath(dataDir string) string { return filepath.Join(dataDir, socketName) }

// frameWriter turns writes into 'o' frames.
type frameWriter struct{ w io.Writer }

func (f frameWriter) Write(p []byte) (int, error) {
	if err := writeFrame(f.w, 'o', p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush sends what is buffered now (progress output of long commands).
func (f frameWriter) Flush() error {
	if fl, ok := f.w.(interface{ Flush() error }); ok {
		return fl.Flush()
	}
	return nil
}

func writeFrame(w io.Writer, typ byte, p []byte) error {
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
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
	var req controlRequest
	if err := json.NewDecoder(io.LimitReader(c, 64<<20)).Decode(&req); err != nil {
		writeFrame(c, 'e', []byte("bad control request: "+err.Error()))
		writeFrame(c, 'x', []byte{2})
		return
	}
	cmd, ok := findCommand(req.Words)
	if !ok || cmd.Local {
		writeFrame(c, 'e', []byte("unknown command: "+req.Words))
		writeFrame(c, 'x', []byte{2})
		return
	}
	bw := bufio.NewWriter(c)
	env := &cmdEnv{St: srv.st, Args: req.Args, Flags: req.Flags, Stdin: bytesReader(req.Stdin), Out: frameWriter{bw}, Server: srv, Cfg: srv.cfg, TTY: req.TTY}
	err := runGuarded(cmd, env)
	if err != nil {
		writeFrame(bw, 'e', []byte(err.Error()))
		writeFrame(bw, 'x', []byte{1})
	} else {
		writeFrame(bw, 'x', []byte{0})
	}
	bw.Flush()
	slog.Info("admin command", "cmd", req.Words, "ok", err == nil)
}

// runGuarded runs a command, turning a panic into an error.
func runGuarded(cmd command, env *cmdEnv) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return cmd.Run(env)
}

// errNoServer means nothing listens on the socket: open the file directly.
var errNoServer = errors.New("no running server")

// callServer runs a command in the running server. It returns errNoServer
// when none is running.
func callServer(dataDir string, req controlRequest, out, errOut io.Writer) (int, error) {
	c, err := net.DialTimeout("unix", socketPath(dataDir), 2*time.Second)
	if err != nil {
		return 0, errNoServer
	}
	defer c.Close()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return 0, err
	}
	r := bufio.NewReader(c)
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 1, fmt.Errorf("the server closed the control connection: %w", err)
		}
		p := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
		if _, err := io.ReadFull(r, p); err != nil {
			return 1, err
		}
		switch hdr[0] {
		case 'o':
			out.Write(p)
		case 'e':
			fmt.Fprintf(errOut, "authsmtp: %s\n", p)
		case 'x':
			if len(p) == 1 {
				return int(p[0]), nil
			}
			return 1, nil
		}
	}
}

// removeStaleSocket deletes a socket file nobody answers on.
func removeStaleSocket(path string) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return
	}
	os.Remove(path)
}
