// Package listen is what every authsmtp listener shares, whatever its
// protocol: the per-address connection cap, an Accept that survives
// running out of file descriptors, one connection id per process, and a
// record of which listeners still serve (for /healthz).
//
// A service wraps its net.Listener with New and hands the result to its
// protocol library (go-smtp, go-imap, net/http) or its own accept loop.
// The wrapper's Accept never returns a temporary error (EMFILE, ENFILE,
// ECONNABORTED, ...): it waits with a growing delay, as net/http does, and
// tries again, so a moment without descriptors never stops a listener for
// good. A permanent error stops the listener; it is recorded in Health.
//
// Invariants: a *Conn holds one slot of its address in the PerIP cap until
// it is closed (Close is idempotent); every accepted connection, refused
// or not, gets an id from the IDs it was given.
//
// This package imports only the standard library, so smtp, imap, webui
// and the server's wiring can all use it without importing each other.
package listen

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// IDs numbers connections: the "cid" on every log line of one. The server
// makes one for the whole process, so a cid names one connection whatever
// the service.
type IDs struct{ n atomic.Uint64 }

// Next returns a new id (base 36, never reused in this process).
func (i *IDs) Next() string { return strconv.FormatUint(i.n.Add(1), 36) }

// Options tune a Listener. Everything may be left zero.
type Options struct {
	// Name names the listener in logs and in Health ("imaps", "https").
	Name string
	// Limit caps simultaneous connections per address; nil: no cap.
	Limit *PerIP
	// Refusal, when set, is written to a connection refused by Limit
	// before it is closed (a plaintext protocol can say why: "421 ...").
	Refusal []byte
	// OnRefuse is called for each refused connection (metrics).
	OnRefuse func(ip string)
	// IDs gives connection ids; nil: a counter of this listener's own.
	IDs *IDs
	// Health records that the listener stopped; nil: not recorded.
	Health *Health
	// Logger receives refusals and accept errors; nil: slog.Default().
	Logger *slog.Logger
}

// Listener wraps a net.Listener; see the package doc.
type Listener struct {
	ln     net.Listener
	o      Options
	closed chan struct{}
	once   sync.Once
}

// New wraps ln.
func New(ln net.Listener, o Options) *Listener {
	if o.IDs == nil {
		o.IDs = new(IDs)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Name == "" {
		o.Name = ln.Addr().String()
	}
	o.Health.serving(o.Name)
	return &Listener{ln: ln, o: o, closed: make(chan struct{})}
}

// Addr is the wrapped listener's address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops the listener; Accept then returns net.ErrClosed. A listener
// closed this way is not reported as stopped.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.ln.Close()
}

// Backoff bounds: net/http's, which go-smtp copies too.
const (
	firstDelay = 5 * time.Millisecond
	maxDelay   = time.Second
)

// Accept returns the next connection within its address's cap, as a
// *Conn. Temporary errors are retried with backoff; it returns an error
// only when the listener was closed or failed for good.
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.closed:
				return nil, net.ErrClosed
			default:
			}
			if !Temporary(err) {
				l.o.Logger.Error("listener stopped", "listener", l.o.Name, "err", err)
				l.o.Health.stopped(l.o.Name, err)
				return nil, err
			}
			delay = min(max(2*delay, firstDelay), maxDelay)
			l.o.Health.failing(l.o.Name, err)
			l.o.Logger.Warn("accept failed; retrying", "listener", l.o.Name, "err", err, "in", delay.String())
			select {
			case <-time.After(delay):
			case <-l.closed:
				return nil, net.ErrClosed
			}
			continue
		}
		if delay > 0 {
			delay = 0
			l.o.Health.serving(l.o.Name)
			l.o.Logger.Info("accepting again", "listener", l.o.Name)
		}
		ip := HostOf(c.RemoteAddr())
		id := l.o.IDs.Next()
		if !l.o.Limit.acquire(ip) {
			l.refuse(c, id, ip)
			continue
		}
		return &Conn{Conn: c, ID: id, IP: ip, limit: l.o.Limit}, nil
	}
}

// refuse closes a connection over the cap, after the refusal text if any
// (written in the background: a client that does not read cannot stall
// the accept loop).
func (l *Listener) refuse(c net.Conn, id, ip string) {
	l.o.Logger.Warn("connection refused: too many from this address", "listener", l.o.Name,
		"cid", id, "ip", ip, "max", l.o.Limit.Max())
	if l.o.OnRefuse != nil {
		l.o.OnRefuse(ip)
	}
	if len(l.o.Refusal) == 0 {
		c.Close()
		return
	}
	go func() {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Write(l.o.Refusal)
		c.Close()
	}()
}

// Temporary reports whether an Accept error is worth retrying: the
// process or system is out of descriptors or buffers for a moment, or
// a client went away before it was accepted.
func Temporary(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EAGAIN, syscall.EINTR, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// Conn is an accepted connection: its id, its address, and its slot in
// the per-address cap, given back at Close.
type Conn struct {
	net.Conn
	ID    string // the "cid" of its log lines, kept across STARTTLS
	IP    string // the remote address without port
	limit *PerIP
	once  sync.Once
}

// Close closes the connection and frees its slot.
func (c *Conn) Close() error {
	c.once.Do(func() { c.limit.release(c.IP) })
	return c.Conn.Close()
}

// Find returns the *Conn under c's wrappers (TLS, a protocol library's own),
// or nil if c did not come from a Listener.
func Find(c net.Conn) *Conn {
	for c != nil {
		switch x := c.(type) {
		case *Conn:
			return x
		case *tls.Conn:
			c = x.NetConn()
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// HostOf is a remote address without its port ("192.0.2.1", "2001:db8::1").
func HostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}
