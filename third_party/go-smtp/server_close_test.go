package smtp

import (
	"errors"
	"net"
	"testing"
	"time"
)

type nopBackend struct{}

func (nopBackend) NewSession(*Conn) (Session, error) { return nil, errors.New("no sessions") }

// TestServeAfterClose: Serve on a server already closed returns at once
// and closes its listener (it used to block in Accept for ever, which
// hung a test whose cleanup closed the server before Serve started).
func TestServeAfterClose(t *testing.T) {
	s := NewServer(nopBackend{})
	s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve after Close = %v, want ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		ln.Close()
		t.Fatal("Serve after Close did not return")
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the listener still accepts after Serve returned")
	}
}
