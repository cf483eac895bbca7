// Package webui is authsmtp's web face on Gin: the admin panel (/admin)
// and webmail (/mail), both server-rendered from templates embedded in the
// binary (package embed/assets), plus /healthz.
//
// # Security model
//
//   - Sessions live in the store (store.NewSession); the browser holds only
//     a random id in a __Host- cookie (Secure, HttpOnly, SameSite=Strict).
//     A new session is made at every login (rotation); sign-out and a
//     password change delete it server-side.
//   - Every state-changing request is a POST carrying the session's CSRF
//     token, and passes http.CrossOriginProtection (Sec-Fetch-Site/Origin).
//     The login forms, which have no session yet, use a double-submit token
//     in a cookie of their own. GET never changes state.
//   - Every page is html/template-escaped; mail data never becomes
//     template.HTML. An HTML mail body is sanitized by bluemonday and shown
//     only inside a sandboxed iframe whose own response carries a CSP that
//     forbids scripts and remote loads (remote images only on request).
//   - Logins go through store.Login: the throttle shared with SMTP and IMAP.
package webui

import (
	"context"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/microcosm-cc/bluemonday"

	assets "github.com/authsmtp/authsmtp/embed"
	"github.com/authsmtp/authsmtp/internal/metrics"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/junk"
	"github.com/authsmtp/authsmtp/webui/autoconfig"
)

// Submitter is the one submission pipeline SMTP also uses (send rule,
// caps, DKIM, queue). Webmail never stores outgoing mail any other way.
type Submitter interface {
	Submit(ctx context.Context, who store.Principal, from string, rcpts []string, msg []byte) (*store.Accepted, error)
}

// Refused is how a Submitter says it turned a message down for a reason
// the sender should read (the send rule, a limit, an unknown recipient).
// Any other error is a failure of the server's: logged, not shown.
type Refused struct{ Reason string }

func (r *Refused) Error() string { return r.Reason }

// CertInfo is one certificate as the dashboard shows it.
type CertInfo struct {
	Names    []string
	Issuer   string
	NotAfter time.Time
	Error    string // why the wanted certificate is not in use, if so
}

// DNSRecord is one record a domain should publish, with the live check.
type DNSRecord struct {
	Type    string // MX, TXT, SRV, CNAME...
	Name    string
	Value   string
	Purpose string // "SPF", "DKIM", ...
	Checked bool   // a live lookup ran
	OK      bool   // the published value matches
	Found   string // what the lookup found
}

// DNSLists is the inbound DNS lists as the Spam tab shows them: hits per
// zone since the server started, and whether this server's own outbound
// address is on the blocklists (looked up periodically).
type DNSLists struct {
	Hits []DNSListHit
	// OwnIP is the outbound address looked up ("" when unknown), OwnIPFrom
	// where it came from or why it is unknown.
	OwnIP, OwnIPFrom string
	Own              []OwnListing
	Checked          time.Time // zero: not looked up yet
}

// DNSListHit is one zone's count of listed connections.
type DNSListHit struct {
	Zone, Kind string // Kind: refuse, junk or allow
	Hits       int64
}

// OwnListing is one blocklist's answer about our own address.
type OwnListing struct {
	Zone   string
	Listed bool
	Err    string // the lookup failed
}

// Config is what main passes in. Store, Events, Throttle and Junk are
// required; everything else may be nil/zero and the page that needs it
// says so.
type Config struct {
	Store Store
	// Events tells webmail of new mail (the store's Events).
	Events *store.Notifier
	// Throttle is the failed-login throttle, shown and cleared on the
	// Security page (the store's Throttle).
	Throttle *store.Throttle
	// Junk is the per-user junk filter, shown on a domain's spam page
	// (the store's Junk).
	Junk      *junk.Filter
	Submitter Submitter // nil: webmail sending is refused with a clear message
	Hostname  string
	Logger    *slog.Logger
	// SessionTTL is how long a web login lasts (default 12h).
	SessionTTL time.Duration
	// MaxSize caps a composed message, attachments included (default 25 MiB).
	MaxSize int64
	// Capture says outbound mail is captured (demo), shown on the queue page.
	Capture bool
	// Certs reports certificate status for the dashboard.
	Certs func() []CertInfo
	// DNS lists the records a domain should publish; check does live lookups.
	DNS func(ctx context.Context, domain string, check bool) ([]DNSRecord, error)
	// ReverseName looks up the names of an IP address (the shared
	// resolver's LookupAddr) for the reports page; nil: no names shown.
	ReverseName func(ctx context.Context, ip string) ([]string, error)
	// DNSLists reports the MX's DNS lists for the Spam tab (nil: the MX
	// is off or has none).
	DNSLists func() DNSLists
	// MailPorts returns the submission and IMAP ports really listened on
	// (0 for a listener that is off), shown on the domain page; nil: the
	// page names none.
	MailPorts func() autoconfig.Ports
	// Autoconfig, when set, answers mail client autoconfiguration
	// (/.well-known/autoconfig/, /autodiscover/, /mail/config-v1.1.xml).
	Autoconfig http.Handler
	// Metrics counts web logins and webmail sends (nil: off).
	Metrics *metrics.Metrics
	// Listeners reports listeners that stopped serving (nil when all
	// serve); /healthz answers 503 with its text then.
	Listeners func() error
	// Insecure drops the Secure attribute and __Host- prefix of cookies. Only
	// for handler tests over plain HTTP; never set by main.
	Insecure bool
}

