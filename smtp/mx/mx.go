// Package mx is authsmtp's inbound MX (port 25) on go-smtp: mail from the
// internet for hosted users, aliases and catch-alls, and nothing else.
//
// Rules, in the order a session meets them:
//   - STARTTLS is offered, never required; AUTH is refused (503): logins
//     belong on the submission ports.
//   - RCPT: an address that does not parse, or is not at a hosted domain,
//     is a relay attempt (554 5.7.1); a hosted domain without that user,
//     alias or catch-all is 550 5.1.1, and a client collecting many of
//     those is slowed down, then disconnected (421).
//   - DATA: bare CR/LF is refused (smuggling), 51 Received: fields are a
//     loop (554 5.4.6). SPF, DKIM and DMARC are checked through the one
//     resolver; the result goes in an Authentication-Results field (any
//     such field from outside is removed). A DMARC p=reject failure is
//     refused (550 5.7.1), p=quarantine goes to Junk. A sender claiming a
//     hosted domain is judged by that evidence only, like anybody else.
//   - Accepted mail is committed (store.Accept) before the 250: local
//     copies in one transaction, forwarded copies queued with an SRS
//     envelope sender. Vacation replies follow RFC 3834.
package mx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/metrics"
)

// Signer signs outgoing auto-replies (DKIM); nil: none.
type Signer interface {
	Sign(msg []byte) ([]byte, error)
}

// Config tunes the MX; zero fields get the defaults in parentheses.
type Config struct {
	Hostname      string        // EHLO name, banner, authserv-id (localhost)
	MaxSize       int64         // largest message (25 MiB)
	MaxRecipients int           // per message (100)
	MaxLine       int           // longest command or body line (64 KiB: real mail has 14 KB lines)
	CmdTimeout    time.Duration // between commands (5m)
	DataTimeout   time.Duration // for one message's data (10m)
	MaxConnsPerIP int           // simultaneous connections per IP (20)
	PerIPPerHour  int           // messages accepted per IP per hour (1000)
	// UnknownSlow and UnknownMax: after UnknownSlow unknown recipients in
	// one connection each further one is answered slowly; at UnknownMax
	// the connection is closed with 421 (3 and 10).
	UnknownSlow, UnknownMax int
	// UnknownDelay is the added delay per unknown recipient past
	// UnknownSlow (1s).
	UnknownDelay time.Duration
	// VacationWindow is how long a sender gets no second auto-reply (4 days).
	VacationWindow time.Duration
	// Capture keeps forwarded and auto-reply mail instead of sending it.
	Capture  bool
	Resolver *dnsx.Resolver
	Signer   Signer
	Logger   *slog.Logger
	// Metrics counts connections and messages accepted or refused (nil: off).
	Metrics *metrics.Metrics
}

