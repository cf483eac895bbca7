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
//   - Accepted mail is committed through the store's delivery contract
//     (store.Delivery) before the 250: local copies, forwarded copies
//     (queued with an SRS envelope sender) and the duplicate-suppression
//     marker in one transaction. Vacation replies follow RFC 3834.
package mx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/listen"
	"github.com/authsmtp/authsmtp/internal/metrics"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/milters"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/junk"
	"github.com/authsmtp/authsmtp/store/reports"
)

// Store is what the MX needs of the store: which domains are hosted and
// who is there, the delivery contract and its duplicate-suppression
// markers, vacation replies (their log, their routing and commit), DMARC
// and TLS reports, and the blocklist counters. *store.Store implements it
// (guarded in the tests).
type Store interface {
	IsHosted(domain string) bool
	GetUser(address string) (store.User, error)
	Route(rcpt string) (store.Route, error)
	BeginDelivery(env store.Envelope) *store.Delivery
	Seen(key []byte) bool
	MarkSeen(key []byte) error
	Accept(in *store.Incoming) (*store.Accepted, error)
	VacationDue(user, sender string, window time.Duration) bool
	CountRefused(domain string) error
	CountDNSListHit(zone string) error
	DNSListHits(days int) (map[string]int64, error)
	AddReport(domain string, f *reports.Found, sender string, mail []byte, now time.Time) (id uint64, dup bool, err error)
}

// Config tunes the MX; zero fields get the defaults in parentheses.
type Config struct {
	// Service: as submission's, but MaxLine defaults to 64 KiB (real mail
	// has 14 KB lines).
	smtpd.Service
	PerIPPerHour int // messages accepted per IP per hour (1000)
	// UnknownSlow and UnknownMax: after UnknownSlow unknown recipients in
	// one connection each further one is answered slowly; at UnknownMax
	// the connection is closed with 421 (3 and 10).
	UnknownSlow, UnknownMax int
	// UnknownDelay is the added delay per unknown recipient past
	// UnknownSlow (1s).
	UnknownDelay time.Duration
	// VacationWindow is how long a sender gets no second auto-reply (4 days).
	VacationWindow time.Duration
	// DNSBL are the blocklists the client's IP is looked up in, in order;
	// DNSWL the allowlists, looked up first (a listed client skips the
	// blocklists and the junk filter's verdict alone never junks its mail).
	DNSBL []DNSBL
	DNSWL []string
	// DNSListTimeout bounds each DNS list lookup; a lookup that fails or
	// times out counts as not listed (5s).
	DNSListTimeout time.Duration
	// Milters filter each message at the end of DATA, in order; each may
	// accept, reject, tempfail, discard, quarantine (to Junk) or change
	// header fields. MilterTimeout bounds one milter's whole conversation
	// (30s); a milter that fails or runs out of time tempfails the
	// message (451), or with MilterDefaultAccept is passed over.
	Milters             []milters.Milter
	MilterTimeout       time.Duration
	MilterDefaultAccept bool
	// OutboundIP is the address other servers see our mail come from,
	// looked up in the DNSBL zones for the admin panel; "" finds it (the
	// listener's address if public, else the system's source address
	// toward the internet). OwnCheckEvery is how often (1h).
	OutboundIP    string
	OwnCheckEvery time.Duration
	// NoJunkFilter turns the per-user junk filter off (it is on by
	// default, and decides nothing for a user until trained).
	NoJunkFilter bool
	// DMARCEvals, when set, receives the DMARC evaluation of each
	// message whose author domain asks for aggregate reports (rua=), for
	// the reports we send (smtp/dmarcrpt); nil: none are kept.
	DMARCEvals func(store.DMARCEval)
	// Reports bounds the reading of DMARC and TLS reports (reports.go);
	// zero fields take store/reports' defaults.
	Reports reports.Limits
	// Junk is the per-user junk filter (the store's); required unless
	// NoJunkFilter.
	Junk *junk.Filter
	// Capture keeps forwarded and auto-reply mail instead of sending it.
	Capture  bool
	Resolver *dnsx.Resolver
	Signer   smtpd.Signer // signs auto-replies (DKIM); nil: none
}