// Server is the web UI. Build it with New; serve Handler().
type Server struct {
	cfg    Config
	st     Store
	log    *slog.Logger
	pages  map[string]*template.Template
	engine *gin.Engine
	cop    *http.CrossOriginProtection
	static fs.FS
	// HTML mail policies, built once: without and with remote images.
	htmlStrict, htmlImages *bluemonday.Policy
	glance                 glanceCache // the dashboard's cached DNS checks
}

// New builds the web UI.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Events == nil || cfg.Throttle == nil || cfg.Junk == nil {
		return nil, errors.New("webui: Store, Events, Throttle and Junk are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = 25 << 20
	}
	s := &Server{cfg: cfg, st: cfg.Store, log: cfg.Logger, static: assets.Static()}
	var err error
	if s.pages, err = loadPages(assets.Templates()); err != nil {
		return nil, err
	}
	s.htmlStrict, s.htmlImages = newSanitizer(false), newSanitizer(true)
	s.cop = http.NewCrossOriginProtection()
	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	s.engine = s.routes()
	return s, nil
}

// Handler is the HTTPS handler: cross-origin protection in front of Gin.
func (s *Server) Handler() http.Handler { return s.cop.Handler(s.engine) }

// RedirectHandler answers the plain-HTTP listener: everything moves to
// HTTPS on the same host (httpsPort "" or "443" keeps the default port).
func RedirectHandler(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := splitHostPortLoose(host); err == nil {
			host = h
		}
		if httpsPort != "" && httpsPort != "443" {
			host = joinHostPort(host, httpsPort)
		} else if isIPv6(host) {
			host = "[" + host + "]"
		}
		target := "https://" + host + r.URL.RequestURI()
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		}
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
	})
}

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	r.Use(gin.Recovery(), s.headers, s.limitAnonBody)
	r.HandleMethodNotAllowed = true
	r.GET("/healthz", s.healthz)
	r.HEAD("/healthz", s.healthz)
	r.StaticFS("/static", http.FS(s.static))
	r.GET("/favicon.ico", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/static/icon.svg") })
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/mail") })
	if s.cfg.Autoconfig != nil {
		h := gin.WrapH(s.cfg.Autoconfig)
		r.Any("/.well-known/autoconfig/*path", h)
		r.Any("/autodiscover/*path", h)
		r.Any("/Autodiscover/*path", h)
		r.GET("/mail/config-v1.1.xml", h)
	}

	r.GET("/admin/login", s.loginForm("admin"))
	r.POST("/admin/login", s.loginPost("admin"))
	r.POST("/admin/logout", s.session, s.csrf, s.logout("admin"))
	a := r.Group("/admin", s.session, s.requireAdmin, s.csrf)
	s.adminRoutes(a)

	r.GET("/mail/login", s.loginForm("mail"))
	r.POST("/mail/login", s.loginPost("mail"))
	r.POST("/mail/logout", s.session, s.csrf, s.logout("mail"))
	m := r.Group("/mail", s.session, s.requireMail, s.csrf)
	s.mailRoutes(m)

	r.NoRoute(func(c *gin.Context) { s.errorPage(c, http.StatusNotFound, "This page does not exist.") })
	r.NoMethod(func(c *gin.Context) {
		s.errorPage(c, http.StatusMethodNotAllowed, "This page does not take that kind of request.")
	})
	return r
}

func (s *Server) healthz(c *gin.Context) {
	if err := s.st.Ping(); err != nil {
		c.String(http.StatusServiceUnavailable, "store: %v\n", err)
		return
	}
	if s.cfg.Listeners != nil {
		if err := s.cfg.Listeners(); err != nil {
			c.String(http.StatusServiceUnavailable, "listeners: %v\n", err)
			return
		}
	}
	c.String(http.StatusOK, "ok\n")
}
