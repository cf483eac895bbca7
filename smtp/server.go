package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/listen"
	"github.com/authsmtp/authsmtp/internal/metrics"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
)

// Config holds the submission server's settings; zero fields get the
// defaults in parentheses.
type Config struct {
	smtpd.Service
}

func (c *Config) defaults() { c.Service.Defaults() }

// Server is the submission service: one go-smtp server per listener kind
// (STARTTLS on 587, implicit TLS on 465) sharing one backend.
type Server struct {
	cfg  Config
	st   Store
	pipe *Pipeline
	tls  *tls.Config
	log  *slog.Logger

	ctx    context.Context // canceled at Close: ends login delays
	cancel context.CancelFunc
	limit  *listen.PerIP // shared by 587 and 465

	mu      sync.Mutex
	conns   map[*trackedConn]struct{}
	servers []*gosmtp.Server
	closed  bool // by Close or Shutdown: a server made later starts closed
}

// NewServer builds the submission server. tlsConfig must be set: AUTH and
// MAIL are refused until TLS is up.
func NewServer(cfg Config, st Store, pipe *Pipeline, tlsConfig *tls.Config) *Server {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, st: st, pipe: pipe, tls: tlsConfig, log: cfg.Logger.With("service", "submission"),
		ctx: ctx, cancel: cancel, limit: listen.NewPerIP(cfg.MaxConnsPerIP), conns: map[*trackedConn]struct{}{}}
}

func (s *Server) newGoSMTP(implicitTLS bool) *gosmtp.Server {
	g := gosmtp.NewServer(&backend{srv: s, implicitTLS: implicitTLS})
	g.Domain = s.cfg.Hostname
	g.TLSConfig = s.tls
	s.cfg.Limits.Apply(g)
	// go-smtp would answer AUTH before TLS with 523; we want 530 5.7.0, so
	// it lets AUTH through and the session refuses it (and advertises no
	// mechanism) until TLS is up.
	g.AllowInsecureAuth = true
	g.ErrorLog = slogPrintf{s.log}
	s.mu.Lock()
	s.servers = append(s.servers, g)
	if s.closed {
		// Close ran before this listener's Serve: it must not serve.
		g.Close()
	}
	s.mu.Unlock()
	return g
}

// ServeSubmission serves SMTP with STARTTLS on ln (port 587) until Close.
func (s *Server) ServeSubmission(ln net.Listener) error {
	return s.serve(s.newGoSMTP(false), s.listener(ln, "submission", tooMany))
}

// ServeSubmissions serves SMTP over implicit TLS on ln (port 465) until Close.
func (s *Server) ServeSubmissions(ln net.Listener) error {
	return s.serve(s.newGoSMTP(true), tls.NewListener(s.listener(ln, "submissions", nil), s.tls))
}

// tooMany is said to a plaintext connection over the per-address cap.
var tooMany = []byte("421 4.7.0 too many connections from your address, try again later\r\n")

// listener wraps ln with the shared per-address cap, accept retries and
// connection ids, then tracks each connection for Shutdown.
func (s *Server) listener(ln net.Listener, name string, refusal []byte) net.Listener {
	return &trackingListener{srv: s, Listener: listen.New(ln, listen.Options{
		Name: name, Limit: s.limit, Refusal: refusal, IDs: s.cfg.IDs, Health: s.cfg.Health, Logger: s.log,
		OnRefuse: func(string) { s.cfg.Metrics.Refused(metrics.ProtoSubmission, metrics.ReasonRate) },
	})}
}

func (s *Server) serve(g *gosmtp.Server, ln net.Listener) error {
	err := g.Serve(ln)
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, gosmtp.ErrServerClosed) {
		return fmt.Errorf("serving SMTP on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting and closes idle sessions at once; a session in
// a mail transaction may finish it until ctx ends. Then what is left is
// closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	servers := append([]*gosmtp.Server(nil), s.servers...)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for _, g := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if g.Shutdown(ctx) != nil {
					// Grace is over. go-smtp's Close does nothing after
					// Shutdown, so close the connections ourselves.
					s.closeAll()
				}
			}()
		}
		wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case <-done:
			s.cancel()
			return nil
		case <-tick.C:
		}
	}
}

// closeIdle closes connections that are not in a mail transaction.
func (s *Server) closeIdle() {
	s.mu.Lock()
	var idle []*trackedConn
	for c := range s.conns {
		if !c.busy.Load() {
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// Close stops everything at once.
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	s.closed = true
	servers := append([]*gosmtp.Server(nil), s.servers...)
	s.mu.Unlock()
	for _, g := range servers {
		g.Close()
	}
	s.closeAll()
	return nil
}

// closeAll closes every connection, busy or not.
func (s *Server) closeAll() {
	s.mu.Lock()
	all := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}

// trackingListener records each connection for Shutdown.
type trackingListener struct {
	net.Listener
	srv *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s := l.srv
	s.cfg.Metrics.Connection(metrics.ProtoSubmission)
	lc := listen.Find(c)
	tc := &trackedConn{Conn: c, id: lc.ID, ip: lc.IP, srv: s}
	s.mu.Lock()
	s.conns[tc] = struct{}{}
	s.mu.Unlock()
	return tc, nil
}

// trackedConn is one accepted connection: its id for log lines (kept
// across STARTTLS, which replaces go-smtp's session) and whether it is in
// a mail transaction.
type trackedConn struct {
	net.Conn
	id   string
	ip   string
	srv  *Server
	once sync.Once
	busy atomic.Bool // in a mail transaction: not closed by Shutdown
	// closeAfterWrite closes the connection after the next write (the
	// 421 reply to a command of a revoked session).
	closeAfterWrite atomic.Bool
}

func (c *trackedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if c.closeAfterWrite.Load() {
		c.Close()
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.srv.mu.Lock()
		delete(c.srv.conns, c)
		c.srv.mu.Unlock()
	})
	return c.Conn.Close()
}

// tracked finds our connection under go-smtp's (and TLS's) wrapping.
func tracked(c net.Conn) *trackedConn {
	for c != nil {
		switch x := c.(type) {
		case *trackedConn:
			return x
		case *tls.Conn:
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// slogPrintf lets go-smtp's internal error log (including the panics it
// recovers per command) reach slog.
type slogPrintf struct{ log *slog.Logger }

func (l slogPrintf) Printf(format string, v ...any) {
	l.log.Warn("smtp: " + fmt.Sprintf(format, v...))
}
func (l slogPrintf) Println(v ...any) { l.log.Warn("smtp: " + fmt.Sprint(v...)) }
