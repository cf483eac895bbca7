// Package miltertest runs a real milter server (go-milter's server side)
// on loopback for tests: the test chooses the end-of-message answer, and
// the server records what it was shown.
package miltertest

import (
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-milter"
)

// Server is a running test milter.
type Server struct {
	Addr string // host:port, the form --milter takes
	mu   sync.Mutex
	seen []string
	mac  map[string]string
}

// Seen returns what the milter was shown, one line per callback:
// "from <addr>", "rcpt <addr>", "header Name: value", "body ...".
func (s *Server) Seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// Macro returns the value of a macro the client sent ("" if none).
func (s *Server) Macro(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mac[name]
}

func (s *Server) note(line string) {
	s.mu.Lock()
	s.seen = append(s.seen, line)
	s.mu.Unlock()
}

func (s *Server) macros(m *milter.Modifier, names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		if v := m.Macros[n]; v != "" {
			s.mac[n] = v
		}
	}
}

type session struct {
	milter.NoOpMilter
	s    *Server
	body func(m *milter.Modifier) (milter.Response, error)
}

func (t session) Connect(host, family string, port uint16, addr net.IP, m *milter.Modifier) (milter.Response, error) {
	t.s.macros(m, "{daemon_name}", "j")
	return milter.RespContinue, nil
}

func (t session) MailFrom(from string, m *milter.Modifier) (milter.Response, error) {
	t.s.macros(m, "i", "{auth_authen}")
	t.s.note("from " + from)
	return milter.RespContinue, nil
}

func (t session) RcptTo(rcpt string, m *milter.Modifier) (milter.Response, error) {
	t.s.note("rcpt " + rcpt)
	return milter.RespContinue, nil
}

func (t session) Header(name, value string, m *milter.Modifier) (milter.Response, error) {
	t.s.note("header " + name + ": " + value)
	return milter.RespContinue, nil
}

func (t session) BodyChunk(chunk []byte, m *milter.Modifier) (milter.Response, error) {
	t.s.note("body " + string(chunk))
	return milter.RespContinue, nil
}

func (t session) Body(m *milter.Modifier) (milter.Response, error) { return t.body(m) }

// Start serves a milter on 127.0.0.1 whose answer at the end of the
// message is body's; it stops at the test's cleanup.
func Start(t testing.TB, body func(m *milter.Modifier) (milter.Response, error)) *Server {
	t.Helper()
	s := &Server{mac: map[string]string{}}
	srv := &milter.Server{
		NewMilter: func() milter.Milter { return session{s: s, body: body} },
		Actions:   milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.Addr = ln.Addr().String()
	return s
}

// Hang listens on 127.0.0.1 and accepts connections it never answers: a
// milter that hangs. It returns the address; connections close at cleanup.
func Hang(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// Down returns a loopback address where nothing listens.
func Down(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