func (c *Config) defaults() {
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	if c.MaxSize <= 0 {
		c.MaxSize = 25 << 20
	}
	if c.MaxRecipients <= 0 {
		c.MaxRecipients = 100
	}
	if c.MaxLine <= 0 {
		c.MaxLine = 64 << 10
	}
	if c.CmdTimeout <= 0 {
		c.CmdTimeout = 5 * time.Minute
	}
	if c.DataTimeout <= 0 {
		c.DataTimeout = 10 * time.Minute
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = 20
	}
	if c.PerIPPerHour <= 0 {
		c.PerIPPerHour = 1000
	}
	if c.UnknownSlow <= 0 {
		c.UnknownSlow = 3
	}
	if c.UnknownMax <= 0 {
		c.UnknownMax = 10
	}
	if c.UnknownDelay <= 0 {
		c.UnknownDelay = time.Second
	}
	if c.VacationWindow <= 0 {
		c.VacationWindow = 4 * 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is the MX service.
type Server struct {
	cfg Config
	st  *store.Store
	res *dnsx.Resolver
	log *slog.Logger
	g   *gosmtp.Server

	ctx    context.Context
	cancel context.CancelFunc
	nextID atomic.Uint64

	mu    sync.Mutex
	perIP map[string]int
	rate  map[string]*window

	dups dedup
}

// window counts messages from one IP in the current hour.
type window struct {
	start time.Time
	n     int
}

// New builds the MX. tlsConfig nil means no STARTTLS (tests only).
func New(cfg Config, st *store.Store, tlsConfig *tls.Config) (*Server, error) {
	cfg.defaults()
	if cfg.Resolver == nil {
		return nil, errors.New("mx: a Resolver is required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, st: st, res: cfg.Resolver, log: cfg.Logger.With("service", "mx"),
		ctx: ctx, cancel: cancel, perIP: map[string]int{}, rate: map[string]*window{}}
	g := gosmtp.NewServer(s)
	g.Domain = cfg.Hostname
	g.TLSConfig = tlsConfig
	g.MaxMessageBytes = cfg.MaxSize
	g.MaxRecipients = cfg.MaxRecipients
	g.MaxLineLength = cfg.MaxLine
	g.ReadTimeout = cfg.CmdTimeout
	g.WriteTimeout = cfg.CmdTimeout
	// AUTH reaches the session at any time, which refuses it with 503.
	g.AllowInsecureAuth = true
	g.ErrorLog = logPrintf{s.log}
	s.g = g
	return s, nil
}

// Serve answers on ln until Close or Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.g.Serve(&limitListener{Listener: ln, s: s})
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, gosmtp.ErrServerClosed) {
		return fmt.Errorf("serving MX on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting and lets sessions end until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.g.Shutdown(ctx)
	s.cancel()
	if err != nil {
		s.g.Close()
	}
	return nil
}

// Close stops at once.
func (s *Server) Close() error {
	s.cancel()
	return s.g.Close()
}

// takeRate counts one message from ip; false when the hourly cap is hit.
func (s *Server) takeRate(ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	w := s.rate[ip]
	if w == nil || now.Sub(w.start) >= time.Hour {
		if len(s.rate) > 100000 {
			s.rate = map[string]*window{} // bounded memory under a flood of sources
		}
		w = &window{start: now}
		s.rate[ip] = w
	}
	if w.n >= s.cfg.PerIPPerHour {
		return false
	}
	w.n++
	return true
}

// limitListener caps simultaneous connections per remote IP.
type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		s := l.s
		s.mu.Lock()
		ok := s.perIP[ip] < s.cfg.MaxConnsPerIP
		if ok {
			s.perIP[ip]++
		}
		s.mu.Unlock()
		if !ok {
			s.log.Warn("mx connection refused: too many from this address", "ip", ip)
			s.cfg.Metrics.Refused(metrics.ProtoMX, metrics.ReasonRate)
			go func() {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				fmt.Fprintf(c, "421 4.7.0 too many connections from your address, try again later\r\n")
				c.Close()
			}()
			continue
		}
		s.cfg.Metrics.Connection(metrics.ProtoMX)
		return &ipConn{Conn: c, ip: ip, s: s}, nil
	}
}

type ipConn struct {
	net.Conn
	ip   string
	s    *Server
	once sync.Once
}

func (c *ipConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		if c.s.perIP[c.ip]--; c.s.perIP[c.ip] <= 0 {
			delete(c.s.perIP, c.ip)
		}
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

type logPrintf struct{ log *slog.Logger }

func (l logPrintf) Printf(format string, v ...any) { l.log.Warn("mx: " + fmt.Sprintf(format, v...)) }
func (l logPrintf) Println(v ...any)               { l.log.Warn("mx: " + fmt.Sprint(v...)) }

// NewSession starts a session for one connection (and again after
// STARTTLS, when go-smtp drops the old session).
func (s *Server) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	id := strconv.FormatUint(s.nextID.Add(1), 36)
	ip := hostOf(c.Conn().RemoteAddr())
	return &session{s: s, c: c, ip: ip, cid: id, log: s.log.With("cid", id, "ip", ip)}, nil
}
