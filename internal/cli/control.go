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
// big-endian length: 'o' output, 'e' error text, 'x' exit status (1 byte).

const socketName = "authsmtp.sock"

// Request is one command sent to the running server.
type Request struct {
	Words string            `json:"words"`
	Args  []string          `json:"args"`
	Flags map[string]string `json:"flags,omitempty"`
	Stdin []byte            `json:"stdin,omitempty"`
	TTY   bool              `json:"tty,omitempty"` // the client's output is a terminal
}

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

// WriteFrame writes one frame of type typ.
func WriteFrame(w io.Writer, typ byte, p []byte) error {
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
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
// when none is running.
func callServer(dataDir string, req Request, out, errOut io.Writer) (int, error) {
	c, err := net.DialTimeout("unix", SocketPath(dataDir), 2*time.Second)
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