func (c *Config) defaults() {
	if c.MaxLine <= 0 {
		c.MaxLine = 64 << 10
	}
	c.Service.Defaults()
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
	if c.MilterTimeout <= 0 {
		c.MilterTimeout = 30 * time.Second
	}
	if c.OwnCheckEvery <= 0 {
		c.OwnCheckEvery = time.Hour
	}
	if c.DNSListTimeout <= 0 {
		c.DNSListTimeout = 5 * time.Second
	}
}

// Server is the MX service.
type Server struct {
	cfg Config
	st  Store
	res *dnsx.Resolver
	log *slog.Logger
	g   *gosmtp.Server

	ctx    context.Context
	cancel context.CancelFunc
	limit  *listen.PerIP

	rate *hourly // messages per IP in the current hour

	own ownCheck // our own outbound address in the blocklists
}

// New builds the MX. tlsConfig nil means no STARTTLS (tests only).
func New(cfg Config, st Store, tlsConfig *tls.Config) (*Server, error) {
	cfg.defaults()
	if cfg.Resolver == nil {
		return nil, errors.New("mx: a Resolver is required")
	}
	if cfg.Junk == nil && !cfg.NoJunkFilter {
		return nil, errors.New("mx: a Junk filter is required unless NoJunkFilter")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, st: st, res: cfg.Resolver, log: cfg.Logger.With("service", "mx"),
		ctx: ctx, cancel: cancel, limit: listen.NewPerIP(cfg.MaxConnsPerIP), rate: newHourly(maxRateEntries)}
	g := gosmtp.NewServer(s)
	g.Domain = cfg.Hostname
	g.TLSConfig = tlsConfig
	cfg.Limits.Apply(g)
	// AUTH reaches the session at any time, which refuses it with 503.
	g.AllowInsecureAuth = true
	g.ErrorLog = logPrintf{s.log}
	s.g = g
	return s, nil
}

// Serve answers on ln until Close or Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.startOwnCheck(ln)
	err := s.g.Serve(listen.New(ln, listen.Options{
		Name: "mx", Limit: s.limit, IDs: s.cfg.IDs, Health: s.cfg.Health, Logger: s.log,
		Refusal:  []byte("421 4.7.0 too many connections from your address, try again later\r\n"),
		OnRefuse: func(string) { s.cfg.Metrics.Refused(metrics.ProtoMX, metrics.ReasonRate) },
	}))
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

// takeRate counts one message from ip (an IPv6 sender by its /64); false
// when the hourly cap is hit.
func (s *Server) takeRate(ip string) bool {
	return s.rate.take(listen.ClientKey(ip), s.cfg.PerIPPerHour, time.Now())
}

type logPrintf struct{ log *slog.Logger }

func (l logPrintf) Printf(format string, v ...any) { l.log.Warn("mx: " + fmt.Sprintf(format, v...)) }
func (l logPrintf) Println(v ...any)               { l.log.Warn("mx: " + fmt.Sprint(v...)) }

// NewSession starts a session for one connection (and again after
// STARTTLS, when go-smtp drops the old session).
func (s *Server) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	var id, ip string
	if lc := listen.Find(c.Conn()); lc != nil {
		id, ip = lc.ID, lc.IP // the same cid after STARTTLS
	} else {
		id, ip = s.cfg.IDs.Next(), listen.HostOf(c.Conn().RemoteAddr())
	}
	if _, again := c.Conn().(*tls.Conn); !again { // not the session after STARTTLS
		s.cfg.Metrics.Connection(metrics.ProtoMX)
	}
	return &session{s: s, c: c, ip: ip, cid: id, log: s.log.With("cid", id, "ip", ip)}, nil
}
