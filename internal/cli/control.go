package cli

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"
)

// The control socket lets admin commands run inside a running server,
// which holds the bbolt file lock. Protocol: the client sends one JSON
// request line; the server answers with frames of 1 type byte and a 4-byte
// big-endian length: 'o' output, 'e' error text, 'x' exit status (1 byte),
// 'k' a heartbeat (empty) sent while a command runs, at a third of the
// client's Idle, so that a long backup or import is told apart from a
// server that hangs. The client gives up after Idle without a frame.

const socketName = "authsmtp.sock"

// Request is one command sent to the running server.
type Request struct {
	Words string            `json:"words"`
	Args  []string          `json:"args"`
	Flags map[string]string `json:"flags,omitempty"`
	Stdin []byte            `json:"stdin,omitempty"`
	TTY   bool              `json:"tty,omitempty"` // the client's output is a terminal
	// Idle is how long the client waits for a frame; the server sends
	// heartbeats well within it (0: none).
	Idle time.Duration `json:"idle,omitempty"`
}

// HeartbeatEvery is how often the server sends a heartbeat to a client
// that waits at most idle.
func HeartbeatEvery(idle time.Duration) time.Duration { return max(idle/3, 10*time.Millisecond) }

// SocketPath is the control socket of the server running on dataDir.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, socketName) }

// FrameWriter turns writes into 'o' frames.
type FrameWriter struct{ W io.Writer }

func (f FrameWriter) Write(p []byte) (int, error) {
	if err := WriteFrame(f.W, 'o', p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush sends what is buffered now (progress output of long commands).
func (f FrameWriter) Flush() error {
	if fl, ok := f.W.(interface{ Flush() error }); ok {
		return fl.Flush()
	}
	return nil
}

// WriteFrame writes one frame of type typ, in one Write (so frames from
// the command and the heartbeat never interleave on a locked writer).
func WriteFrame(w io.Writer, typ byte, p []byte) error {
	b := make([]byte, 5, 5+len(p))
	b[0] = typ
	binary.BigEndian.PutUint32(b[1:], uint32(len(p)))
	_, err := w.Write(append(b, p...))
	return err
}

// Exec runs a command, turning a panic into an error.
func Exec(cmd Command, env *Env) (err error) {
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
// when none is running, and an error saying so when the server does not
// answer for idle (a server that is stuck, or out of descriptors).
func callServer(dataDir string, idle time.Duration, req Request, out, errOut io.Writer) (int, error) {
	if idle <= 0 {
		idle = 30 * time.Second
	}
	path := SocketPath(dataDir)
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return 0, errNoServer
	}
	defer c.Close()
	silent := func(err error) error {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("the running server did not answer on %s for %s: it may be stuck or out of file descriptors (see its log and /healthz); the command may or may not have run", path, idle)
		}
		return err
	}
	req.Idle = idle
	c.SetWriteDeadline(time.Now().Add(idle))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return 1, silent(err)
	}
	r := bufio.NewReader(deadlineReader{c, idle})
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err = silent(err); errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return 1, fmt.Errorf("the server closed the control connection: %w", err)
			}
			return 1, err
		}
		p := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
		if _, err := io.ReadFull(r, p); err != nil {
			return 1, silent(err)
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
		// 'k' (heartbeat) and unknown frames only show the server lives.
	}
}

// deadlineReader gives every read of the connection idle to return.
type deadlineReader struct {
	c    net.Conn
	idle time.Duration
}

func (d deadlineReader) Read(p []byte) (int, error) {
	d.c.SetReadDeadline(time.Now().Add(d.idle))
	return d.c.Read(p)
}
